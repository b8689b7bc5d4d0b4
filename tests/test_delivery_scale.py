"""The send path at scale: queries that stay flat as the ledger grows, and a bound on
what a SIGKILL can resend (see benchmarks/send.py for the figures)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from digest import dispatch, pipeline
from digest.clock import Clock
from digest.config import Settings
from digest.models import Subscriber
from digest.sink import CaptureServer
from digest.store import Store
from tests.conftest import DAY, NOW
from tests.faultsmtp import FaultServer
from tests.test_delivery import make_project, quick


def plans(store: Store, call: Callable[[], Any]) -> dict[str, str]:
    """SQL text of each SELECT that `call` runs -> its EXPLAIN QUERY PLAN, on one line."""
    seen: list[str] = []
    conn = store.db.conn
    conn.set_trace_callback(seen.append)
    try:
        call()
    finally:
        conn.set_trace_callback(None)
    return {
        sql: " | ".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql))
        for sql in seen
        if sql.lstrip().upper().startswith("SELECT")
    }


def queued_edition(store: Store, count: int) -> int:
    make_project(store, count)
    news_list = store.get_list("daily")
    edition_id = store.ensure_edition(
        news_list, DAY, due_at=NOW, subject="s", article_count=2, now=NOW
    )
    store.queue_deliveries(edition_id, news_list, message_id=lambda sid: f"<{sid}@x>", now=NOW)
    return edition_id


def test_the_next_pending_rows_come_from_an_index_in_order_without_a_sort(
    store: Store,
) -> None:
    edition_id = queued_edition(store, 30)
    news_list = store.get_list("daily")
    assert news_list.id is not None
    found = plans(
        store, lambda: store.pending_deliveries(edition_id, news_list.id or 0, after_id=3)
    )
    (plan,) = [p for sql, p in found.items() if "FROM deliveries" in sql]
    # The old (edition_id, status, id) index sorted every remaining row on each call.
    assert "deliveries_pending" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
    batch = store.pending_deliveries(edition_id, news_list.id, after_id=3, limit=5)
    assert [d.subscriber.email for d in batch] == [f"s{i}@example.org" for i in range(4, 9)]
    assert {d.suppressed for d in batch} == {""}


def test_the_article_window_query_uses_the_published_at_index(store: Store) -> None:
    make_project(store, 1)
    news_list = store.get_list("daily")
    start, end = pipeline.issue.edition_window(news_list, DAY)
    found = plans(store, lambda: store.articles_between(start, end, news_list=news_list))
    (plan,) = [p for sql, p in found.items() if "FROM articles" in sql]
    assert "articles_published" in plan, plan  # julianday(published_at) scanned the table
    assert [a.title for a in store.articles_between(start, end)] == ["Story 0", "Story 1"]
    assert [a.title for a in store.articles(start=start, end=end)] == ["Story 0", "Story 1"]


def test_ledger_rows_of_one_subscriber_are_found_by_index(store: Store) -> None:
    queued_edition(store, 3)
    # What SQLite does for ON DELETE CASCADE when a subscriber is removed.
    plan = " | ".join(
        r[-1]
        for r in store.db.conn.execute(
            "EXPLAIN QUERY PLAN SELECT 1 FROM deliveries WHERE subscriber_id = 2"
        )
    )
    assert plan.startswith("SEARCH") and "(subscriber_id=?)" in plan, plan


def test_a_kill_at_any_moment_could_resend_at_most_one_message_per_connection(
    settings: Settings,
) -> None:
    """At every result the main thread records, count what the server has that the ledger
    (as another connection sees it, i.e. as a SIGKILL would leave it) does not say is sent.
    A pause in the main thread lets the connections run ahead: before, they took up to
    2 x connections queued messages and their results waited unrecorded."""
    connections = 2
    with Store.open(settings.db) as setup:
        make_project(setup, 40)
    worst: list[int] = []
    with FaultServer() as server, Store.open(settings.db) as watcher:

        def at_risk() -> int:
            row = watcher._one("SELECT count(*) AS n FROM deliveries WHERE status = 'sent'")
            assert row is not None
            return len(server.handler.seen) - int(row["n"])

        def progress(done: int, total: int, note: str) -> None:
            if done in (5, 15, 25):
                time.sleep(0.4)  # the main thread is busy; the connections carry on
            worst.append(at_risk())

        with Store.open(settings.db) as store:
            report = pipeline.send_edition(
                store,
                quick(settings, server.url + f"?connections={connections}"),
                slug="daily",
                day=DAY,
                clock=Clock.starting_at(NOW),
                progress=progress,
            )
    assert (report.sent, report.complete) == (40, True)
    assert len(server.handler.seen) == 40
    assert max(worst) <= connections, worst


# -- idle cron rounds ------------------------------------------------------------------------

SIX_HOURS = timedelta(hours=6)
AFTER = NOW + timedelta(minutes=5)


def sqlite_steps(store: Store, call: Callable[[], Any]) -> int:
    """SQLite virtual-machine steps (in tens) that `call` costs: work, not time."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    store.db.conn.set_progress_handler(count, 10)
    try:
        call()
    finally:
        store.db.conn.set_progress_handler(None, 0)
    return steps[0]


