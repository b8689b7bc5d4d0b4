"""Subscriber status, suppression and list administration in the store (real SQLite file)."""

from __future__ import annotations

import logging
import sqlite3
from contextlib import contextmanager
from pathlib import Path

import pytest

from digest.errors import InputError, NotFoundError
from digest.models import NewsList, Subscriber
from digest.store import Store
from tests.conftest import NOW, Cli


def _list(store: Store, slug: str = "daily") -> NewsList:
    return store.add_list(NewsList(slug=slug, name=slug.title()), now=NOW)


def test_set_subscriber_status_by_email_or_id_and_sending_skips_it(store: Store) -> None:
    daily = _list(store)
    amina, _ = store.upsert_subscriber(
        Subscriber(email="amina@example.com"), lists=[(daily, ())], now=NOW
    )
    store.upsert_subscriber(Subscriber(email="john@example.org"), lists=[(daily, ())], now=NOW)
    assert amina.id is not None

    bounced = store.set_subscriber_status(amina.id, "bounced", now=NOW)
    assert bounced.status == "bounced"
    assert [r.subscriber.email for r in store.recipients(daily)] == ["john@example.org"]

    assert store.set_subscriber_status("amina@example.com", "active", now=NOW).status == "active"
    assert len(list(store.recipients(daily))) == 2


def test_set_subscriber_status_rejects_unknown_status_and_address(store: Store) -> None:
    store.upsert_subscriber(Subscriber(email="amina@example.com"), now=NOW)
    with pytest.raises(InputError, match="unknown subscriber status 'gone'"):
        store.set_subscriber_status("amina@example.com", "gone", now=NOW)
    with pytest.raises(NotFoundError):
        store.set_subscriber_status("nobody@example.com", "bounced", now=NOW)
    with pytest.raises(NotFoundError):
        store.set_subscriber_status(999, "bounced", now=NOW)


def test_unsubscribing_from_one_list_stops_only_that_list(store: Store) -> None:
    daily, weekly = _list(store, "daily"), _list(store, "weekly")
    store.upsert_subscriber(
        Subscriber(email="amina@example.com"), lists=[(daily, ()), (weekly, ())], now=NOW
    )
    store.unsubscribe("amina@example.com", "daily", now=NOW)
    assert list(store.recipients(daily)) == []
    assert [r.subscriber.email for r in store.recipients(weekly)] == ["amina@example.com"]
    # Listed by list, the status shown is the status for that list.
    assert [s.status for s, _ in store.subscribers("daily")] == ["unsubscribed"]
    assert [s.status for s, _ in store.subscribers("weekly")] == ["active"]
    assert [s.status for s, _ in store.subscribers()] == ["active"]
    store.unsubscribe("amina@example.com", now=NOW)
    assert list(store.recipients(weekly)) == []
    assert store.get_subscriber("amina@example.com").status == "unsubscribed"
    store.resubscribe("amina@example.com", "weekly", now=NOW)
    assert len(list(store.recipients(weekly))) == 1 and list(store.recipients(daily)) == []


def test_import_reports_progress_for_big_files(store: Store) -> None:
    from digest import pipeline

    _list(store)
    rows = "".join(f"r{i}@example.com,daily\n" for i in range(2500))
    seen: list[int] = []
    report = pipeline.import_subscribers(
        store, "email,lists\n" + rows, name="big.csv", now=NOW, progress=seen.append
    )
    assert report.added == 2500
    assert sum(seen) == 2 * 2500  # each row counted when checked and when written


# -- one subscriber per address, whatever the case (issue 11.4) ------------------------


