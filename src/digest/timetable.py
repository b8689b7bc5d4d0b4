"""Pure: when each list's editions are due, per time zone in use, and what a run must do.

A list is sent at its send time in each recipient's own time zone (their zone, else the
list's): one *slot* per (list, zone, day). Given `now` and a catch-up window, `plan()`
says which slots are due and which were missed for good. No clock is read here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.issue import edition_due, sends_on
from digest.models import NewsList

DEFAULT_CATCH_UP = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class Slot:
    """The edition of `news_list` for `day`, due at `due_at` (UTC) for recipients in `zone`."""

    news_list: NewsList
    zone: str
    day: date
    due_at: datetime

    @property
    def label(self) -> str:
        return f"{self.news_list.slug}/{self.day.isoformat()} [{self.zone}]"


@dataclass(frozen=True, slots=True)
class Plan:
    due: tuple[Slot, ...]  # to run now, oldest first
    missed: tuple[Slot, ...]  # the latest slot older than the catch-up window, per target


@lru_cache(maxsize=1024)
def valid_zone(name: str) -> bool:
    if not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def effective_zone(subscriber_zone: str, list_zone: str) -> str:
    """The zone a subscriber's mail is timed in: their own if valid, else the list's."""
    return subscriber_zone if valid_zone(subscriber_zone) else list_zone


def targets(news_list: NewsList, subscriber_zones: Iterable[str]) -> list[tuple[NewsList, str]]:
    """(list, zone) pairs that need a job: the list's own zone and every zone in use."""
    zones = {news_list.timezone} | {effective_zone(z, news_list.timezone) for z in subscriber_zones}
    return [(news_list, z) for z in sorted(zones)]


def slot(news_list: NewsList, zone: str, day: date) -> Slot:
    """The slot for `day` (a calendar day in `zone`), with the DST rules of `edition_due`."""
    return Slot(news_list, zone, day, edition_due(replace(news_list, timezone=zone), day))


def _slots_around(news_list: NewsList, zone: str, moment: datetime, back: int) -> list[Slot]:
    """Slots from `back` days before `moment` to two days after, on the days the list
    sends; a list that skips days (`--days`) looks a week further each way, so its
    next and its latest missed edition are always among them."""
    local_day = moment.astimezone(ZoneInfo(zone)).date()
    extra = 0 if len(news_list.days) == 7 else 7
    return [
        slot(news_list, zone, day)
        for offset in range(-back - extra, 3 + extra)
        if sends_on(news_list, day := local_day + timedelta(days=offset))
    ]


def next_slot(news_list: NewsList, zone: str, after: datetime) -> Slot:
    """The first slot strictly after `after`."""
    return min(
        (s for s in _slots_around(news_list, zone, after, 1) if s.due_at > after),
        key=lambda s: s.due_at,
    )


def plan(pairs: Iterable[tuple[NewsList, str]], *, now: datetime, catch_up: timedelta) -> Plan:
    """Slots due at `now`: due at or before `now` and no more than `catch_up` ago.

    For each (list, zone) the latest slot that is older than that is reported as
    missed (the caller logs it, if the ledger says it did not go out).
    """
    due: list[Slot] = []
    missed: list[Slot] = []
    back = catch_up // timedelta(days=1) + 2
    for news_list, zone in pairs:
        past = [s for s in _slots_around(news_list, zone, now, back) if s.due_at <= now]
        due += [s for s in past if now - s.due_at <= catch_up]
        older = [s for s in past if now - s.due_at > catch_up]
        if older:
            missed.append(max(older, key=lambda s: s.due_at))
    due.sort(key=lambda s: (s.due_at, s.news_list.slug, s.zone))
    return Plan(tuple(due), tuple(missed))


def parse_duration(text: str) -> timedelta:
    """'6h', '90m', '30s', '2d', '1h30m' -> timedelta; ValueError when not one of those."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    total, number = 0, ""
    for char in text.strip().lower():
        if char.isascii() and char.isdigit():
            number += char
        elif char in units and number:
            total += int(number) * units[char]
            number = ""
        else:
            raise ValueError(text)
    if number or not text.strip():
        raise ValueError(text)
    return timedelta(seconds=total)
