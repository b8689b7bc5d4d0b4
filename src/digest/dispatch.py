"""Run what the timetable says is due, once: used by `digest schedule` and by cron.

The ledger decides what has been sent, never this module's memory: running the same
slot twice sends nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from digest import approval, issue, pipeline, timetable
from digest.clock import Clock
from digest.config import Settings
from digest.errors import DigestError
from digest.models import DeliveryReport, NewsList
from digest.store import Store
from digest.timetable import Slot

log = logging.getLogger("digest.schedule")


@dataclass(frozen=True, slots=True)
class Run:
    slot: Slot
    report: DeliveryReport | None = None
    error: str = ""
    held: str = ""  # why the slot was not sent although due (the edition awaits approval)


def all_targets(store: Store) -> list[tuple[NewsList, str]]:
    """Every (list, zone) pair that needs a job, read fresh from the database."""
    pairs: list[tuple[NewsList, str]] = []
    for news_list in store.lists():
        pairs += timetable.targets(news_list, store.recipient_zones(news_list))
    return pairs


def run_slot(
    store: Store,
    settings: Settings,
    slot: Slot,
    *,
    clock: Clock,
    stop: Callable[[], bool] | None = None,
) -> Run:
    """Send one slot's batch and log one line: list, edition, counts, elapsed."""
    started = clock.monotonic()
    try:
        report = pipeline.send_edition(
            store,
            settings,
            slug=slot.news_list.slug,
            day=slot.day,
            clock=clock,
            zone=slot.zone,
            stop=stop,
        )
    except DigestError as exc:
        log.error(
            "%s: failed: %s (%s) %.1f s",
            slot.label,
            exc.message,
            exc.hint,
            clock.monotonic() - started,
        )
        return Run(slot, error=exc.message)
    log.info(
        "%s: %s, %s; sent %d, already sent %d, skipped %d, failed %d; %.1f s%s",
        slot.label,
        issue.counted(report.articles, "article"),
        issue.counted(report.recipients, "recipient"),
        report.sent,
        report.already_sent,
        report.skipped,
        report.failed,
        report.elapsed,
        "".join(f"; {note}" for note in report.notes),
    )
    return Run(slot, report)


def _pending(store: Store, slot: Slot, now: datetime) -> bool:
    """Whether the slot's edition has articles and, in its zone, someone to send to now.

    The ledger decides: a recipient is pending without a row, or with a row still
    queued or sending, or deferred with its retry time come. When no recipient can
    have been added since every one of them had a row (the roster version says so),
    only the pending rows are looked at: an idle round stays cheap at any list size.
    """
    edition = pipeline.load_edition(store, replace(slot.news_list, timezone=slot.zone), slot.day)
    if edition.article_count == 0:
        return False
    list_zone = slot.news_list.timezone

    def in_zone(own: str) -> bool:
        return timetable.effective_zone(own, list_zone) == slot.zone

    edition_id = store.find_edition(slot.news_list, slot.day)
    if edition_id is not None and store.edition_pruned(slot.news_list, slot.day):
        return False  # folded into counts long ago: never sent again
    if edition_id is None:
        return any(in_zone(r.subscriber.timezone) for r in store.recipients(slot.news_list))
    assert slot.news_list.id is not None
    version = store.roster_version()  # read first: a change after this moves it again
    covered = store.roster_cover(edition_id, slot.zone)
    if covered == version:
        return store.due_rows_exist(edition_id, slot.news_list.id, now=now, zone_ok=in_zone)
    # Since then: only the subscribers the log names, or (too many) the whole list.
    changes = None if covered is None else store.roster_changes(covered, version)
    if changes is not None and store.due_rows_exist(
        edition_id, slot.news_list.id, now=now, zone_ok=in_zone
    ):
        return True
    if store.unsettled_recipient_exists(
        edition_id,
        slot.news_list,
        now=now,
        zone_ok=in_zone,
        among=None if changes is None else changes.subscribers,
    ):
        return True
    store.mark_roster_covered(edition_id, slot.zone, version)
    return False


def _fetch_feeds(store: Store, clock: Clock) -> None:
    """Refresh every feed right before a first send, so the edition has the latest news."""
    for report in pipeline.fetch_feeds(store, now=clock.now):
        if report.status == "failed":
            log.warning("feed %s: %s", report.feed.title or report.feed.url, report.error)


