#!/usr/bin/env python3
"""SMTP delivery: emails/s over 1, 4 and 16 connections to a server 0, 10 and 20 ms away (one way),
beside the limit that the round trips allow.

    cargo build --release --locked
    python3 benches/delivery.py              # delays 0,10,20 ms x connections 1,4,16, 3 runs each
    python3 benches/delivery.py --delays 10 --connections 1,4 --runs 1      # a quick look
    python3 benches/delivery.py --delays 0,10 --connections 16 --max-per-second 100   # the rate limit

Needs Postfix's smtp-sink (/usr/sbin/smtp-sink; Debian, Ubuntu: `apt-get install postfix`) and only
the Python standard library (python3 or .ci/venv/bin/python3). TRIPMAIL_BIN: another binary.

The server is smtp-sink on 127.0.0.1: it offers PIPELINING (not with --no-pipelining-server, its -p)
and throws the emails away. For a delay D above 0, tripmail reaches it through a TCP proxy holding
every chunk D ms in each direction (round trip 2·D; latency only, no bandwidth limit): stdlib asyncio
in its own process (this script with --proxy), a new one per run. Its timers run about 0.5 ms late a
hop (the event loop waits in whole ms): the "proxy check" lines give an EHLO's real round trip. Each
run is one `tripmail run`: the shipped campaign (fixtures/campaign.toml, copied with absolute paths),
synthetic bookings (`tripmail synth --seed 7`, about 0.94 emails each), a fresh SQLite ledger
(--state: the ledger is on), TRIPMAIL_SMTP__MAX_CONNECTIONS=<conns>. Emails: the report's `sent`.

Prints the machine and commit, the proxy checks, the files-only baseline (`run --dry-run`: every
email made, none sent; when delay 0 is asked), then each configuration's runs and their median:

    delay, conns   one-way delay (ms), smtp.max_connections
    emails, run s  emails sent; wall time of the `tripmail run` process (start-up included); emails/s
    send s         the proxy's window, first byte from tripmail to last byte to it over all
                   connections (none at delay 0: straight to the sink); emails/s
    /conn          the sending emails/s (the run's where there is none) per connection
    limit, %       a pipelined email costs two round trips (MAIL, RCPT and DATA together, then the
                   message): at most 1/(2·RTT) per connection, 25/s at 10 ms, 12.5/s at 20 ms; the
                   percent of it reached ("loopback" at delay 0)
    cpu            CPU time of tripmail, smtp-sink and the proxy, percent of the run's wall time

A proxied run sends about --seconds (10) worth at 1/(4·RTT) per connection (an unpipelined email's
four round trips), at least --min-emails (500); delay 0 sends 20,000 bookings' worth (start-up
amortized). --pipelining on|off sets TRIPMAIL_SMTP__PIPELINING (only when given: older binaries
refuse it). --max-per-second R sets TRIPMAIL_SMTP__MAX_PER_SECOND=R, sends every run through a proxy
(a pass-through at delay 0, for the window) and prints the sending rate's distance from R.

The defaults take about 12 minutes (730 s, twice) on a 2-core AMD EPYC before pipelining: a third of
it is one connection 20 ms away (545 emails at 6.0/s, 91 s a run). Not a test: nothing asserts a time.
Exit codes: 0 done; 1 a run failed or sent nothing; 2 the binary or smtp-sink is missing.
"""
import argparse
import asyncio
import json
import math
import os
import pathlib
import resource
import select
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = os.environ.get("TRIPMAIL_BIN", str(ROOT / "target/release/tripmail"))
SINK = "/usr/sbin/smtp-sink"
NOW = "2026-12-10T09:00:00Z"
EMAILS_PER_BOOKING = 0.94


# ---- The proxy: `delivery.py --proxy TARGET_PORT DELAY_MS` --------------------------------------

