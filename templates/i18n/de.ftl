# Wanderly / tripmail: deutsche (de) Texte, Sie-Form.
# Numbers ($days, $adults, $children) arrive as numbers.
# Exact-number variants ([0], [1]) are listed before plural categories.

## Date

# chrono strftime pattern ("Samstag, 12. Dezember 2026").
date-format = %A, %-d. %B %Y

## Booking confirmation email

confirmation-subject = Buchung bestätigt: { $product }
confirmation-preheader = Gebucht: { $product } am { $date }. Ihre Tickets finden Sie in Ihrem Kundenkonto.
confirmation-heading = Alles startklar, { $first_name }!
confirmation-intro = Gute Nachrichten: Ihre Buchung ist bestätigt – { $product } in { $city } erwartet Sie am { $date }. Ihre Tickets und Ihren Voucher finden Sie ab sofort in Ihrem Kundenkonto.

## Reminder email ("your trip is coming up")

reminder-subject = { $days ->
    [0] Heute geht’s los: Ihre Reise nach { $city }
    [1] Morgen geht’s los: Ihre Reise nach { $city }
   *[other] Noch { $days } Tage bis zu Ihrer Reise nach { $city }
}
reminder-preheader = { $product } am { $date }: So sind Sie bestens vorbereitet.
reminder-heading = { $days ->
    [0] Heute ist es so weit, { $first_name }!
    [1] Morgen ist es so weit, { $first_name }!
   *[other] Nur noch { $days } Tage, { $first_name }!
}
reminder-intro = { $days ->
    [0] Eine kurze Erinnerung: { $product } in { $city } erwartet Sie schon heute, am { $date }. Halten Sie Ihr Ticket auf dem Smartphone bereit und werfen Sie vorab noch einen Blick auf die Öffnungszeiten.
    [1] Eine kurze Erinnerung: { $product } in { $city } erwartet Sie schon morgen, am { $date }. Halten Sie Ihr Ticket auf dem Smartphone bereit und werfen Sie vorab noch einen Blick auf die Öffnungszeiten.
   *[other] Eine kurze Erinnerung: { $product } in { $city } erwartet Sie in { $days } Tagen, am { $date }. Halten Sie Ihr Ticket auf dem Smartphone bereit und werfen Sie vorab noch einen Blick auf die Öffnungszeiten.
}

## Booking details

details-heading = Ihre Buchung
details-reference = Buchungsnummer
details-product = Erlebnis
details-date = Datum
details-travellers = Reisende
# Shown only when the booking (or the config, for the link and the contact) gives them.
details-time = Beginn
details-venue = Ort
details-meeting-point = Treffpunkt
details-price = Bezahlter Preis
details-manage = Tickets ansehen & Buchung verwalten
details-support = Fragen? Wir helfen gern:
travellers = { $adults ->
    [one] { $adults } Erwachsener
   *[other] { $adults } Erwachsene
}{ $children ->
    [0] {""}
    [one] , { $children } Kind
   *[other] , { $children } Kinder
}

## "Complete your trip" block

block-heading = Noch mehr erleben in { $city }
# When the city of the items cannot be known: a heading that does not name it.
block-heading-any = Das könnte Ihnen auch gefallen
block-intro = Diese handverlesenen Erlebnisse passen perfekt zu Ihrer Buchung.
# $price is already formatted, e.g. "34,50 €".
item-from = ab { $price }
item-button = Tickets ansehen
item-image-alt = Foto: { $title }

## Sign-off and footer

signoff = Wir wünschen Ihnen eine wunderbare Reise!
team = Ihr { $brand }-Team
footer-reason = Sie erhalten diese E-Mail, weil Sie bei { $brand } gebucht haben.
footer-prices = Die angezeigten Preise sind Ab-Preise pro Person und können je nach Datum variieren.
footer-unsubscribe = Von diesen E-Mails abmelden
footer-privacy = Datenschutzerklärung
# Between a label and its value in the plain-text part ("Date: …").
label-colon = :
