"""The events-out outbox (webhook_events): what `digest webhooks send` posts, in order.

Rows are written by the state changes themselves (StoreBase.emit_event), in their
transaction; this part reads the queue and records what became of each post.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from digest.models import WebhookEvent
from digest.store.base import StoreBase, from_text, to_precise_text

WEBHOOK_STATUSES = ("pending", "delivered", "failed")


class OutboxMixin(StoreBase):
    def next_webhook_event(self) -> WebhookEvent | None:
        """The oldest pending event (due or not): events go out in the order they happened."""
        row = self._one("SELECT * FROM webhook_events WHERE status = 'pending' ORDER BY id LIMIT 1")
        return _event_from_row(row) if row else None

    def claim_webhook_event(self, row_id: int, *, now: datetime, until: datetime) -> bool:
        """Take the due event `row_id` for one post: it is not due again before `until`,
        so a second sender (cron and the scheduler at once) waits instead of posting it
        too. False when another sender took it first. A sender that dies mid-post leaves
        it due again at `until` (the receiver drops a repeat by its id)."""
        cursor = self.db.conn.execute(
            "UPDATE webhook_events SET next_attempt_at = ?"
            " WHERE id = ? AND status = 'pending' AND next_attempt_at <= ?",
            [to_precise_text(until), row_id, to_precise_text(now)],
        )
        return cursor.rowcount == 1

    def finish_webhook_event(
        self,
        row_id: int,
        *,
        status: str,
        now: datetime,
        code: int | None = None,
        error: str = "",
        retry_at: datetime | None = None,
        give_up_at: datetime | None = None,
    ) -> None:
        """Record one post: delivered, failed, or pending again until `retry_at`."""
        stamp = to_precise_text(now)
        self.db.conn.execute(
            "UPDATE webhook_events SET status = ?, attempts = attempts + 1, last_code = ?,"
            " last_error = ?, next_attempt_at = coalesce(?, next_attempt_at),"
            " give_up_at = coalesce(give_up_at, ?),"
            " delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END"
            " WHERE id = ?",
            [
                status,
                code,
                error[:500],
                to_precise_text(retry_at) if retry_at else None,
                to_precise_text(give_up_at) if give_up_at else None,
                status,
                stamp,
                row_id,
            ],
        )

    def webhook_events(self, *, status: str | None = None, limit: int = 1000) -> list[WebhookEvent]:
        """Events, oldest first; only those of one status when given."""
        where, params = ("WHERE status = ?", [status]) if status else ("", [])
        return [
            _event_from_row(r)
            for r in self._rows(
                f"SELECT * FROM webhook_events {where} ORDER BY id LIMIT ?", [*params, limit]
            )
        ]

    def webhook_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(WEBHOOK_STATUSES, 0)
        for row in self._rows("SELECT status, count(*) AS n FROM webhook_events GROUP BY status"):
            counts[row["status"]] = int(row["n"])
        return counts

    def prune_webhook_events(self, *, before: datetime) -> int:
        """Drop the events delivered before `before` (failed and pending ones stay)."""
        with self.transaction():
            return self.db.conn.execute(
                "DELETE FROM webhook_events WHERE status = 'delivered' AND delivered_at < ?",
                [to_precise_text(before)],
            ).rowcount

    def retry_webhook_events(self, ids: Iterable[int] | None, *, now: datetime) -> int:
        """Failed events (these ids, or all with None) back to pending, due now, with a new
        retry period; returns how many. Pending and delivered ones are left as they are."""
        stamp = to_precise_text(now)
        sql = (
            "UPDATE webhook_events SET status = 'pending', next_attempt_at = ?,"
            " give_up_at = NULL WHERE status = 'failed'"
        )
        params: list[Any] = [stamp]
        if ids is not None:
            wanted = list(ids)
            sql += f" AND id IN ({', '.join('?' for _ in wanted)})"
            params += wanted
        with self.transaction():
            return self.db.conn.execute(sql, params).rowcount


def _event_from_row(row: dict[str, Any]) -> WebhookEvent:
    def moment(value: str | None) -> datetime | None:
        return from_text(value) if value else None

    return WebhookEvent(
        id=int(row["id"]),
        event_id=row["event_id"],
        type=row["type"],
        body=row["body"],
        created_at=from_text(row["created_at"]),
        status=row["status"],
        attempts=int(row["attempts"]),
        next_attempt_at=from_text(row["next_attempt_at"]),
        give_up_at=moment(row["give_up_at"]),
        last_code=row["last_code"],
        last_error=row["last_error"],
        delivered_at=moment(row["delivered_at"]),
    )
