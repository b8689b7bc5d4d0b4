"""The editor's proof of an edition: files for `digest preview`, the pages of `digest serve`
("preview as" a subscriber or a language, with checks) and the test copy they send.

Everything renders and personalises through the same steps as a real send (`pipeline`),
so what an editor sees is what lands in an inbox. Nothing here writes to the ledger.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from digest import ingest, issue, message
from digest.config import Settings
from digest.errors import InputError
from digest.models import Edition, NewsList, RenderedEdition, Subscriber
from digest.pipeline import dkim_key, envelope_for, load_edition, make_renderer, smtp_settings
from digest.render import PLACEHOLDER_RE
from digest.render.checks import Check, check_edition
from digest.secret import load_secret
from digest.sender import SmtpSender
from digest.store import Store

SAMPLE_READER = "reader@example.com"  # whom `digest preview --out` files are filled in for


def preview_edition(
    store: Store,
    settings: Settings,
    *,
    slug: str | None,
    day: date | None,
    now: datetime,
    out: Path,
) -> tuple[Edition, RenderedEdition, list[Path]]:
    """Write issue.html, issue.txt and issue.mjml for the edition into `out`, filled in for
    a sample subscriber (SAMPLE_READER, no name) as a send would fill them: the files show
    an address and working-looking links, never `[[email]]`.

    `day` None means today at `now` in the list's time zone.
    """
    news_list = store.pick_list(slug)
    day = day or issue.local_today(news_list, now)
    edition = load_edition(store, news_list, day)
    rendered = make_renderer(settings).render(edition)
    reader = Subscriber(email=SAMPLE_READER, name="", id=0)
    env = envelope_for(
        reader, news_list, day, settings=settings, secret=load_secret(settings.secret_file), now=now
    )
    values = {
        "name": "",
        "email": SAMPLE_READER,
        "unsubscribe_url": env.unsubscribe_url,
        "preferences_url": env.preferences_url,
    }
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, body in (("html", rendered.html), ("txt", rendered.text), ("mjml", rendered.mjml)):
        path = out / f"issue.{suffix}"
        path.write_text(
            PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), m.group(0)), body), encoding="utf-8"
        )
        paths.append(path)
    return edition, rendered, paths


@dataclass(frozen=True, slots=True)
class EditionPreview:
    """One edition as one subscriber (or, without one, the whole list) would get it."""

    edition: Edition
    rendered: RenderedEdition
    raw: bytes  # the full message, as message.build_message assembles it
    html: str  # the personalised parts, read back from `raw`
    text: str
    checks: list[Check]
    subscriber: Subscriber | None


def edition_days(store: Store, news_list: NewsList, today: date) -> list[date]:
    """Recorded editions, newest first, with the next two upcoming (today's and tomorrow's
    for a daily list; the next two of its `--days` otherwise) on top."""
    ahead = (today + timedelta(days=n) for n in range(15))
    upcoming = [d for d in ahead if issue.sends_on(news_list, d)][:2]
    days = {*upcoming, *store.edition_dates(news_list)}
    return sorted(days, reverse=True)


def preview_as(
    store: Store,
    settings: Settings,
    *,
    slug: str,
    day: date,
    subscriber_id: int | None = None,
    locale: str | None = None,
    now: datetime,
) -> EditionPreview:
    """Render the edition for a subscriber (their sections, name and language) or for all.

    Renders exactly as a send would and builds the real message, so the preview shows
    what lands in an inbox; `locale` overrides the subscriber's and the list's.
    """
    news_list, view, rendered, subscriber = _preview_view(
        store, settings, slug=slug, day=day, subscriber_id=subscriber_id, locale=locale
    )
    target = subscriber or Subscriber(email="editor@preview.invalid", name="", id=0)
    env = envelope_for(
        target, news_list, day, settings=settings, secret=load_secret(settings.secret_file), now=now
    )
    raw = message.build_message(message.compile_edition(rendered), env)
    html, text = _read_parts(raw)
    return EditionPreview(
        edition=view,
        rendered=rendered,
        raw=raw,
        html=html,
        text=text,
        checks=check_edition(view, rendered, html, base_url=settings.base_url),
        subscriber=subscriber,
    )


def _read_parts(raw: bytes) -> tuple[str, str]:
    """The HTML and text parts of a built message, decoded."""
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    parts = {
        part.get_content_type(): part.get_content()
        for part in parsed.walk()
        if not part.is_multipart()
    }
    return parts.get("text/html", ""), parts.get("text/plain", "")


TEST_SUBJECT_PREFIX = "[Test] "


def send_test(
    store: Store,
    settings: Settings,
    *,
    slug: str,
    day: date | None,
    to: str,
    subscriber_id: int | None = None,
    locale: str | None = None,
    now: datetime,
    smtp_url: str | None = None,
) -> str:
    """Send one test copy of what `preview_as` shows to `to`; record nothing. The note."""
    note, _ = send_test_checked(
        store,
        settings,
        slug=slug,
        day=day,
        to=to,
        subscriber_id=subscriber_id,
        locale=locale,
        now=now,
        smtp_url=smtp_url,
    )
    return note


def send_test_checked(
    store: Store,
    settings: Settings,
    *,
    slug: str,
    day: date | None,
    to: str,
    subscriber_id: int | None = None,
    locale: str | None = None,
    now: datetime,
    smtp_url: str | None = None,
) -> tuple[str, list[Check]]:
    """`send_test`, with the preview's checks of the copy sent (`digest send --to`).

    The same sections, language and name as the preview, signed like a real send, with
    "[Test] " before the subject. The copy is addressed to `to` only, and its links carry
    no subscriber's tokens: clicking "unsubscribe" in a test copy unsubscribes nobody.
    """
    address = ingest.normalize_email(to, where="test address")
    day = day or issue.local_today(store.get_list(slug), now)
    news_list, view, rendered, subscriber = _preview_view(
        store, settings, slug=slug, day=day, subscriber_id=subscriber_id, locale=locale
    )
    marked = replace(rendered, subject=TEST_SUBJECT_PREFIX + rendered.subject)
    data = _send_copy(
        settings, news_list, day, marked, address, subscriber, now=now, smtp_url=smtp_url
    )
    checks = check_edition(view, rendered, _read_parts(data)[0], base_url=settings.base_url)
    return f"test copy sent to {address}; nothing recorded", checks


PROOF_SUBJECT_PREFIX = "[Proof] "


def send_proof(
    store: Store,
    settings: Settings,
    *,
    slug: str,
    day: date,
    to: str,
    now: datetime,
    smtp_url: str | None = None,
) -> str:
    """Mail an editor the proof of an edition: the whole edition in the list's language,
    through the test-copy path (nothing in the ledger, no subscriber's tokens), subject
    marked "[Proof] ", with the preview's checks summarised above the edition."""
    address = ingest.normalize_email(to, where="editor address")
    shown = preview_as(store, settings, slug=slug, day=day, now=now)
    news_list = store.get_list(slug)
    banner_html, banner_text = proof_banner(shown.checks, news_list, day)
    rendered = shown.rendered
    marked = replace(
        rendered,
        subject=PROOF_SUBJECT_PREFIX + rendered.subject,
        html=_after_body_tag(rendered.html, banner_html),
        text=banner_text + rendered.text,
    )
    _send_copy(settings, news_list, day, marked, address, None, now=now, smtp_url=smtp_url)
    return f"proof sent to {address}; nothing recorded"


def proof_banner(checks: list[Check], news_list: NewsList, day: date) -> tuple[str, str]:
    """The checks in a few lines, as HTML and as text: what to look at before approving."""
    bad = [c for c in checks if not c.ok]
    head = f"Proof of {news_list.slug}/{day.isoformat()}: " + (
        f"{len(bad)} of {len(checks)} checks need a look"
        if bad
        else f"all {len(checks)} checks pass"
    )
    approve = f"digest editions approve {news_list.slug} {day.isoformat()}"
    lines = [f"{'✓' if c.ok else '✗'} {c.name}: {c.summary}" for c in checks]
    text = "\n".join([head, *lines, f"Approve it with: {approve}", "-" * 40, "", ""])
    items = "".join(
        f'<li style="color:{"#137333" if c.ok else "#b3261e"}">'
        f"{html.escape(('✓ ' if c.ok else '✗ ') + c.name)}: {html.escape(c.summary)}</li>"
        for c in checks
    )
    banner = (
        '<div class="proof-checks" style="font:14px/1.4 sans-serif;background:#fff8e1;'
        'border:2px solid #f9a825;padding:8px 12px;margin:8px;color:#1f1f1f">'
        f'<strong>{html.escape(head)}</strong><ul style="margin:4px 0;padding-left:20px">'
        f"{items}</ul><div>Approve it with: <code>{html.escape(approve)}</code></div></div>"
    )
    return banner, text


def _after_body_tag(document: str, block: str) -> str:
    match = re.search(r"<body[^>]*>", document, flags=re.IGNORECASE)
    if match is None:
        return block + document
    return document[: match.end()] + block + document[match.end() :]


def _send_copy(
    settings: Settings,
    news_list: NewsList,
    day: date,
    rendered: RenderedEdition,
    address: str,
    subscriber: Subscriber | None,
    *,
    now: datetime,
    smtp_url: str | None,
) -> bytes:
    """One copy to `address`, signed like a real send, with a stand-in's links: the
    message as sent."""
    stand_in = Subscriber(email=address, name=subscriber.name if subscriber else "", id=0)
    secret = load_secret(settings.secret_file)
    env = envelope_for(stand_in, news_list, day, settings=settings, secret=secret, now=now)
    data = message.build_message(
        message.compile_edition(rendered), env, dkim_key(settings, news_list)
    )
    with SmtpSender(smtp_settings(settings, smtp_url)) as sender:
        sender.send(news_list.from_addr, message.ascii_address(address), data)
    return data


def _preview_view(
    store: Store,
    settings: Settings,
    *,
    slug: str,
    day: date,
    subscriber_id: int | None,
    locale: str | None,
) -> tuple[NewsList, Edition, RenderedEdition, Subscriber | None]:
    """The list, the edition as the subscriber gets it (or whole), rendered in the chosen
    language (`locale`, else the subscriber's, else the list's), and the subscriber."""
    news_list = store.get_list(slug)
    edition = load_edition(store, news_list, day)
    recipient = None
    if subscriber_id is not None:
        recipient = store.recipient(news_list, subscriber_id)  # one row, not a list scan
        if recipient is None:
            raise InputError(
                f"subscriber {subscriber_id} does not get {news_list.slug}",
                hint="pick a subscriber of this list",
            )
    view = issue.select_sections(edition, recipient.sections) if recipient else edition
    subscriber = recipient.subscriber if recipient else None
    chosen = locale or (subscriber.locale if subscriber else "") or news_list.locale
    return news_list, view, make_renderer(settings).render(view, locale=chosen), subscriber
