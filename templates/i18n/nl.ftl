# Wanderly / tripmail: Nederlandse (nl) teksten, je-vorm.
# Numbers ($days, $adults, $children) arrive as numbers.
# Exact-number variants ([0], [1]) are listed before plural categories.

## Date

# chrono strftime pattern ("zaterdag 12 december 2026").
date-format = %A %-d %B %Y

## Booking confirmation email

confirmation-subject = Boeking bevestigd: { $product }
confirmation-preheader = Je boeking voor { $product } op { $date } is rond. Je tickets staan klaar in je account.
confirmation-heading = Alles is geregeld, { $first_name }!
confirmation-intro = Goed nieuws: je boeking voor { $product } in { $city } op { $date } is bevestigd. Je tickets en voucher staan voor je klaar in je account.

## Reminder email ("your trip is coming up")

reminder-subject = { $days ->
    [0] Vandaag is het zover: je trip naar { $city }
    [1] Morgen is het zover: je trip naar { $city }
   *[other] Nog { $days } dagen tot je trip naar { $city }
}
reminder-preheader = { $product } op { $date }: zo ben je goed voorbereid.
reminder-heading = { $days ->
    [0] Het is zover, { $first_name }!
    [1] Morgen is het zover, { $first_name }!
   *[other] Nog maar { $days } dagen, { $first_name }!
}
reminder-intro = { $days ->
    [0] Even ter herinnering: vandaag, { $date }, staat { $product } in { $city } op het programma. Zorg dat je ticket klaarstaat op je telefoon en check vooraf even de openingstijden.
    [1] Even ter herinnering: morgen, { $date }, staat { $product } in { $city } op het programma. Zorg dat je ticket klaarstaat op je telefoon en check vooraf even de openingstijden.
   *[other] Even ter herinnering: op { $date } staat { $product } in { $city } op het programma. Zorg dat je ticket klaarstaat op je telefoon en check vooraf even de openingstijden.
}

## Booking details

details-heading = Je boeking
details-reference = Boekingsnummer
details-product = Activiteit
details-date = Datum
details-travellers = Reizigers
# Shown only when the booking (or the config, for the link and the contact) gives them.
details-time = Begintijd
details-venue = Locatie
details-meeting-point = Ontmoetingspunt
details-price = Betaalde prijs
details-manage = Bekijk je tickets en beheer je boeking
details-support = Vragen? We helpen je graag:
travellers = { $adults ->
    [one] { $adults } volwassene
   *[other] { $adults } volwassenen
}{ $children ->
    [0] {""}
    [one] , { $children } kind
   *[other] , { $children } kinderen
}

## "Complete your trip" block

block-heading = Maak je trip naar { $city } compleet
# When the city of the items cannot be known: a heading that does not name it.
block-heading-any = Misschien vind je dit ook leuk
block-intro = Speciaal voor jou uitgekozen: ervaringen die perfect aansluiten bij je boeking.
# $price is already formatted, e.g. "€ 34,50".
item-from = vanaf { $price }
item-button = Bekijk tickets
item-image-alt = Foto: { $title }

## Sign-off and footer

signoff = Geniet van je trip!
team = Het { $brand }-team
footer-reason = Je ontvangt deze e-mail omdat je hebt geboekt bij { $brand }.
footer-prices = De getoonde prijzen zijn vanafprijzen per persoon en kunnen per datum verschillen.
footer-unsubscribe = Afmelden voor deze e-mails
footer-privacy = Privacybeleid
# Between a label and its value in the plain-text part ("Date: …").
label-colon = :
