# Wanderly / tripmail: English (en) copy.
# Numbers ($days, $adults, $children) arrive as numbers.
# Exact-number variants ([0], [1]) are listed before plural categories.

## Date

# chrono strftime pattern for a long date ("Saturday 12 December 2026").
date-format = %A %-d %B %Y

## Booking confirmation email

confirmation-subject = Booking confirmed: { $product }
confirmation-preheader = { $product } on { $date } is booked. Your tickets are ready in your account.
confirmation-heading = You’re all set, { $first_name }!
confirmation-intro = Great news: your booking for { $product } in { $city } on { $date } is confirmed. Your tickets and voucher are waiting for you in your account.

## Reminder email ("your trip is coming up")

reminder-subject = { $days ->
    [0] Your trip to { $city } is today
    [1] Your trip to { $city } is tomorrow
   *[other] Your trip to { $city } is in { $days } days
}
reminder-preheader = Get ready for { $product } on { $date }: here’s what to know.
reminder-heading = { $days ->
    [0] Today’s the day, { $first_name }!
    [1] Tomorrow’s the day, { $first_name }!
   *[other] { $days } days to go, { $first_name }!
}
reminder-intro = { $days ->
    [0] A quick reminder: { $product } in { $city } is today, { $date }. Have your ticket ready on your phone, and check the opening times before you head out.
    [1] A quick reminder: { $product } in { $city } is tomorrow, { $date }. Have your ticket ready on your phone, and check the opening times before you head out.
   *[other] A quick reminder: { $product } in { $city } is coming up on { $date }. Have your ticket ready on your phone, and check the opening times before you head out.
}

## Booking details

details-heading = Your booking
details-reference = Booking reference
details-product = Experience
details-date = Date
details-travellers = Travellers
# Shown only when the booking (or the config, for the link and the contact) gives them.
details-time = Start time
details-venue = Venue
details-meeting-point = Meeting point
details-price = Price paid
details-manage = View your tickets & manage your booking
details-support = Questions? We’re here to help:
travellers = { $adults ->
    [one] { $adults } adult
   *[other] { $adults } adults
}{ $children ->
    [0] {""}
    [one] , { $children } child
   *[other] , { $children } children
}

## "Complete your trip" block

block-heading = Complete your { $city } trip
# When the city of the items cannot be known: a heading that does not name it.
block-heading-any = You may also like
block-intro = We’ve hand-picked a few experiences that pair perfectly with your booking.
# $price is already formatted, e.g. "€34.50".
item-from = from { $price }
item-button = View tickets
item-image-alt = Photo: { $title }

## Sign-off and footer

signoff = Have a wonderful trip!
team = The { $brand } team
footer-reason = You’re receiving this email because you booked with { $brand }.
footer-prices = Prices shown are “from” prices per person and may vary by date.
footer-unsubscribe = Unsubscribe from these emails
footer-privacy = Privacy policy
# Between a label and its value in the plain-text part ("Date: …").
label-colon = :