async def together(*coros):
    """Runs the coroutines to their end; the first to fail cancels the others, and its error is raised."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for t in tasks:
            t.cancel()  # those still running, after a failure or when we are cancelled
    for t in done:
        t.result()


async def forward(reader, writer, delay, stats, upstream):
    """Writes each chunk read at t at t + delay, in order; the EOF likewise closes the write half."""
    queue = asyncio.Queue()

    async def read():
        while True:
            data = await reader.read(65536)
            now = time.monotonic()
            if upstream and data and stats["first_in"] is None:
                stats["first_in"] = now
            await queue.put((now + delay, data))
            if not data:
                return

    async def write():
        while True:
            deadline, data = await queue.get()
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()
            if not upstream:
                stats["last_out"] = time.monotonic()

    await together(read(), write())


async def proxy(target, delay):
    """Listens on a free port (printed), until SIGTERM; then prints its stats as JSON."""
    stats = {"connections": 0, "resets": 0, "first_in": None, "last_out": None}

    async def handle(client_r, client_w):
        try:
            server_r, server_w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", target), 5)
        except (OSError, asyncio.TimeoutError) as e:
            print(f"proxy: cannot reach 127.0.0.1:{target}: {e!r}", file=sys.stderr)
            client_w.close()
            return
        stats["connections"] += 1
        try:
            await together(forward(client_r, server_w, delay, stats, True),
                           forward(server_r, client_w, delay, stats, False))
        except OSError:  # a side reset or gone (ENOTCONN on the half close): counted, printed
            stats["resets"] += 1
        except asyncio.CancelledError:
            pass  # the proxy stops (asyncio.run cancels what is left): not an error
        finally:
            client_w.close()
            server_w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print(server.sockets[0].getsockname()[1], flush=True)
    await stop.wait()  # tripmail has ended: every byte it got is counted
    server.close()
    window = stats["last_out"] - stats["first_in"] if stats["first_in"] and stats["last_out"] else None
    print(json.dumps(dict(stats, window=window)), flush=True)


class Proxy:
    """A proxy process: `port` to connect to; `stop()` gives its stats and the CPU seconds it used."""

    def __init__(self, target, delay_ms):
        self.proc = subprocess.Popen([sys.executable, __file__, "--proxy", str(target), str(delay_ms)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        line = self.proc.stdout.readline() if ready else ""
        if not line.strip().isdigit():
            end(self.proc)
            sys.exit(f"the proxy did not start (exit {self.proc.returncode})")
        self.port = int(line)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        before = cpu_children()
        out, _ = self.proc.communicate(timeout=10)
        return json.loads(out.strip().splitlines()[-1]), cpu_children() - before


# ---- The benchmark ------------------------------------------------------------------------------

def end(proc):
    """Stops a process of ours if it still runs (smtp-sink; a proxy after an error)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def cpu_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cpu_of(pid):
    """CPU seconds a running process (smtp-sink) has used so far."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, timeout=10).stdout.strip()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{cpu}, {os.cpu_count()} cores, load average {load}; tripmail {commit or '?'} ({BIN})"


def start_sink(pipelining):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [SINK] + (["-u", "nobody"] if os.geteuid() == 0 else []) + ([] if pipelining else ["-p"])
    sink = subprocess.Popen(cmd + [f"127.0.0.1:{port}", "1000"], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return sink, port
        except OSError:
            if sink.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"smtp-sink did not start on 127.0.0.1:{port} (exit {sink.poll()})")
            time.sleep(0.05)


def ehlo_round_trip(port):
    """The median time of 5 EHLO exchanges, ms."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        times = []
        for _ in range(5):
            t = time.monotonic()
            s.ehlo()
            times.append((time.monotonic() - t) * 1000)
    return statistics.median(times)


