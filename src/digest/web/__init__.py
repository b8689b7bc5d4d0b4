"""The Starlette app behind `digest serve`: the editor's preview and the subscriber routes.

Each part contributes its routes from its own module (`preview`, `public`);
`create_app` assembles them and puts `guard.Guard` in front: security headers on
everything and, with `public_mode`, the editor password on everything that is not a
subscriber route.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Route

from digest.clock import SYSTEM, Clock
from digest.config import Settings
from digest.web import preview, public, signup
from digest.web.guard import Guard, TokenLimits, served_hosts
from digest.web.webhooks import ProviderHooks, SnsFetcher


async def _health(_request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def create_app(
    settings: Settings,
    *,
    public_mode: bool = False,
    clock: Clock = SYSTEM,
    port: int = 8000,
    sns: SnsFetcher | None = None,
) -> Starlette:
    """Build the app. With `public_mode` the preview routes need the editor password.

    It answers only Host values it serves: 127.0.0.1, localhost and [::1] with `port`
    (the one it listens on), and under `public_mode` DIGEST_BASE_URL's host too.

    `clock` (default: the system's) drives token grace periods, form expiry, rate-limit
    windows and the preview's "today", so tests can move time instead of waiting.

    `sns` fetches SNS signing certificates and confirms subscriptions for the SES
    webhook; the default reaches only https://sns.<region>.amazonaws.com. A test-only
    seam (tests trust their own loopback server), deliberately not a setting.
    """
    now = clock.now
    limits = TokenLimits(settings.rate_limit, lambda: now().timestamp())
    subscriber_pages = public.PublicPages(settings, clock=now, limits=limits)
    routes: list[BaseRoute] = [Route("/healthz", _health)]
    routes += subscriber_pages.routes()
    signup_pages = signup.SignupPages(
        settings, clock=now, limits=limits, pages=subscriber_pages.pages
    )
    routes += signup_pages.routes()
    if public_mode:  # a provider reaches the site only through its public server
        routes += ProviderHooks(settings, clock=now, limits=limits, sns=sns).routes()
    routes += preview.routes(settings, public_mode=public_mode, now=now)
    guard = Middleware(
        Guard,
        public_mode=public_mode,
        password=settings.editor_password,
        limiter=limits.failures,
        hosts=served_hosts(port, public_url=settings.base_url if public_mode else ""),
        hsts=public_mode and settings.base_url.startswith("https://"),
    )
    errors = {404: subscriber_pages.error_page, 429: subscriber_pages.error_page}
    app = Starlette(routes=routes, middleware=[guard], exception_handlers=errors)
    app.state.settings = settings
    app.state.public_mode = public_mode
    return app
