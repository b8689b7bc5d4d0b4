"""`digest subscribers count --list X --json`: the maintained tallies against the join
they replace, per list size, in the same run.

    python benchmarks/count.py [--sizes 10000,100000,1000000] [--runs 5]

For each size a database is built in bulk (`common.make_database`); then, in this
process, the median time of `Store.count_by_status(list)` (which reads `list_tallies`,
migration 0021) and of the join it replaced (every member joined to its subscriber),
and the ratio between them; and the median wall time of the real command in a fresh
process (start-up included).

DIGEST_BENCH_TINY=1 runs 50 subscribers, one run (the test that keeps this working).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from tempfile import TemporaryDirectory

from common import TINY, make_database

from digest.store import Store

JOIN = (
    "SELECT count(*), coalesce(sum(s.status = 'active' AND x.status = 'active'), 0),"
    " coalesce(sum(s.status = 'unsubscribed' OR x.status = 'unsubscribed'), 0),"
    " coalesce(sum(s.status = 'bounced'), 0), coalesce(sum(s.status = 'complained'), 0)"
    " FROM subscriptions x JOIN subscribers s ON s.id = x.subscriber_id WHERE x.list_id = ?"
)


def median_seconds(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sizes = [50] if TINY else [int(s) for s in args.sizes.split(",")]
    runs = 1 if TINY else args.runs
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    print(f"count --list --json, medians of {runs} runs")
    with TemporaryDirectory() as tmp:
        for n in sizes:
            db = Path(tmp) / f"count-{n}.db"
            make_database(db, n)
            with Store.open(db) as store:
                list_id = store.get_list("daily").id
                tallied = store.count_by_status("daily")
                joined = store.db.conn.execute(JOIN, [list_id]).fetchone()
                assert tuple(tallied.values()) == tuple(joined), (tallied, joined)
                fast = median_seconds(lambda: store.count_by_status("daily"), runs)
                slow = median_seconds(partial(store.db.conn.execute, JOIN, [list_id]), runs)
            argv = [sys.executable, "-m", "digest", "--db", str(db), "subscribers", "count"]
            argv += ["--list", "daily", "--json"]
            command = median_seconds(
                partial(subprocess.run, argv, env=env, check=True, capture_output=True), runs
            )
            print(
                f"{n:>9,}: tallies {fast * 1000:8.3f} ms, the join {slow * 1000:8.1f} ms"
                f" ({fast / slow:.4f}x); the command {command * 1000:6.0f} ms wall"
                " (start-up included)",
                flush=True,
            )
            db.unlink()


if __name__ == "__main__":
    main()
