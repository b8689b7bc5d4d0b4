"""Pure: which articles make an edition, grouped into sections in the list's order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.errors import InputError
from digest.models import Article, Edition, NewsList, Section

WINDOW = timedelta(hours=24)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"unknown time zone {name!r}", hint="use an IANA name such as Africa/Ndjamena or UTC"
        ) from None


def edition_due(news_list: NewsList, day: date) -> datetime:
    """The moment (UTC) the list's edition for `day` is due: day + send_at in the list's zone.

    Daylight-saving days: a send time that does not exist (02:30 when clocks jump from
    02:00 to 03:00) is read with the offset before the jump, so it falls as far after
    the jump as it was after 02:00 (03:30); a send time that exists twice (clocks go
    back from 03:00 to 02:00) means its first occurrence. Either way there is exactly
    one due moment per day (`fold=0`, as `datetime` does by default).
    """
    local = datetime.combine(day, news_list.send_at, tzinfo=zone(news_list.timezone))
    return local.astimezone(UTC)


def local_today(news_list: NewsList, now: datetime) -> date:
    """The date it is at `now` in the list's time zone: the default edition everywhere."""
    return now.astimezone(zone(news_list.timezone)).date()


def edition_window(news_list: NewsList, day: date) -> tuple[datetime, datetime]:
    """[start, end): from the previous day's due moment to this one.

    Usually 24 hours; 23 or 25 on daylight-saving days, so consecutive editions never
    overlap and never leave a gap.
    """
    return edition_due(news_list, day - timedelta(days=1)), edition_due(news_list, day)


def build_edition(articles: Iterable[Article], *, news_list: NewsList, day: date) -> Edition:
    """Group the articles published in the edition's window into ordered sections.

    Sections follow the list's configured order, then any others alphabetically;
    within a section, newest first. Articles outside the window are ignored.
    """
    start, due = edition_window(news_list, day)
    by_section: dict[str, list[Article]] = {}
    for article in articles:
        if start <= article.published_at < due:
            by_section.setdefault(article.section or "News", []).append(article)
    rank = {name: i for i, name in enumerate(news_list.sections)}
    names = sorted(by_section, key=lambda n: (rank.get(n, len(rank)), n.casefold(), n))
    sections = tuple(
        Section(
            name,
            tuple(sorted(by_section[name], key=lambda a: (a.published_at, a.url), reverse=True)),
        )
        for name in names
    )
    return Edition(news_list=news_list, date=day, due_at=due, window_start=start, sections=sections)


def select_sections(edition: Edition, wanted: Iterable[str]) -> Edition:
    """The edition as a subscriber with section preferences sees it (all when none)."""
    wanted_keys = {w.casefold() for w in wanted}
    if not wanted_keys:
        return edition
    return replace(
        edition, sections=tuple(s for s in edition.sections if s.name.casefold() in wanted_keys)
    )
