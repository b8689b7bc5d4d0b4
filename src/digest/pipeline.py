"""Orchestration shared by the CLI, the scheduler and the web app."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path

from digest import feed, ingest, issue, message, roster, sanitizer
from digest.config import Settings
from digest.errors import DigestError, InputError, SmtpError
from digest.models import (
    Article,
    DeliveryReport,
    Edition,
    Feed,
    NewsList,
    RenderedEdition,
    Subscriber,
)
from digest.render import Renderer, Theme
from digest.secret import load_secret, make_token
from digest.sender import SmtpSender, SmtpSettings
from digest.store import Store, address_hash


def open_store(settings: Settings) -> Store:
    return Store.open(settings.db)


def init_project(settings: Settings) -> tuple[Path, Path]:
    """Create the database (migrated) and the secret file; safe to run again."""
    Store.open(settings.db).close()
    load_secret(settings.secret_file)
    return settings.db, settings.secret_file


# -- import -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did. `problems` holds one error per rejected record."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    problems: tuple[InputError, ...] = ()
    aborted: bool = False  # --strict and something was rejected: nothing was written

    def summary(self) -> str:
        counts = (
            f"added {self.added}, updated {self.updated}, unchanged {self.unchanged}, "
            f"rejected {self.rejected}"
        )
        return counts + ("; nothing imported (--strict)" if self.aborted else "")


def import_articles(
    store: Store,
    data: bytes | str,
    *,
    name: str,
    now: datetime,
    fmt: str | None = None,
    section: str | None = None,
    strict: bool = False,
    adjust: Callable[[Article], Article] | None = None,
) -> ImportReport:
    """Import articles from JSON, JSON Lines, CSV, RSS or Atom (detected, or `fmt`).

    Bad records are reported and skipped; the good ones are written together in one
    transaction. With `strict`, nothing is written unless every record is good.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    batch = ingest.read_articles(raw, name=name, fmt=fmt, section=section)
    return write_articles(store, batch, now=now, strict=strict, adjust=adjust)


def write_articles(
    store: Store,
    batch: ingest.ArticleBatch,
    *,
    now: datetime,
    strict: bool = False,
    feed_id: int | None = None,
    adjust: Callable[[Article], Article] | None = None,
) -> ImportReport:
    """Write a batch read by `ingest`: the good records in one transaction (none when
    `strict` and anything was rejected)."""
    problems = tuple(batch.rejected)
    if strict and problems:
        return ImportReport(rejected=len(problems), problems=problems, aborted=True)
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    with store.transaction():
        for _, article in batch.articles:
            final = adjust(article) if adjust else article
            counts[store.upsert_article(final, now=now, feed_id=feed_id)] += 1
    return ImportReport(
        added=counts["added"],
        updated=counts["updated"],
        unchanged=counts["unchanged"],
        rejected=len(problems),
        problems=problems,
    )


