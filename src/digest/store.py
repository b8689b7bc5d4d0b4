"""All SQL. Numbered migrations, WAL, foreign keys on; returns models, never rows."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext, suppress
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from digest.errors import InputError, NotFoundError, StoreError
from digest.models import (
    PENDING_STATES,
    Article,
    Delivery,
    Feed,
    NewsList,
    Recipient,
    Subscriber,
    Subscription,
)

migrations = Migrations("digest")

SUBSCRIBER_STATUSES = ("active", "unsubscribed", "bounced", "complained")


@migrations(name="0001_initial")
def _initial(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE lists (
            id INTEGER PRIMARY KEY,
            slug TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            from_addr TEXT NOT NULL,
            send_at TEXT NOT NULL DEFAULT '07:00',
            timezone TEXT NOT NULL DEFAULT 'UTC',
            locale TEXT NOT NULL DEFAULT 'en',
            sections TEXT NOT NULL DEFAULT '[]',
            address TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        );
        CREATE TABLE subscribers (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL DEFAULT '',
            locale TEXT NOT NULL DEFAULT '',
            timezone TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'unsubscribed', 'bounced', 'complained')),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE subscriptions (
            subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
            list_id INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
            sections TEXT NOT NULL DEFAULT '[]',
            status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'unsubscribed')),
            created_at TEXT NOT NULL,
            PRIMARY KEY (subscriber_id, list_id)
        );
        CREATE INDEX subscriptions_list ON subscriptions(list_id, status);
        CREATE TABLE articles (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,
            guid TEXT NOT NULL DEFAULT '',
            title TEXT NOT NULL,
            section TEXT NOT NULL DEFAULT '',
            published_at TEXT NOT NULL,
            summary TEXT NOT NULL DEFAULT '',
            body_html TEXT NOT NULL DEFAULT '',
            author TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT '',
            image_url TEXT NOT NULL DEFAULT '',
            image_alt TEXT NOT NULL DEFAULT '',
            language TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')),
            updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now'))
        );
        CREATE INDEX articles_published ON articles(published_at);
        CREATE TABLE editions (
            id INTEGER PRIMARY KEY,
            list_id INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
            date TEXT NOT NULL,
            due_at TEXT NOT NULL,
            subject TEXT NOT NULL,
            article_count INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (list_id, date)
        );
        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            edition_id INTEGER NOT NULL REFERENCES editions(id) ON DELETE CASCADE,
            subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
            status TEXT NOT NULL,
            message_id TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_reply TEXT NOT NULL DEFAULT '',
            updated_at TEXT NOT NULL,
            sent_at TEXT,
            UNIQUE (edition_id, subscriber_id)
        );
        """
    )


@migrations(name="0002_wal", transactional=False)
def _wal(db: Database) -> None:
    db.enable_wal()


@migrations(name="0003_subscriber_pause")
def _subscriber_pause(db: Database) -> None:
    # Set by "pause all emails" on the preferences page; NULL means not paused.
    db.execute("ALTER TABLE subscribers ADD COLUMN paused_at TEXT")


@migrations(name="0003_data_in_feeds_suppressions")
def _data_in_feeds_suppressions(db: Database) -> None:
    """Feeds by subscription, suppression of removed addresses, article identity by guid."""
    db.executescript(
        """
        CREATE TABLE feeds (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL DEFAULT '',
            section TEXT NOT NULL DEFAULT '',
            list_id INTEGER REFERENCES lists(id) ON DELETE SET NULL,
            etag TEXT NOT NULL DEFAULT '',
            last_modified TEXT NOT NULL DEFAULT '',
            failures INTEGER NOT NULL DEFAULT 0,
            last_error TEXT NOT NULL DEFAULT '',
            last_fetched_at TEXT,
            last_ok_at TEXT,
            created_at TEXT NOT NULL
        );
        CREATE TABLE suppressions (
            address_hash TEXT PRIMARY KEY,
            reason TEXT NOT NULL DEFAULT 'removed',
            created_at TEXT NOT NULL
        );
        ALTER TABLE articles ADD COLUMN feed_id INTEGER REFERENCES feeds(id) ON DELETE SET NULL;
        CREATE INDEX articles_guid ON articles(guid) WHERE guid != '';
        CREATE INDEX articles_section ON articles(section, published_at);
        """
    )


