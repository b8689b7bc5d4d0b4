"""Benchmarks cannot rot: every benchmark under benchmarks/ runs here at a tiny size.

The convention, for every new benchmark:

* Any `benchmarks/*.py` that is not in HELPERS below is a benchmark, and this test runs it
  as `python benchmarks/NAME.py` (no arguments, working directory `benchmarks/`) with the
  environment variable `DIGEST_BENCH_TINY=1`.
* Under `DIGEST_BENCH_TINY=1` a benchmark shrinks itself to a size that runs in a few
  seconds (`common.TINY` says whether it is set), still goes through every code path it
  measures, and exits 0. It prints its figures as usual; nobody reads them here.
* A helper module that is not a benchmark (shared set-up, a sink, a wrapper) goes into
  HELPERS, so that it is not run.
* A benchmark that needs a tool we did not write (Postfix's `smtp-sink`) falls back or
  refuses with a clear message; under DIGEST_REQUIRE_TOOLS=1 (CI) it refuses, so this
  test fails rather than passing on the fallback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
HELPERS = {"common.py", "peak.py", "sink.py"}
FOUND = sorted(p.name for p in BENCHMARKS.glob("*.py") if p.name not in HELPERS)


def test_the_benchmarks_are_found() -> None:
    assert {"build_rate.py", "send.py"} <= set(FOUND)


@pytest.mark.parametrize("name", FOUND)
def test_each_benchmark_runs_at_a_tiny_size(name: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["DIGEST_BENCH_TINY"] = "1"
    if os.environ.get("DIGEST_REQUIRE_TOOLS") == "1":
        env["DIGEST_REQUIRE_TOOLS"] = "1"
    proc = subprocess.run(
        [sys.executable, name],
        cwd=BENCHMARKS,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert proc.stdout.strip(), f"{name} printed no figures"
