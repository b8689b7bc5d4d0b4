"""Run what the timetable says is due, once: used by `digest schedule` and by cron.

The ledger decides what has been sent, never this module's memory: running the same
slot twice sends nothing twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from digest import pipeline, timetable
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
    clock: Callable[[], datetime],
    stop: Callable[[], bool] | None = None,
) -> Run:
    """Send one slot's batch and log one line: list, edition, counts, elapsed."""
    started = time.monotonic()
    try:
        report = pipeline.send_edition(
            store,
            settings,
            slug=slot.news_list.slug,
            day=slot.day,
            now=clock,
            zone=slot.zone,
            stop=stop,
        )
    except DigestError as exc:
        log.error(
            "%s: failed: %s (%s) %.1f s",
            slot.label,
            exc.message,
            exc.hint,
            time.monotonic() - started,
        )
        return Run(slot, error=exc.message)
    log.info(
        "%s: %d articles, %d recipients; sent %d, already sent %d, skipped %d, failed %d; %.1f s%s",
        slot.label,
        report.articles,
        report.recipients,
        report.sent,
        report.already_sent,
        report.skipped,
        report.failed,
        report.elapsed,
        "".join(f"; {note}" for note in report.notes),
    )
    return Run(slot, report)


def _pending(store: Store, slot: Slot) -> bool:
    """Whether the slot's edition has articles and recipients in its zone who lack it."""
    edition = pipeline.load_edition(store, replace(slot.news_list, timezone=slot.zone), slot.day)
    if edition.article_count == 0:
        return False
    edition_id = store.find_edition(slot.news_list, slot.day)
    done = set() if edition_id is None else store.delivered_subscriber_ids(edition_id)
    return any(
        r.subscriber.id not in done
        and timetable.effective_zone(r.subscriber.timezone, slot.news_list.timezone) == slot.zone
        for r in store.recipients(slot.news_list)
    )


def run_due(
    store: Store,
    settings: Settings,
    *,
    now: datetime,
    catch_up: timedelta,
    clock: Callable[[], datetime] | None = None,
    stop: Callable[[], bool] | None = None,
    only: tuple[str, str] | None = None,
) -> list[Run]:
    """Run every slot due at `now` (within `catch_up`); log the ones missed for good.

    Slots with nothing pending are passed over without touching SMTP, so running this
    every few minutes from cron is cheap.

    `clock` stamps the ledger (default: `now` itself, for cron and tests); `only`
    limits the run to one (list slug, zone) pair, as the scheduler's jobs do.
    """
    pairs = all_targets(store)
    if only is not None:
        pairs = [(lst, z) for lst, z in pairs if (lst.slug, z) == only]
    the_plan = timetable.plan(pairs, now=now, catch_up=catch_up)
    for slot in the_plan.missed:
        if _pending(store, slot):
            late = (now - slot.due_at) / timedelta(hours=1)
            log.warning(
                "%s: skipped: due %s, missed by %.1f h, more than the %.1f h catch-up window",
                slot.label,
                slot.due_at.isoformat(timespec="minutes"),
                late,
                catch_up / timedelta(hours=1),
            )
    runs = []
    for slot in the_plan.due:
        if stop is not None and stop():
            break
        if not _pending(store, slot):
            log.debug("%s: nothing pending (no articles, or everyone has it)", slot.label)
            continue
        runs.append(run_slot(store, settings, slot, clock=clock or (lambda: now), stop=stop))
    return runs
