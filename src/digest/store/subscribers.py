"""Subscribers: adding (one or a whole import), finding, listing, status, removal and
the suppression list that keeps a removed address from coming back."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from digest.errors import InputError, NotFoundError
from digest.models import SUBSCRIBER_STATUSES, NewsList, Subscriber
from digest.store.base import sections_json, to_text
from digest.store.lists import ListsMixin

# Join a list, or change the sections wanted from it; no sections given keeps the old ones.
_JOIN_LIST = (
    "INSERT INTO subscriptions (subscriber_id, list_id, sections, created_at)"
    " VALUES (?, ?, ?, ?) ON CONFLICT (subscriber_id, list_id) DO UPDATE SET"
    " sections = CASE WHEN excluded.sections = '[]' THEN sections"
    " ELSE excluded.sections END"
)


class SubscribersMixin(ListsMixin):
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
                _JOIN_LIST,
                [subscriber_id, news_list.id, sections_json(sections), stamp],
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
            found = self.get_subscriber_by_id(int(email_or_id))
            if found is None:
                raise NotFoundError(
                    f"no subscriber with id {email_or_id}", hint="see `digest subscribers list`"
                )
            return found
        return self.get_subscriber(email_or_id)

    def set_subscriber_status(
        self, email_or_id: str | int, status: str, *, now: datetime
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
            [status, to_text(now), subscriber.id],
        )
        if status == "active":  # made active by hand: soft bounces count from zero again
            self.db.execute("DELETE FROM soft_bounces WHERE subscriber_id = ?", [subscriber.id])
        return self.find_subscriber(int(subscriber.id or 0))

    def remove_subscriber(self, email: str, *, forget: bool = False, now: datetime) -> bool:
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
                    [digest_of, to_text(now)],
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
        for email, list_id, stored_sections in conn.execute(
            "SELECT s.email, x.list_id, x.sections FROM subscriptions x"
            " JOIN subscribers s ON s.id = x.subscriber_id"
        ):
            known[email][1][list_id] = stored_sections
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
                _JOIN_LIST,
                [
                    (ids[s.email], list_id, sections_json(sections), stamp)
                    for s, memberships in chunk
                    for list_id, sections in memberships
                ],
            )
            if progress is not None:
                progress(len(chunk))
            chunk.clear()

        for subscriber, memberships in rows:
            wanted = [(list_id, sections_json(sections)) for list_id, sections in memberships]
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
            f"SELECT s.*, {status_sql} AS shown_status, (SELECT group_concat(l.slug, ';')"
            " FROM subscriptions x JOIN lists l ON l.id = x.list_id"
            " WHERE x.subscriber_id = s.id) AS slugs FROM subscribers s" + where
        )
        for row in self._rows(sql + " ORDER BY s.email", [*effective, *params]):
            slugs = sorted(row.pop("slugs").split(";")) if row["slugs"] else []
            row["status"] = row.pop("shown_status")
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

    def get_subscriber_by_id(self, subscriber_id: int) -> Subscriber | None:
        row = self._one("SELECT * FROM subscribers WHERE id = ?", [subscriber_id])
        return None if row is None else _subscriber_from_row(row)


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
