"""delivery: the retry rules on the test's own clock, whatever day the suite runs.

Each test here fails on a deliberate bug that once passed the whole suite: a frozen
clock that hangs, a late run that loses messages, a constant backoff, expiry of queued
rows, a wrong attempt count after a policy stop, the zone filter at queue time, paused
subscribers queued, and the paths nothing ran (a connection lost before the final dot,
a 5.7.x stop over several connections, subscribers suppressed during the send).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from digest import pipeline
from digest.clock import Clock
from digest.config import Settings
from digest.models import DeliveryReport, Subscriber
from digest.store import Store
from tests.conftest import DAY, NOW, ManualClock
from tests.faultsmtp import FaultServer, always, fail_times
from tests.test_delivery import ledger, make_project, quick, send
from tests.test_delivery import server as server  # noqa: F401 (a fixture, used by name)

LATE = NOW + timedelta(days=1, hours=1)  # the next edition has been due for an hour
REAL = dict(retry_base=30.0, retry_max=3600.0, retry_window=600.0)  # the defaults


def test_a_frozen_clock_ends_within_the_retry_window(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    """The wall clock never moves, so no retry ever comes due: the run must still end."""
    make_project(store, 2)
    server.handler.rcpt["s1@example.org"] = always("451 4.3.0 try later")
    cfg = quick(settings, server.url, retry_base=0.2, retry_max=0.2, retry_window=1.0)
    result: list[DeliveryReport] = []

    def run() -> None:
        with Store.open(settings.db) as own:  # SQLite: a connection per thread
            result.append(send(own, cfg, clock=Clock.frozen(NOW)))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "a run on a frozen clock never ended"
    [report] = result
    assert (report.sent, report.deferred, report.complete) == (1, 1, False)
    assert ledger(store)["s1@example.org"][0] == "deferred"  # left for the next run


def test_a_late_run_still_retries_a_421_at_once(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 3)
    server.handler.rcpt["s2@example.org"] = fail_times(1, "421 4.3.2 shutting down")
    report = send(store, quick(settings, server.url), clock=Clock.starting_at(LATE))
    assert (report.sent, report.failed, report.complete) == (3, 0, True)
    assert ledger(store)["s2@example.org"][:2] == ("sent", 2)


def test_a_connection_lost_before_the_final_dot_is_retried_at_once(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 3)
    server.handler.rcpt["s2@example.org"] = fail_times(1, "drop")
    report = send(store, quick(settings, server.url))
    assert (report.sent, report.complete) == (3, True)
    assert ledger(store)["s2@example.org"][:2] == ("sent", 2)
    assert server.handler.connections == 2  # reconnected after the loss


def test_a_late_run_keeps_retrying_for_the_window_then_gives_up_and_says_so(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 2)
    server.handler.rcpt["s1@example.org"] = always("451 4.7.1 greylisted")
    fake = ManualClock(LATE)
    report = send(store, quick(settings, server.url, **REAL), clock=fake.clock)
    # Attempts at +0, +30, +90, +210, +450 s; the next (+930 s) would fall past the
    # window (+600 s after the first deferral), so the run gives it up itself.
    assert ledger(store)["s1@example.org"][:2] == ("failed", 5)
    assert (report.sent, report.failed, report.remaining) == (1, 1, 0)
    assert any("1 deferred messages given up (failed)" in n for n in report.notes)
    assert not any("deferred by the server" in n for n in report.notes)


def test_a_late_runs_deferred_message_is_retried_by_the_next_run_within_its_window(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 2)
    server.handler.rcpt["s1@example.org"] = fail_times(1, "451 4.7.1 greylisted")
    fake = ManualClock(LATE)
    stopped = send(
        store,
        quick(settings, server.url, **REAL),
        clock=fake.clock,
        stop=lambda: "s1@example.org" in server.handler.rcpt_attempts,
    )
    assert ledger(store)["s1@example.org"][:2] == ("deferred", 1)
    [hint] = [n for n in stopped.notes if "deferred by the server" in n]
    assert "retries them from 2026-11-28 08:00:30 UTC until 2026-11-28 08:10 UTC" in hint
    fake.advance(60)  # the next run, a minute later, past the edition's next due time
    resumed = send(store, quick(settings, server.url, **REAL), clock=fake.clock)
    assert (resumed.sent, resumed.complete) == (2 - stopped.sent, True)
    assert ledger(store)["s1@example.org"][:2] == ("sent", 2)


def test_an_on_time_run_says_its_retries_last_until_the_next_edition(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 2)
    server.handler.rcpt["s1@example.org"] = always("451 4.7.1 greylisted")
    report = send(store, quick(settings, server.url, **REAL), clock=ManualClock().clock)
    [hint] = [n for n in report.notes if "deferred by the server" in n]
    assert hint.endswith("until 2026-11-28 07:00 UTC, then gives them up")
    assert ledger(store)["s1@example.org"][0] == "deferred"


def test_backoff_doubles_between_attempts(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 1)
    fake = ManualClock()
    seen: list[datetime] = []

    def greylist(attempt: int) -> str | None:
        seen.append(fake.at)
        return "451 4.7.1 greylisted" if attempt <= 3 else None

    server.handler.rcpt["s1@example.org"] = greylist
    report = send(store, quick(settings, server.url, **REAL), clock=fake.clock)
    assert report.complete
    gaps = [(b - a).total_seconds() for a, b in zip(seen, seen[1:], strict=False)]
    assert gaps == [30.0, 60.0, 120.0]


def test_expiry_gives_up_deferred_rows_only_never_queued_ones(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 1)
    server.handler.rcpt["s1@example.org"] = always("451 4.7.1 greylisted")
    send(store, quick(settings, server.url, retry_window=0.0))
    # Someone joins; a late run queues them, gives up s1 (its window is over), sends them.
    store.upsert_subscriber(
        Subscriber(email="late@example.org"), lists=[(store.get_list("daily"), ())], now=NOW
    )
    report = send(store, quick(settings, server.url), clock=Clock.starting_at(LATE))
    rows = ledger(store)
    assert rows["s1@example.org"][0] == "failed"
    assert rows["late@example.org"][:2] == ("sent", 1)
    assert (report.sent, report.remaining) == (1, 0)


def test_a_policy_stop_counts_attempts_exactly(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 6)
    server.handler.data = lambda n: "554 5.7.1 blocked" if n >= 3 else None
    report = send(store, quick(settings, server.url))
    assert report.stopped.startswith("554 5.7.1")
    attempts = {a: n for a, (_, n, _) in ledger(store).items()}
    assert attempts == {
        "s1@example.org": 1,
        "s2@example.org": 1,
        "s3@example.org": 1,  # it went out and was refused: one attempt
        "s4@example.org": 0,  # never left
        "s5@example.org": 0,
        "s6@example.org": 0,
    }


def test_a_policy_stop_over_several_connections_keeps_every_waiting_job(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 12)
    server.handler.data = always("554 5.7.1 blocked")
    report = send(store, quick(settings, server.url + "?connections=3"))
    assert report.stopped.startswith("554 5.7.1") and report.sent == 0
    rows = ledger(store)
    assert {s for s, _, _ in rows.values()} == {"queued"}  # nothing lost, nothing 'sending'
    # Each refused message counts one attempt; cancelled jobs that never left count none.
    assert sum(n for _, n, _ in rows.values()) == server.handler.data_count
    server.handler.data = lambda n: None
    resumed = send(store, quick(settings, server.url + "?connections=3"))
    assert (resumed.sent, resumed.complete) == (12, True)


def test_zone_batches_queue_only_their_zone(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 2)
    daily = store.get_list("daily")
    store.upsert_subscriber(
        Subscriber(email="tokyo@example.org", timezone="Asia/Tokyo"), lists=[(daily, ())], now=NOW
    )
    tomorrow = DAY + timedelta(days=1)  # Tokyo's edition of the 28th holds today's news
    report = pipeline.send_edition(
        store,
        quick(settings, server.url),
        slug="daily",
        day=tomorrow,
        clock=Clock.starting_at(NOW),
        zone="Asia/Tokyo",
    )
    assert report.sent == 1
    edition_id = store.find_edition(daily, tomorrow)
    assert edition_id is not None
    queued = {d.subscriber.email for d in store.deliveries(edition_id)}
    assert queued == {"tokyo@example.org"}  # the others were not even queued


def test_paused_subscribers_are_not_queued(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 3)
    paused = store.find_subscriber("s2@example.org")
    assert paused.id is not None
    store.set_paused(paused.id, True, now=NOW)
    report = send(store, quick(settings, server.url))
    assert (report.sent, report.complete) == (2, True)
    assert "s2@example.org" not in ledger(store)


def test_subscribers_suppressed_during_the_send_are_skipped_with_the_reason(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 10)
    daily = store.get_list("daily")

    def meanwhile(n: int) -> None:
        if n == 1:  # while the first message is out, an admin acts on three others
            with Store.open(settings.db) as admin:
                admin.remove_subscriber("s8@example.org", now=NOW)
                admin.set_subscriber_status("s9@example.org", "bounced", now=NOW)
                admin.unsubscribe("s10@example.org", daily.slug, now=NOW)
        return None

    server.handler.data = meanwhile
    report = send(store, quick(settings, server.url))
    assert (report.sent, report.skipped, report.complete) == (7, 3, True)
    edition_id = store.find_edition(daily, DAY)
    assert edition_id is not None
    replies = {d.subscriber.email: (d.status, d.last_reply) for d in store.deliveries(edition_id)}
    assert "s8@example.org" not in replies  # the row went with the subscriber
    assert replies["s9@example.org"] == ("skipped", "subscriber bounced")
    assert replies["s10@example.org"] == ("skipped", "unsubscribed from the list")
    assert [r.rcpt for r in server.handler.seen if r.rcpt.startswith(("s8", "s9", "s10"))] == []
