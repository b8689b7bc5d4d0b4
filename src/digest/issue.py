"""Pure: which articles make an edition, grouped into sections in the list's order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.errors import InputError
from digest.models import Article, Edition, EditionEdits, NewsList, Section

WINDOW = timedelta(hours=24)
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order
FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EVERY_DAY = tuple(range(7))


def parse_days(text: str) -> tuple[int, ...]:
    """'mon,thu' -> (0, 3); 'daily' or 'every' -> every day. Case and spaces ignored,
    full names accepted ('Monday'); InputError for anything else or for no day."""
    words = [w.strip().casefold() for w in text.replace(" ", ",").split(",") if w.strip()]
    if words in (["daily"], ["every"]):
        return EVERY_DAY
    days: set[int] = set()
    for word in words:
        found = [i for i, name in enumerate(DAY_NAMES) if word[:3] == name]
        if not found or (len(word) > 3 and word != FULL_DAY_NAMES[found[0]]):
            raise InputError(
                f"--days: {word!r} is not a weekday",
                hint="use mon,tue,wed,thu,fri,sat,sun, e.g. --days mon,thu (or --days daily)",
            )
        days.add(found[0])
    if not days:
        raise InputError("--days: no day given", hint="e.g. --days mon,thu (or --days daily)")
    return tuple(sorted(days))


def format_days(days: Iterable[int]) -> str:
    """(0, 3) -> 'mon,thu', the stored and printed form."""
    return ",".join(DAY_NAMES[d] for d in sorted(set(days)))


def counted(n: int, noun: str) -> str:
    """'1 article', '2 articles': a count and an English noun that takes an s, for the
    summaries the CLI, the log and the preview print."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def sends_on(news_list: NewsList, day: date) -> bool:
    """Whether the list has an edition dated `day` (its weekday is one of the list's)."""
    return day.weekday() in news_list.days


def previous_send_day(news_list: NewsList, day: date) -> date:
    """The latest day before `day` on which the list sends (a week back at most)."""
    for back in range(1, 8):
        earlier = day - timedelta(days=back)
        if sends_on(news_list, earlier):
            return earlier
    return day - timedelta(days=1)  # no days at all: cannot be stored, kept total anyway


def refuse_unsent_day(news_list: NewsList, day: date) -> None:
    """InputError, one line, when the list has no edition dated `day`."""
    if not sends_on(news_list, day):
        raise InputError(
            f"list {news_list.slug!r} does not send on a {FULL_DAY_NAMES[day.weekday()].title()}"
            f" ({day.isoformat()}); it sends on {format_days(news_list.days)}",
            hint=f"pick one of those days, or `digest lists edit {news_list.slug} --days ...`",
        )


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
    """[start, end): from the previous edition's due moment to this one.

    The previous edition is the one of the list's previous sending day (`--days`): a
    daily list's window is usually 24 hours, 23 or 25 on daylight-saving days; a
    Monday edition after a Thursday one holds four days (plus or minus the hour a
    daylight-saving change in between moves). Consecutive editions never overlap and
    never leave a gap.
    """
    previous = previous_send_day(news_list, day)
    return edition_due(news_list, previous), edition_due(news_list, day)


def language_matches(tag: str, wanted: Iterable[str]) -> bool:
    """RFC 4647 basic filtering: `fr` matches `fr`, `fr-FR` and `fr_CA`, not `frr`;
    `pt-BR` matches only `pt-BR`. Case is ignored; an empty tag matches nothing."""
    have = tag.strip().replace("_", "-").casefold()
    if not have:
        return False
    for range_ in wanted:
        want = range_.strip().replace("_", "-").casefold()
        if have == want or have.startswith(want + "-"):
            return True
    return False


def belongs_to(article: Article, news_list: NewsList) -> bool:
    """Whether the list's own filters keep the article: its sections when
    `only_sections` (an article without a section is in "News"), and its languages
    (an article that names no language is left out of a list that restricts them)."""
    if news_list.only_sections and news_list.sections:
        keys = {s.casefold() for s in news_list.sections}
        if (article.section or "News").casefold() not in keys:
            return False
    return not news_list.languages or language_matches(article.language, news_list.languages)


def build_edition(articles: Iterable[Article], *, news_list: NewsList, day: date) -> Edition:
    """Group the articles published in the edition's window into ordered sections.

    Sections follow the list's configured order, then any others alphabetically;
    within a section, newest first. Articles outside the window, and articles the
    list's own filters leave out (`belongs_to`), are ignored.
    """
    start, due = edition_window(news_list, day)
    by_section: dict[str, list[Article]] = {}
    for article in articles:
        if start <= article.published_at < due and belongs_to(article, news_list):
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


def apply_edits(edition: Edition, edits: EditionEdits) -> Edition:
    """The edition as its editor shaped it: dropped stories gone, pinned ones first in
    their section (in the order pinned), the lead first of all (its section moves to the
    top; the renderer gives it the lead story's treatment, image or not), the note
    and the subject carried along. URLs the edition does not hold are ignored."""
    if edits.empty:
        return edition
    dropped = set(edits.drops)
    pin_rank = {url: i for i, url in enumerate(edits.pins)}

    def order(article: Article) -> tuple[int, int]:
        if article.url == edits.lead:
            return (0, 0)
        if article.url in pin_rank:
            return (1, pin_rank[article.url])
        return (2, 0)  # sorted() is stable: the rest keep their order

    sections = [
        Section(s.name, tuple(sorted((a for a in s.articles if a.url not in dropped), key=order)))
        for s in edition.sections
    ]
    sections = [s for s in sections if s.articles]
    lead_at = [i for i, s in enumerate(sections) if s.articles[0].url == edits.lead]
    if lead_at:
        sections.insert(0, sections.pop(lead_at[0]))
    return replace(
        edition,
        sections=tuple(sections),
        note=edits.note,
        subject=edits.subject,
        lead=edits.lead if lead_at else "",
    )
