# Wanderly / tripmail : textes français (fr), vouvoiement.
# Numbers ($days, $adults, $children) arrive as numbers.
# French typography: a no-break space ({"\u00A0"}) before : ; ! ? and inside « », so that a
# line never starts with the sign. U+00A0 rather than the narrow U+202F: every mail client's fonts
# have it (Outlook on Windows falls back badly for U+202F in older fonts).
# Exact-number variants ([0], [1]) are listed before plural categories:
# in French the CLDR "one" category covers both 0 and 1.

## Date

# chrono strftime pattern ("samedi 12 décembre 2026").
date-format = %A %-d %B %Y

## Booking confirmation email

confirmation-subject = Réservation confirmée{"\u00A0"}: { $product }
confirmation-preheader = { $product } le { $date }{"\u00A0"}: c’est réservé{"\u00A0"}! Vos billets vous attendent dans votre compte.
confirmation-heading = Tout est prêt, { $first_name }{"\u00A0"}!
confirmation-intro = Bonne nouvelle{"\u00A0"}: votre réservation pour { $product } à { $city } le { $date } est confirmée. Vos billets et votre bon d’échange vous attendent dans votre compte.

## Reminder email ("your trip is coming up")

reminder-subject = { $days ->
    [0] C’est aujourd’hui{"\u00A0"}: votre séjour à { $city }
    [1] C’est demain{"\u00A0"}: votre séjour à { $city }
   *[other] Plus que { $days } jours avant votre séjour à { $city }
}
reminder-preheader = { $product } le { $date }{"\u00A0"}: tout ce qu’il faut savoir avant d’y aller.
reminder-heading = { $days ->
    [0] C’est le grand jour, { $first_name }{"\u00A0"}!
    [1] C’est pour demain, { $first_name }{"\u00A0"}!
   *[other] Plus que { $days } jours, { $first_name }{"\u00A0"}!
}
reminder-intro = { $days ->
    [0] Petit rappel{"\u00A0"}: { $product } à { $city }, c’est aujourd’hui, { $date }. Gardez votre billet à portée de main sur votre téléphone et pensez à vérifier les horaires d’ouverture avant de partir.
    [1] Petit rappel{"\u00A0"}: { $product } à { $city }, c’est demain, { $date }. Gardez votre billet à portée de main sur votre téléphone et pensez à vérifier les horaires d’ouverture avant de partir.
   *[other] Petit rappel{"\u00A0"}: { $product } à { $city }, c’est le { $date }. Gardez votre billet à portée de main sur votre téléphone et pensez à vérifier les horaires d’ouverture avant de partir.
}

## Booking details

details-heading = Votre réservation
details-reference = Référence de réservation
details-product = Activité
details-date = Date
details-travellers = Voyageurs
# Shown only when the booking (or the config, for the link and the contact) gives them.
details-time = Heure de début
details-venue = Lieu
details-meeting-point = Point de rendez-vous
details-price = Prix payé
details-manage = Voir vos billets et gérer votre réservation
details-support = Une question ? Nous sommes là pour vous aider :
travellers = { $adults ->
    [one] { $adults } adulte
   *[other] { $adults } adultes
}{ $children ->
    [0] {""}
    [one] , { $children } enfant
   *[other] , { $children } enfants
}

## "Complete your trip" block

block-heading = Complétez votre séjour à { $city }
# When the city of the items cannot be known: a heading that does not name it.
block-heading-any = Vous aimerez aussi
block-intro = Nous avons sélectionné pour vous quelques expériences qui complètent parfaitement votre réservation.
# $price is already formatted, e.g. "34,50 €".
item-from = à partir de { $price }
item-button = Voir les billets
item-image-alt = Photo{"\u00A0"}: { $title }

## Sign-off and footer

signoff = Nous vous souhaitons un excellent séjour{"\u00A0"}!
team = L’équipe { $brand }
footer-reason = Vous recevez cet e-mail car vous avez réservé auprès de { $brand }.
footer-prices = Les prix indiqués sont des prix «{"\u00A0"}à partir de{"\u00A0"}» par personne et peuvent varier selon la date.
footer-unsubscribe = Se désabonner de ces e-mails
footer-privacy = Politique de confidentialité
# Between a label and its value in the plain-text part ("Date: …").
label-colon = {"\u00A0"}:
