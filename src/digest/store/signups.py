"""Readers' sign-ups: the confirmation ledger, the hourly limit, confirming, consent.

One row per sign-up. It is written before its confirmation mail is sent and marked
sent after, so a crash loses nothing (the row stays unsent and the next sign-up or run
sends it); the mail's Message-ID comes from the row, so a resend after a crash between
the send and the mark can be recognised as the same message by the receiving side.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from digest.models import Signup
from digest.store.base import from_text, sections_json, to_text
from digest.store.subscriptions import SubscriptionsMixin


class SignupsMixin(SubscriptionsMixin):
    def add_signup(self, signup: Signup) -> Signup:
        cursor = self.db.execute(
            "INSERT INTO signups (list_id, email, name, sections, locale, form, form_version,"
            " ip, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                signup.list_id,
                signup.email,
                signup.name,
                sections_json(signup.sections),
                signup.locale,
                signup.form,
                signup.form_version,
                signup.ip,
                to_text(signup.created_at),
            ],
        )
        found = self.get_signup(int(cursor.lastrowid or 0))
        assert found is not None
        return found

    def get_signup(self, signup_id: int) -> Signup | None:
        row = self._one("SELECT * FROM signups WHERE id = ?", [signup_id])
        return None if row is None else _signup_from_row(row)

    def recent_signup(self, email: str, list_id: int, *, since: datetime) -> Signup | None:
        """The latest sign-up of this address to this list made at or after `since`."""
        row = self._one(
            "SELECT * FROM signups WHERE email = ? COLLATE NOCASE AND list_id = ?"
            " AND created_at >= ? ORDER BY created_at DESC, id DESC LIMIT 1",
            [email, list_id, to_text(since)],
        )
        return None if row is None else _signup_from_row(row)

    def unsent_signups(self, *, since: datetime, limit: int = 50) -> list[Signup]:
        """Sign-ups whose confirmation mail has not gone out, made at or after `since`."""
        return [
            _signup_from_row(r)
            for r in self._rows(
                "SELECT * FROM signups WHERE sent_at IS NULL AND created_at >= ?"
                " AND bounced_at IS NULL ORDER BY created_at, id LIMIT ?",
                [to_text(since), limit],
            )
        ]

    def has_unsent_signups(self, *, since: datetime) -> bool:
        """Whether any confirmation mail is waiting: one look at a partial index, so every
        send and schedule round can ask."""
        return (
            self._one(
                "SELECT 1 AS found FROM signups WHERE sent_at IS NULL AND created_at >= ?"
                " AND bounced_at IS NULL LIMIT 1",
                [to_text(since)],
            )
            is not None
        )

    def claim_signup(self, signup_id: int, *, now: datetime, stale: timedelta) -> bool:
        """Take an unsent row for sending; False when another sender has it (claimed less
        than `stale` ago) or it went out already. A crash after the claim leaves it to be
        taken again once the claim is stale."""
        cursor = self.db.execute(
            "UPDATE signups SET claimed_at = ? WHERE id = ? AND sent_at IS NULL"
            " AND bounced_at IS NULL AND (claimed_at IS NULL OR claimed_at < ?)",
            [to_text(now), signup_id, to_text(now - stale)],
        )
        return cursor.rowcount == 1

    def release_signup(self, signup_id: int) -> None:
        """Give a claimed row back (its send failed): the next try may take it at once."""
        self.db.execute("UPDATE signups SET claimed_at = NULL WHERE id = ?", [signup_id])

    def mark_signup_sent(self, signup_id: int, *, now: datetime) -> None:
        self.db.execute(
            "UPDATE signups SET sent_at = ? WHERE id = ? AND sent_at IS NULL",
            [to_text(now), signup_id],
        )

    def has_unsent_welcomes(self, *, since: datetime) -> bool:
        return (
            self._one(
                "SELECT 1 AS found FROM signups WHERE welcome_due_at IS NOT NULL"
                " AND welcome_sent_at IS NULL AND welcome_due_at >= ? LIMIT 1",
                [to_text(since)],
            )
            is not None
        )

    def unsent_welcomes(self, *, since: datetime, limit: int = 50) -> list[Signup]:
        """Confirmed sign-ups whose welcome mail is due and not sent, due at or after `since`."""
        return [
            _signup_from_row(r)
            for r in self._rows(
                "SELECT * FROM signups WHERE welcome_due_at IS NOT NULL AND welcome_sent_at IS NULL"
                " AND welcome_due_at >= ? ORDER BY welcome_due_at, id LIMIT ?",
                [to_text(since), limit],
            )
        ]

    def claim_welcome(self, signup_id: int, *, now: datetime, stale: timedelta) -> bool:
        """Like claim_signup, for the welcome mail."""
        cursor = self.db.execute(
            "UPDATE signups SET welcome_claimed_at = ? WHERE id = ? AND welcome_sent_at IS NULL"
            " AND welcome_due_at IS NOT NULL"
            " AND (welcome_claimed_at IS NULL OR welcome_claimed_at < ?)",
            [to_text(now), signup_id, to_text(now - stale)],
        )
        return cursor.rowcount == 1

    def release_welcome(self, signup_id: int) -> None:
        self.db.execute("UPDATE signups SET welcome_claimed_at = NULL WHERE id = ?", [signup_id])

    def mark_welcome_sent(self, signup_id: int, *, now: datetime) -> None:
        """Sent, or given up (the reader left the list before it went): never sent again."""
        self.db.execute(
            "UPDATE signups SET welcome_sent_at = ? WHERE id = ? AND welcome_sent_at IS NULL",
            [to_text(now), signup_id],
        )

    def confirm_signup(self, signup_id: int, *, now: datetime, welcome: bool = False) -> Signup:
        """Make the sign-up's subscriber active on its list with its sections. Idempotent.

        This is the one way a reader's own action brings back an unsubscribed, bounced
        or complained address, or one removed (suppressed): a confirmed sign-up is
        fresh consent. Admin imports never do it without --resubscribe. With `welcome`,
        the row's welcome mail falls due in the same transaction.
        """
        with self.transaction():
            signup = self.get_signup(signup_id)
            assert signup is not None
            if signup.confirmed_at is not None:
                return signup
            stamp = to_text(now)
            existing = self._one(
                "SELECT id, name, locale FROM subscribers WHERE email = ? COLLATE NOCASE",
                [signup.email],
            )
            if existing is None:
                cursor = self.db.execute(
                    "INSERT INTO subscribers (email, name, locale, status, created_at, updated_at)"
                    " VALUES (?, ?, ?, 'active', ?, ?)",
                    [signup.email, signup.name, signup.locale, stamp, stamp],
                )
                subscriber_id = int(cursor.lastrowid or 0)
            else:
                subscriber_id = int(existing["id"])
                self.db.execute(
                    "UPDATE subscribers SET status = 'active', updated_at = ?,"
                    " name = CASE WHEN name = '' THEN ? ELSE name END,"
                    " locale = CASE WHEN locale = '' THEN ? ELSE locale END WHERE id = ?",
                    [stamp, signup.name, signup.locale, subscriber_id],
                )
                self.db.execute("DELETE FROM soft_bounces WHERE subscriber_id = ?", [subscriber_id])
            self.unsuppress(signup.email)
            self.db.execute(
                "INSERT INTO subscriptions (subscriber_id, list_id, sections, status, created_at)"
                " VALUES (?, ?, ?, 'active', ?) ON CONFLICT (subscriber_id, list_id)"
                " DO UPDATE SET status = 'active', sections = excluded.sections",
                [subscriber_id, signup.list_id, sections_json(signup.sections), stamp],
            )
            self.db.execute(
                "UPDATE signups SET confirmed_at = ?, welcome_due_at = ? WHERE id = ?",
                [stamp, stamp if welcome else None, signup_id],
            )
            self.emit_event(
                "confirm",
                now=now,
                subscriber_id=subscriber_id,
                list_id=signup.list_id,
                via="signup",
                signup_id=signup_id,
                form=signup.form,
            )
        found = self.get_signup(signup_id)
        assert found is not None
        return found

    def spend_challenge(self, signature: str, *, expires_at: int, now: int) -> bool:
        """Record an accepted ALTCHA solution; False when it was spent already (a replay,
        from this process or any other on the database). Expired ones are pruned first."""
        with self.transaction():
            self.db.execute("DELETE FROM spent_challenges WHERE expires_at < ?", [now])
            cursor = self.db.execute(
                "INSERT INTO spent_challenges (signature, expires_at) VALUES (?, ?)"
                " ON CONFLICT (signature) DO NOTHING",
                [signature, expires_at],
            )
        return cursor.rowcount == 1

    def mark_signups_undeliverable(self, email: str, *, now: datetime, reason: str) -> int:
        """A sign-up mail to this address bounced (hard) or drew a complaint before anyone
        confirmed: mark its unconfirmed rows, so none is sent again and no new one is
        mailed. Subscribers are not touched. The number of rows newly marked."""
        cursor = self.db.execute(
            "UPDATE signups SET bounced_at = ?, bounce_reason = ?"
            " WHERE email = ? COLLATE NOCASE AND confirmed_at IS NULL AND bounced_at IS NULL",
            [to_text(now), reason[:40], email],
        )
        return cursor.rowcount

    def clear_signups_undeliverable(self, email: str) -> int:
        """Undo `mark_signups_undeliverable` (the reader says the address works now): its
        next sign-up is mailed again. Nothing is resent by itself. The rows cleared."""
        with self.transaction():
            cursor = self.db.execute(
                "UPDATE signups SET bounced_at = NULL, bounce_reason = ''"
                " WHERE email = ? COLLATE NOCASE AND bounced_at IS NOT NULL",
                [email],
            )
        return max(cursor.rowcount, 0)

    def signups_undeliverable(self, email: str) -> bool:
        """Whether a sign-up mail to this address bounced before anyone confirmed."""
        return (
            self._one(
                "SELECT 1 AS found FROM signups WHERE email = ? COLLATE NOCASE"
                " AND bounced_at IS NOT NULL LIMIT 1",
                [email],
            )
            is not None
        )

    def signups_of(self, email: str) -> list[tuple[str, Signup]]:
        """(list slug, sign-up) of every sign-up row of this address, oldest first."""
        return [
            (row["list_slug"], _signup_from_row(row))
            for row in self._rows(
                "SELECT signups.*, lists.slug AS list_slug FROM signups"
                " JOIN lists ON lists.id = signups.list_id"
                " WHERE signups.email = ? COLLATE NOCASE ORDER BY signups.created_at, signups.id",
                [email],
            )
        ]

    def consents(self, email: str) -> Iterator[tuple[str, Signup]]:
        """(list slug, confirmed sign-up) for this address, oldest first: the consent record."""
        for row in self._rows(
            "SELECT signups.*, lists.slug AS list_slug FROM signups"
            " JOIN lists ON lists.id = signups.list_id"
            " WHERE signups.email = ? COLLATE NOCASE AND confirmed_at IS NOT NULL"
            " ORDER BY confirmed_at, signups.id",
            [email],
        ):
            yield row["list_slug"], _signup_from_row(row)


def _signup_from_row(row: dict[str, Any]) -> Signup:
    return Signup(
        id=row["id"],
        list_id=row["list_id"],
        email=row["email"],
        name=row["name"],
        sections=tuple(json.loads(row["sections"])),
        locale=row["locale"],
        form=row["form"],
        form_version=row["form_version"],
        ip=row["ip"],
        created_at=from_text(row["created_at"]),
        sent_at=from_text(row["sent_at"]) if row["sent_at"] else None,
        confirmed_at=from_text(row["confirmed_at"]) if row["confirmed_at"] else None,
        bounced_at=from_text(row["bounced_at"]) if row["bounced_at"] else None,
        bounce_reason=row["bounce_reason"],
    )
