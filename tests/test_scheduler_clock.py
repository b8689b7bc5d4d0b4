"""scheduler and dispatch on the test's clock: signals during a send, cron rounds with a
4xx, a DigestError in a slot, the catch-up boundary, and "which day" in the list's zone."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from digest import dispatch, pipeline
from digest.clock import Clock
from digest.config import Settings
from digest.models import Article, NewsList, Subscriber
from digest.sink import free_port
from digest.store import Store
from tests.conftest import BASE_URL, DAY, NOW, Cli, without_digest_env
from tests.faultsmtp import FaultServer, always
from tests.test_delivery import ledger, make_project

ROOT = Path(__file__).resolve().parents[1]


def test_a_signal_landing_on_another_thread_stops_the_scheduler_at_once(
    tmp_path: Path,
) -> None:
    """The kernel may deliver SIGTERM to any thread, e.g. the one sending. Without a
    wakeup fd the main loop would sleep in select() until --reload-every ran out."""
    script = textwrap.dedent(
        f"""
        import signal, sys, threading, time
        from datetime import timedelta
        from digest import pipeline
        from digest.config import load_settings
        from digest.scheduler import Scheduler

        settings = load_settings(env={{}}, overrides={{"db": {str(tmp_path / "s.db")!r}}})
        pipeline.init_project(settings)  # as `digest init` would; the scheduler never creates it
        scheduler = Scheduler(settings, reload_every=timedelta(hours=1))
        scheduler.install_signal_handlers()
        forced = []

        def worker():
            time.sleep(1.5)  # the scheduler is in its select() by now
            signal.pthread_kill(threading.get_ident(), signal.SIGTERM)  # to this thread
            time.sleep(15)
            forced.append(True)
            scheduler.request_stop()

        threading.Thread(target=worker, daemon=True).start()
        scheduler.run()
        print("forced" if forced else "stopped by the signal")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=without_digest_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "stopped by the signal"


def test_cron_round_with_a_frozen_now_and_a_4xx_ends_and_keeps_the_row(
    tmp_path: Path, db_path: Path
) -> None:
    """`schedule --run-due --now T` used to nap for ever once a message was deferred."""
    with Store.open(db_path) as store:
        make_project(store, 2)
    with FaultServer() as server:
        server.handler.rcpt["s1@example.org"] = always("451 4.7.1 greylisted")
        env = without_digest_env(
            DIGEST_DB=str(db_path),
            DIGEST_SMTP_URL=server.url,
            DIGEST_BASE_URL=BASE_URL,
            DIGEST_RETRY_WINDOW="2",
            DIGEST_RETRY_BASE="60",
        )
        result = subprocess.run(
            [sys.executable, "-m", "digest", "schedule", "--run-due", "--now", NOW.isoformat()],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert "sent 1" in result.stderr
    with Store.open(db_path) as store:
        assert ledger(store)["s1@example.org"][0] == "deferred"


def test_a_digest_error_in_a_slot_is_logged_and_the_round_goes_on(
    store: Store, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    make_project(store, 1)
    down = replace(settings, smtp_url=f"smtp://127.0.0.1:{free_port()}")
    caplog.set_level(logging.INFO, logger="digest.schedule")
    [run] = dispatch.run_due(store, down, clock=Clock.frozen(NOW), catch_up=timedelta(hours=6))
    assert run.report is None and "127.0.0.1" in run.error
    assert "daily/2026-11-27 [UTC]: failed:" in caplog.text
    assert {s for s, _, _ in ledger(store).values()} == {"queued"}  # kept for the next round


@pytest.mark.parametrize(
    ("late", "sent"),
    [(timedelta(hours=6), True), (timedelta(hours=6, seconds=1), False)],
    ids=["exactly-at-the-window", "a-second-past-it"],
)
def test_the_catch_up_window_includes_its_boundary(
    store: Store, settings: Settings, late: timedelta, sent: bool
) -> None:
    make_project(store, 1)
    with FaultServer() as server:
        cfg = replace(settings, smtp_url=server.url)
        runs = dispatch.run_due(
            store, cfg, clock=Clock.frozen(NOW + late), catch_up=timedelta(hours=6)
        )
        assert bool(runs) is sent
        assert len(server.handler.accepted) == int(sent)


def test_an_article_at_the_previous_due_moment_opens_the_window(store: Store) -> None:
    """[previous due, due): the start belongs to this edition, the end to the next."""
    news_list = store.add_list(NewsList(slug="daily", name="Daily"), now=NOW)
    for minutes, slug in [(0, "at-start"), (24 * 60, "at-due")]:
        store.upsert_article(
            Article(
                url=f"https://news.example.com/{slug}",
                title=slug,
                published_at=NOW - timedelta(days=1) + timedelta(minutes=minutes),
            ),
            now=NOW,
        )
    today = pipeline.load_edition(store, news_list, DAY)
    tomorrow = pipeline.load_edition(store, news_list, DAY + timedelta(days=1))
    assert [a.title for s in today.sections for a in s.articles] == ["at-start"]
    assert [a.title for s in tomorrow.sections for a in s.articles] == ["at-due"]


def test_which_day_defaults_to_today_in_the_lists_own_zone(run: Cli, db_path: Path) -> None:
    """At 11:00 UTC it is already tomorrow in Kiritimati (UTC+14)."""
    with Store.open(db_path) as store:
        news_list = store.add_list(
            NewsList(
                slug="daily",
                name="Line Islands",
                from_addr="news@example.com",
                timezone="Pacific/Kiritimati",
                send_at=time(7, 0),
            ),
            now=NOW,
        )
        store.upsert_subscriber(Subscriber(email="a@example.org"), lists=[(news_list, ())], now=NOW)
        store.upsert_article(
            Article(
                url="https://news.example.com/1",
                title="Story",
                published_at=datetime(2026, 11, 27, 10, tzinfo=UTC),
            ),
            now=NOW,
        )
    run.now = datetime(2026, 11, 27, 11, 0, tzinfo=UTC)
    preview = run("preview", "--out", "preview")
    assert preview.stderr.startswith("daily/2026-11-28: 1 article in")
    sent = run("send", "--dry-run", "--json")
    assert '"edition": "daily/2026-11-28"' in sent.stdout
