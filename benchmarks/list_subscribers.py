"""`digest subscribers list | export | count` on a big list: time to the first row, total
time and peak RSS, per list size.

    python benchmarks/list_subscribers.py [SUBSCRIBERS ...] [--runs N] [--timeout S]
    python benchmarks/list_subscribers.py 10000 100000 1000000
    python benchmarks/list_subscribers.py 100000 --only "export --json" --baseline /tmp/main

With --baseline (a checkout of another version, e.g. `git worktree add /tmp/main main`),
each command also runs that version's code (PYTHONPATH=BASELINE/src), its runs
interleaved with ours on the same database, and a last column gives our median total
over the baseline's: a same-run ratio.

Each size gets a database built in bulk (`common.make_database`), then each command runs
in a fresh process (`benchmarks/peak.py` reports its peak RSS, VmHWM) with its output
read as it comes: "first row" is the moment the first subscriber's line arrives (for
`count`, the answer), counted from the start of the process, so it includes start-up.
Prints medians of N runs. A command that takes longer than --timeout seconds is stopped
and shown as "> S".
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import make_database

HERE = Path(__file__).resolve().parent
PEAK = [sys.executable, str(HERE / "peak.py")]
COMMANDS = {
    "start-up (--version)": ["--version"],
    "list": ["subscribers", "list"],
    "list --json": ["subscribers", "list", "--json"],
    "export": ["subscribers", "export"],
    "export --json": ["subscribers", "export", "--json"],
    "count": ["subscribers", "count"],
    "count --list --json": ["subscribers", "count", "--list", "daily", "--json"],
}


def is_row(line: str, name: str) -> bool:
    """The line that shows the first subscriber (or the count)."""
    if name.startswith(("count", "start-up")):
        return any(ch.isdigit() for ch in line)
    return "reader" in line  # every benchmark address is readerN@example.org


def run(
    db: Path, name: str, args: list[str], timeout: float, baseline: str = ""
) -> tuple[float, float, float, int]:
    """(seconds to the first row, total seconds, peak RSS MB, characters of output)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["COLUMNS"] = "200"
    if baseline:
        env["PYTHONPATH"] = str(Path(baseline) / "src")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*PEAK, "--db", str(db), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
        bufsize=1,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = float("nan")
    lines = 0
    for line in proc.stdout:
        lines += len(line)
        if first != first and is_row(line, name):  # NaN: not seen yet
            first = time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            proc.kill()
            proc.wait()
            return first, float("inf"), float("nan"), lines
    stderr = proc.stderr.read()
    proc.wait()
    total = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"digest {' '.join(args)} failed:\n{stderr[-2000:]}")
    peak = int(stderr.rsplit("PEAK_KB", 1)[1].split()[0]) / 1024
    return first, total, peak, lines


def add_consent(db: Path) -> None:
    """A consent record on every subscription, as an import of an export leaves them."""
    import sqlite3

    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "INSERT INTO imported_consents (subscriber_id, list_id, signed_up_at, form,"
            " form_version, confirmed_at, ip, source, imported_at) SELECT subscriber_id,"
            " list_id, '2026-11-20T07:00:00+00:00', '/subscribe/daily (form)', 'a1b2c3d4e5f6',"
            " '2026-11-20T07:05:00+00:00', '203.0.113.0/24', 'signup',"
            " '2026-11-27T07:00:00+00:00' FROM subscriptions"
        )
    conn.close()


def fmt(seconds: float, timeout: float) -> str:
    if seconds == float("inf"):
        return f"> {timeout:.0f} s"
    if seconds != seconds:
        return "–"
    return f"{seconds:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--only", action="append", help="run only these commands (repeat)")
    parser.add_argument("--baseline", default="", help="also run this checkout's code, for ratios")
    parser.add_argument(
        "--with-consent",
        action="store_true",
        help="give every subscription a consent record (as an imported export's)",
    )
    args = parser.parse_args()
    if os.environ.get("DIGEST_BENCH_TINY") == "1":  # tests/test_benchmarks.py
        args.sizes, args.runs = [200], 1
    names = ["start-up (--version)", *(args.only or [n for n in COMMANDS if "start-up" not in n])]
    print(
        f"median of {args.runs} runs; first row and total include start-up; 'beyond' is the"
        " first row less the start-up (`--version`, same run)"
    )
    print(
        f"{'subscribers':>11}  {'command':<20} {'first row':>10} {'beyond':>8}"
        f" {'total':>10} {'peak RSS':>9} {'output':>9}"
        + ("  version   total/baseline" if args.baseline else "")
    )
    versions = ["ours", "baseline"] if args.baseline else ["ours"]
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            db = Path(tmp) / f"list-{size}.db"
            make_database(db, size)
            subprocess.run([*PEAK, "--db", str(db), "init"], capture_output=True, check=True)
            if args.with_consent:
                add_consent(db)
            startup = float("nan")
            for name in names:
                results: dict[str, list[tuple[float, float, float, int]]] = {
                    v: [] for v in versions
                }
                for _ in range(args.runs):  # interleaved: both see the same machine
                    for version in versions:
                        base = args.baseline if version == "baseline" else ""
                        results[version].append(run(db, name, COMMANDS[name], args.timeout, base))
                ours_total = statistics.median(r[1] for r in results["ours"])
                for version in versions:
                    rows = results[version]
                    first = statistics.median(r[0] for r in rows)
                    if name.startswith("start-up") and version == "ours":
                        startup = first
                    total = statistics.median(r[1] for r in rows)
                    peaks = [r[2] for r in rows if r[2] == r[2]]
                    peak = f"{max(peaks):6.0f} MB" if peaks else "–"
                    out = f"{rows[0][3] / 1e6:6.1f} MB"
                    beyond = fmt(first - startup, args.timeout) if startup == startup else "–"
                    ratio = ""
                    if args.baseline:
                        ratio = f"  {version:<8}"
                        if version == "baseline" and total not in (0, float("inf")):
                            ratio += f"  x{ours_total / total:.2f}"
                    print(
                        f"{size:>11,}  {name:<20} {fmt(first, args.timeout):>10} {beyond:>8}"
                        f" {fmt(total, args.timeout):>10} {peak:>9} {out:>9}{ratio}",
                        flush=True,
                    )
            for suffix in ("", "-wal", "-shm", ".secret"):
                Path(str(db) + suffix).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
