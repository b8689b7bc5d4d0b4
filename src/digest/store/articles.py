"""Articles: upsert by URL or feed guid, look up, list by time and section."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from digest.errors import NotFoundError
from digest.models import ARTICLE_FIELDS, Article, NewsList
from digest.store.base import StoreBase, from_text, to_text


class ArticlesMixin(StoreBase):
    def upsert_article(
        self,
        article: Article,
        *,
        now: datetime,
        feed_id: int | None = None,
        list_id: int | None = None,
    ) -> str:
        """Insert or update; returns 'added', 'updated' or 'unchanged'.

        The same article is the one with the same (canonical) URL or, failing that, the
        same non-empty feed guid: importing again updates in place, never duplicates.
        `list_id` ties the article to one list (None: leave it as it is; new ones go to
        every list).
        """
        values = _article_values(article)
        columns = "id, list_id, " + ", ".join(values)
        existing = self._one(f"SELECT {columns} FROM articles WHERE url = ?", [article.url])
        if existing is None and article.guid:
            # `guid != ''` lets SQLite use the partial index `articles_guid`: without it,
            # every lookup scanned the table, and a feed file imported in quadratic time.
            by_guid = "WHERE guid = ? AND guid != '' ORDER BY id LIMIT 1"
            existing = self._one(f"SELECT {columns} FROM articles {by_guid}", [article.guid])
        if existing is None:
            self.db.execute(
                f"INSERT INTO articles ({', '.join(values)}, feed_id, list_id, created_at,"
                f" updated_at) VALUES ({', '.join('?' * len(values))}, ?, ?, ?, ?)",
                [*values.values(), feed_id, list_id, to_text(now), to_text(now)],
            )
            return "added"
        article_id = existing.pop("id")
        old_list = existing.pop("list_id")
        if existing == values and list_id in (None, old_list):
            return "unchanged"
        self.db.execute(
            "UPDATE articles SET " + ", ".join(f"{k} = ?" for k in values) + ", updated_at = ?,"
            " feed_id = COALESCE(?, feed_id), list_id = COALESCE(?, list_id) WHERE id = ?",
            [*values.values(), to_text(now), feed_id, list_id, article_id],
        )
        return "updated"

    def get_article(self, id_or_url: str | int) -> Article:
        """By id, or by URL (canonical form; tracking parameters ignored)."""
        from digest.sanitizer import canonical_url

        if isinstance(id_or_url, int) or id_or_url.isdigit():
            row = self._one("SELECT * FROM articles WHERE id = ?", [int(id_or_url)])
        else:
            url = canonical_url(id_or_url) or id_or_url
            row = self._one("SELECT * FROM articles WHERE url = ? OR url = ?", [url, id_or_url])
        if row is None:
            raise NotFoundError(f"no article {id_or_url}", hint="see `digest articles list`")
        return _article_from_row(row)

    def article_list_slug(self, article_id: int) -> str:
        """The slug of the list an article was imported for (`--list`); '' for every list."""
        row = self._one(
            "SELECT l.slug FROM articles a JOIN lists l ON l.id = a.list_id WHERE a.id = ?",
            [article_id],
        )
        return str(row["slug"]) if row else ""

    def remove_article(self, id_or_url: str | int) -> Article:
        found = self.get_article(id_or_url)
        self.db.execute("DELETE FROM articles WHERE id = ?", [found.id])
        return found

    def articles(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        section: str | None = None,
    ) -> list[Article]:
        """Articles, newest first, optionally published in [start, end) and of one section
        (compared without regard to case)."""
        where: list[str] = []
        params: list[Any] = []
        if start is not None:
            where.append("published_at >= ?")
            params.append(to_text(start))
        if end is not None:
            where.append("published_at < ?")
            params.append(to_text(end))
        if section is not None:
            where.append("lower(section) = lower(?)")
            params.append(section)
        sql = "SELECT * FROM articles" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self._rows(sql + " ORDER BY published_at DESC, id DESC", params)
        return [_article_from_row(r) for r in rows]

    def articles_between(
        self, start: datetime, end: datetime, *, news_list: NewsList | None = None
    ) -> list[Article]:
        """Articles published in [start, end), newest first.

        With `news_list`, articles imported for another list (`articles import --list`) and
        articles from a feed tied to another list are left out. (The list's own section
        and language filters are pure, in `issue.belongs_to`.)
        """
        only = ""
        params: list[Any] = [to_text(start), to_text(end)]
        if news_list is not None:
            only = (
                " AND (list_id IS NULL OR list_id = ?)"
                " AND (feed_id IS NULL OR feed_id IN"
                " (SELECT id FROM feeds WHERE list_id IS NULL OR list_id = ?))"
            )
            params.extend([news_list.id, news_list.id])
        rows = self._rows(
            # Text comparison: published_at is always to_text() (UTC, seconds, +00:00),
            # so this uses articles_published, which julianday() could not.
            "SELECT * FROM articles WHERE published_at >= ? AND published_at < ?"
            + only
            + " ORDER BY published_at DESC",
            params,
        )
        return [_article_from_row(r) for r in rows]


def _article_values(article: Article) -> dict[str, Any]:
    values = {name: getattr(article, name) for name in ARTICLE_FIELDS}
    values["published_at"] = to_text(article.published_at)
    return values


def _article_from_row(row: dict[str, Any]) -> Article:
    return Article(
        id=row["id"],
        published_at=from_text(row["published_at"]),
        **{k: row[k] or "" for k in ARTICLE_FIELDS if k != "published_at"},
    )
