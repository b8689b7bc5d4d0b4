"""Editions and the delivery ledger: one row per (edition, subscriber), queued, sent,
retried or given up on, each change written in the same step as the send (see
digest.delivery)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from datetime import date, datetime
from typing import Any

from digest.models import PENDING_STATES, Delivery, NewsList
from digest.store.base import from_text, to_precise_text, to_text
from digest.store.bounces import BouncesMixin
from digest.store.subscribers import _subscriber_from_row

# A ledger row with what its subscriber is now; the caller adds list_sections.
_DELIVERY_SELECT = (
    "SELECT d.*, s.email, s.name, s.locale, s.timezone, s.status AS subscriber_status,"
)


# An edition went out: a ledger row says sent, or (pruned) its counts do.
# Whether edition `e` went out to anyone. The flag is set once per send run
# (`mark_went_out`), so the archive reads editions alone; the ledger probes remain for
# an edition whose run ended before it could set the flag (a crash, an older database).
_WENT_OUT = (
    "(e.went_out = 1"
    " OR EXISTS (SELECT 1 FROM deliveries d WHERE d.edition_id = e.id AND d.status = 'sent')"
    " OR EXISTS (SELECT 1 FROM edition_counts c WHERE c.edition_id = e.id"
    " AND c.status = 'sent' AND c.count > 0))"
)


class DeliveriesMixin(BouncesMixin):
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
        edition_id = self.find_edition(news_list, day)
        assert edition_id is not None
        return edition_id

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
                f"SELECT e.date FROM editions e WHERE e.list_id = ? AND {_WENT_OUT}"
                " ORDER BY e.date DESC LIMIT ?",
                [news_list.id, limit],
            )
        ]

    def mark_went_out(self, edition_id: int) -> None:
        """The edition reached at least one subscriber: one write per send run, not per
        message, so that listing the archive never probes the ledger."""
        with self.transaction():
            self.db.execute(
                "UPDATE editions SET went_out = 1 WHERE id = ? AND went_out = 0", [edition_id]
            )

    def edition_went_out(self, news_list: NewsList, day: date) -> bool:
        """Whether `edition_dates` would list `day`, asked of that one edition: the
        archive's edition page checked it against all of them (366 probes of the
        ledger after a year)."""
        return (
            self._one(
                f"SELECT 1 AS found FROM editions e WHERE e.list_id = ? AND e.date = ?"
                f" AND {_WENT_OUT}",
                [news_list.id, day.isoformat()],
            )
            is not None
        )

    def edition_pruned(self, news_list: NewsList, day: date) -> str | None:
        """When the edition's ledger rows were folded into counts (None: they were not)."""
        row = self._one(
            "SELECT pruned_at FROM editions WHERE list_id = ? AND date = ?",
            [news_list.id, day.isoformat()],
        )
        return None if row is None else row["pruned_at"]

    def prune_ledger(self, *, before: date, now: datetime) -> tuple[int, int, int]:
        """Fold the ledger rows of every edition dated before `before` into counts.

        Returns (editions pruned, rows removed, editions kept because rows are still
        pending). Each edition is one transaction: interrupted, it leaves whole editions.
        """
        editions = [
            r["id"]
            for r in self._rows(
                "SELECT id FROM editions WHERE date < ? AND pruned_at IS NULL ORDER BY date",
                [before.isoformat()],
            )
        ]
        pruned = removed = busy = 0
        for edition_id in editions:
            with self.transaction():
                if self._one(
                    "SELECT 1 AS y FROM deliveries INDEXED BY deliveries_pending"
                    f" WHERE edition_id = ? AND status IN {PENDING_STATES!r} LIMIT 1",
                    [edition_id],
                ):
                    busy += 1
                    continue
                self.db.execute(
                    "INSERT INTO edition_counts (edition_id, status, count)"
                    " SELECT edition_id, status, count(*) FROM deliveries WHERE edition_id = ?"
                    " GROUP BY status ON CONFLICT (edition_id, status)"
                    " DO UPDATE SET count = count + excluded.count",
                    [edition_id],
                )
                cursor = self.db.execute(
                    "DELETE FROM deliveries WHERE edition_id = ?", [edition_id]
                )
                self.db.execute("DELETE FROM edition_rosters WHERE edition_id = ?", [edition_id])
                self.db.execute(
                    "UPDATE editions SET pruned_at = ? WHERE id = ?", [to_text(now), edition_id]
                )
            pruned += 1
            removed += max(cursor.rowcount, 0)
        with self.transaction():  # the roster log older than every answer still kept
            self.db.execute(
                "DELETE FROM roster_changes WHERE version < (SELECT coalesce(min(v), 0) FROM"
                " (SELECT min(version) AS v FROM edition_rosters"
                " UNION ALL SELECT min(version) FROM list_zones))"
            )
        return pruned, removed, busy

    def settled_subscriber_ids(self, edition_id: int, *, now: datetime) -> set[int]:
        """Subscribers with nothing to send now: a final row, or a retry not yet due."""
        return {
            r["subscriber_id"]
            for r in self._rows(
                "SELECT subscriber_id FROM deliveries WHERE edition_id = ? AND (status NOT IN"
                f" {PENDING_STATES!r} OR (status = 'deferred' AND next_attempt_at > ?))",
                [edition_id, to_precise_text(now)],
            )
        }

    def roster_cover(self, edition_id: int, zone: str) -> int | None:
        """The latest roster version at which every recipient in `zone` had a row for the
        edition (None: never known)."""
        row = self._one(
            "SELECT max(version) AS v FROM edition_rosters WHERE edition_id = ?"
            " AND zone IN ('*', ?)",
            [edition_id, zone],
        )
        return None if row is None or row["v"] is None else int(row["v"])

    def mark_roster_covered(self, edition_id: int, zone: str | None, version: int) -> None:
        """Every recipient in `zone` (None: every zone) has a row, as of roster `version`."""
        self.db.execute(
            "INSERT INTO edition_rosters (edition_id, zone, version) VALUES (?, ?, ?)"
            " ON CONFLICT (edition_id, zone) DO UPDATE SET version = excluded.version",
            [edition_id, "*" if zone is None else zone, version],
        )

    def due_rows_exist(
        self, edition_id: int, list_id: int, *, now: datetime, zone_ok: Callable[[str], bool]
    ) -> bool:
        """Whether a recipient accepted by `zone_ok` has a row to send now: queued,
        sending, or deferred with its retry time come (from the pending index)."""
        for row in self._rows(
            "SELECT s.timezone FROM deliveries d INDEXED BY deliveries_pending"
            " JOIN subscribers s ON s.id = d.subscriber_id"
            " JOIN subscriptions x ON x.subscriber_id = d.subscriber_id AND x.list_id = ?"
            f" WHERE d.edition_id = ? AND d.status IN {PENDING_STATES!r}"
            " AND (d.status != 'deferred' OR d.next_attempt_at IS NULL"
            " OR d.next_attempt_at <= ?)"
            " AND x.status = 'active' AND s.status = 'active' AND s.paused_at IS NULL",
            [list_id, edition_id, to_precise_text(now)],
        ):
            if zone_ok(row["timezone"]):
                return True
        return False

    def unsettled_recipient_exists(
        self,
        edition_id: int,
        news_list: NewsList,
        *,
        now: datetime,
        zone_ok: Callable[[str], bool],
        among: frozenset[int] | None = None,
    ) -> bool:
        """Whether a recipient accepted by `zone_ok` has nothing final for the edition:
        no row, a row queued or sending, or a retry whose time has come. Only the
        subscribers `among` (by primary key), or one scan of the whole list in SQL (the
        slow path, after many changes)."""
        self.db.conn.create_function("digest_zone_ok", 1, zone_ok, deterministic=True)
        # CROSS JOIN fixes the order: from the few subscribers named, never the whole list.
        source, params = "subscriptions x JOIN subscribers s ON s.id = x.subscriber_id", []
        if among is not None:
            source = (
                "json_each(?) j CROSS JOIN subscribers s ON s.id = j.value"
                " CROSS JOIN subscriptions x ON x.subscriber_id = s.id"
            )
            params.append(json.dumps(sorted(among)))
        row = self._one(
            f"SELECT 1 AS y FROM {source}"
            " WHERE x.list_id = ? AND x.status = 'active' AND s.status = 'active'"
            " AND s.paused_at IS NULL AND NOT EXISTS (SELECT 1 FROM deliveries d"
            " WHERE d.edition_id = ? AND d.subscriber_id = s.id AND (d.status NOT IN"
            f" {PENDING_STATES!r} OR (d.status = 'deferred' AND d.next_attempt_at > ?)))"
            " AND digest_zone_ok(s.timezone) LIMIT 1",
            [*params, news_list.id, edition_id, to_precise_text(now)],
        )
        return row is not None

    # -- the delivery ledger (see delivery.py) ------------------------------------------

    def queue_deliveries(
        self,
        edition_id: int,
        news_list: NewsList,
        *,
        message_id: Callable[[int], str],
        now: datetime,
        zone_filter: Callable[[str], bool] | None = None,
        zone: str | None = None,
    ) -> int:
        """A queued row for every active subscriber of the list who has none yet.

        One statement: nothing is held in memory. `message_id(subscriber_id)` fixes each
        row's Message-ID now, so every later attempt carries the same one. With
        `zone_filter`, only subscribers whose time zone (as stored) it accepts: those of
        `zone`. The edition is then marked as covering every recipient (of `zone`) at
        the roster version of this moment (see dispatch._pending).
        """
        conn = self.db.conn
        conn.create_function("digest_message_id", 1, message_id, deterministic=True)
        accept = zone_filter or (lambda zone: True)
        conn.create_function("digest_zone_ok", 1, accept, deterministic=True)
        stamp = to_text(now)
        with self.transaction():
            cursor = conn.execute(
                "INSERT OR IGNORE INTO deliveries (edition_id, subscriber_id, status,"
                " message_id, created_at, updated_at)"
                " SELECT ?, s.id, 'queued', digest_message_id(s.id), ?, ?"
                " FROM subscriptions x JOIN subscribers s ON s.id = x.subscriber_id"
                " WHERE x.list_id = ? AND x.status = 'active' AND s.status = 'active'"
                " AND s.paused_at IS NULL AND digest_zone_ok(s.timezone) ORDER BY s.id",
                [edition_id, stamp, stamp, news_list.id],
            )
            # Read after the insert, in its transaction: the version it saw.
            if zone_filter is None or zone is not None:
                self.mark_roster_covered(edition_id, zone, self.roster_version())
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
        # INDEXED BY: the partial index hands the rows over in id order (no sort of every
        # remaining row per call, which made a big send quadratic); it also fails loudly
        # should this WHERE ever stop matching the index's.
        sql = (
            _DELIVERY_SELECT + " x.sections AS list_sections, x.status AS list_status,"
            " s.paused_at FROM deliveries d INDEXED BY deliveries_pending"
            " JOIN subscribers s ON s.id = d.subscriber_id"
            " LEFT JOIN subscriptions x ON x.subscriber_id = d.subscriber_id AND x.list_id = ?"
            f" WHERE d.edition_id = ? AND d.id > ? AND d.status IN {PENDING_STATES!r}"
        )
        params: list[Any] = [list_id, edition_id, after_id]
        if due_at is not None:
            sql += " AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= ?)"
            params.append(to_precise_text(due_at))
        rows = list(self._rows(sql + " ORDER BY d.id LIMIT ?", [*params, limit]))
        return [_delivery_from_row(r, _suppression_reason(r, present=True)) for r in rows]

    def changed_elsewhere(self) -> int:
        """A number that changes whenever another connection commits to the database.

        SQLite's data_version: our own writes leave it alone, so a send loop can trust
        what it read with a batch until this moves (an unsubscribe from the web, say).
        """
        return int(self.db.conn.execute("PRAGMA data_version").fetchone()[0])

    def count_pending(
        self, edition_id: int, include: Callable[[Delivery], bool] | None = None
    ) -> int:
        """Rows still to send (queued, sending or deferred), those `include` accepts."""
        counts = self.delivery_counts(edition_id, include)
        return sum(counts.get(s, 0) for s in PENDING_STATES)

    def suppression(self, subscriber_id: int, list_id: int) -> str:
        """Why this subscriber must not get this list's mail now ('' when they may)."""
        row = self._one(
            "SELECT s.status AS subscriber_status, s.paused_at, x.status AS list_status"
            " FROM subscribers s"
            " LEFT JOIN subscriptions x ON x.subscriber_id = s.id AND x.list_id = ?"
            " WHERE s.id = ?",
            [list_id, subscriber_id],
        )
        return _suppression_reason(row or {}, present=row is not None)

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
        give_up_at: datetime | None = None,
        bounce_subscriber: int | None = None,
    ) -> None:
        """Record what became of one attempt (and mark a bounced subscriber) in one step.

        A deferral gives `retry_at`, and `give_up_at`, which only the first one sets.
        """
        stamp = to_text(now)
        with self.transaction() if bounce_subscriber is not None else nullcontext():
            self.db.conn.execute(
                "UPDATE deliveries SET status = ?, last_code = ?, last_reply = ?, updated_at = ?,"
                " next_attempt_at = ?, give_up_at = coalesce(give_up_at, ?),"
                " sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END WHERE id = ?",
                [
                    status,
                    code,
                    reply[:1000],
                    stamp,
                    to_precise_text(retry_at) if retry_at else None,
                    to_precise_text(give_up_at) if give_up_at else None,
                    status,
                    stamp,
                    delivery_id,
                ],
            )
            if bounce_subscriber is not None:
                edition = self._one("SELECT edition_id FROM deliveries WHERE id = ?", [delivery_id])
                self.mark_subscriber_bounced(
                    bounce_subscriber,
                    now=now,
                    via="smtp",
                    edition_id=edition["edition_id"] if edition else None,
                    code=code,
                    reply=reply[:300],
                )

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
        """Deferred rows whose retries are over become failed: their give-up moment has
        come, or their next retry would fall after it. Queued and sending rows never."""
        cursor = self.db.conn.execute(
            "UPDATE deliveries SET status = 'failed', last_reply = ? || ': ' || last_reply,"
            " updated_at = ? WHERE edition_id = ? AND status = 'deferred'"
            " AND (give_up_at <= ? OR next_attempt_at > give_up_at)",
            [reason, to_text(now), edition_id, to_precise_text(now)],
        )
        return max(cursor.rowcount, 0)

    def deferred_span(self, edition_id: int) -> tuple[datetime, datetime] | None:
        """(earliest retry, latest give-up moment) of the edition's deferred rows."""
        row = self._one(
            "SELECT min(next_attempt_at) AS t, max(give_up_at) AS g FROM deliveries"
            " WHERE edition_id = ? AND status = 'deferred'",
            [edition_id],
        )
        if not row or not row["t"] or not row["g"]:
            return None
        return from_text(row["t"]), from_text(row["g"])

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

    def deliveries(self, edition_id: int) -> Iterator[Delivery]:
        """Every ledger row of the edition, by id."""
        for row in self._rows(
            _DELIVERY_SELECT + " NULL AS list_sections FROM deliveries d"
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
        counts = {
            r["status"]: r["n"]
            for r in self._rows(
                "SELECT status, count(*) AS n FROM deliveries WHERE edition_id = ? GROUP BY status",
                [edition_id],
            )
        }
        for r in self._rows(  # what `digest prune` folded (see prune_ledger)
            "SELECT status, count FROM edition_counts WHERE edition_id = ?", [edition_id]
        ):
            counts[r["status"]] = counts.get(r["status"], 0) + r["count"]
        return counts


def _suppression_reason(row: dict[str, Any], *, present: bool) -> str:
    """Why a subscriber (status, paused_at, list_status) must not get mail now, or ''."""
    if not present:
        return "subscriber deleted"
    if row["subscriber_status"] != "active":
        return f"subscriber {row['subscriber_status']}"
    if row["paused_at"]:
        return "subscriber paused all emails"
    if row["list_status"] != "active":
        return "unsubscribed from the list"
    return ""


def _delivery_from_row(row: dict[str, Any], suppressed: str | None = None) -> Delivery:
    sections = row["list_sections"]
    return Delivery(
        id=row["id"],
        edition_id=row["edition_id"],
        subscriber=_subscriber_from_row(
            {**row, "id": row["subscriber_id"], "status": row["subscriber_status"]}
        ),
        status=row["status"],
        message_id=row["message_id"],
        attempts=row["attempts"],
        last_reply=row["last_reply"],
        sections=tuple(json.loads(sections)) if sections else (),
        suppressed=suppressed,
    )
