"""The subscriber benchmarks still run (issue 12: benchmarks must not rot), at a tiny size."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _bench(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args],
        cwd=BENCHMARKS,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_import_benchmark_prints_rates_and_peak_memory() -> None:
    out = _bench("import_subscribers.py", "300", "--runs", "1")
    [row] = [line for line in out.splitlines() if line.startswith("300 ")]
    assert row.endswith(" MB") and "CPU rows/s" in out


def test_listing_benchmark_prints_first_row_total_and_memory() -> None:
    out = _bench("list_subscribers.py", "300", "--runs", "1", "--only", "export", "--only", "list")
    rows = [line for line in out.splitlines() if line.strip().startswith("300 ")]
    assert len(rows) == 3 and all(line.endswith(" MB") for line in rows), out  # + start-up
