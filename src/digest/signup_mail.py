"""The sign-up mails: the confirmation and the welcome, as bytes ready for SMTP.

Both are localised by the subscriber pages' catalogues, carry nothing the reader typed
(not the name), and follow the digest's conventions: the same DKIM signature when
DIGEST_DKIM_* is set, the Feedback-ID with their kind, direction marks in Arabic plain
text, and a signed sSIGNUP.MAC token in the Message-ID and the VERP envelope sender so
that a bounce finds its sign-up row (`bouncebox`). Sending and the ledger are `signup`'s.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from typing import Any, Protocol

from babel import Locale

from digest import message
from digest.config import Settings
from digest.models import NewsList, Signup, Subscriber
from digest.pipeline import dkim_key
from digest.render.language import direction
from digest.render.renderer import mark_direction
from digest.secret import load_secrets, make_signup_token, make_token, verp_address

PURPOSE = "signup"  # the confirmation link's token purpose
MAIL_TEMPLATE = "confirm_mail.txt"
WELCOME_TEMPLATE = "welcome_mail.txt"


class MailPages(Protocol):
    """What renders the confirmation mail: the subscriber pages' catalogues (web.pages)."""

    def locale_for(self, *candidates: str) -> Locale: ...

    def render(self, name: str, locale: Locale, **context: Any) -> str: ...


def confirm_url(settings: Settings, signup: Signup, *, now: datetime) -> str:
    assert signup.id is not None
    key = load_secrets(settings.secret_file, now=now, create=True)[0]
    token = make_token(key, PURPOSE, signup.id, signup.list_id)
    return f"{settings.base_url.rstrip('/')}/confirm/{token}"


def build_confirmation(
    settings: Settings, pages: MailPages, news_list: NewsList, signup: Signup, *, now: datetime
) -> bytes:
    """The confirmation mail: localised, with no text the reader typed, one Message-ID per row."""
    locale = pages.locale_for(signup.locale, news_list.locale)
    subject, _, body = (
        pages.render(
            MAIL_TEMPLATE,
            locale,
            list_name=news_list.name,
            url=confirm_url(settings, signup, now=now),
            days=round(settings.signup_expiry / 86400) or 1,
        )
        .strip()
        .partition("\n")
    )
    mail = EmailMessage(policy=SMTP)
    domain = news_list.from_addr.rpartition("@")[2] or "localhost"
    mail["From"] = formataddr((news_list.name, news_list.from_addr), charset="utf-8")
    mail["To"] = message.ascii_address(signup.email)
    mail["Subject"] = subject.strip()
    mail["Date"] = format_datetime(now)
    mail["Message-ID"] = message_id("signup", settings, signup, domain, now=now)
    mail["Auto-Submitted"] = "auto-generated"
    return _finish(mail, body, locale, settings, news_list, "confirm", now=now)


def message_id(kind: str, settings: Settings, signup: Signup, domain: str, *, now: datetime) -> str:
    """`<signup.sSIGNUP.MAC@domain>` (or `welcome.`): one per row, so a resend after a crash
    is the same message, and signed, so a bounce quoting it names its row (bouncebox)."""
    assert signup.id is not None
    token = make_signup_token(
        load_secrets(settings.secret_file, now=now, create=True)[0], signup.id
    )
    return f"<{kind}.{token}@{message.ascii_domain(domain)}>"


def envelope_from(settings: Settings, news_list: NewsList, signup: Signup, *, now: datetime) -> str:
    """The envelope sender of sign-up mail: with DIGEST_BOUNCE_ADDRESS, its VERP form naming
    the sign-up row (bounces+sSIGNUP.MAC@), so a bounce that quotes nothing still finds
    the row and never a subscriber; the list's From address without it."""
    if not settings.bounce_address:
        return news_list.from_addr
    assert signup.id is not None
    key = load_secrets(settings.secret_file, now=now, create=True)[0]
    return verp_address(settings.bounce_address, make_signup_token(key, signup.id))


def build_welcome(
    settings: Settings,
    pages: MailPages,
    news_list: NewsList,
    signup: Signup,
    subscriber: Subscriber,
    *,
    now: datetime,
) -> bytes:
    """The welcome mail: localised, the list's name and the sections chosen (the list's
    own names, nothing the reader typed), and the digest's unsubscribe headers and links."""
    assert subscriber.id is not None and news_list.id is not None and signup.id is not None
    locale = pages.locale_for(
        signup.locale, subscriber.locale, news_list.locale
    )  # the form's first
    secret = load_secrets(settings.secret_file, now=now, create=True)[0]
    unsub = make_token(secret, "unsubscribe", subscriber.id, news_list.id)
    prefs = make_token(secret, "preferences", subscriber.id, news_list.id)
    base = settings.base_url.rstrip("/")
    unsubscribe_url = f"{base}/u/{unsub}"
    subject, _, body = (
        pages.render(
            WELCOME_TEMPLATE,
            locale,
            list_name=news_list.name,
            sections=[s for s in news_list.sections if s in signup.sections] or signup.sections,
            unsubscribe_url=unsubscribe_url,
            preferences_url=f"{base}/p/{prefs}",
        )
        .strip()
        .partition("\n")
    )
    mail = EmailMessage(policy=SMTP)
    domain = message.ascii_domain(news_list.from_addr.rpartition("@")[2] or "localhost")
    mail["From"] = formataddr((news_list.name, news_list.from_addr), charset="utf-8")
    mail["To"] = message.ascii_address(subscriber.email)
    mail["Subject"] = subject.strip()
    mail["Date"] = format_datetime(now)
    mail["Message-ID"] = message_id("welcome", settings, signup, domain, now=now)
    unsubscribe = f"<{unsubscribe_url}>"
    if settings.unsubscribe_mailto:
        unsubscribe += (
            f", <mailto:{message.unsubscribe_mailto(settings.unsubscribe_mailto, unsub)}>"
        )
    mail["List-Unsubscribe"] = unsubscribe
    mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail["Auto-Submitted"] = "auto-generated"
    # The digest's List-Id, as the digest writes it (the list's name as a phrase, RFC 2047
    # in one word per run): prepended as bytes, since the email package would re-fold it.
    list_id = message.list_id(news_list.name, news_list.slug, domain)
    return _finish(
        mail, body, locale, settings, news_list, "welcome", now=now, first=f"List-Id: {list_id}"
    )


def _finish(
    mail: EmailMessage,
    body: str,
    locale: Locale,
    settings: Settings,
    news_list: NewsList,
    kind: str,
    *,
    now: datetime,
    first: str = "",
) -> bytes:
    """The body, the digest's Feedback-ID convention (this mail's kind in the MailType
    field) and, when the digest is signed, the same DKIM signature over the same headers."""
    if settings.feedback_id:
        day = now.date().isoformat()
        mail["Feedback-ID"] = f"{day}:{news_list.slug}:{kind}:{settings.feedback_id}"
    # As the digest's plain text: a line whose first strong letter would make a client
    # run it the wrong way ("- Sport" in an Arabic mail) starts with a direction mark.
    body = mark_direction(body.strip(), direction(locale.language))
    mail.set_content(body + "\n", cte="quoted-printable")
    mail["Content-Language"] = str(locale).replace("_", "-")  # set_content drops Content-*
    data = mail.as_bytes()
    if first:
        data = first.encode("ascii") + b"\r\n" + data
    dkim = dkim_key(settings, news_list)
    return data if dkim is None else message.sign_message(data, dkim)
