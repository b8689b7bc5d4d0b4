"""delivery: the ledger against a real (scriptable) SMTP server, one test per fault."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from digest import pipeline
from digest.clock import Clock
from digest.config import Settings
from digest.delivery import SendLock
from digest.errors import BusyError, SmtpConnectionError
from digest.models import Article, DeliveryReport, NewsList, Subscriber
from digest.pool import RateLimiter
from digest.sink import free_port
from digest.store import Store
from tests.conftest import DAY, NOW, Cli, ManualClock, dkim_key_file
from tests.faultsmtp import FaultServer, always, at, fail_times


def make_project(
    store: Store, count: int, *, sections: dict[int, tuple[str, ...]] | None = None
) -> None:
    news_list = store.add_list(
        NewsList(slug="daily", name="Morning Digest", from_addr="news@example.com"), now=NOW
    )
    for i, section in enumerate(("News", "Sport")):
        store.upsert_article(
            Article(
                url=f"https://news.example.com/{i}",
                title=f"Story {i}",
                section=section,
                published_at=NOW - timedelta(hours=2 + i),
            ),
            now=NOW,
        )
    for i in range(1, count + 1):
        store.upsert_subscriber(
            Subscriber(email=f"s{i}@example.org", name=f"Reader {i}"),
            lists=[(news_list, (sections or {}).get(i, ()))],
            now=NOW,
        )


MINUTE = timedelta(minutes=1)


def quick(settings: Settings, url: str, **extra: object) -> Settings:
    """Tiny backoff values so retries happen within the test, without real waiting."""
    values: dict[str, object] = {
        "smtp_url": url,
        "retry_base": 0.01,
        "retry_max": 0.05,
        "retry_window": 5.0,
    }
    values.update(extra)
    return dataclasses.replace(settings, **values)  # type: ignore[arg-type]


def send(
    store: Store, settings: Settings, *, clock: Clock | None = None, **kw: object
) -> DeliveryReport:
    """Send DAY's edition; by default on a clock that starts at NOW and runs in real time."""
    return pipeline.send_edition(
        store,
        settings,
        slug="daily",
        day=DAY,
        clock=clock or Clock.starting_at(NOW),
        **kw,  # type: ignore[arg-type]
    )


def ledger(store: Store) -> dict[str, tuple[str, int, str]]:
    """email -> (status, attempts, message_id) for the edition."""
    edition_id = store.ensure_edition(
        store.get_list("daily"), DAY, due_at=NOW, subject="", article_count=0, now=NOW
    )
    return {
        d.subscriber.email: (d.status, d.attempts, d.message_id)
        for d in store.deliveries(edition_id)
    }


def statuses(store: Store) -> dict[str, str]:
    return {s.email: s.status for s, _ in store.subscribers()}


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as running:
        yield running


def test_every_subscriber_gets_one_message_and_a_rerun_sends_nothing(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 6)
    report = send(store, quick(settings, server.url + "?connections=2"))
    assert (report.sent, report.remaining, report.complete) == (6, 0, True)
    rows = ledger(store)
    assert {status for status, _, _ in rows.values()} == {"sent"}
    got = {r.rcpt: r for r in server.handler.accepted}
    assert sorted(got) == sorted(rows)
    for address, (_, attempts, message_id) in rows.items():
        msg = email.message_from_bytes(got[address].data, policy=email.policy.default)
        assert msg["Message-ID"] == message_id and attempts == 1
        assert msg["To"].addresses[0].addr_spec == address
    assert server.handler.connections == 2  # each connection reused for many messages
    again = send(store, quick(settings, server.url))
    assert (again.sent, again.already_sent, again.complete) == (0, 6, True)
    assert len(server.handler.seen) == 6


def test_421_mid_session_reconnects_and_carries_on(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 5)
    server.handler.data = at({3: "421 4.3.2 Service shutting down"})
    report = send(store, quick(settings, server.url))
    assert (report.sent, report.complete) == (5, True)
    assert server.handler.connections >= 2
    rows = ledger(store)
    assert sorted(a for _, a, _ in rows.values()) == [1, 1, 1, 1, 2]
    assert len({r.rcpt for r in server.handler.accepted}) == 5


def test_451_is_retried_with_backoff_in_the_same_run(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 3)
    server.handler.rcpt["s2@example.org"] = fail_times(2, "451 4.7.1 Greylisted, try later")
    report = send(store, quick(settings, server.url))
    assert (report.sent, report.deferred, report.complete) == (3, 0, True)
    assert ledger(store)["s2@example.org"][:2] == ("sent", 3)


