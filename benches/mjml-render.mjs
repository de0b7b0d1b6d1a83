#!/usr/bin/env node
// Renders MJML files with the official `mjml` package (mjml2html), in process, split over worker
// threads, and prints one JSON line: renders, seconds, renders_per_sec (wall time across workers).
//
//   node benches/mjml-render.mjs --dir DIR [--renders 2000] [--workers N] [--warmup 5]
//
// Every `*.mjml` file in DIR is rendered round-robin. The package is loaded from
// `../.ci/node_modules/mjml` relative to this script (installed by `.ci/setup`). Each worker
// first renders a few files untimed (warm-up: module loading, JIT), then all start together on a
// signal from the main thread; the clock runs from that signal until the last worker is done.
// Rendering uses validationLevel 'soft': the validator runs and its errors are counted
// (`errors` in the output; the process exits 1 if there are any).

import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const MJML_DIR = path.resolve(HERE, '..', '.ci', 'node_modules', 'mjml');
const DEFAULT_RENDERS = 2000;
const DEFAULT_WARMUP_PER_WORKER = 5;
const EXIT_USAGE = 2;
const EXIT_MISSING_MJML = 3;
const MJML_OPTIONS = { validationLevel: 'soft' };

/** Loads mjml2html from the repository's .ci/node_modules, or exits with a hint. */
function loadMjml() {
  const require = createRequire(import.meta.url);
  try {
    const mjml = require(MJML_DIR);
    return typeof mjml === 'function' ? mjml : mjml.default;
  } catch (err) {
    console.error(`mjml-render: cannot load ${MJML_DIR} (${err.code || err.message}); run .ci/setup first`);
    process.exit(EXIT_MISSING_MJML);
  }
}

/** Parses `--name value` pairs into an object of strings. */
function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i];
    if (!key.startsWith('--') || i + 1 >= argv.length) {
      console.error(`mjml-render: bad argument ${key}\nusage: node mjml-render.mjs --dir DIR [--renders N] [--workers W] [--warmup K]`);
      process.exit(EXIT_USAGE);
    }
    args[key.slice(2)] = argv[i + 1];
  }
  return args;
}

/** Parses a positive integer option, or exits. */
function positiveInt(value, name) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`mjml-render: --${name} must be a positive integer, got ${value}`);
    process.exit(EXIT_USAGE);
  }
  return n;
}

/** Renders `count` documents round-robin starting at `start`; returns the error count and bytes. */
async function renderMany(mjml2html, sources, start, count) {
  let errors = 0;
  let bytes = 0;
  let firstError = null;
  for (let i = 0; i < count; i++) {
    const { name, text } = sources[(start + i) % sources.length];
    const out = await mjml2html(text, MJML_OPTIONS);
    if (out.errors.length > 0) {
      errors += out.errors.length;
      firstError ??= `${name}: ${out.errors[0].formattedMessage || out.errors[0].message}`;
    }
    bytes += out.html.length;
  }
  return { errors, bytes, firstError };
}

/** Worker: warm up, say ready, wait for the start signal, render its share, report. */
async function workerMain() {
  const mjml2html = loadMjml();
  const { sources, start, count, warmup } = workerData;
  await renderMany(mjml2html, sources, start, warmup);
  parentPort.once('message', async () => {
    const result = await renderMany(mjml2html, sources, start, count);
    parentPort.postMessage({ type: 'done', ...result });
  });
  parentPort.postMessage({ type: 'ready' });
}

/** Main thread: read the files, start the workers, time them, print the JSON line. */
async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!args.dir) {
    console.error('mjml-render: --dir is required');
    process.exit(EXIT_USAGE);
  }
  const renders = positiveInt(args.renders ?? DEFAULT_RENDERS, 'renders');
  const workers = Math.min(positiveInt(args.workers ?? os.cpus().length, 'workers'), renders);
  const warmup = positiveInt(args.warmup ?? DEFAULT_WARMUP_PER_WORKER, 'warmup');
  loadMjml(); // fail early, in the main thread, if the package is missing
  const mjmlVersion = JSON.parse(fs.readFileSync(path.join(MJML_DIR, 'package.json'), 'utf8')).version;

  if (!fs.existsSync(args.dir) || !fs.statSync(args.dir).isDirectory()) {
    console.error(`mjml-render: ${args.dir} is not a directory`);
    process.exit(EXIT_USAGE);
  }
  const sources = fs.readdirSync(args.dir)
    .filter((f) => f.endsWith('.mjml'))
    .sort()
    .map((name) => ({ name, text: fs.readFileSync(path.join(args.dir, name), 'utf8') }));
  if (sources.length === 0) {
    console.error(`mjml-render: no .mjml files in ${args.dir}`);
    process.exit(EXIT_USAGE);
  }

  // Split the renders as evenly as possible; each worker starts at its own offset in the round-robin.
  const pool = [];
  let offset = 0;
  for (let w = 0; w < workers; w++) {
    const count = Math.floor(renders / workers) + (w < renders % workers ? 1 : 0);
    pool.push({ worker: new Worker(fileURLToPath(import.meta.url), { workerData: { sources, start: offset, count, warmup } }) });
    offset += count;
  }
  const ready = pool.map(({ worker }) => new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', resolve);
  }));
  await Promise.all(ready);

  const done = pool.map(({ worker }) => new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', resolve);
  }));
  const t0 = process.hrtime.bigint();
  for (const { worker } of pool) worker.postMessage('go');
  const results = await Promise.all(done);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const { worker } of pool) await worker.terminate();

  const errors = results.reduce((sum, r) => sum + r.errors, 0);
  const htmlBytes = results.reduce((sum, r) => sum + r.bytes, 0);
  const firstError = results.map((r) => r.firstError).find((e) => e) ?? null;
  console.log(JSON.stringify({
    renders,
    seconds,
    renders_per_sec: renders / seconds,
    workers,
    warmup_per_worker: warmup,
    samples: sources.length,
    errors,
    first_error: firstError,
    mean_html_bytes: Math.round(htmlBytes / renders),
    mjml_version: mjmlVersion,
    node_version: process.version,
  }));
  if (errors > 0) process.exit(1);
}

if (isMainThread) {
  await main();
} else {
  await workerMain();
}
