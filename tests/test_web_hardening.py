"""The web server against an attacker (issue 11, item 7): Host, guessing, body sizes."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from digest import pipeline
from digest.config import Settings
from digest.models import Article, NewsList, Subscriber
from digest.sink import CaptureServer
from digest.store import Store
from digest.web import create_app
from tests.conftest import LOCAL, NOW, ManualClock

PASSWORD = "correct horse battery"
EDITION = "/preview/daily/2026-11-27"


@pytest.fixture
def site(settings: Settings, smtp_server: CaptureServer) -> Settings:
    """A list with one subscriber and one article for 2026-11-27, mail to the sink."""
    settings = replace(settings, smtp_url=smtp_server.url, editor_password=PASSWORD)
    pipeline.init_project(settings)
    with Store.open(settings.db) as store:
        daily = store.add_list(NewsList(slug="daily", name="Daily News"), now=NOW)
        store.upsert_subscriber(
            Subscriber(email="amina@example.com", name="Amina"), lists=[(daily, ())], now=NOW
        )
        store.upsert_article(
            Article(
                url="https://news.example.com/1",
                title="One",
                published_at=NOW - timedelta(hours=2),
                section="News",
            ),
            now=NOW,
        )
    return settings


@pytest.fixture
def local(site: Settings) -> Iterator[TestClient]:
    with TestClient(base_url=LOCAL, app=create_app(site, port=8000)) as client:
        yield client


# -- DNS rebinding ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:8000",  # a hostile name resolving to 127.0.0.1
        "evil.example",
        "127.0.0.1:9999",  # another port: not this server
        "127.0.0.1",
        "news.example.com",  # DIGEST_BASE_URL's host, but not under --public
        "",
    ],
)
def test_the_preview_refuses_a_host_it_does_not_serve(
    local: TestClient, site: Settings, host: str
) -> None:
    for path in ("/", f"{EDITION}?view=raw", "/healthz", "/u/1-1-x"):
        response = local.get(path, headers={"host": host})
        assert response.status_code == 421, (host, path)
        assert "amina@example.com" not in response.text


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8000", "localhost:8000", "[::1]:8000", "LOCALHOST:8000"]
)
def test_the_preview_answers_its_loopback_names_with_its_port(local: TestClient, host: str) -> None:
    page = local.get(f"{EDITION}?view=raw", headers={"host": host})
    assert page.status_code == 200 and "Daily News" in page.text
    assert local.get("/", headers={"host": host}).status_code == 200


def test_under_public_the_base_urls_host_is_served_too(site: Settings) -> None:
    public = replace(site, base_url="https://news.example.com")
    with TestClient(base_url=LOCAL, app=create_app(public, public_mode=True)) as client:
        for host in ("news.example.com", "news.example.com:443", "127.0.0.1:8000"):
            assert client.get("/healthz", headers={"host": host}).status_code == 200, host
        for host in ("evil.example", "news.example.com.evil.example", "news.example.com:8443"):
            assert client.get("/healthz", headers={"host": host}).status_code == 421, host


# -- password guessing ----------------------------------------------------------------------


def _basic(password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"editor:{password}".encode()).decode()}


def test_once_a_client_is_limited_even_the_right_password_is_refused(site: Settings) -> None:
    fake = ManualClock()
    limited = replace(site, rate_limit=3)
    app = create_app(limited, public_mode=True, clock=fake.clock)
    with TestClient(base_url=LOCAL, app=app) as client:
        assert client.get("/", headers=_basic(PASSWORD)).status_code == 200
        for guess in ("guess1", "guess2", "guess3"):
            assert client.get("/", headers=_basic(guess)).status_code == 401
        right = client.get("/", headers=_basic(PASSWORD))
        assert right.status_code == 429 and int(right.headers["retry-after"]) > 0
        assert client.get("/", headers=_basic("guess4")).status_code == 429
        assert client.get("/").status_code == 429
        fake.advance(60)  # the window is over
        assert client.get("/", headers=_basic(PASSWORD)).status_code == 200


# -- body sizes -------------------------------------------------------------------------------


def test_send_test_refuses_a_large_body_and_sends_nothing(
    local: TestClient, smtp_server: CaptureServer
) -> None:
    body = "to=editor%40example.com&pad=" + "A" * 1_000_000
    response = local.post(
        f"{EDITION}/send-test",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert response.status_code == 413
    assert not smtp_server.handler.received
    sent = local.post(f"{EDITION}/send-test", data={"to": "editor@example.com"})
    assert sent.status_code == 200 and "test copy sent to editor@example.com" in sent.text
    assert len(smtp_server.handler.received) == 1
