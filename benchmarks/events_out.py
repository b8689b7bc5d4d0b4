"""Events out: what the outbox costs the changes that write it, and how fast it drains.

Three figures, each with a same-run baseline:
  * an import of N subscribers (one `subscribe` event each) with DIGEST_WEBHOOK_URL set,
    against the same import with it unset (no rows written): the events' cost;
  * `send_events` with nothing pending (what each scheduler round and cron run pays),
    over an outbox holding N delivered events, against the same call with no URL;
  * draining N pending events to a loopback HTTP receiver (http.server, threads,
    answering 204), against a plain urllib loop posting the same bodies to it.

    python benchmarks/events_out.py [--sizes 1000,10000] [--rounds 5]

DIGEST_BENCH_TINY=1 runs 50 events, two rounds (the test that keeps this working).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import urllib.request
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from tempfile import TemporaryDirectory

from common import NOW, TINY

from digest import notifier, pipeline
from digest.clock import Clock
from digest.config import load_settings
from digest.models import NewsList
from digest.sink import free_port
from digest.store import Store


class Quiet(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def csv_of(n: int) -> str:
    return "email,lists\n" + "".join(f"reader{i}@example.org,daily\n" for i in range(n))


def import_time(db: Path, n: int, *, events: bool) -> float:
    Store.open(db).close()
    with Store.open(db, events=events) as store:
        store.add_list(NewsList(slug="daily", name="Daily"), now=NOW)
        start = time.perf_counter()
        pipeline.import_subscribers(store, csv_of(n), name="people.csv", now=NOW)
        took = time.perf_counter() - start
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000", help="events, comma-separated")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sizes = [50] if TINY else [int(s) for s in args.sizes.split(",")]
    rounds = 2 if TINY else args.rounds
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{port}/hook"
    clock = Clock.frozen(NOW)
    try:
        with TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            for n in sizes:
                import_time(tmp_path / "a.db", n, events=True)  # warm: imports, caches
                off, on = [], []
                for _ in range(rounds):  # alternated, so a slow moment hits both alike
                    off.append(import_time(tmp_path / "a.db", n, events=False))
                    on.append(import_time(tmp_path / "a.db", n, events=True))
                o, e = statistics.median(off), statistics.median(on)
                print(
                    f"import {n} subscribers: {o:.3f} s without events, {e:.3f} s with"
                    f" ({e / o:.2f}x; {(e - o) / n * 1e6:.0f} us per event)"
                )

                db = tmp_path / f"hooks-{n}.db"
                settings = load_settings(
                    env={},
                    overrides={"db": db, "webhook_url": url, "webhook_secret": "whsec_bench"},
                    cwd=tmp_path,
                )
                pipeline.init_project(settings)
                with Store.open(db, events=True) as store:
                    store.add_list(NewsList(slug="daily", name="Daily"), now=NOW)
                    pipeline.import_subscribers(store, csv_of(n), name="p.csv", now=NOW)
                    bodies = [e.body.encode() for e in store.webhook_events(limit=n)]
                    start = time.perf_counter()
                    report = notifier.send_events(store, settings, clock=clock)
                    drain = time.perf_counter() - start
                    assert report.delivered == n, report
                    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                    start = time.perf_counter()
                    for body in bodies:  # the baseline: the same posts, no store, no signing
                        request = urllib.request.Request(
                            url,
                            data=body,
                            method="POST",
                            headers={"Content-Type": "application/json"},
                        )
                        with direct.open(request, timeout=10) as answer:
                            answer.read()
                    plain = time.perf_counter() - start
                    print(
                        f"drain {n} events: {n / drain:.0f} events/s; plain urllib loop"
                        f" {n / plain:.0f} posts/s ({drain / plain:.2f}x the time)"
                    )
                    calls = 200 if not TINY else 20
                    unset = replace(settings, webhook_url="")
                    idle, none = [], []
                    for _ in range(rounds):
                        start = time.perf_counter()
                        for _ in range(calls):
                            notifier.send_events(store, settings, clock=clock)
                        idle.append((time.perf_counter() - start) / calls)
                        start = time.perf_counter()
                        for _ in range(calls):
                            notifier.send_events(store, unset, clock=clock)
                        none.append((time.perf_counter() - start) / calls)
                    i, u = statistics.median(idle), statistics.median(none)
                    print(
                        f"send_events, nothing pending, {n} delivered kept: {i * 1e6:.0f} us"
                        f" a call (no URL: {u * 1e6:.1f} us)"
                    )
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
