"""The editor's preview over real HTTP (Starlette's TestClient) on a real SQLite file."""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from digest import pipeline
from digest.clock import Clock
from digest.config import Settings, load_settings
from digest.demo import run_demo
from digest.render import default_templates_dir
from digest.sink import CaptureServer
from digest.store import Store
from digest.web import create_app
from digest.web.preview import content_version
from tests.conftest import LOCAL, NOW, received_messages

PAST = date(2026, 11, 20)
PAGE = f"/preview/daily/{PAST.isoformat()}"
LATE_EVENING = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)  # the app's clock


def checks_of(page: str) -> dict[str, str]:
    return {
        name: state
        for state, name in re.findall(r'<li class="(ok|bad)" data-check="([^"]+)"', page)
    }


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The demo's list, subscribers and articles, its edition for PAST recorded as sent."""
    folder = tmp_path_factory.mktemp("preview")
    settings = load_settings(
        env={}, overrides={"db": folder / "news.db", "outbox": folder / "outbox"}, cwd=folder
    )
    moment = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
    return run_demo(settings, day=PAST, clock=Clock.frozen(moment), folder=folder / "demo").settings


@pytest.fixture
def client(demo: Settings) -> Iterator[TestClient]:
    with TestClient(
        base_url=LOCAL, app=create_app(demo, clock=Clock.frozen(LATE_EVENING))
    ) as opened:
        yield opened


