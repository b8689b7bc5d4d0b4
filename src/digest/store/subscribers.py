"""Subscribers: adding (one or a whole import), finding, listing, status, removal and
the suppression list that keeps a removed address from coming back."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from digest.errors import InputError, NotFoundError
from digest.models import SUBSCRIBER_STATUSES, NewsList, Subscriber, SubscriberImport
from digest.store.base import event_row, sections_json, to_text
from digest.store.lists import ListsMixin
from digest.store.schema import TALLY_FILL

# Statuses that stop mail, from mildest to strongest: a merge keeps the strongest.
_STRENGTH = {status: rank for rank, status in enumerate(SUBSCRIBER_STATUSES)}

# The event a change of the subscriber's own status writes (Store.emit_event).
_STATUS_EVENTS = {
    "active": "subscribe",
    "unsubscribed": "unsubscribe",
    "bounced": "bounce",
    "complained": "complaint",
}

# Join a list, or change the sections wanted from it; no sections given keeps the old ones.
_JOIN_LIST = (
    "INSERT INTO subscriptions (subscriber_id, list_id, sections, created_at)"
    " VALUES (?, ?, ?, ?) ON CONFLICT (subscriber_id, list_id) DO UPDATE SET"
    " sections = CASE WHEN excluded.sections = '[]' THEN sections"
    " ELSE excluded.sections END"
)


# What a bulk write suspends: the triggers that keep the roster log and the list tallies
# row by row (three statements for each subscription written; ~10 s of a 1M import).
_BULK_TRIGGERS = (
    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
    " AND tbl_name IN ('subscribers', 'subscriptions')"
    " AND (name LIKE 'roster\\_%' ESCAPE '\\' OR name LIKE 'tally\\_%' ESCAPE '\\')"
)
BULK_CACHE_KB = 32_768  # SQLite's page cache while a bulk write runs (2 MB by default)


class SubscribersMixin(ListsMixin):
    @contextmanager
    def bulk_writes(self) -> Iterator[None]:
        """Inside the caller's transaction, for a big import: the roster and tally
        triggers are dropped, and put back when the block ends without an error, with
        the tallies counted afresh and one list-wide entry in the roster log (the
        log's readers then re-check the whole roster, as they would after 20,000
        changes). An error leaves the work to the transaction's rollback, which
        brings the triggers back with everything else. SQLite's schema changes are
        transactional, so other connections never see the triggers missing.

        Worth it past a few tens of thousands of rows: the recount reads every
        subscription once (~0.4 s at a million)."""
        conn = self.db.conn
        assert conn.in_transaction, "bulk_writes runs inside a transaction"
        triggers = conn.execute(_BULK_TRIGGERS).fetchall()
        cache = int(conn.execute("PRAGMA cache_size").fetchone()[0])
        for name, _ in triggers:
            conn.execute(f'DROP TRIGGER "{name}"')
        conn.execute(f"PRAGMA cache_size=-{BULK_CACHE_KB}")
        try:
            yield
        finally:
            conn.execute(f"PRAGMA cache_size={cache}")
        for _, sql in triggers:
            conn.execute(sql)
        conn.execute("DELETE FROM list_tallies")
        conn.execute(TALLY_FILL)
        conn.execute("UPDATE roster_version SET version = version + 1")
        conn.execute(
            "INSERT INTO roster_changes (version, subscriber_id, old_zone)"
            " SELECT version, NULL, NULL FROM roster_version"
        )

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
        with self.transaction():
            return self._upsert_subscriber(subscriber, lists, now)

    def _upsert_subscriber(
        self,
        subscriber: Subscriber,
        lists: Iterable[tuple[NewsList, tuple[str, ...]]],
        now: datetime,
    ) -> tuple[Subscriber, bool]:
        stamp = to_text(now)
        existing = self._one(
            "SELECT id FROM subscribers WHERE email = ? COLLATE NOCASE", [subscriber.email]
        )
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
            joined = self.events and not self._one(
                "SELECT 1 AS x FROM subscriptions WHERE subscriber_id = ? AND list_id = ?",
                [subscriber_id, news_list.id],
            )
            self.db.execute(
                _JOIN_LIST,
                [subscriber_id, news_list.id, sections_json(sections), stamp],
            )
            if joined:
                self._emit_subscribe(int(subscriber_id or 0), news_list.id, now, via="admin")
        return self.get_subscriber(subscriber.email), existing is None

    def _emit_subscribe(
        self, subscriber_id: int, list_id: int | None, now: datetime, **data: Any
    ) -> None:
        """A subscribe event, when the address now receives that list."""
        row = self._one("SELECT status FROM subscribers WHERE id = ?", [subscriber_id])
        if row is not None and row["status"] == "active":
            self.emit_event(
                "subscribe", now=now, subscriber_id=subscriber_id, list_id=list_id, **data
            )

    def get_subscriber(self, email: str) -> Subscriber:
        """By address, whatever the case of its local part (one subscriber per address)."""
        row = self._one("SELECT * FROM subscribers WHERE email = ? COLLATE NOCASE", [email])
        if row is None:
            raise NotFoundError(f"no subscriber {email}", hint="see `digest subscribers list`")
        return _subscriber_from_row(row)

    def find_subscriber(self, email_or_id: str | int) -> Subscriber:
        """By id (an int, or digits) or by normalised address."""
        if isinstance(email_or_id, int) or email_or_id.isdigit():
            found = self.get_subscriber_by_id(int(email_or_id))
            if found is None:
                raise NotFoundError(
                    f"no subscriber with id {email_or_id}", hint="see `digest subscribers list`"
                )
            return found
        return self.get_subscriber(email_or_id)

    def set_subscriber_status(
        self,
        email_or_id: str | int,
        status: str,
        *,
        now: datetime,
        emit: bool = True,
        event: dict[str, Any] | None = None,
    ) -> Subscriber:
        """Set active / unsubscribed / bounced / complained. Sending skips all but active.

        The delivery side calls this with "bounced" or "complained"; it touches nothing
        else (list subscriptions keep their own status). A change of status writes its
        event (subscribe, unsubscribe, bounce, complaint; `event` adds fields to it) in
        the same transaction, unless `emit` is False (the caller writes its own).
        """
        if status not in SUBSCRIBER_STATUSES:
            raise InputError(
                f"unknown subscriber status {status!r}",
                hint="one of: " + ", ".join(SUBSCRIBER_STATUSES),
            )
        subscriber = self.find_subscriber(email_or_id)
        with self.transaction():
            self.db.execute(
                "UPDATE subscribers SET status = ?, updated_at = ? WHERE id = ?",
                [status, to_text(now), subscriber.id],
            )
            if status == "active":  # made active by hand: soft bounces count from zero again
                self.db.execute("DELETE FROM soft_bounces WHERE subscriber_id = ?", [subscriber.id])
            if emit and status != subscriber.status:
                self.emit_event(
                    _STATUS_EVENTS[status],
                    now=now,
                    subscriber_id=int(subscriber.id or 0),
                    **(event or {}),
                )
        return self.find_subscriber(int(subscriber.id or 0))

    def remove_subscriber(self, email: str, *, forget: bool = False, now: datetime) -> bool:
        """Erase the person's data but keep a suppression entry (a hash of the address),
        so a later import does not re-subscribe them; `forget` removes that entry too.

        Returns whether a subscriber row was deleted (with `forget`, an address that is
        only suppressed is not an error).
        """
        row = self._one("SELECT id FROM subscribers WHERE email = ? COLLATE NOCASE", [email])
        digest_of = address_hash(email)
        if row is None and not (forget and self.is_suppressed(email)):
            raise NotFoundError(f"no subscriber {email}", hint="see `digest subscribers list`")
        with self.transaction():
            if row is not None:
                if self._one(
                    "SELECT 1 AS x FROM subscribers WHERE id = ? AND status = 'active'", [row["id"]]
                ):  # their data goes; the receiver still hears that mail to them stops
                    self.emit_event(
                        "unsubscribe", now=now, subscriber_id=int(row["id"]), via="removed"
                    )
                self.db.execute("DELETE FROM subscribers WHERE id = ?", [row["id"]])
            # their sign-ups too (the consent record, the name typed, the IP prefix): an
            # address added again later must not show a consent given before its removal
            self.db.execute("DELETE FROM signups WHERE email = ? COLLATE NOCASE", [email])
            if forget:
                self.db.execute("DELETE FROM suppressions WHERE address_hash = ?", [digest_of])
            else:
                self.db.execute(
                    "INSERT INTO suppressions (address_hash, reason, created_at)"
                    " VALUES (?, 'removed', ?) ON CONFLICT (address_hash) DO NOTHING",
                    [digest_of, to_text(now)],
                )
        return row is not None

    def is_suppressed(self, email: str) -> bool:
        row = self._one(
            "SELECT 1 AS x FROM suppressions WHERE address_hash = ?", [address_hash(email)]
        )
        return row is not None

    def suppressed_among(self, emails: Iterable[str]) -> set[str]:
        """Those of `emails` that were removed at their owner's request (one query)."""
        if self._one("SELECT 1 AS x FROM suppressions LIMIT 1") is None:
            return set()  # nothing to hash against: most imports
        hashes = {address_hash(e): e for e in emails}
        found = self.db.conn.execute(
            "SELECT address_hash FROM suppressions WHERE address_hash IN"
            " (SELECT value FROM json_each(?))",
            [json.dumps(list(hashes))],
        )
        return {hashes[h] for (h,) in found}

    def unsuppress(self, email: str) -> None:
        self.db.execute("DELETE FROM suppressions WHERE address_hash = ?", [address_hash(email)])

    def merge_subscribers(
        self, rows: Sequence[SubscriberImport], *, now: datetime, resubscribe: bool = False
    ) -> MergeCounts:
        """Upsert one chunk of an import (a few thousand rows) in the caller's transaction.

        Same merge rules as `upsert_subscriber`: fields given replace stored ones, list
        memberships are added (never removed), sections given replace a list's, and a
        row that would change nothing is not written. Consent is never widened: an
        unsubscribed, bounced or complained subscriber, or an unsubscribed list
        subscription, stays so (counted in `kept`) unless `resubscribe`; a status the
        file gives that stops mail (unsubscribed, bounced, complained) is applied.
        Only the stored rows of this chunk's addresses are read, so memory stays flat.
        """
        stamp = to_text(now)
        conn = self.db.conn
        emails = json.dumps([r.subscriber.email for r in rows])
        states: dict[str, _State] = {}  # by identity: address_key
        for row in conn.execute(
            "SELECT id, email, name, locale, timezone, status, paused_at FROM subscribers"
            " WHERE email COLLATE NOCASE IN (SELECT value FROM json_each(?))",
            [emails],
        ):
            sid, email, name, locale, zone, status, paused = row
            states[address_key(email)] = _State(sid, email, name, locale, zone, status, paused, {})
        by_id = {state.id: state for state in states.values()}
        if by_id:
            for subscriber_id, list_id, sections, status in conn.execute(
                "SELECT subscriber_id, list_id, sections, status FROM subscriptions"
                " WHERE subscriber_id IN (SELECT value FROM json_each(?))",
                [json.dumps(list(by_id))],
            ):
                by_id[subscriber_id].subs[list_id] = [sections, status]
        counts = MergeCounts()
        dirty: dict[str, _State] = {}
        before: dict[int, tuple[str, dict[int, str]]] = {}  # with events: as stored
        fresh: dict[tuple[tuple[int, tuple[str, ...], str], ...], dict[int, list[str]]] = {}
        for item in rows:
            email = item.subscriber.email
            key = address_key(email)
            state = states.get(key)
            if state is None:  # the address as first given is the one mail goes to
                sub = item.subscriber
                subs = fresh.get(item.memberships)  # shared by the new rows of one shape
                if subs is None:
                    subs = {i: [sections_json(x), st or "active"] for i, x, st in item.memberships}
                    fresh[item.memberships] = subs
                state = _State(
                    None,
                    email,
                    sub.name,
                    sub.locale,
                    sub.timezone,
                    item.status or "active",
                    item.paused_at or None,
                    subs,
                )
                states[key] = dirty[key] = state
                counts.added += 1
                continue
            if state.id is None:  # new in this chunk: its own copy before it changes
                state.subs = {k: list(v) for k, v in state.subs.items()}
            if self.events and state.id is not None and state.id not in before:
                before[state.id] = (state.status or "", {k: v[1] for k, v in state.subs.items()})
            changed, kept = _merge_row(state, item, resubscribe=resubscribe)
            counts.kept += kept
            if changed:
                counts.updated += 1
                dirty[key] = state
            else:
                counts.unchanged += 1
        self._write_states(list(dirty.values()), stamp)
        if self.events:
            self._merge_events(list(dirty.values()), before, now)
        return counts

    def _merge_events(
        self, states: list[_State], before: dict[int, tuple[str, dict[int, str]]], now: datetime
    ) -> None:
        """The events of one import chunk, from each written row before and after, written
        in one statement (an event a row: a query each would double an import's time)."""
        slugs = {int(r["id"]): r["slug"] for r in self._rows("SELECT id, slug FROM lists")}
        rows = []
        for state in states:
            assert state.id is not None
            old_status, old_subs = before.get(state.id, ("", {}))  # "": new in this file
            if state.status is not None and state.status != "active":
                if old_status not in ("", state.status):  # the file stops their mail
                    lists = sorted(slugs[i] for i in state.subs if i in slugs)
                    data = {"list": None, "lists": lists, "via": "import"}
                    kind = _STATUS_EVENTS[state.status]
                    rows.append(event_row(kind, now, state.id, state.email, data))
                continue
            for list_id, (_, status) in state.subs.items():
                if status == "active" and (
                    old_status != "active" or old_subs.get(list_id) != "active"
                ):
                    data = {"list": slugs.get(list_id), "via": "import"}
                    rows.append(event_row("subscribe", now, state.id, state.email, data))
        self.write_events(rows)

    def _write_states(self, states: list[_State], stamp: str) -> None:
        conn = self.db.conn
        new = [s for s in states if s.id is None]
        known = [s for s in states if s.id is not None]
        if new:  # the ids SQLite would choose (the highest + 1), given: no lookup after
            first = int(
                conn.execute("SELECT coalesce(max(id), 0) + 1 FROM subscribers").fetchone()[0]
            )
            for offset, s in enumerate(new):
                s.id = first + offset
        conn.executemany(
            "INSERT INTO subscribers (id, email, name, locale, timezone, status, paused_at,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (s.id, s.email, s.name, s.locale, s.timezone, s.status, s.paused_at, stamp, stamp)
                for s in new
            ],
        )
        conn.executemany(
            "UPDATE subscribers SET name = ?, locale = ?, timezone = ?, status = ?,"
            " paused_at = ?, updated_at = ? WHERE id = ?",
            [(s.name, s.locale, s.timezone, s.status, s.paused_at, stamp, s.id) for s in known],
        )
        conn.executemany(
            "INSERT INTO subscriptions (subscriber_id, list_id, sections, status, created_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (subscriber_id, list_id) DO UPDATE SET"
            " sections = excluded.sections, status = excluded.status",
            [
                (s.id, list_id, sections, status, stamp)
                for s in states
                for list_id, (sections, status) in s.subs.items()
            ],
        )

    def subscribers(
        self, list_slug: str | None = None, *, status: str | None = None
    ) -> Iterator[tuple[Subscriber, list[str]]]:
        """Every subscriber (of one list, with one status, if given) with their lists' slugs.

        With a list, `status` is the status for that list: a subscriber who left only
        that list counts as unsubscribed there. Streamed in address order.
        """
        for subscriber, sections in self.subscriber_listing(list_slug, status=status):
            yield subscriber, sorted(sections)

    def subscriber_listing(
        self, list_slug: str | None = None, *, status: str | None = None
    ) -> Iterator[tuple[Subscriber, dict[str, list[str]]]]:
        """Like `subscribers`, with each list's chosen sections ({slug: sections}, by
        slug), read in the same query: one pass over the table, however long the list."""
        for subscriber, sections, _ in self._listing(list_slug, status, ""):
            yield subscriber, sections

    def _listing(
        self, list_slug: str | None, status: str | None, column: str, column_params: Any = ()
    ) -> Iterator[tuple[Subscriber, dict[str, list[str]], Any]]:
        """`subscriber_listing`'s query, with one more column (`column`, SQL over `s`;
        '' for none) given as the third item."""
        where, params = self._subscriber_query(list_slug, status)
        effective: list[Any] = []
        status_sql = "s.status"
        if list_slug:  # the status shown is the status for that list, as `status` filters it
            status_sql = (
                "CASE WHEN s.status = 'active' AND (SELECT x.status FROM subscriptions x"
                " WHERE x.subscriber_id = s.id AND x.list_id = ?) = 'unsubscribed'"
                " THEN 'unsubscribed' ELSE s.status END"
            )
            effective = [self.get_list(list_slug).id]
        sql = (
            f"SELECT s.id, s.email, s.name, s.locale, s.timezone, {status_sql},"
            " (SELECT json_group_array(json_array(l.slug, json(x.sections)))"
            " FROM subscriptions x JOIN lists l ON l.id = x.list_id"
            f" WHERE x.subscriber_id = s.id), {column or 'NULL'} FROM subscribers s"
            + where
            + " ORDER BY s.email"
        )
        for sid, email, name, locale, zone, shown, lists, extra in self.db.conn.execute(
            sql, [*effective, *column_params, *params]
        ):
            subscriber = Subscriber(
                id=sid, email=email, name=name, locale=locale, timezone=zone, status=shown
            )
            yield subscriber, dict(sorted(json.loads(lists))) if lists != "[]" else {}, extra

    def count_subscribers(self, list_slug: str | None = None, *, status: str | None = None) -> int:
        if status is not None and status not in SUBSCRIBER_STATUSES:
            raise InputError(
                f"unknown status {status!r}", hint="one of: " + ", ".join(SUBSCRIBER_STATUSES)
            )
        if status is None:  # an index count, no row read
            if list_slug:
                return self.count_by_status(list_slug, statuses=())["total"]
            return int(self.db.conn.execute("SELECT count(*) FROM subscribers").fetchone()[0])
        return self.count_by_status(list_slug, statuses=(status,))[status]

    def count_by_status(
        self, list_slug: str | None = None, *, statuses: Sequence[str] = SUBSCRIBER_STATUSES
    ) -> dict[str, int]:
        """{'total': n, 'active': n, ...} in one pass, with the filters of `subscribers`:
        for a list, 'active' means active on that list too, 'unsubscribed' counts those
        who left only that list, and a subscriber counts once in each status that fits.

        For a list the figures come from `list_tallies` (kept by triggers, migration
        0021): a few rows per list, whatever its size."""
        conditions = {
            "active": "s.status = 'active' AND x.status = 'active'",
            "unsubscribed": "s.status = 'unsubscribed' OR x.status = 'unsubscribed'",
            "bounced": "s.status = 'bounced'",
            "complained": "s.status = 'complained'",
        }
        if list_slug:
            list_id = self.get_list(list_slug).id
            sums = ", ".join(
                "coalesce(sum(CASE WHEN "
                + conditions[st].replace("s.status", "subscriber_status").replace("x.", "")
                + " THEN n END), 0)"
                for st in statuses
            )
            row = self.db.conn.execute(
                f"SELECT coalesce(sum(n), 0){', ' if sums else ''}{sums} FROM list_tallies"
                " WHERE list_id = ? AND subscriber_status != ''",
                [list_id],
            ).fetchone()
        else:
            sums = ", ".join(f"coalesce(sum({conditions[st]}), 0)" for st in statuses)
            row = self.db.conn.execute(
                f"SELECT count(*){', ' if sums else ''}"
                f"{sums.replace('x.status', 's.status')} FROM subscribers s"
            ).fetchone()
        return dict(zip(("total", *statuses), map(int, row), strict=True))

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

    def subscriber_merges(self) -> dict[int, int]:
        """{merged-away id: the subscriber it became}: duplicates a migration merged.

        Links in mail sent before the merge carry the old id; they must keep working."""
        return dict(self.db.conn.execute("SELECT merged_id, subscriber_id FROM subscriber_merges"))

    def get_subscriber_by_id(self, subscriber_id: int) -> Subscriber | None:
        row = self._one("SELECT * FROM subscribers WHERE id = ?", [subscriber_id])
        return None if row is None else _subscriber_from_row(row)


