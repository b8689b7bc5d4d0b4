"""Events out: the outbox written with each state change, and its signed, ordered posts.

Real parts: a real HTTP server (http.server, threads) on a loopback port checks every
post's signature with the verifier printed in README.md, byte for byte; it is stopped
(its port closed) and started again on the same port. Time is a ManualClock.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from digest import notifier, pipeline
from digest.config import Settings
from digest.models import NewsList, Signup, Subscriber
from digest.sink import CaptureServer, free_port
from digest.store import Store
from tests.conftest import NOW, Cli, ManualClock, serving
from tests.faultsmtp import FaultServer, always
from tests.test_bounces import arf_report, bare_dsn, newsroom, verp_newsroom, verp_senders
from tests.test_delivery import make_project, quick, server
from tests.test_delivery import send as send_edition
from tests.test_webhooks import (
    POSTMARK_AUTH,
    post_json,
    postmark_bounce,
    sent,
    webhook_app,
    with_credentials,
)

__all__ = ["newsroom", "sent", "server", "verp_newsroom"]  # fixtures from those files

SECRET = "whsec_test_0123456789abcdef"
README = Path(__file__).resolve().parents[1] / "README.md"


def readme_verifier() -> Callable[..., bool]:
    """The receiver's check exactly as README.md prints it."""
    found = re.search(r"```python\n(# verify a digest event.*?)```", README.read_text(), re.S)
    assert found, "README.md lost its verifier"
    scope: dict[str, Any] = {}
    exec(found.group(1), scope)  # noqa: S102 - our own README's example
    verify: Callable[..., bool] = scope["verify"]
    return verify


class Receiver:
    """A real HTTP receiver on one loopback port: it verifies each post's signature (the
    README's verifier, at the test clock's time) and answers `answers` in turn, then 204.
    `stop()` closes the port; `start()` opens it again."""

    def __init__(self, clock: ManualClock, secret: str = SECRET) -> None:
        self.port = free_port()
        self.clock = clock
        self.secret = secret
        self.verify = readme_verifier()
        self.events: list[dict[str, Any]] = []  # accepted (2xx) posts, in arrival order
        self.posts = 0
        self.refused = 0  # bad signatures
        self.answers: list[int] = []
        self.headers: list[dict[str, str]] = []
        self.on_post: Callable[[], None] = lambda: None  # runs while a post waits
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/digest"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts += 1
                receiver.on_post()
                ok = receiver.verify(
                    receiver.secret,
                    self.headers.get("Digest-Signature", ""),
                    body,
                    now=receiver.clock.now().timestamp(),
                )
                code = (receiver.answers.pop(0) if receiver.answers else 204) if ok else 401
                if not ok:
                    receiver.refused += 1
                elif 200 <= code < 300:
                    receiver.events.append(json.loads(body))
                    receiver.headers.append(dict(self.headers))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def receiver(clock: ManualClock) -> Iterator[Receiver]:
    found = Receiver(clock)
    yield found
    found.stop()


@pytest.fixture
def hooked(settings: Settings, receiver: Receiver) -> Settings:
    settings = replace(settings, webhook_url=receiver.url, webhook_secret=SECRET)
    pipeline.init_project(settings)
    return settings


