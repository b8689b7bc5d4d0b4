"""Readers' sign-up routes (issue 13): the public form and the confirmation link.

* `GET /subscribe/<list>`: the form, in the browser's language (Accept-Language);
  404 unless the list's sign-up is open (`digest lists edit SLUG --signup open`).
* `POST /subscribe/<list>`: email, name, sections (repeatable), locale; urlencoded,
  multipart or JSON. Every accepted address gets the same page and status ("check your
  inbox to confirm", never "subscribed"), whether it was known or not, and the same
  work is done for both (a row written, the mail sent).
* `GET /confirm/<token>`: a page that POSTs itself with a script, with a button for
  browsers without scripts. A GET confirms nothing: mail scanners follow links.
* `POST /confirm/<token>`: confirms; idempotent, so a second click says "confirmed" too.

Forged tokens get the rate-limited 404 of the other token routes; expired ones a 410.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import altcha
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from digest import pipeline, signup
from digest.config import Settings
from digest.errors import InputError, NotFoundError
from digest.models import NewsList
from digest.secret import load_secrets, sign
from digest.web.guard import TokenLimits, client_host, origin_of, read_form
from digest.web.pages import PAGES_DIR, Pages

MAX_BODY = 16 * 1024
CHALLENGE_MAX_AGE = timedelta(minutes=30)
FORM_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def _form_text_version() -> str:
    """Which wording of the form a reader agreed to: a hash of its template."""
    return signup.form_version((PAGES_DIR / "subscribe_form.html").read_text(encoding="utf-8"))


def form_snippet(settings: Settings, news_list: NewsList, locale: str) -> str:
    """The sign-up form alone, to embed in a site's own page (`digest lists form`)."""
    pages = Pages(settings.templates)
    return pages.render(
        "subscribe_form.html",
        pages.locale_for(locale),
        sections=news_list.sections,
        action=f"{settings.base_url.rstrip('/')}/subscribe/{news_list.slug}",
        challenge="",
        challenge_url=f"{settings.base_url.rstrip('/')}/subscribe/{news_list.slug}/challenge"
        if settings.signup_challenge == "on"
        else "",
    ).strip()


class Challenges:
    """ALTCHA proof-of-work challenges (v1: find n with SHA-256(salt + n) = challenge),
    signed with a key derived from the site secret, valid CHALLENGE_MAX_AGE by our own
    clock, and each solution accepted once: `spend` records its signature in the
    database (see Store.spend_challenge), so a replay is refused by every worker and
    after a restart, not only by the process that saw it first."""

    MAX_NUMBER = 50_000  # about a second of a phone's time on average

    def __init__(
        self,
        *,
        enabled: bool,
        key: Callable[[], str],
        clock: Callable[[], datetime],
        spend: Callable[[str, int, int], bool],
    ) -> None:
        self.enabled = enabled
        self.key = key
        self.clock = clock
        self.spend = spend  # (signature, expires, now) -> whether it was unspent

    def create(self) -> dict[str, object]:
        expires = self.clock() + CHALLENGE_MAX_AGE
        found = altcha.create_challenge_v1(
            altcha.ChallengeOptionsV1(
                hmac_key=self.key(), max_number=self.MAX_NUMBER, expires=expires
            )
        )
        return {
            "algorithm": found.algorithm,
            "challenge": found.challenge,
            "maxnumber": found.max_number,
            "salt": found.salt,
            "signature": found.signature,
        }

    def accept(self, payload: object) -> bool:
        """Whether `payload` (the form's `altcha` field) solves a live, unspent challenge
        of ours. Writes to the database: call it off the event loop."""
        if not self.enabled:
            return True
        if not isinstance(payload, str) or not payload or len(payload) > 2000:
            return False
        ok, _ = altcha.verify_solution_v1(payload, self.key(), check_expires=False)
        if not ok:
            return False
        solution = json.loads(base64.b64decode(payload))
        salt = str(solution["salt"])
        expires_text = parse_qs(salt.partition("?")[2]).get("expires", [""])[0]
        now = int(self.clock().timestamp())
        if not expires_text.isdigit() or int(expires_text) < now:
            return False
        return self.spend(str(solution["signature"]), int(expires_text), now)


