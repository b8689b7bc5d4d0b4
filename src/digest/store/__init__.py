"""All SQL. Numbered migrations, WAL, foreign keys on; returns models, never rows.

`Store` is one open database; its methods live with the tables they touch: lists,
subscribers, subscriptions, articles, feeds, deliveries (editions and the ledger).
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path

from sqlite_utils import Database

from digest.errors import StoreError
from digest.store.articles import ArticlesMixin
from digest.store.base import from_text, to_precise_text, to_text, utc_now
from digest.store.deliveries import DeliveriesMixin
from digest.store.feeds import FeedsMixin
from digest.store.schema import migrations
from digest.store.subscribers import SUBSCRIBER_STATUSES, address_hash
from digest.store.subscriptions import SubscriptionsMixin

__all__ = [
    "SUBSCRIBER_STATUSES",
    "Store",
    "address_hash",
    "from_text",
    "migrations",
    "to_precise_text",
    "to_text",
    "utc_now",
]


class Store(
    DeliveriesMixin,
    SubscriptionsMixin,
    FeedsMixin,
    ArticlesMixin,
    AbstractContextManager["Store"],
):
    """One open database. Create with `Store.open(path)`; close when done."""

    @classmethod
    def open(cls, path: Path, *, create: bool = True) -> Store:
        """Open (and migrate) the database; `create=False` refuses a file that is not there.

        Only `digest init` (and the demo) create one: a mistyped --db must not quietly
        become a new, empty database.
        """
        if not create and not path.is_file():
            raise StoreError(
                f"no database at {path}",
                hint=f"check --db / DIGEST_DB, or create it with: digest --db {path} init",
            )
        if path.parent and not path.parent.exists():
            raise StoreError(
                f"cannot create {path}: folder {path.parent} does not exist",
                hint="create the folder or point --db / DIGEST_DB elsewhere",
            )
        try:
            # mode=rw: the file vanishing between the check and here is not a new database
            target = f"{path.resolve().as_uri()}?mode={'rwc' if create else 'rw'}"
            conn = sqlite3.connect(target, isolation_level=None, timeout=10, uri=True)
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=10000")
            db = Database(conn, execute_plugins=False)
            migrations.apply(db)
            conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"cannot open database {path}: {exc}",
                hint="is it a digest SQLite file? check --db / DIGEST_DB",
            ) from None
        return cls(db, path)

    def close(self) -> None:
        self.db.close()

    def __exit__(self, *exc: object) -> None:
        self.close()
