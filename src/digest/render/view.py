"""Pure: what the templates see — an edition laid out for one locale, within a size budget.

Templates get plain, ready-made values (dates already formatted, meta lines joined,
text direction decided) so a site's own templates stay simple.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time

from digest.models import Article, Edition
from digest.render.language import direction


@dataclass(frozen=True, slots=True)
class ArticleView:
    article: Article
    meta: str
    lang: str  # set only when the article's language differs from the edition's
    dir: str  # "rtl"/"ltr" only when it differs from the edition's direction
    align: str  # "left"/"right", the start side for the article's direction
    image_url: str
    image_alt: str

    @property
    def title(self) -> str:
        return self.article.title

    @property
    def url(self) -> str:
        return self.article.url

    @property
    def summary(self) -> str:
        return self.article.summary


@dataclass(frozen=True, slots=True)
class SectionView:
    name: str
    anchor: str
    articles: tuple[ArticleView, ...]
    more: int  # articles cut by the size budget
    more_url: str


@dataclass(frozen=True, slots=True)
class Layout:
    """How many articles of each section are shown (the rest become "N more")."""

    shown: tuple[int, ...]


def anchor(name: str, index: int) -> str:
    """A stable HTML id for a section: `s-sport`, or `s-3` for names without Latin letters."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return f"s-{slug or index + 1}"


def full_layout(edition: Edition) -> Layout:
    return Layout(tuple(len(s.articles) for s in edition.sections))


def shrink(layout: Layout, count: int) -> Layout:
    """Hide `count` more articles: each from the section showing the most (later on ties)."""
    shown = list(layout.shown)
    for _ in range(count):
        if not any(shown):
            break
        most = max(shown)
        index = max(i for i, n in enumerate(shown) if n == most)
        shown[index] -= 1
    return Layout(tuple(shown))


def lead_of(edition: Edition) -> Article | None:
    """The lead story: the one the editor chose (`editions edit --lead`), else the first
    section's top article when it has an https image (no lead otherwise)."""
    if edition.sections and edition.sections[0].articles:
        top = edition.sections[0].articles[0]
        if top.url == edition.lead or top.image_url.startswith("https://"):
            return top
    return None


def article_view(
    article: Article, *, locale: Locale, edition_dir: str, tz: ZoneInfo
) -> ArticleView:
    own_dir = direction(article.language) if article.language else ""
    differs = bool(own_dir) and own_dir != edition_dir
    same_language = article.language.split("-")[0].lower() == locale.language
    effective = own_dir if differs else edition_dir
    local = format_time(article.published_at.astimezone(tz), format="short", locale=locale)
    image_url = article.image_url if article.image_url.startswith("https://") else ""
    return ArticleView(
        article=article,
        meta=" · ".join(part for part in (article.source, article.author, local) if part),
        lang="" if same_language or not article.language else article.language,
        dir=own_dir if differs else "",
        align="right" if effective == "rtl" else "left",
        image_url=image_url,
        image_alt=(article.image_alt or article.title) if image_url else "",
    )


def long_date(edition: Edition, locale: Locale) -> str:
    return format_date(edition.date, format="long", locale=locale)


def full_date(edition: Edition, locale: Locale) -> str:
    return format_date(edition.date, format="full", locale=locale)