def import_subscribers(
    store: Store,
    data: str,
    *,
    name: str,
    default_lists: Iterable[str] = (),
    now: datetime,
    strict: bool = False,
    check_dns: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a subscribers CSV. Re-importing merges list memberships.

    Each bad row is reported (row number and reason) and skipped, and so is an address
    that was removed at its owner's request (suppressed). The good rows are written in
    one transaction; with `strict`, nothing is written unless every row is good.
    """
    defaults = tuple(default_lists)
    known = {lst.slug: lst for lst in store.lists()}
    for slug in defaults:
        if slug not in known:
            store.get_list(slug)  # raises with the known lists as a hint
    batch = roster.read_subscribers_csv(data, name=name, check_dns=check_dns, progress=progress)
    problems = list(batch.rejected)
    suppressed = store.suppressed_hashes()
    good: list[tuple[Subscriber, list[tuple[int, tuple[str, ...]]]]] = []
    for row in batch.rows:
        where = f"{name} row {row.row}"
        slugs = row.lists or defaults
        missing = [s for s in slugs if s not in known]
        if missing:
            problems.append(
                InputError(
                    f"{where} field 'lists': no list called {missing[0]!r}",
                    hint="create it first with `digest lists add`",
                )
            )
            continue
        if suppressed and address_hash(row.subscriber.email) in suppressed:
            problems.append(
                InputError(
                    f"{where}: {row.subscriber.email} was removed at their request; not re-added",
                    hint="only if they asked to come back: digest subscribers add --force",
                )
            )
            continue
        good.append((row.subscriber, [(int(known[s].id or 0), row.sections) for s in slugs]))
    problems.sort(key=_row_number)
    if strict and problems:
        return ImportReport(rejected=len(problems), problems=tuple(problems), aborted=True)
    with store.transaction():
        added, updated = store.add_subscribers(good, now=now, progress=progress)
    return ImportReport(
        added=added, updated=updated, rejected=len(problems), problems=tuple(problems)
    )


def _row_number(problem: InputError) -> int:
    match = re.search(r" row (\d+)", problem.message)
    return int(match.group(1)) if match else 0


def add_subscriber(
    store: Store,
    subscriber: Subscriber,
    *,
    lists: Iterable[str],
    now: datetime,
    force: bool = False,
) -> tuple[Subscriber, bool]:
    """Add one subscriber (or lists to one). A removed (suppressed) address needs `force`."""
    if store.is_suppressed(subscriber.email) and not force:
        raise InputError(
            f"{subscriber.email} was removed at their request",
            hint="add --force only if they asked to subscribe again",
        )
    memberships = [(store.get_list(slug), ()) for slug in lists]
    with store.transaction():
        store.unsuppress(subscriber.email)
        return store.upsert_subscriber(subscriber, lists=memberships, now=now)


# -- feeds --------------------------------------------------------------------------------

FLAG_AFTER_FAILURES = 3  # a feed failing this many fetches in a row is flagged


@dataclass(frozen=True, slots=True)
class FeedReport:
    feed: Feed
    status: str  # "ok", "not modified" or "failed"
    error: str = ""
    hint: str = ""
    report: ImportReport = ImportReport()


def add_feed(
    store: Store, url: str, *, section: str = "", list_slug: str = "", now: datetime
) -> Feed:
    clean = sanitizer.http_url(url)
    if clean is None:
        raise InputError(f"{url!r} is not an http(s) URL", hint="e.g. https://example.com/feed.xml")
    section = ingest.check_text(section, where="--section", limit=200)
    return store.add_feed(Feed(url=clean, section=section, list_slug=list_slug), now=now)


def fetch_feeds(
    store: Store,
    *,
    now: Callable[[], datetime],
    which: str | None = None,
    timeout: float = feed.TIMEOUT,
    max_bytes: int = feed.MAX_BYTES,
) -> list[FeedReport]:
    """Fetch every feed (or one, by id or URL) and import its new and changed items.

    A failing feed is reported with its reason and counted; a success resets the count.
    """
    feeds = [store.get_feed(which)] if which else store.feeds()
    reports = []
    for subscription in feeds:
        assert subscription.id is not None
        try:
            result = feed.fetch(
                subscription.url,
                etag=subscription.etag,
                last_modified=subscription.last_modified,
                timeout=timeout,
                max_bytes=max_bytes,
            )
            if result.status == 304:
                store.record_feed_fetch(subscription.id, now=now())
                reports.append(FeedReport(store.get_feed(subscription.id), "not modified"))
                continue
            batch = ingest.read_feed(
                result.body,
                name=subscription.title or subscription.url,
                section=subscription.section or None,
            )
            report = write_articles(store, batch, now=now(), feed_id=subscription.id)
        except DigestError as exc:
            store.record_feed_fetch(subscription.id, now=now(), error=exc.message)
            reports.append(
                FeedReport(store.get_feed(subscription.id), "failed", exc.message, exc.hint)
            )
            continue
        store.record_feed_fetch(
            subscription.id,
            now=now(),
            etag=result.etag,
            last_modified=result.last_modified,
            title=batch.title,
        )
        reports.append(FeedReport(store.get_feed(subscription.id), "ok", report=report))
    return reports


# -- editions -----------------------------------------------------------------------------


def load_edition(store: Store, news_list: NewsList, day: date) -> Edition:
    start, end = issue.edition_window(news_list, day)
    articles = store.articles_between(start, end, news_list=news_list)
    return issue.build_edition(articles, news_list=news_list, day=day)


def make_renderer(settings: Settings) -> Renderer:
    return Renderer(settings.templates, Theme(base_url=settings.base_url))


def preview_edition(
    store: Store, settings: Settings, *, slug: str | None, day: date, out: Path
) -> tuple[Edition, RenderedEdition, list[Path]]:
    """Write issue.html, issue.txt and issue.mjml for the edition into `out`."""
    news_list = store.pick_list(slug)
    edition = load_edition(store, news_list, day)
    rendered = make_renderer(settings).render(edition)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, body in (("html", rendered.html), ("txt", rendered.text), ("mjml", rendered.mjml)):
        path = out / f"issue.{suffix}"
        path.write_text(body, encoding="utf-8")
        paths.append(path)
    return edition, rendered, paths


class _EditionCache:
    """Render once per (section set, locale), never once per subscriber."""

    def __init__(self, renderer: Renderer, edition: Edition) -> None:
        self.renderer = renderer
        self.edition = edition
        self._compiled: dict[tuple[tuple[str, ...], str], message.CompiledEdition] = {}

    def get(self, sections: tuple[str, ...], locale: str) -> message.CompiledEdition:
        key = (tuple(sorted(s.casefold() for s in sections)), locale)
        if key not in self._compiled:
            view = issue.select_sections(self.edition, sections)
            self._compiled[key] = message.compile_edition(self.renderer.render(view, locale=locale))
        return self._compiled[key]


def _envelope(
    subscriber: Subscriber,
    news_list: NewsList,
    day: date,
    *,
    settings: Settings,
    secret: bytes,
    now: datetime,
) -> message.Envelope:
    assert subscriber.id is not None and news_list.id is not None
    domain = news_list.from_addr.rpartition("@")[2]
    base = settings.base_url.rstrip("/")
    unsub = make_token(secret, "unsubscribe", subscriber.id, news_list.id)
    prefs = make_token(secret, "preferences", subscriber.id, news_list.id)
    return message.Envelope(
        to_addr=subscriber.email,
        to_name=subscriber.name,
        from_addr=news_list.from_addr,
        from_name=news_list.name,
        message_id=message.message_id(news_list.slug, day.isoformat(), subscriber.id, domain),
        date=now,
        list_id=f"<{news_list.slug}.{message.ascii_address('x@' + domain).split('@')[1]}>",
        unsubscribe_url=f"{base}/u/{unsub}",
        preferences_url=f"{base}/p/{prefs}",
    )


def send_edition(
    store: Store,
    settings: Settings,
    *,
    slug: str | None,
    day: date,
    now: Callable[[], datetime],
    dry_run: bool = False,
    test_to: str | None = None,
    force: bool = False,
    smtp_url: str | None = None,
) -> DeliveryReport:
    """Send the list's edition for `day` to every subscriber who does not have it yet.

    Each send is recorded in the ledger in the same step; running again sends nothing
    new. `dry_run` writes .eml files to the outbox; `test_to` sends one copy. Neither
    records anything.
    """
    started = time.monotonic()
    news_list = store.pick_list(slug)
    edition = load_edition(store, news_list, day)
    report = DeliveryReport(edition=edition.key, articles=edition.article_count, recipients=0)
    if edition.article_count == 0 and not force:
        return replace(
            report, notes=("no articles in this edition; nothing sent (--force sends it anyway)",)
        )
    secret = load_secret(settings.secret_file)
    cache = _EditionCache(make_renderer(settings), edition)

    if test_to is not None:
        address = ingest.normalize_email(test_to, where="--to")
        subscriber = Subscriber(email=address, name="", id=0)
        env = _envelope(subscriber, news_list, day, settings=settings, secret=secret, now=now())
        data = message.build_message(cache.get((), news_list.locale), env)
        with SmtpSender(_smtp(settings, smtp_url)) as sender:
            sender.send(news_list.from_addr, message.ascii_address(address), data)
        return replace(
            report,
            recipients=1,
            sent=1,
            elapsed=time.monotonic() - started,
            notes=(f"test copy sent to {address}; nothing recorded",),
        )

    if dry_run:
        settings.outbox.mkdir(parents=True, exist_ok=True)
        written = 0
        for recipient in store.recipients(news_list):
            sub = recipient.subscriber
            env = _envelope(sub, news_list, day, settings=settings, secret=secret, now=now())
            data = message.build_message(
                cache.get(recipient.sections, sub.locale or news_list.locale), env
            )
            (settings.outbox / f"{news_list.slug}-{day}-{sub.id}.eml").write_bytes(data)
            written += 1
        return replace(
            report,
            recipients=written,
            dry_run=True,
            outbox=str(settings.outbox),
            elapsed=time.monotonic() - started,
        )

    edition_id = store.ensure_edition(
        news_list,
        day,
        due_at=edition.due_at,
        subject=cache.get((), news_list.locale).subject,
        article_count=edition.article_count,
        now=now(),
    )
    done = store.delivered_subscriber_ids(edition_id)
    sent = already = skipped = failed = recipients = 0
    notes: list[str] = []
    with SmtpSender(_smtp(settings, smtp_url)) as sender:
        for recipient in store.recipients(news_list):
            recipients += 1
            sub = recipient.subscriber
            assert sub.id is not None
            if sub.id in done:
                already += 1
                continue
            view = cache.get(recipient.sections, sub.locale or news_list.locale)
            if (
                recipient.sections
                and not issue.select_sections(edition, recipient.sections).sections
            ):
                skipped += 1
                continue
            env = _envelope(sub, news_list, day, settings=settings, secret=secret, now=now())
            data = message.build_message(view, env)
            try:
                reply = sender.send(news_list.from_addr, message.ascii_address(sub.email), data)
            except SmtpError as exc:
                store.record_delivery(
                    edition_id,
                    sub.id,
                    status="failed",
                    message_id=env.message_id,
                    reply=str(exc),
                    now=now(),
                )
                failed += 1
                notes.append(str(exc))
                continue
            store.record_delivery(
                edition_id, sub.id, status="sent", message_id=env.message_id, reply=reply, now=now()
            )
            sent += 1
    if recipients and already == recipients:
        notes.append("every subscriber already has this edition; nothing sent twice")
    return DeliveryReport(
        edition=edition.key,
        articles=edition.article_count,
        recipients=recipients,
        sent=sent,
        already_sent=already,
        skipped=skipped,
        failed=failed,
        elapsed=time.monotonic() - started,
        notes=tuple(notes),
    )


def _smtp(settings: Settings, smtp_url: str | None) -> SmtpSettings:
    return SmtpSettings.from_url(
        smtp_url or settings.smtp_url,
        password=settings.smtp_password,
        ca_file=settings.smtp_ca_file,
    )


# -- demo ---------------------------------------------------------------------------------

SAMPLE_DAY = date(2020, 11, 14)  # the sample articles are from the 24 hours before this edition


def sample_text(name: str) -> str:
    return resources.files("digest").joinpath("sample", name).read_text(encoding="utf-8")


def shift_articles(articles: list[Article], days: int) -> list[Article]:
    return [replace(a, published_at=a.published_at + timedelta(days=days)) for a in articles]


@dataclass(frozen=True, slots=True)
class DemoResult:
    report: DeliveryReport
    outbox: Path
    preview: Path
    smtp_url: str


def run_demo(settings: Settings, *, day: date, now: Callable[[], datetime]) -> DemoResult:
    """Sample list, subscribers and a day of articles; send the edition to a capture server."""
    from digest.sink import CaptureServer

    init_project(settings)
    with open_store(settings) as store:
        if not any(lst.slug == "daily" for lst in store.lists()):
            store.add_list(
                NewsList(
                    slug="daily",
                    name="Sahel Morning Digest",
                    from_addr="digest@news.example.com",
                    timezone="Africa/Ndjamena",
                    locale="en",
                    sections=("Tchad", "Afrique", "English News", "Économie", "Sport"),
                    address="Sahel Morning Digest · Avenue Charles de Gaulle, N'Djamena, Tchad",
                ),
                now=now(),
            )
        shift = timedelta(days=(day - SAMPLE_DAY).days)
        import_articles(
            store,
            sample_text("articles.json"),
            name="sample articles",
            now=now(),
            strict=True,
            adjust=lambda a: replace(a, published_at=a.published_at + shift),
        )
        import_subscribers(
            store, sample_text("subscribers.csv"), name="sample subscribers", now=now()
        )
        preview_dir = settings.outbox.parent / "preview"
        _, _, paths = preview_edition(store, settings, slug="daily", day=day, out=preview_dir)
        with CaptureServer(settings.outbox) as server:
            report = send_edition(
                store, settings, slug="daily", day=day, now=now, smtp_url=server.url
            )
    if report.failed:
        raise DigestError(f"demo: {report.failed} messages failed", hint="; ".join(report.notes))
    return DemoResult(report=report, outbox=settings.outbox, preview=paths[0], smtp_url=server.url)
