"""Frozen dataclasses shared by every module. Datetimes are timezone-aware (UTC in storage)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time


@dataclass(frozen=True, slots=True)
class Article:
    url: str
    title: str
    published_at: datetime
    section: str = ""
    summary: str = ""
    body_html: str = ""
    author: str = ""
    source: str = ""
    image_url: str = ""
    image_alt: str = ""
    language: str = ""
    guid: str = ""
    id: int | None = None


# Article's stored and importable fields (all but id), in the order import files list them.
ARTICLE_FIELDS = (
    "url",
    "title",
    "section",
    "published_at",
    "summary",
    "body_html",
    "author",
    "source",
    "image_url",
    "image_alt",
    "language",
    "guid",
)
ARTICLE_FORMATS = ("json", "jsonl", "csv", "feed")  # what `articles import --format` takes


@dataclass(frozen=True, slots=True)
class NewsList:
    slug: str
    name: str
    from_addr: str = "digest@localhost"
    send_at: time = time(7, 0)
    timezone: str = "UTC"
    locale: str = "en"
    sections: tuple[str, ...] = ()
    address: str = ""
    # A list's own content: with `only_sections`, `sections` is a filter as well as an
    # order; with `languages`, only articles in those languages (BCP 47 prefixes).
    only_sections: bool = False
    languages: tuple[str, ...] = ()
    # The weekdays it sends on (Monday is 0, as date.weekday()); every day by default.
    days: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)
    signup: str = "closed"  # "open": readers may sign themselves up at /subscribe/<slug>
    # The list's own look (empty: the site's DIGEST_THEME_* value; `address` above too):
    # the name in the header and subject, a logo (https) and its WIDTHxHEIGHT, the accent
    # colour (#rrggbb) and a footer line.
    brand_name: str = ""
    logo_url: str = ""
    logo_size: str = ""
    accent: str = ""
    footer: str = ""
    # "required": no edition goes out (scheduler, --run-due, `digest send`) until it is
    # approved (`digest editions approve`); `editors` get a proof before the due moment.
    approval: str = "none"
    editors: tuple[str, ...] = ()
    id: int | None = None


SIGNUP_MODES = ("open", "closed")
APPROVAL_MODES = ("none", "required")


@dataclass(frozen=True, slots=True)
class Approval:
    """Who approved one edition, and when. An edit after it deletes it: approval is of
    the version the editor saw."""

    approved_by: str
    approved_at: datetime


@dataclass(frozen=True, slots=True)
class Signup:
    """A reader's sign-up to one list: the confirmation mail's ledger row and, once
    confirmed, the consent record of that subscription."""

    list_id: int
    email: str
    created_at: datetime
    form: str  # which form: "/subscribe/daily (page)" or "(json)"
    form_version: str  # hash of the form's text, so the wording they agreed to is known
    name: str = ""
    sections: tuple[str, ...] = ()
    locale: str = ""
    ip: str = ""  # truncated to /24 (IPv4) or /48 (IPv6)
    sent_at: datetime | None = None
    confirmed_at: datetime | None = None
    id: int | None = None
    bounced_at: datetime | None = None  # its confirmation hard-bounced before anyone confirmed
    bounce_reason: str = ""  # the DSN's status ("5.1.1") or "complaint"


SUBSCRIBER_STATUSES = ("active", "unsubscribed", "bounced", "complained")
LIST_STATUSES = ("active", "unsubscribed")  # a subscription's own status, per list


@dataclass(frozen=True, slots=True)
class Subscriber:
    email: str
    name: str = ""
    locale: str = ""
    timezone: str = ""
    status: str = "active"
    id: int | None = None


@dataclass(slots=True)  # not frozen: an import makes one per row, and frozen costs 3x
class SubscriberImport:
    """One row of a subscribers import, as the store merges it.

    Empty `status`, `paused_at` or membership status mean "not given": active for a new
    subscriber or subscription, and the stored value kept for an existing one.
    """

    subscriber: Subscriber  # its `status` is not used: see `status`
    status: str = ""
    paused_at: str = ""  # UTC ISO-8601, when the subscriber paused all mail
    memberships: tuple[tuple[int, tuple[str, ...], str], ...] = ()  # (list id, sections, status)


@dataclass(frozen=True, slots=True)
class Recipient:
    """An active subscriber of one list, with that subscription's section preferences."""

    subscriber: Subscriber
    sections: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    articles: tuple[Article, ...]


