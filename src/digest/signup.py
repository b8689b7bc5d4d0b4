"""Readers signing themselves up: double opt-in, from the form to the confirmed subscription.

1. `request_signup` checks the form's fields and writes a sign-up row, unless this
   address asked for this list less than DIGEST_SIGNUP_RESEND ago (then nothing is
   written: one confirmation mail an hour at most, whoever keeps submitting the form).
2. `send_confirmations` sends every unsent row's confirmation mail and marks it sent:
   written first, claimed, sent, then marked, so a crash loses none and two sign-ups at
   once never send one row twice; the next sign-up, `digest signups send` and every
   `digest send` / `digest schedule` round (`send_pending`) send what an earlier crash
   or a refusing server left. The mail carries nothing the reader typed (not the
   name), only the list's name and the signed link. Its envelope sender is
   DIGEST_BOUNCE_ADDRESS's VERP form naming the row (bounces+sID.MAC@) when set, so a
   hard bounce marks the sign-up undeliverable (bouncebox) and no further
   confirmation goes to that address.
3. `confirm` (from the POST of the confirmation page, never a GET) makes the reader an
   active subscriber of that list with the sections they chose; with
   DIGEST_SIGNUP_WELCOME=on a welcome mail falls due on the same row and
   `send_welcomes` sends it with the same ledger steps.

The mails themselves (their text, headers, DKIM and tokens) are `signup_mail`'s.

Whether the address was known already changes none of this: the same rows, the same
mail, the same answer, so the form cannot be used to find out who subscribes.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from datetime import datetime, timedelta

from digest import ingest, message
from digest.config import Settings
from digest.errors import DigestError, InputError, NotFoundError
from digest.models import NewsList, Signup, Subscriber
from digest.pipeline import smtp_settings
from digest.secret import MAX_TOKEN_LENGTH, load_secrets, read_token
from digest.sender import SmtpSender
from digest.signup_mail import (
    PURPOSE,
    MailPages,
    build_confirmation,
    build_welcome,
    envelope_from,
)
from digest.store import Store

log = logging.getLogger("digest.signup")
CLAIM_STALE = timedelta(minutes=5)  # a claimed row not marked sent by then is taken again


def truncate_ip(host: str) -> str:
    """The client address as the consent record keeps it: its /24 (IPv4) or /48 (IPv6)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return ""
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def form_version(text: str) -> str:
    """A short hash of the form's wording: which text the reader agreed to."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


WAIT_UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))


def resend_wait(seconds: float) -> tuple[int, str] | None:
    """DIGEST_SIGNUP_RESEND as the form's answer says it: (amount, unit), e.g. (90, "minute"),
    never shorter than it is: in the largest unit it is a whole number of (rounded up to
    the minute beyond a minute). Babel's format_timedelta would round (90 minutes would
    read "2 hours") and has only the nominative (Arabic "ساعتان" where "بعد" wants
    "ساعتين"), so the page's catalogue says the whole sentence, one plural message per
    unit. None for no wait at all."""
    whole = math.ceil(seconds)
    if whole <= 0:
        return None
    if whole > 60:
        whole = math.ceil(whole / 60) * 60
    for size, unit in WAIT_UNITS:
        if whole % size == 0:
            return whole // size, unit
    raise AssertionError("unreachable: every whole number of seconds divides by 1")


def request_signup(
    store: Store,
    settings: Settings,
    news_list: NewsList,
    *,
    email: object,
    name: object = "",
    sections: Iterable[object] = (),
    locale: str = "",
    form: str,
    version: str,
    ip: str,
    now: datetime,
) -> Signup | None:
    """Record a sign-up (raises InputError for a bad address); None inside the resend limit
    and for an address whose earlier sign-up mail hard-bounced (nothing is mailed to it)."""
    if not isinstance(email, str) or not email.strip():
        raise InputError("no email address given", hint="fill in the email field")
    address = ingest.normalize_email(email.strip(), where="email")
    clean_name = ingest.check_text(name if isinstance(name, str) else "", where="name", limit=200)
    chosen = {str(s) for s in sections}
    wanted = tuple(s for s in news_list.sections if s in chosen)
    if len(wanted) == len(news_list.sections):
        wanted = ()  # every section: the whole edition, new sections included
    assert news_list.id is not None
    since = now - timedelta(seconds=settings.signup_resend)
    with store.transaction():
        if store.recent_signup(address, news_list.id, since=since) is not None:
            return None
        if store.signups_undeliverable(address):
            return None  # a sign-up mail to it bounced: no more (the answer is the same)
        return store.add_signup(
            Signup(
                list_id=news_list.id,
                email=address,
                name=clean_name,
                sections=wanted,
                locale=locale,
                form=form,
                form_version=version,
                ip=ip,
                created_at=now,
            )
        )


def read_confirm_token(settings: Settings, token: str, *, now: datetime) -> int | None:
    """The sign-up id of a genuine confirmation token, else None."""
    if len(token) > MAX_TOKEN_LENGTH:
        return None
    found = read_token(load_secrets(settings.secret_file, now=now), PURPOSE, token)
    return None if found is None else found[0]


def expired(settings: Settings, signup: Signup, *, now: datetime) -> bool:
    return now - signup.created_at > timedelta(seconds=settings.signup_expiry)


def send_pending(store: Store, settings: Settings, *, now: datetime) -> tuple[int, int]:
    """`send_confirmations` and `send_welcomes` with the subscriber pages' catalogues (the
    form's and the mail's), for the rounds of `digest send` and `digest schedule`."""
    from digest.web.pages import Pages

    pages = Pages(settings.templates)
    sent, left = send_confirmations(store, settings, pages, now=now)
    welcomed, waiting = send_welcomes(store, settings, pages, now=now)
    return sent + welcomed, left + waiting


def send_confirmations(
    store: Store, settings: Settings, pages: MailPages, *, now: datetime
) -> tuple[int, int]:
    """Send every unsent, unexpired confirmation; (sent, left). SMTP failures are logged:
    the rows stay unsent for the next try, and no reader is told anything different."""
    pending = store.unsent_signups(since=now - timedelta(seconds=settings.signup_expiry))
    if not pending:
        return 0, 0
    sent = 0
    lists: dict[int, NewsList | None] = {}
    try:
        with SmtpSender(smtp_settings(settings, None)) as sender:
            for signup in pending:
                if signup.list_id not in lists:
                    lists[signup.list_id] = store.get_list_by_id(signup.list_id)
                news_list = lists[signup.list_id]
                assert signup.id is not None
                if news_list is None or not store.claim_signup(
                    signup.id, now=now, stale=CLAIM_STALE
                ):
                    continue
                data = build_confirmation(settings, pages, news_list, signup, now=now)
                _send_claimed(
                    sender,
                    settings,
                    news_list,
                    signup,
                    signup.email,
                    data,
                    now=now,
                    release=store.release_signup,
                    mark=store.mark_signup_sent,
                )
                sent += 1
    except DigestError as exc:
        log.warning("confirmation mail not sent (%s); it is retried with the next sign-up", exc)
    return sent, len(pending) - sent


def confirm(store: Store, settings: Settings, signup_id: int, *, now: datetime) -> Signup:
    """Confirm the sign-up; with DIGEST_SIGNUP_WELCOME=on its welcome mail falls due."""
    return store.confirm_signup(signup_id, now=now, welcome=settings.signup_welcome == "on")


def send_welcomes(
    store: Store, settings: Settings, pages: MailPages, *, now: datetime
) -> tuple[int, int]:
    """Send every due welcome mail (DIGEST_SIGNUP_WELCOME=on at confirmation); (sent, left).

    The row's own ledger, as for confirmations: claimed, sent, marked, so a crash loses
    none and two senders never send one twice. A reader who left the list (or every
    list) before it went gets none: the row is marked and never tried again."""
    pending = store.unsent_welcomes(since=now - timedelta(seconds=settings.signup_expiry))
    if not pending:
        return 0, 0
    sent = given_up = 0
    lists: dict[int, NewsList | None] = {}
    try:
        with ExitStack() as stack:
            sender: SmtpSender | None = None  # connected once a welcome is to go out
            for signup in pending:
                assert signup.id is not None
                if signup.list_id not in lists:
                    lists[signup.list_id] = store.get_list_by_id(signup.list_id)
                news_list = lists[signup.list_id]
                if news_list is None or not store.claim_welcome(
                    signup.id, now=now, stale=CLAIM_STALE
                ):
                    continue
                subscriber = _still_subscribed(store, signup.email, news_list.slug)
                if subscriber is None:
                    store.mark_welcome_sent(signup.id, now=now)
                    given_up += 1
                    continue
                data = build_welcome(settings, pages, news_list, signup, subscriber, now=now)
                try:
                    if sender is None:
                        sender = stack.enter_context(SmtpSender(smtp_settings(settings, None)))
                except DigestError:
                    store.release_welcome(signup.id)
                    raise
                _send_claimed(
                    sender,
                    settings,
                    news_list,
                    signup,
                    subscriber.email,
                    data,
                    now=now,
                    release=store.release_welcome,
                    mark=store.mark_welcome_sent,
                )
                sent += 1
    except DigestError as exc:
        log.warning("welcome mail not sent (%s); it is retried with the next round", exc)
    return sent, len(pending) - sent - given_up


def _send_claimed(
    sender: SmtpSender,
    settings: Settings,
    news_list: NewsList,
    signup: Signup,
    to: str,
    data: bytes,
    *,
    now: datetime,
    release: Callable[[int], None],
    mark: Callable[..., None],
) -> None:
    """Send one claimed sign-up mail: marked sent once the server took it, given back
    (for the next round) when it did not."""
    assert signup.id is not None
    try:
        sender.send(
            envelope_from(settings, news_list, signup, now=now), message.ascii_address(to), data
        )
    except DigestError:
        release(signup.id)
        raise
    mark(signup.id, now=now)


def _still_subscribed(store: Store, email: str, slug: str) -> Subscriber | None:
    try:
        subscriber = store.find_subscriber(email)
    except NotFoundError:
        return None
    assert subscriber.id is not None
    if (
        subscriber.status != "active"
        or store.subscription_statuses(subscriber.id).get(slug) != "active"
    ):
        return None
    return subscriber