def test_addresses_differing_only_in_case_are_one_subscriber(store: Store) -> None:
    from digest import pipeline

    daily = _list(store)
    report = pipeline.import_subscribers(
        store,
        "email,name,lists\nAMINA@example.com,Amina,daily\namina@example.com,,daily\n",
        name="a.csv",
        now=NOW,
    )
    assert (report.added, report.unchanged) == (1, 1)
    pipeline.import_subscribers(
        store, "email,lists\nAmina@Example.COM,daily\n", name="b.csv", now=NOW
    )
    pipeline.add_subscriber(store, Subscriber(email="aMiNa@example.com"), lists=[], now=NOW)
    [(amina, _)] = list(store.subscribers())
    assert amina.email == "AMINA@example.com"  # the address as first given, for sending
    assert [r.subscriber.email for r in store.recipients(daily)] == ["AMINA@example.com"]
    assert store.get_subscriber("amina@EXAMPLE.com").id == amina.id

    # removing one spelling removes the person, and blocks every spelling
    store.remove_subscriber("amina@example.com", now=NOW)
    assert store.count_subscribers() == 0
    again = pipeline.import_subscribers(
        store, "email,lists\nAmina@example.com,daily\n", name="c.csv", now=NOW
    )
    assert again.rejected == 1 and "removed at their request" in again.problems[0].message


def _old_database_with_duplicates(path: Path) -> None:
    """A database as main had it before issue 11.4: three spellings, three subscribers."""
    with Store.open(path) as store:
        daily = _list(store)
        weekly = store.add_list(NewsList(slug="weekly", name="Weekly"), now=NOW)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DROP INDEX subscribers_address")
        conn.execute("DROP TABLE subscriber_merges")
        conn.execute(
            "DELETE FROM _sqlite_migrations WHERE name = '0006_one_subscriber_per_address'"
        )
        stamp = "2026-11-01T00:00:00+00:00"
        people = [
            (1, "amina@example.com", "", "active", None),
            (2, "AMINA@example.com", "Amina", "unsubscribed", None),
            (3, "Amina@example.com", "", "active", "2026-11-05T00:00:00+00:00"),
            (4, "bob@example.org", "Bob", "active", None),
        ]
        conn.executemany(
            "INSERT INTO subscribers (id, email, name, status, paused_at, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(*p, stamp, stamp) for p in people],
        )
        conn.executemany(
            "INSERT INTO subscriptions (subscriber_id, list_id, sections, status, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (1, daily.id, "[]", "active", stamp),
                (3, daily.id, '["Sport"]', "unsubscribed", stamp),
                (3, weekly.id, "[]", "active", stamp),
                (4, daily.id, "[]", "active", stamp),
            ],
        )
        conn.execute(
            "INSERT INTO editions (id, list_id, date, due_at, subject, article_count, created_at)"
            " VALUES (1, ?, '2026-11-26', ?, 'S', 1, ?), (2, ?, '2026-11-25', ?, 'S', 1, ?)",
            [daily.id, stamp, stamp, daily.id, stamp, stamp],
        )
        conn.executemany(
            "INSERT INTO deliveries (edition_id, subscriber_id, status, message_id, created_at,"
            " updated_at) VALUES (?, ?, 'sent', ?, ?, ?)",
            [
                (1, 1, "<a1>", stamp, stamp),
                (1, 3, "<a3>", stamp, stamp),
                (2, 3, "<b3>", stamp, stamp),
            ],
        )
    conn.close()


