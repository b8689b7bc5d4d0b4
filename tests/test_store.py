"""The SQLite store: migrations, WAL, foreign keys, the ledger's uniqueness."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from digest.config import Settings
from digest.errors import StoreError
from digest.models import Article, NewsList, Subscriber
from digest.sink import CaptureServer
from digest.store import Store, migrations
from tests.conftest import DAY, NOW


def test_migrations_wal_and_foreign_keys(db_path: Path) -> None:
    with Store.open(db_path):
        pass
    with Store.open(db_path) as store:  # reopening applies nothing twice
        applied = migrations.applied(store.db.conn)
        assert applied == migrations.names and len(applied) > 20
        assert store.db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.db.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    tables = {
        r[0]
        for r in sqlite3.connect(db_path).execute(
            "SELECT name FROM sqlite_master WHERE type='table'"
        )
    }
    assert {"lists", "subscribers", "subscriptions", "articles", "editions", "deliveries"} <= tables


def test_one_delivery_row_per_edition_and_subscriber(store: Store) -> None:
    news_list = store.add_list(NewsList(slug="daily", name="Daily"), now=NOW)
    sub, _ = store.upsert_subscriber(
        Subscriber(email="a@example.com"), lists=[(news_list, ())], now=NOW
    )
    assert sub.id is not None
    edition_id = store.ensure_edition(
        news_list, DAY, due_at=NOW, subject="s", article_count=1, now=NOW
    )
    assert (
        store.ensure_edition(news_list, DAY, due_at=NOW, subject="s", article_count=1, now=NOW)
        == edition_id
    )
    with pytest.raises(sqlite3.IntegrityError):
        store.db.execute(
            "INSERT INTO deliveries (edition_id, subscriber_id, status, message_id, updated_at)"
            " VALUES (?, ?, 'sent', 'x', 'now'), (?, ?, 'sent', 'y', 'now')",
            [edition_id, sub.id, edition_id, sub.id],
        )

    def message_id(subscriber_id: int) -> str:
        return f"<{subscriber_id}@example.com>"

    assert store.queue_deliveries(edition_id, news_list, message_id=message_id, now=NOW) == 1
    assert store.queue_deliveries(edition_id, news_list, message_id=message_id, now=NOW) == 0
    assert store.delivery_counts(edition_id) == {"queued": 1}


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        store.db.execute(
            "INSERT INTO subscriptions (subscriber_id, list_id, created_at) VALUES (99, 99, 'x')"
        )


def test_subscriber_upsert_merges_lists(store: Store) -> None:
    a = store.add_list(NewsList(slug="a", name="A"), now=NOW)
    b = store.add_list(NewsList(slug="b", name="B"), now=NOW)
    _, new = store.upsert_subscriber(Subscriber(email="x@example.com"), lists=[(a, ())], now=NOW)
    _, again = store.upsert_subscriber(
        Subscriber(email="x@example.com", name="X"), lists=[(b, ())], now=NOW
    )
    assert new and not again
    [(sub, slugs)] = list(store.subscribers())
    assert sub.name == "X" and slugs == ["a", "b"]


def test_not_a_database(tmp_path: Path) -> None:
    bad = tmp_path / "junk.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError) as info:
        Store.open(bad)
    assert info.value.hint


def test_soft_bounces_count_distinct_editions_since_the_last_accepted_message(
    store: Store,
) -> None:
    from datetime import timedelta

    news_list = store.add_list(NewsList(slug="daily", name="Daily"), now=NOW)
    sub, _ = store.upsert_subscriber(
        Subscriber(email="a@example.com"), lists=[(news_list, ())], now=NOW
    )
    assert sub.id is not None
    editions = [
        store.ensure_edition(
            news_list, DAY + timedelta(days=i), due_at=NOW, subject="s", article_count=1, now=NOW
        )
        for i in range(4)
    ]

    def bounce(edition_id: int, hours: int) -> int:
        return store.record_soft_bounce(
            sub.id or 0,
            edition_id,
            reply="550 Rejected",
            code=550,
            now=NOW + timedelta(hours=hours),
            limit=3,
        )

    assert bounce(editions[0], 1) == 1
    assert bounce(editions[0], 2) == 1  # the same edition again does not count twice
    assert bounce(editions[1], 25) == 2
    # An accepted message after those bounces proves the address alive: counting restarts.
    store.queue_deliveries(editions[2], news_list, message_id=lambda i: f"<{i}@x>", now=NOW)
    (delivery,) = store.deliveries(editions[2])
    store.finish_delivery(delivery.id, status="sent", reply="250", now=NOW + timedelta(hours=49))
    assert bounce(editions[3], 73) == 1
    assert store.find_subscriber("a@example.com").status == "active"
    assert bounce(editions[0], 74) == 2 and bounce(editions[1], 75) == 3
    assert store.find_subscriber("a@example.com").status == "bounced"
    # Made active again by hand: counting starts from zero.
    store.resubscribe("a@example.com", force=True, now=NOW)
    assert store.soft_bounce_count(sub.id) == 0
    # A subscriber removed while their message was out: nothing recorded, no error.
    store.remove_subscriber("a@example.com", now=NOW)
    assert bounce(editions[2], 80) == 0


def _sqlite_steps(store: Store, action: Callable[[], object]) -> int:
    """SQLite virtual-machine steps (in hundreds) that `action` makes: work, not time."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    store.db.conn.set_progress_handler(count, 100)
    try:
        action()
    finally:
        store.db.conn.set_progress_handler(None, 0)
    return steps


