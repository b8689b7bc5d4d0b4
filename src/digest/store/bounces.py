"""Bounces: a hard bounce ends an address at once; soft bounces count, per distinct edition.

The rule (see sender.classify for which replies are which): an address becomes `bounced`
after its first hard bounce (5.1.x, 5.2.1), or after `limit` soft bounces (a bare 550,
any other 5xx that does not say the address is dead) on distinct editions, counted since
its last accepted message. Whatever reports a bounce, an SMTP reply now or a delivery
status notification later, records it through these functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from digest.errors import NotFoundError
from digest.store.base import to_text
from digest.store.subscribers import SubscribersMixin

# message.message_id's shape: <YYYY-MM-DD.SUBSCRIBER_ID.16 hex@domain>.
_OUR_MESSAGE_ID = re.compile(r"<\d{4}-\d{2}-\d{2}\.(\d+)\.[0-9a-f]{16}@[^<>@\s]+>")

# Statuses that stop mail, mildest first: a bounce never turns a complaint back into less.
_STRENGTH = ("active", "unsubscribed", "bounced", "complained")


class BouncesMixin(SubscribersMixin):
    def mark_subscriber_bounced(self, subscriber_id: int, *, now: datetime, **event: Any) -> None:
        """A hard bounce: this address is never mailed again (until someone fixes it).

        `event`: fields of the bounce event (bounce="hard" unless it says otherwise)."""
        event.setdefault("bounce", "hard")
        with suppress(NotFoundError):  # removed while its message was out
            if not self.subscriber_status_at_least(subscriber_id, "bounced"):
                self.set_subscriber_status(subscriber_id, "bounced", now=now, event=event)

    def record_soft_bounce(
        self,
        subscriber_id: int,
        edition_id: int,
        *,
        reply: str,
        now: datetime,
        limit: int,
        code: int | None = None,
        via: str = "",
    ) -> int:
        """Count a soft bounce of this edition; at `limit` the subscriber becomes bounced.

        Returns the subscriber's count: distinct editions that soft-bounced since a message
        to them was last accepted (a second bounce of the same edition does not count).
        """
        with self.transaction():
            self.db.conn.execute(  # nothing if the subscriber was removed meanwhile
                "INSERT OR IGNORE INTO soft_bounces (subscriber_id, edition_id, code, reply,"
                " created_at) SELECT s.id, ?, ?, ?, ? FROM subscribers s WHERE s.id = ?",
                [edition_id, code, reply[:1000], to_text(now), subscriber_id],
            )
            # Forget bounces that a later accepted message proved wrong. The editions
            # since each bounce are few; each probe is a lookup in the ledger's index.
            self.db.conn.execute(
                "DELETE FROM soft_bounces WHERE subscriber_id = ? AND EXISTS (SELECT 1"
                " FROM editions e JOIN deliveries d ON d.edition_id = e.id"
                " AND d.subscriber_id = soft_bounces.subscriber_id"
                " WHERE e.id >= soft_bounces.edition_id AND d.status = 'sent'"
                " AND d.sent_at >= soft_bounces.created_at)",
                [subscriber_id],
            )
            count = self.soft_bounce_count(subscriber_id)
            if count >= limit:
                self.mark_subscriber_bounced(
                    subscriber_id,
                    now=now,
                    bounce="soft",
                    soft_bounces=count,
                    edition_id=edition_id,
                    reply=reply[:300],
                    **({"via": via} if via else {}),
                )
        return count

    def soft_bounce_count(self, subscriber_id: int) -> int:
        """Soft bounces on distinct editions counted against this subscriber now."""
        row = self._one(
            "SELECT count(*) AS n FROM soft_bounces WHERE subscriber_id = ?", [subscriber_id]
        )
        return int(row["n"]) if row else 0

    def mark_subscriber_complained(
        self, subscriber_id: int, *, now: datetime, **event: Any
    ) -> None:
        """A spam complaint: never mailed again, whatever their status was."""
        with suppress(NotFoundError):
            self.set_subscriber_status(subscriber_id, "complained", now=now, event=event)

    def subscriber_status_at_least(self, subscriber_id: int, status: str) -> bool:
        row = self._one("SELECT status FROM subscribers WHERE id = ?", [subscriber_id])
        return row is None or _STRENGTH.index(row["status"]) >= _STRENGTH.index(status)

    def bounce_message_seen(self, message_key: str) -> bool:
        return (
            self._one("SELECT 1 AS x FROM bounce_messages WHERE message_key = ?", [message_key])
            is not None
        )

    def add_bounce_message(self, row: dict[str, Any], *, now: datetime) -> bool:
        """Keep one bounce-mailbox message; False (and nothing written) if already kept."""
        columns = [*row, "imported_at"]
        cursor = self.db.conn.execute(
            f"INSERT OR IGNORE INTO bounce_messages ({', '.join(columns)})"
            f" VALUES ({', '.join('?' for _ in columns)})",
            [*row.values(), to_text(now)],
        )
        return cursor.rowcount == 1

    def claim_webhook_nonce(
        self, provider: str, nonce: str, *, now: datetime, keep_seconds: float
    ) -> bool:
        """True the first time `nonce` is seen (within `keep_seconds`); older ones are dropped."""
        with self.transaction():
            self.db.conn.execute(
                "DELETE FROM webhook_nonces WHERE seen_at < ?",
                [to_text(now - timedelta(seconds=keep_seconds))],
            )
            cursor = self.db.conn.execute(
                "INSERT OR IGNORE INTO webhook_nonces (provider, nonce, seen_at) VALUES (?, ?, ?)",
                [provider, nonce[:200], to_text(now)],
            )
        return cursor.rowcount == 1

    def edition_of_message(self, message_id: str) -> tuple[int, int] | None:
        """(edition_id, subscriber_id) of the ledger row that sent this Message-ID.

        Our Message-IDs read `<day.SUBSCRIBER.hash@domain>` (message.message_id), so the
        lookup goes through the subscriber index: no index on message_id for every send to
        pay for, and no scan of the ledger. Any other shape was not sent by us.
        """
        match = _OUR_MESSAGE_ID.fullmatch(message_id.strip())
        if match is None:
            return None
        row = self._one(
            "SELECT edition_id, subscriber_id FROM deliveries INDEXED BY deliveries_subscriber"
            " WHERE subscriber_id = ? AND message_id = ?",
            [int(match.group(1)), message_id.strip()],
        )
        return (int(row["edition_id"]), int(row["subscriber_id"])) if row else None

    def last_edition_sent_to(self, subscriber_id: int) -> int | None:
        row = self._one(
            "SELECT max(edition_id) AS e FROM deliveries"
            " WHERE subscriber_id = ? AND status = 'sent'",
            [subscriber_id],
        )
        return int(row["e"]) if row and row["e"] is not None else None

    def subscriber_id_by_email(self, address: str) -> int | None:
        row = self._one("SELECT id FROM subscribers WHERE email = ? COLLATE NOCASE", [address])
        return int(row["id"]) if row else None

    def bounce_messages(self, *, kind: str | None = None) -> Iterator[dict[str, Any]]:
        """Kept messages, oldest first, without their bytes."""
        where, params = ("WHERE kind = ?", [kind]) if kind else ("", [])
        yield from self._rows(
            "SELECT b.id, b.kind, b.address, b.domain, b.status, b.detail, b.sender, b.subject,"
            " b.source, b.imported_at, b.edition_id, b.subscriber_id FROM bounce_messages b "
            + where
            + " ORDER BY b.id",
            params,
        )

    def bounce_counts(self) -> list[dict[str, Any]]:
        """Hard, soft and complaint counts per (edition, receiving domain)."""
        return list(
            self._rows(
                "SELECT b.edition_id, l.slug AS list, e.date AS date, b.domain,"
                " sum(b.kind = 'hard') AS hard, sum(b.kind = 'soft') AS soft,"
                " sum(b.kind = 'complaint') AS complaints"
                " FROM bounce_messages b LEFT JOIN editions e ON e.id = b.edition_id"
                " LEFT JOIN lists l ON l.id = e.list_id"
                " WHERE b.kind IN ('hard', 'soft', 'complaint')"
                " GROUP BY b.edition_id, b.domain"
                " ORDER BY e.date IS NULL, e.date, l.slug, b.domain"
            )
        )
