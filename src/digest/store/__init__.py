"""All SQL. Numbered migrations, WAL, foreign keys on; returns models, never rows.

`Store` is one open database; its methods live with the tables they touch: lists,
subscribers, subscriptions, articles, feeds, deliveries (editions and the ledger).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from digest.errors import DatabaseBusyError, StoreError
from digest.store.articles import ArticlesMixin
from digest.store.base import Database, from_text, to_precise_text, to_text
from digest.store.deliveries import DeliveriesMixin
from digest.store.feeds import FeedsMixin
from digest.store.outbox import OutboxMixin
from digest.store.schema import migrations
from digest.store.signups import SignupsMixin
from digest.store.subscribers import SUBSCRIBER_STATUSES, address_hash

__all__ = [
    "SUBSCRIBER_STATUSES",
    "Store",
    "address_hash",
    "from_text",
    "migrations",
    "to_precise_text",
    "to_text",
]


BUSY_TIMEOUT = 30.0  # seconds a writer waits for another's lock (DIGEST_BUSY_TIMEOUT)


class _Connection(sqlite3.Connection):
    """A connection whose "database is locked" is a DatabaseBusyError naming the file.

    SQLite reports it after the busy timeout (or at once for a stale read snapshot,
    which `Store.transaction` avoids by taking the lock first).
    """

    where: tuple[Path, float] = (Path("?"), BUSY_TIMEOUT)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.OperationalError as exc:
            raise self._busy(exc) from None

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        try:
            return super().executemany(sql, parameters)
        except sqlite3.OperationalError as exc:
            raise self._busy(exc) from None

    def executescript(self, script: str, /) -> sqlite3.Cursor:
        try:
            return super().executescript(script)
        except sqlite3.OperationalError as exc:
            raise self._busy(exc) from None

    def _busy(self, exc: sqlite3.OperationalError) -> Exception:
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if code not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return exc
        path, timeout = self.where
        return DatabaseBusyError(
            f"database {path} is locked: another program kept writing to it for more "
            f"than {timeout:g} s, so this one gave up (what it wrote before is kept)",
            hint="wait for that import, send or CMS job to finish and run this again, "
            "or allow a longer wait with DIGEST_BUSY_TIMEOUT",
        )


class Store(
    DeliveriesMixin,
    SignupsMixin,
    FeedsMixin,
    ArticlesMixin,
    OutboxMixin,
    AbstractContextManager["Store"],
):
    """One open database. Create with `Store.open(path)`; close when done."""

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        create: bool = True,
        busy_timeout: float = BUSY_TIMEOUT,
        events: bool = False,
    ) -> Store:
        """Open (and migrate) the database; `create=False` refuses a file that is not there.

        Only `digest init` (and the demo) create one: a mistyped --db must not quietly
        become a new, empty database. A writer waits up to `busy_timeout` seconds for
        another's lock, then raises DatabaseBusyError (one line, never a traceback).
        `events` (DIGEST_WEBHOOK_URL is set): state changes also write their event rows.
        """
        if not create and not path.is_file():
            raise StoreError(
                f"no database at {path}",
                hint=f"check --db / DIGEST_DB, or create it with: digest --db {path} init",
            )
        if path.parent and not path.parent.exists():
            raise StoreError(
                f"cannot create {path}: folder {path.parent} does not exist",
                hint="create the folder or point --db / DIGEST_DB elsewhere",
            )
        try:
            # mode=rw: the file vanishing between the check and here is not a new database
            target = f"{path.resolve().as_uri()}?mode={'rwc' if create else 'rw'}"
            conn = sqlite3.connect(
                target,
                isolation_level=None,
                timeout=busy_timeout,
                uri=True,
                factory=_Connection,
            )
            conn.where = (path, busy_timeout)
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            db = Database(conn)
            migrations.apply(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"cannot open database {path}: {exc}",
                hint="is it a digest SQLite file? check --db / DIGEST_DB",
            ) from None
        return cls(db, path, events=events)

    def close(self) -> None:
        self.db.close()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def checkpoints_aside(self, every: int = 200) -> Iterator[Checkpoints]:
        """For a long run of small commits (a send makes one per message): the WAL
        checkpoints, and the fdatasync each ends with (7 ms apiece under load, one
        every ~200 messages), run in a helper thread on its own connection instead of
        inside one of this connection's commits.

        Call `nudge()` on what it gives after each commit; every `every` nudges the
        helper makes a PASSIVE checkpoint, which never blocks a writer or a reader.
        Nothing changes for durability: a commit is in the WAL when it returns, as
        before; only the copying back into the database file moves. Should the
        helper stop, this connection checkpoints for itself again.
        """
        conn = self.db.conn
        automatic = int(conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
        aside = Checkpoints(
            self.path, every, lambda: conn.execute(f"PRAGMA wal_autocheckpoint={automatic}")
        )
        conn.execute("PRAGMA wal_autocheckpoint=0")
        try:
            yield aside
        finally:
            aside.stop()
            conn.execute(f"PRAGMA wal_autocheckpoint={automatic}")


class Checkpoints:
    """The helper thread of `Store.checkpoints_aside`."""

    def __init__(self, path: Path, every: int, fallback: Callable[[], object]) -> None:
        self.path = path
        self.every = every
        self.fallback = fallback
        self.made = 0  # checkpoints the helper has made
        self._asked = 0  # ... and been asked for
        self._nudges = 0
        self._changed = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="wal-checkpoints", daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        self._nudges += 1
        if self._nudges % self.every:
            return
        if not self._thread.is_alive():
            self.fallback()
            return
        with self._changed:
            self._asked += 1
            self._changed.notify_all()

    def settle(self) -> None:
        """Wait until the helper has made every checkpoint asked of it (or stopped)."""
        with self._changed:
            while self.made < self._asked and self._thread.is_alive():
                self._changed.wait()

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._thread.join()

    def _work(self) -> None:
        try:
            helper = sqlite3.connect(self.path, timeout=1.0)
        except sqlite3.Error:
            return
        try:
            helper.execute("PRAGMA synchronous=NORMAL")
            while True:
                with self._changed:
                    while not self._stopping and self.made >= self._asked:
                        self._changed.wait()
                    if self._stopping:
                        return
                helper.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                with self._changed:
                    self.made += 1
                    self._changed.notify_all()
        except sqlite3.Error:
            return
        finally:
            helper.close()
            with self._changed:
                self._changed.notify_all()