def test_migration_merges_case_duplicates_and_says_which(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _old_database_with_duplicates(db_path)
    with caplog.at_level(logging.WARNING, logger="digest.store"), Store.open(db_path) as store:
        merged = [r.getMessage() for r in caplog.records]
        assert merged == [
            "migration: merged subscriber 2 <AMINA@example.com> into 1 <amina@example.com>"
            " (same address but for case)",
            "migration: merged subscriber 3 <Amina@example.com> into 1 <amina@example.com>"
            " (same address but for case)",
        ]
        assert store.subscriber_merges() == {2: 1, 3: 1}
        assert [s.email for s, _ in store.subscribers()] == ["amina@example.com", "bob@example.org"]
        amina = store.get_subscriber("AMINA@EXAMPLE.COM")
        assert (amina.id, amina.name, amina.status) == (1, "Amina", "unsubscribed")  # strongest
        assert store.is_paused(1)
        assert store.subscription_statuses(1) == {"daily": "unsubscribed", "weekly": "active"}
        assert store.subscription_sections(1) == {"daily": ["Sport"], "weekly": []}
        ledger = store.db.conn.execute(
            "SELECT edition_id, message_id FROM deliveries WHERE subscriber_id = 1 ORDER BY 1"
        ).fetchall()
        assert ledger == [(1, "<a1>"), (2, "<b3>")]  # one copy per edition, none lost
        with pytest.raises(sqlite3.IntegrityError):
            store.db.conn.execute(
                "INSERT INTO subscribers (email, created_at, updated_at)"
                " VALUES ('BOB@example.org', 'x', 'x')"
            )
    caplog.clear()
    Store.open(db_path).close()  # runs once
    assert not caplog.records


def test_the_first_command_after_upgrading_prints_the_merges(db_path: Path, run: Cli) -> None:
    _old_database_with_duplicates(db_path)
    first = run("subscribers", "count")
    assert first.stdout == "2\n"
    assert "merged subscriber 2 <AMINA@example.com> into 1 <amina@example.com>" in first.stderr
    assert "merged subscriber 3 <Amina@example.com>" in first.stderr
    assert "merged" not in run("subscribers", "count").stderr


# -- listing streams (issue 12) -----------------------------------------------------------


def test_listing_reads_each_subscribers_lists_in_the_same_query(store: Store) -> None:
    """No query per subscriber: `subscribers list --json` took 4.7 s at 100k that way."""
    daily, weekly = _list(store), _list(store, "weekly")
    for i in range(30):
        store.upsert_subscriber(
            Subscriber(email=f"r{i:02d}@example.com"),
            lists=[(daily, ("Sport",)), (weekly, ())] if i % 2 else [(weekly, ())],
            now=NOW,
        )
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    listing = list(store.subscriber_listing())
    export = list(store.export_rows())
    store.db.conn.set_trace_callback(None)
    assert len(statements) == 2
    assert listing[1][1] == {"daily": ["Sport"], "weekly": []}
    assert [r[2] for r in export[:3]] == ["weekly", "daily", "weekly"]
    assert len(export) == 45


def test_json_lists_are_written_as_json_dumps_would_write_them() -> None:
    import contextlib
    import io
    import json

    from digest.cli.subscribers import echo_json_array

    for items in ([], [{"a": 1}], [{"a": [1, {"b": "é"}]}, {"c": {}}, {"d": []}]):
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            echo_json_array(iter(items))
        assert buffer.getvalue() == json.dumps(items, ensure_ascii=False, indent=2) + "\n"


def test_counts_in_one_pass_agree_with_the_listing_filters(store: Store) -> None:
    """`subscribers count --list X --json` ran one query per status (6 s at 1M)."""
    daily, weekly = _list(store), _list(store, "weekly")
    for i, status in enumerate(["active", "unsubscribed", "bounced", "complained"] * 3):
        sub, _ = store.upsert_subscriber(
            Subscriber(email=f"c{i}@example.com"),
            lists=[(daily, ())] + ([(weekly, ())] if i % 3 else []),
            now=NOW,
        )
        store.set_subscriber_status(int(sub.id or 0), status, now=NOW)
        if i % 4 == 0:
            store.unsubscribe(int(sub.id or 0), "weekly" if i % 3 else "daily", now=NOW)
    store.upsert_subscriber(Subscriber(email="nolist@example.com"), now=NOW)
    for slug in (None, "daily", "weekly"):
        counts = store.count_by_status(slug)
        assert counts["total"] == len(list(store.subscribers(slug)))
        for status in ("active", "unsubscribed", "bounced", "complained"):
            listed = len(list(store.subscribers(slug, status=status)))
            assert counts[status] == listed == store.count_subscribers(slug, status=status)


def _joined_counts(store: Store, slug: str) -> dict[str, int]:
    """The counts the slow way: every member joined to their subscriber."""
    row = store.db.conn.execute(
        "SELECT count(*), coalesce(sum(s.status = 'active' AND x.status = 'active'), 0),"
        " coalesce(sum(s.status = 'unsubscribed' OR x.status = 'unsubscribed'), 0),"
        " coalesce(sum(s.status = 'bounced'), 0), coalesce(sum(s.status = 'complained'), 0)"
        " FROM subscriptions x JOIN subscribers s ON s.id = x.subscriber_id"
        " JOIN lists l ON l.id = x.list_id WHERE l.slug = ?",
        [slug],
    ).fetchone()
    return dict(zip(("total", "active", "unsubscribed", "bounced", "complained"), row, strict=True))


def test_list_counts_stay_right_through_every_kind_of_change(store: Store) -> None:
    """The maintained tallies (migration 0021) against a join, after each way the
    store changes a membership or a subscriber: join, import, leave one list, leave
    all, bounce, come back, merge, remove."""
    from digest import intake

    daily, weekly = _list(store), _list(store, "weekly")

    def check() -> None:
        for slug in ("daily", "weekly"):
            assert store.count_by_status(slug) == _joined_counts(store, slug), slug
            assert store.count_subscribers(slug) == _joined_counts(store, slug)["total"]

    for i in range(8):
        store.upsert_subscriber(
            Subscriber(email=f"t{i}@example.com"),
            lists=[(daily, ())] + ([(weekly, ())] if i % 2 else []),
            now=NOW,
        )
    check()
    intake.import_subscribers(
        store,
        "email,name,status,lists\n"
        + "".join(f"n{i}@example.com,N{i},{'bounced' if i == 3 else ''},weekly\n" for i in range(6))
        + "t1@example.com,Again,unsubscribed,daily\nt0@example.com,,,weekly\n",
        name="more.csv",
        now=NOW,
    )
    check()
    store.unsubscribe("t3@example.com", "weekly", now=NOW)
    check()
    store.unsubscribe("t5@example.com", now=NOW)
    check()
    store.set_subscriber_status("t2@example.com", "complained", now=NOW)
    store.set_subscriber_status("t4@example.com", "bounced", now=NOW)
    check()
    store.resubscribe("t5@example.com", now=NOW)
    store.resubscribe("t4@example.com", "weekly", force=True, now=NOW)
    check()
    store.remove_subscriber("t7@example.com", now=NOW)
    store.remove_subscriber("n2@example.com", now=NOW)
    check()
    assert _joined_counts(store, "weekly")["total"] > 0


def test_counting_a_list_reads_the_same_for_20_or_2000_members(tmp_path: Path) -> None:
    """`subscribers count --list X --json` joined every member to its subscriber:
    0.48 s at a million. Work counted in SQLite steps, not time."""
    from tests.test_store import _sqlite_steps

    steps = []
    for size in (20, 2000):
        with Store.open(tmp_path / f"{size}.db") as store:
            news_list = _list(store)
            conn = store.db.conn
            with store.transaction():
                conn.executemany(
                    "INSERT INTO subscribers (id, email, created_at, updated_at)"
                    " VALUES (?, ?, '', '')",
                    ((i, f"m{i}@example.com") for i in range(1, size + 1)),
                )
                conn.executemany(
                    "INSERT INTO subscriptions (subscriber_id, list_id, created_at)"
                    " VALUES (?, ?, '')",
                    ((i, news_list.id) for i in range(1, size + 1)),
                )
            assert store.count_by_status("daily")["active"] == size
            steps.append(_sqlite_steps(store, lambda: store.count_by_status("daily")))
            steps.append(_sqlite_steps(store, lambda: store.count_subscribers("daily")))
    small, small_total, big, big_total = steps
    assert big <= small + 1 and big_total <= small_total + 1, steps


def _triggers(path: Path) -> list[tuple[str, str]]:
    """The triggers as another connection sees them."""
    with sqlite3.connect(path) as other:
        return sorted(other.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))


