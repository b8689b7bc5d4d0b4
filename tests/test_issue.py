"""What an edition is: its due moment, its 24-hour window, its section order."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from digest.issue import build_edition, edition_due, edition_window, select_sections
from digest.models import Article, NewsList

LIST = NewsList(slug="daily", name="Daily", sections=("Tchad", "Sport"))


def make(url: str, section: str, published: datetime) -> Article:
    return Article(url=f"https://x.test/{url}", title=url, section=section, published_at=published)


def test_due_at_send_time_in_the_lists_zone() -> None:
    ndjamena = NewsList(slug="n", name="N", send_at=time(7, 0), timezone="Africa/Ndjamena")
    assert edition_due(ndjamena, date(2026, 11, 27)) == datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
    assert edition_due(LIST, date(2026, 11, 27)) == datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    paris_summer = NewsList(slug="p", name="P", send_at=time(6, 30), timezone="Europe/Paris")
    assert edition_due(paris_summer, date(2026, 7, 1)) == datetime(2026, 7, 1, 4, 30, tzinfo=UTC)


def test_window_is_the_24_hours_before_due() -> None:
    start, end = edition_window(LIST, date(2026, 11, 27))
    assert end - start == timedelta(hours=24)
    due = end
    articles = [
        make("before-window", "Tchad", start - timedelta(seconds=1)),
        make("at-start", "Tchad", start),
        make("last-second", "Tchad", due - timedelta(seconds=1)),
        make("at-due", "Tchad", due),
    ]
    edition = build_edition(articles, news_list=LIST, day=date(2026, 11, 27))
    titles = [a.title for s in edition.sections for a in s.articles]
    assert titles == ["last-second", "at-start"]


def test_sections_in_list_order_then_alphabetical_newest_first() -> None:
    due = edition_due(LIST, date(2026, 11, 27))
    articles = [
        make("eco-old", "Économie", due - timedelta(hours=5)),
        make("afrique", "Afrique", due - timedelta(hours=3)),
        make("sport", "Sport", due - timedelta(hours=2)),
        make("tchad-old", "Tchad", due - timedelta(hours=9)),
        make("tchad-new", "Tchad", due - timedelta(hours=1)),
        make("eco-new", "Économie", due - timedelta(hours=4)),
    ]
    edition = build_edition(articles, news_list=LIST, day=date(2026, 11, 27))
    assert [s.name for s in edition.sections] == ["Tchad", "Sport", "Afrique", "Économie"]
    assert [a.title for a in edition.sections[0].articles] == ["tchad-new", "tchad-old"]
    assert [a.title for a in edition.sections[3].articles] == ["eco-new", "eco-old"]
    assert edition.article_count == 6


def test_section_preferences_pick_sections_case_insensitively() -> None:
    due = edition_due(LIST, date(2026, 11, 27))
    articles = [make(s, s, due - timedelta(hours=1)) for s in ("Tchad", "Sport", "Afrique")]
    edition = build_edition(articles, news_list=LIST, day=date(2026, 11, 27))
    assert [s.name for s in select_sections(edition, ["sport", "Afrique"]).sections] == [
        "Sport",
        "Afrique",
    ]
    assert select_sections(edition, []) == edition


def test_empty_edition() -> None:
    edition = build_edition([], news_list=LIST, day=date(2026, 11, 27))
    assert edition.article_count == 0 and edition.sections == ()
