# Wanderly / tripmail: textos en español (es), tuteo.
# Numbers ($days, $adults, $children) arrive as numbers.
# Exact-number variants ([0], [1]) are listed before plural categories.

## Date

# chrono strftime pattern ("sábado, 12 de diciembre de 2026").
date-format = %A, %-d de %B de %Y

## Booking confirmation email

confirmation-subject = Reserva confirmada: { $product }
confirmation-preheader = ¡Todo listo para { $product } el { $date }! Tus entradas ya están en tu cuenta.
confirmation-heading = ¡Todo listo, { $first_name }!
confirmation-intro = ¡Buenas noticias! Tu reserva de { $product } en { $city } está confirmada para el { $date }. Tus entradas y tu bono ya te esperan en tu cuenta.

## Reminder email ("your trip is coming up")

reminder-subject = { $days ->
    [0] ¡Tu viaje a { $city } es hoy!
    [1] ¡Tu viaje a { $city } es mañana!
   *[other] Faltan { $days } días para tu viaje a { $city }
}
reminder-preheader = { $product } el { $date }: todo lo que necesitas saber.
reminder-heading = { $days ->
    [0] ¡Hoy es el gran día, { $first_name }!
    [1] ¡Mañana es el gran día, { $first_name }!
   *[other] ¡Solo faltan { $days } días, { $first_name }!
}
reminder-intro = { $days ->
    [0] Te recordamos que tu reserva de { $product } en { $city } es hoy, { $date }. Lleva tu entrada en el móvil y consulta el horario de apertura antes de salir.
    [1] Te recordamos que tu reserva de { $product } en { $city } es mañana, { $date }. Lleva tu entrada en el móvil y consulta el horario de apertura antes de salir.
   *[other] Te recordamos que tu reserva de { $product } en { $city } es el { $date }. Lleva tu entrada en el móvil y consulta el horario de apertura antes de salir.
}

## Booking details

details-heading = Tu reserva
details-reference = Código de reserva
details-product = Experiencia
details-date = Fecha
details-travellers = Viajeros
# Shown only when the booking (or the config, for the link and the contact) gives them.
details-time = Hora de inicio
details-venue = Lugar
details-meeting-point = Punto de encuentro
details-price = Precio pagado
details-manage = Ver tus entradas y gestionar tu reserva
details-support = ¿Preguntas? Estamos aquí para ayudarte:
travellers = { $adults ->
    [one] { $adults } adulto
   *[other] { $adults } adultos
}{ $children ->
    [0] {""}
    [one] , { $children } niño
   *[other] , { $children } niños
}

## "Complete your trip" block

block-heading = Completa tu viaje a { $city }
# When the city of the items cannot be known: a heading that does not name it.
block-heading-any = También te puede gustar
block-intro = Hemos seleccionado para ti algunas experiencias que combinan a la perfección con tu reserva.
# $price is already formatted, e.g. "34,50 €".
item-from = desde { $price }
item-button = Ver entradas
item-image-alt = Foto: { $title }

## Sign-off and footer

signoff = ¡Que disfrutes muchísimo del viaje!
team = El equipo de { $brand }
footer-reason = Recibes este correo porque has hecho una reserva con { $brand }.
footer-prices = Los precios indicados son precios «desde» por persona y pueden variar según la fecha.
footer-unsubscribe = Darse de baja de estos correos
footer-privacy = Política de privacidad
# Between a label and its value in the plain-text part ("Date: …").
label-colon = :
