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
                "SELECT e.date FROM editions e WHERE e.list_id = ? AND EXISTS"
                " (SELECT 1 FROM deliveries d WHERE d.edition_id = e.id AND d.status = 'sent')"
                " ORDER BY e.date DESC LIMIT ?",
                [news_list.id, limit],
            )
        ]

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
            _DELIVERY_SELECT + " x.sections AS list_sections FROM deliveries d"
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
        return {
            r["status"]: r["n"]
            for r in self._rows(
                "SELECT status, count(*) AS n FROM deliveries WHERE edition_id = ? GROUP BY status",
                [edition_id],
            )
        }


def _delivery_from_row(row: dict[str, Any]) -> Delivery:
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
    )
