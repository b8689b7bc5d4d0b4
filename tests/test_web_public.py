"""Subscriber pages through Starlette's test client, and one-click unsubscribe on real uvicorn."""

from __future__ import annotations

import base64
import http.client
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from email.utils import parseaddr
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from digest import pipeline
from digest.clock import Clock
from digest.config import Settings, load_settings
from digest.models import Article, NewsList, Subscriber
from digest.secret import load_secret, make_token, rotate_secret
from digest.sink import CaptureServer, free_port
from digest.store import Store
from digest.web import create_app
from tests.conftest import LOCAL, Cli, article, received_messages, serving

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
ORIGIN = LOCAL


class WallClock:
    """The site's wall time, set by the test; `.clock` is what the app is given."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    @property
    def clock(self) -> Clock:
        return Clock(now=self)


@dataclass
class Site:
    settings: Settings
    store: Store
    clock: WallClock
    client: TestClient
    daily: NewsList
    weekly: NewsList
    amina: Subscriber
    bob: Subscriber

    def token(self, purpose: str, subscriber: Subscriber, news_list: NewsList) -> str:
        assert subscriber.id is not None and news_list.id is not None
        return make_token(
            load_secret(self.settings.secret_file), purpose, subscriber.id, news_list.id
        )

    def active(self, news_list: NewsList) -> list[str]:
        return [r.subscriber.email for r in self.store.recipients(news_list)]


@pytest.fixture
def site(settings: Settings) -> Iterator[Site]:
    settings = replace(settings, base_url=ORIGIN, rate_limit=1000)
    pipeline.init_project(settings)
    clock = WallClock()
    with Store.open(settings.db) as store:
        daily = store.add_list(
            NewsList(slug="daily", name="Daily News", sections=("Sport", "Politics")), now=NOW
        )
        weekly = store.add_list(NewsList(slug="weekly", name="Weekly Review"), now=NOW)
        amina, _ = store.upsert_subscriber(
            Subscriber(email="amina@example.com", name="Amina", locale="fr"),
            lists=[(daily, ()), (weekly, ())],
            now=NOW,
        )
        bob, _ = store.upsert_subscriber(
            Subscriber(email="bob@example.com", name="Bob"), lists=[(daily, ())], now=NOW
        )
        with TestClient(
            base_url=LOCAL, app=create_app(settings, clock=clock.clock), follow_redirects=False
        ) as client:
            yield Site(settings, store, clock, client, daily, weekly, amina, bob)


ONE_CLICK = {"List-Unsubscribe": "One-Click"}


# -- one-click unsubscribe --------------------------------------------------------------


def test_one_click_post_unsubscribes_and_is_idempotent(site: Site) -> None:
    url = f"/u/{site.token('unsubscribe', site.bob, site.daily)}"
    first = site.client.post(url, data=ONE_CLICK)
    assert first.status_code == 200 and "location" not in first.headers
    assert site.active(site.daily) == ["amina@example.com"]
    again = site.client.post(url, data=ONE_CLICK)
    assert again.status_code == 200
    assert again.text == first.text
    assert site.active(site.daily) == ["amina@example.com"]


def test_one_click_accepts_multipart(site: Site) -> None:
    url = f"/u/{site.token('unsubscribe', site.bob, site.daily)}"
    response = site.client.post(url, files={"List-Unsubscribe": (None, "One-Click")})
    assert response.status_code == 200
    assert site.active(site.daily) == ["amina@example.com"]


def test_a_post_without_the_one_click_body_changes_nothing(site: Site) -> None:
    url = f"/u/{site.token('unsubscribe', site.bob, site.daily)}"
    assert site.client.post(url, data={"List-Unsubscribe": "yes"}).status_code == 400
    assert (
        site.client.post(url, content=b"<xml/>", headers={"content-type": "text/xml"}).status_code
        == 415
    )
    assert "bob@example.com" in site.active(site.daily)


def test_get_never_unsubscribes(site: Site) -> None:
    url = f"/u/{site.token('unsubscribe', site.amina, site.daily)}"
    page = site.client.get(url)
    assert page.status_code == 200
    assert 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert '<form method="post" action="">' in page.text
    assert 'lang="fr"' in page.text and "Ne plus recevoir Daily News ?" in page.text  # French
    assert '<button type="submit">Se désabonner</button>' in page.text
    site.client.head(url)
    assert site.active(site.daily) == ["amina@example.com", "bob@example.com"]
    # The page's own button is a one-click POST.
    assert site.client.post(url, data=ONE_CLICK).status_code == 200
    assert site.active(site.daily) == ["bob@example.com"]


def test_a_token_only_touches_its_own_list(site: Site) -> None:
    token = site.token("unsubscribe", site.amina, site.daily)
    assert site.client.post(f"/u/{token}", data=ONE_CLICK).status_code == 200
    assert site.active(site.daily) == ["bob@example.com"]
    assert site.active(site.weekly) == ["amina@example.com"]
    # Pointing the token at the other list breaks its signature.
    sub_id, _, sig = token.split("-", 2)
    forged = f"{sub_id}-{site.weekly.id}-{sig}"
    assert site.client.post(f"/u/{forged}", data=ONE_CLICK).status_code == 404
    assert site.active(site.weekly) == ["amina@example.com"]


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1],  # truncated
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # tampered
        lambda t: "2" + t[1:] if not t.startswith("2") else "1" + t[1:],  # another subscriber
        lambda t: "1-1-" + "A" * 22,  # forged from scratch
        lambda t: t + "x" * 200,  # too long
        lambda t: "../../etc",
    ],
)
def test_forged_tokens_get_404_and_change_nothing(site: Site, mangle: object) -> None:
    token = site.token("unsubscribe", site.bob, site.daily)
    bad = mangle(token)  # type: ignore[operator]
    for response in (
        site.client.post(f"/u/{bad}", data=ONE_CLICK),
        site.client.get(f"/u/{bad}"),
        site.client.get(f"/p/{bad}"),
    ):
        assert response.status_code == 404
        assert "bob" not in response.text and "Daily" not in response.text
    assert site.active(site.daily) == ["amina@example.com", "bob@example.com"]


def test_a_token_for_another_purpose_is_refused(site: Site) -> None:
    prefs = site.token("preferences", site.bob, site.daily)
    assert site.client.post(f"/u/{prefs}", data=ONE_CLICK).status_code == 404
    unsub = site.token("unsubscribe", site.bob, site.daily)
    assert site.client.get(f"/p/{unsub}").status_code == 404
    assert "bob@example.com" in site.active(site.daily)


def test_old_tokens_work_during_the_grace_period_only(site: Site) -> None:
    old = site.token("unsubscribe", site.bob, site.daily)
    rotate_secret(site.settings.secret_file, now=NOW, grace=timedelta(days=30))
    assert site.client.get(f"/u/{old}").status_code == 200
    site.clock.now = NOW + timedelta(days=31)
    # Replaying a link from mail older than the grace period: 404, nothing changes.
    assert site.client.post(f"/u/{old}", data=ONE_CLICK).status_code == 404
    assert "bob@example.com" in site.active(site.daily)
    fresh = site.token("unsubscribe", site.bob, site.daily)
    assert site.client.post(f"/u/{fresh}", data=ONE_CLICK).status_code == 200


def test_a_deleted_subscriber_gets_the_same_answer(site: Site) -> None:
    token = site.token("unsubscribe", site.bob, site.daily)
    site.store.remove_subscriber("bob@example.com", now=NOW)
    response = site.client.post(f"/u/{token}", data=ONE_CLICK)
    assert response.status_code == 200
    assert "Daily News" in response.text


# -- preferences ------------------------------------------------------------------------


def form_of(page: str) -> dict[str, str]:
    match = re.search(r'name="form_token" value="([^"]+)"', page)
    assert match
    return {"form_token": match.group(1)}


def test_preferences_page_sets_sections_pause_and_leave(site: Site) -> None:
    url = f"/p/{site.token('preferences', site.bob, site.daily)}"
    page = site.client.get(url)
    assert page.status_code == 200
    assert "bob@example.com" in page.text and "Receive Daily News" in page.text
    # Keep daily with Sport only.
    data = {**form_of(page.text), "list:daily": "on", "sections:daily": "Sport", "action": "save"}
    saved = site.client.post(url, data=data, headers={"origin": ORIGIN})
    assert saved.status_code == 200 and "Saved." in saved.text
    assert site.store.subscription_sections(site.bob.id or 0) == {"daily": ["Sport"]}
    # Pause: no mail until resumed.
    data = {**form_of(saved.text), "list:daily": "on", "pause": "on"}
    site.client.post(url, data=data, headers={"origin": ORIGIN})
    assert site.active(site.daily) == ["amina@example.com"]
    data = {**form_of(saved.text), "list:daily": "on"}
    site.client.post(url, data=data, headers={"origin": ORIGIN})
    assert site.active(site.daily) == ["amina@example.com", "bob@example.com"]
    assert site.store.subscription_sections(site.bob.id or 0) == {"daily": []}  # all ticked


def test_leave_all_lists_in_the_subscribers_language(site: Site) -> None:
    url = f"/p/{site.token('preferences', site.amina, site.weekly)}"
    page = site.client.get(url)
    assert "Vos préférences" in page.text and "Recevoir Weekly Review" in page.text
    left = site.client.post(url, data={**form_of(page.text), "action": "leave"})
    assert left.status_code == 200 and "quitté toutes les listes" in left.text
    assert site.active(site.daily) == ["bob@example.com"]
    assert site.active(site.weekly) == []


def site_catalogue(folder: Path, lang: str, entries: dict[str, str]) -> Path:
    """A DIGEST_TEMPLATES folder whose catalogue for `lang` holds only `entries`."""
    po = folder / "locale" / lang / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    body = "".join(f'msgid "{k}"\nmsgstr "{v}"\n\n' for k, v in entries.items())
    po.write_text(
        f'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n{body}',
        encoding="utf-8",
    )
    return folder


def test_preferences_texts_come_from_the_catalogues_a_site_can_override(
    site: Site, tmp_path: Path
) -> None:
    folder = site_catalogue(tmp_path / "theme", "fr", {"Save": "Garder mes choix"})
    settings = replace(site.settings, templates=folder)
    url = f"/p/{site.token('preferences', site.amina, site.daily)}"
    with TestClient(base_url=LOCAL, app=create_app(settings, clock=site.clock.clock)) as client:
        page = client.get(url).text
    assert '<html lang="fr" dir="ltr">' in page
    assert ">Garder mes choix</button>" in page  # the site's own msgstr wins...
    assert ">Quitter toutes les listes</button>" in page  # ...the theme's fills the rest
    assert "Courriels envoyés à amina@example.com" in page
    assert ">Enregistrer</button>" in site.client.get(url).text  # without the override


def test_arabic_pages_are_right_to_left(site: Site) -> None:
    layla, _ = site.store.upsert_subscriber(
        Subscriber(email="layla@example.com", locale="ar"), lists=[(site.daily, ())], now=NOW
    )
    page = site.client.get(f"/p/{site.token('preferences', layla, site.daily)}").text
    assert '<html lang="ar" dir="rtl">' in page
    assert "<title>تفضيلات البريد الإلكتروني</title>" in page and ">حفظ</button>" in page
    done = site.client.post(f"/u/{site.token('unsubscribe', layla, site.daily)}", data=ONE_CLICK)
    assert 'dir="rtl"' in done.text and "لن تتلقى بعد الآن أي رسائل من Daily News." in done.text


def test_a_language_without_a_catalogue_gets_english(site: Site) -> None:
    greta, _ = site.store.upsert_subscriber(
        Subscriber(email="greta@example.com", locale="de"), lists=[(site.daily, ())], now=NOW
    )
    page = site.client.get(f"/p/{site.token('preferences', greta, site.daily)}").text
    assert '<html lang="en" dir="ltr">' in page and "Your email preferences" in page


def test_404_speaks_the_browsers_language_and_tells_nothing_about_the_token(
    site: Site,
) -> None:
    key = load_secret(site.settings.secret_file)
    unknown = make_token(key, "preferences", 999, site.daily.id or 0)  # genuine, nobody's
    forged = site.token("preferences", site.bob, site.daily)[:-2] + "AA"
    answers = [
        site.client.get(f"/p/{token}", headers={"accept-language": "de-DE, fr;q=0.8, en;q=0.5"})
        for token in (unknown, forged)
    ]
    for response in answers:
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert '<html lang="fr" dir="ltr">' in response.text
        assert "Ce lien n’est pas valide." in response.text
    assert answers[0].text == answers[1].text
    assert {k for k in answers[0].headers if k != "date"} == {
        k for k in answers[1].headers if k != "date"
    }
    assert answers[0].headers["x-frame-options"] == answers[1].headers["x-frame-options"]
    english = site.client.get("/archive/nope/", headers={"accept-language": "fr;q=0, de"})
    assert english.status_code == 404 and "This link is not valid." in english.text
    # The editor's side keeps Starlette's plain answer.
    assert site.client.get("/no/such/page").headers["content-type"].startswith("text/plain")


def test_every_page_string_is_translated() -> None:
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    from digest.render import default_templates_dir
    from digest.web.pages import PAGES_DIR

    options = {"extensions": "jinja2.ext.i18n", "trim_blocks": "True", "lstrip_blocks": "True"}
    found = {
        msgid
        for _, _, msgid, *_ in extract_from_dir(
            str(PAGES_DIR),
            [("**.html", "jinja2"), ("**.txt", "jinja2")],  # the pages and the sign-up mails
            options_map={"**": options},
        )
    }
    assert len(found) >= 15
    for lang in ("fr", "ar"):
        po = default_templates_dir() / "locale" / lang / "LC_MESSAGES" / "messages.po"
        with po.open("rb") as handle:
            catalog = read_po(handle)
        for msgid in found:
            message = catalog.get(msgid)
            assert message is not None and message.string and not message.fuzzy, (lang, msgid)


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "http://127.0.0.1:8000.evil.example"},
        {"origin": "null"},  # a sandboxed frame or data: page (issue 11, item 7)
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
    ],
)
def test_a_cross_site_post_to_preferences_is_refused(site: Site, headers: dict[str, str]) -> None:
    url = f"/p/{site.token('preferences', site.bob, site.daily)}"
    form = form_of(site.client.get(url).text)
    response = site.client.post(url, data={**form, "action": "leave"}, headers=headers)
    assert response.status_code == 403
    assert "bob@example.com" in site.active(site.daily)


def test_preference_forms_cannot_be_forged_or_replayed(site: Site) -> None:
    bob_url = f"/p/{site.token('preferences', site.bob, site.daily)}"
    amina_url = f"/p/{site.token('preferences', site.amina, site.daily)}"
    no_token = site.client.post(bob_url, data={"action": "leave"})
    assert no_token.status_code == 403
    # A form token issued for Amina's page does not work on Bob's.
    amina_form = form_of(site.client.get(amina_url).text)
    assert site.client.post(bob_url, data={**amina_form, "action": "leave"}).status_code == 403
    # Bob's own form, replayed three hours later, has expired.
    bob_form = form_of(site.client.get(bob_url).text)
    site.clock.now = NOW + timedelta(hours=3)
    assert site.client.post(bob_url, data={**bob_form, "action": "leave"}).status_code == 403
    assert "bob@example.com" in site.active(site.daily)


# -- limits and headers -----------------------------------------------------------------


def test_security_headers(site: Site) -> None:
    response = site.client.get(f"/u/{site.token('unsubscribe', site.bob, site.daily)}")
    headers = response.headers
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cache-control"] == "no-store"
    assert site.client.get("/healthz").headers["x-content-type-options"] == "nosniff"


def test_large_bodies_are_refused(site: Site) -> None:
    url = f"/u/{site.token('unsubscribe', site.bob, site.daily)}"
    response = site.client.post(url, data={**ONE_CLICK, "pad": "x" * 20_000})
    assert response.status_code == 413
    assert "bob@example.com" in site.active(site.daily)


def test_token_routes_are_rate_limited_per_client(settings: Settings) -> None:
    settings = replace(settings, base_url=ORIGIN, rate_limit=5)
    pipeline.init_project(settings)
    clock = WallClock()
    with TestClient(base_url=LOCAL, app=create_app(settings, clock=clock.clock)) as client:
        codes = [client.get("/u/1-1-forged").status_code for _ in range(6)]
        assert codes == [404] * 5 + [429]
        limited = client.get("/p/1-1-forged")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) <= 60
        arabic = client.get("/u/1-1-forged", headers={"accept-language": "ar-EG"})
        assert arabic.status_code == 429 and "retry-after" in arabic.headers
        assert 'lang="ar" dir="rtl"' in arabic.text and "طلبات كثيرة جدا" in arabic.text
        clock.now += timedelta(minutes=1)
        assert client.get("/u/1-1-forged").status_code == 404


def test_genuine_one_click_posts_from_one_provider_address_are_not_turned_away(
    settings: Settings,
) -> None:
    settings = replace(settings, base_url=ORIGIN, rate_limit=2)
    pipeline.init_project(settings)
    key = load_secret(settings.secret_file)
    with Store.open(settings.db) as store:
        daily = store.add_list(NewsList(slug="daily", name="Daily"), now=NOW)
        for i in range(10):
            store.upsert_subscriber(
                Subscriber(email=f"p{i}@example.com"), lists=[(daily, ())], now=NOW
            )
        assert daily.id is not None
        with TestClient(
            base_url=LOCAL, app=create_app(settings, clock=WallClock().clock)
        ) as client:
            # Ten users of one mailbox provider unsubscribe within a minute: all served.
            for subscriber_id in range(1, 11):
                token = make_token(key, "unsubscribe", subscriber_id, daily.id)
                assert client.post(f"/u/{token}", data=ONE_CLICK).status_code == 200
            assert list(store.recipients(daily)) == []
            # Flooding with genuine tokens is capped too, twenty times higher.
            codes = {client.get(f"/u/{token}").status_code for _ in range(40)}
            assert codes == {200, 429}


# -- archive ----------------------------------------------------------------------------


def test_archive_shows_sent_editions_without_personal_data(
    site: Site, smtp_server: CaptureServer
) -> None:
    site.store.upsert_article(
        Article(
            url="https://news.example.com/goal",
            title="A late goal",
            section="Sport",
            published_at=datetime(2026, 11, 27, 5, tzinfo=UTC),
        ),
        now=NOW,
    )
    assert site.client.get("/archive/daily/2026-11-27").status_code == 404  # not sent yet
    report = pipeline.send_edition(
        site.store,
        replace(site.settings, smtp_url=smtp_server.url),
        slug="daily",
        day=date(2026, 11, 27),
        clock=site.clock.clock,
    )
    assert report.sent == 2
    index = site.client.get("/archive/daily/")
    assert index.status_code == 200 and 'href="2026-11-27"' in index.text
    page = site.client.get("/archive/daily/2026-11-27")
    assert page.status_code == 200 and "A late goal" in page.text
    for private in ("amina", "Amina", "bob@", "Bob", "/u/", "/p/", "[["):
        assert private not in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert site.client.get("/archive/daily/2026-11-28").status_code == 404
    assert site.client.get("/archive/daily/2026-13-45").status_code == 404
    assert site.client.get("/archive/nope/").status_code == 404


# -- the editor's side ------------------------------------------------------------------


def test_public_mode_puts_everything_else_behind_the_editor_password(settings: Settings) -> None:
    settings = replace(settings, base_url=ORIGIN, editor_password="correct horse battery")
    pipeline.init_project(settings)
    with TestClient(base_url=LOCAL, app=create_app(settings, public_mode=True)) as client:
        for path in ("/", "/lists", "/preview/daily/2026-11-27", "/archive-not-really"):
            response = client.get(path)
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"].startswith("Basic")
        wrong = base64.b64encode(b"editor:guess").decode()
        assert client.get("/", headers={"authorization": f"Basic {wrong}"}).status_code == 401
        right = base64.b64encode(b"editor:correct horse battery").decode()
        assert client.get("/", headers={"authorization": f"Basic {right}"}).status_code == 200
        assert client.get("/healthz").status_code == 200
        assert client.get("/archive/daily/").status_code == 404  # public route, no password
        assert client.get("/u/1-1-x").status_code == 404


def test_cross_site_posts_to_the_preview_are_refused(settings: Settings) -> None:
    settings = replace(settings, editor_password="correct horse battery")
    right = base64.b64encode(b"editor:correct horse battery").decode()
    for public_mode in (False, True):
        with TestClient(
            base_url=LOCAL, app=create_app(settings, public_mode=public_mode)
        ) as client:
            auth = {"authorization": f"Basic {right}"}
            url = "/preview/daily/2026-11-27/send-test"
            for headers in ({"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}):
                assert client.post(url, headers={**auth, **headers}).status_code == 403
            same = client.post(url, headers={**auth, "origin": LOCAL})
            assert same.status_code != 403


def test_without_public_mode_proxied_preview_requests_are_refused(
    settings: Settings, store: Store
) -> None:
    with TestClient(base_url=LOCAL, app=create_app(settings)) as client:
        assert client.get("/", headers={"x-forwarded-for": "203.0.113.9"}).status_code == 403
        assert client.get("/").status_code == 200  # on loopback: the preview's index


def test_serve_public_needs_a_password_and_the_secret(run: Cli) -> None:
    result = run("serve", "--public", ok=False)
    assert result.exit_code == 1 and "DIGEST_EDITOR_PASSWORD" in result.stderr
    run.env["DIGEST_EDITOR_PASSWORD"] = "correct horse battery"
    result = run("serve", "--public", ok=False)
    assert result.exit_code == 1 and "digest init" in result.stderr


# -- the real thing ---------------------------------------------------------------------


@pytest.fixture
def uvicorn_server(run: Cli, tmp_path: Path) -> Iterator[str]:
    """digest's app on real uvicorn, on a free loopback port; yields its origin."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    run.env["DIGEST_BASE_URL"] = origin
    from digest.config import load_settings

    settings = load_settings(env=run.env, overrides={"db": run.db_path}, cwd=tmp_path)
    run("init")
    with serving(create_app(settings, public_mode=False, port=port), port):
        yield origin


