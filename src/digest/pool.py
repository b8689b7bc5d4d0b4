"""Feeding messages to SMTP connections: `?connections=N` in threads, `?rate=`, `?max_per_hour=`."""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from digest.errors import SmtpError
from digest.sender import Kind, Outcome, SmtpSender, SmtpSettings


@dataclass(frozen=True, slots=True)
class Job:
    """One message for the pool; `token` comes back with its Outcome."""

    token: Any
    from_addr: str
    to_addr: str
    data: bytes
    wire: bool = False  # data is dot-stuffed and terminated (message.build_wire)
    # The envelope (from, to) of the message likely to follow on this connection, sent
    # after this one's final dot (see SmtpSender.deliver). One connection only: with
    # threads the next message goes to whichever connection is free.
    then: tuple[str, str] | None = None


class SenderPool(AbstractContextManager["SenderPool"]):
    """`connections` SmtpSenders, each in its own thread with a slot for one job.

    A connection gets its next message only after the caller has taken its last result
    (`results()`), and the caller records what it takes before it submits again, so at
    any moment each connection holds at most one message that the server may have
    accepted but the ledger does not say so: a SIGKILL resends at most `connections`.
    `ready()` says whether a connection is free; `submit` needs one.

    With one connection there is no thread: `submit` sends at once. Two busy threads
    would fight over the GIL (each blocking call hands it over and waits up to the
    switch interval to get it back), which costs more than the overlap wins.
    Entering connects every sender first, so a wrong URL or password fails at once.
    """

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._slots: list[queue.Queue[Job | None]] = []
        self._idle: list[int] = []  # workers whose last result the caller has taken
        self._results: queue.Queue[tuple[int, Job, Outcome]] = queue.Queue()
        self._senders: list[SmtpSender] = []
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> SenderPool:
        try:
            for _ in range(self.settings.connections):
                sender = SmtpSender(self.settings)
                sender.connect()
                self._senders.append(sender)
        except SmtpError:
            self._close_senders()
            raise
        if len(self._senders) == 1:
            return self
        for i, sender in enumerate(self._senders):
            slot: queue.Queue[Job | None] = queue.Queue(maxsize=1)
            thread = threading.Thread(
                target=self._work, args=(i, sender, slot), name=f"smtp-{i}", daemon=True
            )
            thread.start()
            self._slots.append(slot)
            self._idle.append(i)
            self._threads.append(thread)
        return self

    def _work(self, index: int, sender: SmtpSender, slot: queue.Queue[Job | None]) -> None:
        while True:
            job = slot.get()
            if job is None:
                return
            self._results.put((index, job, self._deliver(sender, job)))

    def _deliver(self, sender: SmtpSender, job: Job) -> Outcome:
        then = job.then if not self._threads else None
        try:
            return sender.deliver(job.from_addr, job.to_addr, job.data, wire=job.wire, then=then)
        except Exception as exc:  # a bug must not leave the job unanswered
            sender.close(polite=False)
            return Outcome(Kind.RETRY, 0, f"internal error: {exc!r}")

    def ready(self) -> bool:
        """Whether a connection is free for `submit` (always, with one connection)."""
        return not self._threads or bool(self._idle)

    def submit(self, job: Job) -> None:
        """Hand a message to a free connection (one connection: send it now)."""
        if not self._threads:
            self._results.put((0, job, self._deliver(self._senders[0], job)))
            return
        if not self._idle:
            raise RuntimeError("submit() with every connection busy; wait for results()")
        self._slots[self._idle.pop()].put(job)

    def results(self, *, wait: float | None = None) -> list[tuple[Job, Outcome]]:
        """Finished jobs; waits up to `wait` seconds for the first one (None: don't wait).

        Each connection whose result is returned becomes free for the next `submit`.
        """
        done: list[tuple[int, Job, Outcome]] = []
        try:
            if wait is not None and self._threads:
                done.append(self._results.get(timeout=wait))
            while True:
                done.append(self._results.get_nowait())
        except queue.Empty:
            pass
        if self._threads:
            self._idle.extend(index for index, _, _ in done)
        return [(job, outcome) for _, job, outcome in done]

    def cancel_pending(self) -> list[Job]:
        """Take back every job no sender has started."""
        taken: list[Job] = []
        for index, slot in enumerate(self._slots):
            try:
                job = slot.get_nowait()
            except queue.Empty:
                continue
            if job is not None:
                taken.append(job)
                self._idle.append(index)
        return taken

    def __exit__(self, *exc: object) -> None:
        self.cancel_pending()
        for slot in self._slots:
            slot.put(None)
        for thread in self._threads:
            thread.join()
        self._close_senders()

    def _close_senders(self) -> None:
        for sender in self._senders:
            sender.close()
        self._senders.clear()


class RateLimiter:
    """`rate` messages per second (evenly spaced) and at most `max_per_hour` in any hour.

    `history` holds clock() times of messages already sent in the last hour (by earlier
    runs), so a restart does not reset the hourly budget.
    """

    def __init__(
        self,
        rate: float = 0.0,
        max_per_hour: int = 0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        history: Iterable[float] = (),
    ) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.max_per_hour = max_per_hour
        self.clock = clock
        self.sleep = sleep
        self._next = float("-inf")
        self._hour: deque[float] = deque(sorted(history)[-max_per_hour:] if max_per_hour else ())

    def delay(self) -> float:
        """Seconds the next message has to wait."""
        now = self.clock()
        wait = self._next - now if self.interval else 0.0
        if self.max_per_hour:
            while self._hour and self._hour[0] <= now - 3600:
                self._hour.popleft()
            if len(self._hour) >= self.max_per_hour:
                wait = max(wait, self._hour[0] + 3600 - now)
        return max(0.0, wait)

    def wait(self) -> None:
        """Sleep as long as needed, then count one message."""
        pause = self.delay()
        if pause > 0:
            self.sleep(pause)
        now = self.clock()
        if self.interval:
            self._next = max(self._next, now) + self.interval
        if self.max_per_hour:
            self._hour.append(now)
