"""Approval: a list that requires it sends nothing until its edition is approved;
editors get one proof before the due moment; a missed approval is held, logged and
stays approvable."""

from __future__ import annotations

import json
from datetime import timedelta

from digest.config import load_settings
from digest.sink import CaptureServer, free_port
from digest.store import Store
from tests.conftest import DAY, NOW, Cli, article, received_messages

BASE = "https://news.example.com/"
STORIES = [
    article(url=BASE + "crue", title="Flood story", section="Tchad"),
    article(url=BASE + "but", title="Goal story", section="Sport"),
]


def newsroom(run: Cli, smtp: CaptureServer, *options: str) -> None:
    run.env["DIGEST_SMTP_URL"] = smtp.url
    made = run("lists", "add", "daily", "--name", "Daily", "--approval", "required", *options)
    n = options.count("--editor")
    proofs = f"proofs to {n} editor{'s' if n > 1 else ''})" if n else "no --editor, so no proofs)"
    assert "; each edition waits for approval (" + proofs in made.stderr
    run("subscribers", "add", "amina@example.com", "--list", "daily")
    run("articles", "import", str(run.write("a.json", STORIES)))


def state(run: Cli) -> dict[str, object]:
    shown = json.loads(run("editions", "show", "daily", "2026-11-27", "--json").stdout)
    return shown  # type: ignore[no-any-return]


def test_nothing_goes_out_until_approved_and_an_edit_withdraws_approval(
    run: Cli, smtp_server: CaptureServer
) -> None:
    run.now = NOW - timedelta(hours=2)
    newsroom(run, smtp_server)
    listed = json.loads(run("lists", "show", "daily", "--json").stdout)
    assert listed["approval"] == "required" and listed["editors"] == []
    assert state(run)["state"] == "awaiting approval"

    refused = run("send", "--list", "daily", "--date", "2026-11-27", ok=False)
    assert refused.exit_code == 1
    assert refused.stderr.splitlines()[0] == (
        "Error: daily/2026-11-27 awaits approval: nothing sent"
    )
    assert received_messages(smtp_server) == []
    forced = run("send", "--list", "daily", "--date", "2026-11-27", "--force", ok=False)
    assert forced.exit_code == 1 and received_messages(smtp_server) == []

    run("send", "--list", "daily", "--date", "2026-11-27", "--to", "desk@example.com")
    [test_copy] = received_messages(smtp_server)
    assert test_copy["Subject"].startswith("[Test] ") and test_copy["To"] == "desk@example.com"

    approved = run("editions", "approve", "daily", "2026-11-27", "--by", "amina", "--json")
    assert "approved daily/2026-11-27 by amina; it is now approved" in approved.stderr
    shown = json.loads(approved.stdout)
    assert shown["state"] == "approved"
    assert shown["approval"] == {
        "approved_by": "amina",
        "approved_at": (NOW - timedelta(hours=2)).isoformat(),
    }
    assert "approved: by amina" in run("editions", "show", "daily", "2026-11-27").stdout

    # Approval is of a version: an edit after it withdraws it, and says so.
    edited = run("editions", "edit", "daily", "2026-11-27", "--subject", "The river")
    assert "warning: this edit withdrew the approval by amina" in edited.stderr
    assert state(run)["state"] == "awaiting approval" and state(run)["approval"] is None
    unchanged = run("editions", "edit", "daily", "2026-11-27", "--subject", "The river")
    assert "withdrew" not in unchanged.stderr  # nothing changed: nothing withdrawn

    run("editions", "approve", "daily", "2026-11-27", "--by", "amina")
    run("editions", "approve", "daily", "2026-11-27", "--revoke")
    assert state(run)["state"] == "awaiting approval"
    run("editions", "approve", "daily", "2026-11-27", "--by", "moussa")
    run("send", "--list", "daily", "--date", "2026-11-27")
    mails = received_messages(smtp_server)
    assert [m["Subject"] for m in mails] == [test_copy["Subject"], "The river"]
    after = state(run)
    assert after["state"] == "sent" and after["counts"] == {"sent": 1}

    late = run("editions", "approve", "daily", "2026-11-27", "--revoke", ok=False)
    assert late.stderr.splitlines()[0] == (
        "Error: daily/2026-11-27 began going out: its approval can no longer change"
    )


