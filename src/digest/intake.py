"""Data in: import articles and subscribers, manage and fetch feeds (called via `pipeline`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime

from digest import feed, ingest, roster, sanitizer
from digest.errors import DigestError, InputError
from digest.models import Article, Feed, Subscriber, SubscriberImport
from digest.store import Store

# -- import -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did. `problems` holds one error per rejected record."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    problems: tuple[InputError, ...] = ()  # the first KEEP_PROBLEMS of `rejected`
    aborted: bool = False  # --strict and something was rejected: nothing was written
    warnings: tuple[str, ...] = ()  # imported, but worth a look (a recovered feed, ...)
    kept: int = 0  # subscribers' rows whose unsubscribe, bounce or complaint was kept

    def summary(self) -> str:
        counts = (
            f"added {self.added}, updated {self.updated}, unchanged {self.unchanged}, "
            f"rejected {self.rejected}"
        )
        if self.kept:
            counts += (
                f"; kept {self.kept} unsubscribed, bounced or complained as they were"
                " (--resubscribe reactivates them)"
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
    encoding: str | None = None,
    list_slug: str | None = None,
) -> ImportReport:
    """Import articles from JSON, JSON Lines, CSV, RSS or Atom (detected, or `fmt`).

    Bad records are reported and skipped; the good ones are written together in one
    transaction. With `strict`, nothing is written unless every record is good.
    With `list_slug`, the articles belong to that list only (checked before reading).
    """
    list_id = store.get_list(list_slug).id if list_slug else None
    raw = data.encode("utf-8") if isinstance(data, str) else data
    batch = ingest.read_articles(raw, name=name, fmt=fmt, section=section, encoding=encoding)
    return write_articles(store, batch, now=now, strict=strict, adjust=adjust, list_id=list_id)


def write_articles(
    store: Store,
    batch: ingest.ArticleBatch,
    *,
    now: datetime,
    strict: bool = False,
    feed_id: int | None = None,
    adjust: Callable[[Article], Article] | None = None,
    list_id: int | None = None,
) -> ImportReport:
    """Write a batch read by `ingest`: the good records in one transaction (none when
    `strict` and anything was rejected)."""
    problems = tuple(batch.rejected)
    warnings = tuple(batch.warnings)
    if strict and problems:
        return ImportReport(
            rejected=len(problems), problems=problems, aborted=True, warnings=warnings
        )
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    with store.transaction():
        for _, article in batch.articles:
            final = adjust(article) if adjust else article
            counts[store.upsert_article(final, now=now, feed_id=feed_id, list_id=list_id)] += 1
    return ImportReport(
        added=counts["added"],
        updated=counts["updated"],
        unchanged=counts["unchanged"],
        rejected=len(problems),
        problems=problems,
        warnings=warnings,
    )


IMPORT_CHUNK = 5000  # rows merged per batch of SQL: big enough to be fast, small to stay flat
KEEP_PROBLEMS = 1000  # rejected rows kept for the report; the rest are only counted
BULK_AFTER = 50_000  # rows written before the rest go in as a bulk write (Store.bulk_writes)


class _StrictAbort(Exception):
    """Raised inside the import's transaction to roll it back (--strict)."""


