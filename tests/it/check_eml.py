"""Reads every .eml under a folder with Python's email parser and checks it is multipart/alternative
with a text/plain and a text/html part, both UTF-8 and non-empty, alone or first in a multipart/mixed
whose second part is the text/calendar attachment. Prints 'checked N' on success."""
import email
import email.policy
import pathlib
import sys

root = pathlib.Path(sys.argv[1])
count = 0
for path in sorted(root.rglob("*.eml")):
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    alternative = msg
    if msg.get_content_type() == "multipart/mixed":
        alternative, calendar = list(msg.iter_parts())
        assert calendar.get_content_type() == "text/calendar", (path, calendar.get_content_type())
        assert calendar.get_param("method") == "PUBLISH", path
    assert alternative.get_content_type() == "multipart/alternative", (path, alternative.get_content_type())
    parts = [p for p in alternative.iter_parts()]
    types = [p.get_content_type() for p in parts]
    assert types == ["text/plain", "text/html"], (path, types)
    for p in parts:
        assert p.get_content_charset() == "utf-8", (path, p.get_content_charset())
        assert p.get_content().strip(), (path, "empty part")
    for header in ("From", "To", "Subject", "Date", "Message-ID"):
        assert msg[header], (path, "missing " + header)
    count += 1
print("checked", count)