def test_452_past_the_retry_window_leaves_the_edition_incomplete_then_resumes(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 3)
    server.handler.rcpt["s3@example.org"] = always("452 4.2.2 Mailbox full")
    report = send(store, quick(settings, server.url, retry_window=0.0))
    assert (report.sent, report.deferred, report.remaining) == (2, 1, 1)
    assert not report.complete
    status, attempts, _ = ledger(store)["s3@example.org"]
    assert (status, attempts) == ("deferred", 1)
    del server.handler.rcpt["s3@example.org"]
    resumed = send(store, quick(settings, server.url))
    assert (resumed.sent, resumed.already_sent, resumed.complete) == (1, 2, True)
    assert [r.rcpt for r in server.handler.accepted].count("s3@example.org") == 1


def test_550_5_1_1_bounces_and_the_subscriber_is_never_mailed_again(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 3)
    server.handler.rcpt["s2@example.org"] = always("550 5.1.1 No such user")
    report = send(store, quick(settings, server.url))
    assert (report.sent, report.bounced, report.complete) == (2, 1, True)
    assert ledger(store)["s2@example.org"][0] == "bounced"
    assert statuses(store)["s2@example.org"] == "bounced"
    # The next edition does not even queue the bounced address.
    store.upsert_article(
        Article(
            url="https://news.example.com/next",
            title="Next",
            published_at=NOW + timedelta(hours=20),
        ),
        now=NOW,
    )
    pipeline.send_edition(
        store,
        quick(settings, server.url),
        slug="daily",
        day=DAY + timedelta(days=1),
        clock=Clock.starting_at(NOW + timedelta(days=1)),
    )
    rcpts = [r.rcpt for r in server.handler.accepted]
    assert rcpts.count("s2@example.org") == 0 and rcpts.count("s1@example.org") == 2


def test_554_5_7_1_stops_the_run_and_keeps_the_rest_queued(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 6)
    server.handler.data = lambda n: "554 5.7.1 Rejected for policy reasons" if n >= 3 else None
    report = send(store, quick(settings, server.url))
    assert report.stopped.startswith("554 5.7.1")
    assert (report.sent, report.remaining, report.complete) == (2, 4, False)
    rows = ledger(store)
    assert sorted(s for s, _, _ in rows.values()) == ["queued"] * 4 + ["sent"] * 2
    assert set(statuses(store).values()) == {"active"}
    server.handler.data = lambda n: None
    resumed = send(store, quick(settings, server.url))
    assert (resumed.sent, resumed.complete) == (4, True)
    assert sorted(r.rcpt for r in server.handler.accepted) == sorted(rows)


def test_slow_reply_within_the_data_timeout_is_sent(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 2)
    server.handler.data = at({1: "slow:0.3"})
    report = send(store, quick(settings, server.url + "?timeout=0.1&data_timeout=5"))
    assert (report.sent, report.complete) == (2, True)


def test_timeout_after_the_final_dot_is_maybe_delivered_not_resent_at_once(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 3)
    server.handler.data = at({2: "slow:1.0"})
    url = server.url + "?data_timeout=0.2"
    report = send(store, quick(settings, url, retry_max=3600))
    assert (report.sent, report.deferred, report.complete) == (2, 1, False)
    status, attempts, message_id = ledger(store)["s2@example.org"]
    assert (status, attempts) == ("deferred", 1)
    assert [r.rcpt for r in server.handler.seen].count("s2@example.org") == 1
    # The next run, a minute later, leaves it alone: it waits DIGEST_RETRY_MAX.
    soon = send(store, quick(settings, url, retry_max=3600), clock=Clock.starting_at(NOW + MINUTE))
    assert (soon.sent, soon.deferred, soon.complete) == (0, 1, False)
    assert any("from 2026-11-27 08:00" in note for note in soon.notes), soon.notes
    assert [r.rcpt for r in server.handler.seen].count("s2@example.org") == 1
    # An hour on, it goes again, with the same Message-ID.
    later = NOW + timedelta(hours=1, minutes=1)
    resumed = send(store, quick(settings, url), clock=Clock.starting_at(later))
    assert (resumed.sent, resumed.complete) == (1, True)
    assert server.handler.accepted_ids()["s2@example.org"] == {message_id}


