"""web.guard: the limits and headers in front of every page, on the test's clock.

Each test fails on a deliberate bug that once passed the suite: IPv6 clients not grouped
per /64, no HSTS, no 429 for editor-password guessing, a chunked body over the cap read
whole.
"""

from __future__ import annotations

import base64
import http.client
import socket
from collections.abc import Iterator
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from digest import pipeline
from digest.clock import Clock
from digest.config import Settings
from digest.models import NewsList, Subscriber
from digest.secret import load_secret, make_token
from digest.sink import free_port
from digest.store import Store
from digest.web import create_app
from digest.web.guard import RateLimiter
from tests.conftest import LOCAL, NOW, ManualClock, serving

PASSWORD = "correct horse battery staple"


def test_ipv6_clients_are_counted_per_64_and_ipv4_per_address() -> None:
    fake = ManualClock()
    limiter = RateLimiter(2, fake.monotonic)
    assert limiter.hit("2001:db8:1:2::1") == 0
    assert limiter.hit("2001:db8:1:2::ffff") == 0  # same /64: the same client
    assert limiter.hit("2001:db8:1:2:aaaa::7") > 0  # the third from that /64 waits
    assert limiter.hit("2001:db8:1:3::1") == 0  # the next /64 is someone else
    assert limiter.hit("192.0.2.1") == 0
    assert limiter.hit("192.0.2.1") == 0
    assert limiter.hit("192.0.2.2") == 0  # IPv4: each address on its own
    fake.advance(61)
    assert limiter.hit("2001:db8:1:2::1") == 0  # a minute later, allowed again


@pytest.mark.parametrize(
    ("base_url", "public_mode", "hsts"),
    [
        ("https://news.example.com", True, True),
        ("http://news.example.com", True, False),  # HSTS over http means nothing
        ("https://news.example.com", False, False),  # loopback preview: no HSTS
    ],
)
def test_hsts_only_for_a_public_https_site(
    settings: Settings, base_url: str, public_mode: bool, hsts: bool
) -> None:
    settings = replace(settings, base_url=base_url, editor_password=PASSWORD)
    pipeline.init_project(settings)
    served = base_url if public_mode else LOCAL  # only --public answers the site's own Host
    with TestClient(create_app(settings, public_mode=public_mode), base_url=served) as client:
        response = client.get("/healthz")
    header = response.headers.get("strict-transport-security", "")
    assert bool(header) is hsts
    if hsts:
        assert "max-age=" in header


def basic(password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"editor:{password}".encode()).decode()}


def test_guessing_the_editor_password_gets_429(settings: Settings) -> None:
    settings = replace(
        settings, base_url="https://news.example.com", editor_password=PASSWORD, rate_limit=3
    )
    pipeline.init_project(settings)
    fake = ManualClock()
    app = create_app(settings, public_mode=True, clock=fake.clock)
    with TestClient(app, base_url="https://news.example.com") as client:
        codes = [client.get("/", headers=basic(f"guess {i}")).status_code for i in range(6)]
        assert codes[:3] == [401, 401, 401]
        assert codes[3:] == [429, 429, 429]
        fake.advance(61)
        assert client.get("/", headers=basic(PASSWORD)).status_code == 200


@pytest.fixture
def site(settings: Settings) -> Iterator[tuple[Settings, str]]:
    """The app on real uvicorn (a real HTTP parser), and one genuine unsubscribe path."""
    port = free_port()
    settings = replace(settings, base_url=f"http://127.0.0.1:{port}")
    pipeline.init_project(settings)
    with Store.open(settings.db) as store:
        daily = store.add_list(NewsList(slug="daily", name="Daily"), now=NOW)
        amina, _ = store.upsert_subscriber(
            Subscriber(email="amina@example.com"), lists=[(daily, ())], now=NOW
        )
    assert amina.id is not None and daily.id is not None
    token = make_token(load_secret(settings.secret_file), "unsubscribe", amina.id, daily.id)
    with serving(create_app(settings, clock=Clock.starting_at(NOW), port=port), port):
        yield settings, f"/u/{token}"


def test_a_chunked_body_over_the_cap_is_refused_without_reading_it_all(
    site: tuple[Settings, str],
) -> None:
    """No Content-Length to check up front: the cap must hold while the chunks arrive."""
    settings, path = site
    port = int(settings.base_url.rsplit(":", 1)[1])
    chunk = b"a" * 4096
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        try:
            for _ in range(64):  # 256 KB offered, 16 KB allowed
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: that is the point
        reply = sock.recv(4096).decode("latin-1")
    assert reply.startswith("HTTP/1.1 413"), reply[:200]
    # And a genuine one-click unsubscribe still works.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = b"List-Unsubscribe=One-Click"
    connection.request(
        "POST",
        path,
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert connection.getresponse().status == 200
    connection.close()
