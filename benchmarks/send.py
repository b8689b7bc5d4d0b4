"""Benchmarks 2 and 3: end-to-end `digest send` against plain smtplib, and peak memory.

The sink is Postfix's C `smtp-sink` on a loopback port (install it with
`DEBIAN_FRONTEND=noninteractive apt-get install -y postfix`); without it the benchmark
falls back to the Python sink in sink.py and says so (`--require-sink` refuses instead).
For each size, in the same run, alternately:
  * baseline: plain smtplib (`sendmail`) over the same number of connections (one thread
    each), sending pre-built messages of the same edition and size, cycled;
  * `digest send` as a real subprocess (CLI, ledger, everything), wall-clock time.
Prints medians: the wall rate (start-up included), the send loop's own rate, the ratios
to smtplib, the peak RSS of `digest send`, and the rate at each size against the first.

    python benchmarks/send.py [--sizes 10000,100000] [--rounds 3] [--connections 1]

DIGEST_BENCH_TINY=1 runs 60 subscribers, one round (the test that keeps this working).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import smtplib
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from tempfile import TemporaryDirectory

from common import DAY, LIST, NOW, TINY, Sink, articles, make_database

from digest import issue, message, pipeline
from digest.config import load_settings
from digest.models import Subscriber
from digest.render import Renderer, Theme

HERE = Path(__file__).resolve().parent


def prebuilt(count: int) -> list[bytes]:
    news_list = replace(LIST, id=1)
    edition = issue.build_edition(articles(), news_list=news_list, day=DAY)
    compiled = message.compile_edition(
        Renderer(None, Theme(base_url="https://news.example.com")).render(edition)
    )
    with TemporaryDirectory() as tmp:
        settings = load_settings(env={}, overrides={"db": Path(tmp) / "x.db"}, cwd=Path(tmp))
    return [
        message.build_message(
            compiled,
            pipeline.envelope_for(
                Subscriber(email=f"reader{i}@example.org", name=f"Lecteur {i}", id=i),
                news_list,
                DAY,
                settings=settings,
                secret=b"k" * 32,
                now=NOW,
            ),
        )
        for i in range(1, count + 1)
    ]


def smtplib_baseline(port: int, messages: list[bytes], total: int, connections: int) -> float:
    """Seconds for plain smtplib to send `total` messages over `connections` connections."""
    counter = iter(range(total))
    lock = threading.Lock()

    def work() -> None:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                smtp.sendmail(
                    LIST.from_addr, [f"reader{i + 1}@example.org"], messages[i % len(messages)]
                )

    start = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def digest_send(
    db: Path, port: int, connections: int, cwd: Path
) -> tuple[float, dict, float, float]:
    """(wall seconds, report, peak RSS in MB, CPU seconds) of one real `digest send`.

    The CPU time (user + system of that process) is the steadier figure on a shared
    machine: the wall clock also counts the sink and everyone else waiting for a core.
    """
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DELETE FROM deliveries")
        conn.execute("DELETE FROM editions")
    conn.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["DIGEST_SMTP_URL"] = f"smtp://127.0.0.1:{port}?connections={connections}"
    env["DIGEST_BASE_URL"] = "https://news.example.com"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            str(HERE / "peak.py"),
            "--db",
            str(db),
            "--now",  # the edition's send time, whatever day the benchmark runs
            NOW.isoformat(),
            "send",
            "--list",
            "daily",
            "--date",
            DAY.isoformat(),
            "--json",
        ],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"digest send failed ({proc.returncode}): {proc.stderr[-2000:]}")
    peak_kb = int(proc.stderr.rsplit("PEAK_KB", 1)[1])
    return wall, json.loads(proc.stdout), peak_kb / 1024, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000", help="subscribers, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--require-sink", action="store_true", help="no fallback sink")
    parser.add_argument(
        "--baseline-max",
        type=int,
        default=100_000,
        help="messages in the smtplib loop at most (its rate does not depend on list size)",
    )
    args = parser.parse_args()
    sizes = [60] if TINY else [int(s) for s in args.sizes.split(",")]
    rounds = 1 if TINY else args.rounds

    messages = prebuilt(20 if TINY else 200)
    size_kb = statistics.mean(len(m) for m in messages) / 1024
    rows = []
    with Sink(require=args.require_sink) as sink, TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        print(
            f"sink: {sink.name}; {args.connections} connection(s); {size_kb:.0f} KB messages;"
            f" {rounds} round(s) per size"
        )
        for n in sizes:
            db = tmp_path / f"bench-{n}.db"
            make_database(db, n)
            base_times, walls, loops, peaks, cpus = [], [], [], [], []
            base_n = min(n, args.baseline_max)
            for _ in range(rounds):
                base_times.append(smtplib_baseline(sink.port, messages, base_n, args.connections))
                wall, report, peak, cpu = digest_send(db, sink.port, args.connections, tmp_path)
                assert report["sent"] == n and report["complete"], report
                walls.append(wall)
                loops.append(report["rate"])
                peaks.append(peak)
                cpus.append(cpu)
            db.unlink()
            base = base_n / statistics.median(base_times)
            wall_rate = n / statistics.median(walls)
            loop_rate = statistics.median(loops)
            rows.append((n, base, wall_rate, loop_rate, max(peaks)))
            print(
                f"{n:>9,}: smtplib {base:,.0f} msg/s; digest send {wall_rate:,.0f} msg/s wall"
                f" ({wall_rate / base:.2f}x), loop {loop_rate:,.0f} msg/s"
                f" ({loop_rate / base:.2f}x);"
                f" peak RSS {max(peaks):.0f} MB; {statistics.median(walls):.1f} s wall;"
                f" CPU {statistics.median(cpus) / n * 1e6:.0f} us/msg",
                flush=True,
            )
    first = rows[0]
    for n, base, _wall, loop_rate, _peak in rows[1:]:
        print(
            f"rate at {n:,} against {first[0]:,}: loop {loop_rate / first[3]:.2f}x,"
            f" smtplib {base / first[1]:.2f}x (target: within 15%)"
        )
    print("targets: loop >= 0.9x smtplib with one connection; peak RSS <= 150 MB, flat")


if __name__ == "__main__":
    main()
