"""`digest schedule`: due runs with an injected clock, real SQLite, a real SMTP server."""

from __future__ import annotations

import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time as walltime
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from digest import dispatch, pipeline
from digest.clock import Clock
from digest.config import Settings
from digest.models import Article, NewsList, Subscriber
from digest.scheduler import Scheduler, job_id
from digest.sink import CaptureServer
from digest.store import Store
from tests.conftest import Cli, received_messages
from tests.faultsmtp import FaultServer, always
from tests.test_feed import Site, rss
from tests.test_feed import site as site  # noqa: F401 (a fixture, used by name)

DAY = date(2026, 11, 27)
SIX_HOURS = timedelta(hours=6)


def at(*args: int) -> Clock:
    """A wall clock standing still at that UTC moment (elapsed time and sleep are real)."""
    return Clock.frozen(utc(*args))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def make_list(
    store: Store,
    *,
    slug: str = "daily",
    send_at: time = time(7, 0),
    tz: str = "UTC",
    people: dict[str, str] | None = None,
) -> NewsList:
    """A list with subscribers {email: time zone ('' = the list's)}."""
    news_list = store.add_list(
        NewsList(
            slug=slug, name=slug.title(), from_addr="news@example.com", send_at=send_at, timezone=tz
        ),
        now=utc(2026, 1, 1),
    )
    for address, zone in (people or {"a@example.com": "", "b@example.com": ""}).items():
        store.upsert_subscriber(
            Subscriber(email=address, timezone=zone), lists=[(news_list, ())], now=utc(2026, 1, 1)
        )
    return news_list


def add_article(store: Store, url: str, published: datetime, title: str = "Headline") -> None:
    store.upsert_article(
        Article(url=url, title=title, published_at=published, section="News"),
        now=published,
    )


def smtp_settings(settings: Settings, server: CaptureServer) -> Settings:
    return replace(settings, smtp_url=server.url)


def recipients_of(server: CaptureServer) -> list[str]:
    return [to for _, tos, _ in server.handler.received for to in tos]


def test_catch_up_inside_the_window_sends_once(
    store: Store, settings: Settings, smtp_server: CaptureServer
) -> None:
    make_list(store)
    add_article(store, "https://news.example.com/1", utc(2026, 11, 27, 5))
    cfg = smtp_settings(settings, smtp_server)
    runs = dispatch.run_due(store, cfg, clock=at(2026, 11, 27, 12, 59), catch_up=SIX_HOURS)
    assert [r.report.sent for r in runs if r.report] == [2]
    assert sorted(recipients_of(smtp_server)) == ["a@example.com", "b@example.com"]
    # Started again (a restart, or cron five minutes later): the ledger says it is done.
    again = dispatch.run_due(store, cfg, clock=at(2026, 11, 27, 13, 0), catch_up=SIX_HOURS)
    assert again == []
    assert len(smtp_server.handler.received) == 2


def test_catch_up_outside_the_window_skips_with_a_log_line(
    store: Store, settings: Settings, smtp_server: CaptureServer, caplog: pytest.LogCaptureFixture
) -> None:
    make_list(store)
    add_article(store, "https://news.example.com/1", utc(2026, 11, 27, 5))
    caplog.set_level(logging.INFO, logger="digest.schedule")
    runs = dispatch.run_due(
        store,
        smtp_settings(settings, smtp_server),
        clock=at(2026, 11, 27, 13, 1),
        catch_up=SIX_HOURS,
    )
    assert runs == []
    assert smtp_server.handler.received == []
    assert "daily/2026-11-27 [UTC]: skipped" in caplog.text
    assert "missed by 6.0 h, more than the 6.0 h catch-up window" in caplog.text
    # Cron runs every few minutes until the next slot: the warning was said once.
    caplog.clear()
    for minutes in (5, 10):
        later = at(2026, 11, 27, 13, 1 + minutes)
        assert dispatch.run_due(store, smtp_settings(settings, smtp_server), clock=later,
                                catch_up=SIX_HOURS) == []  # fmt: skip
    assert "skipped" not in caplog.text
    # A zone of its own is a slot of its own, with its own warning.
    store.upsert_subscriber(
        Subscriber(email="tokyo@example.com", timezone="Asia/Tokyo"),
        lists=[(store.get_list("daily"), ())],
        now=utc(2026, 11, 27, 13),
    )
    dispatch.run_due(store, smtp_settings(settings, smtp_server),
                     clock=at(2026, 11, 28, 5), catch_up=SIX_HOURS)  # fmt: skip
    assert "daily/2026-11-28 [Asia/Tokyo]: skipped" in caplog.text


