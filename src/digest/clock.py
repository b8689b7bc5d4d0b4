"""The one clock: every part of digest that needs time to pass reads it from a `Clock`.

A function that needs a single moment takes `now: datetime`; one that waits, paces or
measures (the send loop, the scheduler, the web app's rate limits) takes a `Clock`.
The CLI builds the clock once (`--now` starts it at another moment), and tests pass
their own, so that no behaviour depends on the day the code runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


def _system_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Clock:
    """Wall time (aware, UTC), elapsed time (seconds, monotonic) and sleeping."""

    now: Callable[[], datetime] = field(default=_system_now)
    monotonic: Callable[[], float] = field(default=time.monotonic)
    sleep: Callable[[float], None] = field(default=time.sleep)

    @classmethod
    def starting_at(cls, moment: datetime) -> Clock:
        """A clock that reads `moment` now and runs on from it in real time (`--now`)."""
        if moment.tzinfo is None:
            raise ValueError("naive datetime")
        origin = time.monotonic()
        return cls(now=lambda: moment + timedelta(seconds=time.monotonic() - origin))

    @classmethod
    def frozen(cls, moment: datetime) -> Clock:
        """Wall time stands still at `moment`; elapsed time and sleeping are real."""
        if moment.tzinfo is None:
            raise ValueError("naive datetime")
        return cls(now=lambda: moment)


SYSTEM = Clock()
