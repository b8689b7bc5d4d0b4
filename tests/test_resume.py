"""Crash safety: a real `digest send` killed with SIGKILL at several points, then resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from digest.config import Settings
from digest.store import Store
from tests.conftest import DAY, NOW
from tests.faultsmtp import FaultServer
from tests.test_delivery import make_project

SUBSCRIBERS = 30


def start_send(db: Path, url: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env.update(
        DIGEST_SMTP_URL=url,
        DIGEST_BASE_URL="https://news.example.com",
        DIGEST_RETRY_BASE="0.01",
        DIGEST_RETRY_MAX="0.05",
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "digest",
            "--db",
            str(db),
            "--now",
            NOW.isoformat(),
            "send",
            "--list",
            "daily",
            "--date",
            DAY.isoformat(),
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the sender never reached the kill point"
        time.sleep(0.005)


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL


def test_sigkill_at_several_points_then_resume(tmp_path: Path, settings: Settings) -> None:
    with Store.open(settings.db) as store:
        make_project(store, SUBSCRIBERS)
    with FaultServer() as server:
        handler = server.handler
        url = server.url + "?connections=2"
        states_at_kill: list[dict[str, int]] = []

        # 1. While the server holds its reply to the first message: accepted, not recorded.
        handler.hold_again()
        handler.data = lambda n: "hold" if n == 1 else None
        proc = start_send(settings.db, url, tmp_path)
        wait_for(handler.holding.is_set, proc)
        kill(proc)
        handler.release()

        # 2. In the middle of a free-running stream, wherever the kill happens to land.
        handler.data = lambda n: None
        target = len(handler.seen) + 8
        proc = start_send(settings.db, url, tmp_path)
        wait_for(lambda: len(handler.seen) >= target, proc)
        kill(proc)
        with Store.open(settings.db) as store:
            states_at_kill.append(store.delivery_counts(1))

        # 3. Holding again, later in the list, with the other connection busy too.
        # ">=": the killed sender's last DATA may still be counted after this line runs.
        hold_at = handler.data_count + 5
        handler.hold_again()
        handler.data = lambda n: "hold" if n >= hold_at else None
        proc = start_send(settings.db, url, tmp_path)
        wait_for(handler.holding.is_set, proc)
        kill(proc)
        with Store.open(settings.db) as store:
            states_at_kill.append(store.delivery_counts(1))
        handler.release()

        # 4. Resume to the end.
        handler.data = lambda n: None
        proc = start_send(settings.db, url, tmp_path)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        assert b"complete" in err

    # The kill left messages mid-flight at least once (rows in 'sending').
    assert any(counts.get("sending") for counts in states_at_kill)
    with Store.open(settings.db) as store:
        rows = list(store.deliveries(1))
    assert len(rows) == SUBSCRIBERS
    assert {d.status for d in rows} == {"sent"}
    ledger_ids = {d.subscriber.email: d.message_id for d in rows}
    received = handler.accepted_ids()
    # No subscriber missing, none with two different Message-IDs, each the ledger's own.
    assert sorted(received) == sorted(ledger_ids)
    for address, ids in received.items():
        assert ids == {ledger_ids[address]}, address
    # Duplicates happened only where a kill fell between acceptance and the ledger.
    copies = [item.rcpt for item in handler.seen]
    assert len(copies) - SUBSCRIBERS <= 3 * 2