@migrations(name="0003_delivery_ledger")
def _delivery_ledger(db: Database) -> None:
    """The delivery ledger's states, reply codes, retry times; rebuilt to add the CHECK."""
    db.executescript(
        """
        CREATE TABLE deliveries_new (
            id INTEGER PRIMARY KEY,
            edition_id INTEGER NOT NULL REFERENCES editions(id) ON DELETE CASCADE,
            subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
            status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN
                ('queued', 'sending', 'sent', 'deferred', 'bounced', 'failed', 'skipped')),
            message_id TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_code INTEGER,
            last_reply TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            next_attempt_at TEXT,
            sent_at TEXT,
            UNIQUE (edition_id, subscriber_id)
        );
        INSERT INTO deliveries_new (id, edition_id, subscriber_id, status, message_id, attempts,
            last_reply, created_at, updated_at, sent_at)
        SELECT id, edition_id, subscriber_id, status, message_id, attempts, last_reply,
            updated_at, updated_at, sent_at FROM deliveries;
        DROP TABLE deliveries;
        ALTER TABLE deliveries_new RENAME TO deliveries;
        CREATE INDEX deliveries_edition_status ON deliveries(edition_id, status, id);
        CREATE INDEX deliveries_sent_at ON deliveries(sent_at) WHERE sent_at IS NOT NULL;
        """
    )


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_text(moment: datetime) -> str:
    """The one storage format for datetimes: UTC ISO-8601 with an explicit offset."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def to_precise_text(moment: datetime) -> str:
    """Like to_text with microseconds: retry times compare as text in this one format."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_text(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Store(AbstractContextManager["Store"]):
    """One open database. Create with `Store.open(path)`; close when done."""

    def __init__(self, db: Database, path: Path) -> None:
        self.db = db
        self.path = path

    @classmethod
    def open(cls, path: Path) -> Store:
        if path.parent and not path.parent.exists():
            raise StoreError(
                f"cannot create {path}: folder {path.parent} does not exist",
                hint="create the folder or point --db / DIGEST_DB elsewhere",
            )
        try:
            conn = sqlite3.connect(str(path), isolation_level=None, timeout=10)
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=10000")
            db = Database(conn, execute_plugins=False)
            migrations.apply(db)
            conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"cannot open database {path}: {exc}",
                hint="is it a digest SQLite file? check --db / DIGEST_DB",
            ) from None
        return cls(db, path)

    def close(self) -> None:
        self.db.close()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> AbstractContextManager[Database]:
        return self.db.atomic()

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> Iterator[dict[str, Any]]:
        cursor = self.db.conn.execute(sql, tuple(params))
        names = [d[0] for d in cursor.description]
        for row in cursor:
            yield dict(zip(names, row, strict=True))

    def _one(self, sql: str, params: Iterable[Any] = ()) -> dict[str, Any] | None:
        return next(self._rows(sql, params), None)

    # -- lists -------------------------------------------------------------------------

    def add_list(self, news_list: NewsList, *, now: datetime) -> NewsList:
        try:
            self.db.execute(
                "INSERT INTO lists (slug, name, from_addr, send_at, timezone, locale, sections,"
                " address, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    news_list.slug,
                    news_list.name,
                    news_list.from_addr,
                    news_list.send_at.strftime("%H:%M"),
                    news_list.timezone,
                    news_list.locale,
                    json.dumps(list(news_list.sections), ensure_ascii=False),
                    news_list.address,
                    to_text(now),
                ],
            )
        except sqlite3.IntegrityError:
            raise StoreError(
                f"list {news_list.slug!r} already exists",
                hint="pick another slug, or see `digest lists list`",
            ) from None
        return self.get_list(news_list.slug)

    def update_list(self, news_list: NewsList) -> NewsList:
        self.db.execute(
            "UPDATE lists SET name=?, from_addr=?, send_at=?, timezone=?, locale=?, sections=?,"
            " address=? WHERE slug=?",
            [
                news_list.name,
                news_list.from_addr,
                news_list.send_at.strftime("%H:%M"),
                news_list.timezone,
                news_list.locale,
                json.dumps(list(news_list.sections), ensure_ascii=False),
                news_list.address,
                news_list.slug,
            ],
        )
        return self.get_list(news_list.slug)

    def get_list(self, slug: str) -> NewsList:
        row = self._one("SELECT * FROM lists WHERE slug = ?", [slug])
        if row is None:
            known = ", ".join(lst.slug for lst in self.lists()) or "none yet"
            raise NotFoundError(
                f"no list called {slug!r}", hint=f"known lists: {known} (`digest lists add`)"
            )
        return _list_from_row(row)

    def lists(self) -> list[NewsList]:
        return [_list_from_row(r) for r in self._rows("SELECT * FROM lists ORDER BY slug")]

    def remove_list(self, slug: str, *, force: bool = False) -> int:
        """Delete a list; refused while it has subscribers unless `force`. Returns how many
        subscriptions went with it."""
        news_list = self.get_list(slug)
        count = self.count_subscribers(slug)
        if count and not force:
            raise StoreError(
                f"list {slug!r} still has {count} subscribers",
                hint="unsubscribe or move them first, or add --force to delete them from it",
            )
        with self.transaction():
            self.db.execute("DELETE FROM lists WHERE id = ?", [news_list.id])
        return count

    def pick_list(self, slug: str | None) -> NewsList:
        """The named list, or the only list when no name is given."""
        if slug:
            return self.get_list(slug)
        all_lists = self.lists()
        if len(all_lists) == 1:
            return all_lists[0]
        if not all_lists:
            raise NotFoundError("there are no lists yet", hint="create one: digest lists add")
        raise NotFoundError(
            "several lists exist; say which one",
            hint="add --list with one of: " + ", ".join(lst.slug for lst in all_lists),
        )

    # -- subscribers -------------------------------------------------------------------

    def upsert_subscriber(
        self,
        subscriber: Subscriber,
        *,
        lists: Iterable[tuple[NewsList, tuple[str, ...]]] = (),
        now: datetime,
    ) -> tuple[Subscriber, bool]:
        """Insert or update by address; add list memberships (never removes any).

        Returns the stored subscriber and whether it was new.
        """
        stamp = to_text(now)
        existing = self._one("SELECT id FROM subscribers WHERE email = ?", [subscriber.email])
        if existing is None:
            cursor = self.db.execute(
                "INSERT INTO subscribers (email, name, locale, timezone, status, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    subscriber.email,
                    subscriber.name,
                    subscriber.locale,
                    subscriber.timezone,
                    subscriber.status,
                    stamp,
                    stamp,
                ],
            )
            subscriber_id = cursor.lastrowid
        else:
            subscriber_id = existing["id"]
            self.db.execute(
                "UPDATE subscribers SET name = COALESCE(NULLIF(?, ''), name),"
                " locale = COALESCE(NULLIF(?, ''), locale),"
                " timezone = COALESCE(NULLIF(?, ''), timezone), updated_at = ? WHERE id = ?",
                [subscriber.name, subscriber.locale, subscriber.timezone, stamp, subscriber_id],
            )
        for news_list, sections in lists:
            self.db.execute(
                "INSERT INTO subscriptions (subscriber_id, list_id, sections, created_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (subscriber_id, list_id) DO UPDATE SET"
                " sections = CASE WHEN excluded.sections = '[]' THEN sections"
                " ELSE excluded.sections END",
                [
                    subscriber_id,
                    news_list.id,
                    json.dumps(list(sections), ensure_ascii=False),
                    stamp,
                ],
            )
        return self.get_subscriber(subscriber.email), existing is None

    def get_subscriber(self, email: str) -> Subscriber:
        row = self._one("SELECT * FROM subscribers WHERE email = ?", [email])
        if row is None:
            raise NotFoundError(f"no subscriber {email}", hint="see `digest subscribers list`")
        return _subscriber_from_row(row)

    def find_subscriber(self, email_or_id: str | int) -> Subscriber:
        """By id (an int, or digits) or by normalised address."""
        if isinstance(email_or_id, int) or email_or_id.isdigit():
            row = self._one("SELECT * FROM subscribers WHERE id = ?", [int(email_or_id)])
            if row is None:
                raise NotFoundError(
                    f"no subscriber with id {email_or_id}", hint="see `digest subscribers list`"
                )
            return _subscriber_from_row(row)
        return self.get_subscriber(email_or_id)

    def set_subscriber_status(
        self, email_or_id: str | int, status: str, *, now: datetime | None = None
    ) -> Subscriber:
        """Set active / unsubscribed / bounced / complained. Sending skips all but active.

        The delivery side calls this with "bounced" or "complained"; it touches nothing
        else (list subscriptions keep their own status).
        """
        if status not in SUBSCRIBER_STATUSES:
            raise InputError(
                f"unknown subscriber status {status!r}",
                hint="one of: " + ", ".join(SUBSCRIBER_STATUSES),
            )
        subscriber = self.find_subscriber(email_or_id)
        self.db.execute(
            "UPDATE subscribers SET status = ?, updated_at = ? WHERE id = ?",
            [status, to_text(now or utc_now()), subscriber.id],
        )
        return self.find_subscriber(int(subscriber.id or 0))

    def remove_subscriber(
        self, email: str, *, forget: bool = False, now: datetime | None = None
    ) -> bool:
        """Erase the person's data but keep a suppression entry (a hash of the address),
        so a later import does not re-subscribe them; `forget` removes that entry too.

        Returns whether a subscriber row was deleted (with `forget`, an address that is
        only suppressed is not an error).
        """
        row = self._one("SELECT id FROM subscribers WHERE email = ?", [email])
        digest_of = address_hash(email)
        if row is None and not (forget and self.is_suppressed(email)):
            raise NotFoundError(f"no subscriber {email}", hint="see `digest subscribers list`")
        with self.transaction():
            if row is not None:
                self.db.execute("DELETE FROM subscribers WHERE id = ?", [row["id"]])
            if forget:
                self.db.execute("DELETE FROM suppressions WHERE address_hash = ?", [digest_of])
            else:
                self.db.execute(
                    "INSERT INTO suppressions (address_hash, reason, created_at)"
                    " VALUES (?, 'removed', ?) ON CONFLICT (address_hash) DO NOTHING",
                    [digest_of, to_text(now or utc_now())],
                )
        return row is not None

    def is_suppressed(self, email: str) -> bool:
        row = self._one(
            "SELECT 1 AS x FROM suppressions WHERE address_hash = ?", [address_hash(email)]
        )
        return row is not None

    def suppressed_hashes(self) -> set[str]:
        return {r["address_hash"] for r in self._rows("SELECT address_hash FROM suppressions")}

    def unsuppress(self, email: str) -> None:
        self.db.execute("DELETE FROM suppressions WHERE address_hash = ?", [address_hash(email)])

    def unsubscribe(
        self, email_or_id: str | int, list_slug: str | None = None, *, now: datetime
    ) -> Subscriber:
        """From one list (its subscription only), or from everything (the subscriber)."""
        subscriber = self.find_subscriber(email_or_id)
        with self.transaction():
            if list_slug:
                news_list = self.get_list(list_slug)
                cursor = self.db.execute(
                    "UPDATE subscriptions SET status = 'unsubscribed'"
                    " WHERE subscriber_id = ? AND list_id = ?",
                    [subscriber.id, news_list.id],
                )
                if cursor.rowcount == 0:
                    raise NotFoundError(
                        f"{subscriber.email} is not subscribed to {list_slug!r}",
                        hint="see `digest subscribers show " + subscriber.email + "`",
                    )
            else:
                self.db.execute(
                    "UPDATE subscriptions SET status = 'unsubscribed' WHERE subscriber_id = ?",
                    [subscriber.id],
                )
                if subscriber.status == "active":
                    self.set_subscriber_status(int(subscriber.id or 0), "unsubscribed", now=now)
            self.db.execute(
                "UPDATE subscribers SET updated_at = ? WHERE id = ?", [to_text(now), subscriber.id]
            )
        return self.find_subscriber(int(subscriber.id or 0))

    def resubscribe(
        self,
        email_or_id: str | int,
        list_slug: str | None = None,
        *,
        force: bool = False,
        now: datetime,
    ) -> Subscriber:
        """Back to active (and the subscription, or all of them, active again).

        Refused for a bounced or complained address unless `force`.
        """
        subscriber = self.find_subscriber(email_or_id)
        if subscriber.status in ("bounced", "complained") and not force:
            raise StoreError(
                f"{subscriber.email} is {subscriber.status}; not resubscribed",
                hint="mail to it bounced or was reported as spam; add --force if you are sure",
            )
        with self.transaction():
            if list_slug:
                news_list = self.get_list(list_slug)
                self.db.execute(
                    "INSERT INTO subscriptions (subscriber_id, list_id, created_at)"
                    " VALUES (?, ?, ?) ON CONFLICT (subscriber_id, list_id)"
                    " DO UPDATE SET status = 'active'",
                    [subscriber.id, news_list.id, to_text(now)],
                )
            else:
                self.db.execute(
                    "UPDATE subscriptions SET status = 'active' WHERE subscriber_id = ?",
                    [subscriber.id],
                )
            self.set_subscriber_status(int(subscriber.id or 0), "active", now=now)
        return self.find_subscriber(int(subscriber.id or 0))

    def set_sections(
        self, email_or_id: str | int, list_slug: str, sections: Iterable[str]
    ) -> tuple[str, ...]:
        """The sections this subscriber wants from one list (none: the whole edition)."""
        subscriber = self.find_subscriber(email_or_id)
        news_list = self.get_list(list_slug)
        wanted = tuple(dict.fromkeys(sections))
        cursor = self.db.execute(
            "UPDATE subscriptions SET sections = ? WHERE subscriber_id = ? AND list_id = ?",
            [json.dumps(list(wanted), ensure_ascii=False), subscriber.id, news_list.id],
        )
        if cursor.rowcount == 0:
            raise NotFoundError(
                f"{subscriber.email} is not subscribed to {list_slug!r}",
                hint=f"first: digest subscribers add {subscriber.email} --list {list_slug}",
            )
        return wanted

    def add_subscribers(
        self,
        rows: Iterable[tuple[Subscriber, Iterable[tuple[int, tuple[str, ...]]]]],
        *,
        now: datetime,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[int, int, int]:
        """Bulk upsert (the CSV import): (subscriber, [(list id, sections)]) per row.

        Same merge rules as `upsert_subscriber`; runs in the caller's transaction.
        A row that would change nothing is not written. Returns (added, updated,
        unchanged).
        """
        stamp = to_text(now)
        conn = self.db.conn
        # What is stored now, to tell updated from unchanged: email -> [name, locale,
        # timezone, {list id: sections JSON}]
        known: dict[str, tuple[list[str], dict[int, str]]] = {
            email: ([name, locale, timezone], {})
            for email, name, locale, timezone in conn.execute(
                "SELECT email, name, locale, timezone FROM subscribers"
            )
        }
        for email, list_id, sections_json in conn.execute(
            "SELECT s.email, x.list_id, x.sections FROM subscriptions x"
            " JOIN subscribers s ON s.id = x.subscriber_id"
        ):
            known[email][1][list_id] = sections_json
        added = updated = unchanged = 0
        chunk: list[tuple[Subscriber, Iterable[tuple[int, tuple[str, ...]]]]] = []

        def flush() -> None:
            # executemany in chunks: the per-statement round trip is most of the cost
            conn.executemany(
                "INSERT INTO subscribers (email, name, locale, timezone, status, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (email) DO UPDATE SET"
                " name = COALESCE(NULLIF(excluded.name, ''), name),"
                " locale = COALESCE(NULLIF(excluded.locale, ''), locale),"
                " timezone = COALESCE(NULLIF(excluded.timezone, ''), timezone),"
                " updated_at = excluded.updated_at",
                [(s.email, s.name, s.locale, s.timezone, s.status, stamp, stamp) for s, _ in chunk],
            )
            ids = dict(
                conn.execute(
                    "SELECT email, id FROM subscribers WHERE email IN (SELECT value FROM"
                    " json_each(?))",
                    [json.dumps([s.email for s, _ in chunk])],
                ).fetchall()
            )
            conn.executemany(
                "INSERT INTO subscriptions (subscriber_id, list_id, sections, created_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (subscriber_id, list_id) DO UPDATE SET"
                " sections = CASE WHEN excluded.sections = '[]' THEN sections"
                " ELSE excluded.sections END",
                [
                    (
                        ids[s.email],
                        list_id,
                        json.dumps(list(sections), ensure_ascii=False) if sections else "[]",
                        stamp,
                    )
                    for s, memberships in chunk
                    for list_id, sections in memberships
                ],
            )
            if progress is not None:
                progress(len(chunk))
            chunk.clear()

        for subscriber, memberships in rows:
            wanted = [
                (list_id, json.dumps(list(sections), ensure_ascii=False) if sections else "[]")
                for list_id, sections in memberships
            ]
            stored = known.get(subscriber.email)
            if stored is None:
                added += 1
                stored = known[subscriber.email] = (["", "", ""], {})
            else:
                fields, lists = stored
                same = all(
                    not new or new == old
                    for new, old in zip(
                        (subscriber.name, subscriber.locale, subscriber.timezone),
                        fields,
                        strict=True,
                    )
                ) and all(
                    list_id in lists and (sections == "[]" or lists[list_id] == sections)
                    for list_id, sections in wanted
                )
                if same:
                    unchanged += 1
                    continue
                updated += 1
            fields, lists = stored
            for i, new in enumerate((subscriber.name, subscriber.locale, subscriber.timezone)):
                fields[i] = new or fields[i]
            for list_id, sections in wanted:
                if sections != "[]" or list_id not in lists:
                    lists[list_id] = sections
            chunk.append((subscriber, memberships))
            if len(chunk) >= 5000:
                flush()
        if chunk:
            flush()
        if progress is not None and unchanged:
            progress(unchanged)
        return added, updated, unchanged

    def subscribers(
        self, list_slug: str | None = None, *, status: str | None = None
    ) -> Iterator[tuple[Subscriber, list[str]]]:
        """Every subscriber (of one list, with one status, if given) with their lists' slugs.

        With a list, `status` is the status for that list: a subscriber who left only
        that list counts as unsubscribed there.
        """
        sql, params = self._subscriber_query(list_slug, status)
        sql = (
            "SELECT s.*, (SELECT group_concat(l.slug, ';') FROM subscriptions x"
            " JOIN lists l ON l.id = x.list_id WHERE x.subscriber_id = s.id) AS slugs"
            " FROM subscribers s" + sql
        )
        for row in self._rows(sql + " ORDER BY s.email", params):
            slugs = sorted(row.pop("slugs").split(";")) if row["slugs"] else []
            yield _subscriber_from_row(row), slugs

    def count_subscribers(self, list_slug: str | None = None, *, status: str | None = None) -> int:
        sql, params = self._subscriber_query(list_slug, status)
        row = self._one("SELECT count(*) AS n FROM subscribers s" + sql, params)
        return int(row["n"]) if row else 0

    def _subscriber_query(self, list_slug: str | None, status: str | None) -> tuple[str, list[Any]]:
        if status is not None and status not in SUBSCRIBER_STATUSES:
            raise InputError(
                f"unknown status {status!r}", hint="one of: " + ", ".join(SUBSCRIBER_STATUSES)
            )
        where: list[str] = []
        params: list[Any] = []
        if list_slug:
            list_id = self.get_list(list_slug).id
            if status == "unsubscribed":
                where.append(
                    "s.id IN (SELECT subscriber_id FROM subscriptions WHERE list_id = ?)"
                    " AND (s.status = 'unsubscribed' OR s.id IN (SELECT subscriber_id FROM"
                    " subscriptions WHERE list_id = ? AND status = 'unsubscribed'))"
                )
                params += [list_id, list_id]
                status = None
            elif status == "active":
                where.append(
                    "s.id IN (SELECT subscriber_id FROM subscriptions WHERE list_id = ?"
                    " AND status = 'active')"
                )
                params.append(list_id)
            else:
                where.append("s.id IN (SELECT subscriber_id FROM subscriptions WHERE list_id = ?)")
                params.append(list_id)
        if status:
            where.append("s.status = ?")
            params.append(status)
        return (" WHERE " + " AND ".join(where) if where else ""), params

    def subscription_sections(self, subscriber_id: int) -> dict[str, list[str]]:
        return {
            row["slug"]: json.loads(row["sections"])
            for row in self._rows(
                "SELECT l.slug, x.sections FROM subscriptions x JOIN lists l ON l.id = x.list_id"
                " WHERE x.subscriber_id = ?",
                [subscriber_id],
            )
        }

    def subscription_statuses(self, subscriber_id: int) -> dict[str, str]:
        """{list slug: 'active' | 'unsubscribed'} for one subscriber."""
        return {
            row["slug"]: row["status"]
            for row in self._rows(
                "SELECT l.slug, x.status FROM subscriptions x JOIN lists l ON l.id = x.list_id"
                " WHERE x.subscriber_id = ? ORDER BY l.slug",
                [subscriber_id],
            )
        }

    def recipients(self, news_list: NewsList) -> Iterator[Recipient]:
        """Active subscribers with an active subscription to the list, streamed by id."""
        for row in self._rows(
            "SELECT s.*, x.sections AS list_sections FROM subscriptions x"
            " JOIN subscribers s ON s.id = x.subscriber_id"
            " WHERE x.list_id = ? AND x.status = 'active' AND s.status = 'active'"
            " AND s.paused_at IS NULL ORDER BY s.id",
            [news_list.id],
        ):
            sections = tuple(json.loads(row.pop("list_sections")))
            yield Recipient(_subscriber_from_row(row), sections)

    # -- subscriptions (the subscriber-facing pages) ------------------------------------

    def get_list_by_id(self, list_id: int) -> NewsList | None:
        row = self._one("SELECT * FROM lists WHERE id = ?", [list_id])
        return None if row is None else _list_from_row(row)

    def get_subscriber_by_id(self, subscriber_id: int) -> Subscriber | None:
        row = self._one("SELECT * FROM subscribers WHERE id = ?", [subscriber_id])
        return None if row is None else _subscriber_from_row(row)

    def subscriptions(self, subscriber_id: int) -> list[Subscription]:
        """Every list the subscriber belongs to (active or not), by list slug."""
        subscriber = self.get_subscriber_by_id(subscriber_id)
        if subscriber is None:
            return []
        rows = self._rows(
            "SELECT l.*, x.status AS sub_status, x.sections AS sub_sections FROM subscriptions x"
            " JOIN lists l ON l.id = x.list_id WHERE x.subscriber_id = ? ORDER BY l.slug",
            [subscriber_id],
        )
        result = []
        for row in rows:
            status, sections = row.pop("sub_status"), tuple(json.loads(row.pop("sub_sections")))
            result.append(Subscription(subscriber, _list_from_row(row), status, sections))
        return result

    def set_subscription_status(self, subscriber_id: int, list_id: int, status: str) -> bool:
        """'active' or 'unsubscribed'; False when there is no such subscription."""
        cursor = self.db.execute(
            "UPDATE subscriptions SET status = ? WHERE subscriber_id = ? AND list_id = ?",
            [status, subscriber_id, list_id],
        )
        return cursor.rowcount > 0

    def set_subscription_sections(
        self, subscriber_id: int, list_id: int, sections: Iterable[str]
    ) -> None:
        """The sections the subscriber wants from the list; none means all of them."""
        self.db.execute(
            "UPDATE subscriptions SET sections = ? WHERE subscriber_id = ? AND list_id = ?",
            [json.dumps(list(sections), ensure_ascii=False), subscriber_id, list_id],
        )

    def set_paused(self, subscriber_id: int, paused: bool, *, now: datetime) -> None:
        """Pause (or resume) every list's mail for the subscriber; recipients() skips them."""
        self.db.execute(
            "UPDATE subscribers SET paused_at = CASE WHEN ? THEN COALESCE(paused_at, ?)"
            " ELSE NULL END, updated_at = ? WHERE id = ?",
            [paused, to_text(now), to_text(now), subscriber_id],
        )

    def is_paused(self, subscriber_id: int) -> bool:
        row = self._one("SELECT paused_at FROM subscribers WHERE id = ?", [subscriber_id])
        return bool(row and row["paused_at"])

    def recipient_zones(self, news_list: NewsList) -> set[str]:
        """The distinct time zones (as stored; '' for none) of the list's recipients."""
        return {
            row["timezone"]
            for row in self._rows(
                "SELECT DISTINCT s.timezone FROM subscriptions x"
                " JOIN subscribers s ON s.id = x.subscriber_id"
                " WHERE x.list_id = ? AND x.status = 'active' AND s.status = 'active'"
                " AND s.paused_at IS NULL",
                [news_list.id],
            )
        }

    # -- articles ----------------------------------------------------------------------

    def upsert_article(self, article: Article, *, now: datetime, feed_id: int | None = None) -> str:
        """Insert or update; returns 'added', 'updated' or 'unchanged'.

        The same article is the one with the same (canonical) URL or, failing that, the
        same non-empty feed guid: importing again updates in place, never duplicates.
        """
        values = _article_values(article)
        columns = "id, " + ", ".join(values)
        existing = self._one(f"SELECT {columns} FROM articles WHERE url = ?", [article.url])
        if existing is None and article.guid:
            existing = self._one(
                f"SELECT {columns} FROM articles WHERE guid = ? ORDER BY id LIMIT 1",
                [article.guid],
            )
        if existing is None:
            self.db.execute(
                f"INSERT INTO articles ({', '.join(values)}, feed_id, created_at, updated_at)"
                f" VALUES ({', '.join('?' * len(values))}, ?, ?, ?)",
                [*values.values(), feed_id, to_text(now), to_text(now)],
            )
            return "added"
        article_id = existing.pop("id")
        if existing == values:
            return "unchanged"
        self.db.execute(
            "UPDATE articles SET " + ", ".join(f"{k} = ?" for k in values) + ", updated_at = ?,"
            " feed_id = COALESCE(?, feed_id) WHERE id = ?",
            [*values.values(), to_text(now), feed_id, article_id],
        )
        return "updated"

    def get_article(self, id_or_url: str | int) -> Article:
        """By id, or by URL (canonical form; tracking parameters ignored)."""
        from digest.sanitizer import canonical_url

        if isinstance(id_or_url, int) or id_or_url.isdigit():
            row = self._one("SELECT * FROM articles WHERE id = ?", [int(id_or_url)])
        else:
            url = canonical_url(id_or_url) or id_or_url
            row = self._one("SELECT * FROM articles WHERE url = ? OR url = ?", [url, id_or_url])
        if row is None:
            raise NotFoundError(f"no article {id_or_url}", hint="see `digest articles list`")
        return _article_from_row(row)

    def remove_article(self, id_or_url: str | int) -> Article:
        found = self.get_article(id_or_url)
        self.db.execute("DELETE FROM articles WHERE id = ?", [found.id])
        return found

    def articles(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        section: str | None = None,
    ) -> list[Article]:
        """Articles, newest first, optionally published in [start, end) and of one section
        (compared without regard to case)."""
        where: list[str] = []
        params: list[Any] = []
        if start is not None:
            where.append("julianday(published_at) >= julianday(?)")
            params.append(to_text(start))
        if end is not None:
            where.append("julianday(published_at) < julianday(?)")
            params.append(to_text(end))
        if section is not None:
            where.append("lower(section) = lower(?)")
            params.append(section)
        sql = "SELECT * FROM articles" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self._rows(sql + " ORDER BY julianday(published_at) DESC, id DESC", params)
        return [_article_from_row(r) for r in rows]

    def articles_between(
        self, start: datetime, end: datetime, *, news_list: NewsList | None = None
    ) -> list[Article]:
        """Articles published in [start, end), newest first.

        With `news_list`, articles from a feed tied to another list are left out.
        """
        only = ""
        params: list[Any] = [to_text(start), to_text(end)]
        if news_list is not None:
            only = (
                " AND (feed_id IS NULL OR feed_id IN"
                " (SELECT id FROM feeds WHERE list_id IS NULL OR list_id = ?))"
            )
            params.append(news_list.id)
        rows = self._rows(
            "SELECT * FROM articles WHERE julianday(published_at) >= julianday(?)"
            " AND julianday(published_at) < julianday(?)"
            + only
            + " ORDER BY julianday(published_at) DESC",
            params,
        )
        return [_article_from_row(r) for r in rows]

    # -- feeds -------------------------------------------------------------------------

    def add_feed(self, feed: Feed, *, now: datetime) -> Feed:
        list_id = self.get_list(feed.list_slug).id if feed.list_slug else None
        try:
            self.db.execute(
                "INSERT INTO feeds (url, title, section, list_id, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [feed.url, feed.title, feed.section, list_id, to_text(now)],
            )
        except sqlite3.IntegrityError:
            raise StoreError(
                f"feed {feed.url} is already subscribed", hint="see `digest feeds list`"
            ) from None
        return self.get_feed(feed.url)

    def feeds(self) -> list[Feed]:
        return [_feed_from_row(r) for r in self._rows(_FEED_SELECT + " ORDER BY f.id")]

    def get_feed(self, id_or_url: str | int) -> Feed:
        if isinstance(id_or_url, int) or id_or_url.isdigit():
            row = self._one(_FEED_SELECT + " WHERE f.id = ?", [int(id_or_url)])
        else:
            row = self._one(_FEED_SELECT + " WHERE f.url = ?", [id_or_url])
        if row is None:
            raise NotFoundError(f"no feed {id_or_url}", hint="see `digest feeds list`")
        return _feed_from_row(row)

    def remove_feed(self, id_or_url: str | int) -> Feed:
        """Unsubscribe from a feed; the articles it brought stay."""
        feed = self.get_feed(id_or_url)
        self.db.execute("DELETE FROM feeds WHERE id = ?", [feed.id])
        return feed

    def record_feed_fetch(
        self,
        feed_id: int,
        *,
        now: datetime,
        error: str = "",
        etag: str | None = None,
        last_modified: str | None = None,
        title: str | None = None,
    ) -> None:
        """After each fetch: a failure counts up, a success resets the count."""
        stamp = to_text(now)
        if error:
            self.db.execute(
                "UPDATE feeds SET failures = failures + 1, last_error = ?, last_fetched_at = ?"
                " WHERE id = ?",
                [error, stamp, feed_id],
            )
            return
        self.db.execute(
            "UPDATE feeds SET failures = 0, last_error = '', last_fetched_at = ?, last_ok_at = ?,"
            " etag = COALESCE(?, etag), last_modified = COALESCE(?, last_modified),"
            " title = COALESCE(NULLIF(?, ''), title) WHERE id = ?",
            [stamp, stamp, etag, last_modified, title, feed_id],
        )

    # -- editions and deliveries -------------------------------------------------------

    def ensure_edition(
        self,
        news_list: NewsList,
        day: date,
        *,
        due_at: datetime,
        subject: str,
        article_count: int,
        now: datetime,
    ) -> int:
        self.db.execute(
            "INSERT INTO editions (list_id, date, due_at, subject, article_count, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (list_id, date) DO NOTHING",
            [news_list.id, day.isoformat(), to_text(due_at), subject, article_count, to_text(now)],
        )
        row = self._one(
            "SELECT id FROM editions WHERE list_id = ? AND date = ?",
            [news_list.id, day.isoformat()],
        )
        assert row is not None
        return int(row["id"])

    def find_edition(self, news_list: NewsList, day: date) -> int | None:
        row = self._one(
            "SELECT id FROM editions WHERE list_id = ? AND date = ?",
            [news_list.id, day.isoformat()],
        )
        return None if row is None else int(row["id"])

    def edition_dates(self, news_list: NewsList, *, limit: int = 400) -> list[date]:
        """Dates of the list's editions that went out to at least one subscriber, newest first."""
        return [
            date.fromisoformat(row["date"])
            for row in self._rows(
                "SELECT e.date FROM editions e WHERE e.list_id = ? AND EXISTS"
                " (SELECT 1 FROM deliveries d WHERE d.edition_id = e.id AND d.status = 'sent')"
                " ORDER BY e.date DESC LIMIT ?",
                [news_list.id, limit],
            )
        ]

    def delivered_subscriber_ids(self, edition_id: int) -> set[int]:
        return {
            r["subscriber_id"]
            for r in self._rows(
                "SELECT subscriber_id FROM deliveries WHERE edition_id = ? AND status = 'sent'",
                [edition_id],
            )
        }

    def record_delivery(
        self,
        edition_id: int,
        subscriber_id: int,
        *,
        status: str,
        message_id: str,
        reply: str,
        now: datetime,
    ) -> None:
        stamp = to_text(now)
        self.db.execute(
            "INSERT INTO deliveries (edition_id, subscriber_id, status, message_id, attempts,"
            " last_reply, updated_at, sent_at, created_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)"
            " ON CONFLICT (edition_id, subscriber_id) DO UPDATE SET status = excluded.status,"
            " attempts = attempts + 1, last_reply = excluded.last_reply,"
            " updated_at = excluded.updated_at, sent_at = excluded.sent_at",
            [
                edition_id,
                subscriber_id,
                status,
                message_id,
                reply,
                stamp,
                stamp if status == "sent" else None,
                stamp,
            ],
        )

    # -- the delivery ledger (see delivery.py) ------------------------------------------

    def queue_deliveries(
        self,
        edition_id: int,
        news_list: NewsList,
        *,
        message_id: Callable[[int], str],
        now: datetime,
        zone_filter: Callable[[str], bool] | None = None,
    ) -> int:
        """A queued row for every active subscriber of the list who has none yet.

        One statement: nothing is held in memory. `message_id(subscriber_id)` fixes each
        row's Message-ID now, so every later attempt carries the same one. With
        `zone_filter`, only subscribers whose time zone (as stored) it accepts.
        """
        conn = self.db.conn
        conn.create_function("digest_message_id", 1, message_id, deterministic=True)
        accept = zone_filter or (lambda zone: True)
        conn.create_function("digest_zone_ok", 1, accept, deterministic=True)
        stamp = to_text(now)
        cursor = conn.execute(
            "INSERT OR IGNORE INTO deliveries (edition_id, subscriber_id, status, message_id,"
            " created_at, updated_at) SELECT ?, s.id, 'queued', digest_message_id(s.id), ?, ?"
            " FROM subscriptions x JOIN subscribers s ON s.id = x.subscriber_id"
            " WHERE x.list_id = ? AND x.status = 'active' AND s.status = 'active'"
            " AND s.paused_at IS NULL AND digest_zone_ok(s.timezone) ORDER BY s.id",
            [edition_id, stamp, stamp, news_list.id],
        )
        return max(cursor.rowcount, 0)

    def pending_deliveries(
        self,
        edition_id: int,
        list_id: int,
        *,
        after_id: int = 0,
        due_at: datetime | None = None,
        limit: int = 200,
    ) -> list[Delivery]:
        """The next `limit` rows (by id, after `after_id`) still to send.

        With `due_at`, only rows whose retry time has come (queued rows always have).
        """
        sql = (
            "SELECT d.*, s.email, s.name, s.locale, s.timezone, s.status AS subscriber_status,"
            " x.sections AS list_sections FROM deliveries d"
            " JOIN subscribers s ON s.id = d.subscriber_id"
            " LEFT JOIN subscriptions x ON x.subscriber_id = d.subscriber_id AND x.list_id = ?"
            f" WHERE d.edition_id = ? AND d.id > ? AND d.status IN {PENDING_STATES!r}"
        )
        params: list[Any] = [list_id, edition_id, after_id]
        if due_at is not None:
            sql += " AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= ?)"
            params.append(to_precise_text(due_at))
        rows = list(self._rows(sql + " ORDER BY d.id LIMIT ?", [*params, limit]))
        return [_delivery_from_row(r) for r in rows]

    def count_pending(
        self, edition_id: int, include: Callable[[Delivery], bool] | None = None
    ) -> int:
        """Rows still to send (queued, sending or deferred), those `include` accepts."""
        counts = self.delivery_counts(edition_id, include)
        return sum(counts.get(s, 0) for s in PENDING_STATES)

    def suppression(self, subscriber_id: int, list_id: int) -> str:
        """Why this subscriber must not get this list's mail now ('' when they may)."""
        row = self._one(
            "SELECT s.status AS s_status, s.paused_at, x.status AS x_status FROM subscribers s"
            " LEFT JOIN subscriptions x ON x.subscriber_id = s.id AND x.list_id = ?"
            " WHERE s.id = ?",
            [list_id, subscriber_id],
        )
        if row is None:
            return "subscriber deleted"
        if row["s_status"] != "active":
            return f"subscriber {row['s_status']}"
        if row["paused_at"]:
            return "subscriber paused all emails"
        if row["x_status"] != "active":
            return "unsubscribed from the list"
        return ""

    def mark_sending(self, delivery_id: int, *, now: datetime) -> None:
        """Written before the message leaves: a crash after this resends the same message."""
        self.db.conn.execute(
            "UPDATE deliveries SET status = 'sending', attempts = attempts + 1, updated_at = ?"
            " WHERE id = ?",
            [to_text(now), delivery_id],
        )

    def finish_delivery(
        self,
        delivery_id: int,
        *,
        status: str,
        reply: str,
        now: datetime,
        code: int | None = None,
        retry_at: datetime | None = None,
        bounce_subscriber: int | None = None,
    ) -> None:
        """Record what became of one attempt (and mark a bounced subscriber) in one step."""
        stamp = to_text(now)
        with self.db.atomic() if bounce_subscriber is not None else nullcontext():
            self.db.conn.execute(
                "UPDATE deliveries SET status = ?, last_code = ?, last_reply = ?, updated_at = ?,"
                " next_attempt_at = ?, sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END"
                " WHERE id = ?",
                [
                    status,
                    code,
                    reply[:1000],
                    stamp,
                    to_precise_text(retry_at) if retry_at else None,
                    status,
                    stamp,
                    delivery_id,
                ],
            )
            if bounce_subscriber is not None:
                self.mark_subscriber_bounced(bounce_subscriber, now=now)

    def release_delivery(
        self, delivery_id: int, *, reply: str, now: datetime, attempted: bool = True
    ) -> None:
        """Back to queued (a stopped run's messages); `attempted=False`: it never left."""
        self.db.conn.execute(
            "UPDATE deliveries SET status = 'queued', attempts = attempts - ?,"
            " last_reply = CASE WHEN ? = '' THEN last_reply ELSE ? END, updated_at = ?"
            " WHERE id = ? AND status = 'sending'",
            [0 if attempted else 1, reply, reply[:1000], to_text(now), delivery_id],
        )

    def expire_deliveries(self, edition_id: int, *, reason: str, now: datetime) -> int:
        """Deferred rows become failed: retrying stops once the next edition is due."""
        cursor = self.db.conn.execute(
            "UPDATE deliveries SET status = 'failed', last_reply = ? || ': ' || last_reply,"
            " updated_at = ? WHERE edition_id = ? AND status = 'deferred'",
            [reason, to_text(now), edition_id],
        )
        return max(cursor.rowcount, 0)

    def next_retry_at(self, edition_id: int) -> datetime | None:
        row = self._one(
            "SELECT min(next_attempt_at) AS t FROM deliveries"
            " WHERE edition_id = ? AND status = 'deferred'",
            [edition_id],
        )
        return from_text(row["t"]) if row and row["t"] else None

    def sent_since(self, moment: datetime, *, limit: int) -> list[datetime]:
        """When the latest `limit` messages sent after `moment` went out (any edition)."""
        return [
            from_text(r["sent_at"])
            for r in self._rows(
                "SELECT sent_at FROM deliveries WHERE sent_at IS NOT NULL AND sent_at > ?"
                " ORDER BY sent_at DESC LIMIT ?",
                [to_text(moment), limit],
            )
        ]

    def mark_subscriber_bounced(self, subscriber_id: int, *, now: datetime) -> None:
        """A hard bounce: this address is never mailed again (until someone fixes it)."""
        with suppress(NotFoundError):  # removed while its message was out
            self.set_subscriber_status(subscriber_id, "bounced", now=now)

    def deliveries(self, edition_id: int) -> Iterator[Delivery]:
        """Every ledger row of the edition, by id."""
        for row in self._rows(
            "SELECT d.*, s.email, s.name, s.locale, s.timezone, s.status AS subscriber_status,"
            " NULL AS list_sections FROM deliveries d"
            " JOIN subscribers s ON s.id = d.subscriber_id WHERE d.edition_id = ? ORDER BY d.id",
            [edition_id],
        ):
            yield _delivery_from_row(row)

    def delivery_counts(
        self, edition_id: int, include: Callable[[Delivery], bool] | None = None
    ) -> dict[str, int]:
        """Ledger rows of the edition by status (only those `include` accepts, if given)."""
        if include is not None:
            counts: dict[str, int] = {}
            for delivery in self.deliveries(edition_id):
                if include(delivery):
                    counts[delivery.status] = counts.get(delivery.status, 0) + 1
            return counts
        return {
            r["status"]: r["n"]
            for r in self._rows(
                "SELECT status, count(*) AS n FROM deliveries WHERE edition_id = ? GROUP BY status",
                [edition_id],
            )
        }


def address_hash(email: str) -> str:
    """What a suppression entry keeps of an address: its SHA-256, case-folded."""
    return hashlib.sha256(email.strip().casefold().encode("utf-8")).hexdigest()


_FEED_SELECT = "SELECT f.*, l.slug AS list_slug FROM feeds f LEFT JOIN lists l ON l.id = f.list_id"


def _feed_from_row(row: dict[str, Any]) -> Feed:
    return Feed(
        id=row["id"],
        url=row["url"],
        title=row["title"],
        section=row["section"],
        list_slug=row["list_slug"] or "",
        etag=row["etag"],
        last_modified=row["last_modified"],
        failures=row["failures"],
        last_error=row["last_error"],
        last_fetched_at=from_text(row["last_fetched_at"]) if row["last_fetched_at"] else None,
        last_ok_at=from_text(row["last_ok_at"]) if row["last_ok_at"] else None,
    )


_ARTICLE_FIELDS = (
    "url",
    "guid",
    "title",
    "section",
    "published_at",
    "summary",
    "body_html",
    "author",
    "source",
    "image_url",
    "image_alt",
    "language",
)


def _article_values(article: Article) -> dict[str, Any]:
    values = {name: getattr(article, name) for name in _ARTICLE_FIELDS}
    values["published_at"] = to_text(article.published_at)
    return values


def _article_from_row(row: dict[str, Any]) -> Article:
    return Article(
        id=row["id"],
        published_at=from_text(row["published_at"]),
        **{k: row[k] or "" for k in _ARTICLE_FIELDS if k != "published_at"},
    )


def _list_from_row(row: dict[str, Any]) -> NewsList:
    return NewsList(
        id=row["id"],
        slug=row["slug"],
        name=row["name"],
        from_addr=row["from_addr"],
        send_at=time.fromisoformat(row["send_at"]),
        timezone=row["timezone"],
        locale=row["locale"],
        sections=tuple(json.loads(row["sections"])),
        address=row["address"],
    )


def _delivery_from_row(row: dict[str, Any]) -> Delivery:
    sections = row["list_sections"]
    return Delivery(
        id=row["id"],
        edition_id=row["edition_id"],
        subscriber=Subscriber(
            id=row["subscriber_id"],
            email=row["email"],
            name=row["name"],
            locale=row["locale"],
            timezone=row["timezone"],
            status=row["subscriber_status"],
        ),
        status=row["status"],
        message_id=row["message_id"],
        attempts=row["attempts"],
        last_reply=row["last_reply"],
        sections=tuple(json.loads(sections)) if sections else (),
    )


def _subscriber_from_row(row: dict[str, Any]) -> Subscriber:
    return Subscriber(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        locale=row["locale"],
        timezone=row["timezone"],
        status=row["status"],
    )
