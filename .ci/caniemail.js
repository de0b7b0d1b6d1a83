#!/usr/bin/env node
// caniemail check of rendered emails: runs @jsx-email/doiuse-email (the caniemail.com data) over
// every HTML file named on the command line, for the four client families tripmail's readers use
// most (Gmail, Apple Mail, Outlook, Yahoo), and prints one JSON document on stdout:
//   {"files": N, "clients": [...], "features": {FEATURE: {"none": {CLIENT: FILES}, "partial": {...}}}}
// where FILES is how many of the files use FEATURE while CLIENT lacks it ("none") or supports it
// only in part ("partial"). The Rust test (tests/it/inbox_checks.rs) and .ci/inbox-checks.sh read it.
'use strict';
const fs = require('fs');
const path = require('path');
const { DoIUseEmail } = require(path.join(__dirname, 'node_modules/@jsx-email/doiuse-email'));

const CLIENTS = ['gmail.*', 'apple-mail.*', 'outlook.*', 'yahoo.*'];
const MESSAGE = /^`(.+)` is (not|only partially) supported by `(.+)`$/;

const features = {};
const files = process.argv.slice(2);
for (const file of files) {
  // One checker per file: a checker keeps its messages from one check to the next.
  const result = new DoIUseEmail({ emailClients: CLIENTS }).check(fs.readFileSync(file, 'utf8'));
  const seen = new Set();
  for (const message of [...(result.errors || []), ...result.warnings]) {
    const m = MESSAGE.exec(message);
    if (m === null) {
      throw new Error(`${file}: unexpected doiuse-email message: ${message}`);
    }
    const [, feature, level, client] = m;
    const key = `${feature}\u0000${level}\u0000${client}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const support = level === 'not' ? 'none' : 'partial';
    const entry = (features[feature] ??= { none: {}, partial: {} });
    entry[support][client] = (entry[support][client] ?? 0) + 1;
  }
}
process.stdout.write(JSON.stringify({ files: files.length, clients: CLIENTS, features }, null, 1) + '\n');
