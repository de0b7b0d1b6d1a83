#!/usr/bin/env python3
"""Several runners on one PostgreSQL ledger: emails/s with 1, 2 and 3 runners, and the transactions
per second PostgreSQL served (claims and records), against an SMTP sink that waits DELAY ms before
answering each message's data (a real relay's latency).

Run through .ci/postgres, which starts a throwaway PostgreSQL cluster on 127.0.0.1 and gives its
URL in TEST_POSTGRES_URL (nothing is left running after):

    cargo build --release --locked
    .ci/postgres run .ci/venv/bin/python3 benches/runners.py [--delay-ms 50] [--bookings 20000]

Not a test: nothing here asserts a time. The sink is aiosmtpd (in .ci/requirements.txt).
"""
import argparse
import asyncio
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import threading
import time

from aiosmtpd.controller import Controller

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = os.environ.get("TRIPMAIL_BIN", str(ROOT / "target/release/tripmail"))
NOW = "2026-12-10T09:00:00Z"


class Sink:
    """Counts messages, answering each after `delay` seconds (asyncio: connections wait in parallel)."""

    def __init__(self, delay):
        self.delay = delay
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        with self.lock:
            self.count += 1
        return "250 OK"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(url, sql):
    out = subprocess.run(["psql", "-XAtq", url, "-c", sql], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def database(admin, name):
    psql(admin, f"DROP DATABASE IF EXISTS {name}")
    psql(admin, f"CREATE DATABASE {name}")
    base, _, _ = admin.rpartition("/")
    return f"{base}/{name}"


def config(dir, url, connections):
    text = (ROOT / "fixtures/campaign.toml").read_text()
    text = text.replace('path = "state/tripmail.sqlite"', f'path = "{dir}/state.sqlite"\nurl = "{url}"')
    text = text.replace("max_connections = 4", f"max_connections = {connections}")
    text = text.replace('"fixtures/', f'"{ROOT}/fixtures/').replace('dir = "templates"', f'dir = "{ROOT}/templates"')
    path = pathlib.Path(dir) / "campaign.toml"
    path.write_text(text)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--delay-ms", type=int, default=50)
    ap.add_argument("--bookings", type=int, default=20000)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--runners", default="1,2,3")
    args = ap.parse_args()
    admin = os.environ.get("TEST_POSTGRES_URL")
    if not admin:
        sys.exit("run through .ci/postgres (it sets TEST_POSTGRES_URL)")
    sink = Sink(args.delay_ms / 1000)
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    with tempfile.TemporaryDirectory() as tmp:
        bookings = pathlib.Path(tmp) / "bookings.csv"
        subprocess.run([BIN, "synth", "--catalog", str(ROOT / "fixtures/catalog.json"), "--bookings",
                        str(args.bookings), "--seed", "7", "--now", NOW, "--output", str(bookings)], check=True)
        print(f"{args.bookings} bookings, SMTP sink answering each message after {args.delay_ms} ms, "
              f"{args.connections} connections per runner; {os.cpu_count()} cores")
        print("runners | emails | seconds | emails/s | per runner | PostgreSQL transactions/s")
        for n in [int(r) for r in args.runners.split(",")]:
            url = database(admin, f"bench_runners_{n}")
            cfg = config(tmp, url, args.connections)
            # The schema, made before the clock starts.
            subprocess.run([BIN, "ledger", "--config", str(cfg)], check=True, capture_output=True)
            before_sink = sink.count
            xacts = int(psql(url, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"))
            started = time.monotonic()
            procs = [subprocess.Popen([BIN, "run", "--config", str(cfg), "--bookings", str(bookings), "--now", NOW,
                                       "--smtp", f"smtp://127.0.0.1:{port}"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(n)]
            codes = [p.wait() for p in procs]
            took = time.monotonic() - started
            time.sleep(0.6)  # the statistics collector's report
            after = int(psql(url, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"))
            sent = sink.count - before_sink
            rows = int(psql(url, "SELECT count(*) FROM tripmail_sends WHERE state = 'sent'"))
            print(f"{n:>7} | {sent:>6} | {took:>7.1f} | {sent / took:>8.0f} | {sent / took / n:>10.0f} | "
                  f"{(after - xacts) / took:>8.0f}   (exit {codes}, ledger sent {rows})")
    controller.stop()


if __name__ == "__main__":
    main()