class Bench:
    def __init__(self, args, tmp, sink, sink_port):
        self.args, self.tmp, self.sink, self.sink_port = args, tmp, sink, sink_port
        self.files, self.runs = {}, 0
        text = (ROOT / "fixtures/campaign.toml").read_text()
        text = text.replace('"fixtures/', f'"{ROOT}/fixtures/').replace('dir = "templates"', f'dir = "{ROOT}/templates"')
        self.config = tmp / "campaign.toml"
        self.config.write_text(text)
        self.env = {k: v for k, v in os.environ.items() if k != "TRIPMAIL_BIN"}
        if args.max_per_second:
            self.env["TRIPMAIL_SMTP__MAX_PER_SECOND"] = str(args.max_per_second)
        if args.pipelining:
            self.env["TRIPMAIL_SMTP__PIPELINING"] = "true" if args.pipelining == "on" else "false"

    def bookings(self, n):
        """A file of n synthetic bookings, made once."""
        if n not in self.files:
            self.files[n] = self.tmp / f"bookings-{n}.csv"
            subprocess.run([BIN, "synth", "--catalog", str(ROOT / "fixtures/catalog.json"), "--bookings", str(n),
                            "--seed", "7", "--now", NOW, "--output", str(self.files[n])],
                           check=True, capture_output=True, timeout=300)
        return self.files[n]

    def run(self, bookings, conns, port, seconds):
        """One `tripmail run` (`--dry-run` without a port): its report, wall time and CPU seconds."""
        self.runs += 1
        report = self.tmp / f"report-{self.runs}.json"
        cmd = [BIN, "run", "--config", str(self.config), "--bookings", str(bookings), "--now", NOW, "--report", str(report)]
        cmd += ["--smtp", f"smtp://127.0.0.1:{port}", "--state", str(self.tmp / f"state-{self.runs}.sqlite")] \
            if port else ["--dry-run"]
        env = dict(self.env, TRIPMAIL_SMTP__MAX_CONNECTIONS=str(conns))
        timeout = 120 + 10 * seconds
        cpu = cpu_children()
        started = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=self.tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            sys.exit(f"tripmail run took over {timeout:.0f} s: stopped")
        finally:
            end(proc)  # still running only after a timeout or an interruption
        took = time.monotonic() - started
        if proc.returncode != 0 or not report.exists():
            sys.exit(f"tripmail run failed (exit {proc.returncode}):\n{err[-3000:]}")
        return json.loads(report.read_text()), took, cpu_children() - cpu

    def configuration(self, d, c):
        """Runs one (delay, connections) --runs times; prints each run and the median."""
        a = self.args
        if d == 0 and not a.max_per_second:
            n, seconds = a.loopback_bookings, 30
        else:
            rate = min(c / (8 * d / 1000) if d else math.inf, a.max_per_second or math.inf)
            emails = min(max(a.min_emails, rate * a.seconds), a.loopback_bookings * EMAILS_PER_BOOKING)
            n, seconds = math.ceil(emails / EMAILS_PER_BOOKING / 100) * 100, emails / rate
        file = self.bookings(n)
        rows = []
        for i in range(a.runs):
            p = Proxy(self.sink_port, d) if d or a.max_per_second else None
            try:
                sink_cpu = cpu_of(self.sink.pid)
                report, took, cpu = self.run(file, c, p.port if p else self.sink_port, seconds)
                sink_cpu = cpu_of(self.sink.pid) - sink_cpu
                stats, proxy_cpu = p.stop() if p else ({"window": None}, None)
            finally:
                if p:
                    end(p.proc)
            sent, window = report["sent"], stats["window"]
            if sent == 0:
                sys.exit(f"nothing sent at delay {d} ms, {c} connections")
            trouble = {k: v if isinstance(v, int) else len(v) for k, v in dict(report, resets=stats.get("resets")).items()
                       if k in ("deferred", "failed", "in_doubt", "retried", "not_attempted", "resets") and v}
            rows.append({"sent": sent, "took": took, "run": sent / took, "window": window,
                         "send": sent / window if window else None, "cpu": cpu / took,
                         "sink": sink_cpu / took, "proxy": proxy_cpu / took if p else None})
            print(line(d, c, rows[-1], a) + f"   run {i + 1}" + (f" {trouble}" if trouble else ""))
        median = {k: statistics.median(r[k] for r in rows) if rows[0][k] is not None else None for k in rows[0]}
        print(line(d, c, median, a) + "   median", flush=True)