def test_a_big_import_writes_in_bulk_and_leaves_tallies_triggers_and_roster_right(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past BULK_AFTER rows an import drops the per-row roster and tally triggers
    (Store.bulk_writes) and puts them back at the end, with the tallies counted afresh
    and one list-wide roster entry. Sizes shrunk so that a small file crosses it."""
    from digest import intake

    monkeypatch.setattr(intake, "IMPORT_CHUNK", 3)
    monkeypatch.setattr(intake, "BULK_AFTER", 4)
    daily, _ = _list(store), _list(store, "weekly")
    store.upsert_subscriber(Subscriber(email="old@example.com"), lists=[(daily, ())], now=NOW)
    triggers = _triggers(store.path)
    assert any(name.startswith("tally_") for name, _ in triggers)
    version = store.roster_version()
    entered: list[list[tuple[str, str]]] = []
    bulk_writes = Store.bulk_writes

    def watched(self: Store):  # type: ignore[no-untyped-def]
        with bulk_writes(self):
            entered.append(_triggers(store.path))  # another connection, mid-import
            mine = self.db.conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")
            entered.append([("here", str(mine.fetchone()[0]))])
            yield

    monkeypatch.setattr(Store, "bulk_writes", contextmanager(watched))
    rows = "".join(
        f"n{i}@example.com,N{i},{'bounced' if i == 7 else ''},{'weekly' if i % 2 else 'daily'}\n"
        for i in range(12)
    )
    report = intake.import_subscribers(
        store,
        "email,name,status,lists\n" + rows + "old@example.com,,unsubscribed,weekly\n",
        name="big.csv",
        now=NOW,
    )
    assert (report.added, report.updated, report.rejected) == (12, 1, 0)
    assert entered[0] == triggers  # others never saw them missing
    assert int(entered[1][0][1]) < len(triggers)  # while this connection had dropped them
    assert _triggers(store.path) == triggers
    for slug in ("daily", "weekly"):
        assert store.count_by_status(slug) == _joined_counts(store, slug), slug
    assert store.roster_version() > version
    assert store.roster_changes(version, store.roster_version()) is None  # a full re-check
    store.set_subscriber_status("n2@example.com", "complained", now=NOW)  # triggers work again
    assert store.count_by_status("daily") == _joined_counts(store, "daily")
    after = store.roster_version()
    store.unsubscribe("n4@example.com", "daily", now=NOW)
    changes = store.roster_changes(after, store.roster_version())
    assert changes is not None and len(changes.subscribers) == 1


def test_a_bulk_write_that_fails_is_rolled_back_with_its_triggers(store: Store) -> None:
    daily = _list(store)
    store.upsert_subscriber(Subscriber(email="old@example.com"), lists=[(daily, ())], now=NOW)
    triggers, counts = _triggers(store.path), store.count_by_status("daily")
    with pytest.raises(RuntimeError, match="stop"), store.transaction(), store.bulk_writes():
        store.db.conn.execute("DELETE FROM subscriptions")
        raise RuntimeError("stop")
    assert _triggers(store.path) == triggers
    assert store.count_by_status("daily") == counts == _joined_counts(store, "daily")
    assert int(store.db.conn.execute("PRAGMA cache_size").fetchone()[0]) == -2000


def _waiting(pid: int) -> tuple[str, int]:
    """(state, CPU ticks) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return fields[0], int(fields[11]) + int(fields[12])


def test_an_import_killed_in_its_bulk_write_leaves_the_database_as_it_was(
    tmp_path: Path,
) -> None:
    """A real `digest subscribers import -` is fed 80,000 rows (past BULK_AFTER, so it
    has dropped the triggers in its transaction), then SIGKILLed while it waits for
    more: nothing of it stays, and the triggers and tallies are as before."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from digest import intake

    db = tmp_path / "news.db"
    with Store.open(db, create=True) as store:
        daily = _list(store)
        store.upsert_subscriber(Subscriber(email="old@example.com"), lists=[(daily, ())], now=NOW)
        triggers, counts = _triggers(db), store.count_by_status("daily")
        version = store.roster_version()
    rows = 80_000
    assert rows >= intake.BULK_AFTER + 2 * intake.IMPORT_CHUNK
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "digest", "--db", str(db), "--now", NOW.isoformat(),
         "subscribers", "import", "-", "--list", "daily"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.stdin is not None
    proc.stdin.write(b"email,name\n")
    proc.stdin.write(b"".join(b"m%d@example.com,M\xc3\xa9 %d\n" % (i, i) for i in range(rows)))
    proc.stdin.flush()  # every row is in; the importer waits for the rest of the file
    deadline, seen = time.monotonic() + 60, [("", -1)]
    while True:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the import never caught up with its input"
        now = _waiting(proc.pid)
        if now[0] == "S" and now == seen[-1] == seen[-2:][0]:
            break  # asleep, and no CPU used over the last two polls: reading stdin
        seen.append(now)
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with Store.open(db) as store:
        assert store.count_subscribers() == 1
        assert store.count_by_status("daily") == counts == _joined_counts(store, "daily")
        assert store.roster_version() == version
    assert _triggers(db) == triggers
