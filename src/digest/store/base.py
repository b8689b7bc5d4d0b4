"""What every part of the store shares: the connection, row helpers, time as text."""

from __future__ import annotations

import functools
import json
import secrets
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def to_text(moment: datetime, *, timespec: str = "seconds") -> str:
    """The one storage format for datetimes: UTC ISO-8601 with an explicit offset."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).isoformat(timespec=timespec)


def to_precise_text(moment: datetime) -> str:
    """Like to_text with microseconds: retry times compare as text in this one format."""
    return to_text(moment, timespec="microseconds")


def from_text(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def sections_json(sections: Iterable[str]) -> str:
    """How a list of section names is stored: a JSON array, non-ASCII kept as is."""
    if isinstance(sections, tuple):
        return _tuple_json(sections)
    return json.dumps(list(sections), ensure_ascii=False)


@functools.lru_cache(maxsize=4096)
def _tuple_json(sections: tuple[str, ...]) -> str:
    """sections_json for a tuple, memoised: an import repeats a few section sets."""
    return json.dumps(list(sections), ensure_ascii=False)


class Database:
    """The open connection, with the few calls the store's parts make on it (execute,
    close, a savepoint): what they used of sqlite-utils' `Database`, whose import
    (~70 ms) every command paid. That library now runs only the migrations
    (`schema.migrations`), when one is pending."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        # as sqlite-utils' Database sets it: a REPLACE's deletions fire delete triggers
        conn.execute("PRAGMA recursive_triggers=on")

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, parameters)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def savepoint(self) -> Iterator[Database]:
        """A nested transaction inside the open one, rolled back alone on an error."""
        name = f"digest_{secrets.token_hex(8)}"
        self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield self
        except BaseException:
            if self.conn.in_transaction:  # an error may have ended the whole transaction
                self.conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                self.conn.execute(f"RELEASE SAVEPOINT {name}")
            raise
        self.conn.execute(f"RELEASE SAVEPOINT {name}")


@contextmanager
def _immediate(db: Database) -> Iterator[Database]:
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    try:
        db.conn.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise


ROSTER_CHANGES_LIMIT = 20_000  # past this many changes, one full re-check is cheaper


@dataclass(frozen=True, slots=True)
class Changes:
    """What moved the roster between two versions (see StoreBase.roster_changes)."""

    subscribers: frozenset[int]
    old_zones: frozenset[str]


EVENT_TYPES = ("subscribe", "confirm", "unsubscribe", "bounce", "complaint")


def event_row(
    kind: str, now: datetime, subscriber_id: int, email: str, data: dict[str, Any]
) -> tuple[str, str, str, str, str]:
    """One outbox row: (event id, type, the JSON body as posted, created, first attempt).

    The body: id, type, occurred_at, list (a slug, or None: the address as a whole),
    email, subscriber_id, then `data`'s fields."""
    assert kind in EVENT_TYPES, kind
    payload: dict[str, Any] = {
        "id": "evt_" + secrets.token_hex(16),
        "type": kind,
        "occurred_at": to_text(now),
        "list": None,
        "email": email,
        "subscriber_id": subscriber_id,
        **data,
    }
    stamp = to_precise_text(now)
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return payload["id"], kind, body, stamp, stamp


class StoreBase:
    """The open database and the two ways to read it; the Store's parts build on this."""

    def __init__(self, db: Database, path: Path, *, events: bool = False) -> None:
        self.db = db
        self.path = path
        # Events out (DIGEST_WEBHOOK_URL set): state changes also write their outbox row.
        self.events = events

    def emit_event(
        self,
        kind: str,
        *,
        now: datetime,
        subscriber_id: int,
        list_id: int | None = None,
        **data: Any,
    ) -> None:
        """Write one event into the outbox (webhook_events), inside the caller's
        transaction: the caller makes the state change and this row as one step.

        Nothing when events are off. `list_id` None: the address as a whole (all its
        lists are named in `lists`). Extra keyword fields go into the payload as they are.
        """
        if not self.events:
            return
        who = self._one("SELECT email FROM subscribers WHERE id = ?", [subscriber_id])
        if who is None:
            return  # removed meanwhile: nobody to tell about
        if list_id is not None:
            row = self._one("SELECT slug FROM lists WHERE id = ?", [list_id])
            data = {"list": row["slug"] if row else None, **data}
        else:
            data = {
                "list": None,
                "lists": [
                    r["slug"]
                    for r in self._rows(
                        "SELECT l.slug FROM subscriptions s JOIN lists l ON l.id = s.list_id"
                        " WHERE s.subscriber_id = ? ORDER BY l.slug",
                        [subscriber_id],
                    )
                ],
                **data,
            }
        self.write_events([event_row(kind, now, subscriber_id, who["email"], data)])

    def write_events(self, rows: Iterable[tuple[str, str, str, str, str]]) -> None:
        """Outbox rows made by `event_row` (an import writes a chunk's at once)."""
        self.db.conn.executemany(
            "INSERT INTO webhook_events (event_id, type, body, created_at, next_attempt_at)"
            " VALUES (?, ?, ?, ?, ?)",
            rows,
        )

    def transaction(self) -> AbstractContextManager[Database]:
        """A write transaction that takes the write lock up front (BEGIN IMMEDIATE).

        A deferred BEGIN reads first and asks for the lock at its first write; when
        another process wrote in between, SQLite answers "database is locked" at once,
        without waiting (the busy timeout cannot help a stale read snapshot). Taking
        the lock first makes a second writer wait its turn. Nested: a savepoint.
        """
        if self.db.conn.in_transaction:
            return self.db.savepoint()
        return _immediate(self.db)

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> Iterator[dict[str, Any]]:
        cursor = self.db.conn.execute(sql, tuple(params))
        names = [d[0] for d in cursor.description]
        for row in cursor:
            yield dict(zip(names, row, strict=True))

    def _one(self, sql: str, params: Iterable[Any] = ()) -> dict[str, Any] | None:
        return next(self._rows(sql, params), None)

    def roster_version(self) -> int:
        """Moves (by trigger) whenever who receives a list, or in which zone, may change."""
        row = self._one("SELECT version FROM roster_version WHERE id = 1")
        return int(row["version"]) if row else 0

    def roster_changes(
        self, since: int, upto: int, *, limit: int = ROSTER_CHANGES_LIMIT
    ) -> Changes | None:
        """The subscribers whose changes moved the roster from `since` to `upto`, with
        the zones they were in; None when that takes a full re-check instead: more than
        `limit` changes, a list-wide one, or a log trimmed since (see `digest prune`)."""
        if upto - since > limit:
            return None
        rows = list(
            self._rows(
                "SELECT subscriber_id, old_zone FROM roster_changes"
                " WHERE version > ? AND version <= ?",
                [since, upto],
            )
        )
        if len(rows) != upto - since or any(r["subscriber_id"] is None for r in rows):
            return None
        return Changes(
            subscribers=frozenset(int(r["subscriber_id"]) for r in rows),
            old_zones=frozenset(r["old_zone"] for r in rows if r["old_zone"] is not None),
        )