def import_subscribers(
    store: Store,
    data: str | Iterable[str],
    *,
    name: str,
    default_lists: Iterable[str] = (),
    now: datetime,
    strict: bool = False,
    check_dns: bool = False,
    resubscribe: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a subscribers CSV (the text, or a stream read as it goes). Re-importing
    merges list memberships; statuses that stop mail are kept (see
    `Store.merge_subscribers`) unless `resubscribe`.

    Each bad row is reported (row number and reason) and skipped, and so is an address
    that was removed at its owner's request (suppressed). Rows are checked and written
    a chunk at a time, so memory stays flat, all in one transaction: with `strict`,
    nothing is written unless every row is good. `progress` gets row counts, each row
    counted when checked and again when written.
    """
    defaults = tuple(default_lists)
    known = {lst.slug: lst for lst in store.lists()}
    for slug in defaults:
        if slug not in known:
            store.get_list(slug)  # raises with the known lists as a hint
    problems: list[InputError] = []
    warnings: list[str] = []  # the first KEEP_PROBLEMS, like problems
    counts = {"added": 0, "updated": 0, "unchanged": 0, "kept": 0, "rejected": 0}
    chunk: list[tuple[int, SubscriberImport]] = []
    consents: list[tuple[str, int, roster.ImportedConsent]] = []  # the chunk's records
    shapes: dict[tuple[object, ...], tuple[tuple[int, tuple[str, ...], str], ...]] = {}
    bulking = False  # past BULK_AFTER written rows: the rest go in as a bulk write

    def reject(problem: InputError) -> None:
        counts["rejected"] += 1
        if len(problems) < KEEP_PROBLEMS:
            problems.append(problem)

    def flush() -> None:
        nonlocal bulking
        suppressed = store.suppressed_among([item.subscriber.email for _, item in chunk])
        good = []
        for row, item in chunk:
            if item.subscriber.email in suppressed:
                reject(
                    InputError(
                        f"{name} row {row}: {item.subscriber.email} was removed at their"
                        " request; not re-added",
                        hint="only if they asked to come back: digest subscribers add --force",
                    )
                )
            else:
                good.append(item)
        if not (strict and counts["rejected"]):  # --strict: the rest is only checked
            if not bulking and counts["added"] + counts["updated"] >= BULK_AFTER:
                bulk.enter_context(store.bulk_writes())
                bulking = True
            merged = store.merge_subscribers(good, now=now, resubscribe=resubscribe)
            for key in ("added", "updated", "unchanged", "kept"):
                counts[key] += getattr(merged, key)
            if consents:  # kept as imported records: an import confirms nobody
                store.keep_imported_consents(
                    (c for c in consents if c[0] not in suppressed), now=now
                )
        if progress is not None:
            progress(len(chunk))
        chunk.clear()
        consents.clear()

    try:
        with store.transaction(), ExitStack() as bulk:
            for row in roster.iter_subscribers_csv(data, name=name, check_dns=check_dns):
                if progress is not None:
                    progress(1)
                if isinstance(row, InputError):
                    reject(row)
                    continue
                if row.warnings and len(warnings) < KEEP_PROBLEMS:
                    warnings.extend(row.warnings)
                shape = (row.lists, row.sections, row.list_status)
                memberships = shapes.get(shape)
                if memberships is None:  # a few distinct shapes repeat over the file
                    slugs = row.lists or defaults
                    missing = [s for s in slugs if s not in known]
                    if missing:
                        reject(
                            InputError(
                                f"{name} row {row.row} field 'lists': no list called"
                                f" {missing[0]!r}",
                                hint="create it first with `digest lists add`",
                            )
                        )
                        continue
                    memberships = tuple(
                        (int(known[s].id or 0), row.sections, row.list_status) for s in slugs
                    )
                    if len(shapes) < 10_000:
                        shapes[shape] = memberships
                chunk.append(
                    (row.row, SubscriberImport(row.subscriber, row.status, row.paused, memberships))
                )
                if row.consent is not None:
                    consents.extend(
                        (row.subscriber.email, list_id, row.consent)
                        for list_id, _, _ in memberships
                    )
                if len(chunk) >= IMPORT_CHUNK:
                    flush()
            if chunk:
                flush()
            if strict and counts["rejected"]:
                raise _StrictAbort
    except _StrictAbort:
        pass
    problems.sort(key=_row_number)
    if strict and counts["rejected"]:
        return ImportReport(
            rejected=counts["rejected"],
            problems=tuple(problems),
            aborted=True,
            warnings=tuple(warnings),
        )
    return ImportReport(
        added=counts["added"],
        updated=counts["updated"],
        unchanged=counts["unchanged"],
        rejected=counts["rejected"],
        problems=tuple(problems),
        kept=counts["kept"],
        warnings=tuple(warnings),
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
    moved: str = ""  # what a permanent redirect did, e.g. "moved permanently to URL; ..."


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
    A fetch that worked through a permanent redirect moves the feed to the new URL.
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
                moved = _follow_move(store, subscription, result.moved_to)
                store.record_feed_fetch(subscription.id, now=now())
                reports.append(
                    FeedReport(store.get_feed(subscription.id), "not modified", moved=moved)
                )
                continue
            batch = feed.read_feed(
                result.body,
                name=subscription.title or subscription.url,
                section=subscription.section or None,
                base_url=result.url or subscription.url,
                content_type=result.content_type,
            )
            report = write_articles(store, batch, now=now(), feed_id=subscription.id)
            warnings = tuple(_unnamed(w, subscription) for w in report.warnings)
            report = replace(report, warnings=warnings)
        except DigestError as exc:
            reason = _unnamed(exc.message, subscription)  # the report names the feed
            store.record_feed_fetch(subscription.id, now=now(), error=reason)
            reports.append(FeedReport(store.get_feed(subscription.id), "failed", reason, exc.hint))
            continue
        moved = _follow_move(store, subscription, result.moved_to)
        store.record_feed_fetch(
            subscription.id,
            now=now(),
            etag=result.etag,
            last_modified=result.last_modified,
            title=batch.title,
        )
        reports.append(
            FeedReport(store.get_feed(subscription.id), "ok", report=report, moved=moved)
        )
    return reports


def _unnamed(text: str, subscription: Feed) -> str:
    """`text` without the feed's URL or title in front: the report line names the feed."""
    for prefix in (subscription.url, subscription.title):
        if prefix and text.startswith(prefix + ": "):
            return text[len(prefix) + 2 :]
    return text


def _follow_move(store: Store, subscription: Feed, moved_to: str) -> str:
    """Store the URL a permanent redirect (301, 308) gave, so later fetches go there.

    A temporary one (302, 307) changes nothing. Returns what happened, for the report.
    """
    clean = sanitizer.http_url(moved_to) if moved_to else None
    if clean is None or clean == subscription.url:
        return ""
    assert subscription.id is not None
    if store.move_feed(subscription.id, clean):
        return f"moved permanently to {clean}; feed URL updated"
    return f"moved permanently to {clean}, which is already another feed; URL kept"
