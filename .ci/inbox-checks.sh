#!/usr/bin/env bash
# Prints the inbox figures of tripmail's emails, the ones tests/it/inbox_checks.rs asserts on:
#   caniemail (@jsx-email/doiuse-email) for Gmail, Apple Mail, Outlook and Yahoo: each feature some
#     client lacks or supports in part, with the clients and how many emails use it;
#   html-validate with .ci/htmlvalidate-email.cjs: the errors by rule;
#   SpamAssassin, offline rules (.ci/spamscore.pl): each email's score and rules, min/median/max.
# Over the emails of both shipped runs (fixtures/campaign.toml and campaign-yespo.toml at the
# fixtures' instant) and the HTML of every snapshot case (tests/it/snapshots/*.html.snap).
#
#   .ci/inbox-checks.sh [OUTDIR]     # OUTDIR (default: a temporary folder) keeps the emails and the
#                                    # tools' raw output; INBOX_CHECKS_BIN picks the binary (default: a
#                                    # debug build, made by cargo when needed)
# Needs what .ci/setup installs (node packages, spamassassin, python3).
set -euo pipefail
ci="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$ci")"
out="${1:-$(mktemp -d)}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cd "$root"

bin="${INBOX_CHECKS_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --locked --quiet
  bin="$root/target/debug/tripmail"
fi
now=2026-12-10T09:00:00Z
rm -rf "$out/run" "$out/yespo" "$out/snapshots"
shipped_run() { # CONFIG DIR: the shipped run, its console output in DIR.log (shown if it fails)
  if ! "$bin" run --config "$1" --now "$now" --out "$2" >"$2.log" 2>&1; then
    cat "$2.log" >&2
    exit 1
  fi
}
shipped_run fixtures/campaign.toml "$out/run"
shipped_run fixtures/campaign-yespo.toml "$out/yespo"
python3 "$ci/snapshot_html.py" tests/it/snapshots "$out/snapshots"

html=("$out"/run/*/*.html "$out"/yespo/*/*.html "$out"/snapshots/*.html)
eml=("$out"/run/*/*.eml "$out"/yespo/*/*.eml)
node "$ci/caniemail.js" "${html[@]}" >"$out/caniemail.json"
"$ci/node_modules/.bin/html-validate" --config "$ci/htmlvalidate-email.cjs" \
  --formatter="json=$out/html-validate.json" "${html[@]}" || true
perl "$ci/spamscore.pl" "${eml[@]}" >"$out/spamassassin.tsv"
python3 "$ci/inbox_figures.py" "$out" "$root/templates/CLIENTS.md"
