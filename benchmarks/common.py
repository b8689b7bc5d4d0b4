"""Shared set-up for the benchmarks: a 30-article edition and a database of subscribers."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from digest.message import message_id
from digest.models import Article, NewsList
from digest.store import Store, to_text

HERE = Path(__file__).resolve().parent

DAY = date(2026, 11, 27)
NOW = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
SECTIONS = ("Tchad", "Afrique", "Monde", "Économie", "Sport")
LIST = NewsList(
    slug="daily",
    name="Sahel Morning Digest",
    from_addr="digest@news.example.com",
    sections=SECTIONS,
    address="Avenue Charles de Gaulle, N'Djamena",
)


def articles(count: int = 30) -> list[Article]:
    words = (
        "Le gouvernement a présenté mardi un plan pour les routes, l'eau et les écoles "
        "des provinces du nord, financé en partie par des partenaires régionaux. "
    )
    return [
        Article(
            url=f"https://news.example.com/2026/11/27/story-{i}",
            title=f"Titre de l'article numéro {i}: ce qui change cette semaine",
            section=SECTIONS[i % len(SECTIONS)],
            published_at=NOW - timedelta(minutes=30 + 20 * i),
            summary=(words * 2)[:280],
            author="Rédaction",
            image_url=f"https://news.example.com/img/{i}.jpg",
            image_alt="Photo",
        )
        for i in range(count)
    ]


def make_database(path: Path, subscribers: int) -> None:
    """A list, 30 articles and `subscribers` active subscribers, inserted in bulk."""
    with Store.open(path) as store:
        news_list = store.add_list(LIST, now=NOW)
        with store.transaction():
            for article in articles():
                store.upsert_article(article, now=NOW)
    conn = sqlite3.connect(path)
    stamp = to_text(NOW)
    with conn:
        conn.executemany(
            "INSERT INTO subscribers (id, email, name, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                (i, f"reader{i}@example.org", f"Lecteur {i}", stamp, stamp)
                for i in range(1, subscribers + 1)
            ),
        )
        conn.executemany(
            "INSERT INTO subscriptions (subscriber_id, list_id, created_at) VALUES (?, ?, ?)",
            ((i, news_list.id, stamp) for i in range(1, subscribers + 1)),
        )
    conn.close()


def sent_ledger(db: Path, slug: str = LIST.slug) -> None:
    """The state after a full `digest send` of DAY: every row queued as the send does
    (which records the roster it covered), then marked sent."""
    with Store.open(db) as store:
        news_list = store.get_list(slug)
        edition_id = store.ensure_edition(
            news_list, DAY, due_at=NOW, subject="s", article_count=30, now=NOW
        )
        store.queue_deliveries(
            edition_id,
            news_list,
            message_id=lambda sid: message_id(slug, DAY.isoformat(), sid, "x.org"),
            now=NOW,
        )
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE deliveries SET status = 'sent', sent_at = ?", [to_text(NOW)])
    conn.close()


# -- conventions every benchmark follows ---------------------------------------------------

TINY = os.environ.get("DIGEST_BENCH_TINY") == "1"
"""DIGEST_BENCH_TINY=1: run at a tiny size in seconds (tests/test_benchmarks.py does)."""

SMTP_SINK = shutil.which("smtp-sink") or (
    "/usr/sbin/smtp-sink" if Path("/usr/sbin/smtp-sink").exists() else None
)
INSTALL_SINK = (
    "Postfix's C smtp-sink is the sink for send figures; install it with"
    " `DEBIAN_FRONTEND=noninteractive apt-get install -y postfix` (as root)"
)


class Sink:
    """An SMTP sink on a free loopback port: Postfix's `smtp-sink` when installed.

    Without it the benchmark falls back to the asyncio sink in sink.py and says so: that
    sink caps near 1,300 msg/s and flatters any client, so its figures are not the ones
    to quote. `require=True` (or DIGEST_REQUIRE_TOOLS=1) refuses instead of falling back.
    """

    def __init__(self, *, require: bool = False) -> None:
        self.require = require or os.environ.get("DIGEST_REQUIRE_TOOLS") == "1"
        self.port = 0
        self.name = ""
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Sink:
        from digest.sink import free_port

        self.port = free_port()
        if SMTP_SINK:
            # -u nobody: it refuses to run as root otherwise; 1000: the listen backlog.
            self.proc = subprocess.Popen(
                [SMTP_SINK, "-u", "nobody", f"127.0.0.1:{self.port}", "1000"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            self.name = "Postfix smtp-sink"
            self._wait_ready()
            return self
        if self.require:
            raise SystemExit("smtp-sink not found. " + INSTALL_SINK)
        print(
            f"WARNING: smtp-sink not found; using the Python sink, which caps near 1,300"
            f" msg/s, so these figures flatter the client. {INSTALL_SINK}.",
            file=sys.stderr,
        )
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "sink.py"), str(self.port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"
        self.name = "Python asyncio sink (fallback)"
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise SystemExit(
                    f"smtp-sink exited: {self.proc.stderr and self.proc.stderr.read()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.recv(100)
                    sock.sendall(b"QUIT\r\n")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.communicate(timeout=10)