def test_connection_dropped_after_data_resends_with_the_same_message_id(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 3)
    server.handler.data = at({1: "drop"})
    report = send(store, quick(settings, server.url, retry_max=3600))
    assert (report.sent, report.deferred) == (2, 1)
    assert "maybe delivered" in _last_reply(store, "s1@example.org")
    later = Clock.starting_at(NOW + timedelta(hours=1, minutes=1))  # past DIGEST_RETRY_MAX
    resumed = send(store, quick(settings, server.url), clock=later)
    assert resumed.complete
    ids = server.handler.accepted_ids()
    assert all(len(v) == 1 for v in ids.values()) and len(ids) == 3
    assert [r.rcpt for r in server.handler.seen].count("s1@example.org") == 2


def _last_reply(store: Store, address: str) -> str:
    row = store._one(
        "SELECT last_reply FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id"
        " WHERE s.email = ?",
        [address],
    )
    assert row is not None
    return str(row["last_reply"])


def test_an_unsubscribe_during_the_send_takes_effect_for_that_send(
    settings: Settings, server: FaultServer
) -> None:
    with Store.open(settings.db) as setup:
        make_project(setup, 8)
    server.handler.data = at({2: "hold"})
    result: list[DeliveryReport] = []

    def run() -> None:
        with Store.open(settings.db) as own:
            result.append(send(own, quick(settings, server.url)))

    thread = threading.Thread(target=run)
    thread.start()
    assert server.handler.holding.wait(10)
    with Store.open(settings.db) as other:
        other.db.execute(
            "UPDATE subscriptions SET status = 'unsubscribed' WHERE subscriber_id ="
            " (SELECT id FROM subscribers WHERE email = 's7@example.org')"
        )
    server.handler.release()
    thread.join(20)
    report = result[0]
    assert (report.sent, report.skipped, report.complete) == (7, 1, True)
    assert "s7@example.org" not in {r.rcpt for r in server.handler.seen}
    with Store.open(settings.db) as check:
        assert ledger(check)["s7@example.org"][0] == "skipped"


def test_a_second_sender_exits_with_a_clear_message_and_sends_nothing(
    store: Store, settings: Settings, server: FaultServer, run: Cli
) -> None:
    make_project(store, 2)
    with SendLock(settings.db):
        with pytest.raises(BusyError, match="another sender"):
            send(store, quick(settings, server.url))
        result = run("send", "--list", "daily", "--date", DAY.isoformat(), ok=False)
    assert result.exit_code == 1
    assert "another sender is already sending" in result.stderr
    assert server.handler.seen == []
    assert send(store, quick(settings, server.url)).sent == 2


def test_rate_limit_spaces_messages_evenly(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 5)
    fake = ManualClock()
    report = send(store, quick(settings, server.url + "?rate=4/s&connections=2"), clock=fake.clock)
    assert report.sent == 5
    assert sum(fake.slept) == pytest.approx(4 * 0.25)


def test_max_per_hour_counts_earlier_runs_and_stops_with_the_rest_queued(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 5)
    url = server.url + "?max_per_hour=3"
    fake = ManualClock()
    first = send(store, quick(settings, url), clock=fake.clock)
    assert (first.sent, first.remaining, first.complete) == (3, 2, False)
    assert "hourly limit of 3" in first.stopped
    second = send(store, quick(settings, url), clock=fake.clock)
    assert second.sent == 0 and second.remaining == 2
    # With a window longer than the wait, the run paces itself instead of stopping.
    third = send(store, quick(settings, url, retry_window=7200.0), clock=fake.clock)
    assert (third.sent, third.complete) == (2, True)
    assert sum(fake.slept) > 3000


def test_rate_limiter_alone() -> None:
    fake = ManualClock()
    limiter = RateLimiter(
        0, 2, clock=fake.monotonic, sleep=fake.sleep, history=[fake.elapsed - 3599]
    )
    limiter.wait()
    assert fake.slept == []
    limiter.wait()
    assert fake.slept == [pytest.approx(1.0)]


def test_deferred_messages_expire_when_the_next_edition_is_due(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 2)
    server.handler.rcpt["s1@example.org"] = always("451 4.3.0 later")
    first = send(store, quick(settings, server.url, retry_window=0.0))
    assert first.deferred == 1
    del server.handler.rcpt["s1@example.org"]
    late = send(
        store,
        quick(settings, server.url),
        clock=Clock.starting_at(NOW + timedelta(days=1, minutes=1)),
    )
    # Given up counts as failed: `digest send` exits 1, not 0 as if all went out.
    assert (late.sent, late.failed, late.remaining) == (0, 1, 0)
    assert ledger(store)["s1@example.org"][0] == "failed"
    assert any("retried until the next edition was due" in n for n in late.notes)


