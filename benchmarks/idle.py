"""Idle cron rounds: `digest schedule --run-due` when the day's edition has gone out.

For each size: a database with N subscribers whose edition of DAY is fully in the
ledger (queued through the store, as `digest send` does, then marked sent), then, as
real subprocesses, alternately:
  * `digest schedule --run-due --now DAY+5min` (nothing due: everyone has it);
  * the same command on an empty database (start-up, the same code path, no rows).
Prints the medians and the difference (the round's own work; target < 0.2 s at 1M),
and the first round after one subscriber changed time zone (the roster moved: the
round re-checks that subscriber, from the roster log).

    python benchmarks/idle.py [--sizes 10000,100000] [--rounds 5]

DIGEST_BENCH_TINY=1 runs 50 subscribers, two rounds (the test that keeps this working).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from common import NOW, TINY, make_database, sent_ledger

AFTER = (NOW + timedelta(minutes=5)).isoformat()


def run_due(db: Path, cwd: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["DIGEST_SMTP_URL"] = "smtp://127.0.0.1:9"  # never used: nothing is due
    env["DIGEST_BASE_URL"] = "https://news.example.com"
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "digest", "--db", str(db), "schedule", "--run-due", "--now", AFTER],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"run-due failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000", help="subscribers, comma-separated")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sizes = [50] if TINY else [int(s) for s in args.sizes.split(",")]
    rounds = 2 if TINY else args.rounds
    with TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        empty = tmp_path / "empty.db"
        make_database(empty, 0)
        sent_ledger(empty)
        for n in sizes:
            db = tmp_path / f"idle-{n}.db"
            make_database(db, n)
            sent_ledger(db)
            run_due(db, tmp_path)  # the round after the send (caches its answer)
            base, ours = [], []
            for _ in range(rounds):
                base.append(run_due(empty, tmp_path))
                ours.append(run_due(db, tmp_path))
            conn = sqlite3.connect(db)
            with conn:
                conn.execute("UPDATE subscribers SET timezone = 'UTC' WHERE id = 1")
            conn.close()
            after_change = run_due(db, tmp_path)
            db.unlink()
            b, o = statistics.median(base), statistics.median(ours)
            print(
                f"{n:>9,} subscribers: run-due {o:.3f} s, empty database {b:.3f} s,"
                f" work beyond start-up {o - b:+.3f} s (median of {rounds});"
                f" first round after a roster change {after_change:.3f} s",
                flush=True,
            )
    print("target: < 0.2 s beyond start-up at 1M")


if __name__ == "__main__":
    main()
