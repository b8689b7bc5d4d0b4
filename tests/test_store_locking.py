"""Two writers at once (issue 11, item 6): real processes, one real SQLite file.

A send commits once per message for minutes; an admin's import, a CMS writing the
articles table, or anything holding the write lock must wait its turn, not crash, and a
wait past DIGEST_BUSY_TIMEOUT ends with one line.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from digest.sink import CaptureServer
from tests.conftest import BASE_URL, NOW, Cli, article, without_digest_env

SUBSCRIBERS = 300


def _env(**extra: str) -> dict[str, str]:
    """No DIGEST_* from the outside, links to loopback set on purpose (a send needs one)."""
    return without_digest_env(DIGEST_BASE_URL=BASE_URL, **extra)


def _digest(db: Path, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "--db", str(db), "--now", NOW.isoformat(), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=timeout)
    return process.returncode, stderr


@pytest.fixture
def site(run: Cli) -> Cli:
    """A list, one article on 2026-11-27 and SUBSCRIBERS subscribers."""
    run("lists", "add", "daily", "--name", "D", "--from-addr", "news@example.com")
    run("articles", "import", str(run.write("a.json", [article()])))
    rows = "".join(f"s{i}@example.com,daily\n" for i in range(SUBSCRIBERS))
    run("subscribers", "import", str(run.write("people.csv", "email,lists\n" + rows)))
    return run


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[CaptureServer]:
    with CaptureServer(tmp_path / "received") as server:
        yield server


def _slow_send(site: Cli, sink: CaptureServer) -> subprocess.Popen[str]:
    """`digest send` paced at 100 messages a second: ~3 s of one commit per message."""
    env = _env(DIGEST_SMTP_URL=sink.url + "?rate=100/s")
    sender = _digest(site.db_path, "send", "--date", "2026-11-27", env=env)
    deadline = time.monotonic() + 30
    while len(sink.handler.received) < 20:  # it is sending: the ledger is being written
        assert sender.poll() is None, sender.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return sender


def test_subscribers_import_during_a_send_waits_its_turn(site: Cli, sink: CaptureServer) -> None:
    rows = "".join(f"n{i}@example.com,N{i},daily\n" for i in range(3000))
    people = site.write("more.csv", "email,name,lists\n" + rows)
    sender = _slow_send(site, sink)
    imports = []
    while sender.poll() is None and len(imports) < 3:  # each reads, then writes 3000 rows
        imports.append(
            _finish(_digest(site.db_path, "subscribers", "import", str(people), env=_env()))
        )
    code, stderr = _finish(sender)
    assert (code, "Traceback" in stderr) == (0, False), stderr
    assert "sent 300," in stderr and "complete" in stderr
    assert imports and all(code == 0 for code, _ in imports), imports
    assert not any("Traceback" in err or "locked" in err for _, err in imports), imports
    assert "added 3000" in imports[0][1]


CMS = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
def write(n, work):
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO articles (url, title, section, published_at) VALUES (?, ?, 'News', ?)",
        (f"https://cms.example.com/{n}", f"Story {n}", "2026-11-28T05:00:00+00:00"),
    )
    time.sleep(work)  # the CMS's own work inside its transaction
    conn.execute("COMMIT")
for n in range(5):
    write(n, 0.05)
write(5, 11)  # one slow batch: longer than the 10 s a writer used to wait
print("cms wrote 6")
"""


def test_a_cms_writing_articles_during_a_send_never_breaks_it(
    site: Cli, sink: CaptureServer
) -> None:
    sender = _slow_send(site, sink)
    cms = subprocess.Popen(
        [sys.executable, "-c", CMS, str(site.db_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    cms_out, cms_err = cms.communicate(timeout=120)
    code, stderr = _finish(sender)
    assert (code, "Traceback" in stderr) == (0, False), stderr
    assert "sent 300," in stderr
    assert cms.returncode == 0 and "cms wrote 6" in cms_out, cms_err
    with sqlite3.connect(site.db_path) as conn:
        assert conn.execute("SELECT count(*) FROM articles").fetchone() == (7,)


HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("holding", flush=True)
sys.stdin.read()  # until the test closes our stdin
conn.execute("ROLLBACK")
"""


@pytest.fixture
def lock_holder(site: Cli) -> Iterator[subprocess.Popen[str]]:
    """Another process that holds the database's write lock until the test ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(site.db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
    yield holder
    holder.communicate(timeout=30)


@pytest.mark.parametrize(
    "args",
    [
        ["subscribers", "add", "late@example.com", "--list", "daily"],
        ["subscribers", "import", "people.csv"],
        ["send", "--date", "2026-11-27"],
    ],
    ids=" ".join,
)
def test_a_lock_held_past_the_busy_timeout_ends_with_one_line(
    site: Cli, sink: CaptureServer, lock_holder: subprocess.Popen[str], args: list[str]
) -> None:
    env = _env(DIGEST_BUSY_TIMEOUT="0.5", DIGEST_SMTP_URL=sink.url)
    started = time.monotonic()
    code, stderr = _finish(_digest(site.db_path, *args, env=env), timeout=60)
    assert code == 1 and time.monotonic() - started < 8
    lines = stderr.splitlines()
    assert lines[0] == (
        f"Error: database {site.db_path} is locked: another program kept writing to it for "
        "more than 0.5 s, so this one gave up (what it wrote before is kept)"
    ), stderr
    assert lines[1].startswith("Hint: wait for that import, send or CMS job to finish")
    assert len(lines) == 2 and not sink.handler.received
