"""Provider event webhooks: POST /webhooks/{mailgun,postmark,sendgrid,ses}.

Each route exists only when its setting is set (404 otherwise), checks that the post is
the provider's before reading a single event, and hands the events to
`bouncebox.record_provider_events`, the same path a bounce mailbox takes.

- A forged post gets 401 (Postmark: wrong Basic credentials) or 403 (a bad signature,
  a stale timestamp, an SNS topic not in DIGEST_SES_TOPIC_ARNS) and counts against the
  client's rate limit, like a forged unsubscribe token.
- A replayed post: Mailgun's signature covers only timestamp + token, so a token seen
  before is refused with 406 (Mailgun does not retry a 406). The others sign (or, for
  Postmark, authenticate) the whole body, and each event is kept once under its
  provider id, so a replay is answered 200 and changes nothing.
- SES through SNS: the signing certificate and the SubscribeURL are fetched only over
  https from sns.<region>.amazonaws.com (`SnsFetcher`; tests hand in their own).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ssl
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from digest import bouncebox, provider
from digest.config import Settings, ses_topic_arns
from digest.errors import DigestError
from digest.sns import ses_notices, sns_host_ok, sns_message, sns_signature_ok, sns_url_ok
from digest.web.guard import TokenLimits

MAX_BODY = 2 * 1024 * 1024  # SendGrid batches up to 768 KB; SNS messages are under 256 KB
MAX_CERTIFICATE = 64 * 1024


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect could lead off the allowed hosts: refuse it


@dataclass
class SnsFetcher:
    """How the SES route reaches SNS: GET over https, only from hosts `host_ok` allows.

    The default allows sns.<region>.amazonaws.com with the system's CAs. It is an
    argument of `create_app`, never a setting: tests hand in one that trusts their own
    loopback server, and no site can loosen it by mistake.
    """

    host_ok: Callable[[str], bool] = sns_host_ok
    context: ssl.SSLContext = field(default_factory=ssl.create_default_context)
    timeout: float = 10.0
    _certificates: OrderedDict[str, bytes] = field(default_factory=OrderedDict)

    def allowed(self, url: str) -> bool:
        return sns_url_ok(url, self.host_ok)

    def get(self, url: str, *, limit: int = MAX_CERTIFICATE) -> bytes:
        """The body at `url`; ValueError if the URL is not allowed or the fetch fails."""
        if not self.allowed(url):
            raise ValueError(f"not an allowed SNS URL: {urlsplit(url).hostname}")
        opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=self.context), _NoRedirect()
        )
        try:
            with opener.open(url, timeout=self.timeout) as answer:
                body: bytes = answer.read(limit + 1)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ValueError(f"cannot fetch {url}: {exc}") from None
        if len(body) > limit:
            raise ValueError(f"{url} is larger than {limit} bytes")
        return body

    def certificate(self, url: str) -> bytes:
        """The signing certificate, fetched once per URL (SNS rotates it by URL)."""
        if url in self._certificates:
            self._certificates.move_to_end(url)
            return self._certificates[url]
        pem = self.get(url)
        self._certificates[url] = pem
        while len(self._certificates) > 16:
            self._certificates.popitem(last=False)
        return pem


def configured(settings: Settings) -> list[str]:
    """The providers whose webhook route is served (under --public): those with a setting."""
    wanted = {
        "mailgun": settings.mailgun_signing_key,
        "postmark": settings.postmark_webhook_auth,
        "sendgrid": settings.sendgrid_public_key,
        "ses": settings.ses_topic_arns.strip(" ,"),
    }
    return [name for name in provider.PROVIDERS if wanted[name]]


def _refused(status: int, text: str, **headers: str) -> PlainTextResponse:
    return PlainTextResponse(text + "\n", status_code=status, headers=headers)


class ProviderHooks:
    """The webhook routes of one app; holds its clock, rate limiter and SNS fetcher."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime],
        limits: TokenLimits,
        sns: SnsFetcher | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.limits = limits
        self.sns = sns or SnsFetcher()
        self.topics = ses_topic_arns(settings)
        self.local_part = bouncebox.bounce_local_part(settings.bounce_address)

    def routes(self) -> list[BaseRoute]:
        hooks = {
            "mailgun": self.mailgun,
            "postmark": self.postmark,
            "sendgrid": self.sendgrid,
            "ses": self.ses,
        }
        return [
            Route(f"/webhooks/{name}", hooks[name], methods=["POST"])
            for name in configured(self.settings)
        ]

    # -- shared -------------------------------------------------------------------------

    async def _body(self, request: Request) -> bytes:
        self.limits.check(request)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY:
            raise HTTPException(413, "Request too large.")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                raise HTTPException(413, "Request too large.")
        return bytes(body)

    def _forged(self, request: Request, status: int, text: str, **headers: str) -> Response:
        self.limits.failed(request)
        return _refused(status, text, **headers)

    def _fresh(self, timestamp: float) -> bool:
        age = self.clock().timestamp() - timestamp
        return -60 <= age <= self.settings.webhook_max_age

    async def _record(
        self,
        name: str,
        notices: list[provider.Event],
        *,
        nonce: tuple[str, str] | None = None,
    ) -> Response:
        try:
            done = await run_in_threadpool(
                lambda: bouncebox.record_provider_events(
                    self.settings,
                    notices,
                    source=f"webhook:{name}",
                    now=self.clock(),
                    nonce=nonce,
                    nonce_keep=self.settings.webhook_max_age + 60,
                )
            )
        except DigestError:  # the database busy or missing: nothing written; providers retry
            return _refused(503, "Cannot record the events now; try again later.")
        if done is None:
            return _refused(406, "Replayed: this signature token was used before.")
        return JSONResponse(
            {
                "events": done.read,
                "duplicates": done.duplicates,
                "bounced": done.bounced,
                "complained": done.complained,
                "unmatched": done.unmatched,
            }
        )

    # -- Mailgun ------------------------------------------------------------------------

    async def mailgun(self, request: Request) -> Response:
        body = await self._body(request)
        try:
            payload = provider.loads(body)
            timestamp, token, signature = provider.mailgun_signature(payload)
        except provider.PayloadError:
            return self._forged(request, 403, "Not a signed Mailgun webhook post.")
        if not provider.mailgun_signature_ok(
            self.settings.mailgun_signing_key, timestamp, token, signature
        ):
            return self._forged(request, 403, "Bad Mailgun signature.")
        if not self._fresh(float(timestamp)):
            return self._forged(request, 403, "Stale Mailgun timestamp.")
        try:
            notices = provider.mailgun_notices(payload, bounce_local_part=self.local_part)
        except provider.PayloadError as exc:
            raise HTTPException(400, str(exc)) from None
        return await self._record("mailgun", notices, nonce=("mailgun", token))

    # -- Postmark -----------------------------------------------------------------------

    def _postmark_auth_ok(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        given = b""
        if scheme.lower() == "basic" and len(encoded) <= 1024:
            try:
                given = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                given = b""
        expected = self.settings.postmark_webhook_auth.encode()
        return hmac.compare_digest(given, expected)

    async def postmark(self, request: Request) -> Response:
        if not self._postmark_auth_ok(request.headers.get("authorization", "")):
            self.limits.check(request)
            return self._forged(
                request,
                401,
                "Postmark webhook credentials needed.",
                **{"WWW-Authenticate": 'Basic realm="digest webhooks"'},
            )
        body = await self._body(request)
        try:
            notices = provider.postmark_notices(provider.loads(body))
        except provider.PayloadError as exc:
            raise HTTPException(400, str(exc)) from None
        return await self._record("postmark", notices)

    # -- SendGrid -----------------------------------------------------------------------

    async def sendgrid(self, request: Request) -> Response:
        body = await self._body(request)
        signature = request.headers.get("x-twilio-email-event-webhook-signature", "")
        timestamp = request.headers.get("x-twilio-email-event-webhook-timestamp", "")
        if not signature or not timestamp.isascii() or not timestamp.isdigit():
            return self._forged(request, 403, "Not a signed SendGrid event webhook post.")
        ok = await run_in_threadpool(
            provider.sendgrid_signature_ok,
            self.settings.sendgrid_public_key,
            timestamp,
            body,
            signature,
        )
        if not ok:
            return self._forged(request, 403, "Bad SendGrid signature.")
        if not self._fresh(float(timestamp)):
            return self._forged(request, 403, "Stale SendGrid timestamp.")
        try:
            notices = provider.sendgrid_notices(provider.loads(body))
        except provider.PayloadError as exc:
            raise HTTPException(400, str(exc)) from None
        return await self._record("sendgrid", notices)

    # -- Amazon SES through SNS ---------------------------------------------------------

    async def ses(self, request: Request) -> Response:
        body = await self._body(request)
        try:
            message = sns_message(provider.loads(body))
            stamp = datetime.fromisoformat(str(message["Timestamp"]).replace("Z", "+00:00"))
        except (provider.PayloadError, ValueError):
            return self._forged(request, 403, "Not a signed SNS message.")
        if message["TopicArn"] not in self.topics:
            return self._forged(request, 403, "SNS topic not in DIGEST_SES_TOPIC_ARNS.")
        cert_url = str(message["SigningCertURL"])
        if not self.sns.allowed(cert_url):
            return self._forged(request, 403, "SigningCertURL is not an SNS https URL.")
        try:
            pem = await run_in_threadpool(self.sns.certificate, cert_url)
        except ValueError:
            return _refused(503, "Cannot fetch the SNS signing certificate; try again later.")
        if not await run_in_threadpool(sns_signature_ok, message, pem):
            return self._forged(request, 403, "Bad SNS signature.")
        if stamp.tzinfo is None or not self._fresh(stamp.timestamp()):
            return self._forged(request, 403, "Stale SNS timestamp.")
        kind = message["Type"]
        if kind == "SubscriptionConfirmation":
            url = str(message["SubscribeURL"])
            if not self.sns.allowed(url):
                return self._forged(request, 403, "SubscribeURL is not an SNS https URL.")
            try:
                await run_in_threadpool(self.sns.get, url)
            except ValueError:
                return _refused(503, "Cannot confirm the SNS subscription; try again later.")
            return JSONResponse({"confirmed": message["TopicArn"]})
        if kind != "Notification":
            return JSONResponse({"events": 0})  # UnsubscribeConfirmation: nothing to do
        try:
            notices = ses_notices(message, bounce_local_part=self.local_part)
        except provider.PayloadError as exc:
            raise HTTPException(400, str(exc)) from None
        return await self._record("ses", notices)