def test_an_edition_without_articles_sends_nothing(
    store: Store, settings: Settings, smtp_server: CaptureServer, caplog: pytest.LogCaptureFixture
) -> None:
    make_list(store)
    caplog.set_level(logging.INFO, logger="digest.schedule")
    assert (
        dispatch.run_due(
            store,
            smtp_settings(settings, smtp_server),
            clock=at(2026, 11, 27, 7),
            catch_up=SIX_HOURS,
        )
        == []
    )
    assert smtp_server.handler.received == []
    assert "skipped" not in caplog.text


def test_restart_in_the_middle_of_a_send_sends_nobody_twice(
    store: Store, settings: Settings, smtp_server: CaptureServer
) -> None:
    people = {f"p{i}@example.com": "" for i in range(5)}
    make_list(store, people=people)
    add_article(store, "https://news.example.com/1", utc(2026, 11, 27, 5))
    cfg = smtp_settings(settings, smtp_server)
    # SIGTERM arrives while the third message is in flight: it is finished and recorded.
    first = dispatch.run_due(
        store,
        cfg,
        clock=at(2026, 11, 27, 7),
        catch_up=SIX_HOURS,
        stop=lambda: len(smtp_server.handler.received) >= 3,
    )
    assert first[0].report is not None and first[0].report.sent == 3
    assert "stopped before the end" in " ".join(first[0].report.notes)
    # The next start, ten minutes later, sends the rest.
    second = dispatch.run_due(store, cfg, clock=at(2026, 11, 27, 7, 10), catch_up=SIX_HOURS)
    assert second[0].report is not None
    assert (second[0].report.sent, second[0].report.already_sent) == (2, 3)
    assert sorted(recipients_of(smtp_server)) == sorted(people)


def test_each_zone_gets_the_edition_at_its_own_send_time(
    store: Store, settings: Settings, smtp_server: CaptureServer
) -> None:
    make_list(
        store,
        tz="Europe/Paris",
        people={"paris@example.com": "", "ny@example.com": "America/New_York"},
    )
    add_article(store, "https://news.example.com/early", utc(2026, 11, 27, 4), "Early news")
    add_article(store, "https://news.example.com/late", utc(2026, 11, 27, 9), "Later news")
    cfg = smtp_settings(settings, smtp_server)
    # 07:00 in Paris: only the Paris subscriber.
    dispatch.run_due(store, cfg, clock=at(2026, 11, 27, 6), catch_up=SIX_HOURS)
    assert recipients_of(smtp_server) == ["paris@example.com"]
    # 07:00 in New York (12:00 UTC): the New York subscriber, with the news until then.
    dispatch.run_due(store, cfg, clock=at(2026, 11, 27, 12), catch_up=SIX_HOURS)
    assert recipients_of(smtp_server) == ["paris@example.com", "ny@example.com"]
    paris, ny = received_messages(smtp_server)
    paris_text = paris.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    ny_text = ny.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Early news" in paris_text and "Later news" not in paris_text
    assert "Later news" in ny_text


def test_dst_days_send_once(store: Store, settings: Settings, smtp_server: CaptureServer) -> None:
    make_list(store, send_at=time(2, 30), tz="Europe/Paris", people={"a@example.com": ""})
    cfg = smtp_settings(settings, smtp_server)
    # Spring: 02:30 does not exist on 2026-03-29; it is sent at 03:30 CEST (01:30 UTC).
    add_article(store, "https://news.example.com/spring", utc(2026, 3, 29, 0))
    assert dispatch.run_due(store, cfg, clock=at(2026, 3, 29, 1, 29), catch_up=SIX_HOURS) == []
    assert len(dispatch.run_due(store, cfg, clock=at(2026, 3, 29, 1, 30), catch_up=SIX_HOURS)) == 1
    # Autumn: 02:30 happens twice on 2026-10-25; sent at the first, not again at the second.
    add_article(store, "https://news.example.com/autumn", utc(2026, 10, 24, 23))
    sent = dispatch.run_due(store, cfg, clock=at(2026, 10, 25, 0, 30), catch_up=SIX_HOURS)
    assert [r.slot.day for r in sent] == [date(2026, 10, 25)]
    assert dispatch.run_due(store, cfg, clock=at(2026, 10, 25, 1, 30), catch_up=SIX_HOURS) == []
    assert len(smtp_server.handler.received) == 2


