"""Bounces: a hard bounce ends an address at once; soft bounces count, per distinct edition.

The rule (see sender.classify for which replies are which): an address becomes `bounced`
after its first hard bounce (5.1.x, 5.2.1), or after `limit` soft bounces (a bare 550,
any other 5xx that does not say the address is dead) on distinct editions, counted since
its last accepted message. Whatever reports a bounce, an SMTP reply now or a delivery
status notification later, records it through these functions.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime

from digest.errors import NotFoundError
from digest.store.base import to_text
from digest.store.subscribers import SubscribersMixin


class BouncesMixin(SubscribersMixin):
    def mark_subscriber_bounced(self, subscriber_id: int, *, now: datetime) -> None:
        """A hard bounce: this address is never mailed again (until someone fixes it)."""
        with suppress(NotFoundError):  # removed while its message was out
            self.set_subscriber_status(subscriber_id, "bounced", now=now)

    def record_soft_bounce(
        self,
        subscriber_id: int,
        edition_id: int,
        *,
        reply: str,
        now: datetime,
        limit: int,
        code: int | None = None,
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
                self.mark_subscriber_bounced(subscriber_id, now=now)
        return count

    def soft_bounce_count(self, subscriber_id: int) -> int:
        """Soft bounces on distinct editions counted against this subscriber now."""
        row = self._one(
            "SELECT count(*) AS n FROM soft_bounces WHERE subscriber_id = ?", [subscriber_id]
        )
        return int(row["n"]) if row else 0
