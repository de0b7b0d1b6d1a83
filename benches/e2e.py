#!/usr/bin/env python3
"""End-to-end benchmark of tripmail: synthetic bookings, dry runs, engine requests, and mjml.

Run from the repository root (on a fresh clone, run `.ci/setup` first for the mjml comparison):

    python3 benches/e2e.py                      # sizes 100000,1000000, 3 runs each
    TRIPMAIL_BIN=target/release/tripmail python3 benches/e2e.py --sizes 2000,20000 --runs 2

For each size it writes N synthetic bookings (`tripmail synth`), then times `tripmail run
--dry-run` (every due email made to the last MIME byte, then dropped) as a whole process: wall time
from spawn to exit, so startup, reading, engine calls and rendering are all included, and its peak
memory as it prints it (its VmHWM; os.wait4's ru_maxrss where it does not). It checks that the engine requests equal the distinct queries
implied by the emails' (main product, preference) pairs, and compares with the official mjml
package rendering sample emails' MJML in Node (benches/mjml-render.mjs).

Targets (printed MET / NOT MET; they fail the script only with --check): at least 10,000 emails/s
at the largest size, at least 40 times mjml's emails/s, peak memory under 150 MB at every size, and
flat memory (the largest size's peak at most 1.5 times the smallest's).

Exit codes: 0 ok; 1 a --check target or consistency check failed; 2 a child process failed.
"""

import argparse
import csv
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG = "fixtures/campaign.toml"
CATALOG = "fixtures/catalog.json"
NOW = "2026-12-10T09:00:00Z"
CAMPAIGNS = ("confirmation", "reminder")
MJML_SCRIPT = REPO_ROOT / "benches" / "mjml-render.mjs"
MJML_PACKAGE = REPO_ROOT / ".ci" / "node_modules" / "mjml" / "package.json"

DEFAULT_SIZES = "100000,1000000"
DEFAULT_RUNS = 3
DEFAULT_SEED = 1
DEFAULT_MJML_SAMPLES = 24
DEFAULT_MJML_RENDERS = 2000
STRAIGHT_SIZE = 100_000  # the size run once with --straight (the smallest size if not among --sizes)

TARGET_EMAILS_PER_SEC = 10_000  # at the largest size
TARGET_MJML_RATIO = 40.0  # tripmail emails/s over mjml renders/s
TARGET_PEAK_MB = 150.0  # at every size
TARGET_FLAT_RATIO = 1.5  # largest size's peak over the smallest's

EXIT_CHECK_FAILED = 1
EXIT_CHILD_FAILED = 2
STDERR_TAIL_LINES = 20
BYTES_PER_MB = 1024 * 1024
# ru_maxrss is in kilobytes on Linux and in bytes on macOS.
MAXRSS_UNIT_BYTES = 1 if sys.platform == "darwin" else 1024

# The engine query keys: every email that asks the engine asks for its main product with its
# audience (family or none), plus its season preference if any, plus adults-only for families.
PREFERENCE_RULES = ("prefer:indoor", "prefer:outdoor")
NO_OPT_IN_RULE = "no_opt_in"
FAMILY_RULE = "family"


# tripmail reads TRIPMAIL_<KEY> variables as config overrides and rejects unknown keys, so the
# variable naming the binary is not passed on to the children.
BIN_ENV_VAR = "TRIPMAIL_BIN"
CHILD_ENV = {k: v for k, v in os.environ.items() if k != BIN_ENV_VAR}


class ChildFailed(Exception):
    """A child process exited non-zero; carries the command and its stderr tail."""

    def __init__(self, cmd, returncode, stderr):
        super().__init__(f"{cmd[0]} exited with {returncode}")
        self.cmd = cmd
        self.returncode = returncode
        self.stderr = stderr


def stderr_tail(text, lines=STDERR_TAIL_LINES):
    """The last `lines` lines of a child's stderr, indented for printing."""
    tail = text.rstrip().splitlines()[-lines:]
    return "\n".join("    " + line for line in tail) or "    (no stderr)"