def test_index_lists_lists_with_past_and_upcoming_editions(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "Sahel Morning Digest" in page.text
    # 23:30 UTC is already tomorrow in N'Djamena (UTC+1): "today" is the list's date.
    today = date(2026, 11, 28)
    for day, label in [(today, "(today)"), (today + timedelta(days=1), "(tomorrow)")]:
        assert f'href="/preview/daily/{day}">{day} {label}</a>' in page.text
    assert f'href="{PAGE}">{PAST}</a>' in page.text  # the recorded, sent edition


def test_edition_page_has_views_tabs_and_checks(client: TestClient) -> None:
    page = client.get(PAGE)
    assert page.status_code == 200
    frame = re.search(r'<iframe class="email"[^>]* src="([^"]+)" width="600"', page.text)
    assert frame
    for label in ("Desktop (600 px)", "Mobile (375 px)", "Dark mode", "HTML", "Text part",
                  "MJML", "Raw message"):  # fmt: skip
        assert f">{label}</a>" in page.text
    email = client.get(frame.group(1).replace("&amp;", "&"))
    assert email.status_code == 200 and email.text.startswith("<!doctype html>")
    assert "[[" not in email.text  # personalised like a real message
    assert 'width="375"' in client.get(PAGE, params={"view": "mobile"}).text
    dark = client.get(f"{PAGE}/email.html", params={"dark": "1"}).text
    assert "@media all" in dark and "prefers-color-scheme: dark" not in dark

    assert checks_of(page.text) == {
        "size": "ok",
        "images without alt": "ok",  # importing gives an image without alt the title (issue 3)
        "non-https links": "bad",  # DIGEST_BASE_URL is http://127.0.0.1:8000 here
        "images not on https": "ok",  # the sample's images are all on https
        "base URL": "bad",  # and that is loopback and plain http
        "unsubscribe link": "ok",
        "size budget": "ok",
    }
    assert "http://127.0.0.1:8000/u/" in page.text


@pytest.mark.parametrize(
    ("base_url", "state", "words"),
    [
        ("http://127.0.0.1:8000", "bad", ["loopback", "plain http"]),
        ("https://localhost", "bad", ["loopback"]),
        ("https://[::1]:8443", "bad", ["loopback"]),
        ("http://news.example.com", "bad", ["plain http"]),
        ("https://news.example.com", "ok", ["links go to https://news.example.com"]),
    ],
)
def test_checks_flag_a_loopback_or_plain_http_base_url(
    demo: Settings, base_url: str, state: str, words: list[str]
) -> None:
    """Issue 11.2: real mail would carry unsubscribe links nobody can open."""
    with TestClient(base_url=LOCAL, app=create_app(replace(demo, base_url=base_url))) as client:
        page = client.get(PAGE).text
    assert checks_of(page)["base URL"] == state
    item = re.search(r'<li class="\w+" data-check="base URL">(.*?)</li>', page, re.S)
    assert item and all(word in item.group(1) for word in words), item
    assert ("loopback" in item.group(1)) == ("loopback" in words)


def test_source_tabs_show_html_text_mjml_and_the_raw_message(client: TestClient) -> None:
    html = client.get(PAGE, params={"view": "html"}).text
    assert "&lt;!doctype html&gt;" in html
    text = client.get(PAGE, params={"view": "text"}).text
    assert "== Tchad ==" in text
    mjml = client.get(PAGE, params={"view": "mjml"}).text
    assert "&lt;mjml lang=&#x27;en&#x27;" in mjml or "&lt;mjml lang=&quot;en&quot;" in mjml
    raw = client.get(PAGE, params={"view": "raw"}).text
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw
    assert "Content-Type: multipart/alternative" in raw


def test_preview_as_a_subscriber_uses_their_sections_name_and_language(
    client: TestClient,
) -> None:
    def find(text: str) -> dict[str, str]:
        page = client.get(PAGE, params={"find": text})
        return dict(
            (label.split(" &lt;")[0], sid)
            for sid, label in re.findall(r'<option value="(\d+)"[^>]*>([^<]+)</option>', page.text)
        )

    john, amina = find("john")["John Smith"], find("AMINA")["Amina Mahamat"]
    as_john = client.get(PAGE, params={"as": john, "view": "text"}).text
    assert "== English News ==" in as_john and "== Sport ==" in as_john
    assert "== Tchad ==" not in as_john  # John chose two sections
    raw = client.get(PAGE, params={"as": john, "view": "raw"}).text
    assert "To: John Smith &lt;john.smith@example.org&gt;" in raw
    as_amina = client.get(PAGE, params={"as": amina, "view": "text"}).text
    assert "Se désabonner" in as_amina and "== Tchad ==" in as_amina
    in_arabic = client.get(PAGE, params={"as": amina, "lang": "ar", "view": "text"}).text
    assert "إلغاء الاشتراك" in in_arabic


def test_checks_report_budget_cuts_and_a_missing_unsubscribe_link(
    demo: Settings, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    footer = (default_templates_dir() / "footer.mjml").read_text(encoding="utf-8")
    (site / "footer.mjml").write_text(
        footer.replace('<a href="{{ unsubscribe_url }}">', '<a href="{{ archive_url }}">')
    )
    tight = replace(demo, templates=site, html_budget_kb=20)
    with TestClient(base_url=LOCAL, app=create_app(tight)) as client:
        page = client.get(PAGE).text
    found = checks_of(page)
    assert found["unsubscribe link"] == "bad" and found["size budget"] == "bad"
    assert "article(s) cut to" in page


def test_template_error_is_shown_in_the_page(demo: Settings, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "header.mjml").write_text("<mj-section>\n<mj-column>\n<mj-text>x\n</mj-section>\n")
    with TestClient(base_url=LOCAL, app=create_app(replace(demo, templates=site))) as client:
        page = client.get(PAGE)
    assert page.status_code == 500
    assert 'role="alert"' in page.text and "header.mjml:3" in page.text
    assert "Traceback" not in page.text and "/preview/_version" in page.text


def test_send_test_goes_through_the_configured_smtp_server(
    demo: Settings, smtp_server: CaptureServer
) -> None:
    with TestClient(
        base_url=LOCAL, app=create_app(replace(demo, smtp_url=smtp_server.url))
    ) as client:
        refused = client.post(
            f"{PAGE}/send-test",
            data={"to": "editor@example.com"},
            headers={"origin": "http://evil.example"},
        )
        assert refused.status_code == 403
        sent = client.post(
            f"{PAGE}/send-test", data={"to": "editor@example.com"}, follow_redirects=False
        )
        assert sent.status_code == 303 and "test+copy+sent" in sent.headers["location"]
        assert "test copy sent to editor@example.com" in client.get(sent.headers["location"]).text
    [message] = received_messages(smtp_server)
    assert message["To"] == "editor@example.com"
    assert message["Subject"].startswith("[Test] Sahel Morning Digest")


def ledger_rows(settings: Settings) -> tuple[int, int]:
    with sqlite3.connect(settings.db) as db:
        editions = db.execute("SELECT count(*) FROM editions").fetchone()[0]
        deliveries = db.execute("SELECT count(*) FROM deliveries").fetchone()[0]
    return editions, deliveries


def test_send_test_sends_the_previewed_view_to_the_test_address_only(
    demo: Settings, smtp_server: CaptureServer
) -> None:
    before = ledger_rows(demo)
    with TestClient(
        base_url=LOCAL, app=create_app(replace(demo, smtp_url=smtp_server.url))
    ) as client:
        page = client.get(PAGE, params={"find": "john.smith@"}).text
        john = re.search(r'<option value="(\d+)" selected>John Smith', page)  # the one match
        assert john  # John chose English News and Sport; he reads English
        view = client.get(PAGE, params={"as": john.group(1), "lang": "fr"}).text
        assert '<input type="hidden" name="as" value="' + john.group(1) + '">' in view
        assert '<input type="hidden" name="lang" value="fr">' in view
        refused = client.post(
            f"{PAGE}/send-test",
            data={"to": "editor@example.com", "as": john.group(1), "lang": "fr"},
            headers={"origin": "http://evil.example"},
        )
        assert refused.status_code == 403 and not smtp_server.handler.received
        sent = client.post(
            f"{PAGE}/send-test",
            data={"to": "editor@example.com", "as": john.group(1), "lang": "fr"},
            follow_redirects=False,
        )
        assert sent.status_code == 303
        assert f"as={john.group(1)}&lang=fr&notice=test+copy+sent" in sent.headers["location"]
    [(_, recipients, path)] = smtp_server.handler.received
    assert recipients == ["editor@example.com"]
    [message] = received_messages(smtp_server)
    assert [a.addr_spec for a in message["To"].addresses] == ["editor@example.com"]
    assert message["Subject"].startswith("[Test] Sahel Morning Digest")
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "== English News ==" in text and "== Sport ==" in text
    assert "== Tchad ==" not in text and "== Afrique ==" not in text
    assert "Se désabonner" in text and "Unsubscribe" not in text
    assert "john.smith@example.org" not in path.read_text(encoding="utf-8", errors="replace")
    assert ledger_rows(demo) == before


def test_version_changes_with_templates_and_database(demo: Settings, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    settings = replace(demo, templates=site, db=tmp_path / "copy.db")
    shutil.copy(demo.db, settings.db)
    with TestClient(base_url=LOCAL, app=create_app(settings)) as client:
        first = client.get("/preview/_version").json()["version"]
        assert client.get("/preview/_version").json()["version"] == first
        (site / "footer.mjml").write_text("changed")
        second = client.get("/preview/_version").json()["version"]
        assert second != first
    with settings.db.open("ab") as handle:
        handle.write(b"\0")
    assert content_version(settings) != second


def test_preview_as_is_a_search_whose_page_does_not_grow_with_the_list(
    demo: Settings, tmp_path: Path
) -> None:
    """Issue 11, item 8: one <option> per subscriber was an 8.5 MB page at 100,000."""
    settings = replace(demo, db=tmp_path / "big.db")
    shutil.copy(demo.db, settings.db)
    with TestClient(base_url=LOCAL, app=create_app(settings)) as client:
        small = len(client.get(PAGE).content)
        rows = "".join(f"reader{n:04}@example.net,Reader {n},daily\n" for n in range(3000))
        with Store.open(settings.db) as store:
            pipeline.import_subscribers(store, "email,name,lists\n" + rows, name="x", now=NOW)
        page = client.get(PAGE)
        assert len(page.content) < small + 500  # the 3,000 new readers add nothing
        assert "reader0001@example.net" not in page.text
        found = client.get(PAGE, params={"find": "READER00"}).text
        options = re.findall(r'<option value="\d+"[^>]*>Reader (\d+) ', found)
        assert options == [str(n) for n in range(10)]  # the first ten by address
        assert "the first 10 matches; type more to narrow" in found
        one = client.get(PAGE, params={"find": "reader2999@", "view": "raw"}).text
        assert "To: Reader 2999 &lt;reader2999@example.net&gt;" in one  # one match: shown
        none = client.get(PAGE, params={"find": "nobody-at-all"}).text
        assert "no subscriber of this list matches “nobody-at-all”" in none
