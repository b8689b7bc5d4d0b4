"""The pure timetable: slots per zone, catch-up window, daylight-saving days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from digest.issue import edition_due, edition_window
from digest.models import NewsList
from digest.timetable import effective_zone, next_slot, parse_duration, plan, slot, targets

PARIS = NewsList(slug="daily", name="Daily", send_at=time(2, 30), timezone="Europe/Paris", id=1)
UTC_LIST = NewsList(slug="utc", name="UTC", send_at=time(7, 0), timezone="UTC", id=2)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_send_time_in_a_spring_forward_gap_moves_past_the_jump() -> None:
    # 2026-03-29: Paris clocks jump from 02:00 to 03:00; 02:30 does not exist.
    assert slot(PARIS, "Europe/Paris", date(2026, 3, 29)).due_at == utc(2026, 3, 29, 1, 30)
    # The days around it are ordinary.
    assert slot(PARIS, "Europe/Paris", date(2026, 3, 28)).due_at == utc(2026, 3, 28, 1, 30)
    assert slot(PARIS, "Europe/Paris", date(2026, 3, 30)).due_at == utc(2026, 3, 30, 0, 30)


def test_send_time_that_happens_twice_means_the_first_one() -> None:
    # 2026-10-25: Paris clocks go back from 03:00 to 02:00; 02:30 happens twice.
    first = slot(PARIS, "Europe/Paris", date(2026, 10, 25))
    assert first.due_at == utc(2026, 10, 25, 0, 30)
    # Between the two 02:30s the next slot is the next day's, not the repeat.
    assert next_slot(PARIS, "Europe/Paris", first.due_at).due_at == utc(2026, 10, 26, 1, 30)
    repeat_moment = utc(2026, 10, 25, 1, 30)  # the second 02:30 local
    assert plan([(PARIS, "Europe/Paris")], now=repeat_moment, catch_up=timedelta(hours=6)).due == (
        first,
    )


def test_windows_are_contiguous_across_daylight_saving_days() -> None:
    days = [date(2026, 3, 28) + timedelta(days=i) for i in range(3)]
    windows = [edition_window(PARIS, d) for d in days]
    for (_, end), (start, _) in zip(windows, windows[1:], strict=False):
        assert end == start
    assert windows[2][1] - windows[2][0] == timedelta(hours=23)  # first day of summer time
    autumn = edition_window(PARIS, date(2026, 10, 26))
    assert autumn[1] - autumn[0] == timedelta(hours=25)
    assert edition_due(PARIS, date(2026, 3, 29)) == utc(2026, 3, 29, 1, 30)


def test_catch_up_window_inside_and_outside() -> None:
    due = utc(2026, 11, 27, 7, 0)
    window = timedelta(hours=6)
    inside = plan([(UTC_LIST, "UTC")], now=due + timedelta(hours=5, minutes=59), catch_up=window)
    assert [s.due_at for s in inside.due] == [due]
    assert [s.due_at for s in inside.missed] == [due - timedelta(days=1)]
    outside = plan([(UTC_LIST, "UTC")], now=due + timedelta(hours=6, minutes=1), catch_up=window)
    assert outside.due == ()
    assert [s.due_at for s in outside.missed] == [due]
    before = plan([(UTC_LIST, "UTC")], now=due - timedelta(seconds=1), catch_up=window)
    assert before.due == ()
    exactly = plan([(UTC_LIST, "UTC")], now=due, catch_up=window)
    assert [s.day for s in exactly.due] == [date(2026, 11, 27)]


def test_a_long_catch_up_window_runs_every_missed_day_oldest_first() -> None:
    now = utc(2026, 11, 27, 8, 0)
    result = plan([(UTC_LIST, "UTC")], now=now, catch_up=timedelta(days=2))
    assert [s.day for s in result.due] == [date(2026, 11, 26), date(2026, 11, 27)]


def test_one_target_per_zone_in_use() -> None:
    pairs = targets(UTC_LIST, ["", "Asia/Tokyo", "Not/AZone", "UTC", "Asia/Tokyo"])
    assert [z for _, z in pairs] == ["Asia/Tokyo", "UTC"]
    assert effective_zone("", "Africa/Ndjamena") == "Africa/Ndjamena"
    assert effective_zone("Not/AZone", "UTC") == "UTC"


def test_two_zones_get_the_same_edition_date_at_their_own_morning() -> None:
    day = date(2026, 11, 27)
    assert slot(UTC_LIST, "Asia/Tokyo", day).due_at == utc(2026, 11, 26, 22, 0)
    assert slot(UTC_LIST, "America/New_York", day).due_at == utc(2026, 11, 27, 12, 0)
    now = utc(2026, 11, 27, 12, 30)
    result = plan(
        [(UTC_LIST, "UTC"), (UTC_LIST, "America/New_York"), (UTC_LIST, "Asia/Tokyo")],
        now=now,
        catch_up=timedelta(hours=6),
    )
    assert [(s.zone, s.day) for s in result.due] == [
        ("UTC", day),
        ("America/New_York", day),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6h", timedelta(hours=6)),
        ("90m", timedelta(minutes=90)),
        ("1h30m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("30s", timedelta(seconds=30)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "6", "h", "6x", "-1h", "1.5h"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


# -- rhythm: lists that send on some weekdays only (`--days`) -----------------------------

MON_THU = NewsList(
    slug="twice", name="Twice", send_at=time(7, 0), timezone="UTC", days=(0, 3), id=3
)
WEEKLY_PARIS = NewsList(
    slug="weekly", name="Weekly", send_at=time(7, 0), timezone="Europe/Paris", days=(0,), id=4
)


def test_a_monday_edition_after_a_thursday_one_holds_four_days() -> None:
    start, end = edition_window(MON_THU, date(2026, 11, 30))  # Monday
    assert (start, end) == (utc(2026, 11, 26, 7), utc(2026, 11, 30, 7))  # from Thursday
    start, end = edition_window(MON_THU, date(2026, 12, 3))  # Thursday: from Monday
    assert (start, end) == (utc(2026, 11, 30, 7), utc(2026, 12, 3, 7))


def test_a_weekly_window_across_the_autumn_change_is_a_week_and_an_hour() -> None:
    # Paris leaves summer time on Sunday 2026-10-25: 07:00 is 05:00 UTC before, 06:00 after.
    start, end = edition_window(WEEKLY_PARIS, date(2026, 10, 26))
    assert (start, end) == (utc(2026, 10, 19, 5), utc(2026, 10, 26, 6))
    assert end - start == timedelta(days=7, hours=1)
    # and the next one starts exactly where it ended
    assert edition_window(WEEKLY_PARIS, date(2026, 11, 2))[0] == end


def test_slots_fall_on_the_lists_days_only() -> None:
    thursday = slot(MON_THU, "UTC", date(2026, 11, 26))
    assert next_slot(MON_THU, "UTC", thursday.due_at).day == date(2026, 11, 30)  # Monday
    # A weekly list, six days before its next edition: further than a daily look-ahead.
    after = next_slot(WEEKLY_PARIS, "Europe/Paris", utc(2026, 11, 24, 12))  # Tuesday
    assert after.day == date(2026, 11, 30) and after.due_at == utc(2026, 11, 30, 6)
    # Friday: nothing due for a Monday/Thursday list, Thursday's is the one missed.
    friday = plan([(MON_THU, "UTC")], now=utc(2026, 11, 27, 7, 30), catch_up=timedelta(hours=6))
    assert friday.due == () and [s.day for s in friday.missed] == [date(2026, 11, 26)]
    # Sunday: the weekly list's last edition (six days ago) is still reported as missed.
    sunday = plan(
        [(WEEKLY_PARIS, "Europe/Paris")], now=utc(2026, 11, 29, 12), catch_up=timedelta(hours=6)
    )
    assert sunday.due == () and [s.day for s in sunday.missed] == [date(2026, 11, 23)]
    # A catch-up window over a weekend runs only the days the list sends.
    late = plan([(MON_THU, "UTC")], now=utc(2026, 11, 30, 8), catch_up=timedelta(days=5))
    assert [s.day for s in late.due] == [date(2026, 11, 26), date(2026, 11, 30)]


@pytest.mark.parametrize(
    ("text", "days"),
    [("mon,thu", (0, 3)), ("Thu, MON", (0, 3)), ("daily", tuple(range(7))), ("sunday", (6,))],
)
def test_parse_days(text: str, days: tuple[int, ...]) -> None:
    from digest.issue import format_days, parse_days

    assert parse_days(text) == days
    assert parse_days(format_days(days)) == days


@pytest.mark.parametrize("text", ["", "mon,funday", "mo", "mondays", ","])
def test_parse_days_refuses(text: str) -> None:
    from digest.errors import InputError
    from digest.issue import parse_days

    with pytest.raises(InputError, match="--days"):
        parse_days(text)
