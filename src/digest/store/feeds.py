"""Feeds the store polls: subscribing, the list each feeds, the health of each fetch."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from digest.errors import NotFoundError, StoreError
from digest.models import Feed
from digest.store.base import from_text, to_text
from digest.store.lists import ListsMixin


class FeedsMixin(ListsMixin):
    def add_feed(self, feed: Feed, *, now: datetime) -> Feed:
        list_id = self.get_list(feed.list_slug).id if feed.list_slug else None
        try:
            self.db.execute(
                "INSERT INTO feeds (url, title, section, list_id, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [feed.url, feed.title, feed.section, list_id, to_text(now)],
            )
        except sqlite3.IntegrityError:
            raise StoreError(
                f"feed {feed.url} is already subscribed", hint="see `digest feeds list`"
            ) from None
        return self.get_feed(feed.url)

    def feeds(self) -> list[Feed]:
        return [_feed_from_row(r) for r in self._rows(_FEED_SELECT + " ORDER BY f.id")]

    def get_feed(self, id_or_url: str | int) -> Feed:
        if isinstance(id_or_url, int) or id_or_url.isdigit():
            row = self._one(_FEED_SELECT + " WHERE f.id = ?", [int(id_or_url)])
        else:
            row = self._one(_FEED_SELECT + " WHERE f.url = ?", [id_or_url])
        if row is None:
            raise NotFoundError(f"no feed {id_or_url}", hint="see `digest feeds list`")
        return _feed_from_row(row)

    def remove_feed(self, id_or_url: str | int) -> Feed:
        """Unsubscribe from a feed; the articles it brought stay."""
        feed = self.get_feed(id_or_url)
        self.db.execute("DELETE FROM feeds WHERE id = ?", [feed.id])
        return feed

    def move_feed(self, feed_id: int, url: str) -> bool:
        """Point a feed at its new URL (it moved for good); False when another feed has it."""
        try:
            self.db.execute("UPDATE feeds SET url = ? WHERE id = ?", [url, feed_id])
        except sqlite3.IntegrityError:
            return False
        return True

    def record_feed_fetch(
        self,
        feed_id: int,
        *,
        now: datetime,
        error: str = "",
        etag: str | None = None,
        last_modified: str | None = None,
        title: str | None = None,
    ) -> None:
        """After each fetch: a failure counts up, a success resets the count."""
        stamp = to_text(now)
        if error:
            self.db.execute(
                "UPDATE feeds SET failures = failures + 1, last_error = ?, last_fetched_at = ?"
                " WHERE id = ?",
                [error, stamp, feed_id],
            )
            return
        self.db.execute(
            "UPDATE feeds SET failures = 0, last_error = '', last_fetched_at = ?, last_ok_at = ?,"
            " etag = COALESCE(?, etag), last_modified = COALESCE(?, last_modified),"
            " title = COALESCE(NULLIF(?, ''), title) WHERE id = ?",
            [stamp, stamp, etag, last_modified, title, feed_id],
        )


_FEED_SELECT = "SELECT f.*, l.slug AS list_slug FROM feeds f LEFT JOIN lists l ON l.id = f.list_id"


def _feed_from_row(row: dict[str, Any]) -> Feed:
    return Feed(
        id=row["id"],
        url=row["url"],
        title=row["title"],
        section=row["section"],
        list_slug=row["list_slug"] or "",
        etag=row["etag"],
        last_modified=row["last_modified"],
        failures=row["failures"],
        last_error=row["last_error"],
        last_fetched_at=from_text(row["last_fetched_at"]) if row["last_fetched_at"] else None,
        last_ok_at=from_text(row["last_ok_at"]) if row["last_ok_at"] else None,
    )