def test_scheduler_jobs_follow_the_database_on_reload(store: Store, settings: Settings) -> None:
    make_list(store, people={"a@example.com": "", "t@example.com": "Asia/Tokyo"})
    scheduler = Scheduler(settings, clock=at(2026, 11, 27, 8))
    scheduler.aps.start(paused=True)
    try:
        assert scheduler.sync()["added"] == [job_id("daily", "Asia/Tokyo"), job_id("daily", "UTC")]
        tokyo = scheduler.aps.get_job(job_id("daily", "Asia/Tokyo"))
        assert tokyo.trigger.get_next_fire_time(None, utc(2026, 11, 27, 8)) == utc(2026, 11, 27, 22)
        # Nothing changed: nothing is re-added (re-adding would drop a due run).
        assert scheduler.sync() == {"added": [], "changed": [], "removed": []}
        # A list added and a send time changed while running: picked up by a reload.
        make_list(store, slug="weekly", people={"w@example.com": ""})
        daily = store.get_list("daily")
        store.update_list(replace(daily, send_at=time(9, 15)))
        changes = scheduler.sync(catch_up_changes=True)
        assert changes["added"] == [job_id("weekly", "UTC")]
        # Each added or changed job is also run once now, for a catch-up within the window.
        queued = {j.id for j in scheduler.aps.get_jobs() if j.id.startswith("catch-up:")}
        assert queued == {"catch-up:" + jid for jid in changes["added"] + changes["changed"]}
        assert sorted(changes["changed"]) == [job_id("daily", "Asia/Tokyo"), job_id("daily", "UTC")]
        utc_job = scheduler.aps.get_job(job_id("daily", "UTC"))
        assert utc_job.trigger.get_next_fire_time(None, utc(2026, 11, 27, 8)) == utc(
            2026, 11, 27, 9, 15
        )
        # The last Tokyo subscriber leaves: that zone's job goes.
        store.remove_subscriber("t@example.com", now=utc(2026, 1, 1))
        assert scheduler.sync()["removed"] == [job_id("daily", "Asia/Tokyo")]
    finally:
        scheduler.aps.shutdown(wait=False)


def test_a_scheduler_job_sends_its_zone_at_the_injected_time(
    store: Store, settings: Settings, smtp_server: CaptureServer
) -> None:
    make_list(store, people={"a@example.com": "", "t@example.com": "Asia/Tokyo"})
    add_article(store, "https://news.example.com/1", utc(2026, 11, 26, 20))
    scheduler = Scheduler(smtp_settings(settings, smtp_server), clock=at(2026, 11, 26, 22))
    scheduler.aps.start(paused=True)
    try:
        scheduler.sync()
        job = scheduler.aps.get_job(job_id("daily", "Asia/Tokyo"))
        job.func(*job.args)  # what APScheduler calls when the job fires
    finally:
        scheduler.aps.shutdown(wait=False)
    assert recipients_of(smtp_server) == ["t@example.com"]


def test_cli_run_due_with_now(run: Cli, smtp_server: CaptureServer) -> None:
    run("lists", "add", "daily", "--name", "Daily", "--from-addr", "news@example.com")
    run("subscribers", "add", "a@example.com", "--list", "daily")
    run(
        "articles",
        "import",
        str(
            run.write(
                "a.json",
                [
                    {
                        "url": "https://news.example.com/1",
                        "title": "T",
                        "section": "News",
                        "published_at": "2026-11-27T05:00:00+00:00",
                    }
                ],
            )
        ),
    )
    run.env["DIGEST_SMTP_URL"] = smtp_server.url
    result = run("schedule", "--run-due", "--now", "2026-11-27T08:00:00+01:00")
    assert "daily/2026-11-27 [UTC]: 1 article, 1 recipient; sent 1" in result.stderr
    assert recipients_of(smtp_server) == ["a@example.com"]
    result = run("schedule", "--run-due", "--now", "2026-11-27T07:30:00Z")
    assert "sent" not in result.stderr
    assert run("schedule", "--now", "2026-11-27T07:30:00Z", ok=False).exit_code == 2
    bad = run("schedule", "--run-due", "--now", "tomorrow", ok=False)
    assert bad.exit_code == 2 and "'tomorrow' is not an ISO-8601 moment" in bad.stderr


