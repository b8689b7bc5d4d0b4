"""Subscriber-facing routes: one-click unsubscribe, preferences, archive.

* `POST /u/<token>`: RFC 8058 one-click unsubscribe. No cookie, no login, 200 (never a
  redirect), idempotent. `GET /u/<token>` only shows a button: mail scanners follow links.
* `GET|POST /p/<token>`: sections per list, pause, leave all lists. The POST must come
  from our own pages: Origin / Sec-Fetch-Site are checked, and the form carries a signed
  token that expires.
* `GET /archive/<list>/` and `/archive/<list>/<date>`: editions that went out, with no
  personal data.

A forged, truncated or tampered token gets the same 404 as an unknown one and changes
nothing; no answer says whether an address is subscribed. The 404 and 429 pages are in
the language the browser asks for (Accept-Language), never the subscriber's: which
language they speak must not tell a valid token from a forged one.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from digest import pipeline
from digest.config import Settings
from digest.errors import NotFoundError
from digest.models import NewsList, Subscriber
from digest.render import PLACEHOLDER_RE
from digest.secret import MAX_TOKEN_LENGTH, load_secrets, make_token, read_token, sign, verify
from digest.store import Store
from digest.web.guard import TokenLimits, is_public_path, origin_of, read_form
from digest.web.pages import Pages

FORM_MAX_AGE = timedelta(hours=2)
MAX_BODY = 16 * 1024
SLUG_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
TOKEN_PAGE_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
    "x-robots-tag": "noindex",
}
ARCHIVE_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "img-src https: data:; font-src https: data:; form-action 'none'; "
    "frame-ancestors 'self'; base-uri 'none'",
    "referrer-policy": "strict-origin-when-cross-origin",
    "cache-control": "public, max-age=300",
}


class PublicPages:
    """The subscriber routes of one app; holds its clock, rate limiter and archive cache."""

    def __init__(
        self, settings: Settings, *, clock: Callable[[], datetime], limits: TokenLimits
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.limits = limits
        self.origin = origin_of(settings.base_url)
        self.pages = Pages(settings.templates)
        self._archive: OrderedDict[tuple[str, date], str] = OrderedDict()
        self._merges: dict[int, int] | None = None

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/u/{token}", self.unsubscribe, methods=["GET", "POST"]),
            Route("/p/{token}", self.preferences, methods=["GET", "POST"]),
            Route("/archive/{slug}/", self.archive_index, methods=["GET"]),
            Route("/archive/{slug}/{day}", self.archive_edition, methods=["GET"]),
        ]

    # -- helpers ------------------------------------------------------------------------

    def _store(self) -> Store:
        return Store.open(
            self.settings.db,
            create=False,
            busy_timeout=self.settings.busy_timeout,
            events=bool(self.settings.webhook_url),
        )

    def _keys(self) -> tuple[bytes, ...]:
        return load_secrets(self.settings.secret_file, now=self.clock())

    def _verify(self, request: Request, purpose: str) -> tuple[int, int]:
        """(subscriber_id, list_id) of a genuine token; 404 (counted as a failure) if not."""
        self.limits.check(request)
        token = request.path_params["token"]
        found = None
        if len(token) <= MAX_TOKEN_LENGTH:
            found = read_token(self._keys(), purpose, token)
        if found is None:
            self.limits.failed(request)
            raise HTTPException(404)
        subscriber_id, list_id = found
        return self._merged().get(subscriber_id, subscriber_id), list_id

    def _merged(self) -> dict[int, int]:
        """Old ids of merged duplicates (issue 11.4); read once: only a migration adds any."""
        if self._merges is None:
            with self._store() as store:
                self._merges = store.subscriber_merges()
        return self._merges

    def _page(self, name: str, *, locale: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.pages.render(name, self.pages.locale_for(locale), **context)
        return HTMLResponse(html, status_code=status, headers=TOKEN_PAGE_HEADERS)

    async def error_page(self, request: Request, exc: Exception) -> Response:
        """404 and 429 of the subscriber routes as a small page in the browser's language.

        It depends on the status and Accept-Language only, so it says nothing about the
        token or address asked for; headers (Retry-After) are the exception's.
        """
        assert isinstance(exc, HTTPException)
        if not is_public_path(request.url.path):  # the editor's routes keep Starlette's
            return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
        locale = self.pages.locale_from_header(request.headers.get("accept-language", ""))
        html = await run_in_threadpool(
            self.pages.render, "error.html", locale, status=exc.status_code
        )
        return HTMLResponse(html, status_code=exc.status_code, headers=exc.headers)

    # -- unsubscribe --------------------------------------------------------------------

    async def unsubscribe(self, request: Request) -> Response:
        subscriber_id, list_id = self._verify(request, "unsubscribe")
        if request.method == "POST":
            form = await read_form(request, max_bytes=MAX_BODY, max_fields=20)
            if form.get("List-Unsubscribe") != "One-Click":
                raise HTTPException(400, "Missing List-Unsubscribe=One-Click.")
            # A mail client's one-click post (RFC 8058) has no Origin; the page's button does.
            via = "page" if request.headers.get("origin") else "one-click"
            found = await run_in_threadpool(self._unsubscribe, subscriber_id, list_id, via)
            news_list, locale = found
            prefs = make_token(self._keys()[0], "preferences", subscriber_id, list_id)
            return self._page(
                "unsubscribed.html",
                locale=locale,
                list_name=news_list.name,
                preferences_url=f"{self.settings.base_url.rstrip('/')}/p/{prefs}",
            )
        news_list, locale = await run_in_threadpool(self._who, subscriber_id, list_id)
        return self._page("unsubscribe.html", locale=locale, list_name=news_list.name)

    def _who(self, subscriber_id: int, list_id: int) -> tuple[NewsList, str]:
        with self._store() as store:
            news_list = store.get_list_by_id(list_id)
            if news_list is None:
                raise HTTPException(404)
            subscriber = store.get_subscriber_by_id(subscriber_id)
        return news_list, (subscriber.locale if subscriber else "") or news_list.locale

    def _unsubscribe(self, subscriber_id: int, list_id: int, via: str) -> tuple[NewsList, str]:
        news_list, locale = self._who(subscriber_id, list_id)
        with self._store() as store:
            # The same answer whether or not a subscription existed: nothing to learn here.
            store.set_subscription_status(
                subscriber_id, list_id, "unsubscribed", now=self.clock(), via=via
            )
        return news_list, locale

    # -- preferences --------------------------------------------------------------------

    def _form_token(self, subscriber_id: int, list_id: int) -> str:
        stamp = int(self.clock().timestamp())
        return f"{stamp}.{sign(self._keys()[0], 'preferences-form', subscriber_id, list_id, stamp)}"

    def _form_token_ok(self, value: str, subscriber_id: int, list_id: int) -> bool:
        stamp_text, _, signature = value.partition(".")
        if not stamp_text.isascii() or not stamp_text.isdigit() or len(value) > 100:
            return False
        age = self.clock().timestamp() - int(stamp_text)
        if not -60 <= age <= FORM_MAX_AGE.total_seconds():
            return False
        return verify(
            self._keys(), signature, "preferences-form", subscriber_id, list_id, int(stamp_text)
        )

    def _same_origin(self, request: Request) -> bool:
        origin = request.headers.get("origin")
        # "null" is an opaque origin (a sandboxed frame, a data: page): never our own page,
        # whose Referrer-Policy keeps the real origin on same-origin posts.
        if origin is not None and origin.lower() != self.origin:
            return False
        fetch_site = request.headers.get("sec-fetch-site")
        return fetch_site is None or fetch_site in ("same-origin", "none")

    async def preferences(self, request: Request) -> Response:
        subscriber_id, list_id = self._verify(request, "preferences")
        notice_key = ""
        if request.method == "POST":
            form = await read_form(request, max_bytes=MAX_BODY, max_fields=400)
            if not self._same_origin(request) or not self._form_token_ok(
                str(form.get("form_token", "")), subscriber_id, list_id
            ):
                self.limits.failed(request)
                locale = await run_in_threadpool(self._locale_of, subscriber_id)
                return self._page("forbidden.html", locale=locale, status=403)
            action = form.get("action", "save")
            lists = {
                key.split(":", 1)[1]
                for key in form
                if key.startswith("list:") and form.get(key) == "on"
            }
            sections = {
                key.split(":", 1)[1]: [str(v)[:200] for v in form.getlist(key)]
                for key in form
                if key.startswith("sections:")
            }
            notice_key = await run_in_threadpool(
                self._save, subscriber_id, action, lists, sections, form.get("pause") == "on"
            )
        return await run_in_threadpool(self._preferences_page, subscriber_id, list_id, notice_key)

    def _locale_of(self, subscriber_id: int) -> str:
        with self._store() as store:
            subscriber = store.get_subscriber_by_id(subscriber_id)
        return subscriber.locale if subscriber else ""

    def _save(
        self,
        subscriber_id: int,
        action: object,
        active: set[str],
        sections: dict[str, list[str]],
        pause: bool,
    ) -> str:
        now = self.clock()
        with self._store() as store, store.transaction():
            subscriptions = store.subscriptions(subscriber_id)
            if action == "leave":
                for sub in subscriptions:
                    assert sub.news_list.id is not None
                    store.set_subscription_status(
                        subscriber_id, sub.news_list.id, "unsubscribed", now=now, via="preferences"
                    )
                return "left_all"
            for sub in subscriptions:
                lst = sub.news_list
                assert lst.id is not None
                status = "active" if lst.slug in active else "unsubscribed"
                store.set_subscription_status(
                    subscriber_id, lst.id, status, now=now, via="preferences"
                )
                if lst.sections:
                    wanted = [s for s in lst.sections if s in sections.get(lst.slug, [])]
                    store.set_subscription_sections(
                        subscriber_id, lst.id, () if len(wanted) == len(lst.sections) else wanted
                    )
            store.set_paused(subscriber_id, pause, now=now)
        return "saved"

    def _preferences_page(self, subscriber_id: int, list_id: int, notice_key: str) -> Response:
        with self._store() as store:
            subscriber: Subscriber | None = store.get_subscriber_by_id(subscriber_id)
            news_list = store.get_list_by_id(list_id)
            if subscriber is None or news_list is None:
                raise HTTPException(404)
            subscriptions = store.subscriptions(subscriber_id)
            paused = store.is_paused(subscriber_id)
        return self._page(
            "preferences.html",
            locale=subscriber.locale or news_list.locale,
            email=subscriber.email,
            subscriptions=subscriptions,
            paused=paused,
            notice=notice_key,
            form_token=self._form_token(subscriber_id, list_id),
        )

    # -- archive ------------------------------------------------------------------------

    async def archive_index(self, request: Request) -> Response:
        slug = request.path_params["slug"]
        if not SLUG_RE.fullmatch(slug):
            raise HTTPException(404)
        news_list, dates = await run_in_threadpool(self._archive_dates, slug)
        html = self.pages.render(
            "archive.html",
            self.pages.locale_for(news_list.locale),
            list_name=news_list.name,
            dates=dates,
        )
        return HTMLResponse(html, headers=ARCHIVE_HEADERS)

    def _archive_dates(self, slug: str) -> tuple[NewsList, list[date]]:
        with self._store() as store:
            try:
                news_list = store.get_list(slug)
            except NotFoundError:
                raise HTTPException(404) from None
            return news_list, store.edition_dates(news_list)

    async def archive_edition(self, request: Request) -> Response:
        slug, day_text = request.path_params["slug"], request.path_params["day"]
        if not SLUG_RE.fullmatch(slug) or not DATE_RE.fullmatch(day_text):
            raise HTTPException(404)
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            raise HTTPException(404) from None
        html = await run_in_threadpool(self._archive_html, slug, day)
        return HTMLResponse(html, headers=ARCHIVE_HEADERS)

    def _archive_html(self, slug: str, day: date) -> str:
        key = (slug, day)
        if key in self._archive:
            self._archive.move_to_end(key)
            return self._archive[key]
        with self._store() as store:
            try:
                news_list = store.get_list(slug)
            except NotFoundError:
                raise HTTPException(404) from None
            if not store.edition_went_out(news_list, day):
                raise HTTPException(404)
            edition = pipeline.load_edition(store, news_list, day)
        # The archive's own copy: no subscriber, so no unsubscribe link and no "you receive
        # this at" line; a site's own templates that still write placeholders get blanks.
        rendered = pipeline.make_renderer(self.settings).render(edition, archive=True)
        html = PLACEHOLDER_RE.sub("", rendered.html)
        self._archive[key] = html
        while len(self._archive) > 64:
            self._archive.popitem(last=False)
        return html
