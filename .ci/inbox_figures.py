#!/usr/bin/env python3
"""Prints the figures of .ci/inbox-checks.sh from the tools' raw output in OUTDIR (caniemail.json,
html-validate.json, spamassassin.tsv), and which features some client lacks that CLIENTS (the
documented list of fallbacks, templates/CLIENTS.md) does not cover."""
import collections
import json
import pathlib
import re
import statistics
import sys

out = pathlib.Path(sys.argv[1])
clients_doc = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else None


def family(client):
    return client.split(".", 1)[0]


def by_family(counts):
    """{'outlook.windows': 34, ...} -> 'outlook (windows 34, ios 34)'."""
    fams = collections.defaultdict(list)
    for client, n in sorted(counts.items()):
        fam, _, variant = client.partition(".")
        fams[fam].append(f"{variant} {n}")
    return "; ".join(f"{fam}: {', '.join(v)}" for fam, v in fams.items())


def documented(path):
    """Feature -> set of clients, from the rows `| `feature` | client, client | fallback |`."""
    rows = {}
    if path is None or not path.exists():
        return rows
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\|\s*`([^`]+)`\s*\|([^|]*)\|(.*)\|\s*$", line)
        if m and m.group(3).strip():
            rows[m.group(1)] = {c.strip() for c in m.group(2).split(",") if c.strip()}
    return rows


can = json.loads((out / "caniemail.json").read_text())
print(f"== caniemail ({len(can['files'])} HTML files; clients {', '.join(can['clients'])})")
tally = {"none": collections.defaultdict(collections.Counter), "partial": collections.defaultdict(collections.Counter)}
for found in can["files"]:
    for level, counts in tally.items():
        for feature, clients in found[level].items():
            counts[feature].update(clients)
lacking = dict(sorted(tally["none"].items()))
partial = sorted(set(tally["partial"]) - set(lacking))
print(f"-- {len(lacking)} features some client lacks (files using it, per client):")
for feature, counts in lacking.items():
    print(f"  {feature}: {by_family(counts)}")
print(f"-- {len(partial)} more features only partly supported somewhere:")
print("  " + ", ".join(partial))
docs = documented(clients_doc)


def covered(client, listed):
    return any(c == client or (c.endswith(".*") and family(client) == c[:-2]) for c in listed)


missing = []
for feature, counts in lacking.items():
    undocumented = sorted(c for c in counts if not covered(c, docs.get(feature, set())))
    if undocumented:
        missing.append(f"{feature} ({', '.join(undocumented)})")
if clients_doc is not None:
    print(f"-- lacking, without a documented fallback in {clients_doc.name}: {len(missing)}")
    for m in missing:
        print(f"  {m}")

hv = json.loads((out / "html-validate.json").read_text() or "[]")
rules = collections.Counter()
files = collections.defaultdict(set)
example = {}
for result in hv:
    for m in result["messages"]:
        rules[m["ruleId"]] += 1
        files[m["ruleId"]].add(result["filePath"])
        example.setdefault(m["ruleId"], f"{m['message']} ({pathlib.Path(result['filePath']).name}:{m['line']})")
print(f"== html-validate (.ci/htmlvalidate-email.cjs): {sum(rules.values())} errors")
for rule, n in rules.most_common():
    print(f"  {rule}: {n} in {len(files[rule])} files, e.g. {example[rule]}")

scores = []
print("== SpamAssassin (offline rules)")
for line in (out / "spamassassin.tsv").read_text().splitlines():
    score, path, hits = line.split("\t")
    scores.append(float(score))
    rel = pathlib.Path(path).relative_to(out)
    shown = ",".join(h for h in hits.split(",") if abs(float(h.split("=")[1])) >= 0.01)
    print(f"  {float(score):.3f}  {rel}  {shown}")
if scores:
    print(
        f"-- {len(scores)} emails: min {min(scores):.3f}, median {statistics.median(scores):.3f}, "
        f"max {max(scores):.3f}"
    )
