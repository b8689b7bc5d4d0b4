"""What protects the web app: security headers, the editor password, rate limits, body limits."""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.datastructures import FormData, Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PUBLIC_PREFIXES = (
    "/u/",
    "/p/",
    "/archive/",
    "/subscribe/",
    "/confirm/",
    "/webhooks/",
    "/healthz",
)
BASELINE_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "SAMEORIGIN",
    "referrer-policy": "same-origin",
}
PROXY_HEADERS = (b"x-forwarded-for", b"forwarded", b"x-real-ip")


def is_public_path(path: str) -> bool:
    return any(path == p.rstrip("/") or path.startswith(p) for p in PUBLIC_PREFIXES)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class RateLimiter:
    """At most `limit` requests a minute per client; fixed one-minute windows, in memory.

    IPv6 clients are counted per /64 (one host usually has the whole /64).
    """

    MAX_CLIENTS = 10_000

    def __init__(self, limit: int, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.clock = clock
        self._windows: dict[str, tuple[int, int]] = {}

    @staticmethod
    def client_key(host: str) -> str:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return host
        if address.version == 6:
            return str(ipaddress.ip_network(f"{address}/64", strict=False))
        return str(address)

    def hit(self, host: str, *, count: bool = True) -> int:
        """Count one request; 0 when allowed, else the seconds until the client may retry.

        With `count=False` only says whether the client is over its limit already.
        """
        now = self.clock()
        minute = int(now // 60)
        key = self.client_key(host)
        if len(self._windows) > self.MAX_CLIENTS:
            self._windows = {k: v for k, v in self._windows.items() if v[0] == minute}
        start, seen = self._windows.get(key, (minute, 0))
        if start != minute:
            start, seen = minute, 0
        if count:
            seen += 1
            self._windows[key] = (start, seen)
        if seen > self.limit or (not count and seen >= self.limit):
            return max(1, int((minute + 1) * 60 - now))
        return 0


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def served_hosts(port: int, *, public_url: str = "") -> frozenset[str]:
    """The Host values the server answers: loopback with its port, and `public_url`'s.

    Anything else is a DNS-rebinding page (evil.example resolving to 127.0.0.1) or a
    mistake; browsers omit the port only when it is the scheme's default.
    """
    hosts = {f"{name}:{port}" for name in LOOPBACK_NAMES}
    if port == 80:
        hosts.update(LOOPBACK_NAMES)
    if public_url:
        parts = urlsplit(public_url)
        if parts.hostname:
            name = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
            default = {"http": 80, "https": 443}.get(parts.scheme)
            explicit = parts.port
            if explicit is None or explicit == default:
                hosts.add(name)
            if explicit is not None:
                hosts.add(f"{name}:{explicit}")
            elif default is not None:
                hosts.add(f"{name}:{default}")
    return frozenset(hosts)


def same_origin(headers: Headers) -> bool:
    """False when the browser says the request comes from another site."""
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == headers.get("host", "").lower()


def client_host(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class TokenLimits:
    """Rate limits of the token routes, per client address.

    Bad tokens (and refused forms) count against `limit` a minute: guessing is what
    the limit stops. Good ones count only against a limit twenty times higher, because
    a mailbox provider posts every one-click unsubscribe of its users from a few
    addresses and must not be turned away for it.
    """

    def __init__(self, limit: int, clock: Callable[[], float]) -> None:
        self.failures = RateLimiter(limit, clock)
        self.requests = RateLimiter(limit * 20, clock)

    def check(self, request: Request) -> None:
        host = client_host(request)
        wait = self.failures.hit(host, count=False) or self.requests.hit(host)
        if wait:
            raise _too_many(wait)

    def failed(self, request: Request) -> None:
        self.failures.hit(client_host(request))


def _too_many(wait: int) -> HTTPException:
    return HTTPException(
        429, "Too many requests; try again in a minute.", headers={"Retry-After": str(wait)}
    )


def _too_many_attempts(wait: int) -> PlainTextResponse:
    return PlainTextResponse(
        "Too many attempts.\n", status_code=429, headers={"Retry-After": str(wait)}
    )


async def read_form(request: Request, *, max_bytes: int, max_fields: int = 100) -> FormData:
    """The urlencoded or multipart form body, refusing bodies over `max_bytes` (413)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise HTTPException(413, "Request too large.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise HTTPException(413, "Request too large.")
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        if body.strip():
            raise HTTPException(415, "Send a form (urlencoded or multipart).")
        return FormData()
    return await Request(request.scope, replay).form(
        max_files=0, max_fields=max_fields, max_part_size=max_bytes
    )


class Guard:
    """ASGI middleware in front of every route.

    * Baseline security headers on every response (routes may set stricter ones).
    * With `public_mode`, every route that is not a subscriber route needs the editor
      password (HTTP Basic, any user name): deny by default, so a preview route added
      later is covered without anyone remembering to.
    * Without `public_mode`, a request that came through a proxy may not reach the
      preview: serving previews to the internet needs --public and a password.
    * A POST (or any unsafe method) to the preview must come from the preview's own
      pages: browsers resend a cached Basic password, and a page on any site can post
      to http://127.0.0.1:8000, so Origin and Sec-Fetch-Site are checked.
    * Every request must name one of `hosts` in its Host header (DNS rebinding: a
      hostile page whose name resolves to 127.0.0.1 is same-origin with itself).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        public_mode: bool,
        password: str,
        limiter: RateLimiter,
        hosts: frozenset[str],
        hsts: bool = False,
    ) -> None:
        self.app = app
        self.hosts = hosts
        self.public_mode = public_mode
        self.password = password.encode()
        self.limiter = limiter
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in BASELINE_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                if self.hsts and "strict-transport-security" not in headers:
                    headers["strict-transport-security"] = "max-age=31536000"
            await send(message)

        host = Headers(scope=scope).get("host", "").lower()
        if host not in self.hosts:
            refused = PlainTextResponse("Unknown Host header.\n", status_code=421)
            await refused(scope, receive, send_with_headers)
            return
        path: str = scope["path"]
        if not is_public_path(path):
            refusal = self._refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send_with_headers)
                return
        await self.app(scope, receive, send_with_headers)

    def _refusal(self, scope: Scope) -> PlainTextResponse | None:
        headers = Headers(scope=scope)
        if scope["method"] not in ("GET", "HEAD", "OPTIONS") and not same_origin(headers):
            return PlainTextResponse("Cross-site request refused.\n", status_code=403)
        if not self.public_mode:
            if any(h in dict(scope["headers"]) for h in PROXY_HEADERS):
                return PlainTextResponse(
                    "The preview is for this machine only; run `digest serve --public` "
                    "with DIGEST_EDITOR_PASSWORD to reach it through a proxy.\n",
                    status_code=403,
                )
            return None
        host = scope["client"][0] if scope.get("client") else "unknown"
        wait = self.limiter.hit(host, count=False)  # limited: every attempt, even the right one
        if wait:
            return _too_many_attempts(wait)
        if self.password and self._password_ok(headers.get("authorization", "")):
            return None
        if headers.get("authorization"):
            wait = self.limiter.hit(host)
            if wait:
                return _too_many_attempts(wait)
        return PlainTextResponse(
            "Editor password needed.\n",
            status_code=401,
            headers={"WWW-Authenticate": 'Basic realm="digest editor", charset="UTF-8"'},
        )

    def _password_ok(self, authorization: str) -> bool:
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic" or len(encoded) > 1024:
            return False
        try:
            decoded = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return False
        _, _, given = decoded.partition(b":")
        return hmac.compare_digest(given, self.password)
