"""`digest subscribers import` of a big CSV: median rows/s and peak RSS, per file size.

    python benchmarks/import_subscribers.py [ROWS ...] [--runs N]
    python benchmarks/import_subscribers.py 10000 100000 1000000 --runs 3

Each run writes ROWS rows (names with accents, a few sections) to a file, creates a
new database with one list, and runs the real command in a fresh process
(`benchmarks/peak.py`, which reports the process's own peak RSS, VmHWM). Then it imports
the same file again (the merge path: nothing changes). Prints, per size, the median wall
time and rows/s of both imports, with and without the start-up of an idle `digest`
measured in the same run, and the highest peak RSS seen. Default sizes: 10k and 100k
(1M takes a few minutes and ~100 MB of disk: ask for it).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEAK = [sys.executable, str(HERE / "peak.py")]


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("email,name,lists,locale,timezone,sections\n")
        for i in range(rows):
            out.write(
                f"reader{i}@Example{i % 97}.com,Fatimé Haroun {i},daily,fr,Africa/Ndjamena,"
                + ("Sport;Tchad" if i % 3 == 0 else "")
                + "\n"
            )


def digest(db: Path, *args: str) -> tuple[float, int, str, float]:
    """Run `digest --db DB ARGS` in a new process:
    (wall seconds, peak RSS KB, stderr, CPU seconds of that process)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [*PEAK, "--db", str(db), *args], capture_output=True, text=True, env=env, check=False
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"digest {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    peak = int(done.stderr.rsplit("PEAK_KB", 1)[1].split()[0])
    return wall, peak, done.stderr, cpu


def bench(rows: int, runs: int, folder: Path) -> dict[str, float]:
    csv_path = folder / f"people-{rows}.csv"
    write_csv(csv_path, rows)
    first: list[tuple[float, float]] = []  # (wall, CPU)
    again: list[tuple[float, float]] = []
    idle: list[tuple[float, float]] = []
    peaks: list[int] = []
    for run in range(runs):
        db = folder / f"bench-{rows}-{run}.db"
        wall, _, _, cpu = digest(db, "init")  # start-up, migrations and a tiny write
        idle.append((wall, cpu))
        digest(db, "lists", "add", "daily", "--name", "Daily", "--from-addr", "n@example.com")
        for timings in (first, again):
            wall, peak, stderr, cpu = digest(db, "subscribers", "import", str(csv_path))
            assert "rejected 0" in stderr, stderr[-500:]
            timings.append((wall, cpu))
            peaks.append(peak)
        count = subprocess.run(
            [*PEAK, "--db", str(db), "subscribers", "count"], capture_output=True, text=True
        ).stdout.strip()
        assert count == str(rows), count
        print(
            f"  {rows} rows, run {run + 1}: first {first[-1][0]:.2f} s ({first[-1][1]:.2f} s CPU),"
            f" again {again[-1][0]:.2f} s, peak {max(peaks[-2:]) / 1024:.0f} MB",
            file=sys.stderr,
        )
        for suffix in ("", "-wal", "-shm", ".secret"):
            Path(str(db) + suffix).unlink(missing_ok=True)
    csv_path.unlink()
    startup = statistics.median(t[0] for t in idle)
    startup_cpu = statistics.median(t[1] for t in idle)
    result: dict[str, float] = {"rows": rows, "startup": startup, "peak_mb": max(peaks) / 1024}
    for label, timings in (("first", first), ("again", again)):
        wall = statistics.median(t[0] for t in timings)
        cpu = statistics.median(t[1] for t in timings)
        result[label] = wall
        result[label + "_rate"] = rows / wall
        result[label + "_cpu_rate"] = rows / max(cpu - startup_cpu, 1e-6)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if os.environ.get("DIGEST_BENCH_TINY") == "1":  # tests/test_benchmarks.py
        args.sizes, args.runs = [200], 1
    with tempfile.TemporaryDirectory() as tmp:
        results = [bench(rows, args.runs, Path(tmp)) for rows in args.sizes]
    print(
        f"median of {args.runs} runs. rows/s: wall clock of the whole command; 'CPU': rows per"
        " CPU-second of the process beyond an idle `digest init` (steadier on a shared machine)"
    )
    print("rows         first import: wall  rows/s   CPU rows/s    re-import: wall  rows/s"
          "   CPU rows/s   peak RSS")  # fmt: skip
    for r in results:
        print(
            f"{r['rows']:<12,.0f} {r['first']:14.2f} s {r['first_rate']:>8,.0f} "
            f"{r['first_cpu_rate']:>11,.0f} {r['again']:16.2f} s {r['again_rate']:>8,.0f}"
            f" {r['again_cpu_rate']:>11,.0f} {r['peak_mb']:8.0f} MB"
        )
    if len(results) > 1:
        small, big = results[0], results[-1]
        print(
            f"same-run ratios, {big['rows']:,.0f} vs {small['rows']:,.0f} rows: CPU rate"
            f" {big['first_cpu_rate'] / small['first_cpu_rate']:.2f}x,"
            f" peak RSS {big['peak_mb'] / small['peak_mb']:.2f}x"
        )


if __name__ == "__main__":
    main()
