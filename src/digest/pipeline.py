"""Orchestration shared by the CLI, the scheduler and the web app."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digest import issue, message, timetable
from digest.clock import Clock
from digest.config import MIN_KEEP_DAYS, Settings
from digest.delivery import DeliveryRun, Progress, RetryPolicy, SendLock
from digest.errors import ConfigError, InputError

# Data in (imports, feeds) lives in `intake`; callers use it as pipeline.*, like the rest.
# It is loaded on first use (`__getattr__` below): it brings feedparser and email-validator,
# which `digest send` never needs and which cost a third of its start-up.
if TYPE_CHECKING:
    from digest.intake import FLAG_AFTER_FAILURES as FLAG_AFTER_FAILURES
    from digest.intake import FeedReport as FeedReport
    from digest.intake import ImportReport as ImportReport
    from digest.intake import add_feed as add_feed
    from digest.intake import add_subscriber as add_subscriber
    from digest.intake import fetch_feeds as fetch_feeds
    from digest.intake import import_articles as import_articles
    from digest.intake import import_subscribers as import_subscribers
    from digest.intake import write_articles as write_articles
    from digest.render import Renderer
from digest.models import (
    PENDING_STATES,
    Approval,
    Delivery,
    DeliveryReport,
    Edition,
    EditionEdits,
    NewsList,
    Recipient,
    Subscriber,
)
from digest.render import Theme
from digest.secret import load_secret, make_token, make_verp_token, verp_address
from digest.sender import SmtpSettings
from digest.store import Store

_INTAKE = frozenset(
    {
        "FLAG_AFTER_FAILURES",
        "FeedReport",
        "ImportReport",
        "add_feed",
        "add_subscriber",
        "fetch_feeds",
        "import_articles",
        "import_subscribers",
        "write_articles",
    }
)


def __getattr__(name: str) -> Any:
    """pipeline.import_articles and the rest of `intake`, imported when first asked for."""
    if name in _INTAKE:
        from digest import intake

        return getattr(intake, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_store(settings: Settings) -> Store:
    """The existing database: only `init_project` creates one (StoreError names the path)."""
    return Store.open(
        settings.db,
        create=False,
        busy_timeout=settings.busy_timeout,
        events=bool(settings.webhook_url),
    )


def init_project(settings: Settings) -> tuple[Path, Path]:
    """Create the database (migrated) and the secret file; safe to run again."""
    Store.open(settings.db, create=True, busy_timeout=settings.busy_timeout).close()
    load_secret(settings.secret_file)
    return settings.db, settings.secret_file


# -- editions -----------------------------------------------------------------------------


def next_edition(store: Store, news_list: NewsList, now: datetime) -> Edition:
    """The list's next edition to go out at `now`: of the first sending day from today
    (in the list's zone) whose edition has not begun going out, as its editor shaped it
    and with what has been published so far."""
    day = issue.local_today(news_list, now)
    for ahead in range(15):
        candidate = day + timedelta(days=ahead)
        if (
            issue.sends_on(news_list, candidate)
            and store.find_edition(news_list, candidate) is None
        ):
            return load_edition(store, news_list, candidate)
    return load_edition(store, news_list, day)  # no days at all: cannot be stored


def load_edition(store: Store, news_list: NewsList, day: date, *, edited: bool = True) -> Edition:
    """The list's edition for `day`, as its editor shaped it (`edited=False`: as built)."""
    start, end = issue.edition_window(news_list, day)
    articles = store.articles_between(start, end, news_list=news_list)
    built = issue.build_edition(articles, news_list=news_list, day=day)
    return issue.apply_edits(built, store.edition_edits(news_list, day)) if edited else built


def edit_edition(
    store: Store,
    *,
    slug: str,
    day: date,
    now: datetime,
    lead: str | None = None,
    drops: tuple[str, ...] | None = None,
    pins: tuple[str, ...] | None = None,
    note: str | None = None,
    subject: str | None = None,
    clear: bool = False,
) -> tuple[EditionEdits, Approval | None]:
    """Change the editor's edits of one edition; None leaves a field as it is, and `clear`
    starts from none. Articles are named by URL or id and must be in the edition (as
    built). Refused once the edition began going out: its readers would differ.

    Returns the edits and, when they changed anything in an approved edition, the
    approval they withdrew (approval is of a version: see `approval`)."""
    from digest import ingest

    news_list = store.get_list(slug)
    issue.refuse_unsent_day(news_list, day)
    built = load_edition(store, news_list, day, edited=False)
    if store.find_edition(news_list, day) is not None:
        raise InputError(
            f"{built.key} began going out: it can no longer be edited",
            hint="edit an edition before it is sent (`digest editions show` shows the edits)",
        )
    held = {a.url for s in built.sections for a in s.articles}

    def resolve(ref: str, where: str) -> str:
        url = store.get_article(ref).url
        if url not in held:
            raise InputError(
                f"{where}: {ref} is not in {built.key}",
                hint=f"see `digest editions show {slug} {day.isoformat()}` for its stories",
            )
        return url

    changes: dict[str, Any] = {}
    if lead is not None:
        changes["lead"] = resolve(lead, "--lead") if lead else ""
    if drops is not None:
        changes["drops"] = tuple(dict.fromkeys(resolve(d, "--drop") for d in drops))
    if pins is not None:
        changes["pins"] = tuple(dict.fromkeys(resolve(p, "--pin") for p in pins))
    if note is not None:
        changes["note"] = ingest.check_text(note, where="--note", multiline=True, limit=5000)
    if subject is not None:
        changes["subject"] = ingest.check_text(subject, where="--subject", limit=200)
    edits = replace(EditionEdits() if clear else store.edition_edits(news_list, day), **changes)
    if edits.lead and edits.lead in edits.drops:
        raise InputError(f"--lead {edits.lead} is also dropped", hint="drop it or lead with it")
    both = [url for url in edits.pins if url in edits.drops]
    if both:
        raise InputError(f"{both[0]} is both pinned and dropped", hint="give it one of them")
    return store.save_edition_edits(news_list, day, replace(edits, updated_at=None), now=now)


def check_list_locale(settings: Settings, name: str, *, where: str = "--locale") -> str:
    """Refuse a locale nobody knows; a warning ('' if none) for one without a catalogue."""
    from digest.render import theme_folders
    from digest.render.language import check_locale  # Babel: loaded only when asked

    return check_locale(name, theme_folders(settings.templates), where=where)


def make_renderer(settings: Settings) -> Renderer:
    from digest.render import Renderer  # Jinja2 and MJML: loaded when there is something to render

    return Renderer(settings.templates, make_theme(settings), budget=settings.html_budget_kb * 1024)


def make_theme(settings: Settings) -> Theme:
    return Theme(
        base_url=settings.base_url,
        name=settings.theme_name,
        logo_url=settings.theme_logo_url,
        logo_size=settings.theme_logo_size,
        accent=settings.theme_accent,
        footer=settings.theme_footer,
        address=settings.theme_address,
    )


class _EditionCache:
    """Render once per (section set, locale), never once per subscriber."""

    def __init__(self, renderer: Renderer, edition: Edition) -> None:
        self.renderer = renderer
        self.edition = edition
        self._compiled: dict[tuple[tuple[str, ...], str], message.CompiledEdition] = {}
        self._empty: dict[tuple[str, ...], bool] = {}

    def get(self, sections: tuple[str, ...], locale: str) -> message.CompiledEdition:
        key = (tuple(sorted(s.casefold() for s in sections)), locale)
        if key not in self._compiled:
            view = issue.select_sections(self.edition, sections)
            self._compiled[key] = message.compile_edition(self.renderer.render(view, locale=locale))
        return self._compiled[key]

    def nothing_for(self, sections: tuple[str, ...]) -> bool:
        """Whether a section choice leaves nothing of this edition (decided once per set)."""
        if sections not in self._empty:
            view = issue.select_sections(self.edition, sections)
            self._empty[sections] = bool(sections) and not view.sections
        return self._empty[sections]


def envelope_for(
    subscriber: Subscriber,
    news_list: NewsList,
    day: date,
    *,
    settings: Settings,
    secret: bytes,
    now: datetime,
    message_id: str = "",
) -> message.Envelope:
    assert subscriber.id is not None and news_list.id is not None
    domain = news_list.from_addr.rpartition("@")[2]
    base = settings.base_url.rstrip("/")
    unsub = make_token(secret, "unsubscribe", subscriber.id, news_list.id)
    prefs = make_token(secret, "preferences", subscriber.id, news_list.id)
    mailto = settings.unsubscribe_mailto
    return message.Envelope(
        to_addr=subscriber.email,
        to_name=subscriber.name,
        from_addr=news_list.from_addr,
        from_name=news_list.name,
        message_id=message_id
        or message.message_id(news_list.slug, day.isoformat(), subscriber.id, domain),
        date=now,
        list_id=_list_id(news_list.name, news_list.slug, domain),
        unsubscribe_url=f"{base}/u/{unsub}",
        preferences_url=f"{base}/p/{prefs}",
        unsubscribe_mailto=message.unsubscribe_mailto(mailto, unsub) if mailto else "",
        feedback_id=(
            f"{day.isoformat()}:{news_list.slug}:digest:{settings.feedback_id}"
            if settings.feedback_id
            else ""
        ),
    )


@functools.lru_cache(maxsize=64)
def _list_id(name: str, slug: str, domain: str) -> str:
    """The List-Id, once per list: IDNA costs ~50 µs for an internationalised domain."""
    return message.list_id(name, slug, domain)


def dkim_key(settings: Settings, news_list: NewsList) -> message.DkimKey | None:
    """The DKIM key from settings, or None when signing is not configured."""
    if settings.dkim_key_file is None:
        return None
    if not settings.dkim_selector:
        raise ConfigError(
            "DIGEST_DKIM_KEY_FILE is set but DIGEST_DKIM_SELECTOR is not",
            hint="set the selector published in DNS as <selector>._domainkey.<domain>",
        )
    try:
        pem = settings.dkim_key_file.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read DKIM key {settings.dkim_key_file}: {exc.strerror}",
            hint="check DIGEST_DKIM_KEY_FILE",
        ) from None
    domain = settings.dkim_domain or news_list.from_addr.rpartition("@")[2]
    return message.DkimKey(private_key=pem, selector=settings.dkim_selector, domain=domain)


