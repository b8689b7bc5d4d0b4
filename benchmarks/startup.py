"""How long `digest` takes to start: `--help`, and `digest send` when there is nothing to send.

    python benchmarks/startup.py [--runs 15] [--tiny]

Each command runs in a fresh interpreter, RUNS times after one warm-up; prints medians,
the floor (`python -c pass`) and each command's ratio to that floor in the same run.
Bytecode is written to a private cache first (PYTHONPYCACHEPREFIX), as a pip install
does, because these machines set PYTHONDONTWRITEBYTECODE=1, which makes every start
compile all of digest's sources (about 0.1 s more); `--no-bytecode` measures that case.

"digest send (nothing due)" is the start-up part of a send: the command runs through
the CLI, the settings, the store and the edition query, and stops at "no articles in
this edition" before anything is rendered or sent. Target: under 0.3 s, judged on CPU
time (user + system), since wall-clock time on a shared 2-core machine mostly measures
the other tenants. "digest send --dry-run (1 msg)" adds what a real send does before its
first message: importing premailer, rendering a 30-article edition, building a message.
`--imports` also prints the slowest imports of `digest send` (`python -X importtime`).
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

from common import make_database

TARGET_S = 0.3


NOTHING_DUE = "digest send (nothing due)"  # an edition with no articles: exit 1, by design


def run_once(argv: list[str], env: dict[str, str], *, exit_code: int = 0) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system) of one run of `argv`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode != exit_code:
        raise SystemExit(f"{argv}: exit {done.returncode}, not {exit_code}\n{done.stderr!r}")
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def slowest_imports(argv: list[str], env: dict[str, str], count: int = 12) -> list[str]:
    """The costliest libraries `argv` imports: each one where digest's own code imports it."""
    done = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]], env=env, capture_output=True, text=True
    )
    lines = [
        line.removeprefix("import time:").split("|")
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "imported package" not in line
    ]
    rows: list[tuple[int, str]] = []
    parents: list[tuple[int, str]] = []  # importtime prints children first: walk it backwards
    for _, cumulative, field in reversed(lines):
        depth, name = len(field) - len(field.lstrip()), field.strip()
        while parents and parents[-1][0] >= depth:
            parents.pop()
        parent = parents[-1][1] if parents else "digest"
        if not name.startswith("digest") and parent.startswith("digest"):
            rows.append((int(cumulative), f"{name} (from {parent})"))
        parents.append((depth, name))
    rows.sort(reverse=True)
    return [f"{us / 1000:7.1f} ms  {name}" for us, name in rows[:count]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--tiny", action="store_true", help="one run, no warm-up: checks it still works"
    )
    parser.add_argument("--no-bytecode", action="store_true", help="keep PYTHONDONTWRITEBYTECODE")
    parser.add_argument("--imports", action="store_true", help="print the slowest imports too")
    args = parser.parse_args()
    tiny = args.tiny or os.environ.get("DIGEST_BENCH_TINY") == "1"
    runs = 1 if tiny else args.runs

    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
        env["DIGEST_DB"] = str(Path(tmp) / "bench.db")
        env["DIGEST_OUTBOX"] = str(Path(tmp) / "outbox")
        env["DIGEST_BASE_URL"] = "https://news.example.com"  # a real send refuses the default
        if not args.no_bytecode:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        digest = [sys.executable, "-m", "digest"]
        subprocess.run([*digest, "init"], env=env, check=True, capture_output=True)
        subprocess.run(
            [*digest, "lists", "add", "daily", "--name", "Daily"],
            env=env,
            check=True,
            capture_output=True,
        )
        make_database(Path(tmp) / "full.db", 1)  # 30 articles, one subscriber
        commands = {
            "python -c pass (floor)": [sys.executable, "-c", "pass"],
            "digest --help": [*digest, "--help"],
            "digest send --help": [*digest, "send", "--help"],
            NOTHING_DUE: [
                *digest,
                "send",
                "--list",
                "daily",
                "--date",
                "2026-11-27",
            ],
            "digest send --dry-run (1 msg)": [
                *digest,
                "--db",
                str(Path(tmp) / "full.db"),
                "send",
                "--list",
                "daily",
                "--date",
                "2026-11-27",
                "--dry-run",
            ],
        }
        codes = {NOTHING_DUE: 1}
        # Warm-up: writes the bytecode cache, fills the page cache.
        for name, argv in [] if tiny else commands.items():
            run_once(argv, env, exit_code=codes.get(name, 0))
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(runs):  # interleaved, so a busy moment hits every command alike
            for name, argv in commands.items():
                times[name].append(run_once(argv, env, exit_code=codes.get(name, 0)))
        wall = {name: statistics.median(t[0] for t in values) for name, values in times.items()}
        cpu = {name: statistics.median(t[1] for t in values) for name, values in times.items()}
        floor = wall["python -c pass (floor)"]
        mode = "no bytecode cache" if args.no_bytecode else "bytecode cached"
        print(f"start-up, {runs} runs each, medians ({mode}; CPU is steadier on a busy machine):")
        for name in commands:
            verdict = ""
            if not name.startswith("python") and "dry-run" not in name:
                verdict = "  ok" if cpu[name] < TARGET_S else f"  OVER the {TARGET_S} s target"
            print(
                f"  {name:<28} {wall[name] * 1000:7.1f} ms wall {cpu[name] * 1000:7.1f} ms CPU"
                f"  {wall[name] / floor:5.1f}x floor{verdict}"
            )
        if args.imports:
            print("slowest top-level imports of `digest send` (cumulative, one run):")
            for row in slowest_imports(commands[NOTHING_DUE], env):
                print("  " + row)


if __name__ == "__main__":
    main()