def test_server_down_fails_with_a_hint_and_keeps_everything_queued(
    store: Store, settings: Settings
) -> None:
    make_project(store, 2)
    with pytest.raises(SmtpConnectionError) as caught:
        send(store, quick(settings, f"smtp://127.0.0.1:{free_port()}"))
    assert caught.value.hint
    assert {s for s, _, _ in ledger(store).values()} == {"queued"}


def test_section_choice_with_nothing_in_the_edition_is_skipped(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 3, sections={2: ("Weather",), 3: ("Sport",)})
    report = send(store, quick(settings, server.url))
    assert (report.sent, report.skipped, report.complete) == (2, 1, True)
    assert ledger(store)["s2@example.org"][0] == "skipped"


def test_cli_send_json_and_exit_codes(run: Cli, db_path: Path) -> None:
    with Store.open(db_path) as store:
        make_project(store, 2)
    with FaultServer() as server:
        run.env.update(
            DIGEST_SMTP_URL=server.url, DIGEST_RETRY_WINDOW="0", DIGEST_RETRY_BASE="0.01"
        )
        server.handler.rcpt["s2@example.org"] = always("451 4.3.0 later")
        args = ("send", "--list", "daily", "--date", DAY.isoformat())
        result = run(*args, "--now", NOW.isoformat(), "--json", ok=False)
        assert result.exit_code == 75
        data = json.loads(result.stdout)
        assert (data["sent"], data["deferred"], data["complete"]) == (1, 1, False)
        del server.handler.rcpt["s2@example.org"]
        result = run(*args, "--now", (NOW + timedelta(minutes=1)).isoformat())
        assert "sent 1," in result.stderr and "complete" in result.stderr
        # A policy block stops the run: exit 1, the reason on stderr.
        run.env["DIGEST_SMTP_URL"] = server.url
        with Store.open(db_path) as store:
            store.upsert_subscriber(
                Subscriber(email="s3@example.org"), lists=[(store.get_list("daily"), ())], now=NOW
            )
        server.handler.data = always("554 5.7.1 blocked")
        result = run(*args, "--now", (NOW + timedelta(minutes=2)).isoformat(), ok=False)
        assert result.exit_code == 1
        assert "stopped: 554 5.7.1 blocked" in result.stderr


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "lockstep"])
def test_mixed_faults_with_and_without_pipelining(
    store: Store, settings: Settings, pipelining: bool
) -> None:
    make_project(store, 6)
    with FaultServer(pipelining=pipelining) as server:
        server.handler.rcpt["s2@example.org"] = always("550 5.1.1 No such user")
        server.handler.rcpt["s3@example.org"] = fail_times(1, "451 4.7.1 Greylisted")
        server.handler.rcpt["s5@example.org"] = fail_times(1, "421 4.7.0 Too many errors")
        server.handler.data = at({2: "421 4.3.2 Shutting down", 4: "drop"})
        report = send(store, quick(settings, server.url, retry_max=0.05))
        assert (report.sent, report.bounced, report.complete) == (5, 1, True)
        rows = ledger(store)
        assert rows["s2@example.org"][0] == "bounced"
        assert statuses(store)["s2@example.org"] == "bounced"
        ids = server.handler.accepted_ids()
        assert sorted(ids) == [f"s{i}@example.org" for i in (1, 3, 4, 5, 6)]
        assert all(ids[a] == {rows[a][2]} for a in ids)


def test_settings_bring_dkim_mailto_and_feedback_id_into_every_message(
    store: Store, settings: Settings, server: FaultServer, tmp_path: Path
) -> None:
    import dkim

    key_file, txt = dkim_key_file(tmp_path)
    record = txt.encode()
    make_project(store, 2)
    progress: list[tuple[int, int]] = []
    report = send(
        store,
        quick(
            settings,
            server.url,
            dkim_key_file=key_file,
            dkim_selector="mail2026",
            unsubscribe_mailto="leave@example.com",
            feedback_id="example",
        ),
        progress=lambda done, total, note: progress.append((done, total)),
    )
    assert report.sent == 2 and progress[-1] == (2, 2)
    for item in server.handler.accepted:
        assert dkim.verify(item.data, dnsfunc=lambda name, timeout=5: record)
        msg = email.message_from_bytes(item.data, policy=email.policy.default)
        assert "<mailto:leave@example.com?subject=unsubscribe%20" in msg["List-Unsubscribe"]
        assert msg["Feedback-ID"] == "2026-11-27:daily:digest:example"