def require_base_url(settings: Settings) -> None:
    """Real mail needs links its readers can open: refuse while DIGEST_BASE_URL is unset.

    Without it every unsubscribe and preferences link would point at the loopback
    default, and Gmail and Yahoo require a working one-click unsubscribe. Dry runs,
    test copies and the demo go on with the default.
    """
    if not settings.base_url_set:
        raise ConfigError(
            f"DIGEST_BASE_URL is not set: real mail would link to {settings.base_url}, "
            "which no reader can open",
            hint="set DIGEST_BASE_URL to the public https origin of `digest serve --public`, "
            "e.g. https://news.example.com (--dry-run and --to work without it)",
        )


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        base=settings.retry_base, maximum=settings.retry_max, window=settings.retry_window
    )


def send_edition(
    store: Store,
    settings: Settings,
    *,
    slug: str | None,
    day: date | None,
    clock: Clock,
    dry_run: bool = False,
    force: bool = False,
    smtp_url: str | None = None,
    zone: str | None = None,
    stop: Callable[[], bool] | None = None,
    progress: Progress | None = None,
) -> DeliveryReport:
    """Send the list's edition for `day` to every subscriber who does not have it yet.

    The delivery ledger holds one row per subscriber (see `delivery`); running again
    sends only what is left. `dry_run` writes .eml files to the outbox and records nothing
    (a test copy is `proof.send_test`). Raises BusyError when another
    sender runs.

    `zone` (the scheduler's per-zone batches) sends only to the recipients whose time
    zone (theirs, else the list's) is `zone`, with the edition's window ending at the
    send time in that zone. `stop` is asked before each message; when it says so, the
    run ends there (what was sent is recorded) and a later run resumes it. `progress`
    is called with (finished, total, note). `clock` is the only source of time; `day`
    None means today in the list's time zone.
    """
    started = clock.monotonic()
    if not dry_run:
        require_base_url(settings)
    news_list = store.pick_list(slug)
    list_zone = news_list.timezone
    if day is None:
        day = issue.local_today(news_list, clock.now())
    issue.refuse_unsent_day(news_list, day)  # `--days`: no edition on the other days
    if not dry_run:
        from digest.approval import require_approval

        require_approval(store, news_list, day)  # `--approval required`: approved first
    if zone is not None:
        news_list = replace(news_list, timezone=zone)
    edition = load_edition(store, news_list, day)
    pruned = None if dry_run else store.edition_pruned(news_list, day)
    if pruned:
        raise InputError(
            f"the ledger of {edition.key} was pruned on {pruned[:10]}: nothing says who"
            " already has it, so it cannot be sent again",
            hint="only editions newer than DIGEST_LEDGER_KEEP_DAYS can be sent or resumed",
        )
    report = DeliveryReport(edition=edition.key, articles=edition.article_count, recipients=0)
    if edition.article_count == 0 and not force:
        return replace(
            report,
            empty=True,
            notes=("no articles in this edition; nothing sent (--force sends it anyway)",),
        )
    secret = load_secret(settings.secret_file)
    cache = _EditionCache(make_renderer(settings), edition)
    dkim = dkim_key(settings, news_list)
    smtp = smtp_settings(settings, smtp_url)

    if dry_run:
        settings.outbox.mkdir(parents=True, exist_ok=True)
        written = 0
        for recipient in _recipients(store, news_list, list_zone, zone):
            sub = recipient.subscriber
            env = envelope_for(
                sub, news_list, day, settings=settings, secret=secret, now=clock.now()
            )
            data = message.build_message(
                cache.get(recipient.sections, sub.locale or news_list.locale), env, dkim
            )
            (settings.outbox / f"{news_list.slug}-{day}-{sub.id}.eml").write_bytes(data)
            written += 1
        return replace(
            report,
            recipients=written,
            dry_run=True,
            outbox=str(settings.outbox),
            elapsed=clock.monotonic() - started,
        )

    with SendLock(settings.db):
        return _send_to_ledger(
            store,
            settings,
            news_list=news_list,
            edition=edition,
            cache=cache,
            secret=secret,
            dkim=dkim,
            smtp=smtp,
            clock=clock,
            progress=progress,
            started=started,
            zone_filter=_zone_filter(list_zone, zone),
            stop=stop,
        )


