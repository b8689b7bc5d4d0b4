"""Approval of editions: who may let one go out, what an edition's state is, and the
proofs mailed to a list's editors before the due moment.

A list with `approval="required"` sends nothing (scheduler, `--run-due`, `digest send`)
until its edition is approved; a test copy (`digest send --to`) always works. Approval
is of a version: an edit after it withdraws it (`store.save_edition_edits`), and says
so. Articles that arrive in the edition's window after approval (a feed fetched right
before the send) still join it: approval covers the editor's shaping, not the clock.

An unapproved edition at its due moment is held: logged as a warning once (the first
round that holds it records so in `edition_missed_approvals`; later rounds stay quiet)
and shown as "missed approval" in the preview. It stays approvable; once approved, the
next round of the scheduler or `--run-due` within the catch-up window sends it, and
after that window `digest send --list SLUG --date DATE` does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from digest import issue, timetable
from digest.config import Settings
from digest.errors import ApprovalError, DigestError, InputError
from digest.models import PENDING_STATES, Approval, NewsList
from digest.store import Store

log = logging.getLogger("digest.schedule")

STATES = ("draft", "awaiting approval", "approved", "missed approval", "sending", "sent")
PROOF_CLAIM_STALE = timedelta(minutes=5)  # a claimed proof not stamped by then is sent again


@dataclass(frozen=True, slots=True)
class EditionState:
    """Where one edition stands: `state` is one of STATES; `counts` are the ledger's."""

    state: str
    due_at: datetime
    approval: Approval | None = None
    counts: dict[str, int] = field(default_factory=dict)
    missed_logged_at: datetime | None = None  # when a round held it and said so in the log
    overdue: bool = False  # approved (or not) after its due moment, not begun: a late one

    def late_hint(self, news_list: NewsList, day: date) -> str:
        """What sends an approved edition whose due moment has passed, or ''."""
        if self.state != "approved" or not self.overdue:
            return ""
        return (
            "past its due moment: the next round of `digest schedule` sends it within its"
            " catch-up window (--catch-up, 6 h by default); later, `digest send --list"
            f" {news_list.slug} --date {day.isoformat()}` does"
        )

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def finished(self) -> int:
        return self.total - sum(self.counts.get(s, 0) for s in PENDING_STATES)


def list_zones(store: Store, news_list: NewsList) -> set[str]:
    """The zones the list's editions are timed in: its own and its recipients'."""
    return {z for _, z in timetable.targets(news_list, store.recipient_zones(news_list))}


def first_due(
    store: Store, news_list: NewsList, day: date, *, zones: set[str] | None = None
) -> datetime:
    """The earliest moment the edition is due in any zone its recipients use."""
    zones = zones if zones is not None else list_zones(store, news_list)
    return min(timetable.slot(news_list, z, day).due_at for z in zones)


def edition_state(
    store: Store,
    news_list: NewsList,
    day: date,
    *,
    now: datetime,
    zones: set[str] | None = None,
) -> EditionState:
    due = first_due(store, news_list, day, zones=zones)
    approval = store.edition_approval(news_list, day)
    edition_id = store.find_edition(news_list, day)
    if edition_id is not None:
        counts = store.delivery_counts(edition_id)
        pending = sum(counts.get(s, 0) for s in PENDING_STATES)
        state = "sending" if pending else "sent"
        return EditionState(state, due, approval, counts)
    if news_list.approval != "required":
        return EditionState("draft", due, approval)
    if approval is not None:
        return EditionState("approved", due, approval, overdue=now >= due)
    if now < due:
        return EditionState("awaiting approval", due)
    logged = store.missed_approval_logged(news_list, day)
    return EditionState("missed approval", due, missed_logged_at=logged)


def held_for_approval(store: Store, news_list: NewsList, day: date) -> bool:
    """Whether the list requires approval and this edition, not yet begun, has none."""
    return (
        news_list.approval == "required"
        and store.edition_approval(news_list, day) is None
        and store.find_edition(news_list, day) is None
    )