def idle_round_steps(
    settings: Settings, server: CaptureServer, count: int, *, leavers: int = 0
) -> int:
    """SQLite steps of a run-due round with nothing due, after the edition went out to
    `count` subscribers and `leavers` of them then unsubscribed (the roster moved)."""
    cfg = replace(settings, db=settings.db.with_name(f"idle-{count}.db"), smtp_url=server.url)
    with Store.open(cfg.db) as store:
        make_project(store, count)
        runs = dispatch.run_due(
            store, cfg, clock=Clock.starting_at(AFTER), catch_up=SIX_HOURS, fetch=False
        )
        assert [r.report and r.report.sent for r in runs] == [count]
        for i in range(1, leavers + 1):
            sub = store.get_subscriber(f"s{i}@example.org")
            assert sub is not None and sub.id is not None
            store.set_subscriber_status(sub.id, "unsubscribed", now=AFTER)
        return sqlite_steps(
            store,
            lambda: dispatch.run_due(
                store, cfg, clock=Clock.starting_at(AFTER), catch_up=SIX_HOURS, fetch=False
            ),
        )


def test_an_idle_run_due_costs_the_same_for_20_or_400_subscribers(settings: Settings) -> None:
    with CaptureServer(settings.outbox) as server:
        small = idle_round_steps(settings, server, 20)
        big = idle_round_steps(settings, server, 400)
    # Before: the round read every recipient and every ledger row (20x the steps).
    assert big <= 1.3 * small + 50, (small, big)


def test_a_round_after_a_few_leave_costs_the_same_for_20_or_400_subscribers(
    settings: Settings,
) -> None:
    with CaptureServer(settings.outbox) as server:
        small = idle_round_steps(settings, server, 20, leavers=3)
        big = idle_round_steps(settings, server, 400, leavers=3)
    # Before the roster log: any change meant one scan of the whole list and ledger.
    assert big <= 1.3 * small + 50, (small, big)


def test_after_the_send_a_newcomer_or_a_returning_subscriber_is_still_seen(
    settings: Settings,
) -> None:
    with CaptureServer(settings.outbox) as server, Store.open(settings.db) as store:
        cfg = replace(settings, smtp_url=server.url)
        make_project(store, 5)

        def round_sent() -> list[int]:
            runs = dispatch.run_due(
                store, cfg, clock=Clock.starting_at(AFTER), catch_up=SIX_HOURS, fetch=False
            )
            return [r.report.sent if r.report else -1 for r in runs]

        assert round_sent() == [5]
        assert round_sent() == []
        # Someone joins after the send: the roster moved, so the round looks again.
        store.upsert_subscriber(
            Subscriber(email="late@example.org"), lists=[(store.get_list("daily"), ())], now=AFTER
        )
        assert round_sent() == [1]
        assert round_sent() == []
        # Coming back (here after a row of theirs went missing) is a change of roster too.
        sub = store.get_subscriber("s2@example.org")
        assert sub is not None and sub.id is not None
        store.db.execute("DELETE FROM deliveries WHERE subscriber_id = ?", [sub.id])
        store.set_subscriber_status(sub.id, "unsubscribed", now=AFTER)
        assert round_sent() == []
        store.set_subscriber_status(sub.id, "active", now=AFTER)
        assert round_sent() == [1]
        assert round_sent() == []


def message_lookup_steps(settings: Settings, server: CaptureServer, count: int) -> int:
    """SQLite steps to find who was sent the last Message-ID of a `count`-subscriber send."""
    cfg = replace(settings, db=settings.db.with_name(f"mid-{count}.db"), smtp_url=server.url)
    with Store.open(cfg.db) as store:
        make_project(store, count)
        dispatch.run_due(
            store, cfg, clock=Clock.starting_at(AFTER), catch_up=SIX_HOURS, fetch=False
        )
        row = store.db.conn.execute(
            "SELECT message_id FROM deliveries ORDER BY id DESC LIMIT 1"
        ).fetchone()
        found: list[object] = []
        steps = sqlite_steps(store, lambda: found.append(store.edition_of_message(row[0])))
        assert found[0] is not None
        return steps


def test_a_bounce_quoting_a_message_id_costs_the_same_for_20_or_400_subscribers(
    settings: Settings,
) -> None:
    with CaptureServer(settings.outbox) as server:
        small = message_lookup_steps(settings, server, 20)
        big = message_lookup_steps(settings, server, 400)
    # Before: `WHERE message_id = ?` scanned the whole ledger (about 20x the steps).
    assert big <= 1.3 * small + 5, (small, big)