def _zone_filter(list_zone: str, zone: str | None) -> Callable[[str], bool] | None:
    """Whether a subscriber's time zone belongs to this batch (None: every zone does)."""
    if zone is None:
        return None
    return lambda own: timetable.effective_zone(own, list_zone) == zone


def _send_to_ledger(
    store: Store,
    settings: Settings,
    *,
    news_list: NewsList,
    edition: Edition,
    cache: _EditionCache,
    secret: bytes,
    dkim: message.DkimKey | None,
    smtp: SmtpSettings,
    clock: Clock,
    progress: Progress | None,
    started: float,
    zone_filter: Callable[[str], bool] | None,
    stop: Callable[[], bool] | None,
) -> DeliveryReport:
    day = edition.date
    assert news_list.id is not None
    edition_id = store.ensure_edition(
        news_list,
        day,
        due_at=edition.due_at,
        subject=cache.get((), news_list.locale).subject,
        article_count=edition.article_count,
        now=clock.now(),
    )
    domain = news_list.from_addr.rpartition("@")[2]
    store.queue_deliveries(
        edition_id,
        news_list,
        message_id=lambda sid: message.message_id(news_list.slug, day.isoformat(), sid, domain),
        zone_filter=zone_filter,
        zone=None if zone_filter is None else news_list.timezone,  # send_edition set it
        now=clock.now(),
    )
    include = None if zone_filter is None else lambda d: zone_filter(d.subscriber.timezone)
    already = store.delivery_counts(edition_id, include).get("sent", 0)

    def build(delivery: Delivery) -> bytes | None:
        sub = delivery.subscriber
        if cache.nothing_for(delivery.sections):
            return None
        compiled = cache.get(delivery.sections, sub.locale or news_list.locale)
        env = envelope_for(
            sub,
            news_list,
            day,
            settings=settings,
            secret=secret,
            now=clock.now(),
            message_id=delivery.message_id,
        )
        return message.build_wire(compiled, env, dkim)

    run_started = clock.monotonic()
    tally = DeliveryRun(
        store,
        edition_id=edition_id,
        list_id=news_list.id,
        from_addr=message.ascii_address(news_list.from_addr),
        smtp=smtp,
        build=build,
        deadline=issue.edition_due(news_list, day + timedelta(days=1)),
        policy=retry_policy(settings),
        clock=clock,
        soft_bounce_limit=settings.soft_bounce_limit,
        progress=progress,
        include=include,
        stop=stop,
        envelope_from=_verp(settings, secret),
        wire=True,
    ).run()
    sending_time = max(clock.monotonic() - run_started, 1e-9)
    counts = store.delivery_counts(edition_id, include)
    if counts.get("sent"):
        store.mark_went_out(edition_id)
    remaining = sum(counts.get(s, 0) for s in PENDING_STATES)
    notes = list(tally.notes)
    if tally.expired:
        notes.append(
            f"{tally.expired} deferred messages given up (failed): retried until the next"
            " edition was due, or for DIGEST_RETRY_WINDOW after they were first deferred"
        )
    if counts.get("deferred"):
        notes.append(_retry_hint(store, edition_id, counts["deferred"], clock.now()))
    if already and already == sum(counts.values()) - counts.get("skipped", 0):
        notes.append("every subscriber already has this edition; nothing sent twice")
    return DeliveryReport(
        edition=edition.key,
        articles=edition.article_count,
        recipients=sum(counts.values()),
        sent=tally.sent,
        already_sent=already,
        skipped=tally.skipped,
        failed=tally.failed + tally.expired,
        bounced=tally.bounced,
        deferred=counts.get("deferred", 0),
        remaining=remaining,
        stopped=tally.stopped,
        complete=remaining == 0 and not tally.stopped,
        rate=tally.sent / sending_time,
        elapsed=clock.monotonic() - started,
        notes=tuple(notes),
    )