def test_approve_is_refused_where_it_means_nothing(run: Cli, smtp_server: CaptureServer) -> None:
    newsroom(run, smtp_server)
    run("lists", "add", "open", "--name", "Open")
    plain = run("editions", "approve", "open", "2026-11-27", ok=False)
    assert plain.stderr.splitlines() == [
        "Error: list 'open' does not require approval",
        "Hint: require it first: digest lists edit open --approval required",
    ]
    run("lists", "edit", "daily", "--days", "mon")
    friday = run("editions", "approve", "daily", "2026-11-27", ok=False)
    assert "does not send on a Friday" in friday.stderr
    bad = run("lists", "edit", "daily", "--editor", "not an address", ok=False)
    assert bad.exit_code == 1 and bad.stderr.startswith("Error: --editor")
    both = run("lists", "edit", "daily", "--editor", "a@example.com", "--no-editors", ok=False)
    assert "contradict" in both.stderr
    run("lists", "edit", "daily", "--editor", "a@example.com", "--editor", "b@example.com")
    assert json.loads(run("lists", "show", "daily", "--json").stdout)["editors"] == [
        "a@example.com",
        "b@example.com",
    ]
    run("lists", "edit", "daily", "--no-editors", "--approval", "none")
    shown = json.loads(run("lists", "show", "daily", "--json").stdout)
    assert shown["editors"] == [] and shown["approval"] == "none"


def test_a_missed_approval_is_held_logged_and_sent_once_approved_late(
    run: Cli, smtp_server: CaptureServer
) -> None:
    newsroom(run, smtp_server)
    run.env["DIGEST_PROOF_HOURS"] = "0"
    due = run("schedule", "--run-due")  # at NOW, the due moment
    assert "daily/2026-11-27 [UTC]: missed approval: due 2026-11-27T07:00+00:00" in due.stderr
    # The log line is stamped from the one clock (--now), not the wall clock's day.
    [line] = [x for x in due.stderr.splitlines() if "missed approval" in x]
    assert line.startswith("2026-11-27T07:00:0") and "WARNING" in line
    assert received_messages(smtp_server) == []
    assert state(run)["state"] == "missed approval"
    assert state(run)["missed_logged_at"] == NOW.isoformat()
    text = run("editions", "show", "daily", "2026-11-27").stdout
    assert "due_at: 2026-11-27T07:00:00+00:00" in text
    assert "missed: due 2026-11-27T07:00:00+00:00, held unapproved (logged at" in text

    for minutes in (5, 10, 60, 300):  # cron rounds: still held, not logged again
        run.now = NOW + timedelta(minutes=minutes)
        again = run("schedule", "--run-due")
        assert "missed approval" not in again.stderr
    assert received_messages(smtp_server) == []
    assert state(run)["state"] == "missed approval"
    assert state(run)["missed_logged_at"] == NOW.isoformat()  # the first round's
    late = run("editions", "approve", "daily", "2026-11-27", "--by", "amina")
    # Approved late: it says what sends it now, since the due moment went by.
    assert "it is now approved; past its due moment: the next round of" in late.stderr
    assert "`digest send --list daily --date 2026-11-27` does" in late.stderr
    run("schedule", "--run-due")
    [mail] = received_messages(smtp_server)
    assert mail["To"] == "amina@example.com"
    assert state(run)["state"] == "sent"


def test_a_missed_approval_is_logged_once_for_all_the_zones_of_its_edition(
    run: Cli, smtp_server: CaptureServer
) -> None:
    newsroom(run, smtp_server)
    run("subscribers", "add", "paris@example.com", "--list", "daily", "--timezone", "Europe/Paris")
    run.env["DIGEST_PROOF_HOURS"] = "0"
    run.now = NOW - timedelta(hours=1)  # 07:00 in Paris: the edition's first due moment
    first = run("schedule", "--run-due")
    assert "daily/2026-11-27 [Europe/Paris]: missed approval" in first.stderr
    run.now = NOW  # 07:00 UTC: the same edition, due in its other zone
    second = run("schedule", "--run-due")
    assert "missed approval" not in second.stderr
    assert state(run)["missed_logged_at"] == (NOW - timedelta(hours=1)).isoformat()
    assert received_messages(smtp_server) == []


def test_approved_after_the_catch_up_window_only_a_send_by_hand_sends_it(
    run: Cli, smtp_server: CaptureServer
) -> None:
    newsroom(run, smtp_server)
    run.env["DIGEST_PROOF_HOURS"] = "0"
    run.now = NOW + timedelta(hours=7)  # past the 6 h catch-up window
    run("editions", "approve", "daily", "2026-11-27", "--by", "amina")
    skipped = run("schedule", "--run-due")
    assert "more than the 6.0 h catch-up window" in skipped.stderr
    assert received_messages(smtp_server) == []
    run("send", "--list", "daily", "--date", "2026-11-27")
    assert len(received_messages(smtp_server)) == 1


def proofs(smtp: CaptureServer) -> list[str]:
    return [str(m["To"]) for m in received_messages(smtp) if m["Subject"].startswith("[Proof]")]


