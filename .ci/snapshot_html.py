#!/usr/bin/env python3
"""Writes the HTML of every insta snapshot case (SNAPDIR/*.html.snap) as OUTDIR/<case>.html, and of
every case of the demo's case list (fixtures/snapshots/*.snap, after its `==== html ====` line) as
OUTDIR/case-<case>.html, for the inbox checks (.ci/inbox-checks.sh). An insta snapshot is a header
between two `---` lines, then the value."""
import pathlib
import sys

snapdir, outdir = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
outdir.mkdir(parents=True, exist_ok=True)
for snap in sorted(snapdir.glob("*.html.snap")):
    text = snap.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        sys.exit(f"{snap}: not an insta snapshot (no header)")
    header_end = text.find("\n---\n", 4)
    if header_end < 0:
        sys.exit(f"{snap}: not an insta snapshot (header not closed)")
    name = snap.name.removesuffix(".html.snap").removeprefix("it__snapshots__")
    (outdir / f"{name}.html").write_text(text[header_end + 5 :], encoding="utf-8")

root = pathlib.Path(__file__).resolve().parent.parent
for snap in sorted((root / "fixtures" / "snapshots").glob("*.snap")):
    text = snap.read_text(encoding="utf-8")
    marker = "\n==== html ====\n"
    if marker not in text:
        sys.exit(f"{snap}: no HTML part")
    name = snap.name.removesuffix(".snap")
    (outdir / f"case-{name}.html").write_text(text.split(marker, 1)[1], encoding="utf-8")