def _verp(settings: Settings, secret: bytes) -> Callable[[Delivery], str] | None:
    """With DIGEST_BOUNCE_ADDRESS, each message's envelope sender names its ledger row."""
    if not settings.bounce_address:
        return None
    bounce_address = settings.bounce_address

    def envelope_from(delivery: Delivery) -> str:
        assert delivery.subscriber.id is not None
        token = make_verp_token(secret, delivery.edition_id, delivery.subscriber.id)
        return verp_address(bounce_address, token)

    return envelope_from


def _retry_hint(store: Store, edition_id: int, deferred: int, now: datetime) -> str:
    """What the next run will do with the deferred rows: from when, and until when."""
    span = store.deferred_span(edition_id)
    assert span is not None
    first_retry, until = span
    when = "now" if first_retry <= now else f"from {first_retry:%Y-%m-%d %H:%M:%S} UTC"
    return (
        f"{deferred} deferred by the server; a later `digest send` retries them {when}"
        f" until {until:%Y-%m-%d %H:%M} UTC, then gives them up"
    )


def _recipients(
    store: Store, news_list: NewsList, list_zone: str, zone: str | None
) -> Iterator[Recipient]:
    """The list's recipients, or only those whose effective time zone is `zone`."""
    for recipient in store.recipients(news_list):
        own = recipient.subscriber.timezone
        if zone is None or timetable.effective_zone(own, list_zone) == zone:
            yield recipient


