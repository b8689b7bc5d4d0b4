"""The numbered migrations. Names are the record of what ran: never rename or reorder."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("digest")


@migrations(name="0001_initial")
def _initial(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE lists (
            id INTEGER PRIMARY KEY,
            slug TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            from_addr TEXT NOT NULL,
            send_at TEXT NOT NULL DEFAULT '07:00',
            timezone TEXT NOT NULL DEFAULT 'UTC',
            locale TEXT NOT NULL DEFAULT 'en',
            sections TEXT NOT NULL DEFAULT '[]',
            address TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        );
        CREATE TABLE subscribers (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL DEFAULT '',
            locale TEXT NOT NULL DEFAULT '',
            timezone TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'unsubscribed', 'bounced', 'complained')),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE subscriptions (
            subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
            list_id INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
            sections TEXT NOT NULL DEFAULT '[]',
            status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'unsubscribed')),
            created_at TEXT NOT NULL,
            PRIMARY KEY (subscriber_id, list_id)
        );
        CREATE INDEX subscriptions_list ON subscriptions(list_id, status);
        CREATE TABLE articles (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,
            guid TEXT NOT NULL DEFAULT '',
            title TEXT NOT NULL,
            section TEXT NOT NULL DEFAULT '',
            published_at TEXT NOT NULL,
            summary TEXT NOT NULL DEFAULT '',
            body_html TEXT NOT NULL DEFAULT '',
            author TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT '',
            image_url TEXT NOT NULL DEFAULT '',
            image_alt TEXT NOT NULL DEFAULT '',
            language TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')),
            updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now'))
        );
        CREATE INDEX articles_published ON articles(published_at);
        CREATE TABLE editions (
            id INTEGER PRIMARY KEY,
            list_id INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
            date TEXT NOT NULL,
            due_at TEXT NOT NULL,
            subject TEXT NOT NULL,
            article_count INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (list_id, date)
        );
        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            edition_id INTEGER NOT NULL REFERENCES editions(id) ON DELETE CASCADE,
            subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
            status TEXT NOT NULL,
            message_id TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_reply TEXT NOT NULL DEFAULT '',
            updated_at TEXT NOT NULL,
            sent_at TEXT,
            UNIQUE (edition_id, subscriber_id)
        );
        """
    )


@migrations(name="0002_wal", transactional=False)
def _wal(db: Database) -> None:
    db.enable_wal()


@migrations(name="0003_subscriber_pause")
def _subscriber_pause(db: Database) -> None:
    # Set by "pause all emails" on the preferences page; NULL means not paused.
    db.execute("ALTER TABLE subscribers ADD COLUMN paused_at TEXT")


@migrations(name="0003_data_in_feeds_suppressions")
def _data_in_feeds_suppressions(db: Database) -> None:
    """Feeds by subscription, suppression of removed addresses, article identity by guid."""
    db.executescript(
        """
        CREATE TABLE feeds (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL DEFAULT '',
            section TEXT NOT NULL DEFAULT '',
            list_id INTEGER REFERENCES lists(id) ON DELETE SET NULL,
            etag TEXT NOT NULL DEFAULT '',
            last_modified TEXT NOT NULL DEFAULT '',
            failures INTEGER NOT NULL DEFAULT 0,
            last_error TEXT NOT NULL DEFAULT '',
            last_fetched_at TEXT,
            last_ok_at TEXT,
            created_at TEXT NOT NULL
        );
        CREATE TABLE suppressions (
            address_hash TEXT PRIMARY KEY,
            reason TEXT NOT NULL DEFAULT 'removed',
            created_at TEXT NOT NULL
        );
        ALTER TABLE articles ADD COLUMN feed_id INTEGER REFERENCES feeds(id) ON DELETE SET NULL;
        CREATE INDEX articles_guid ON articles(guid) WHERE guid != '';
        CREATE INDEX articles_section ON articles(section, published_at);
        """
    )


@migrations(name="0003_delivery_ledger")
def _delivery_ledger(db: Database) -> None:
    """The delivery ledger's states, reply codes, retry times; rebuilt to add the CHECK."""
    db.executescript(
        """
        CREATE TABLE deliveries_new (
            id INTEGER PRIMARY KEY,
            edition_id INTEGER NOT NULL REFERENCES editions(id) ON DELETE CASCADE,
            subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
            status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN
                ('queued', 'sending', 'sent', 'deferred', 'bounced', 'failed', 'skipped')),
            message_id TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_code INTEGER,
            last_reply TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            next_attempt_at TEXT,
            sent_at TEXT,
            UNIQUE (edition_id, subscriber_id)
        );
        INSERT INTO deliveries_new (id, edition_id, subscriber_id, status, message_id, attempts,
            last_reply, created_at, updated_at, sent_at)
        SELECT id, edition_id, subscriber_id, status, message_id, attempts, last_reply,
            updated_at, updated_at, sent_at FROM deliveries;
        DROP TABLE deliveries;
        ALTER TABLE deliveries_new RENAME TO deliveries;
        CREATE INDEX deliveries_edition_status ON deliveries(edition_id, status, id);
        CREATE INDEX deliveries_sent_at ON deliveries(sent_at) WHERE sent_at IS NOT NULL;
        """
    )


@migrations(name="0004_delivery_give_up_at")
def _delivery_give_up_at(db: Database) -> None:
    # When a deferred row stops being retried: the later of the next edition's due moment
    # and DIGEST_RETRY_WINDOW after its first deferral (set once, at that deferral).
    # Rows deferred before this column existed keep the old rule: the next edition.
    db.execute("ALTER TABLE deliveries ADD COLUMN give_up_at TEXT")
    db.execute(
        "UPDATE deliveries SET give_up_at = (SELECT strftime('%Y-%m-%dT%H:%M:%S.000000+00:00',"
        " e.due_at, '+1 day') FROM editions e WHERE e.id = deliveries.edition_id)"
        " WHERE status = 'deferred'"
    )


@migrations(name="0005_soft_bounces")
def _soft_bounces(db: Database) -> None:
    """Soft bounces: one row per (subscriber, edition), so that only distinct editions count."""
    db.executescript(
        """
        CREATE TABLE soft_bounces (
            subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
            edition_id INTEGER NOT NULL REFERENCES editions(id) ON DELETE CASCADE,
            code INTEGER,
            reply TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            PRIMARY KEY (subscriber_id, edition_id)
        );
        CREATE INDEX soft_bounces_edition ON soft_bounces(edition_id);
        """
    )
