"""News lists: their settings, and finding one by slug or id."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any

from digest.errors import NotFoundError, StoreError
from digest.issue import format_days, parse_days
from digest.models import Approval, EditionEdits, NewsList
from digest.store.base import StoreBase, from_text, sections_json, to_text


class ListsMixin(StoreBase):
    def add_list(self, news_list: NewsList, *, now: datetime) -> NewsList:
        try:
            self.db.execute(
                "INSERT INTO lists (slug, name, from_addr, send_at, timezone, locale, sections,"
                " address, only_sections, languages, days, signup, brand_name, logo_url,"
                " logo_size, accent, footer, approval, editors, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [news_list.slug, *_list_values(news_list), to_text(now)],
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
            " address=?, only_sections=?, languages=?, days=?, signup=?, brand_name=?,"
            " logo_url=?, logo_size=?, accent=?, footer=?, approval=?, editors=? WHERE slug=?",
            [*_list_values(news_list), news_list.slug],
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
        row = self._one("SELECT count(*) AS n FROM subscriptions WHERE list_id = ?", [news_list.id])
        count = int(row["n"]) if row else 0
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

    # -- the editor's hand, per edition ----------------------------------------------------

    def edition_edits(self, news_list: NewsList, day: date) -> EditionEdits:
        """What an editor changed in the list's edition for `day` (nothing: all empty)."""
        row = self._one(
            "SELECT * FROM edition_edits WHERE list_id = ? AND date = ?",
            [news_list.id, day.isoformat()],
        )
        if row is None:
            return EditionEdits()
        return EditionEdits(
            lead=row["lead"],
            drops=tuple(json.loads(row["drops"])),
            pins=tuple(json.loads(row["pins"])),
            note=row["note"],
            subject=row["subject"],
            updated_at=from_text(row["updated_at"]),
        )

    def save_edition_edits(
        self, news_list: NewsList, day: date, edits: EditionEdits, *, now: datetime
    ) -> tuple[EditionEdits, Approval | None]:
        """Store the edits (all empty: forget them). When they change anything, an
        approval of the edition is withdrawn in the same transaction (approval is of a
        version); it is returned, else None."""
        key = [news_list.id, day.isoformat()]
        withdrawn = None
        with self.transaction():
            before = replace(self.edition_edits(news_list, day), updated_at=None)
            if before != replace(edits, updated_at=None):
                withdrawn = self.edition_approval(news_list, day)
                self.db.execute("DELETE FROM edition_approvals WHERE list_id = ? AND date = ?", key)
            if edits.empty:
                self.db.execute("DELETE FROM edition_edits WHERE list_id = ? AND date = ?", key)
            else:
                self.db.execute(
                    "INSERT INTO edition_edits (list_id, date, lead, drops, pins, note, subject,"
                    " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (list_id, date)"
                    " DO UPDATE SET lead = excluded.lead, drops = excluded.drops,"
                    " pins = excluded.pins, note = excluded.note, subject = excluded.subject,"
                    " updated_at = excluded.updated_at",
                    [
                        *key,
                        edits.lead,
                        sections_json(edits.drops),
                        sections_json(edits.pins),
                        edits.note,
                        edits.subject,
                        to_text(now),
                    ],
                )
        return self.edition_edits(news_list, day), withdrawn

    # -- approval, per edition -------------------------------------------------------------

    def edition_approval(self, news_list: NewsList, day: date) -> Approval | None:
        row = self._one(
            "SELECT * FROM edition_approvals WHERE list_id = ? AND date = ?",
            [news_list.id, day.isoformat()],
        )
        if row is None:
            return None
        return Approval(approved_by=row["approved_by"], approved_at=from_text(row["approved_at"]))

    def approve_edition(
        self, news_list: NewsList, day: date, *, by: str, now: datetime
    ) -> Approval:
        """Record the approval (again: the newer one counts)."""
        with self.transaction():
            self.db.execute(
                "INSERT INTO edition_approvals (list_id, date, approved_by, approved_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (list_id, date) DO UPDATE SET"
                " approved_by = excluded.approved_by, approved_at = excluded.approved_at",
                [news_list.id, day.isoformat(), by, to_text(now)],
            )
        approval = self.edition_approval(news_list, day)
        assert approval is not None
        return approval

    def revoke_approval(self, news_list: NewsList, day: date) -> Approval | None:
        """Withdraw the approval; the one withdrawn, or None when there was none."""
        with self.transaction():
            approval = self.edition_approval(news_list, day)
            self.db.execute(
                "DELETE FROM edition_approvals WHERE list_id = ? AND date = ?",
                [news_list.id, day.isoformat()],
            )
        return approval

    def note_missed_approval(
        self, news_list: NewsList, day: date, *, due_at: datetime, now: datetime
    ) -> bool:
        """Record that the edition was held, unapproved, at its due moment: True for the
        first round to do so (it logs the warning), False when it was recorded already."""
        with self.transaction():
            cursor = self.db.execute(
                "INSERT INTO edition_missed_approvals (list_id, date, due_at, logged_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (list_id, date) DO NOTHING",
                [news_list.id, day.isoformat(), to_text(due_at), to_text(now)],
            )
        return cursor.rowcount == 1

    def note_missed_slot(
        self, news_list: NewsList, day: date, zone: str, *, due_at: datetime, now: datetime
    ) -> bool:
        """Record that a slot was missed for good (past the catch-up window, not sent):
        True for the first round to do so (it logs the warning), False after."""
        with self.transaction():
            cursor = self.db.execute(
                "INSERT INTO missed_slots (list_id, date, zone, due_at, logged_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (list_id, date, zone) DO NOTHING",
                [news_list.id, day.isoformat(), zone, to_text(due_at), to_text(now)],
            )
        return cursor.rowcount == 1

    def prune_missed_slots(self, *, before: date) -> int:
        """Forget the missed-slot notes of days before `before`: no round looks at a
        slot that old again (only each target's latest missed slot is checked)."""
        with self.transaction():
            cursor = self.db.execute(
                "DELETE FROM missed_slots WHERE date < ?", [before.isoformat()]
            )
        return max(cursor.rowcount, 0)

    def missed_approval_logged(self, news_list: NewsList, day: date) -> datetime | None:
        """When a round first held the edition for want of approval, or None."""
        row = self._one(
            "SELECT logged_at FROM edition_missed_approvals WHERE list_id = ? AND date = ?",
            [news_list.id, day.isoformat()],
        )
        return from_text(row["logged_at"]) if row is not None else None

    # -- proofs to editors: one row per (edition, editor) ---------------------------------

    def proof_sent(self, news_list: NewsList, day: date, editor: str) -> bool:
        row = self._one(
            "SELECT sent_at FROM edition_proofs WHERE list_id = ? AND date = ? AND editor = ?",
            [news_list.id, day.isoformat(), editor],
        )
        return row is not None and row["sent_at"] is not None

    def claim_proof(
        self, news_list: NewsList, day: date, editor: str, *, now: datetime, stale: timedelta
    ) -> bool:
        """Take the proof for sending: False when it went out already, or another round
        claimed it less than `stale` ago (a crash after a claim frees it once stale)."""
        with self.transaction():
            cursor = self.db.execute(
                "INSERT INTO edition_proofs (list_id, date, editor, claimed_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (list_id, date, editor) DO UPDATE"
                " SET claimed_at = excluded.claimed_at"
                " WHERE sent_at IS NULL AND claimed_at < ?",
                [news_list.id, day.isoformat(), editor, to_text(now), to_text(now - stale)],
            )
        return cursor.rowcount == 1

    def release_proof(self, news_list: NewsList, day: date, editor: str, *, error: str) -> None:
        """Give a claimed proof back after a failed send: the next round may take it."""
        with self.transaction():
            self.db.execute(
                "UPDATE edition_proofs SET claimed_at = '', error = ?"  # '' sorts before any time
                " WHERE list_id = ? AND date = ? AND editor = ? AND sent_at IS NULL",
                [error, news_list.id, day.isoformat(), editor],
            )

    def mark_proof_sent(
        self, news_list: NewsList, day: date, editor: str, *, now: datetime
    ) -> None:
        with self.transaction():
            self.db.execute(
                "UPDATE edition_proofs SET sent_at = ?, error = ''"
                " WHERE list_id = ? AND date = ? AND editor = ?",
                [to_text(now), news_list.id, day.isoformat(), editor],
            )

    def proofs(self, news_list: NewsList, day: date) -> list[dict[str, Any]]:
        """The proofs of one edition: editor, claimed_at, sent_at, error."""
        return list(
            self._rows(
                "SELECT editor, claimed_at, sent_at, error FROM edition_proofs"
                " WHERE list_id = ? AND date = ? ORDER BY editor",
                [news_list.id, day.isoformat()],
            )
        )

    def prune_edition_edits(self, *, before: date) -> int:
        """Forget the edits of editions dated before `before` that never went out (no
        `editions` row): drafts nobody will send. The edits of an edition that went out
        stay, as its row does: the archive shows it as its editor shaped it (a dropped
        story must not come back). Returns how many were forgotten."""
        with self.transaction():
            cursor = self.db.execute(
                "DELETE FROM edition_edits WHERE date < ? AND NOT EXISTS (SELECT 1 FROM"
                " editions WHERE editions.list_id = edition_edits.list_id"
                " AND editions.date = edition_edits.date)",
                [before.isoformat()],
            )
        return max(cursor.rowcount, 0)

    def prune_edition_approvals(self, *, before: date) -> tuple[int, int, int]:
        """Forget the approval side of editions dated before `before`: approvals and
        missed-approval notes of those that never went out (no `editions` row), and the
        proofs of all of them (mails to editors, which nothing reads once the edition's
        day is past). The approval of an edition that went out stays: it is the record
        of who let it go. Returns (approvals, proofs, missed notes) forgotten."""
        unsent = (
            " AND NOT EXISTS (SELECT 1 FROM editions WHERE editions.list_id = {t}.list_id"
            " AND editions.date = {t}.date)"
        )
        day = [before.isoformat()]
        with self.transaction():
            approvals = self.db.execute(
                "DELETE FROM edition_approvals WHERE date < ?"
                + unsent.format(t="edition_approvals"),
                day,
            ).rowcount
            missed = self.db.execute(
                "DELETE FROM edition_missed_approvals WHERE date < ?"
                + unsent.format(t="edition_missed_approvals"),
                day,
            ).rowcount
            proofs = self.db.execute("DELETE FROM edition_proofs WHERE date < ?", day).rowcount
        return max(approvals, 0), max(proofs, 0), max(missed, 0)

    def get_list_by_id(self, list_id: int) -> NewsList | None:
        row = self._one("SELECT * FROM lists WHERE id = ?", [list_id])
        return None if row is None else _list_from_row(row)


def _list_values(news_list: NewsList) -> list[Any]:
    """The stored settings (all but the slug), in the order the statements above use."""
    return [
        news_list.name,
        news_list.from_addr,
        news_list.send_at.strftime("%H:%M"),
        news_list.timezone,
        news_list.locale,
        sections_json(news_list.sections),
        news_list.address,
        int(news_list.only_sections),
        sections_json(news_list.languages),
        format_days(news_list.days),
        news_list.signup,
        news_list.brand_name,
        news_list.logo_url,
        news_list.logo_size,
        news_list.accent,
        news_list.footer,
        news_list.approval,
        sections_json(news_list.editors),
    ]


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
        only_sections=bool(row["only_sections"]),
        languages=tuple(json.loads(row["languages"])),
        days=parse_days(row["days"]),
        signup=row["signup"],
        brand_name=row["brand_name"],
        logo_url=row["logo_url"],
        logo_size=row["logo_size"],
        accent=row["accent"],
        footer=row["footer"],
        approval=row["approval"],
        editors=tuple(json.loads(row["editors"])),
    )