def line(d, c, r, args):
    """One row of the table."""
    best = r["send"] or r["run"]
    limit = 1 / (4 * d / 1000) if d else None
    lim = f"{limit:>8.1f} {100 * best / c / limit:>3.0f}%" if limit else f"{'loopback':>8} {'':>4}"
    window = f"{r['window']:>6.2f} {r['send']:>8.1f}" if r["window"] else f"{'-':>6} {'-':>8}"
    cpu = " ".join(f"{100 * r[k]:>3.0f}%" if r[k] is not None else f"{'-':>4}" for k in ("cpu", "sink", "proxy"))
    vs = f" | {100 * (best - args.max_per_second) / args.max_per_second:+.1f}%" if args.max_per_second else ""
    return (f"{d:>5} {c:>5} | {r['sent']:>6.0f} {r['took']:>6.2f} {r['run']:>8.1f} | {window} | "
            f"{best / c:>6.1f} {lim} | {cpu}{vs}")


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--proxy":
        asyncio.run(proxy(int(sys.argv[2]), int(sys.argv[3]) / 1000))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--delays", default="0,10,20", help="one-way delays, ms (default 0,10,20)")
    ap.add_argument("--connections", default="1,4,16", help="smtp.max_connections (default 1,4,16)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10, help="a proxied run's length at the expected rate")
    ap.add_argument("--min-emails", type=int, default=500, help="a proxied run's emails at least")
    ap.add_argument("--loopback-bookings", type=int, default=20000, help="bookings of a delay-0 run")
    ap.add_argument("--pipelining", choices=["on", "off"], help="sets TRIPMAIL_SMTP__PIPELINING (unset by default)")
    ap.add_argument("--no-pipelining-server", action="store_true", help="smtp-sink -p: no PIPELINING offered")
    ap.add_argument("--max-per-second", type=int, help="sets TRIPMAIL_SMTP__MAX_PER_SECOND; every run proxied")
    args = ap.parse_args()
    delays = [int(d) for d in args.delays.split(",")]
    connections = [int(c) for c in args.connections.split(",")]
    for path, fix in ((BIN, "build it first: cargo build --release --locked"),
                      (SINK, "install Postfix (Debian and Ubuntu: apt-get install postfix)")):
        if not os.access(path, os.X_OK):
            print(f"no {path}: {fix}", file=sys.stderr)
            sys.exit(2)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the finally below stops smtp-sink
    begun = time.monotonic()
    print(f"machine: {machine()}")
    sink, sink_port = start_sink(not args.no_pipelining_server)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bench = Bench(args, pathlib.Path(tmp), sink, sink_port)
            env = " ".join(f"{k}={v}" for k, v in bench.env.items() if k.startswith("TRIPMAIL_SMTP__"))
            print(f"smtp-sink {'without PIPELINING (-p)' if args.no_pipelining_server else 'offering PIPELINING'}; "
                  f"ledger on; --now {NOW}; {args.runs} runs each; {env or 'no TRIPMAIL_SMTP__ settings'} "
                  f"but MAX_CONNECTIONS")
            for d in [d for d in delays if d or args.max_per_second]:
                p = Proxy(sink_port, d)
                try:
                    rtt = ehlo_round_trip(p.port)
                finally:
                    end(p.proc)
                print(f"proxy check: EHLO round trip through the {d} ms proxy {rtt:.1f} ms (intended {2 * d})")
            if 0 in delays:
                rates = []
                for _ in range(args.runs):
                    report, took, _ = bench.run(bench.bookings(args.loopback_bookings), 1, None, 30)
                    rates.append(report["rendered"] / took)
                print(f"files-only baseline (run --dry-run, {report['rendered']:,} emails made, none sent): "
                      f"{statistics.median(rates):,.0f} emails/s (run), median of {', '.join(f'{x:,.0f}' for x in rates)}")
            print(f"\n{'delay':>5} {'conns':>5} | {'emails':>6} {'run s':>6} {'emails/s':>8} | {'send s':>6} "
                  f"{'emails/s':>8} | {'/conn':>6} {'limit':>8} {'%':>4} | cpu: tripmail, sink, proxy"
                  + (" | vs max/s" if args.max_per_second else ""))
            for d in delays:
                for c in connections:
                    bench.configuration(d, c)
    finally:
        end(sink)
    print(f"took {time.monotonic() - begun:.0f} s")


if __name__ == "__main__":
    main()
