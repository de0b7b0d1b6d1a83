"""For every .eml under a folder: extracts the calendar attachment with Python's email parser and
parses it with the `icalendar` package, and extracts the JSON-LD of the .html beside it with `extruct`.
Checks what every email must carry (METHOD:PUBLISH, UID, DTSTAMP, DTSTART, SUMMARY, LOCATION, URL; an
EventReservation with every field Gmail requires) and prints, as JSON, per email file, what the test
compares with the booking: {"uid", "dtstart" (ISO, UTC for a time), "all_day", "summary", "location",
"url", "jsonld": the EventReservation}."""
import email
import email.policy
import json
import pathlib
import sys

import extruct
import icalendar

root = pathlib.Path(sys.argv[1])
found = {}
for path in sorted(root.rglob("*.eml")):
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert msg.get_content_type() == "multipart/mixed", (path, msg.get_content_type())
    attachments = [p for p in msg.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert len(attachments) == 1, (path, "calendar attachments", len(attachments))
    att = attachments[0]
    booking = path.stem
    assert att.get_filename() == f"booking-{booking}.ics", (path, att.get_filename())
    cal = icalendar.Calendar.from_ical(att.get_content())
    assert str(cal["METHOD"]) == "PUBLISH", path
    events = list(cal.walk("VEVENT"))
    assert len(events) == 1, (path, len(events))
    ev = events[0]
    for key in ("UID", "DTSTAMP", "DTSTART", "SUMMARY", "LOCATION", "URL"):
        assert key in ev, (path, "missing " + key)
    start = ev.decoded("DTSTART")
    all_day = not hasattr(start, "hour")
    html = path.with_suffix(".html").read_text(encoding="utf-8")
    data = extruct.extract(html, syntaxes=["json-ld"], uniform=True)["json-ld"]
    reservations = [d for d in data if d.get("@type") == "EventReservation"]
    assert len(reservations) == 1, (path, data)
    r = reservations[0]
    for key in ("reservationNumber", "reservationStatus", "underName", "reservationFor"):
        assert r.get(key), (path, "JSON-LD lacks " + key)
    assert r["reservationStatus"] == "http://schema.org/ReservationConfirmed", path
    assert r["underName"].get("name") and r["underName"].get("email"), path
    event = r["reservationFor"]
    assert event.get("@type") == "Event", path
    for key in ("name", "startDate", "location"):
        assert event.get(key), (path, "JSON-LD Event lacks " + key)
    assert event["location"].get("name") and event["location"].get("address"), path
    found[str(path.relative_to(root))] = {
        "uid": str(ev["UID"]),
        "dtstart": start.isoformat(),
        "all_day": all_day,
        "summary": str(ev["SUMMARY"]),
        "location": str(ev["LOCATION"]),
        "url": str(ev["URL"]),
        "jsonld": r,
    }
print(json.dumps(found))
