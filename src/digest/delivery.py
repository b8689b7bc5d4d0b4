"""The delivery loop: the ledger, the send lock, retries, suppression, crash safety.

Every (edition, subscriber) has one ledger row: queued → sending → sent | deferred |
bounced | failed (or skipped). A row is marked `sending` before its message leaves and
gets its result right after the server's reply, so after a crash (even SIGKILL) the
next run sends exactly the rows without a final state, with the same Message-ID.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from digest.clock import Clock
from digest.errors import BusyError
from digest.models import Delivery
from digest.pool import Job, RateLimiter, SenderPool
from digest.sender import Kind, Outcome, SmtpSettings
from digest.store import Store

Progress = Callable[[int, int, str], None]  # (finished, total, note)
FINAL = {Kind.SENT: "sent", Kind.BOUNCED: "bounced", Kind.FAILED: "failed"}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff for deferred messages, and how long one run waits for them."""

    base: float = 30.0  # first retry after this many seconds, then doubling
    maximum: float = 3600.0  # longest pause between two attempts
    # A run waits for due retries this long after it starts, and a deferred message keeps
    # its retries this long after its first attempt even when the next edition is due.
    window: float = 600.0
    immediate: int = 2  # 421 and lost connections: this many quick retries first

    def delay(self, attempts: int) -> float:
        return float(min(self.maximum, self.base * 2 ** max(0, attempts - 1)))


