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


class SenderPool(AbstractContextManager["SenderPool"]):
    """`connections` SmtpSenders, each in its own thread, fed from one bounded queue.

    With one connection there is no thread: `submit` sends at once. Two busy threads
    would fight over the GIL (each blocking call hands it over and waits up to the
    switch interval to get it back), which costs more than the overlap wins.
    Entering connects every sender first, so a wrong URL or password fails at once.
    """

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._jobs: queue.Queue[Job | None] = queue.Queue(maxsize=2 * settings.connections)
        self._results: queue.Queue[tuple[Job, Outcome]] = queue.Queue()
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
            thread = threading.Thread(
                target=self._work, args=(sender,), name=f"smtp-{i}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def _work(self, sender: SmtpSender) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            self._results.put((job, self._deliver(sender, job)))

    @staticmethod
    def _deliver(sender: SmtpSender, job: Job) -> Outcome:
        try:
            return sender.deliver(job.from_addr, job.to_addr, job.data)
        except Exception as exc:  # a bug must not leave the job unanswered
            sender.close(polite=False)
            return Outcome(Kind.RETRY, 0, f"internal error: {exc!r}")

    def submit(self, job: Job) -> None:
        """Queue a message; blocks while every connection is busy and the queue is full."""
        if not self._threads:
            self._results.put((job, self._deliver(self._senders[0], job)))
            return
        self._jobs.put(job)

    def results(self, *, wait: float | None = None) -> list[tuple[Job, Outcome]]:
        """Finished jobs; waits up to `wait` seconds for the first one (None: don't wait)."""
        done: list[tuple[Job, Outcome]] = []
        try:
            if wait is not None and self._threads:
                done.append(self._results.get(timeout=wait))
            while True:
                done.append(self._results.get_nowait())
        except queue.Empty:
            pass
        return done

    def cancel_pending(self) -> list[Job]:
        """Take back every job no sender has started."""
        taken: list[Job] = []
        try:
            while True:
                job = self._jobs.get_nowait()
                if job is not None:
                    taken.append(job)
        except queue.Empty:
            pass
        return taken

    def __exit__(self, *exc: object) -> None:
        self.cancel_pending()
        for _ in self._threads:
            self._jobs.put(None)
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
