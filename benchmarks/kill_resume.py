"""Crash safety at size: SIGKILL a real `digest send` again and again, then resume.

N subscribers, `?connections=C`, the Python sink (sink.py) logging "recipient Message-ID"
for every message it accepts (flushed before its 250). K times: start `digest send`,
let it run a random 0.3-1.5 s, SIGKILL it, and count the copies the sink has for rows
the ledger does not call final: each will go out again. Then one run to the end.
Checks: no subscriber missing, none with two Message-IDs, each the ledger's; prints the
duplicate copies per kill (target: at most C) and in all.

    python benchmarks/kill_resume.py [--subscribers 20000] [--kills 20] [--connections 4]

DIGEST_BENCH_TINY=1 runs 1,500 subscribers and 2 kills.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from tempfile import TemporaryDirectory

from common import DAY, HERE, NOW, TINY, make_database

from digest.sink import free_port


def received(log: Path) -> list[tuple[str, str]]:
    lines = log.read_bytes().decode().splitlines()
    return [tuple(line.split(" ", 1)) for line in lines if " " in line]  # type: ignore[misc]


def ledger(db: Path) -> dict[str, tuple[str, str]]:
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT s.email, d.status, d.message_id FROM deliveries d"
        " JOIN subscribers s ON s.id = d.subscriber_id"
    ).fetchall()
    conn.close()
    return {email: (status, mid) for email, status, mid in rows}


def start(db: Path, port: int, connections: int, cwd: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["DIGEST_SMTP_URL"] = f"smtp://127.0.0.1:{port}?connections={connections}"
    env["DIGEST_BASE_URL"] = "https://news.example.com"
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "digest",
            "--db",
            str(db),
            "--now",  # the edition's send time, whatever day the benchmark runs
            NOW.isoformat(),
            "send",
            "--list",
            "daily",
            "--date",
            DAY.isoformat(),
        ],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    n, kills = (1500, 2) if TINY else (args.subscribers, args.kills)
    rng = random.Random(args.seed)
    with TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        db, log = tmp_path / "kill.db", tmp_path / "sink.log"
        make_database(db, n)
        port = free_port()
        sink = subprocess.Popen(
            [sys.executable, str(HERE / "sink.py"), str(port), str(log)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
        at_risk_before: set[str] = set()
        per_kill: list[int] = []
        try:
            for _ in range(kills):
                proc = start(db, port, args.connections, tmp_path)
                seen = len(received(log)) if log.exists() else 0
                deadline = time.monotonic() + 60
                while (len(received(log)) if log.exists() else 0) < seen + 20:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
                time.sleep(rng.uniform(0.3, 1.5))
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                time.sleep(0.2)  # the sink logs what was in flight
                rows = ledger(db)
                copies = {rcpt for rcpt, _ in received(log)}
                at_risk = {r for r in copies if rows.get(r, ("queued",))[0] in PENDING}
                per_kill.append(len(at_risk - at_risk_before))
                at_risk_before = at_risk
            proc = start(db, port, args.connections, tmp_path)
            _, err = proc.communicate(timeout=3600)
            if proc.returncode != 0:
                raise SystemExit(f"the resumed send failed: {err.decode()[-2000:]}")
        finally:
            sink.terminate()
            sink.communicate(timeout=10)
        rows = ledger(db)
        ids: dict[str, set[str]] = defaultdict(set)
        total = 0
        for rcpt, mid in received(log):
            ids[rcpt].add(mid)
            total += 1
        missing = [e for e in rows if e not in ids]
        two_ids = [e for e, found in ids.items() if len(found) > 1]
        wrong = [e for e, found in ids.items() if found != {rows[e][1]}]
        not_sent = [e for e, (status, _) in rows.items() if status != "sent"]
        print(
            f"{n:,} subscribers, {args.connections} connections, {kills} kills:"
            f" {total - n} duplicate copies in all; per kill max {max(per_kill)},"
            f" mean {sum(per_kill) / len(per_kill):.1f} (target <= {args.connections})"
        )
        print(
            f"missing {len(missing)}, with two Message-IDs {len(two_ids)}, with another"
            f" Message-ID than the ledger's {len(wrong)}, rows not sent {len(not_sent)}"
        )
        if missing or two_ids or wrong or not_sent or len(rows) != n:
            raise SystemExit("crash safety broken")
        if max(per_kill) > args.connections:
            raise SystemExit(f"a kill left {max(per_kill)} copies to resend (> connections)")


PENDING = {"queued", "sending", "deferred"}

if __name__ == "__main__":
    main()
