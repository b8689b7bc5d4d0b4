"""History: every command and page on a year-old ledger against the same on an empty one.

Two databases with the same N subscribers and today's 30 articles. "A year" adds 365
past editions, each with one ledger row per subscriber (all sent), and 30 articles a
day for the year. Each command runs as a real subprocess (`digest ...`), each page
through the real app (Starlette TestClient, a fresh app each time: no warm cache);
they alternate between the two databases; medians are printed with the ratio
year/empty (target <= 1.2x). Afterwards `digest prune` is timed on the year-old one.

    python benchmarks/history.py [--subscribers 10000] [--days 365] [--rounds 5]
        [--keep DIR] [--only NAME,...] [--unflagged]

365 x 100k (the issue's size) is 36.5M rows, about 10 GB and many minutes to build:
pass --subscribers 100000 when the disk and the time are there (`df -h`). The ledger's
subscriber index is built once after the rows (as a fresh import would), not row by
row. `--keep DIR` builds the two databases in DIR and reuses them on the next run
(commands that change them change them a little each round: remove, unsubscribe).
`--only` runs the cases whose names start with one of the given prefixes.

"send" sends a second list's edition (its first SEND_MEMBERS subscribers) through
Postfix's smtp-sink, as a real `digest send`: the year's ledger rows belong to the
big list, so any time they add is what history costs a send; the edition is deleted
again after each round.
DIGEST_BENCH_TINY=1 runs 40 subscribers and 20 days, two rounds.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from common import DAY, NOW, SECTIONS, TINY, Sink, make_database, sent_ledger

from digest.clock import Clock
from digest.config import load_settings
from digest.secret import load_secret, make_token
from digest.store import to_text

AFTER = (NOW + timedelta(minutes=5)).isoformat()
SEND_MEMBERS = 1000


def add_second_list(db: Path, members: int) -> None:
    """The 'weekly' list (id 2), with the first `members` subscribers."""
    conn = sqlite3.connect(db)
    stamp = to_text(NOW)
    with conn:
        conn.execute(
            "INSERT INTO lists (id, slug, name, from_addr, sections, created_at)"
            " VALUES (2, 'weekly', 'Weekly', 'weekly@news.example.com', ?, ?)",
            ['["' + '", "'.join(SECTIONS) + '"]', stamp],
        )
        conn.executemany(
            "INSERT INTO subscriptions (subscriber_id, list_id, created_at) VALUES (?, 2, ?)",
            ((i, stamp) for i in range(1, members + 1)),
        )
    conn.close()


def forget_second_list_send(db: Path) -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "DELETE FROM deliveries WHERE edition_id IN (SELECT id FROM editions WHERE list_id = 2)"
        )
        conn.execute("DELETE FROM editions WHERE list_id = 2")
    conn.close()


def add_year(db: Path, subscribers: int, days: int) -> None:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA synchronous=OFF")
    index = conn.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'deliveries_subscriber'"
    ).fetchone()[0]
    conn.execute("DROP INDEX deliveries_subscriber")  # built once, below
    with conn:
        for back in range(days, 0, -1):
            day = DAY - timedelta(days=back)
            stamp = to_text(NOW - timedelta(days=back))
            cursor = conn.execute(
                "INSERT INTO editions (list_id, date, due_at, subject, article_count,"
                " created_at, went_out) VALUES (1, ?, ?, 'Old news', 30, ?, 1)",
                [day.isoformat(), stamp, stamp],
            )
            edition_id = cursor.lastrowid
            conn.executemany(
                "INSERT INTO deliveries (edition_id, subscriber_id, status, message_id,"
                " attempts, last_code, last_reply, created_at, updated_at, sent_at)"
                " VALUES (?, ?, 'sent', ?, 1, 250, '250 2.0.0 Ok: queued as 4Xyz', ?, ?, ?)",
                (
                    (
                        edition_id,
                        i,
                        f"<{day}.daily.{i}.0f3a9c@news.example.com>",
                        stamp,
                        stamp,
                        stamp,
                    )
                    for i in range(1, subscribers + 1)
                ),
            )
            conn.executemany(
                "INSERT INTO articles (url, title, section, published_at, summary)"
                " VALUES (?, ?, ?, ?, 'Old summary')",
                (
                    (
                        f"https://news.example.com/{day}/{k}",
                        f"Old story {k}",
                        SECTIONS[k % len(SECTIONS)],
                        to_text(NOW - timedelta(days=back, minutes=30 + 20 * k)),
                    )
                    for k in range(30)
                ),
            )
    conn.execute(index)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def command(
    db: Path,
    cwd: Path,
    *args: str,
    smtp_url: str = "smtp://127.0.0.1:9",
    before: Callable[[], None] | None = None,
    first: int = 1,
) -> Callable[[int], float]:
    def run(round_no: int) -> float:
        if before is not None:
            before()
        argv = [a.replace("{k}", str(round_no + first)) for a in args]
        env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
        env["DIGEST_SMTP_URL"] = smtp_url
        env["DIGEST_BASE_URL"] = "https://news.example.com"
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "digest", "--db", str(db), *argv],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"digest {' '.join(argv)} failed: {proc.stderr[-1500:]}")
        return wall

    return run


def page(
    db: Path, cwd: Path, path: str, last: int, *, post: dict[str, str] | None = None
) -> Callable[[int], float]:
    from starlette.testclient import TestClient

    from digest.web import create_app

    settings = load_settings(env={}, overrides={"db": db}, cwd=cwd)
    secret = load_secret(settings.secret_file)

    def run(round_no: int) -> float:
        sid = last - round_no  # not one that `subscribers remove` took
        url = path.format(
            day=DAY.isoformat(),
            unsub=make_token(secret, "unsubscribe", sid, 1),
            prefs=make_token(secret, "preferences", sid, 1),
        )
        start = time.perf_counter()
        app = create_app(settings, clock=Clock.frozen(NOW))
        with TestClient(app, base_url="http://127.0.0.1:8000") as client:  # a Host it serves
            response = client.post(url, data=post) if post is not None else client.get(url)
        wall = time.perf_counter() - start
        if response.status_code != 200:
            raise SystemExit(f"{'POST' if post else 'GET'} {url}: {response.status_code}")
        return wall

    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build the databases here, reuse them")
    parser.add_argument("--only", default="", help="case name prefixes, comma-separated")
    parser.add_argument(
        "--unflagged",
        action="store_true",
        help="clear the editions' went_out flags first: the archive as before 0023 read it",
    )
    parser.add_argument(
        "--remove-from", type=int, default=1, help="first reader `subscribers remove` takes"
    )
    args = parser.parse_args()
    n, days, rounds = (40, 20, 2) if TINY else (args.subscribers, args.days, args.rounds)
    members = min(n, 10 if TINY else SEND_MEMBERS)
    with TemporaryDirectory() as tmp, Sink() as sink:
        tmp_path = Path(tmp)
        home = args.keep or tmp_path
        home.mkdir(parents=True, exist_ok=True)
        tag = f"{n}x{days}"
        dbs = {"empty": home / f"empty-{tag}.db", "year": home / f"year-{tag}.db"}
        ready = home / f"ready-{tag}"
        start = time.perf_counter()
        if not ready.exists():
            for db in dbs.values():
                for old in db.parent.glob(db.name + "*"):
                    old.unlink()
                make_database(db, n)
                add_second_list(db, members)
                for slug in ("daily", "weekly"):  # today's editions have gone out:
                    sent_ledger(db, slug)  # run-due finds nothing due
            add_year(dbs["year"], n, days)
            ready.touch()
        for db in dbs.values():  # a send run sets the flag; --unflagged shows the fallback
            with sqlite3.connect(db) as conn:
                conn.execute("UPDATE editions SET went_out = ?", [0 if args.unflagged else 1])
        size = dbs["year"].stat().st_size / 2**20
        print(
            f"{n:,} subscribers; a year = {days} editions x {n:,} rows = {days * n:,} ledger rows"
            f" and {days * 30:,} articles ({size:,.0f} MB, built or found in"
            f" {time.perf_counter() - start:.0f} s); medians of {rounds} rounds;"
            f" sink: {sink.name}",
            flush=True,
        )
        out = tmp_path / "preview"
        sink_url = f"smtp://127.0.0.1:{sink.port}"
        cases: dict[str, Callable[[Path], Callable[[int], float]]] = {
            f"send ({members:,} members)": lambda db: command(
                db,
                tmp_path,
                "--now",
                NOW.isoformat(),
                "send",
                "--list",
                "weekly",
                "--date",
                DAY.isoformat(),
                smtp_url=sink_url,
                before=lambda: forget_second_list_send(db),
            ),
            "schedule --run-due (idle)": lambda db: command(
                db, tmp_path, "schedule", "--run-due", "--now", AFTER
            ),
            "preview": lambda db: command(
                db,
                tmp_path,
                "preview",
                "--list",
                "daily",
                "--date",
                DAY.isoformat(),
                "--out",
                str(out),
            ),
            "subscribers remove": lambda db: command(
                db,
                tmp_path,
                "subscribers",
                "remove",
                "reader{k}@example.org",
                first=args.remove_from,
            ),
            "subscribers show": lambda db: command(
                db, tmp_path, "subscribers", "show", "reader50@example.org"
            ),
            "subscribers count": lambda db: command(db, tmp_path, "subscribers", "count"),
            "subscribers count --list --json": lambda db: command(
                db, tmp_path, "subscribers", "count", "--list", "daily", "--json"
            ),
            "subscribers list": lambda db: command(db, tmp_path, "subscribers", "list"),
            "lists list": lambda db: command(db, tmp_path, "lists", "list"),
            # One day's articles: a bare `articles list` prints the whole year (its output
            # grows with history by design, as the archive index's list of editions does).
            "articles list --date": lambda db: command(
                db, tmp_path, "articles", "list", "--date", DAY.isoformat()
            ),
            "page /archive/daily/": lambda db: page(db, tmp_path, "/archive/daily/", n),
            "page /archive/daily/<day>": lambda db: page(db, tmp_path, "/archive/daily/{day}", n),
            "page /u/<token>": lambda db: page(db, tmp_path, "/u/{unsub}", n),
            "page /p/<token>": lambda db: page(db, tmp_path, "/p/{prefs}", n),
            "page /preview/daily/<day>": lambda db: page(db, tmp_path, "/preview/daily/{day}", n),
            "POST /u/<token> (unsubscribe)": lambda db: page(
                db, tmp_path, "/u/{unsub}", n // 2, post={"List-Unsubscribe": "One-Click"}
            ),
        }
        if TINY:
            cases = dict(list(cases.items())[:4] + list(cases.items())[-2:])
        if args.only:
            cases = {k: v for k, v in cases.items() if k.startswith(tuple(args.only.split(",")))}
        for name, make in cases.items():
            runners = {label: make(db) for label, db in dbs.items()}
            times: dict[str, list[float]] = {"empty": [], "year": []}
            for r in range(rounds):
                for label in ("empty", "year"):
                    times[label].append(runners[label](r))
            empty, year = (statistics.median(times[k]) for k in ("empty", "year"))
            flag = "" if year <= 1.2 * empty else "  <-- over 1.2x"
            print(
                f"  {name:<28} empty {empty:6.3f} s  year {year:6.3f} s"
                f"  {year / empty:5.2f}x{flag}",
                flush=True,
            )
        if args.keep is None:  # it would spoil the kept year
            start = time.perf_counter()
            command(dbs["year"], tmp_path, "prune", "--keep-days", "90", "--now", AFTER)(0)
            after = dbs["year"].stat().st_size / 2**20
            print(
                f"digest prune --keep-days 90: {time.perf_counter() - start:.1f} s"
                f" (the file stays {after:,.0f} MB until VACUUM; its pages are reused)"
            )
    print("target: every command and page <= 1.2x its time on the empty ledger")


if __name__ == "__main__":
    main()
