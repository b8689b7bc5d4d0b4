"""`digest prune`: old editions' ledger rows folded into counts, nothing that stops a
second copy or a suppressed address lost."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest

from digest import pipeline
from digest.clock import Clock
from digest.config import Settings, load_settings
from digest.errors import ConfigError, InputError
from digest.models import EditionEdits
from digest.sink import CaptureServer
from digest.store import Store
from tests.conftest import DAY, NOW, Cli
from tests.test_delivery import make_project

OLD = DAY - timedelta(days=120)


def send_day(store: Store, settings: Settings, day: object) -> int:
    report = pipeline.send_edition(
        store,
        settings,
        slug="daily",
        day=day,
        clock=Clock.starting_at(NOW),
        force=True,  # type: ignore[arg-type]
    )
    assert report.complete
    return report.sent


def rows_of(store: Store, day: object) -> int:
    edition_id = store.find_edition(store.get_list("daily"), day)  # type: ignore[arg-type]
    row = store._one("SELECT count(*) AS n FROM deliveries WHERE edition_id = ?", [edition_id])
    assert row is not None
    return int(row["n"])


def test_prune_folds_old_editions_and_keeps_what_stops_a_second_copy(
    store: Store, settings: Settings, smtp_server: CaptureServer, run: Cli
) -> None:
    make_project(store, 4)
    cfg = replace(settings, smtp_url=smtp_server.url)
    assert send_day(store, cfg, OLD) == 4
    assert send_day(store, cfg, DAY) == 4
    sub = store.get_subscriber("s3@example.org")
    assert sub is not None and sub.id is not None
    store.set_subscriber_status(sub.id, "bounced", now=NOW)
    news_list = store.get_list("daily")
    old_id = store.find_edition(news_list, OLD)
    assert old_id is not None

    result = run("prune", "--now", NOW.isoformat(), "--json")
    assert json.loads(result.stdout) == {
        "before": (DAY - timedelta(days=90)).isoformat(),
        "editions": 1,
        "rows": 4,
        "pending": 0,
        "events": 0,
        "edits": 0,
        "approvals": 0,
        "proofs": 0,
        "missed_approvals": 0,
        "missed_slots": 0,
    }
    with Store.open(settings.db) as fresh:
        assert rows_of(fresh, OLD) == 0
        assert rows_of(fresh, DAY) == 4  # the recent ledger is whole
        assert fresh.delivery_counts(old_id) == {"sent": 4}  # folded, not lost
        assert fresh.edition_dates(news_list)[:2] == [DAY, OLD]  # the archive keeps it
        bounced = fresh.get_subscriber("s3@example.org")
        assert bounced is not None and bounced.status == "bounced"  # suppression kept
        # Nothing says who has the old edition any more: it cannot go out again.
        with pytest.raises(InputError, match="pruned"):
            send_day(fresh, cfg, OLD)
    received = len(smtp_server.handler.received)
    assert received == 8
    again = run("send", "--list", "daily", "--date", OLD.isoformat(), ok=False)
    assert again.exit_code == 1 and "pruned" in again.stderr
    assert "Traceback" not in again.output + again.stderr
    assert len(smtp_server.handler.received) == received
    # A second prune has nothing left to do.
    assert json.loads(run("prune", "--now", NOW.isoformat(), "--json").stdout)["editions"] == 0


def test_prune_refuses_to_fold_the_recent_ledger(
    store: Store, settings: Settings, run: Cli, tmp_path: object
) -> None:
    make_project(store, 1)
    with pytest.raises(InputError, match="younger than 7 days"):
        pipeline.prune_ledger(store, settings, now=NOW, keep_days=3)
    result = run("prune", "--keep-days", "2", ok=False)
    assert result.exit_code == 1 and "younger than 7 days" in result.stderr
    with pytest.raises(ConfigError, match="DIGEST_LEDGER_KEEP_DAYS"):
        load_settings(env={"DIGEST_LEDGER_KEEP_DAYS": "1"}, cwd=settings.db.parent)


def test_prune_forgets_old_edits_of_editions_that_never_went_out(
    store: Store, settings: Settings, smtp_server: CaptureServer, run: Cli
) -> None:
    """Editors' edits (`editions edit`) were never pruned (issue 14). Those of an old
    edition that never went out go with the old ledger; those of an edition that went out
    stay, since the archive shows it as edited (a dropped story must not come back)."""
    make_project(store, 2)
    news_list = store.get_list("daily")
    abandoned, recent = OLD + timedelta(days=1), DAY + timedelta(days=1)
    for day in (OLD, abandoned, recent):
        store.save_edition_edits(
            news_list, day, EditionEdits(note=f"Note of {day}"), now=NOW - timedelta(days=200)
        )
    assert send_day(store, replace(settings, smtp_url=smtp_server.url), OLD) == 2

    result = run("prune", "--now", NOW.isoformat(), "--json")
    assert json.loads(result.stdout)["edits"] == 1
    with Store.open(settings.db) as fresh:
        assert fresh.edition_edits(news_list, abandoned).empty  # a draft nobody sent
        assert pipeline.load_edition(fresh, news_list, OLD).note == f"Note of {OLD}"  # archive
        assert fresh.edition_edits(news_list, recent).note == f"Note of {recent}"  # recent
    again = run("prune", "--now", NOW.isoformat())
    assert "edits of editions never sent" not in again.stderr  # nothing left to forget


def test_prune_forgets_approvals_and_proofs_of_old_editions_but_keeps_who_let_one_go(
    store: Store, settings: Settings, smtp_server: CaptureServer, run: Cli
) -> None:
    """Approvals, proofs and missed-approval notes (issue 14) were never pruned. Of an
    old edition that never went out, all go; of one that went out, the approval (and the
    note that it missed its moment) stay as the record of who let it go, and the proofs
    go (mails to editors, read by nothing once the day is past). Recent ones stay."""
    make_project(store, 2)
    news_list = store.get_list("daily")
    abandoned, recent = OLD + timedelta(days=1), DAY + timedelta(days=1)
    then = NOW - timedelta(days=200)
    for day in (OLD, abandoned, recent):
        store.approve_edition(news_list, day, by=f"amina {day}", now=then)
        store.note_missed_approval(news_list, day, due_at=then, now=then)
        for editor in ("desk@example.com", "ali@example.com"):
            assert store.claim_proof(news_list, day, editor, now=then, stale=timedelta(0))
            store.mark_proof_sent(news_list, day, editor, now=then)
    assert send_day(store, replace(settings, smtp_url=smtp_server.url), OLD) == 2

    result = run("prune", "--now", NOW.isoformat(), "--json")
    report = json.loads(result.stdout)
    assert (report["approvals"], report["proofs"], report["missed_approvals"]) == (1, 4, 1)
    with Store.open(settings.db) as fresh:
        kept = fresh.edition_approval(news_list, OLD)  # it went out: who let it go stays
        assert kept is not None and kept.approved_by == f"amina {OLD}"
        assert fresh.missed_approval_logged(news_list, OLD) is not None
        assert fresh.proofs(news_list, OLD) == []
        assert fresh.edition_approval(news_list, abandoned) is None  # a draft nobody sent
        assert fresh.missed_approval_logged(news_list, abandoned) is None
        assert fresh.proofs(news_list, abandoned) == []
        assert fresh.edition_approval(news_list, recent) is not None  # recent: all kept
        assert fresh.missed_approval_logged(news_list, recent) is not None
        assert len(fresh.proofs(news_list, recent)) == 2
    text = run("prune", "--now", NOW.isoformat()).stderr
    assert "approvals" not in text and "proofs" not in text  # nothing left to forget


def test_prune_forgets_old_missed_slot_notes(store: Store, settings: Settings, run: Cli) -> None:
    make_project(store, 1)
    news_list = store.get_list("daily")
    for day in (OLD, DAY):
        at = datetime.combine(day, time(7), tzinfo=UTC)
        assert store.note_missed_slot(news_list, day, "UTC", due_at=at, now=at)
    report = json.loads(run("prune", "--now", NOW.isoformat(), "--json").stdout)
    assert report["missed_slots"] == 1
    with Store.open(settings.db) as fresh:  # the recent note stays: it still keeps quiet
        at = datetime.combine(DAY, time(7), tzinfo=UTC)
        assert not fresh.note_missed_slot(news_list, DAY, "UTC", due_at=at, now=at)
        assert fresh.note_missed_slot(news_list, OLD, "UTC", due_at=at, now=at)
