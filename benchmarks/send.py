"""Benchmarks 2 and 3: end-to-end `digest send` against plain smtplib, and peak memory.

A minimal asyncio SMTP sink (sink.py) runs in its own process on a loopback port.
In the same run, alternately:
  * baseline: plain smtplib over the same number of connections (one thread each),
    sending pre-built messages of the same edition (2,000 distinct ones, cycled);
  * `digest send` as a real subprocess (CLI, ledger, everything), wall-clock time.
Prints medians and the ratio digest/smtplib (target >= 0.7), then the peak RSS of the
`digest send` process at each size (target <= 150 MB, no growth from 20k to 100k).

    python benchmarks/send.py [--subscribers 20000] [--big 100000] [--rounds 3] [--connections 1]
"""

from __future__ import annotations

import argparse
import json
import os
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

from common import DAY, LIST, NOW, articles, make_database

from digest import issue, message, pipeline
from digest.config import load_settings
from digest.models import Subscriber
from digest.render import Renderer, Theme
from digest.sink import free_port

HERE = Path(__file__).resolve().parent


def start_sink() -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "sink.py"), str(port)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc, port


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
            pipeline._envelope(
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


def digest_send(db: Path, port: int, connections: int, cwd: Path) -> tuple[float, dict, float]:
    """(wall seconds, report, peak RSS in MB) of one real `digest send` process."""
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DELETE FROM deliveries")
        conn.execute("DELETE FROM editions")
    conn.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["DIGEST_SMTP_URL"] = f"smtp://127.0.0.1:{port}?connections={connections}"
    env["DIGEST_BASE_URL"] = "https://news.example.com"
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            str(HERE / "peak.py"),
            "--db",
            str(db),
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
    if proc.returncode != 0:
        raise SystemExit(f"digest send failed ({proc.returncode}): {proc.stderr[-2000:]}")
    peak_kb = int(proc.stderr.rsplit("PEAK_KB", 1)[1])
    return wall, json.loads(proc.stdout), peak_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--big", type=int, default=100_000, help="0 skips the memory run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=1)
    args = parser.parse_args()

    sink, port = start_sink()
    try:
        with TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            db = tmp_path / "bench.db"
            make_database(db, args.subscribers)
            messages = prebuilt(2000)
            base_times, digest_times, rates, peaks = [], [], [], []
            for _ in range(args.rounds):
                base_times.append(
                    smtplib_baseline(port, messages, args.subscribers, args.connections)
                )
                wall, report, peak = digest_send(db, port, args.connections, tmp_path)
                assert report["sent"] == args.subscribers and report["complete"], report
                digest_times.append(wall)
                rates.append(report["rate"])
                peaks.append(peak)
            n = args.subscribers
            base = n / statistics.median(base_times)
            ours = n / statistics.median(digest_times)
            print(f"{n:,} messages, {args.connections} connection(s), {args.rounds} rounds")
            print(f"plain smtplib (pre-built):  {base:,.0f} msg/s (median)")
            print(
                f"digest send (wall, CLI):    {ours:,.0f} msg/s (median); "
                f"send loop alone {statistics.median(rates):,.0f} msg/s"
            )
            print(
                f"ratio digest/smtplib: {ours / base:.2f}  (target >= 0.7: "
                f"{'MET' if ours / base >= 0.7 else 'NOT MET'})"
            )
            print(f"peak RSS of digest send at {n:,}: {max(peaks):.0f} MB")
            if args.big:
                big_db = tmp_path / "big.db"
                make_database(big_db, args.big)
                wall, report, peak = digest_send(big_db, port, args.connections, tmp_path)
                assert report["sent"] == args.big and report["complete"], report
                print(
                    f"peak RSS of digest send at {args.big:,}: {peak:.0f} MB "
                    f"({args.big / wall:,.0f} msg/s wall)"
                )
                print(
                    f"growth {n:,} -> {args.big:,}: {peak - max(peaks):+.0f} MB "
                    f"(target <= 150 MB and no growth)"
                )
    finally:
        sink.terminate()
        out, _ = sink.communicate(timeout=10)
        print(f"sink received {out.strip()} messages in total")


if __name__ == "__main__":
    main()
