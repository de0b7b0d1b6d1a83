# Wanderly / tripmail : textes français (fr), vouvoiement.
# Numbers ($days, $adults, $children) arrive as numbers.
# Exact-number variants ([0], [1]) are listed before plural categories:
# in French the CLDR "one" category covers both 0 and 1.

## Date

# chrono strftime pattern ("samedi 12 décembre 2026").
date-format = %A %-d %B %Y

## Booking confirmation email

confirmation-subject = Réservation confirmée : { $product }
confirmation-preheader = { $product } le { $date } : c’est réservé ! Vos billets vous attendent dans votre compte.
confirmation-heading = Tout est prêt, { $first_name } !
confirmation-intro = Bonne nouvelle : votre réservation pour { $product } à { $city } le { $date } est confirmée. Vos billets et votre bon d’échange vous attendent dans votre compte.

## Reminder email ("your trip is coming up")

reminder-subject = { $days ->
    [0] C’est aujourd’hui : votre séjour à { $city }
    [1] C’est demain : votre séjour à { $city }
   *[other] Plus que { $days } jours avant votre séjour à { $city }
}
reminder-preheader = { $product } le { $date } : tout ce qu’il faut savoir avant d’y aller.
reminder-heading = { $days ->
    [0] C’est le grand jour, { $first_name } !
    [1] C’est pour demain, { $first_name } !
   *[other] Plus que { $days } jours, { $first_name } !
}
reminder-intro = { $days ->
    [0] Petit rappel : { $product } à { $city }, c’est aujourd’hui, { $date }. Gardez votre billet à portée de main sur votre téléphone et pensez à vérifier les horaires d’ouverture avant de partir.
    [1] Petit rappel : { $product } à { $city }, c’est demain, { $date }. Gardez votre billet à portée de main sur votre téléphone et pensez à vérifier les horaires d’ouverture avant de partir.
   *[other] Petit rappel : { $product } à { $city }, c’est le { $date }. Gardez votre billet à portée de main sur votre téléphone et pensez à vérifier les horaires d’ouverture avant de partir.
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
item-image-alt = Photo : { $title }

## Sign-off and footer

signoff = Nous vous souhaitons un excellent séjour !
team = L’équipe { $brand }
footer-reason = Vous recevez cet e-mail car vous avez réservé auprès de { $brand }.
footer-prices = Les prix indiqués sont des prix « à partir de » par personne et peuvent varier selon la date.
footer-unsubscribe = Se désabonner de ces e-mails