@dataclass(frozen=True, slots=True)
class PruneReport:
    before: date  # editions dated before this day were folded
    editions: int
    rows: int
    pending: int  # old editions left alone: rows still queued or deferred
    events: int = 0  # events out delivered before the same day, dropped from the outbox
    edits: int = 0  # editors' edits of old editions that never went out, forgotten
    approvals: int = 0  # approvals of old editions that never went out, forgotten
    proofs: int = 0  # proofs mailed to editors for old editions, forgotten
    missed: int = 0  # missed-approval notes of old editions that never went out
    missed_slots: int = 0  # notes of old slots missed for good (their warning was logged)


def prune_ledger(
    store: Store, settings: Settings, *, now: datetime, keep_days: int | None = None
) -> PruneReport:
    """Fold the per-subscriber ledger rows of editions older than `keep_days` (default
    DIGEST_LEDGER_KEEP_DAYS) into per-edition counts by status.

    Kept: every edition (date, subject, article count) and its counts; every
    subscriber's status (bounced, complained, unsubscribed) and the suppression list,
    which is what stops mail; the whole ledger of the last `keep_days` days, which is
    what dedup, retries, catch-up runs and the hourly limit read; the editors' edits of
    every edition that went out (the archive shows them) and their approvals (who let
    them go). Gone: who got which old edition, its Message-ID and the server's reply,
    the edits, approvals and missed-approval notes of old editions that never went out,
    the proofs of every old edition, and the events out delivered more than `keep_days`
    ago (failed and pending ones stay).
    """
    keep = settings.ledger_keep_days if keep_days is None else keep_days
    if keep < MIN_KEEP_DAYS:
        raise InputError(
            f"cannot prune editions younger than {MIN_KEEP_DAYS} days (asked: {keep})",
            hint="retries, catch-up runs and late bounces need the recent ledger",
        )
    before = now.date() - timedelta(days=keep)
    editions, rows, pending = store.prune_ledger(before=before, now=now)
    edits = store.prune_edition_edits(before=before)
    approvals, proofs, missed = store.prune_edition_approvals(before=before)
    missed_slots = store.prune_missed_slots(before=before)
    events = store.prune_webhook_events(before=now - timedelta(days=keep))
    return PruneReport(
        before=before,
        editions=editions,
        rows=rows,
        pending=pending,
        edits=edits,
        events=events,
        approvals=approvals,
        proofs=proofs,
        missed=missed,
        missed_slots=missed_slots,
    )


def smtp_settings(settings: Settings, smtp_url: str | None) -> SmtpSettings:
    return SmtpSettings.from_url(
        smtp_url or settings.smtp_url,
        password=settings.smtp_password,
        ca_file=settings.smtp_ca_file,
    )


def bounce_report(store: Store) -> dict[str, Any]:
    """Hard, soft and complaint counts from the bounce mailbox: per edition, per domain."""
    rows = store.bounce_counts()
    kinds = ("hard", "soft", "complaints")

    def fold(name_of: Callable[[dict[str, Any]], str]) -> list[dict[str, Any]]:
        groups: dict[str, dict[str, Any]] = {}
        for row in rows:
            name = name_of(row)
            group = groups.setdefault(name, {"name": name, **dict.fromkeys(kinds, 0)})
            for kind in kinds:
                group[kind] += int(row[kind] or 0)
        return list(groups.values())

    editions = fold(lambda r: f"{r['list']}/{r['date']}" if r["date"] else "-")
    domains = sorted(
        fold(lambda r: r["domain"] or "-"), key=lambda g: (-sum(g[k] for k in kinds), g["name"])
    )
    total = {k: sum(int(r[k] or 0) for r in rows) for k in kinds}
    return {"editions": editions, "domains": domains, "total": total}