def test_a_paused_subscriber_is_not_sent_the_rest_of_an_edition(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 2)
    server.handler.rcpt["s2@example.org"] = always("451 4.3.0 later")
    assert send(store, quick(settings, server.url, retry_window=0.0)).deferred == 1
    subscriber = store.get_subscriber("s2@example.org")
    assert subscriber.id is not None
    store.set_paused(subscriber.id, True, now=NOW)
    del server.handler.rcpt["s2@example.org"]
    report = send(store, quick(settings, server.url))
    assert (report.sent, report.skipped, report.complete) == (0, 1, True)
    assert ledger(store)["s2@example.org"][0] == "skipped"


def send_day(store: Store, settings: Settings, day_offset: int) -> DeliveryReport:
    """The edition `day_offset` days after DAY, sent at its due time (a fixed clock)."""
    day = DAY + timedelta(days=day_offset)
    moment = NOW + timedelta(days=day_offset)
    store.upsert_article(
        Article(
            url=f"https://news.example.com/day{day_offset}",
            title=f"Day {day_offset}",
            published_at=moment - timedelta(hours=1),
        ),
        now=moment,
    )
    return pipeline.send_edition(
        store, settings, slug="daily", day=day, clock=Clock.starting_at(moment)
    )


def test_a_bare_550_is_a_soft_bounce_and_three_on_distinct_editions_bounce(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    """Many policy rejections are a bare 550: it counts, but only N of them end an address."""
    make_project(store, 3)
    server.handler.rcpt["s2@example.org"] = always("550 Rejected by policy")
    server.handler.rcpt["s3@example.org"] = always("550 5.2.2 Mailbox full")
    fast = quick(settings, server.url)
    for day in range(2):
        report = send_day(store, fast, day)
        assert (report.sent, report.bounced, report.complete) == (1, 2, True)
        assert statuses(store)["s2@example.org"] == "active"
    s2 = store.find_subscriber("s2@example.org")
    assert store.soft_bounce_count(s2.id or 0) == 2
    again = send_day(store, fast, 1)  # a rerun of the same edition sends and counts nothing
    assert (again.sent, again.bounced, again.already_sent, again.remaining) == (0, 0, 1, 0)
    assert store.soft_bounce_count(s2.id or 0) == 2
    third = send_day(store, fast, 2)
    assert (third.sent, third.bounced) == (1, 2)
    assert statuses(store) == {
        "s1@example.org": "active",
        "s2@example.org": "bounced",
        "s3@example.org": "bounced",
    }
    edition = store.find_edition(store.get_list("daily"), DAY + timedelta(days=2))
    replies = {d.subscriber.email: d.last_reply for d in store.deliveries(edition or 0)}
    assert replies["s2@example.org"] == (
        "550 Rejected by policy (soft bounce 3 of 3; the subscriber is now bounced)"
    )
    # The fourth edition is not even queued for them.
    send_day(store, fast, 3)
    assert [r.rcpt for r in server.handler.seen][-1:] == ["s1@example.org"]
    assert server.handler.rcpt_attempts["s2@example.org"] == 3


def test_the_soft_bounce_limit_is_a_setting(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    make_project(store, 2)
    server.handler.rcpt["s2@example.org"] = always("550 Rejected by policy")
    report = send_day(store, quick(settings, server.url, soft_bounce_limit=1), 0)
    assert (report.sent, report.bounced) == (1, 1)
    assert statuses(store)["s2@example.org"] == "bounced"


def test_delivered_messages_are_byte_identical_to_the_dry_run(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """What --dry-run writes is exactly what the server receives (same clock, same bytes)."""
    from digest.sink import CaptureServer

    make_project(store, 3, sections={2: ("Sport",)})
    with CaptureServer(tmp_path / "received") as capture:
        fast = quick(settings, capture.url)
        dry = send(store, fast, clock=Clock.frozen(NOW), dry_run=True)
        assert dry.recipients == 3
        report = send(store, fast, clock=Clock.frozen(NOW))
        assert report.sent == 3
        received = {rcpt[0]: path.read_bytes() for _, rcpt, path in capture.handler.received}
    written = {
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["To"]
        .addresses[0]
        .addr_spec: p.read_bytes()
        for p in settings.outbox.glob("*.eml")
    }
    assert sorted(written) == sorted(received) == [f"s{i}@example.org" for i in (1, 2, 3)]
    for address, data in received.items():
        assert data == written[address], address
    assert received["s1@example.org"] != received["s2@example.org"]  # personalised
