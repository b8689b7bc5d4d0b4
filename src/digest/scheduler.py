"""APScheduler wiring for `digest schedule`: one job per (list, zone in use).

What is due and when lives in `timetable` (pure) and `dispatch` (runs a slot through
the pipeline); this module only keeps APScheduler's jobs in line with the database and
turns signals into a clean stop or a reload.

Choices, each against a pitfall of APScheduler 3.11:

* Jobs use `SlotTrigger`, which asks `timetable.next_slot`, instead of `CronTrigger`:
  one tested place decides daylight-saving gaps and repeats.
* `misfire_grace_time=None`: a job that starts late (the worker was busy with another
  send) still runs; the default of 1 s would drop it silently.
* Jobs are added once and rescheduled only when their list changed; re-adding with
  `replace_existing=True` would drop a run that is due.
* Missed runs after downtime are not APScheduler's business: on start, `dispatch.run_due`
  sends what the ledger says is pending within the catch-up window.
* Deferred messages get their later attempts on every reload (`dispatch.retry_started`),
  until the list's next edition is due; the ledger holds their retry times.
* Approval lists (`approval`): every reload also mails the editors' proofs that are
  due and sends an edition approved after its due moment, within the catch-up window.
* One worker thread: sends run one after another, never two at once on one database.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger

from digest import dispatch, timetable
from digest.clock import SYSTEM, Clock
from digest.config import Settings
from digest.errors import DigestError
from digest.models import NewsList
from digest.store import Store

log = logging.getLogger("digest.schedule")


class SlotTrigger(BaseTrigger):
    """Fires at each slot of one (list, zone), as `timetable` computes them."""

    def __init__(self, news_list: NewsList, zone: str) -> None:
        self.news_list = news_list
        self.zone = zone

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        after = previous_fire_time or now
        return timetable.next_slot(self.news_list, self.zone, after).due_at

    @property
    def key(self) -> tuple[str, str, str, tuple[int, ...]]:
        """What the job depends on; a change means rescheduling."""
        news_list = self.news_list
        return (news_list.send_at.isoformat(), news_list.timezone, self.zone, news_list.days)

    def __str__(self) -> str:
        return f"slot[{self.news_list.slug} {self.news_list.send_at:%H:%M} {self.zone}]"


def job_id(slug: str, zone: str) -> str:
    return f"send:{slug}:{zone}"


class Scheduler:
    """`digest schedule` in the foreground. `run()` blocks until SIGTERM or SIGINT."""

    def __init__(
        self,
        settings: Settings,
        *,
        catch_up: timedelta = timetable.DEFAULT_CATCH_UP,
        reload_every: timedelta = timedelta(minutes=5),
        clock: Clock = SYSTEM,
    ) -> None:
        self.settings = settings
        self.catch_up = catch_up
        self.reload_every = reload_every
        self.clock = clock
        self.stopping = threading.Event()  # asked by the send loop before each message
        # Signal handlers may run while this very thread holds an Event's lock, so they
        # never touch Events or logging: they set plain flags and write to this pipe.
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._wake_r, False)
        self._stop_requested = False
        self._wakeup_installed = False
        self._lock = threading.Lock()
        self.signal_name = ""
        self.reload_requested = False
        self.aps = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )

    # -- jobs ---------------------------------------------------------------------------

    def sync(self, *, catch_up_changes: bool = False) -> dict[str, list[str]]:
        """Make the jobs match the database: add, reschedule and remove; never re-add.

        With `catch_up_changes` (reloads while running), an added or changed job also
        gets one immediate run, so a list created or moved to an earlier time today is
        caught up within the window exactly as it would be after a restart.
        """
        with Store.open(
            self.settings.db,
            create=False,
            busy_timeout=self.settings.busy_timeout,
            events=bool(self.settings.webhook_url),
        ) as store:
            pairs = dispatch.all_targets(store)
        wanted = {job_id(lst.slug, zone): (lst, zone) for lst, zone in pairs}
        changes: dict[str, list[str]] = {"added": [], "changed": [], "removed": []}
        with self._lock:
            current = {job.id: job for job in self.aps.get_jobs() if job.id.startswith("send:")}
            for jid in current:
                if jid not in wanted:
                    self.aps.remove_job(jid)
                    changes["removed"].append(jid)
            for jid, (news_list, zone) in wanted.items():
                trigger = SlotTrigger(news_list, zone)
                job = current.get(jid)
                if job is None:
                    self.aps.add_job(
                        self._fire, trigger, args=(news_list.slug, zone), id=jid, name=jid
                    )
                    changes["added"].append(jid)
                elif job.trigger.key != trigger.key:
                    self.aps.reschedule_job(jid, trigger=trigger)
                    changes["changed"].append(jid)
            if catch_up_changes:
                for jid in changes["added"] + changes["changed"]:
                    news_list, zone = wanted[jid]
                    self.aps.add_job(
                        self._fire,
                        args=(news_list.slug, zone),
                        id="catch-up:" + jid,
                        replace_existing=True,
                    )
        if any(changes.values()):
            log.info(
                "jobs: %d (added %s; changed %s; removed %s)",
                len(wanted),
                ", ".join(changes["added"]) or "none",
                ", ".join(changes["changed"]) or "none",
                ", ".join(changes["removed"]) or "none",
            )
        return changes

    def _fire(self, slug: str, zone: str) -> None:
        """A job: run this (list, zone)'s due slot; the ledger makes a rerun harmless."""
        if self.should_stop():
            return
        runs = self._dispatch(dispatch.run_due, catch_up=self.catch_up, only=(slug, zone))
        if not runs:
            log.info(
                "%s [%s]: nothing to send at %s (no articles, or everyone has it)",
                slug,
                zone,
                f"{self.clock.now():%H:%M} UTC",
            )

    def next_runs(self) -> list[tuple[str, datetime | None]]:
        return [(job.id, getattr(job, "next_run_time", None)) for job in self.aps.get_jobs()]

    # -- lifetime -----------------------------------------------------------------------

    def catch_up_now(self) -> list[dispatch.Run]:
        """Send what was missed within the catch-up window (on start)."""
        return self._dispatch(dispatch.run_due, catch_up=self.catch_up)

    def retry_now(self) -> list[dispatch.Run]:
        """Give deferred messages of started editions their next attempt (every reload);
        mail editors their proofs, and send editions approved after their due moment."""
        late = self._dispatch(dispatch.run_due, catch_up=self.catch_up, approval_only=True)
        return late + self._dispatch(dispatch.retry_started)

    def _dispatch(
        self, run: Callable[..., list[dispatch.Run]], **options: Any
    ) -> list[dispatch.Run]:
        """Call a `dispatch` function with a fresh store, this clock and this stop flag."""
        with Store.open(
            self.settings.db,
            create=False,
            busy_timeout=self.settings.busy_timeout,
            events=bool(self.settings.webhook_url),
        ) as store:
            runs = run(
                store,
                self.settings,
                clock=self.clock,
                stop=self.should_stop,
                **options,
            )
            self.send_events(store)
        return runs

    def send_events(self, store: Store) -> None:
        """Events out after each round (and each reload): cheap when none are pending."""
        if not self.settings.webhook_url or self.should_stop():
            return
        from digest import notifier

        try:
            report = notifier.send_events(store, self.settings, clock=self.clock, limit=1000)
        except DigestError as exc:  # a round's mail went out; the events wait for the next
            log.error("events out: %s (%s)", exc.message, exc.hint)
            return
        if report.delivered or report.failed or report.retrying:
            log.info("%s", report.summary())

    def should_stop(self) -> bool:
        return self._stop_requested or self.stopping.is_set()

    def _wake(self) -> None:
        # OSError: the pipe is full (a wake is pending anyway) or already closed (stopped).
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b".")

    def request_stop(self, *_: Any) -> None:
        """Stop after the message in flight (safe from a signal handler or another thread)."""
        self._stop_requested = True
        self._wake()

    def request_reload(self, *_: Any) -> None:
        self.reload_requested = True
        self._wake()

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT stop after the message in flight; SIGHUP reloads the lists.

        The handlers only set flags and write to a pipe: taking a lock (logging, an
        Event) in a handler deadlocks when the interrupted code holds that lock. A second
        SIGTERM or SIGINT ends the process at once.
        """

        def stop(signum: int, _frame: FrameType | None) -> None:
            self.signal_name = signal.Signals(signum).name
            self.request_stop()
            signal.signal(signum, signal.SIG_DFL)

        def reload(_signum: int, _frame: FrameType | None) -> None:
            self.request_reload()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reload)
        # A signal may land on the worker thread while a send runs; Python then runs the
        # handler only when the main thread next executes bytecode, and the main thread
        # sits in select(). The wakeup fd makes the C-level handler write to the pipe,
        # so select() returns at once and the handler runs.
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        self._wakeup_installed = True

    def run(self) -> None:
        """Catch up, start the jobs, reload on SIGHUP and every `reload_every`; stop cleanly."""
        log.info(
            "scheduler starting: catch-up window %.1f h, reload every %d s",
            self.catch_up / timedelta(hours=1),
            self.reload_every.total_seconds(),
        )
        self.aps.start()
        try:
            self.sync()
            for jid, when in self.next_runs():
                log.info("next %s at %s", jid, when.isoformat(timespec="minutes") if when else "-")
            # The catch-up runs on the one worker thread like every job, so it never
            # overlaps a job that comes due meanwhile (which waits, then runs).
            self.aps.add_job(self.catch_up_now, id="catch-up")
            log.info("ready")
            while True:
                select.select([self._wake_r], [], [], self.reload_every.total_seconds())
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_r, 512)
                if self._stop_requested:
                    self.stopping.set()
                    break
                if self.reload_requested:
                    self.reload_requested = False
                    log.info("SIGHUP: reloading lists")
                self.sync(catch_up_changes=True)
                # On the worker thread like every send; a retry still waiting is replaced.
                self.aps.add_job(self.retry_now, id="retry", replace_existing=True)
            log.info("%s: finishing the message in flight", self.signal_name or "stop")
        finally:
            self.aps.shutdown(wait=True)
            if self._wakeup_installed:
                signal.set_wakeup_fd(-1)
            os.close(self._wake_r)
            os.close(self._wake_w)
        log.info("stopped")