def test_rfc8058_one_click_on_real_uvicorn_then_send_skips_the_subscriber(
    run: Cli, uvicorn_server: str, smtp_server: CaptureServer
) -> None:
    run.env["DIGEST_SMTP_URL"] = smtp_server.url
    run("lists", "add", "daily", "--name", "Daily", "--from-addr", "news@example.com")
    for address in ("amina@example.com", "bob@example.com"):
        run("subscribers", "add", address, "--list", "daily")
    articles = [
        {
            "url": "https://news.example.com/1",
            "title": "One",
            "section": "News",
            "published_at": "2026-11-26T05:00:00+00:00",
        },
        {
            "url": "https://news.example.com/2",
            "title": "Two",
            "section": "News",
            "published_at": "2026-11-27T05:00:00+00:00",
        },
    ]
    run("articles", "import", str(run.write("a.json", articles)))
    run("send", "--list", "daily", "--date", "2026-11-26")
    message = next(
        m for m in received_messages(smtp_server) if parseaddr(m["To"])[1] == "bob@example.com"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = message["List-Unsubscribe"].strip("<>")
    assert link.startswith(uvicorn_server + "/u/")

    # What a mailbox provider does: a POST with exactly this body, no cookies, no redirects.
    connection = http.client.HTTPConnection("127.0.0.1", int(uvicorn_server.rsplit(":", 1)[1]))
    body = b"List-Unsubscribe=One-Click"
    connection.request(
        "POST",
        link.removeprefix(uvicorn_server),
        body=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Content-Length": str(len(body)),
            "User-Agent": "Mozilla/5.0 (compatible; MailProvider-OneClick/1.0)",
        },
    )
    response = connection.getresponse()
    response.read()
    connection.close()
    assert response.status == 200
    assert response.getheader("Location") is None

    before = len(smtp_server.handler.received)
    result = run("send", "--list", "daily", "--date", "2026-11-27")
    assert "sent 1," in result.stderr
    new = [tos for _, tos, _ in smtp_server.handler.received[before:]]
    assert new == [["amina@example.com"]]