def test_editors_get_one_proof_with_the_checks_before_the_due_moment(
    run: Cli, smtp_server: CaptureServer
) -> None:
    newsroom(run, smtp_server, "--editor", "desk@example.com", "--editor", "ali@example.com")
    run.env["DIGEST_PROOF_HOURS"] = "3"
    run.now = NOW - timedelta(hours=3, minutes=1)
    run("schedule", "--run-due")
    assert proofs(smtp_server) == []  # not yet: more than 3 h before 07:00

    run.now = NOW - timedelta(hours=3)
    first = run("schedule", "--run-due")
    assert sorted(proofs(smtp_server)) == ["ali@example.com", "desk@example.com"]
    assert "daily/2026-11-27: proof sent to desk@example.com" in first.stderr
    mail = received_messages(smtp_server)[0]
    assert mail["Subject"] == "[Proof] Daily — November 27, 2026"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert text.startswith("Proof of daily/2026-11-27: ")
    assert "Approve it with: digest editions approve daily 2026-11-27" in text
    assert "Flood story" in text
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert 'class="proof-checks"' in html and html.index("proof-checks") < html.index("Flood story")

    for minutes in (5, 90, 200):  # later rounds, past the due moment too: no second proof
        run.now = NOW - timedelta(hours=3) + timedelta(minutes=minutes)
        run("schedule", "--run-due")
    assert len(proofs(smtp_server)) == 2
    settings = load_settings(env=run.env, overrides={"db": run.db_path}, cwd=run.tmp_path)
    with Store.open(settings.db) as store:
        news_list = store.get_list("daily")
        assert store.find_edition(news_list, DAY) is None  # proofs write nothing to the ledger
        assert all(p["sent_at"] for p in store.proofs(news_list, DAY))


def test_a_proof_survives_a_crash_and_a_failed_send_without_doubling(
    run: Cli, smtp_server: CaptureServer
) -> None:
    newsroom(run, smtp_server, "--editor", "desk@example.com")
    run.env["DIGEST_PROOF_HOURS"] = "3"
    run.now = NOW - timedelta(hours=2)
    settings = load_settings(env=run.env, overrides={"db": run.db_path}, cwd=run.tmp_path)
    with Store.open(settings.db) as store:  # a round claimed the proof, then crashed
        news_list = store.get_list("daily")
        assert store.claim_proof(
            news_list, DAY, "desk@example.com", now=run.now, stale=timedelta(minutes=5)
        )
    run("schedule", "--run-due")
    assert proofs(smtp_server) == []  # claimed 0 min ago: another round may be sending it
    run.now += timedelta(minutes=6)
    run("schedule", "--run-due")
    assert proofs(smtp_server) == ["desk@example.com"]

    # A failed send is given back and logged, and the next round sends it once.
    run("lists", "edit", "daily", "--editor", "ali@example.com")
    good = run.env["DIGEST_SMTP_URL"]
    run.env["DIGEST_SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"  # nobody listens
    down = run("schedule", "--run-due")  # a proof that failed does not fail the round
    assert "proof to ali@example.com not sent" in down.stderr
    run.env["DIGEST_SMTP_URL"] = good
    run("schedule", "--run-due")
    run("schedule", "--run-due")
    assert proofs(smtp_server) == ["desk@example.com", "ali@example.com"]


def test_a_running_schedulers_reloads_mail_proofs_and_send_a_late_approval(
    run: Cli, smtp_server: CaptureServer
) -> None:
    from digest.scheduler import Scheduler
    from tests.conftest import ManualClock

    newsroom(run, smtp_server, "--editor", "desk@example.com")
    run.env["DIGEST_PROOF_HOURS"] = "2"
    settings = load_settings(env=run.env, overrides={"db": run.db_path}, cwd=run.tmp_path)
    clock = ManualClock(NOW - timedelta(hours=2))
    scheduler = Scheduler(settings, clock=clock.clock)
    scheduler.retry_now()  # a reload, two hours before the due moment
    assert proofs(smtp_server) == ["desk@example.com"]

    clock.advance(2 * 3600)  # the due moment: the slot's job runs, the edition is held
    scheduler._fire("daily", "UTC")
    assert len(received_messages(smtp_server)) == 1  # the proof alone

    clock.advance(1800)
    run.now = clock.at
    run("editions", "approve", "daily", "2026-11-27", "--by", "amina")
    clock.advance(300)
    [late] = scheduler.retry_now()  # the next reload sends it
    assert late.report is not None and late.report.sent == 1
    assert [m["To"] for m in received_messages(smtp_server)] == [
        "desk@example.com",
        "amina@example.com",
    ]
    assert scheduler.retry_now() == []  # and only once