class LineReader:
    """Collects a process's stderr on a thread (select() on a buffered pipe can miss lines)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen = ""
        assert proc.stderr is not None
        stream = proc.stderr
        threading.Thread(target=lambda: [self.lines.put(x) for x in stream], daemon=True).start()

    def until(self, needle: str, timeout: float = 20) -> str:
        deadline = walltime.monotonic() + timeout
        while needle not in self.seen:
            left = deadline - walltime.monotonic()
            assert left > 0, f"no {needle!r} in:\n{self.seen}"
            try:
                self.seen += self.lines.get(timeout=left)
            except queue.Empty:
                continue
        return self.seen


def test_foreground_scheduler_reloads_on_sighup_and_stops_on_sigterm(
    tmp_path: Path, settings: Settings
) -> None:
    with Store.open(settings.db) as store:
        make_list(store)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["DIGEST_DB"] = str(settings.db)
    env["DIGEST_BASE_URL"] = settings.base_url
    proc = subprocess.Popen(
        [sys.executable, "-m", "digest", "schedule", "--reload-every", "1h"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    reader = LineReader(proc)
    try:
        reader.until("ready")
        with Store.open(settings.db) as store:
            make_list(store, slug="weekly", people={"w@example.com": "Asia/Tokyo"})
        proc.send_signal(signal.SIGHUP)
        log = reader.until("added send:weekly:Asia/Tokyo, send:weekly:UTC")
        assert "SIGHUP: reloading lists" in log
        proc.send_signal(signal.SIGTERM)
        log = reader.until("stopped")
        assert "SIGTERM: finishing the message in flight" in log
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = walltime.monotonic() + 10
    while not condition():
        assert walltime.monotonic() < deadline, what
        walltime.sleep(0.01)


def test_run_catches_up_on_start_reloads_periodically_then_stops_cleanly(
    store: Store, settings: Settings, smtp_server: CaptureServer
) -> None:
    make_list(store)
    add_article(store, "https://news.example.com/1", utc(2026, 11, 27, 5))
    scheduler = Scheduler(
        smtp_settings(settings, smtp_server),
        clock=at(2026, 11, 27, 9),  # two hours after the 07:00 slot
        reload_every=timedelta(milliseconds=20),
    )
    thread = threading.Thread(target=scheduler.run)
    thread.start()
    try:
        wait_for(lambda: len(smtp_server.handler.received) == 2, "no catch-up on start")
        make_list(store, slug="weekly", people={"w@example.com": "Europe/Paris"})
        wait_for(
            lambda: scheduler.aps.get_job(job_id("weekly", "Europe/Paris")) is not None,
            "the periodic reload did not pick up the new list",
        )
        # Caught up at once too: 09:00 UTC is three hours after 07:00 in Paris.
        wait_for(lambda: len(smtp_server.handler.received) == 3, "no catch-up on reload")
    finally:
        scheduler.request_stop()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert sorted(recipients_of(smtp_server)) == ["a@example.com", "b@example.com", "w@example.com"]


def test_deferred_messages_get_later_attempts_on_reload_until_done(
    store: Store, settings: Settings
) -> None:
    make_list(store)
    add_article(store, "https://news.example.com/1", utc(2026, 11, 27, 5))
    with FaultServer() as server:
        server.handler.rcpt["b@example.com"] = always("451 4.7.1 Greylisted, try later")
        cfg = replace(
            settings, smtp_url=server.url, retry_base=60.0, retry_max=60.0, retry_window=0.0
        )
        [first] = dispatch.run_due(store, cfg, clock=at(2026, 11, 27, 7, 0), catch_up=SIX_HOURS)
        assert first.report is not None
        assert (first.report.sent, first.report.deferred) == (1, 1)
        # A list that is due but never began is the catch-up's business, not retry's.
        make_list(store, slug="weekly", people={"c@example.com": ""})
        # Its retry time (07:01) has not come: a reload at 07:00:30 leaves it alone.
        assert dispatch.retry_started(store, cfg, clock=at(2026, 11, 27, 7, 0, 30)) == []
        del server.handler.rcpt["b@example.com"]
        [retry] = dispatch.retry_started(store, cfg, clock=at(2026, 11, 27, 7, 5))
        assert retry.report is not None and (retry.report.sent, retry.report.complete) == (1, True)
        assert dispatch.retry_started(store, cfg, clock=at(2026, 11, 27, 7, 10)) == []
        assert sorted(r.rcpt for r in server.handler.accepted) == ["a@example.com", "b@example.com"]


def test_feeds_are_fetched_right_before_a_first_send(
    store: Store, settings: Settings, smtp_server: CaptureServer, site: Site
) -> None:
    make_list(store)
    site.pages["/feed.xml"] = (200, rss(("crue", "Crue du Chari")))
    pipeline.add_feed(store, site.url + "/feed.xml", list_slug="daily", now=utc(2026, 11, 27))
    [run] = dispatch.run_due(
        store,
        smtp_settings(settings, smtp_server),
        clock=at(2026, 11, 27, 7, 1),
        catch_up=SIX_HOURS,
    )
    assert run.report is not None and run.report.sent == 2
    [message, _] = received_messages(smtp_server)
    assert "Crue du Chari" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    fetched = len(site.requests)
    dispatch.run_due(store, settings, clock=at(2026, 11, 27, 7, 6), catch_up=SIX_HOURS)
    assert len(site.requests) == fetched  # a started edition does not refetch