def run_checked(cmd, **kwargs):
    """Runs a command to completion, capturing its output; raises ChildFailed on a non-zero exit."""
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=CHILD_ENV, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise ChildFailed(cmd, proc.returncode, proc.stderr or proc.stdout)
    return proc


def run_measured(cmd, workdir):
    """Runs a command and measures it as a whole process.

    Returns (wall seconds, the child's own peak RSS in MB, its stderr). The child is reaped with
    os.wait4, which gives that child's rusage alone (RUSAGE_CHILDREN would be the maximum over all
    children so far). stdout and stderr go to files so that no pipe can stall the child.
    """
    out_path = Path(workdir) / "child.stdout"
    err_path = Path(workdir) / "child.stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=CHILD_ENV, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so tell Popen
    stderr = err_path.read_text(errors="replace")
    if proc.returncode != 0:
        raise ChildFailed(cmd, proc.returncode, stderr + out_path.read_text(errors="replace"))
    return seconds, usage.ru_maxrss * MAXRSS_UNIT_BYTES / BYTES_PER_MB, stderr


# --- the machine and the tools ---------------------------------------------------------------


def cpu_model():
    """The CPU model name from /proc/cpuinfo, else what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def total_memory_gb():
    """Total memory in GiB from /proc/meminfo, or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / (1024 * 1024)
    except OSError:
        pass
    return None


