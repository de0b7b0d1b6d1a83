#!/usr/bin/env node
// caniemail check of rendered emails: runs @jsx-email/doiuse-email (the caniemail.com data) over
// every HTML file named on the command line, for the four client families tripmail's readers use
// most (Gmail, Apple Mail, Outlook, Yahoo), and prints one JSON document on stdout:
//   {"clients": [...], "files": [{"file": F, "none": {FEATURE: [CLIENT, ...]}, "partial": {...}}]}
// one entry per file, in order: the features it uses that a client lacks ("none") or supports only
// in part ("partial"), with those clients. tests/it/inbox_checks.rs and .ci/inbox-checks.sh read it.
'use strict';
const fs = require('fs');
const path = require('path');
const { DoIUseEmail } = require(path.join(__dirname, 'node_modules/@jsx-email/doiuse-email'));

const CLIENTS = ['gmail.*', 'apple-mail.*', 'outlook.*', 'yahoo.*'];
const MESSAGE = /^`(.+)` is (not|only partially) supported by `(.+)`$/;

const report = [];
for (const file of process.argv.slice(2)) {
  // One checker per file: a checker keeps its messages from one check to the next.
  const result = new DoIUseEmail({ emailClients: CLIENTS }).check(fs.readFileSync(file, 'utf8'));
  const found = { file, none: {}, partial: {} };
  for (const message of [...(result.errors || []), ...result.warnings]) {
    const m = MESSAGE.exec(message);
    if (m === null) {
      throw new Error(`${file}: unexpected doiuse-email message: ${message}`);
    }
    const [, feature, level, client] = m;
    const clients = (found[level === 'not' ? 'none' : 'partial'][feature] ??= []);
    if (!clients.includes(client)) clients.push(client);
  }
  report.push(found);
}
process.stdout.write(JSON.stringify({ clients: CLIENTS, files: report }) + '\n');
