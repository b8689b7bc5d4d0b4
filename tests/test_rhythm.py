"""A list's rhythm from the command line: `--days`, the refusal on other days, the
scheduler's one-shot round (`schedule --run-due`) following it."""

from __future__ import annotations

import json

from digest.config import Settings
from digest.sink import CaptureServer
from digest.store import Store
from tests.conftest import NOW, Cli, article, received_messages

# Friday 27 November 2026, Saturday and Sunday: all in the Monday edition of a mon,thu list.
WEEKEND = [
    article(
        url="https://news.example.com/fri",
        title="Friday story",
        published_at="2026-11-27T09:00:00+00:00",
    ),
    article(
        url="https://news.example.com/sun",
        title="Sunday story",
        published_at="2026-11-29T18:00:00+00:00",
    ),
    article(
        url="https://news.example.com/thu",
        title="Thursday story",
        published_at="2026-11-26T06:00:00+00:00",
    ),
]


def setup(run: Cli, smtp_server: CaptureServer) -> None:
    created = run("lists", "add", "twice", "--name", "Twice", "--days", "mon,thu")
    assert "sent at 07:00 UTC on mon,thu" in created.stderr
    run("lists", "add", "daily", "--name", "Daily")
    for slug in ("twice", "daily"):
        run("subscribers", "add", f"{slug}@example.com", "--list", slug)
    run("articles", "import", str(run.write("a.json", WEEKEND)))
    run.env["DIGEST_SMTP_URL"] = smtp_server.url


def test_run_due_sends_a_monday_edition_holding_the_days_since_thursday(
    run: Cli, smtp_server: CaptureServer
) -> None:
    setup(run, smtp_server)
    # Friday and Sunday mornings: the daily list goes out, the Monday/Thursday list does not.
    rounds = []
    for moment in ("2026-11-27T07:30:00Z", "2026-11-29T07:30:00Z"):
        result = run("schedule", "--run-due", "--now", moment)
        assert "daily/" in result.stderr
        assert not [
            line for line in result.stderr.splitlines() if "twice/" in line and "sent" in line
        ]
        rounds.append(result.stderr)
    assert "twice/2026-11-26 [UTC]: skipped" in rounds[0]  # Thursday's, missed: said so,
    assert "twice/" not in rounds[1]  # once
    monday = run("schedule", "--run-due", "--now", "2026-11-30T07:30:00Z")
    assert "twice/2026-11-30 [UTC]: 2 articles, 1 recipient; sent 1" in monday.stderr
    assert "daily/2026-11-30 [UTC]: 1 article," in monday.stderr  # one day: Sunday's only
    [mail] = [m for m in received_messages(smtp_server) if str(m["To"]) == "twice@example.com"]
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Friday story" in text and "Sunday story" in text
    assert "Thursday story" not in text  # before Thursday's 07:00: Thursday's edition


def test_send_on_a_day_the_list_does_not_send_is_one_line(
    run: Cli, smtp_server: CaptureServer
) -> None:
    setup(run, smtp_server)
    for args in (["--date", "2026-11-27"], ["--dry-run", "--date", "2026-11-28"], []):
        result = run("send", "--list", "twice", *args, ok=False)  # `[]`: today, a Friday
        assert result.exit_code == 1, result.stderr
        assert result.stderr.splitlines()[0].startswith("Error: list 'twice' does not send on a")
        assert "it sends on mon,thu" in result.stderr and "Traceback" not in result.output
    assert received_messages(smtp_server) == []
    assert "sent 1" in run("send", "--list", "twice", "--date", "2026-11-30").stderr


def test_days_are_shown_edited_and_checked(run: Cli) -> None:
    run("lists", "add", "weekly", "--name", "Weekly", "--days", "mon")
    assert json.loads(run("lists", "show", "weekly", "--json").stdout)["days"] == "mon"
    run("lists", "edit", "weekly", "--days", "thu,mon")
    [shown] = json.loads(run("lists", "list", "--json").stdout)
    assert shown["days"] == "mon,thu"
    run("lists", "edit", "weekly", "--days", "daily")
    assert "mon,tue,wed,thu,fri,sat,sun" in run("lists", "show", "weekly").stdout
    bad = run("lists", "edit", "weekly", "--days", "lundi", ok=False)
    assert bad.exit_code == 1
    assert bad.stderr.splitlines() == [
        "Error: --days: 'lundi' is not a weekday",
        "Hint: use mon,tue,wed,thu,fri,sat,sun, e.g. --days mon,thu (or --days daily)",
    ]


def test_the_preview_offers_the_next_editions_on_the_lists_days(store: Store) -> None:
    from datetime import date

    from digest import proof
    from digest.models import NewsList

    weekly = store.add_list(NewsList(slug="w", name="W", days=(0, 3)), now=NOW)
    friday = date(2026, 11, 27)
    assert proof.edition_days(store, weekly, friday) == [date(2026, 12, 3), date(2026, 11, 30)]
    daily = store.add_list(NewsList(slug="d", name="D"), now=NOW)
    assert proof.edition_days(store, daily, friday) == [date(2026, 11, 28), friday]


def test_a_running_scheduler_follows_a_change_of_days(store: Store, settings: Settings) -> None:
    from dataclasses import replace
    from datetime import UTC, datetime

    from digest.models import NewsList, Subscriber
    from digest.scheduler import Scheduler, job_id
    from tests.conftest import ManualClock

    daily = store.add_list(NewsList(slug="daily", name="Daily"), now=NOW)
    store.upsert_subscriber(Subscriber(email="a@example.com"), lists=[(daily, ())], now=NOW)
    friday = datetime(2026, 11, 27, 8, tzinfo=UTC)
    scheduler = Scheduler(settings, clock=ManualClock(friday).clock)
    scheduler.aps.start(paused=True)
    try:
        scheduler.sync()
        job = scheduler.aps.get_job(job_id("daily", "UTC"))
        assert job.trigger.get_next_fire_time(None, friday) == datetime(2026, 11, 28, 7, tzinfo=UTC)
        store.update_list(replace(store.get_list("daily"), days=(0, 3)))
        assert scheduler.sync()["changed"] == [job_id("daily", "UTC")]
        job = scheduler.aps.get_job(job_id("daily", "UTC"))
        monday = datetime(2026, 11, 30, 7, tzinfo=UTC)
        assert job.trigger.get_next_fire_time(None, friday) == monday
    finally:
        scheduler.aps.shutdown(wait=False)