def test_adding_a_feed_item_costs_the_same_however_many_articles_are_stored(
    store: Store,
) -> None:
    """A feed's guid lookup scanned every article, so a feed file imported in quadratic time."""

    def item(i: int) -> Article:
        return Article(
            url=f"https://news.example.com/a/{i}",
            title=f"Item {i}",
            published_at=NOW,
            guid=f"https://news.example.com/?p={i}",
        )

    def add(first: int, count: int) -> None:
        with store.transaction():
            for i in range(first, first + count):
                assert store.upsert_article(item(i), now=NOW) == "added"

    add(0, 100)
    few = _sqlite_steps(store, lambda: store.upsert_article(item(100), now=NOW))
    add(101, 3000)
    many = _sqlite_steps(store, lambda: store.upsert_article(item(5000), now=NOW))
    assert many <= few + 2  # with 30x the articles (a scan made it ~30x the work)
    assert store.upsert_article(item(7), now=NOW) == "unchanged"  # still found by url ...
    moved = Article(
        url="https://news.example.com/moved/7", title="Item 7", published_at=NOW, guid=item(7).guid
    )
    assert store.upsert_article(moved, now=NOW) == "updated"  # ... and by guid
    assert store.get_article(moved.url).guid == item(7).guid


def _wal_frames(store: Store) -> int:
    wal = store.path.with_name(store.path.name + "-wal")
    return max(0, (wal.stat().st_size - 32) // (4096 + 24)) if wal.exists() else 0


def test_a_long_run_of_commits_leaves_checkpoints_to_a_helper(store: Store) -> None:
    """A send commits once per message; every ~200 messages one of those commits also
    ran a WAL checkpoint and its fdatasync (7 ms apiece under load). Inside
    `checkpoints_aside` this connection never checkpoints, yet the WAL stays small:
    the helper's checkpoints let it be reused."""
    conn = store.db.conn
    conn.execute("CREATE TABLE t (x TEXT)")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the migrations' frames

    def commits(nudge: Callable[[], None]) -> None:
        for _ in range(300):
            with store.transaction():
                conn.execute("INSERT INTO t VALUES (?)", ["x" * 3000])
            nudge()

    with store.checkpoints_aside(every=10) as aside:
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0

        def nudge_and_settle() -> None:  # a send waits for its server; here, the helper
            aside.nudge()
            aside.settle()

        commits(nudge_and_settle)
        assert aside.made == 30
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    with_helper = _wal_frames(store)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA wal_autocheckpoint=0")  # the same without the helper
    commits(lambda: None)
    without = _wal_frames(store)
    conn.execute("PRAGMA wal_autocheckpoint=1000")
    assert without >= 300 and with_helper < 100, (with_helper, without)


def test_the_archive_asks_of_one_edition_whether_it_went_out(tmp_path: Path) -> None:
    """The archive's edition page checked its day against the list of every edition
    that went out: 366 probes of the ledger after a year (1.52x the time at 100k
    subscribers). One edition's check costs the same after 2 or 200 editions."""
    from datetime import date, timedelta

    steps = []
    count = [0]

    def tick() -> int:
        count[0] += 1
        return 0

    for editions in (2, 200):
        with Store.open(tmp_path / f"{editions}.db") as store:
            news_list = store.add_list(NewsList(slug="daily", name="Daily"), now=NOW)
            conn = store.db.conn
            with store.transaction():
                conn.execute(
                    "INSERT INTO subscribers (id, email, created_at, updated_at)"
                    " VALUES (1, 'a@example.com', '', '')"
                )
                for back in range(editions):
                    day = date(2026, 11, 27) - timedelta(days=back)
                    edition_id = conn.execute(
                        "INSERT INTO editions (list_id, date, due_at, subject, article_count,"
                        " created_at) VALUES (?, ?, '', 's', 1, '')",
                        [news_list.id, day.isoformat()],
                    ).lastrowid
                    conn.execute(
                        "INSERT INTO deliveries (edition_id, subscriber_id, status, message_id,"
                        " created_at, updated_at) VALUES (?, 1, 'sent', ?, '', '')",
                        [edition_id, f"<{back}@x>"],
                    )
            oldest = date(2026, 11, 27) - timedelta(days=editions - 1)
            assert store.edition_went_out(news_list, oldest)
            assert not store.edition_went_out(news_list, oldest - timedelta(days=1))
            assert len(store.edition_dates(news_list)) == editions
            count[0] = 0
            store.db.conn.set_progress_handler(tick, 10)
            store.edition_went_out(news_list, oldest)
            store.db.conn.set_progress_handler(None, 0)
            steps.append(count[0])
    few, many = steps
    assert many <= few + 1, steps


def test_a_send_flags_its_edition_so_the_archive_lists_it_without_the_ledger(
    store: Store, settings: Settings, smtp_server: CaptureServer
) -> None:
    """The archive index reads the editions table alone for editions a run flagged; the
    ledger rows are deleted here by hand to show that nothing else is asked (at 365 x
    100k each probe was a seek into a 36M-row index: 1.2-1.6x slower after a year)."""
    from dataclasses import replace

    from digest import pipeline
    from digest.clock import Clock
    from tests.test_delivery import make_project

    make_project(store, 3)
    cfg = replace(settings, smtp_url=smtp_server.url)
    report = pipeline.send_edition(
        store, cfg, slug="daily", day=DAY, clock=Clock.starting_at(NOW), force=True
    )
    assert report.sent == 3
    news_list = store.get_list("daily")
    edition_id = store.find_edition(news_list, DAY)
    with store.transaction():
        store.db.execute("DELETE FROM deliveries WHERE edition_id = ?", [edition_id])
    assert store.edition_dates(news_list) == [DAY]
    assert store.edition_went_out(news_list, DAY)
    # An edition no run flagged (an older database, a crash before the flag) still
    # counts by its ledger: the probe remains as the fallback.
    with store.transaction():
        store.db.execute("UPDATE editions SET went_out = 0 WHERE id = ?", [edition_id])
    assert store.edition_dates(news_list) == []
