"""Events out: post the outbox's events, signed, to DIGEST_WEBHOOK_URL, in order.

Each event is one POST of its JSON body with

    Digest-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
    Digest-Event-Id: evt_...        Digest-Event-Type: subscribe | confirm | ...

(Stripe's scheme: the timestamp is signed with the body, so a receiver refuses replays
older than a few minutes). A 2xx answer delivers the event; a 3xx or a 4xx other than
408 and 429 fails it at once (the receiver said no: `digest webhooks retry` after fixing
it); a 5xx, 408, 429, a timeout or no connection retries with exponential backoff until
DIGEST_WEBHOOK_RETRY_HOURS have passed since the first failure. The events go out one
at a time in the order they happened: while the oldest pending one waits for its retry,
the later ones wait behind it. Each post first claims its event for the post's timeout
(and a margin), so two senders at once (cron and the scheduler) never post it twice.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from digest import __version__
from digest.clock import Clock
from digest.config import Settings
from digest.errors import ConfigError
from digest.secret import load_secret, webhook_secret
from digest.store import Store

SIGNATURE_HEADER = "Digest-Signature"
RETRY_BASE = timedelta(seconds=30)  # the first retry; each next one waits twice as long
RETRY_MAX = timedelta(hours=1)  # the longest wait between two posts of one event
LEASE_MARGIN = timedelta(seconds=30)  # a claimed event is due again after timeout + this
TOLERANCE = 300  # seconds: how old a signed timestamp a receiver should accept
RETRYABLE_4XX = (408, 429)


def signing_secret(settings: Settings) -> str:
    """DIGEST_WEBHOOK_SECRET, or the one derived from digest's secret file."""
    if settings.webhook_secret:
        return settings.webhook_secret
    if not settings.secret_file.exists():
        raise ConfigError(
            f"secret file {settings.secret_file} is missing",
            hint="run `digest init`, or set DIGEST_WEBHOOK_SECRET",
        )
    return webhook_secret(load_secret(settings.secret_file, create=False))


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The Digest-Signature header's value for this body at this moment."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, *, now: float, tolerance: int = TOLERANCE
) -> bool:
    """What a receiver does (the README's verifier): the timestamp is recent and one v1
    signature matches, compared in constant time."""
    parts = [p.partition("=") for p in header.split(",")]
    stamps = [v for k, _, v in parts if k == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit() or abs(now - int(stamps[0])) > tolerance:
        return False
    wanted = sign(secret, int(stamps[0]), body).rpartition("v1=")[2].encode()
    matched = False
    for key, _, value in parts:
        if key == "v1":
            matched |= hmac.compare_digest(wanted, value.encode())
    return matched


@dataclass(frozen=True, slots=True)
class Answer:
    """What one post came to: delivered, retry (later) or failed (for good)."""

    verdict: str
    code: int | None = None
    error: str = ""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer (3xx), never followed: a POST must not turn into a GET."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def _where(url: str) -> str:
    """The receiver as errors name it: its origin only (a hook's path or query is often
    its secret, and errors are stored and listed)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> Answer:
    """One POST with urllib; every outcome becomes an Answer, nothing raises."""
    where = _where(url)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(65536)
            code = int(response.status)
    except urllib.error.HTTPError as exc:
        code = int(exc.code)
        exc.close()
    except (OSError, http.client.HTTPException, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return Answer("retry", None, f"no answer from {where}: {reason}"[:500])
    if 200 <= code < 300:
        return Answer("delivered", code)
    if code >= 500 or code in RETRYABLE_4XX:
        return Answer("retry", code, f"{where} answered {code}")
    return Answer("failed", code, f"{where} answered {code}: refused")


@dataclass(frozen=True, slots=True)
class SendReport:
    """What one `send_events` did, and what is left."""

    delivered: int = 0
    failed: int = 0
    retrying: int = 0
    pending: int = 0
    next_attempt_at: datetime | None = None  # when the oldest pending event is due

    def summary(self) -> str:
        text = f"events: {self.delivered} delivered, {self.failed} failed, {self.pending} pending"
        if self.pending and self.next_attempt_at is not None:
            text += f" (next attempt at {self.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC)"
        return text


def send_events(
    store: Store, settings: Settings, *, clock: Clock, limit: int | None = None
) -> SendReport:
    """Post the due pending events, oldest first, each until it is delivered, failed or
    must wait; stop at the first that must wait (the later ones wait behind it), or after
    `limit` posts. One indexed query when nothing is pending. Nothing without a URL."""
    if not settings.webhook_url:
        return SendReport()
    head = store.next_webhook_event()
    if head is None:
        return SendReport()
    secret = signing_secret(settings)
    delivered = failed = retrying = posts = 0
    while head is not None and head.next_attempt_at <= clock.now():
        if limit is not None and posts >= limit:
            break
        now = clock.now()
        lease = now + timedelta(seconds=settings.webhook_timeout) + LEASE_MARGIN
        if not store.claim_webhook_event(head.id, now=now, until=lease):
            break  # another sender is posting it; the later ones wait behind it
        posts += 1
        body = head.body.encode()
        answer = post(
            settings.webhook_url,
            body,
            {
                "Content-Type": "application/json",
                "User-Agent": f"digest/{__version__}",
                "Digest-Event-Id": head.event_id,
                "Digest-Event-Type": head.type,
                SIGNATURE_HEADER: sign(secret, int(now.timestamp()), body),
            },
            timeout=settings.webhook_timeout,
        )
        now = clock.now()
        if answer.verdict == "delivered":
            store.finish_webhook_event(head.id, status="delivered", now=now, code=answer.code)
            delivered += 1
        elif answer.verdict == "failed":
            store.finish_webhook_event(
                head.id, status="failed", now=now, code=answer.code, error=answer.error
            )
            failed += 1
        else:
            give_up_at = head.give_up_at or now + timedelta(hours=settings.webhook_retry_hours)
            if now >= give_up_at:
                store.finish_webhook_event(
                    head.id,
                    status="failed",
                    now=now,
                    code=answer.code,
                    error=f"{answer.error}; gave up after {head.attempts + 1} attempts",
                )
                failed += 1
            else:
                wait = min(RETRY_BASE * 2**head.attempts, RETRY_MAX)
                store.finish_webhook_event(
                    head.id,
                    status="pending",
                    now=now,
                    code=answer.code,
                    error=answer.error,
                    retry_at=min(now + wait, give_up_at),
                    give_up_at=give_up_at,
                )
                retrying += 1
        head = store.next_webhook_event()
    pending = store.webhook_counts()["pending"]
    return SendReport(
        delivered=delivered,
        failed=failed,
        retrying=retrying,
        pending=pending,
        next_attempt_at=head.next_attempt_at if head is not None else None,
    )