@dataclass(slots=True)
class MergeCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    kept: int = 0  # rows that asked for mail an unsubscribe, bounce or complaint stopped


@dataclass(slots=True, eq=False)
class _State:
    """A subscriber as stored (or about to be), while one import chunk is merged."""

    id: int | None
    email: str
    name: str
    locale: str
    timezone: str
    status: str | None  # None: new, not decided yet
    paused_at: str | None
    subs: dict[int, list[str]]  # list id -> [sections JSON, status]


def _merge_row(state: _State, item: SubscriberImport, *, resubscribe: bool) -> tuple[bool, bool]:
    """Apply one import row to `state`: whether it changed anything, and whether it kept
    a suppression the row would have lifted."""
    sub = item.subscriber
    changed = kept = False
    for attr, new in (("name", sub.name), ("locale", sub.locale), ("timezone", sub.timezone)):
        if new and new != getattr(state, attr):
            setattr(state, attr, new)
            changed = True
    given = item.status
    status = state.status
    if status is None:  # new
        status = given or "active"
    elif given and given != "active":
        if resubscribe or _STRENGTH[given] > _STRENGTH[status]:
            status = given
    elif status != "active":
        if resubscribe:
            status = "active"
        else:
            kept = True
    if status != state.status:
        state.status, changed = status, True
    if item.paused_at and not state.paused_at:
        state.paused_at, changed = item.paused_at, True
    for list_id, sections, list_status in item.memberships:
        wanted = sections_json(sections)
        stored = state.subs.get(list_id)
        if stored is None:
            state.subs[list_id] = [wanted, list_status or "active"]
            changed = True
            continue
        if wanted != "[]" and wanted != stored[0]:
            stored[0], changed = wanted, True
        if list_status == "unsubscribed":
            if stored[1] != "unsubscribed":
                stored[1], changed = "unsubscribed", True
        elif stored[1] == "unsubscribed":
            if resubscribe:
                stored[1], changed = "active", True
            else:
                kept = True
    return changed, kept


_ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def address_key(email: str) -> str:
    """An address's identity: ASCII letters folded, as SQLite's NOCASE compares them.

    Local parts are ASCII and domains are stored normalised, so this is the address
    with its local part case-folded; the address as given is kept for sending.
    """
    return email.lower() if email.isascii() else email.translate(_ASCII_FOLD)


def address_hash(email: str) -> str:
    """What a suppression entry keeps of an address: its SHA-256, case-folded."""
    return hashlib.sha256(email.strip().casefold().encode("utf-8")).hexdigest()


def _subscriber_from_row(row: dict[str, Any]) -> Subscriber:
    return Subscriber(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        locale=row["locale"],
        timezone=row["timezone"],
        status=row["status"],
    )
