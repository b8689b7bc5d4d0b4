"""Fixed editions for render, golden, browser and spam tests (pure data, no database)."""

from __future__ import annotations

from datetime import date, timedelta
from html.parser import HTMLParser

from digest import ingest
from digest.demo import SAMPLE_DAY, sample_text
from digest.issue import build_edition, edition_due
from digest.models import Article, Edition, NewsList

SECTIONS = ("Tchad", "Afrique", "English News", "Économie", "Sport")
ADDRESS = "Sahel Morning Digest · Avenue Charles de Gaulle, N'Djamena, Tchad"
DAY = date(2026, 11, 27)


def sample_list(locale: str = "en") -> NewsList:
    return NewsList(
        slug="daily",
        name="Sahel Morning Digest",
        from_addr="digest@news.example.com",
        timezone="Africa/Ndjamena",
        locale=locale,
        sections=SECTIONS,
        address=ADDRESS,
        id=1,
    )


def sample_edition(locale: str = "en") -> Edition:
    """The packaged sample: 8 articles in French, English and Arabic, 5 sections."""
    articles = ingest.read_articles_json(sample_text("articles.json"), name="sample")
    return build_edition(articles, news_list=sample_list(locale), day=SAMPLE_DAY)


MIXED_TITLE = "Apple تطلق iPhone 18 في أسواق نجامينا…"


def mixed_edition(locale: str = "ar") -> Edition:
    """The sample plus an Arabic story whose title and summary mix Latin and Arabic."""
    articles = ingest.read_articles_json(sample_text("articles.json"), name="sample")
    mixed = Article(
        url="https://news.example.com/economie/apple-iphone-18",
        title=MIXED_TITLE,
        published_at=max(a.published_at for a in articles),
        section="Économie",
        summary="أعلنت Apple عن iPhone 18 بسعر 999 دولارًا. يبدأ البيع يوم الجمعة.",
        author="يوسف عبد الله",
        source="Alwihda Info",
        language="ar",
    )
    return build_edition([*articles, mixed], news_list=sample_list(locale), day=SAMPLE_DAY)


SUMMARY = (
    "Ministers from the region meet to discuss trade, energy and transport links, "
    "with new rail and road corridors expected to cut the time goods take to reach the sea."
)


def big_edition(
    count: int = 30,
    *,
    locale: str = "en",
    summary: str = SUMMARY,
    sections: tuple[str, ...] = SECTIONS,
) -> Edition:
    """`count` realistic articles over the sections; every third has a thumbnail."""
    due = edition_due(sample_list(locale), DAY)
    step = min(timedelta(minutes=20), timedelta(hours=23) / max(count, 1))  # all in the window
    articles = [
        Article(
            url=f"https://news.example.com/{i % len(sections)}/story-{i:02d}-news",
            title=f"Story {i:02d}: regional leaders agree on a plan for the new trade corridor",
            published_at=due - step * (i + 1),
            section=sections[i % len(sections)],
            summary=summary,
            author="Achta Saleh",
            source="Alwihda Info",
            image_url=f"https://news.example.com/images/{i:02d}.jpg" if i % 3 == 0 else "",
            image_alt=f"Photo for story {i:02d}" if i % 3 == 0 else "",
            language="en",
        )
        for i in range(count)
    ]
    return build_edition(articles, news_list=sample_list(locale), day=DAY)


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text of each link and heading."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.links: list[tuple[dict[str, str], str]] = []
        self.headings: list[tuple[int, str]] = []
        self._open: list[tuple[str, dict[str, str], list[str]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append((tag, values))
        if tag == "a" or tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._open.append((tag, values, []))
        if tag == "img":
            for _, _, text in self._open:
                text.append(values.get("alt", ""))

    def handle_data(self, data: str) -> None:
        for _, _, text in self._open:
            text.append(data)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i][0] == tag:
                _, values, text = self._open.pop(i)
                joined = " ".join("".join(text).split())
                if tag == "a":
                    self.links.append((values, joined))
                else:
                    self.headings.append((int(tag[1]), joined))
                break

    def all(self, tag: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.tags if name == tag]