@dataclass(frozen=True, slots=True)
class Edition:
    news_list: NewsList
    date: date
    due_at: datetime
    window_start: datetime
    sections: tuple[Section, ...]
    # The editor's hand (`digest editions edit`): a note at the top (plain text or
    # Markdown), and a subject instead of the list's "Name — date"; `lead` the URL of the
    # story the editor chose to lead with (shown as the lead, with or without an image).
    note: str = ""
    subject: str = ""
    lead: str = ""

    @property
    def article_count(self) -> int:
        return sum(len(s.articles) for s in self.sections)

    @property
    def key(self) -> str:
        return f"{self.news_list.slug}/{self.date.isoformat()}"


@dataclass(frozen=True, slots=True)
class EditionEdits:
    """What an editor changed in one edition, stored beside it, never in the articles:
    article URLs (canonical) for the lead, the dropped and the pinned stories."""

    lead: str = ""
    drops: tuple[str, ...] = ()
    pins: tuple[str, ...] = ()
    note: str = ""
    subject: str = ""
    updated_at: datetime | None = None

    @property
    def empty(self) -> bool:
        return not (self.lead or self.drops or self.pins or self.note or self.subject)


@dataclass(frozen=True, slots=True)
class RenderedEdition:
    """Compiled once per edition and section set; `[[placeholders]]` filled per subscriber."""

    subject: str
    html: str
    text: str
    mjml: str
    sections: tuple[str, ...]
    locale: str
    dropped: tuple[str, ...] = ()  # URLs of articles the size budget cut to "N more" links


DELIVERY_STATES = ("queued", "sending", "sent", "deferred", "bounced", "failed", "skipped")
PENDING_STATES = ("queued", "sending", "deferred")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One ledger row: one edition for one subscriber, with who they are right now."""

    id: int
    edition_id: int
    subscriber: Subscriber
    status: str
    message_id: str
    attempts: int = 0
    last_reply: str = ""
    sections: tuple[str, ...] = ()
    # Why the subscriber may not get it, as read with the row ('' they may; None not read).
    suppressed: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    edition: str
    articles: int
    recipients: int
    sent: int = 0
    already_sent: int = 0
    skipped: int = 0
    failed: int = 0
    dry_run: bool = False
    elapsed: float = 0.0
    outbox: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    deferred: int = 0  # rows left deferred at the end of the run
    bounced: int = 0  # bounced in this run
    remaining: int = 0  # queued, sending or deferred at the end: the next run sends them
    stopped: str = ""  # why the run stopped early (a policy block, the server down)
    complete: bool = False  # nothing left to send for this edition
    rate: float = 0.0  # messages sent per second in this run
    empty: bool = False  # the edition had no articles, so nothing was sent (no --force)


@dataclass(frozen=True, slots=True)
class Subscription:
    """One subscriber's membership of one list: its status and section preferences."""

    subscriber: Subscriber
    news_list: NewsList
    status: str = "active"  # 'active' | 'unsubscribed'
    sections: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Feed:
    """A feed subscription: fetched by `digest feeds fetch`, its items become articles."""

    url: str
    section: str = ""
    list_slug: str = ""
    title: str = ""
    etag: str = ""
    last_modified: str = ""
    failures: int = 0  # consecutive failed fetches; a single blip is not a problem
    last_error: str = ""
    last_fetched_at: datetime | None = None
    last_ok_at: datetime | None = None
    id: int | None = None

    @property
    def name(self) -> str:
        return self.title or self.url


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One row of the events-out outbox: `body` is the exact JSON that is posted."""

    id: int
    event_id: str
    type: str
    body: str
    created_at: datetime
    status: str  # pending, delivered, failed
    attempts: int
    next_attempt_at: datetime
    give_up_at: datetime | None
    last_code: int | None
    last_error: str
    delivered_at: datetime | None