def test_unsubscribe_links_of_a_merged_duplicate_reach_the_merged_subscriber(
    settings: Settings,
) -> None:
    """Issue 11.4: mail sent to 'Amina@...' before the merge still unsubscribes her."""
    from tests.test_store_subscribers import _old_database_with_duplicates

    _old_database_with_duplicates(settings.db)
    settings = replace(settings, base_url=ORIGIN, rate_limit=1000)
    pipeline.init_project(settings)  # migrates: subscriber 3 becomes part of 1
    secret = load_secret(settings.secret_file)
    with Store.open(settings.db) as store:
        weekly = store.get_list("weekly")
        assert store.subscription_statuses(1)["weekly"] == "active"
        old_link = make_token(secret, "unsubscribe", 3, int(weekly.id or 0))
        with TestClient(
            base_url=LOCAL, app=create_app(settings, clock=Clock()), follow_redirects=False
        ) as client:
            assert client.post(f"/u/{old_link}", data=ONE_CLICK).status_code == 200
            prefs = make_token(secret, "preferences", 3, int(weekly.id or 0))
            assert "Weekly" in client.get(f"/p/{prefs}").text
        assert store.subscription_statuses(1)["weekly"] == "unsubscribed"


def test_archive_page_reads_well_without_a_subscriber(
    run: Cli, smtp_server: CaptureServer, tmp_path: Path
) -> None:
    """The archive's footer read "à l'adresse  parce que…" (the address blanked) and its
    unsubscribe and preferences links pointed to the archive index (issue 14). Now it
    offers the past editions and, for a list whose sign-up is open, the form."""
    run("lists", "add", "matin", "--name", "Le Matin", "--locale", "fr", "--signup", "open")
    run(
        "lists",
        "add",
        "soir",
        "--name",
        "Le Soir",
        "--locale",
        "fr",
        "--address",
        "BP 1, N'Djamena",
    )
    for slug in ("matin", "soir"):
        run("subscribers", "add", f"{slug}@example.com", "--list", slug)
    run("articles", "import", str(run.write("a.json", [article(title="La crue du Chari")])))
    run.env["DIGEST_SMTP_URL"] = smtp_server.url
    for slug in ("matin", "soir"):
        run("send", "--list", slug, "--date", "2026-11-27")
    mailed = received_messages(smtp_server)[0].get_payload()  # the real mail keeps its footer
    assert any("parce que vous vous y êtes abonné" in p.get_payload(decode=True).decode()
               for p in mailed)  # fmt: skip

    settings = load_settings(env=run.env, overrides={"db": run.db_path}, cwd=tmp_path)
    port = free_port()
    with serving(create_app(settings, port=port), port) as origin:
        pages = {
            slug: httpx.get(f"{origin}/archive/{slug}/2026-11-27") for slug in ("matin", "soir")
        }
    base = settings.base_url.rstrip("/")
    for slug, page in pages.items():
        assert page.status_code == 200 and "La crue du Chari" in page.text
        for wrong in ("parce que", "à l'adresse", "Se désabonner", "Gérer mes préférences", "[["):
            assert wrong not in page.text, (slug, wrong)
        links = re.findall(r'href="([^"]*)"', page.text)
        assert f"{base}/archive/{slug}/" in links  # "Le Matin : éditions précédentes"
    assert f'href="{base}/subscribe/matin"' in pages["matin"].text  # sign-up open
    assert "/subscribe/" not in pages["soir"].text  # closed: no form to offer
    assert "BP 1, N" in pages["soir"].text  # the postal address stays