def require_approval(store: Store, news_list: NewsList, day: date) -> None:
    """ApprovalError, one line, when the edition may not go out yet."""
    if held_for_approval(store, news_list, day):
        key = f"{news_list.slug}/{day.isoformat()}"
        raise ApprovalError(
            f"{key} awaits approval: nothing sent",
            hint=f"approve it with `digest editions approve {news_list.slug} {day.isoformat()}`;"
            " `digest send --to ADDRESS` sends a test copy meanwhile",
        )


def approve(
    store: Store, *, slug: str, day: date, by: str, now: datetime, revoke: bool = False
) -> Approval | None:
    """Approve the edition (or withdraw the approval); the approval now in force, or the
    one withdrawn. Refused for a list without approval, a day it does not send, or an
    edition that began going out."""
    news_list = store.get_list(slug)
    issue.refuse_unsent_day(news_list, day)
    key = f"{news_list.slug}/{day.isoformat()}"
    if news_list.approval != "required":
        raise InputError(
            f"list {news_list.slug!r} does not require approval",
            hint=f"require it first: digest lists edit {news_list.slug} --approval required",
        )
    if store.find_edition(news_list, day) is not None:
        raise InputError(
            f"{key} began going out: its approval can no longer change",
            hint="approve an edition before it is sent",
        )
    if revoke:
        return store.revoke_approval(news_list, day)
    who = by.strip()
    if not who or len(who) > 200 or any(ord(c) < 32 for c in who):
        raise InputError("--by must name who approves, on one line", hint="e.g. --by amina")
    return store.approve_edition(news_list, day, by=who, now=now)


# -- proofs ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProofRun:
    slug: str
    day: date
    editor: str
    error: str = ""


def proof_days(store: Store, news_list: NewsList, now: datetime) -> list[tuple[date, datetime]]:
    """The list's editions whose first due moment is near `now` (yesterday to tomorrow
    in the list's zone), with that moment."""
    today = issue.local_today(news_list, now)
    days = (today + timedelta(days=n) for n in (-1, 0, 1))
    return [(d, first_due(store, news_list, d)) for d in days if issue.sends_on(news_list, d)]


def send_proofs(
    store: Store, settings: Settings, *, now: datetime, catch_up: timedelta
) -> list[ProofRun]:
    """Mail each editor of each approval list one proof of the coming edition, once.

    Due from DIGEST_PROOF_HOURS before the edition's first due moment until the end of
    the catch-up window after it (a proof helps a late approval, too), while the edition
    has articles and has not begun going out. The row is claimed before the send and
    stamped after it: a crash before the send leaves it to the next round (after
    PROOF_CLAIM_STALE), a failed send is given back and logged.
    """
    if settings.proof_hours <= 0:
        return []
    ahead = timedelta(hours=settings.proof_hours)
    runs = []
    for news_list in store.lists():
        if news_list.approval != "required" or not news_list.editors:
            continue
        for day, due in proof_days(store, news_list, now):
            if not due - ahead <= now < due + catch_up:
                continue
            if store.find_edition(news_list, day) is not None:
                continue
            editors = [e for e in news_list.editors if not store.proof_sent(news_list, day, e)]
            if not editors:
                continue
            if store_empty(store, news_list, day):
                continue
            for editor in editors:
                if not store.claim_proof(news_list, day, editor, now=now, stale=PROOF_CLAIM_STALE):
                    continue
                label = f"{news_list.slug}/{day.isoformat()}"
                from digest import proof  # brings email-validator: only when a proof is due

                try:
                    proof.send_proof(
                        store, settings, slug=news_list.slug, day=day, to=editor, now=now
                    )
                except DigestError as exc:
                    store.release_proof(news_list, day, editor, error=exc.message)
                    log.warning("%s: proof to %s not sent: %s", label, editor, exc.message)
                    runs.append(ProofRun(news_list.slug, day, editor, error=exc.message))
                    continue
                store.mark_proof_sent(news_list, day, editor, now=now)
                log.info("%s: proof sent to %s (due %s)", label, editor, f"{due:%H:%M} UTC")
                runs.append(ProofRun(news_list.slug, day, editor))
    return runs


def store_empty(store: Store, news_list: NewsList, day: date) -> bool:
    from digest import pipeline

    return pipeline.load_edition(store, news_list, day).article_count == 0