class SendLock(AbstractContextManager["SendLock"]):
    """One sender per database: an exclusive lock on `<db>.send-lock`.

    The kernel drops the lock when the process ends, however it ends (SIGKILL too).
    """

    def __init__(self, db: Path) -> None:
        self.path = db.with_name(db.name + ".send-lock")
        self._fd: int | None = None

    def __enter__(self) -> SendLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise BusyError(
                f"another sender is already sending from this database (pid {holder})",
                hint="wait for it to finish, then run `digest send` again; nothing was sent",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


@dataclass
class Tally:
    sent: int = 0
    deferred: int = 0  # deferral replies in this run (a row may be deferred, then sent)
    bounced: int = 0
    failed: int = 0
    skipped: int = 0
    expired: int = 0
    stopped: str = ""  # the server or the hourly limit stopped the run
    interrupted: bool = False  # the caller's `stop` said so
    notes: list[str] = field(default_factory=list)


class DeliveryRun:
    """Send every pending row of one edition; see `run()`.

    `build(delivery)` returns the message bytes, or None when the subscriber's section
    choice leaves nothing to send. Time comes in through `clock` alone.

    Retries: a deferred message is retried until `deadline` (the next edition's due
    moment), and in any case for `policy.window` after its first deferral; a retry that
    would fall later is not made. A run waits for due retries at most `policy.window` of
    elapsed time, however its wall clock moves.
    """

    def __init__(
        self,
        store: Store,
        *,
        edition_id: int,
        list_id: int,
        from_addr: str,
        smtp: SmtpSettings,
        build: Callable[[Delivery], bytes | None],
        deadline: datetime,
        policy: RetryPolicy,
        clock: Clock,
        soft_bounce_limit: int = 3,
        progress: Progress | None = None,
        include: Callable[[Delivery], bool] | None = None,
        stop: Callable[[], bool] | None = None,
        envelope_from: Callable[[Delivery], str] | None = None,
        wire: bool = False,
    ) -> None:
        self.store = store
        self.wire = wire  # build returns message.build_wire's form
        self.envelope_from = envelope_from or (lambda delivery: from_addr)
        self.include = include
        self.stop = stop or (lambda: False)
        self.edition_id = edition_id
        self.list_id = list_id
        self.from_addr = from_addr
        self.smtp = smtp
        self.build = build
        self.deadline = deadline
        self.policy = policy
        self.soft_bounce_limit = soft_bounce_limit
        self.clock = clock
        self.now = clock.now
        self.progress = progress or (lambda done, total, note: None)
        self.tally = Tally()
        self.inflight = 0
        self.finished = 0
        self.total = 0
        self._read_at = -1  # data_version when the current batch was read
        self._nudge: Callable[[], None] = lambda: None  # after each commit (checkpoints)

    def run(self) -> Tally:
        started = self.now()
        self._expire(started)
        self.total = self.store.count_pending(self.edition_id, self.include)
        if not self.total:
            return self.tally
        self.progress(0, self.total, "")
        limiter = self._limiter(started)
        wait_until = self.clock.monotonic() + self.policy.window
        with SenderPool(self.smtp) as pool, self.store.checkpoints_aside() as aside:
            self._nudge = aside.nudge
            due = started  # queued rows, and deferred ones whose retry time has come
            while True:
                self._pass(pool, limiter, due)
                self._drain(pool, until_empty=True)
                if self.tally.stopped:
                    break
                retry_at = self.store.next_retry_at(self.edition_id)
                if retry_at is None:
                    break
                pause = max(0.0, (retry_at - self.now()).total_seconds())
                # Elapsed time, not the wall clock, ends the wait: a frozen or stepped
                # clock cannot keep a run waiting past its window.
                if self.clock.monotonic() + pause > wait_until:
                    break
                if pause > 0:
                    self.progress(self.finished, self.total, f"retrying in {pause:.0f} s")
                    self._nap(pause)
                if self.halted:
                    break
                due = self.now()
        self._expire(self.now())
        return self.tally

    def _expire(self, now: datetime) -> None:
        """Give up deferred rows whose retries are over (see `give_up_at`)."""
        self.tally.expired += self.store.expire_deliveries(
            self.edition_id, reason="gave up: retried until the next edition was due", now=now
        )

    def give_up_at(self, now: datetime) -> datetime:
        """When a message first deferred `now` stops being retried: the next edition's due
        moment, or `policy.window` from now if that is later (a late run)."""
        return max(self.deadline, now + timedelta(seconds=self.policy.window))

    @property
    def halted(self) -> bool:
        return bool(self.tally.stopped or self.tally.interrupted)

    def _nap(self, seconds: float) -> None:
        """Sleep, a second at a time, so that `stop` is heard during a long wait."""
        while seconds > 0 and not self._stopping():
            step = min(seconds, 1.0)
            self.clock.sleep(step)
            seconds -= step

    def _stopping(self) -> bool:
        if not self.tally.interrupted and self.stop():
            self.tally.interrupted = True
            self.tally.notes.append("stopped before the end; run again to send the rest")
        return self.tally.interrupted

    def _limiter(self, started: datetime) -> RateLimiter:
        history: list[float] = []
        if self.smtp.max_per_hour:
            base = self.clock.monotonic()
            history = [
                base - (started - sent).total_seconds()
                for sent in self.store.sent_since(
                    started - timedelta(hours=1), limit=self.smtp.max_per_hour
                )
            ]
        return RateLimiter(
            self.smtp.rate,
            self.smtp.max_per_hour,
            clock=self.clock.monotonic,
            sleep=self.clock.sleep,
            history=history,
        )

    def _pass(self, pool: SenderPool, limiter: RateLimiter, due: datetime) -> None:
        after = 0
        while not self.halted:
            batch = self.store.pending_deliveries(
                self.edition_id, self.list_id, after_id=after, due_at=due
            )
            self._read_at = self.store.changed_elsewhere()
            if not batch:
                return
            for i, delivery in enumerate(batch):
                after = delivery.id
                if self.tally.stopped or self._stopping():
                    return
                if self.include is None or self.include(delivery):
                    following = batch[i + 1] if i + 1 < len(batch) else None
                    self._dispatch(pool, limiter, delivery, self._then(following))

    def _then(self, following: Delivery | None) -> tuple[str, str] | None:
        """The envelope of the message likely to go next, to pipeline after this one's
        final dot: only when nothing paces the send (an open DATA must not wait at
        the server) and the batch says the next subscriber may get mail. A guess that
        turns out wrong costs a reconnect, never a message."""
        if (
            following is None
            or following.suppressed != ""
            or self.smtp.rate
            or self.smtp.max_per_hour
            or (self.include is not None and not self.include(following))
        ):
            return None
        return self.envelope_from(following), _envelope_to(following.subscriber.email)

    def _dispatch(
        self,
        pool: SenderPool,
        limiter: RateLimiter,
        delivery: Delivery,
        then: tuple[str, str] | None = None,
    ) -> None:
        subscriber = delivery.subscriber
        assert subscriber.id is not None
        # Checked right before the message: an unsubscribe during a long send counts.
        # What the batch read still holds unless another connection has written since.
        reason = delivery.suppressed
        if reason is None or self.store.changed_elsewhere() != self._read_at:
            reason = self.store.suppression(subscriber.id, self.list_id)
        data = None if reason else self.build(delivery)
        if data is None:
            self.store.finish_delivery(
                delivery.id,
                status="skipped",
                reply=reason or "no articles in the subscriber's sections",
                now=self.now(),
            )
            self.tally.skipped += 1
            self._advance()
            return
        pause = limiter.delay()
        if pause > self.policy.window:
            until = self.now() + timedelta(seconds=pause)
            self.tally.stopped = (
                f"hourly limit of {self.smtp.max_per_hour} messages reached; the rest stays"
                f" queued: run `digest send` again after {until:%H:%M} UTC"
            )
            return
        if pause > 0:
            self.progress(self.finished, self.total, f"pacing: waiting {pause:.1f} s")
            self._drain(pool)  # record what is done before waiting
            if pause > 1.0:
                self._nap(pause)
                if self.tally.interrupted:
                    return
        limiter.wait()
        # A connection is handed its next message only once its last result is in the
        # ledger: a SIGKILL then resends at most one message per connection.
        results = pool.results()
        while not pool.ready():
            results += pool.results(wait=0.5)
        # One commit per message: the replies that came in since the last message, and
        # this row marked 'sending' before it leaves.
        with self.store.transaction():
            self._record_all(pool, results)
            if self.tally.stopped:
                return
            self.store.mark_sending(delivery.id, now=self.now())
        self._nudge()
        pool.submit(
            Job(
                delivery,
                self.envelope_from(delivery),
                _envelope_to(subscriber.email),
                data,
                wire=self.wire,
                then=then,
            )
        )
        self.inflight += 1

    def _drain(self, pool: SenderPool, *, until_empty: bool = False) -> None:
        while True:
            wait = 0.5 if until_empty and self.inflight else None
            results = pool.results(wait=wait)
            if results:
                with self.store.transaction():
                    self._record_all(pool, results)
            if not until_empty or not self.inflight:
                return

    def _record_all(self, pool: SenderPool, results: list[tuple[Job, Outcome]]) -> None:
        for job, outcome in results:
            self.inflight -= 1
            self._record(job.token, outcome, pool)

    def _record(self, delivery: Delivery, outcome: Outcome, pool: SenderPool) -> None:
        now = self.now()
        attempts = delivery.attempts + 1
        kind = outcome.kind
        subscriber_id = delivery.subscriber.id
        if kind is Kind.SOFT_BOUNCED:
            assert subscriber_id is not None
            limit = self.soft_bounce_limit
            count = self.store.record_soft_bounce(
                subscriber_id,
                delivery.edition_id,
                reply=outcome.text,
                code=outcome.code or None,
                now=now,
                limit=limit,
                via="smtp",
            )
            verdict = "; the subscriber is now bounced" if count >= limit else ""
            self.store.finish_delivery(
                delivery.id,
                status="bounced",
                reply=f"{outcome.text} (soft bounce {count} of {limit}{verdict})",
                code=outcome.code or None,
                now=now,
            )
            self.tally.bounced += 1
            self._advance()
            return
        if kind in FINAL:
            self.store.finish_delivery(
                delivery.id,
                status=FINAL[kind],
                reply=outcome.text,
                code=outcome.code or None,
                now=now,
                bounce_subscriber=subscriber_id if kind is Kind.BOUNCED else None,
            )
            setattr(self.tally, FINAL[kind], getattr(self.tally, FINAL[kind]) + 1)
            self._advance()
            return
        if kind in (Kind.POLICY, Kind.DOWN):
            self.store.release_delivery(
                delivery.id, reply=outcome.text, now=now, attempted=kind is Kind.POLICY
            )
            if not self.tally.stopped:
                self.tally.stopped = outcome.text
                for job in pool.cancel_pending():
                    self.inflight -= 1
                    self.store.release_delivery(job.token.id, reply="", now=now, attempted=False)
            return
        if kind is Kind.MAYBE:
            # The server may have it: not a reason to resend at once (same Message-ID later).
            delay = self.policy.maximum
            reply = "maybe delivered: " + outcome.text
        elif kind in (Kind.RECONNECT, Kind.RETRY) and attempts <= self.policy.immediate:
            delay, reply = 0.0, outcome.text
        else:
            delay, reply = self.policy.delay(attempts), outcome.text
        self.store.finish_delivery(
            delivery.id,
            status="deferred",
            reply=reply,
            code=outcome.code or None,
            now=now,
            retry_at=now + timedelta(seconds=delay),
            give_up_at=self.give_up_at(now),
        )
        self.tally.deferred += 1

    def _advance(self) -> None:
        self.finished += 1
        self.progress(self.finished, self.total, "")


def _envelope_to(address: str) -> str:
    from digest.message import ascii_address

    return ascii_address(address)
