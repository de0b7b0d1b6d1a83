# Wanderly / tripmail: testi in italiano (it), forma con il tu.
# Numbers ($days, $adults, $children) arrive as numbers.
# Exact-number variants ([0], [1]) are listed before plural categories.
# The phrasing avoids "a { $city }" (it would need "ad" before cities starting with A).

## Date

# chrono strftime pattern ("sabato 12 dicembre 2026").
date-format = %A %-d %B %Y

## Booking confirmation email

confirmation-subject = Prenotazione confermata: { $product }
confirmation-preheader = { $product }, { $date }: è tutto prenotato! I biglietti ti aspettano nel tuo account.
confirmation-heading = È tutto pronto, { $first_name }!
confirmation-intro = Destinazione { $city }: ottime notizie, la tua prenotazione per { $product } è confermata per { $date }. Trovi biglietti e voucher nel tuo account.

## Reminder email ("your trip is coming up")

reminder-subject = { $days ->
    [0] Ci siamo: { $city } ti aspetta oggi!
    [1] Ci siamo quasi: { $city } ti aspetta domani!
   *[other] { $city } ti aspetta tra { $days } giorni!
}
reminder-preheader = { $product }, { $date }: tutto quello che devi sapere.
reminder-heading = { $days ->
    [0] È arrivato il grande giorno, { $first_name }!
    [1] Domani è il grande giorno, { $first_name }!
   *[other] Mancano solo { $days } giorni, { $first_name }!
}
reminder-intro = { $days ->
    [0] Un piccolo promemoria: la tua prenotazione per { $product } è per oggi, { $date }. Tieni il biglietto a portata di mano sul telefono e controlla gli orari di apertura prima di uscire.
    [1] Un piccolo promemoria: la tua prenotazione per { $product } è per domani, { $date }. Tieni il biglietto a portata di mano sul telefono e controlla gli orari di apertura prima di uscire.
   *[other] Un piccolo promemoria: la tua prenotazione per { $product } è per { $date }. Tieni il biglietto a portata di mano sul telefono e controlla gli orari di apertura prima di uscire.
}

## Booking details

details-heading = La tua prenotazione
details-reference = Codice di prenotazione
details-product = Esperienza
details-date = Data
details-travellers = Viaggiatori
# Shown only when the booking (or the config, for the link and the contact) gives them.
details-time = Ora di inizio
details-venue = Luogo
details-meeting-point = Punto d’incontro
details-price = Prezzo pagato
details-manage = Vedi i biglietti e gestisci la prenotazione
details-support = Domande? Siamo qui per aiutarti:
travellers = { $adults ->
    [one] { $adults } adulto
   *[other] { $adults } adulti
}{ $children ->
    [0] {""}
    [one] , { $children } bambino
   *[other] , { $children } bambini
}

## "Complete your trip" block

block-heading = Scopri il meglio di { $city }
# When the city of the items cannot be known: a heading that does not name it.
block-heading-any = Potrebbe piacerti anche
block-intro = Abbiamo selezionato per te alcune esperienze perfette da abbinare alla tua prenotazione.
# $price is already formatted, e.g. "34,50 €".
item-from = da { $price }
item-button = Vedi i biglietti
item-image-alt = Foto: { $title }

## Sign-off and footer

signoff = Ti auguriamo un viaggio meraviglioso!
team = Il team di { $brand }
footer-reason = Ricevi questa email perché hai prenotato con { $brand }.
footer-prices = I prezzi indicati sono prezzi “a partire da” per persona e possono variare in base alla data.
footer-unsubscribe = Annulla l’iscrizione a queste email
footer-privacy = Informativa sulla privacy
# Between a label and its value in the plain-text part ("Date: …").
label-colon = :