def node_version():
    """`node --version`, or None if node is not on PATH."""
    node = shutil.which("node")
    if not node:
        return None
    proc = subprocess.run([node, "--version"], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def mjml_version():
    """The version of the mjml package in .ci/node_modules, or None if it is not installed."""
    try:
        return json.loads(MJML_PACKAGE.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def locate_binary():
    """$TRIPMAIL_BIN if set, else `cargo build --release --locked` and target/release/tripmail."""
    env_bin = os.environ.get(BIN_ENV_VAR)
    if env_bin:
        path = Path(env_bin).resolve()
        if not path.is_file():
            sys.exit(f"{BIN_ENV_VAR}={env_bin} is not a file")
        return path
    print("building: cargo build --release --locked", flush=True)
    proc = subprocess.run(["cargo", "build", "--release", "--locked"], cwd=REPO_ROOT, env=CHILD_ENV)
    if proc.returncode != 0:
        print("cargo build failed", file=sys.stderr)
        sys.exit(EXIT_CHILD_FAILED)
    return REPO_ROOT / "target" / "release" / "tripmail"


def print_machine(binary, node, mjml):
    """Prints the machine and the tool versions."""
    mem = total_memory_gb()
    version = run_checked([str(binary), "--version"]).stdout.strip()
    print("== machine")
    print(f"cpu:      {cpu_model()}")
    print(f"cores:    {os.cpu_count()}")
    print(f"memory:   {mem:.1f} GiB" if mem else "memory:   unknown")
    print(f"kernel:   {platform.system()} {platform.release()}")
    print(f"tripmail: {version} ({binary})")
    print(f"node:     {node or 'missing'}")
    print(f"mjml:     {mjml or 'missing (run .ci/setup)'}")
    print(flush=True)


# --- synthetic bookings and dry runs ---------------------------------------------------------


def synth(binary, size, seed, workdir):
    """Writes `size` synthetic bookings as CSV into workdir; returns the path."""
    path = Path(workdir) / f"bookings-{size}-seed{seed}.csv"
    cmd = [str(binary), "synth", "--catalog", CATALOG, "--bookings", str(size), "--seed", str(seed),
           "--format", "csv", "--output", str(path)]
    start = time.perf_counter()
    proc = run_checked(cmd)
    print(f"synth {size} bookings: {path.stat().st_size / BYTES_PER_MB:.1f} MB in "
          f"{time.perf_counter() - start:.2f} s  [{proc.stderr.strip().removeprefix('tripmail: ')}]")
    return path


def dry_run(binary, bookings, report, workdir, straight=False):
    """One measured dry run; returns a dict of emails, seconds, emails/s, peak MB and the report."""
    cmd = [str(binary), "run", "--config", CONFIG, "--bookings", str(bookings), "--now", NOW,
           "--dry-run", "--report", str(report)]
    if straight:
        cmd.append("--straight")
    seconds, rusage_mb, stderr = run_measured(cmd, workdir)
    data = json.loads(Path(report).read_text())
    return {
        "emails": data["rendered"],
        "seconds": seconds,
        "rate": data["rendered"] / seconds,
        "peak_mb": own_peak_mb(stderr, rusage_mb),
        "engine_requests": data["engine_requests"],
        "cache_hits": data["cache_hits"],
        "report": data,
    }


def own_peak_mb(stderr, rusage_mb):
    """The dry run's own peak memory, as it prints it (`peak memory N MB`, its VmHWM).

    The child's ru_maxrss is not used when that line is there: Linux carries the high-water mark of
    the memory image replaced at exec into it, so a child forked from this script counts this
    script's own size (which grows with the reports it reads) as its peak.
    """
    match = re.search(r"peak memory ([0-9.]+) MB", stderr)
    return float(match.group(1)) if match else rusage_mb


def print_run(label, run):
    """Prints one run's line."""
    print(f"  {label}: {run['emails']} emails in {run['seconds']:.2f} s = {run['rate']:,.0f} emails/s, "
          f"peak memory {run['peak_mb']:.1f} MB")


# --- engine requests -------------------------------------------------------------------------


def read_bookings(path, columns):
    """Maps booking_id to a dict of the given columns, read with the csv module (titles are quoted)."""
    with open(path, newline="", encoding="utf-8") as f:
        return {row["booking_id"]: {c: row[c] for c in columns} for row in csv.DictReader(f)}


def email_preference(rules):
    """The email's season preference rule (prefer:indoor / prefer:outdoor), or None."""
    return next((r for r in rules if r in PREFERENCE_RULES), None)


def engine_queries(report, products):
    """The distinct (product, preference, family) triples and engine queries the emails imply.

    Every email whose rules lack no_opt_in asked the engine for (product, family or none), plus
    (product, its preference) if it has one, plus (product, adults_only) if it is a family's.
    """
    triples, queries = set(), set()
    for email in report["emails"]:
        rules = email["rules"]
        if NO_OPT_IN_RULE in rules:
            continue
        product = products[email["booking_id"]]
        preference = email_preference(rules)
        family = FAMILY_RULE in rules
        triples.add((product, preference, family))
        queries.add((product, "family" if family else "none"))
        if preference:
            queries.add((product, preference))
        if family:
            queries.add((product, "adults_only"))
    return triples, queries


# --- mjml comparison ---------------------------------------------------------------------------


def has_block(email):
    """Whether the email has the cross-sell block."""
    return not email.get("without_block")


def sample_features(key):
    """The features a (locale, campaign, block) group covers."""
    locale, campaign, block = key
    return {("locale", locale), ("campaign", campaign), ("block", block)}


def describe_coverage(samples):
    """A line counting the samples per locale, per campaign and with/without block."""
    parts = []
    for index, label in enumerate(("locales", "campaigns", "block")):
        counts = defaultdict(int)
        for key, _ in samples:
            value = key[index]
            counts[("with" if value else "without") if isinstance(value, bool) else value] += 1
        parts.append(f"{label} " + ", ".join(f"{value} {n}" for value, n in sorted(counts.items(), key=str)))
    return "; ".join(parts)


def pick_samples(report, locales, limit):
    """Up to `limit` distinct emails covering every locale, both campaigns, with and without a block.

    Emails are grouped by (locale, campaign, block). The groups are ordered greedily: next, the group
    covering the most features (a locale, a campaign, with/without block) not yet covered, ties to
    the one whose features are least represented so far; then emails are taken round-robin over the
    groups in that order. Deterministic (sorted groups, report order within a group).
    Returns (samples, features left uncovered because of the limit).
    """
    groups = defaultdict(list)
    for email in report["emails"]:
        groups[(locales[email["booking_id"]], email["campaign"], has_block(email))].append(email)
    all_features = set().union(*(sample_features(k) for k in groups)) if groups else set()
    uncovered = set(all_features)
    represented = defaultdict(int)
    order, remaining = [], sorted(groups)
    while remaining:
        best = max(remaining, key=lambda k: (len(sample_features(k) & uncovered),
                                             -sum(represented[f] for f in sample_features(k))))
        remaining.remove(best)
        order.append(best)
        uncovered -= sample_features(best)
        for feature in sample_features(best):
            represented[feature] += 1
    samples, depth = [], 0
    while len(samples) < limit and any(depth < len(groups[k]) for k in order):
        for key in order:
            if len(samples) < limit and depth < len(groups[key]):
                samples.append((key, groups[key][depth]))
        depth += 1
    return samples, all_features - set().union(*(sample_features(k) for k, _ in samples))


def write_sample_mjml(binary, bookings, samples, mjml_dir):
    """Writes each sample email's MJML (tripmail preview --format mjml) into mjml_dir."""
    for index, ((locale, campaign, block), email) in enumerate(samples):
        name = f"{index:02d}-{locale}-{campaign}-{'block' if block else 'noblock'}-{email['booking_id']}.mjml"
        run_checked([str(binary), "preview", "--config", CONFIG, "--bookings", str(bookings), "--now", NOW,
                     "--booking", email["booking_id"], "--campaign", campaign, "--format", "mjml",
                     "--output", str(Path(mjml_dir) / name)])


def mjml_render(mjml_dir, renders, workers):
    """Runs benches/mjml-render.mjs over the sample files; returns its JSON result."""
    cmd = ["node", str(MJML_SCRIPT), "--dir", str(mjml_dir), "--renders", str(renders), "--workers", str(workers)]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=CHILD_ENV, capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode not in (0, 1) or not lines:  # 1: rendered, but with mjml errors (in the JSON)
        raise ChildFailed(cmd, proc.returncode, proc.stderr)
    return json.loads(lines[-1])


# --- main ----------------------------------------------------------------------------------------


def parse_args():
    """The command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES,
                        help=f"comma-separated booking counts (default {DEFAULT_SIZES})")
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help=f"dry runs per size (default {DEFAULT_RUNS})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"synth seed (default {DEFAULT_SEED})")
    parser.add_argument("--straight", action="store_true",
                        help=f"also run the {STRAIGHT_SIZE} size (else the smallest) once with --straight")
    parser.add_argument("--mjml-samples", type=int, default=DEFAULT_MJML_SAMPLES,
                        help=f"sample emails for the mjml comparison (default {DEFAULT_MJML_SAMPLES})")
    parser.add_argument("--renders", type=int, default=DEFAULT_MJML_RENDERS,
                        help=f"mjml renders in total (default {DEFAULT_MJML_RENDERS})")
    parser.add_argument("--workers", type=int, default=os.cpu_count(),
                        help="mjml worker threads (default: the core count)")
    parser.add_argument("--keep", metavar="DIR", help="keep the synthetic files (and reports, MJML) in DIR")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if a target is not met, the engine check mismatches or mjml is missing")
    args = parser.parse_args()
    try:
        args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes: not a list of integers: {args.sizes}")
    if not args.sizes or min(args.sizes) < 1 or args.runs < 1 or args.mjml_samples < 1 or args.renders < 1:
        parser.error("sizes, --runs, --mjml-samples and --renders must be positive")
    return args


def bench_size(binary, size, args, workdir):
    """Synthesizes one size, runs it --runs times and checks the engine requests; returns a summary."""
    print(f"== {size} bookings")
    bookings = synth(binary, size, args.seed, workdir)
    report_path = Path(workdir) / f"report-{size}.json"
    runs = []
    for i in range(args.runs):
        if runs:
            del runs[-1]["report"]  # one report in memory at a time (the 1M one is hundreds of MB)
        run = dry_run(binary, bookings, report_path, workdir)
        print_run(f"run {i + 1}", run)
        runs.append(run)
    last = runs[-1].pop("report")

    products = {k: v["product_id"] for k, v in read_bookings(bookings, ["product_id"]).items()}
    triples, queries = engine_queries(last, products)
    requests = {run["engine_requests"] for run in runs}
    ok = requests == {len(queries)}
    print(f"  median: {statistics.median(r['rate'] for r in runs):,.0f} emails/s, "
          f"peak memory {statistics.median(r['peak_mb'] for r in runs):.1f} MB")
    print(f"  engine: {', '.join(map(str, sorted(requests)))} requests "
          f"({last['cache_hits']} cache hits); {len(triples)} distinct (product, preference, family); "
          f"{len(queries)} distinct queries: {'OK' if ok else 'MISMATCH'}")
    print(flush=True)
    return {
        "size": size,
        "bookings": bookings,
        "emails": runs[-1]["emails"],
        "rate": statistics.median(r["rate"] for r in runs),
        "peak_mb": statistics.median(r["peak_mb"] for r in runs),
        "max_peak_mb": max(r["peak_mb"] for r in runs),
        "engine_requests": runs[-1]["engine_requests"],
        "triples": len(triples),
        "queries": len(queries),
        "engine_ok": ok,
        "report": last if size == min(args.sizes) else None,  # the smallest is kept for mjml samples
    }


def bench_straight(binary, results, workdir):
    """Runs one size once with --straight; prints its rate and the default path's speed-up."""
    by_size = {r["size"]: r for r in results}
    result = by_size.get(STRAIGHT_SIZE) or min(results, key=lambda r: r["size"])
    print(f"== --straight, {result['size']} bookings")
    run = dry_run(binary, result["bookings"], Path(workdir) / "report-straight.json", workdir, straight=True)
    if run["emails"] != result["emails"]:
        print(f"  warning: --straight made {run['emails']} emails, the default path {result['emails']}")
    del run["report"]
    print_run("straight", run)
    print(f"  default path: {result['rate']:,.0f} emails/s (median) = {result['rate'] / run['rate']:.1f}x the straight way")
    print(flush=True)


def bench_mjml(binary, smallest, args, workdir, node, mjml):
    """The mjml comparison; returns mjml's JSON result, or None when skipped."""
    print("== mjml (official package, Node)")
    if not node or not mjml:
        print(f"  skipped: {'node' if not node else 'the mjml package'} is missing; run .ci/setup")
        print(flush=True)
        return None
    locales = {k: v["locale"] for k, v in read_bookings(smallest["bookings"], ["locale"]).items()}
    samples, uncovered = pick_samples(smallest["report"], locales, args.mjml_samples)
    mjml_dir = Path(workdir) / "mjml"
    shutil.rmtree(mjml_dir, ignore_errors=True)
    mjml_dir.mkdir()
    write_sample_mjml(binary, smallest["bookings"], samples, mjml_dir)
    print(f"  {len(samples)} samples from the {smallest['size']} report: {describe_coverage(samples)}")
    if uncovered:
        print(f"  not covered (raise --mjml-samples): {sorted(uncovered, key=str)}")
    result = mjml_render(mjml_dir, args.renders, args.workers)
    print(f"  {result['renders']} renders on {result['workers']} workers in {result['seconds']:.2f} s = "
          f"{result['renders_per_sec']:,.1f} emails/s; mjml errors: {result['errors']}"
          + (f" (first: {result['first_error']})" if result["errors"] else ""))
    print(flush=True)
    return result


def met(ok):
    """MET / NOT MET."""
    return "MET" if ok else "NOT MET"


def summarize(results, mjml_result):
    """Prints the summary table and the targets; returns whether every --check condition holds."""
    print("== summary")
    print("| bookings | emails | median emails/s | median peak MB | engine requests | distinct queries |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['size']:,} | {r['emails']:,} | {r['rate']:,.0f} | {r['peak_mb']:.1f} | "
              f"{r['engine_requests']:,} | {r['queries']:,} |")
    smallest = min(results, key=lambda r: r["size"])
    largest = max(results, key=lambda r: r["size"])
    if mjml_result:
        print(f"\nmjml {mjml_result['mjml_version']} (Node {mjml_result['node_version']}): "
              f"{mjml_result['renders_per_sec']:,.1f} emails/s ({mjml_result['renders']:,} renders of "
              f"{mjml_result['samples']} samples on {mjml_result['workers']} worker threads)")
    print()

    checks = []
    rate_ok = largest["rate"] >= TARGET_EMAILS_PER_SEC
    checks.append(rate_ok)
    print(f"throughput at {largest['size']:,}: {largest['rate']:,.0f} emails/s "
          f"(target >= {TARGET_EMAILS_PER_SEC:,}): {met(rate_ok)}")
    if mjml_result:
        ratio = largest["rate"] / mjml_result["renders_per_sec"]
        ratio_ok = ratio >= TARGET_MJML_RATIO
        print(f"vs mjml: {largest['rate']:,.0f} / {mjml_result['renders_per_sec']:,.1f} = {ratio:.1f}x "
              f"(target >= {TARGET_MJML_RATIO:.0f}x): {met(ratio_ok)}")
        checks += [ratio_ok, mjml_result["errors"] == 0]
    else:
        print(f"vs mjml: skipped (target >= {TARGET_MJML_RATIO:.0f}x): NOT MET (run .ci/setup)")
        checks.append(False)
    peak_ok = all(r["max_peak_mb"] < TARGET_PEAK_MB for r in results)
    checks.append(peak_ok)
    print(f"peak memory: max {max(r['max_peak_mb'] for r in results):.1f} MB over all runs "
          f"(target < {TARGET_PEAK_MB:.0f} MB at every size): {met(peak_ok)}")
    flat = largest["peak_mb"] / smallest["peak_mb"]
    flat_ok = flat <= TARGET_FLAT_RATIO
    checks.append(flat_ok)
    print(f"flat memory: {largest['size']:,} / {smallest['size']:,} peak = {flat:.2f} "
          f"(target <= {TARGET_FLAT_RATIO}): {met(flat_ok)}")
    engine_ok = all(r["engine_ok"] for r in results)
    checks.append(engine_ok)
    print(f"engine requests == distinct queries at every size: {'OK' if engine_ok else 'MISMATCH'}")
    return all(checks)


def main():
    """Runs the whole benchmark."""
    args = parse_args()
    binary = locate_binary()
    node, mjml = node_version(), mjml_version()
    sizes = sorted(set(args.sizes))
    with tempfile.TemporaryDirectory(prefix="tripmail-e2e-") as tmp:
        workdir = Path(args.keep).resolve() if args.keep else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            print_machine(binary, node, mjml)
            results = [bench_size(binary, size, args, workdir) for size in sizes]
            if args.straight:
                bench_straight(binary, results, workdir)
            mjml_result = bench_mjml(binary, results[0], args, workdir, node, mjml)
        except ChildFailed as failed:
            print(f"\nfailed: {' '.join(failed.cmd)}\nexit {failed.returncode}; stderr tail:\n"
                  f"{stderr_tail(failed.stderr)}", file=sys.stderr)
            sys.exit(EXIT_CHILD_FAILED)
        all_ok = summarize(results, mjml_result)
        if args.keep:
            print(f"\nkept in {workdir}")
    if args.check and not all_ok:
        sys.exit(EXIT_CHECK_FAILED)


if __name__ == "__main__":
    main()