class SignupPages:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime],
        limits: TokenLimits,
        pages: Pages,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.limits = limits
        self.pages = pages
        self.origin = origin_of(settings.base_url)
        self.version = _form_text_version()
        self.challenges = Challenges(
            enabled=settings.signup_challenge == "on",
            key=lambda: sign(load_secrets(settings.secret_file, now=clock())[0], "altcha"),
            clock=clock,
            spend=self._spend,
        )

    def _spend(self, signature: str, expires_at: int, now: int) -> bool:
        with pipeline.open_store(self.settings) as store:
            return store.spend_challenge(signature, expires_at=expires_at, now=now)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/subscribe/{slug}", self.subscribe, methods=["GET", "POST"]),
            Route("/subscribe/{slug}/challenge", self.challenge, methods=["GET"]),
            Route("/confirm/{token}", self.confirm, methods=["GET", "POST"]),
        ]

    def _open_list(self, slug: str) -> NewsList:
        with pipeline.open_store(self.settings) as store:
            try:
                news_list = store.get_list(slug)
            except NotFoundError:
                raise HTTPException(404) from None
        if news_list.signup != "open":
            raise HTTPException(404)
        return news_list

    def form_page(
        self, news_list: NewsList, locale: Any, *, status: int = 200, **context: Any
    ) -> HTMLResponse:
        """The form page; with the challenge on, a fresh ALTCHA challenge and its solver."""
        challenge = ""
        headers = dict(FORM_HEADERS)
        nonce = secrets.token_urlsafe(16)
        if self.challenges.enabled:
            challenge = json.dumps(self.challenges.create())
            headers["content-security-policy"] = (
                f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
            )
        html = self.pages.render(
            "subscribe.html",
            locale,
            list_name=news_list.name,
            sections=news_list.sections,
            action=f"{self.settings.base_url.rstrip('/')}/subscribe/{news_list.slug}",
            challenge=challenge,
            challenge_url="",
            nonce=nonce,
            invalid=context.pop("invalid", False),
            refused=context.pop("refused", False),
            **context,
        )
        return HTMLResponse(html, status_code=status, headers=headers)

    # -- the form -----------------------------------------------------------------------

    async def subscribe(self, request: Request) -> Response:
        slug = request.path_params["slug"]
        browser = self.pages.locale_from_header(request.headers.get("accept-language", ""))
        if request.method == "GET":
            news_list = await run_in_threadpool(self._open_list, slug)
            return self.form_page(news_list, browser)
        # Each sign-up counts against the strict per-client limit: a form is no token
        # guess, but a flood of sign-ups from one address is what the limit is for.
        self.limits.check(request)
        self.limits.failed(request)
        news_list = await run_in_threadpool(self._open_list, slug)
        as_json = request.headers.get("content-type", "").lower().startswith("application/json")
        fields = await (_read_json(request) if as_json else _read_fields(request))
        asked = str(fields.get("locale") or "")[:35]
        locale = self.pages.locale_for(asked) if asked else browser
        bot = bool(fields.get("website"))  # the honeypot: a bot gets the same answer, no mail
        if not bot and not await run_in_threadpool(self.challenges.accept, fields.get("altcha")):
            if as_json:
                return JSONResponse(
                    {"status": "challenge_failed", "field": "altcha"},
                    status_code=400,
                    headers=FORM_HEADERS,
                )
            return self.form_page(news_list, locale, status=400, refused=True)
        try:
            if not bot:
                await run_in_threadpool(
                    self._sign_up, news_list, fields, str(locale), as_json, request
                )
        except InputError:
            if as_json:
                return JSONResponse(
                    {"status": "invalid", "field": "email"}, status_code=400, headers=FORM_HEADERS
                )
            return self.form_page(news_list, locale, status=400, invalid=True)
        if as_json:
            return JSONResponse({"status": "check_inbox"}, headers=FORM_HEADERS)
        html = self.pages.render(
            "subscribe_sent.html",
            locale,
            list_name=news_list.name,
            wait=signup.resend_wait(self.settings.signup_resend, locale),
        )
        return HTMLResponse(html, headers=FORM_HEADERS)

    async def challenge(self, request: Request) -> Response:
        """A fresh ALTCHA challenge as JSON: the `challengeurl` of the ALTCHA widget, for
        a site that embeds the form (`digest lists form`) in its own pages."""
        await run_in_threadpool(self._open_list, request.path_params["slug"])
        if not self.challenges.enabled:
            raise HTTPException(404)
        self.limits.check(request)
        return JSONResponse(
            self.challenges.create(),
            headers={"cache-control": "no-store", "access-control-allow-origin": "*"},
        )

    def _sign_up(
        self,
        news_list: NewsList,
        fields: dict[str, Any],
        locale: str,
        as_json: bool,
        request: Request,
    ) -> None:
        sections = fields.get("sections") or []
        if not isinstance(sections, list):
            sections = [sections]
        now = self.clock()
        with pipeline.open_store(self.settings) as store:
            signup.request_signup(
                store,
                self.settings,
                news_list,
                email=fields.get("email"),
                name=fields.get("name") or "",
                sections=sections[:100],
                locale=locale,
                form=f"/subscribe/{news_list.slug} ({'json' if as_json else 'form'})",
                version=self.version,
                ip=signup.truncate_ip(client_host(request)),
                now=now,
            )
            # This sign-up's mail, and any an earlier crash or refusal left unsent.
            signup.send_confirmations(store, self.settings, self.pages, now=now)

    # -- the confirmation link ----------------------------------------------------------

    async def confirm(self, request: Request) -> Response:
        self.limits.check(request)
        now = self.clock()
        signup_id = signup.read_confirm_token(self.settings, request.path_params["token"], now=now)
        found = None
        if signup_id is not None:
            found = await run_in_threadpool(self._find, signup_id)
        if found is None:
            self.limits.failed(request)
            raise HTTPException(404)
        row, news_list = found
        locale = self.pages.locale_for(row.locale, news_list.locale)
        if row.confirmed_at is None and signup.expired(self.settings, row, now=now):
            html = self.pages.render(
                "confirmed.html", locale, list_name=news_list.name, expired=True
            )
            return HTMLResponse(html, status_code=410, headers=FORM_HEADERS)
        if request.method == "POST" and row.confirmed_at is None:
            form = await read_form(request, max_bytes=MAX_BODY, max_fields=20)
            if form.get("confirm") != "yes" or not self._same_origin(request):
                self.limits.failed(request)
                html = self.pages.render("forbidden.html", locale)
                return HTMLResponse(html, status_code=403, headers=FORM_HEADERS)
            assert row.id is not None
            row = await run_in_threadpool(self._confirm, row.id, now)
        if row.confirmed_at is not None:
            html = self.pages.render(
                "confirmed.html", locale, list_name=news_list.name, expired=False
            )
            return HTMLResponse(html, headers=FORM_HEADERS)
        nonce = secrets.token_urlsafe(16)
        html = self.pages.render("confirm.html", locale, list_name=news_list.name, nonce=nonce)
        headers = {
            **FORM_HEADERS,
            "content-security-policy": f"default-src 'none'; script-src 'nonce-{nonce}'; "
            "style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; "
            "base-uri 'none'",
            "x-robots-tag": "noindex",
        }
        return HTMLResponse(html, headers=headers)

    def _find(self, signup_id: int) -> tuple[Any, NewsList] | None:
        with pipeline.open_store(self.settings) as store:
            row = store.get_signup(signup_id)
            news_list = store.get_list_by_id(row.list_id) if row else None
        return None if row is None or news_list is None else (row, news_list)

    def _confirm(self, signup_id: int, now: datetime) -> Any:
        with pipeline.open_store(self.settings) as store:
            confirmed = signup.confirm(store, self.settings, signup_id, now=now)
            if self.settings.signup_welcome == "on":  # its welcome, and any left waiting
                signup.send_welcomes(store, self.settings, self.pages, now=now)
            return confirmed

    def _same_origin(self, request: Request) -> bool:
        origin = request.headers.get("origin")
        if origin and origin != "null" and origin.lower() != self.origin:
            return False
        fetch_site = request.headers.get("sec-fetch-site")
        return fetch_site is None or fetch_site in ("same-origin", "none")


async def _read_fields(request: Request) -> dict[str, Any]:
    form = await read_form(request, max_bytes=MAX_BODY, max_fields=120)
    return {
        "email": form.get("email"),
        "name": form.get("name"),
        "locale": form.get("locale"),
        "website": form.get("website"),
        "altcha": form.get("altcha"),
        "sections": [str(v) for v in form.getlist("sections")],
    }


async def _read_json(request: Request) -> dict[str, Any]:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise HTTPException(413, "Request too large.")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, "Send a JSON object.") from None
    if not isinstance(data, dict):
        raise HTTPException(400, "Send a JSON object.")
    sections = data.get("sections") or []
    return {
        "email": data.get("email"),
        "name": data.get("name") if isinstance(data.get("name"), str) else "",
        "locale": data.get("locale") if isinstance(data.get("locale"), str) else "",
        "website": data.get("website"),
        "altcha": data.get("altcha"),
        "sections": [str(s) for s in sections] if isinstance(sections, list) else [],
    }