def outbox(db: Path) -> list[dict[str, Any]]:
    """Every event row, oldest first, with its payload."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT status, body FROM webhook_events ORDER BY id").fetchall()
    return [{"status": status, **json.loads(body)} for status, body in rows]


def kinds(db: Path) -> list[tuple[str, str | None, str]]:
    return [(e["type"], e["list"], e.get("via", "")) for e in outbox(db)]


# -- the outbox: one event per change, in the change's transaction --------------------------


def cli_changes(run: Cli) -> None:
    run("lists", "add", "daily", "--name", "Daily")
    run("lists", "add", "weekly", "--name", "Weekly")
    run("subscribers", "add", "amina@example.com", "--list", "daily", "--list", "weekly")
    run("subscribers", "add", "amina@example.com", "--list", "daily")  # nothing new
    run("subscribers", "unsubscribe", "amina@example.com", "--list", "daily")
    run("subscribers", "unsubscribe", "amina@example.com")
    run("subscribers", "resubscribe", "amina@example.com", "--list", "weekly")
    run("subscribers", "remove", "amina@example.com")
    run.write("people.csv", "email,lists,status\nbob@example.com,daily,\njo@example.com,daily,\n")
    run("subscribers", "import", "people.csv")
    run.write("people.csv", "email,lists,status\njo@example.com,daily,unsubscribed\n")
    run("subscribers", "import", "people.csv")


def test_without_a_webhook_url_no_event_is_written(run: Cli) -> None:
    cli_changes(run)
    assert outbox(run.db_path) == []


def test_each_command_line_change_writes_its_one_event(run: Cli) -> None:
    run.env["DIGEST_WEBHOOK_URL"] = "http://127.0.0.1:9/never-posted-here"
    cli_changes(run)
    assert kinds(run.db_path) == [
        ("subscribe", "daily", "admin"),
        ("subscribe", "weekly", "admin"),
        ("unsubscribe", "daily", "cli"),
        ("unsubscribe", None, "cli"),  # from everything: the address as a whole
        ("subscribe", "weekly", "cli"),
        ("unsubscribe", None, "removed"),
        ("subscribe", "daily", "import"),
        ("subscribe", "daily", "import"),
        ("unsubscribe", None, "import"),
    ]
    events = outbox(run.db_path)
    assert {e["status"] for e in events} == {"pending"}
    assert len({e["id"] for e in events}) == len(events)
    first = events[0]
    assert first["email"] == "amina@example.com" and first["occurred_at"] == NOW.isoformat()
    assert events[3]["lists"] == ["daily", "weekly"]
    assert [e["email"] for e in events[6:]] == [
        "bob@example.com",
        "jo@example.com",
        "jo@example.com",
    ]


def test_a_confirmed_signup_writes_a_confirm_event(hooked: Settings) -> None:
    with Store.open(hooked.db, events=True) as store:
        daily = store.add_list(NewsList(slug="daily", name="Daily"), now=NOW)
        assert daily.id is not None
        signup = store.add_signup(
            Signup(
                list_id=daily.id,
                email="amina@example.com",
                created_at=NOW,
                form="f",
                form_version="1",
            )
        )
        assert signup.id is not None
        assert outbox(hooked.db) == []  # unconfirmed: the address may be anyone's
        store.confirm_signup(signup.id, now=NOW + timedelta(minutes=5))
        store.confirm_signup(signup.id, now=NOW + timedelta(minutes=6))  # a second click
    (event,) = outbox(hooked.db)
    assert (event["type"], event["list"], event["email"]) == (
        "confirm",
        "daily",
        "amina@example.com",
    )
    assert event["signup_id"] == signup.id
    assert event["occurred_at"] == (NOW + timedelta(minutes=5)).isoformat()


def test_bounces_and_complaints_write_events(
    verp_newsroom: Cli, smtp_server: CaptureServer
) -> None:
    run = verp_newsroom
    run.env["DIGEST_WEBHOOK_URL"] = "http://127.0.0.1:9/never-posted-here"
    run.env["DIGEST_SOFT_BOUNCE_LIMIT"] = "2"
    senders = verp_senders(smtp_server)
    run.write("hard.eml", bare_dsn(senders["amina@example.com"], "5.1.1"))
    run("bounces", "import", str(run.tmp_path / "hard.eml"))
    run.write("soft.eml", bare_dsn(senders["john@example.org"], "5.7.1"))
    run("bounces", "import", str(run.tmp_path / "soft.eml"))
    assert [e["type"] for e in outbox(run.db_path)] == ["bounce"]  # 1 soft bounce of 2
    with Store.open(run.db_path, events=True) as store:  # the second soft bounce, by SMTP
        john = store.subscriber_id_by_email("john@example.org")
        assert john is not None
        store.add_list(NewsList(slug="other", name="Other"), now=NOW)
        edition = store.db.conn.execute(
            "INSERT INTO editions (list_id, date, due_at, subject, article_count, created_at)"
            " VALUES (2, '2026-11-28', ?, 's', 1, ?)",
            [NOW.isoformat(), NOW.isoformat()],
        ).lastrowid
        assert edition is not None
        later = NOW + timedelta(hours=3)
        store.record_soft_bounce(john, edition, reply="550 no", now=later, limit=2, via="smtp")
    run.write("arf.eml", arf_report(senders["john@example.org"]))
    run("bounces", "import", str(run.tmp_path / "arf.eml"))
    run("bounces", "import", str(run.tmp_path / "arf.eml"))  # the same report again
    hard, soft, complaint = outbox(run.db_path)
    assert (hard["type"], hard["bounce"], hard["via"], hard["email"]) == (
        "bounce",
        "hard",
        "dsn",
        "amina@example.com",
    )
    assert hard["list"] is None and hard["lists"] == ["daily"] and hard["edition_id"] == 1
    assert (soft["type"], soft["bounce"], soft["soft_bounces"], soft["via"]) == (
        "bounce",
        "soft",
        2,
        "smtp",
    )
    assert (complaint["type"], complaint["email"]) == ("complaint", "john@example.org")


# -- kill-safety: a change and its event are one transaction ----------------------------------


def fail_on(db: Path, sql: str) -> None:
    """A trigger that makes one write fail, as a full disk or a crash between two
    statements would: SQLite rolls the transaction back."""
    with sqlite3.connect(db) as conn:
        conn.execute(sql)


def test_a_change_that_fails_after_its_event_was_written_leaves_no_event(run: Cli) -> None:
    run.env["DIGEST_WEBHOOK_URL"] = "http://127.0.0.1:9/never-posted-here"
    run("lists", "add", "daily", "--name", "Daily")
    run("subscribers", "add", "amina@example.com", "--list", "daily")
    # `unsubscribe` from everything writes its event, then stamps updated_at: fail there.
    fail_on(
        run.db_path,
        "CREATE TRIGGER boom AFTER UPDATE OF updated_at ON subscribers"
        " WHEN OLD.status = 'unsubscribed' BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END",
    )
    with pytest.raises(sqlite3.IntegrityError, match="disk I/O error"):
        run("subscribers", "unsubscribe", "amina@example.com")
    assert kinds(run.db_path) == [("subscribe", "daily", "admin")]  # no unsubscribe event
    with Store.open(run.db_path) as store:
        assert store.get_subscriber("amina@example.com").status == "active"


def test_an_event_that_cannot_be_written_undoes_its_change(hooked: Settings) -> None:
    with Store.open(hooked.db, events=True) as store:
        daily = store.add_list(NewsList(slug="daily", name="Daily"), now=NOW)
        amina, _ = store.upsert_subscriber(
            Subscriber(email="amina@example.com"), lists=[(daily, ())], now=NOW
        )
    fail_on(
        hooked.db,
        "CREATE TRIGGER boom BEFORE INSERT ON webhook_events"
        " BEGIN SELECT RAISE(ABORT, 'disk full'); END",
    )
    with Store.open(hooked.db, events=True) as store:
        assert amina.id is not None and daily.id is not None
        with pytest.raises(sqlite3.IntegrityError):
            store.set_subscription_status(
                amina.id, daily.id, "unsubscribed", now=NOW, via="one-click"
            )
        with pytest.raises(sqlite3.IntegrityError):
            store.mark_subscriber_bounced(amina.id, now=NOW)
        assert [r.subscriber.email for r in store.recipients(daily)] == ["amina@example.com"]
        assert store.get_subscriber("amina@example.com").status == "active"


# -- delivery: signed, in order, retried while the receiver is down ----------------------------


def three_events(settings: Settings) -> None:
    with Store.open(settings.db, events=True) as store:
        daily = store.add_list(NewsList(slug="daily", name="Daily"), now=NOW)
        for name in ("amina", "bob", "chen"):
            store.upsert_subscriber(
                Subscriber(email=f"{name}@example.com"), lists=[(daily, ())], now=NOW
            )


def send(settings: Settings, clock: ManualClock) -> notifier.SendReport:
    with Store.open(settings.db, events=True) as store:
        return notifier.send_events(store, settings, clock=clock.clock)


def test_events_arrive_signed_once_and_in_order_after_the_receiver_was_down(
    hooked: Settings, receiver: Receiver, clock: ManualClock
) -> None:
    three_events(hooked)
    # Down: its port is closed. The oldest event waits for its retry; the others behind it.
    first = send(hooked, clock)
    assert (first.delivered, first.retrying, first.pending) == (0, 1, 3)
    assert first.next_attempt_at == NOW + timedelta(seconds=30)
    with Store.open(hooked.db) as store:
        pending = store.webhook_events(status="pending")
    assert [e.attempts for e in pending] == [1, 0, 0]
    assert all(e.next_attempt_at > clock.now() for e in pending[:1])
    assert "no answer from http://127.0.0.1:" in pending[0].last_error
    assert "/hooks/digest" not in pending[0].last_error  # a hook URL's path may be its secret
    clock.advance(10)
    assert send(hooked, clock).retrying == 0  # not due yet: nothing is tried
    clock.advance(20)
    second = send(hooked, clock)  # due, still down: twice as long
    assert second.retrying == 1 and second.next_attempt_at == clock.now() + timedelta(seconds=60)
    receiver.start()
    assert send(hooked, clock).delivered == 0  # it is back, but the retry is not due yet
    clock.advance(60)
    done = send(hooked, clock)
    assert (done.delivered, done.failed, done.pending) == (3, 0, 0)
    assert send(hooked, clock) == notifier.SendReport()  # nothing twice
    assert [e["email"] for e in receiver.events] == [
        "amina@example.com",
        "bob@example.com",
        "chen@example.com",
    ]
    assert receiver.refused == 0 and receiver.posts == 3
    assert [h["Digest-Event-Id"] for h in receiver.headers] == [e["id"] for e in receiver.events]
    assert {h["Digest-Event-Type"] for h in receiver.headers} == {"subscribe"}
    assert {h["Content-Type"] for h in receiver.headers} == {"application/json"}
    assert [e["status"] for e in outbox(hooked.db)] == ["delivered"] * 3


def test_a_signature_made_with_another_secret_or_replayed_later_is_refused(
    hooked: Settings, receiver: Receiver, clock: ManualClock
) -> None:
    receiver.start()
    three_events(hooked)
    receiver.secret = "whsec_someone_else"
    report = send(hooked, clock)
    assert receiver.refused == 3 and report.failed == 3  # 401: refused, each failed at once
    body = b'{"id":"evt_1"}'
    header = notifier.sign(SECRET, int(NOW.timestamp()), body)
    verify = readme_verifier()
    assert verify(SECRET, header, body, now=NOW.timestamp())
    assert not verify(SECRET, header, body + b" ", now=NOW.timestamp())
    assert not verify(SECRET, header, body, now=NOW.timestamp() + 301)  # a replay
    assert notifier.verify(SECRET, header, body, now=NOW.timestamp())
    assert not notifier.verify(SECRET, header.replace("t=", "t=1"), body, now=NOW.timestamp())


def test_answers_decide_delivered_failed_or_retried(
    hooked: Settings, receiver: Receiver, clock: ManualClock
) -> None:
    receiver.start()
    three_events(hooked)
    receiver.answers = [500, 429, 408, 404]
    for _ in range(3):  # 500, 429, 408: retried, with the others waiting behind
        report = send(hooked, clock)
        assert report.retrying == 1 and report.delivered == 0
        clock.advance(3600)
    report = send(hooked, clock)  # 404: failed at once; the next two go out
    assert (report.failed, report.delivered, report.pending) == (1, 2, 0)
    assert [e["status"] for e in outbox(hooked.db)] == ["failed", "delivered", "delivered"]
    with Store.open(hooked.db) as store:
        (failed,) = store.webhook_events(status="failed")
    assert failed.last_code == 404 and failed.attempts == 4


def test_an_event_failing_past_the_retry_hours_fails_and_retry_queues_it_again(
    run: Cli, receiver: Receiver, clock: ManualClock
) -> None:
    run.env["DIGEST_WEBHOOK_URL"] = receiver.url
    run.env["DIGEST_WEBHOOK_SECRET"] = SECRET
    run.env["DIGEST_WEBHOOK_RETRY_HOURS"] = "2"
    run("lists", "add", "daily", "--name", "Daily")
    run("subscribers", "add", "amina@example.com", "--list", "daily")
    run.now = NOW + timedelta(minutes=1)  # each command's clock starts at run.now
    run("webhooks", "send")  # down
    listed = json.loads(run("webhooks", "list", "--pending", "--json").stdout)
    assert [(e["status"], e["attempts"]) for e in listed] == [("pending", 1)]
    assert listed[0]["next_attempt_at"] > NOW.isoformat()
    assert listed[0]["payload"]["email"] == "amina@example.com"
    run.now = NOW + timedelta(hours=1)
    run("webhooks", "send")
    run.now = NOW + timedelta(hours=2, minutes=5)  # 2 h after the first failure
    gave_up = run("webhooks", "send", ok=False)
    assert gave_up.exit_code == 1 and "1 failed" in gave_up.stderr
    (failed,) = json.loads(run("webhooks", "list", "--failed", "--json").stdout)
    assert "gave up after 3 attempts" in failed["last_error"]
    assert json.loads(run("webhooks", "list", "--pending", "--json").stdout) == []
    nothing = run("webhooks", "retry", "99", ok=False)
    assert nothing.exit_code == 1 and "no failed event" in nothing.output
    assert "Traceback" not in nothing.output
    run("webhooks", "retry", "--all")
    run.now += timedelta(minutes=1)
    clock.at = run.now  # the receiver checks the signature's time against its own clock
    receiver.start()
    sent = json.loads(run("webhooks", "send", "--json").stdout)
    assert sent == {
        "delivered": 1,
        "failed": 0,
        "retrying": 0,
        "pending": 0,
        "next_attempt_at": None,
    }
    assert [e["email"] for e in receiver.events] == ["amina@example.com"]
    assert "delivered" in run("webhooks", "list").stdout


def test_schedule_run_due_posts_the_pending_events(
    run: Cli, receiver: Receiver, clock: ManualClock
) -> None:
    run.env["DIGEST_WEBHOOK_URL"] = receiver.url
    run("init")
    run("lists", "add", "daily", "--name", "Daily")
    run("subscribers", "add", "amina@example.com", "--list", "daily")
    receiver.secret = run("webhooks", "secret").stdout.strip()  # derived from digest's secret
    assert receiver.secret.startswith("whsec_")
    receiver.start()
    run.now = clock.at = NOW + timedelta(minutes=1)
    result = run("schedule", "--run-due")
    assert "events: 1 delivered" in result.stderr
    assert [e["type"] for e in receiver.events] == ["subscribe"]


def test_webhook_settings_are_checked_in_one_line(run: Cli) -> None:
    run.env["DIGEST_WEBHOOK_URL"] = "ftp://example.com/x"
    bad = run("webhooks", "list", ok=False)
    assert bad.exit_code == 1 and "DIGEST_WEBHOOK_URL must be an http(s) URL" in bad.output
    del run.env["DIGEST_WEBHOOK_URL"]
    unset = run("webhooks", "send", ok=False)
    assert unset.exit_code == 1 and "DIGEST_WEBHOOK_URL is not set" in unset.output
    usage = run("webhooks", "retry", ok=False)
    assert usage.exit_code == 2
    for result in (bad, unset, usage):
        assert "Traceback" not in result.output
    for command in ("send", "list", "retry", "secret"):
        assert "Example" in run("webhooks", command, "--help").stdout


def test_unsubscribing_on_the_web_writes_events_naming_the_way(
    hooked: Settings, clock: ManualClock
) -> None:
    import httpx

    from digest.secret import load_secret, make_token
    from digest.web import create_app

    with Store.open(hooked.db, events=True) as store:
        daily = store.add_list(NewsList(slug="daily", name="Daily"), now=NOW)
        weekly = store.add_list(NewsList(slug="weekly", name="Weekly"), now=NOW)
        amina, _ = store.upsert_subscriber(
            Subscriber(email="amina@example.com"), lists=[(daily, ()), (weekly, ())], now=NOW
        )
    assert amina.id is not None and daily.id is not None and weekly.id is not None
    key = load_secret(hooked.secret_file)
    port = free_port()
    settings = replace(hooked, base_url=f"http://127.0.0.1:{port}")
    with serving(create_app(settings, clock=clock.clock, port=port), port) as origin:
        one_click = f"{origin}/u/{make_token(key, 'unsubscribe', amina.id, daily.id)}"
        assert httpx.post(one_click, data={"List-Unsubscribe": "One-Click"}).status_code == 200
        assert httpx.post(one_click, data={"List-Unsubscribe": "One-Click"}).status_code == 200
        page = f"{origin}/u/{make_token(key, 'unsubscribe', amina.id, weekly.id)}"
        answer = httpx.post(
            page, data={"List-Unsubscribe": "One-Click"}, headers={"Origin": origin}
        )
        assert answer.status_code == 200
    assert kinds(hooked.db)[2:] == [  # after the two admin subscribes; the repeat: none
        ("unsubscribe", "daily", "one-click"),
        ("unsubscribe", "weekly", "page"),
    ]


def test_bounces_refused_during_the_smtp_session_write_events(
    store: Store, settings: Settings, server: FaultServer
) -> None:
    store.events = True  # as pipeline.open_store does when DIGEST_WEBHOOK_URL is set
    make_project(store, 3)
    server.handler.rcpt["s2@example.org"] = always("550 5.1.1 No such user")
    server.handler.rcpt["s3@example.org"] = always("550 Mailbox unavailable")
    send_edition(store, quick(settings, server.url, soft_bounce_limit=1))
    bounces = sorted(
        (e["email"], e["bounce"], e["via"], e["edition_id"])
        for e in outbox(settings.db)
        if e["type"] == "bounce"
    )
    assert bounces == [("s2@example.org", "hard", "smtp", 1), ("s3@example.org", "soft", "smtp", 1)]


def test_the_long_running_scheduler_posts_events_after_its_rounds(
    hooked: Settings, receiver: Receiver, clock: ManualClock
) -> None:
    from digest.scheduler import Scheduler

    three_events(hooked)
    receiver.start()
    Scheduler(hooked, clock=clock.clock).retry_now()  # what each reload runs
    assert len(receiver.events) == 3
    Scheduler(hooked, clock=clock.clock).catch_up_now()  # and each round: nothing twice
    assert receiver.posts == 3


def test_prune_drops_only_events_delivered_before_the_kept_days(
    hooked: Settings, receiver: Receiver, clock: ManualClock
) -> None:
    three_events(hooked)
    receiver.start()
    receiver.answers = [204, 404]  # one delivered, one failed; the third stays pending
    with Store.open(hooked.db, events=True) as store:
        notifier.send_events(store, hooked, clock=clock.clock, limit=2)
        soon = NOW + timedelta(days=89)
        assert pipeline.prune_ledger(store, hooked, now=soon).events == 0  # still recent
        later = NOW + timedelta(days=91)
        assert pipeline.prune_ledger(store, hooked, now=later).events == 1
        assert [e.status for e in store.webhook_events()] == ["failed", "pending"]
        assert pipeline.prune_ledger(store, hooked, now=later).events == 0


def test_ticking_a_list_again_on_the_preferences_page_writes_a_subscribe(hooked: Settings) -> None:
    with Store.open(hooked.db, events=True) as store:
        daily = store.add_list(NewsList(slug="daily", name="Daily"), now=NOW)
        amina, _ = store.upsert_subscriber(
            Subscriber(email="amina@example.com"), lists=[(daily, ())], now=NOW
        )
        assert amina.id is not None and daily.id is not None
        for status in ("unsubscribed", "unsubscribed", "active"):  # the page saves them all
            store.set_subscription_status(amina.id, daily.id, status, now=NOW, via="preferences")
        assert not store.set_subscription_status(amina.id, 99, "active", now=NOW, via="x")
    assert kinds(hooked.db) == [
        ("subscribe", "daily", "admin"),
        ("unsubscribe", "daily", "preferences"),
        ("subscribe", "daily", "preferences"),
    ]


def test_two_senders_at_once_never_post_an_event_twice(
    hooked: Settings, receiver: Receiver, clock: ManualClock
) -> None:
    """While the scheduler's post of the oldest event waits for its answer, a cron
    `webhooks send` starts: it finds that event claimed and posts nothing."""
    three_events(hooked)
    during: list[notifier.SendReport] = []

    def second_sender() -> None:
        if not during:
            during.append(send(hooked, clock))

    receiver.on_post = second_sender
    receiver.start()
    assert send(hooked, clock).delivered == 3
    assert during == [notifier.SendReport(pending=3, next_attempt_at=during[0].next_attempt_at)]
    assert receiver.posts == 3 and [e["email"][0] for e in receiver.events] == ["a", "b", "c"]
    with Store.open(hooked.db) as store:  # the claim itself is taken once
        events = store.webhook_events()
    assert {e.attempts for e in events} == {1}


def test_a_claimed_event_is_due_again_when_its_sender_died(
    hooked: Settings, receiver: Receiver, clock: ManualClock
) -> None:
    three_events(hooked)
    receiver.start()
    with Store.open(hooked.db, events=True) as other:  # a sender that died mid-post
        head = other.next_webhook_event()
        assert head is not None
        lease = clock.now() + timedelta(seconds=hooked.webhook_timeout + 30)
        assert other.claim_webhook_event(head.id, now=clock.now(), until=lease)
        assert not other.claim_webhook_event(head.id, now=clock.now(), until=lease)
    assert send(hooked, clock).delivered == 0 and receiver.posts == 0
    clock.advance(hooked.webhook_timeout + 31)  # its lease ran out
    assert send(hooked, clock).delivered == 3


def test_a_provider_webhooks_bounce_is_an_event_out_too(sent: Cli) -> None:
    hook = "http://127.0.0.1:9/never-posted-here"
    settings = {"DIGEST_POSTMARK_WEBHOOK_AUTH": POSTMARK_AUTH, "DIGEST_WEBHOOK_URL": hook}
    with webhook_app(sent, **settings) as client:
        url = with_credentials(client, POSTMARK_AUTH, "/webhooks/postmark")
        assert post_json(client, url, postmark_bounce("amina@example.com")).status_code == 200
        assert post_json(client, url, postmark_bounce("amina@example.com")).status_code == 200
    (event,) = outbox(sent.db_path)
    assert (event["type"], event["bounce"], event["via"], event["email"]) == (
        "bounce",
        "hard",
        "webhook:postmark",
        "amina@example.com",
    )
