"""How long `digest subscribers import` takes for a big CSV (the issue says: seconds).

    python benchmarks/import_subscribers.py [ROWS] [RUNS]

DIGEST_BENCH_TINY=1 imports 200 rows once (the test that keeps this working).

Each run imports ROWS fresh rows into a new database file (one list, names with
accents, a few sections), then imports the same file again (the merge path).
Prints the median of RUNS runs and rows per second for both, wall clock and CPU time
of this process (the CPU figure is steadier on a shared machine).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from digest import pipeline
from digest.models import NewsList
from digest.store import Store

NOW = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)


def make_csv(rows: int) -> str:
    lines = ["email,name,lists,locale,timezone,sections"]
    for i in range(rows):
        lines.append(
            f"reader{i}@Example{i % 97}.com,Fatimé Haroun {i},daily,fr,Africa/Ndjamena,"
            + ("Sport;Tchad" if i % 3 == 0 else "")
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    if os.environ.get("DIGEST_BENCH_TINY") == "1":
        rows, runs = 200, 1
    data = make_csv(rows)
    first: list[tuple[float, float]] = []
    again: list[tuple[float, float]] = []
    for run in range(runs):
        with tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "bench.db") as store:
            store.add_list(NewsList(slug="daily", name="Daily"), now=NOW)
            for timings in (first, again):
                started, cpu = time.perf_counter(), time.process_time()
                report = pipeline.import_subscribers(store, data, name="bench.csv", now=NOW)
                timings.append((time.perf_counter() - started, time.process_time() - cpu))
                assert report.rejected == 0, report.problems[:3]
            assert store.count_subscribers() == rows
        print(
            f"run {run + 1}: first {first[-1][0]:.2f} s, again {again[-1][0]:.2f} s",
            file=sys.stderr,
        )
    for label, timings in (("first import", first), ("re-import", again)):
        wall = statistics.median(t[0] for t in timings)
        cpu = statistics.median(t[1] for t in timings)
        print(
            f"{label}: {rows} rows, median {wall:.2f} s wall ({rows / wall:,.0f} rows/s),"
            f" {cpu:.2f} s CPU ({rows / cpu:,.0f} rows/s)"
        )


if __name__ == "__main__":
    main()