def send_signup_mail(store: Store, settings: Settings, *, now: datetime) -> tuple[int, int]:
    """Sign-up confirmations left waiting (a refusing server, a crash) go out with every
    round: (sent, left). When none waits this is one indexed look-up, and nothing more
    is imported (no renderer, no SMTP connection)."""
    since = now - timedelta(seconds=settings.signup_expiry)
    if not store.has_unsent_signups(since=since) and not store.has_unsent_welcomes(since=since):
        return 0, 0
    from digest import signup

    sent, left = signup.send_pending(store, settings, now=now)
    log.info("sign-up mail: sent %d, left %d", sent, left)
    return sent, left


def run_due(
    store: Store,
    settings: Settings,
    *,
    clock: Clock,
    catch_up: timedelta,
    stop: Callable[[], bool] | None = None,
    only: tuple[str, str] | None = None,
    fetch: bool = True,
    approval_only: bool = False,
) -> list[Run]:
    """Run every slot due now (within `catch_up`); log the ones missed for good.

    Slots with nothing pending are passed over without touching SMTP, so running this
    every few minutes from cron is cheap. Before a slot's first send, feeds are fetched
    (unless `fetch` is off), so the edition holds what they published up to then.

    "Now" is `clock.now()` when the round starts; the same clock stamps the ledger.
    `only` limits the run to one (list slug, zone) pair, as the scheduler's jobs do;
    `approval_only` to the lists that require approval (the scheduler's reloads: an
    edition approved after its due moment goes out then, within the catch-up window).
    Proofs to editors (`approval.send_proofs`) go out first, on every round.
    """
    now = clock.now()
    send_signup_mail(store, settings, now=now)
    approval.send_proofs(store, settings, now=now, catch_up=catch_up)
    pairs = all_targets(store)
    if only is not None:
        pairs = [(lst, z) for lst, z in pairs if (lst.slug, z) == only]
    if approval_only:
        pairs = [(lst, z) for lst, z in pairs if lst.approval == "required"]
    the_plan = timetable.plan(pairs, now=now, catch_up=catch_up)
    if fetch and any(
        store.find_edition(s.news_list, s.day) is None
        and not approval.held_for_approval(store, s.news_list, s.day)  # not sent anyway
        for s in the_plan.due
    ):
        _fetch_feeds(store, clock)
    for slot in the_plan.missed:  # logged once: the first round records it
        if _pending(store, slot, now) and store.note_missed_slot(
            slot.news_list, slot.day, slot.zone, due_at=slot.due_at, now=now
        ):
            late = (now - slot.due_at) / timedelta(hours=1)
            log.warning(
                "%s: skipped: due %s, missed by %.1f h, more than the %.1f h catch-up window",
                slot.label,
                slot.due_at.isoformat(timespec="minutes"),
                late,
                catch_up / timedelta(hours=1),
            )
    return _run_pending(store, settings, the_plan.due, now=now, clock=clock, stop=stop)


def retry_started(
    store: Store,
    settings: Settings,
    *,
    clock: Clock,
    stop: Callable[[], bool] | None = None,
) -> list[Run]:
    """Resume editions that already began going out, until each list's next edition.

    This is how deferred messages get their later attempts under `digest schedule`
    (it runs on every reload): a started edition of the last day with a retry whose
    time has come, or a row left queued, is sent again through the ledger. Editions
    that never began are the catch-up window's business, not this function's.
    """
    now = clock.now()
    send_signup_mail(store, settings, now=now)
    the_plan = timetable.plan(all_targets(store), now=now, catch_up=timedelta(days=1))
    started = [s for s in the_plan.due if store.find_edition(s.news_list, s.day) is not None]
    return _run_pending(store, settings, started, now=now, clock=clock, stop=stop)


def _run_pending(
    store: Store,
    settings: Settings,
    slots: Iterable[Slot],
    *,
    now: datetime,
    clock: Clock,
    stop: Callable[[], bool] | None,
) -> list[Run]:
    runs = []
    for slot in slots:
        if stop is not None and stop():
            break
        if not _pending(store, slot, now):
            log.debug("%s: nothing pending (no articles, or everyone has it)", slot.label)
            continue
        if approval.held_for_approval(store, slot.news_list, slot.day):
            runs.append(Run(slot, held="missed approval"))
            if not store.note_missed_approval(
                slot.news_list, slot.day, due_at=slot.due_at, now=now
            ):
                log.debug("%s: still held for approval (logged before)", slot.label)
                continue
            log.warning(
                "%s: missed approval: due %s, not sent; `digest editions approve %s %s`"
                " lets the next round send it",
                slot.label,
                slot.due_at.isoformat(timespec="minutes"),
                slot.news_list.slug,
                slot.day.isoformat(),
            )
            continue
        runs.append(run_slot(store, settings, slot, clock=clock, stop=stop))
    return runs
