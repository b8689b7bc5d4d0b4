"""Readers signing themselves up (issue 13): a real uvicorn on loopback, the real aiosmtpd
capture server, real HTTP requests; the clock is the test's own (ManualClock)."""

from __future__ import annotations

import base64
import csv
import email
import email.policy
import html
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import altcha
import httpx
import pytest

from digest import pipeline, signup
from digest.config import Settings
from digest.models import NewsList, Subscriber
from digest.sink import CaptureServer, free_port
from digest.store import Store
from digest.web import create_app
from digest.web.pages import Pages
from tests import perlmail
from tests.conftest import NOW, Cli, ManualClock, dkim_key_file, received_messages, serving

LINK_RE = re.compile(r"http://127\.0\.0\.1:\d+/confirm/[A-Za-z0-9_-]+")


@dataclass
class Site:
    settings: Settings
    origin: str
    clock: ManualClock
    smtp: CaptureServer
    http: httpx.Client
    daily: NewsList

    def sign_up(self, email: str, **fields: object) -> httpx.Response:
        return self.http.post("/subscribe/daily", data={"email": email, **fields})

    def mails(self) -> list[EmailMessage]:
        return received_messages(self.smtp)

    def link(self, mail: EmailMessage) -> str:
        body = mail.get_body(("plain",))
        assert body is not None
        found = LINK_RE.search(body.get_content())
        assert found, body.get_content()
        return found.group(0)

    def receives(self, email: str) -> bool:
        with Store.open(self.settings.db) as store:
            return email in [r.subscriber.email for r in store.recipients(self.daily)]

    def confirm(self, link: str) -> httpx.Response:
        """What the confirmation page's script (or its button) sends: a same-origin POST."""
        return self.http.post(link, data={"confirm": "yes"}, headers={"Origin": self.origin})


def make_site(settings: Settings, smtp: CaptureServer, **changes: object) -> Iterator[Site]:
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    settings = replace(settings, base_url=origin, smtp_url=smtp.url, **changes)  # type: ignore[arg-type]
    pipeline.init_project(settings)
    clock = ManualClock()
    with Store.open(settings.db) as store:
        daily = store.add_list(
            NewsList(
                slug="daily",
                name="Daily News",
                from_addr="news@example.com",
                sections=("Sport", "Politics"),
                signup="open",
            ),
            now=NOW,
        )
        weekly = store.add_list(NewsList(slug="weekly", name="Weekly"), now=NOW)
        store.upsert_subscriber(
            Subscriber(email="amina@example.com", name="Amina"), lists=[(weekly, ())], now=NOW
        )
    with (
        serving(create_app(settings, clock=clock.clock, port=port), port),
        httpx.Client(base_url=origin, timeout=10) as http,
    ):
        yield Site(settings, origin, clock, smtp, http, daily)


@pytest.fixture
def site(settings: Settings, smtp_server: CaptureServer) -> Iterator[Site]:
    yield from make_site(settings, smtp_server, rate_limit=1000, signup_challenge="off")


def test_closed_and_unknown_lists_serve_no_form(site: Site) -> None:
    # weekly was added without --signup: closed is the default
    for path in ("/subscribe/weekly", "/subscribe/nosuchlist"):
        assert site.http.get(path).status_code == 404
        assert site.http.post(path, data={"email": "x@example.com"}).status_code == 404
    assert site.mails() == []


def test_form_in_the_browsers_language_with_sections(site: Site) -> None:
    page = site.http.get("/subscribe/daily", headers={"Accept-Language": "fr-CH, en;q=0.5"})
    assert page.status_code == 200
    assert '<html lang="fr"' in page.text
    assert "S’abonner à Daily News" in page.text
    assert '<input type="checkbox" name="sections" value="Sport">' in page.text
    assert '<input type="checkbox" name="sections" value="Politics">' in page.text
    assert f'action="{site.origin}/subscribe/daily"' in page.text
    arabic = site.http.get("/subscribe/daily", headers={"Accept-Language": "ar"})
    assert 'dir="rtl"' in arabic.text and "الاشتراك في Daily News" in arabic.text


def test_existing_and_new_addresses_get_the_same_answer_and_a_mail(site: Site) -> None:
    known = site.sign_up("amina@example.com")  # subscribed to weekly already
    new = site.sign_up("new.reader@example.com")
    assert known.status_code == new.status_code == 200
    assert known.text == new.text
    assert "Check your inbox to confirm" in new.text
    assert "subscribed" not in new.text.lower().replace("unsubscribed", "")
    # the existing subscriber gets a confirmation for this other list too (listmonk #1257)
    assert sorted(str(m["To"]) for m in site.mails()) == [
        "amina@example.com",
        "new.reader@example.com",
    ]
    assert not site.receives("amina@example.com") and not site.receives("new.reader@example.com")


def test_confirmation_mail_is_localised_and_carries_nothing_the_reader_typed(site: Site) -> None:
    spam = "BUY CHEAP PILLS at https://spam.example"
    answer = site.sign_up("reader@example.com", name=spam, locale="fr")
    assert answer.status_code == 200 and "Consultez votre boîte" in answer.text
    (mail,) = site.mails()
    assert mail["Subject"] == "Confirmez votre abonnement à Daily News"
    assert mail["Content-Language"] == "fr"
    assert mail["Auto-Submitted"] == "auto-generated"
    raw = mail.as_string()
    assert "PILLS" not in raw and "spam.example" not in raw
    body = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Le lien est valable 7 jours" in body
    assert site.link(mail).startswith(f"{site.origin}/confirm/")


def test_a_get_on_the_link_confirms_nothing_and_the_pages_post_does(site: Site) -> None:
    site.sign_up("reader@example.com", name="Reader", sections=["Sport"])
    link = site.link(site.mails()[0])
    scanned = httpx.get(link)  # as curl or a mail scanner fetches it
    assert scanned.status_code == 200
    assert not site.receives("reader@example.com")
    # the page posts itself with a script allowed by its nonce, and has a button
    nonce = re.search(r'<script nonce="([^"]+)">', scanned.text)
    assert (
        nonce
        and f"script-src 'nonce-{nonce.group(1)}'" in scanned.headers["content-security-policy"]
    )
    assert ".submit()" in scanned.text and '<button type="submit">' in scanned.text
    assert '<form id="confirm" method="post" action="">' in scanned.text

    done = site.confirm(link)
    assert done.status_code == 200 and "Subscription confirmed" in done.text
    assert site.receives("reader@example.com")
    with Store.open(site.settings.db) as store:
        subscriber = store.get_subscriber("reader@example.com")
        assert subscriber.name == "Reader" and subscriber.status == "active"
        assert store.subscription_sections(subscriber.id or 0) == {"daily": ["Sport"]}
    # a second click (or the button after the script) says the same, changes nothing
    again = site.confirm(link)
    assert again.status_code == 200 and "Subscription confirmed" in again.text
    assert "Subscription confirmed" in httpx.get(link).text


def test_a_cross_site_post_to_the_link_confirms_nothing(site: Site) -> None:
    site.sign_up("reader@example.com")
    link = site.link(site.mails()[0])
    refused = site.http.post(
        link, data={"confirm": "yes"}, headers={"Origin": "https://evil.example"}
    )
    assert refused.status_code == 403
    assert site.http.post(link, data={}).status_code == 403
    assert not site.receives("reader@example.com")


def test_one_confirmation_an_hour_per_address_and_list(site: Site) -> None:
    answers = [site.sign_up("reader@example.com") for _ in range(5)]
    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1
    assert len(site.mails()) == 1
    site.clock.advance(3599)
    site.sign_up("READER@example.com")
    assert len(site.mails()) == 1
    site.clock.advance(2)
    site.sign_up("reader@example.com")
    assert len(site.mails()) == 2


def test_the_resend_interval_is_a_setting(settings: Settings, smtp_server: CaptureServer) -> None:
    for s in make_site(
        settings, smtp_server, rate_limit=1000, signup_resend=60.0, signup_challenge="off"
    ):
        s.sign_up("reader@example.com")
        s.clock.advance(61)
        s.sign_up("reader@example.com")
        assert len(s.mails()) == 2


def test_forged_and_expired_links_are_refused(site: Site) -> None:
    site.sign_up("reader@example.com")
    link = site.link(site.mails()[0])
    signup_id, list_id, mac = link.rsplit("/", 1)[1].split("-", 2)
    forged = [
        link[:-2] + ("AA" if not link.endswith("AA") else "BB"),
        link.replace(f"/{signup_id}-", f"/{int(signup_id) + 1}-"),
        f"{site.origin}/confirm/{signup_id}-{list_id}",
        f"{site.origin}/confirm/" + "x" * 200,
    ]
    for url in forged:
        assert httpx.get(url).status_code == 404, url
        assert site.confirm(url).status_code == 404, url
    assert not site.receives("reader@example.com")

    site.clock.advance(7 * 86400 + 1)
    expired = site.confirm(link)
    assert expired.status_code == 410 and "This link has expired" in expired.text
    assert httpx.get(link).status_code == 410
    assert not site.receives("reader@example.com")


def test_past_subscribers_come_back_only_through_a_confirmed_signup(site: Site) -> None:
    with Store.open(site.settings.db) as store:
        store.upsert_subscriber(
            Subscriber(email="gone@example.com"), lists=[(site.daily, ())], now=NOW
        )
        store.unsubscribe("gone@example.com", "daily", now=NOW)
        store.set_subscriber_status("gone@example.com", "bounced", now=NOW)
        store.upsert_subscriber(Subscriber(email="removed@example.com"), now=NOW)
        store.remove_subscriber("removed@example.com", now=NOW)
        assert store.is_suppressed("removed@example.com")
    for address in ("gone@example.com", "removed@example.com"):
        site.sign_up(address)
        assert not site.receives(address)
    links = {str(m["To"]): site.link(m) for m in site.mails()}
    for address, link in links.items():
        assert site.confirm(link).status_code == 200
        assert site.receives(address)
    with Store.open(site.settings.db) as store:
        assert store.get_subscriber("gone@example.com").status == "active"
        assert not store.is_suppressed("removed@example.com")


def test_json_signups_take_the_same_fields(site: Site) -> None:
    answer = site.http.post(
        "/subscribe/daily",
        json={"email": "api@example.com", "name": "Api", "sections": ["Politics"], "locale": "ar"},
    )
    assert answer.status_code == 200 and answer.json() == {"status": "check_inbox"}
    (mail,) = site.mails()
    assert mail["Content-Language"] == "ar" and "Daily News" in str(mail["Subject"])
    assert site.confirm(site.link(mail)).status_code == 200
    with Store.open(site.settings.db) as store:
        subscriber = store.get_subscriber("api@example.com")
        assert store.subscription_sections(subscriber.id or 0) == {"daily": ["Politics"]}
    bad = site.http.post("/subscribe/daily", json={"email": "not an address"})
    assert bad.status_code == 400 and bad.json()["status"] == "invalid"
    assert (
        site.http.post(
            "/subscribe/daily", content=b"[1]", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )


def test_a_bad_address_gets_the_form_again_and_writes_nothing(site: Site) -> None:
    answer = site.sign_up("amina@@example.com")
    assert answer.status_code == 400
    assert "This email address does not look valid." in answer.text
    assert 'name="email"' in answer.text
    assert site.mails() == []


def test_a_confirmation_left_unsent_goes_out_with_the_next_signup(site: Site) -> None:
    # As if the process died after writing the row and before sending its mail.
    with Store.open(site.settings.db) as store:
        written = signup.request_signup(
            store,
            site.settings,
            site.daily,
            email="crashed@example.com",
            form="/subscribe/daily (form)",
            version="test",
            ip="",
            now=NOW,
        )
        assert written is not None and written.sent_at is None
    site.sign_up("next@example.com")
    assert sorted(str(m["To"]) for m in site.mails()) == [
        "crashed@example.com",
        "next@example.com",
    ]
    with Store.open(site.settings.db) as store:
        assert store.unsent_signups(since=NOW - timedelta(days=1)) == []
    site.sign_up("third@example.com")  # sent rows are not sent again
    assert len(site.mails()) == 3


def test_a_refusing_server_loses_no_confirmation(settings: Settings, tmp_path: object) -> None:
    dead = f"smtp://127.0.0.1:{free_port()}"
    settings = replace(settings, smtp_url=dead)
    pipeline.init_project(settings)
    with Store.open(settings.db) as store:
        daily = store.add_list(NewsList(slug="daily", name="D", signup="open"), now=NOW)
        signup.request_signup(
            store, settings, daily, email="a@example.com", form="f", version="v", ip="", now=NOW
        )
        pages = Pages(None)
        assert signup.send_confirmations(store, settings, pages, now=NOW) == (0, 1)
        assert len(store.unsent_signups(since=NOW - timedelta(days=1))) == 1


def test_the_per_client_rate_limit_holds(settings: Settings, smtp_server: CaptureServer) -> None:
    for s in make_site(settings, smtp_server, rate_limit=3, signup_challenge="off"):
        codes = [s.sign_up(f"r{n}@example.com").status_code for n in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        assert len(s.mails()) == 3


def test_consent_record_and_cli(site: Site, run: Cli) -> None:
    site.sign_up("reader@example.com", sections=["Sport", "Politics"])
    site.clock.advance(300)
    site.confirm(site.link(site.mails()[0]))
    shown = run("subscribers", "show", "reader@example.com").output
    assert "consent (daily): signed up 2026-11-27T07:00:00+00:00" in shown
    assert "through /subscribe/daily (form)" in shown
    assert "from 127.0.0.0/24, confirmed 2026-11-27T07:05:00+00:00" in shown
    data = json.loads(run("subscribers", "show", "reader@example.com", "--json").output)
    (record,) = data["consent"]
    assert record["ip"] == "127.0.0.0/24" and len(record["form_version"]) == 12
    assert data["sections"] == {"daily": []}  # every section ticked: the whole edition
    admin = run("subscribers", "show", "amina@example.com").output
    assert "none recorded (added by an admin: single opt-in)" in admin


def test_truncate_ip() -> None:
    assert signup.truncate_ip("203.0.113.77") == "203.0.113.0/24"
    assert signup.truncate_ip("2001:db8:1234:5678::1") == "2001:db8:1234::/48"
    assert signup.truncate_ip("unknown") == ""


def test_lists_signup_option_and_form_snippet(run: Cli) -> None:
    run("init")
    run("lists", "add", "daily", "--name", "Daily", "--section", "Sport")
    assert '"signup": "closed"' in run("lists", "show", "daily", "--json").output
    refused = run("lists", "form", "daily", ok=False)
    assert refused.exit_code == 1 and "--signup open" in refused.stderr
    run("lists", "edit", "daily", "--signup", "open")
    assert '"signup": "open"' in run("lists", "show", "daily", "--json").output
    snippet = run("lists", "form", "daily", "--locale", "fr").output
    assert snippet.startswith("<form") and snippet.rstrip().endswith("</form>")
    assert 'action="http://127.0.0.1:8000/subscribe/daily"' in snippet
    assert 'name="sections" value="Sport"' in snippet and "S’abonner" in snippet
    assert "<html" not in snippet
    run("lists", "add", "open", "--name", "Open", "--signup", "open")
    bad = run("lists", "edit", "daily", "--signup", "maybe", ok=False)
    assert bad.exit_code == 2


def test_the_honeypot_gets_the_same_answer_and_no_mail(site: Site) -> None:
    human = site.sign_up("human@example.com")
    bot = site.sign_up("bot@example.com", website="https://cheap.example")
    assert bot.status_code == human.status_code == 200 and bot.text == human.text
    assert [str(m["To"]) for m in site.mails()] == ["human@example.com"]
    with Store.open(site.settings.db) as store:
        assert store.recent_signup("bot@example.com", site.daily.id or 0, since=NOW) is None
    page = site.http.get("/subscribe/daily").text
    assert 'name="website" tabindex="-1"' in page


# -- the ALTCHA challenge (on by default) ---------------------------------------------------


@pytest.fixture
def guarded(settings: Settings, smtp_server: CaptureServer) -> Iterator[Site]:
    yield from make_site(settings, smtp_server, rate_limit=1000)


def solve(challenge: dict[str, object]) -> str:
    """What the page's script (or the ALTCHA widget) puts in the `altcha` field."""
    found = altcha.solve_challenge_v1(
        str(challenge["challenge"]),
        str(challenge["salt"]),
        max_number=int(str(challenge["maxnumber"])),
    )
    assert found is not None
    payload = {
        "algorithm": challenge["algorithm"],
        "challenge": challenge["challenge"],
        "number": found.number,
        "salt": challenge["salt"],
        "signature": challenge["signature"],
    }
    return base64.b64encode(json.dumps(payload).encode()).decode()


def page_challenge(site: Site) -> dict[str, object]:
    page = site.http.get("/subscribe/daily")
    found = re.search(r'data-challenge="([^"]+)"', page.text)
    assert found, page.text
    nonce = re.search(r'<script nonce="([^"]+)">', page.text)
    assert nonce and f"'nonce-{nonce.group(1)}'" in page.headers["content-security-policy"]
    return json.loads(html.unescape(found.group(1)))  # type: ignore[no-any-return]


def test_the_challenge_is_on_by_default_and_refuses_unsolved_forms(guarded: Site) -> None:
    for extra in ({}, {"altcha": "bm90IGpzb24="}, {"altcha": "x" * 3000}):
        refused = guarded.sign_up("reader@example.com", **extra)
        assert refused.status_code == 400
        assert "could not show that you are not a robot" in refused.text
    as_json = guarded.http.post("/subscribe/daily", json={"email": "reader@example.com"})
    assert as_json.status_code == 400 and as_json.json()["status"] == "challenge_failed"
    assert guarded.mails() == []


def test_a_solved_challenge_signs_up_once(guarded: Site) -> None:
    payload = solve(page_challenge(guarded))
    assert guarded.sign_up("reader@example.com", altcha=payload).status_code == 200
    assert len(guarded.mails()) == 1
    replayed = guarded.sign_up("other@example.com", altcha=payload)
    assert replayed.status_code == 400 and len(guarded.mails()) == 1


def test_a_spent_solution_is_refused_by_another_worker_and_after_a_restart(
    guarded: Site,
) -> None:
    payload = solve(page_challenge(guarded))
    assert guarded.sign_up("reader@example.com", altcha=payload).status_code == 200
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    second = replace(guarded.settings, base_url=origin)  # another worker, or a restart
    with (
        serving(create_app(second, clock=guarded.clock.clock, port=port), port),
        httpx.Client(base_url=origin, timeout=10) as http,
    ):
        replayed = http.post(
            "/subscribe/daily", data={"email": "other@example.com", "altcha": payload}
        )
        assert replayed.status_code == 400
        fresh = solve(page_challenge(guarded))  # and the other way round
        assert (
            http.post(
                "/subscribe/daily", data={"email": "b@example.com", "altcha": fresh}
            ).status_code
            == 200
        )
    assert guarded.sign_up("c@example.com", altcha=fresh).status_code == 400
    assert sorted(str(m["To"]) for m in guarded.mails()) == ["b@example.com", "reader@example.com"]
    with Store.open(guarded.settings.db) as store:
        assert store.db.execute("SELECT count(*) FROM spent_challenges").fetchone()[0] == 2
    guarded.clock.advance(31 * 60)  # both challenges expired: pruned when the next is spent
    assert (
        guarded.sign_up("d@example.com", altcha=solve(page_challenge(guarded))).status_code == 200
    )
    with Store.open(guarded.settings.db) as store:
        assert store.db.execute("SELECT count(*) FROM spent_challenges").fetchone()[0] == 1


def test_expired_and_forged_solutions_are_refused(guarded: Site) -> None:
    challenge = page_challenge(guarded)
    forged = solve({**challenge, "signature": "0" * 64})
    assert guarded.sign_up("reader@example.com", altcha=forged).status_code == 400
    late = solve(challenge)
    guarded.clock.advance(31 * 60)
    assert guarded.sign_up("reader@example.com", altcha=late).status_code == 400
    assert guarded.mails() == []


def test_the_challenge_url_serves_embedded_forms(guarded: Site, run: Cli) -> None:
    answer = guarded.http.get("/subscribe/daily/challenge")
    assert answer.headers["access-control-allow-origin"] == "*"
    signed_up = guarded.http.post(
        "/subscribe/daily", json={"email": "api@example.com", "altcha": solve(answer.json())}
    )
    assert signed_up.status_code == 200 and len(guarded.mails()) == 1
    assert guarded.http.get("/subscribe/weekly/challenge").status_code == 404
    run.env["DIGEST_BASE_URL"] = guarded.origin
    snippet = run("lists", "form", "daily").output
    assert f'challengeurl="{guarded.origin}/subscribe/daily/challenge"' in snippet


def test_signups_send_sends_what_was_left(settings: Settings, run: Cli) -> None:
    dead = f"smtp://127.0.0.1:{free_port()}"
    run("init")
    run("lists", "add", "daily", "--name", "Daily", "--from-addr", "news@example.com")
    with Store.open(settings.db) as store:
        daily = store.get_list("daily")
        signup.request_signup(
            store, settings, daily, email="a@example.com", form="f", version="v", ip="", now=NOW
        )
    run.env["DIGEST_SMTP_URL"] = dead
    refused = run("signups", "send", ok=False)
    assert refused.exit_code == 75 and "sent 0, left 1" in refused.stderr
    with CaptureServer(settings.db.parent / "received") as server:
        run.env["DIGEST_SMTP_URL"] = server.url
        assert "sent 1, left 0" in run("signups", "send").stderr
        assert "sent 0, left 0" in run("signups", "send").stderr
        assert [str(m["To"]) for m in received_messages(server)] == ["a@example.com"]


def test_a_row_another_sender_holds_is_not_sent_twice(site: Site) -> None:
    with Store.open(site.settings.db) as store:
        held = signup.request_signup(
            store,
            site.settings,
            site.daily,
            email="held@example.com",
            form="f",
            version="v",
            ip="",
            now=NOW,
        )
        assert held is not None and held.id is not None
        # another sign-up's request took it and is sending it right now
        assert store.claim_signup(held.id, now=NOW, stale=signup.CLAIM_STALE)
        assert not store.claim_signup(held.id, now=NOW, stale=signup.CLAIM_STALE)
    site.sign_up("next@example.com")
    assert [str(m["To"]) for m in site.mails()] == ["next@example.com"]
    # that sender died before marking it sent: once its claim is stale, the row goes out
    site.clock.advance(signup.CLAIM_STALE.total_seconds() + 1)
    site.sign_up("third@example.com")
    assert sorted(str(m["To"]) for m in site.mails()) == [
        "held@example.com",
        "next@example.com",
        "third@example.com",
    ]


def _json_consent_is_the_csvs(run: Cli) -> None:
    """The JSON export's records are the CSV's, list by list (also for one list's export)."""
    for args in ((), ("--list", "daily"), ("--list", "weekly"), ("--status", "active")):
        csv_rows = csv.DictReader(io.StringIO(run("subscribers", "export", *args).stdout))
        from_csv = {
            (r["email"], r["lists"]): {k[8:]: v for k, v in r.items() if k.startswith("consent_")}
            for r in csv_rows
            if r["consent_source"] not in ("admin", "")
        }
        assert from_csv or args == ("--list", "weekly"), args
        exported = json.loads(run("subscribers", "export", "--json", *args).stdout)
        from_json = {(p["email"], slug): c for p in exported for slug, c in p["consent"].items()}
        assert from_json == from_csv, args


def test_export_carries_the_consent_record_and_an_import_confirms_nobody(
    site: Site, run: Cli
) -> None:
    site.sign_up("reader@example.com", sections=["Sport"])
    site.clock.advance(300)
    site.confirm(site.link(site.mails()[0]))
    exported = run("subscribers", "export").stdout
    rows = {(r["email"], r["lists"]): r for r in csv.DictReader(io.StringIO(exported))}
    reader = rows["reader@example.com", "daily"]
    assert {k: v for k, v in reader.items() if k.startswith("consent_")} == {
        "consent_signed_up_at": "2026-11-27T07:00:00+00:00",
        "consent_form": "/subscribe/daily (form)",
        "consent_form_version": reader["consent_form_version"],
        "consent_confirmed_at": "2026-11-27T07:05:00+00:00",
        "consent_ip": "127.0.0.0/24",
        "consent_source": "signup",
    }
    assert len(reader["consent_form_version"]) == 12
    assert rows["amina@example.com", "weekly"]["consent_source"] == "admin"
    as_json = {p["email"]: p for p in json.loads(run("subscribers", "export", "--json").stdout)}
    assert as_json["reader@example.com"]["consent"]["daily"]["source"] == "signup"
    assert as_json["reader@example.com"]["consent"]["daily"]["ip"] == "127.0.0.0/24"
    assert as_json["amina@example.com"]["consent"] == {}  # added by an admin: no record
    assert as_json["amina@example.com"]["lists"] == ["weekly"]
    _json_consent_is_the_csvs(run)
    assert run("subscribers", "export", "--json").stdout.count("\n") == 2 + 2  # a line each

    # Into an empty database: the record comes back as what the file said, marked so.
    run.write("backup.csv", exported)
    run.db_path = run.tmp_path / "restored.db"
    run("init")
    run("lists", "add", "daily", "--name", "Daily News", "--section", "Sport")
    run("lists", "add", "weekly", "--name", "Weekly")
    assert "added 2, " in run("subscribers", "import", "backup.csv").stderr
    again = run("subscribers", "export").stdout
    restored = {(r["email"], r["lists"]): r for r in csv.DictReader(io.StringIO(again))}
    assert restored["reader@example.com", "daily"] == {
        **reader,
        "consent_source": "import-of-export",
    }
    assert restored["amina@example.com", "weekly"]["consent_source"] == "admin"
    with Store.open(run.db_path) as store:  # no sign-up was forged: nobody confirmed here
        assert list(store.consents("reader@example.com")) == []
        assert store.db.execute("SELECT count(*) FROM signups").fetchone()[0] == 0
    _json_consent_is_the_csvs(run)  # import-of-export records too
    shown = run("subscribers", "show", "reader@example.com").output
    assert "imported consent (daily): as an export said on 2026-11-27T07:00:00+00:00" in shown
    assert "confirmed 2026-11-27T07:05:00+00:00 (not confirmed here)" in shown
    assert "none recorded" not in shown
    # ... and a second round trip changes nothing
    run.write("again.csv", again)
    run("subscribers", "import", "again.csv")
    assert run("subscribers", "export").stdout == again


def test_an_imported_consent_record_does_not_bring_anyone_back(run: Cli) -> None:
    run("lists", "add", "daily", "--name", "Daily")
    run("subscribers", "add", "gone@example.com", "--list", "daily")
    run("subscribers", "unsubscribe", "gone@example.com")
    run.write(
        "forged.csv",
        "email,lists,list_status,consent_signed_up_at,consent_confirmed_at,consent_source\n"
        "gone@example.com,daily,active,2026-11-01T10:00:00Z,2026-11-01T10:05:00Z,signup\n",
    )
    run("subscribers", "import", "forged.csv")
    shown = json.loads(run("subscribers", "show", "gone@example.com", "--json").stdout)
    assert shown["status"] == "unsubscribed" and shown["consent"] == []
    assert shown["imported_consent"][0]["confirmed_at"] == "2026-11-01T10:05:00+00:00"
    run.write(
        "bad.csv",
        "email,lists,consent_form,consent_source\n"
        "a@example.com,daily,/subscribe/daily (form),\n"
        "b@example.com,daily,,confirmed\n"
        "c@example.com,daily,,\n",
    )
    result = run("subscribers", "import", "bad.csv", ok=False)
    assert "row 2 field 'consent_source': a consent record needs a source" in result.stderr
    assert "row 3 field 'consent_source': 'confirmed' is not one of" in result.stderr
    assert "added 1, updated 0, unchanged 0, rejected 2" in result.stderr


def _waiting_signup(settings: Settings, email: str) -> None:
    """A sign-up whose confirmation a refusing server left unsent."""
    with Store.open(settings.db) as store:
        daily = store.get_list("daily")
        signup.request_signup(
            store, settings, daily, email=email, form="f", version="v", ip="", now=NOW
        )


def test_send_and_schedule_rounds_send_waiting_confirmations_from_the_bounce_address(
    run: Cli, settings: Settings, smtp_server: CaptureServer
) -> None:
    run("lists", "add", "daily", "--name", "Daily News", "--from-addr", "news@example.com")
    run.env |= {"DIGEST_SMTP_URL": smtp_server.url, "DIGEST_BOUNCE_ADDRESS": "bounces@example.com"}
    _waiting_signup(settings, "first@example.com")
    run("schedule", "--run-due")  # a cron round with no edition due
    _waiting_signup(settings, "second@example.com")
    sent = run("send", "--list", "daily", ok=False)  # no articles: exits 1, mail still goes
    assert "sign-up confirmations: sent 1, left 0" in sent.stderr
    received = smtp_server.handler.received
    assert [to for _, to, _ in received] == [["first@example.com"], ["second@example.com"]]
    for frm, _, _ in received:  # the bounce address's VERP form, naming the sign-up row
        assert re.fullmatch(r"bounces\+s\d+\.[a-z2-7]{16}@example\.com", frm), frm
    assert [str(m["From"]) for m in received_messages(smtp_server)] == [
        "Daily News <news@example.com>"
    ] * 2
    with Store.open(settings.db) as store:
        assert not store.has_unsent_signups(since=NOW - timedelta(days=1))
    run("schedule", "--run-due")  # sent rows are not sent again
    assert len(smtp_server.handler.received) == 2


def test_a_round_with_no_confirmation_waiting_does_no_sign_up_work(
    run: Cli, settings: Settings
) -> None:
    run("lists", "add", "daily", "--name", "Daily News")
    code = (
        "import sys; from datetime import datetime; from digest import dispatch;"
        " from digest.config import load_settings; from digest.store import Store;"
        f" s = load_settings(env={{'DIGEST_DB': {str(settings.db)!r},"
        f" 'DIGEST_SMTP_URL': 'smtp://127.0.0.1:{free_port()}'}});"
        " store = Store.open(s.db);"
        f" now = datetime.fromisoformat({NOW.isoformat()!r});"
        " print(dispatch.send_signup_mail(store, s, now=now),"
        " 'digest.signup' in sys.modules, 'starlette' in sys.modules)"
    )
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert quiet.stdout.split() == ["(0,", "0)", "False", "False"]  # no SMTP, no renderer
    _waiting_signup(settings, "reader@example.com")
    busy = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert busy.stdout.split() == ["(0,", "1)", "True", "True"]  # the dead server refused it
    assert "confirmation mail not sent" in busy.stderr


@pytest.fixture
def welcoming(settings: Settings, smtp_server: CaptureServer) -> Iterator[Site]:
    yield from make_site(
        settings, smtp_server, rate_limit=1000, signup_challenge="off", signup_welcome="on"
    )


def test_welcome_mail_after_confirming_with_the_sections_and_a_working_unsubscribe(
    welcoming: Site,
) -> None:
    site = welcoming
    site.sign_up("reader@example.com", sections=["Politics"], locale="fr")
    (confirmation,) = site.mails()
    assert len(site.mails()) == 1  # no welcome before confirming
    site.clock.advance(60)
    assert site.confirm(site.link(confirmation)).status_code == 200
    site.confirm(site.link(confirmation))  # a second click welcomes nobody twice
    _, welcome = site.mails()
    raw = site.smtp.handler.received[1][2].read_bytes()
    perl = perlmail.read_message(raw)  # read back by software we did not write
    assert perl["Subject"] == "Bienvenue dans Daily News"
    assert perl["From"] == [{"name": "Daily News", "address": "news@example.com"}]
    assert perl["List-Id"] == "Daily News <daily.example.com>"  # as the digest writes it
    unsubscribe = re.fullmatch(
        r"<(http://127\.0\.0\.1:\d+/u/[A-Za-z0-9_-]+)>", perl["List-Unsubscribe"]
    )
    assert unsubscribe, perl["List-Unsubscribe"]
    assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert welcome["Content-Language"] == "fr"
    assert welcome["Message-ID"].startswith("<welcome.")
    body = welcome.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert "Votre abonnement à Daily News est confirmé." in body
    assert "Vous recevrez ces rubriques :\n- Politics\n" in body and "Sport" not in body
    assert unsubscribe.group(1) in body and "/p/" in body
    assert site.receives("reader@example.com")
    one_click = site.http.post(
        unsubscribe.group(1), content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert one_click.status_code == 200
    assert not site.receives("reader@example.com")
    with Store.open(site.settings.db) as store:
        assert not store.has_unsent_welcomes(since=NOW - timedelta(days=1))


def test_welcome_mail_is_off_by_default_and_never_sent_for_earlier_confirmations(
    site: Site, settings: Settings, run: Cli
) -> None:
    site.sign_up("reader@example.com")
    site.confirm(site.link(site.mails()[0]))
    assert len(site.mails()) == 1  # DIGEST_SIGNUP_WELCOME is off: the confirmation only
    run.env |= {"DIGEST_SMTP_URL": site.smtp.url, "DIGEST_SIGNUP_WELCOME": "on"}
    run("signups", "send")  # turning it on later welcomes nobody from before
    assert len(site.mails()) == 1
    run.env["DIGEST_SIGNUP_WELCOME"] = "yes"
    bad = run("signups", "send", ok=False)
    assert bad.exit_code == 1 and "DIGEST_SIGNUP_WELCOME must be on or off" in bad.stderr


def test_a_welcome_the_server_refused_goes_out_once_with_the_next_round(
    settings: Settings, smtp_server: CaptureServer, run: Cli
) -> None:
    settings = replace(settings, signup_welcome="on", smtp_url=f"smtp://127.0.0.1:{free_port()}")
    pipeline.init_project(settings)
    with Store.open(settings.db) as store:
        daily = store.add_list(
            NewsList(slug="daily", name="Daily", from_addr="news@example.com", signup="open"),
            now=NOW,
        )
        found = signup.request_signup(
            store, settings, daily, email="a@example.com", form="f", version="v", ip="", now=NOW
        )
        assert found is not None and found.id is not None
        store.mark_signup_sent(found.id, now=NOW)
        signup.confirm(store, settings, found.id, now=NOW)  # the web page's POST
        pages = Pages(None)
        assert signup.send_welcomes(store, settings, pages, now=NOW) == (0, 1)  # refused
        assert store.has_unsent_welcomes(since=NOW - timedelta(days=1))
    run.env |= {"DIGEST_SMTP_URL": smtp_server.url, "DIGEST_SIGNUP_WELCOME": "on"}
    run("schedule", "--run-due")
    run("schedule", "--run-due")
    (welcome,) = received_messages(smtp_server)
    assert welcome["Subject"] == "Welcome to Daily" and "every section" in welcome.as_string()


def test_no_welcome_for_a_reader_who_left_before_it_went(settings: Settings) -> None:
    settings = replace(settings, signup_welcome="on", smtp_url=f"smtp://127.0.0.1:{free_port()}")
    pipeline.init_project(settings)
    with Store.open(settings.db) as store:
        daily = store.add_list(NewsList(slug="daily", name="Daily", signup="open"), now=NOW)
        found = signup.request_signup(
            store, settings, daily, email="a@example.com", form="f", version="v", ip="", now=NOW
        )
        assert found is not None and found.id is not None
        signup.confirm(store, settings, found.id, now=NOW)
        store.unsubscribe("a@example.com", "daily", now=NOW)
        # the dead server is never reached: nothing is left to send
        assert signup.send_welcomes(store, settings, Pages(None), now=NOW) == (0, 0)
        assert not store.has_unsent_welcomes(since=NOW - timedelta(days=1))


def test_the_answer_says_how_long_until_one_may_ask_again_as_the_setting_says(
    settings: Settings, smtp_server: CaptureServer
) -> None:
    for s in make_site(
        settings, smtp_server, rate_limit=1000, signup_challenge="off", signup_resend=5400
    ):
        english = s.sign_up("a@example.com")
        assert "you can ask again in 90 minutes." in english.text
        french = s.sign_up("b@example.com", locale="fr")
        assert "vous pourrez redemander dans 90\N{NO-BREAK SPACE}minutes." in french.text
        arabic = s.sign_up("c@example.com", locale="ar")
        assert "ويمكنك الطلب من جديد بعد 90 دقيقة." in arabic.text
        assert "an hour" not in english.text


def test_the_default_wait_and_no_wait(settings: Settings, smtp_server: CaptureServer) -> None:
    for s in make_site(settings, smtp_server, rate_limit=1000, signup_challenge="off"):
        assert "you can ask again in 1 hour." in s.sign_up("a@example.com").text
        french = s.sign_up("b@example.com", locale="fr").text
        assert "vous pourrez redemander dans 1\N{NO-BREAK SPACE}heure." in french
        assert "بعد ساعة." in s.sign_up("c@example.com", locale="ar").text
    other = replace(settings, db=settings.db.with_name("other.db"))
    for s in make_site(
        other, smtp_server, rate_limit=1000, signup_challenge="off", signup_resend=0
    ):
        assert "Look in your spam folder, then ask again." in s.sign_up("d@example.com").text


@pytest.mark.parametrize(
    ("seconds", "wait"),
    [
        (3600, (1, "hour")),
        (5400, (90, "minute")),  # Babel alone: "2 hours"
        (4800, (80, "minute")),  # Babel alone: "1 hour", less than it is
        (604800, (7, "day")),
        (3601, (61, "minute")),  # never shorter than the setting
        (30, (30, "second")),
        (0, None),
    ],
)
def test_resend_wait_is_never_shorter_than_the_setting(
    seconds: int, wait: tuple[int, str] | None
) -> None:
    assert signup.resend_wait(seconds) == wait


NBSP = "\N{NO-BREAK SPACE}"
# What the answer page says after "you can ask again in" / "vous pourrez redemander dans" /
# "ويمكنك الطلب من جديد": Arabic has six plural forms, and after the preposition "بعد" the
# dual is genitive ("ساعتين"; CLDR's "ساعتان", which Babel's format_timedelta writes, is the
# nominative), 3-10 take the plural, 11-99 the accusative singular.
WAITS = {
    (1, "minute"): ("1 minute.", f"1{NBSP}minute.", "بعد دقيقة."),
    (2, "minute"): ("2 minutes.", f"2{NBSP}minutes.", "بعد دقيقتين."),
    (3, "minute"): ("3 minutes.", f"3{NBSP}minutes.", "بعد 3 دقائق."),
    (11, "minute"): ("11 minutes.", f"11{NBSP}minutes.", "بعد 11 دقيقة."),
    (90, "minute"): ("90 minutes.", f"90{NBSP}minutes.", "بعد 90 دقيقة."),
    (1, "hour"): ("1 hour.", f"1{NBSP}heure.", "بعد ساعة."),
    (2, "hour"): ("2 hours.", f"2{NBSP}heures.", "بعد ساعتين."),
    (3, "hour"): ("3 hours.", f"3{NBSP}heures.", "بعد 3 ساعات."),
    (11, "hour"): ("11 hours.", f"11{NBSP}heures.", "بعد 11 ساعة."),
    (90, "hour"): ("90 hours.", f"90{NBSP}heures.", "بعد 90 ساعة."),
    (2, "day"): ("2 days.", f"2{NBSP}jours.", "بعد يومين."),
    (2, "second"): ("2 seconds.", f"2{NBSP}secondes.", "بعد ثانيتين."),
    (100, "day"): ("100 days.", f"100{NBSP}jours.", "بعد 100 يوم."),
}


@pytest.mark.parametrize("wait", list(WAITS), ids=lambda w: f"{w[0]}-{w[1]}")
def test_the_wait_reads_in_the_case_each_language_needs(wait: tuple[int, str]) -> None:
    from babel import Locale

    pages = Pages(None)
    said = {}
    for lang in ("en", "fr", "ar"):
        page = pages.render("subscribe_sent.html", Locale.parse(lang), list_name="D", wait=wait)
        (line,) = re.findall(r"<p>([^<]*(?:again in|redemander dans|من جديد)[^<]*)</p>", page)
        said[lang] = html.unescape(line)
    english, french, arabic = WAITS[wait]
    assert said["en"].endswith("you can ask again in " + english), said
    assert said["fr"].endswith("vous pourrez redemander dans " + french), said
    assert said["ar"].endswith("ويمكنك الطلب من جديد " + arabic), said
    assert "ساعتان" not in said["ar"] and "دقيقتان" not in said["ar"]


def test_removing_a_subscriber_erases_their_sign_ups_and_consent(site: Site, run: Cli) -> None:
    site.sign_up("reader@example.com")
    site.confirm(site.link(site.mails()[0]))
    run("subscribers", "remove", "reader@example.com")
    with Store.open(site.settings.db) as store:
        assert store.db.execute("SELECT count(*) FROM signups").fetchone()[0] == 0
    run("subscribers", "add", "reader@example.com", "--list", "daily", "--force")
    exported = run("subscribers", "export").stdout
    assert "reader@example.com,,daily,,,,active,active,,,,,,,admin" in exported


def test_a_welcome_claimed_by_a_sender_that_crashed_is_sent_once_later(settings: Settings) -> None:
    pipeline.init_project(settings)
    with Store.open(settings.db) as store:
        daily = store.add_list(NewsList(slug="daily", name="Daily", signup="open"), now=NOW)
        found = signup.request_signup(
            store, settings, daily, email="a@example.com", form="f", version="v", ip="", now=NOW
        )
        assert found is not None and found.id is not None
        store.confirm_signup(found.id, now=NOW, welcome=True)
        assert store.claim_welcome(found.id, now=NOW, stale=signup.CLAIM_STALE)  # then a crash
        later = NOW + timedelta(minutes=1)
        assert not store.claim_welcome(found.id, now=later, stale=signup.CLAIM_STALE)  # in flight
        stale = NOW + timedelta(minutes=6)
        assert store.claim_welcome(found.id, now=stale, stale=signup.CLAIM_STALE)  # taken again
        store.mark_welcome_sent(found.id, now=stale)
        assert not store.claim_welcome(found.id, now=NOW + timedelta(hours=1), stale=timedelta(0))
        assert store.unsent_welcomes(since=NOW - timedelta(days=1)) == []


def test_the_schedulers_reload_round_sends_waiting_confirmations(
    run: Cli, settings: Settings, smtp_server: CaptureServer
) -> None:
    from digest import dispatch

    run("lists", "add", "daily", "--name", "Daily News", "--from-addr", "news@example.com")
    _waiting_signup(settings, "reader@example.com")
    settings = replace(settings, smtp_url=smtp_server.url)
    with Store.open(settings.db) as store:  # what `digest schedule` runs on every reload
        assert dispatch.retry_started(store, settings, clock=ManualClock().clock) == []
    ((frm, to, _),) = smtp_server.handler.received
    assert (frm, to) == ("news@example.com", ["reader@example.com"])  # no bounce address set


def test_sign_up_mails_are_signed_and_tagged_like_the_digest(
    settings: Settings, smtp_server: CaptureServer, tmp_path: Path
) -> None:
    key_file, record = dkim_key_file(tmp_path)
    for site in make_site(
        settings,
        smtp_server,
        rate_limit=1000,
        signup_challenge="off",
        signup_welcome="on",
        dkim_key_file=key_file,
        dkim_selector="mail2026",
        feedback_id="example",
    ):
        site.sign_up("reader@example.com", locale="ar")
        site.clock.advance(60)
        site.confirm(site.link(site.mails()[0]))
        confirmation, welcome = (raw.read_bytes() for _, _, raw in site.smtp.handler.received)
        for raw, kind in ((confirmation, "confirm"), (welcome, "welcome")):
            verdict = perlmail.verify_dkim(raw, "mail2026._domainkey.example.com", record)
            assert verdict["result"] == "pass", (kind, verdict)
            (signature,) = verdict["signatures"]
            assert signature["domain"] == "example.com"
            signed = {h.lower() for h in signature["headers"].split(":")}
            assert {"from", "to", "subject", "date", "message-id", "feedback-id"} <= signed
            assert {"mime-version", "content-type"} <= signed
            parsed = email.message_from_bytes(raw, policy=email.policy.default)
            assert parsed["Feedback-ID"] == f"2026-11-27:daily:{kind}:example"
            # A changed body or a changed subject no longer verifies.
            tampered = raw.replace(b"Subject: ", b"Subject: X", 1)
            verdict = perlmail.verify_dkim(tampered, "mail2026._domainkey.example.com", record)
            assert verdict["result"] == "fail", kind
        assert b"\r\nList-Id: " not in confirmation and not confirmation.startswith(b"List-Id")
        signed = perlmail.verify_dkim(welcome, "mail2026._domainkey.example.com", record)
        headers = signed["signatures"][0]["headers"].lower().split(":")
        assert {"list-id", "list-unsubscribe", "list-unsubscribe-post"} <= set(headers)
        assert perlmail.read_message(welcome)["List-Id"] == "Daily News <daily.example.com>"


def test_sign_up_mails_are_unsigned_without_dkim_settings(site: Site) -> None:
    site.sign_up("reader@example.com")
    raw = site.smtp.handler.received[0][2].read_bytes()
    assert b"DKIM-Signature" not in raw and b"Feedback-ID" not in raw


@pytest.fixture
def bouncing(settings: Settings, smtp_server: CaptureServer) -> Iterator[Site]:
    yield from make_site(
        settings,
        smtp_server,
        rate_limit=1000,
        signup_challenge="off",
        signup_welcome="on",
        bounce_address="bounces@example.com",
    )


def quoting_dsn(message_id: str, status: str) -> str:
    """A DSN to the plain bounce address (the VERP envelope lost) quoting the Message-ID."""
    return (
        "From: MAILER-DAEMON@mx.example.org\nTo: bounces@example.com\n"
        f"Message-ID: <dsn-q-{abs(hash(message_id))}@mx.example.org>\n"
        "Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
        f"Final-Recipient: rfc822; mbox-9@store7.internal\nAction: failed\nStatus: {status}\n\n"
        "--b\nContent-Type: text/rfc822-headers\n\n"
        f"From: news@example.com\nMessage-ID: {message_id}\nSubject: Confirm\n\n--b--\n"
    )


def test_a_hard_bounce_of_a_confirmation_marks_the_sign_up_and_no_subscriber(
    bouncing: Site, run: Cli
) -> None:
    from tests.test_bounces import bare_dsn

    site = bouncing
    site.sign_up("amina@example.com")  # a subscriber of weekly, signing up to daily
    site.sign_up("new@example.com")
    (amina_from, _, _), (new_from, _, _) = site.smtp.handler.received
    assert re.fullmatch(r"bounces\+s\d+\.[a-z2-7]{16}@example\.com", amina_from), amina_from
    assert amina_from != new_from
    # A DSN naming only the VERP envelope sender: the sign-up, never Amina's subscription.
    result = run("bounces", "import", str(run.write("a.eml", bare_dsn(amina_from, "5.1.1"))))
    assert "0 matched no subscriber; 0 subscribers now bounced" in result.stderr
    assert "1 sign-ups undeliverable" in result.stderr
    # A DSN quoting only the Message-ID (the envelope rewritten) finds the row too.
    message_id = site.mails()[1]["Message-ID"]
    assert re.fullmatch(r"<signup\.s\d+\.[a-z2-7]{16}@example\.com>", message_id), message_id
    result = run("bounces", "import", str(run.write("n.eml", quoting_dsn(message_id, "5.1.1"))))
    assert "1 sign-ups undeliverable" in result.stderr
    with Store.open(site.settings.db) as store:
        amina = store.find_subscriber("amina@example.com")
        assert amina.id is not None and amina.status == "active"
        assert store.subscription_statuses(amina.id) == {"weekly": "active"}
        assert store.subscriber_id_by_email("new@example.com") is None  # nobody created
    # No further confirmation mail, past the hour too; the answer is the same.
    site.clock.advance(7200)
    again = site.sign_up("new@example.com")
    assert again.status_code == 200 and "Check your inbox to confirm" in again.text
    assert len(site.smtp.handler.received) == 2
    shown = run("signups", "show", "new@example.com").output
    assert "daily: signed up 2026-11-27T07:00:00+00:00 through /subscribe/daily" in shown
    assert "undeliverable since 2026-11-27T07:00:00+00:00 (5.1.1): no more mail" in shown
    (row,) = json.loads(run("signups", "show", "new@example.com", "--json").output)
    assert row["undeliverable_at"] and row["bounce"] == "5.1.1" and row["confirmed_at"] is None
    # The same DSN again changes nothing; a forged token matches nothing.
    result = run("bounces", "import", str(run.write("n2.eml", quoting_dsn(message_id, "5.1.1"))))
    assert "(1 already imported)" in result.stderr
    forged = re.sub(r"\.[a-z2-7]{16}@", ".aaaaaaaaaaaaaaaa@", new_from)
    result = run("bounces", "import", str(run.write("f.eml", bare_dsn(forged, "5.1.1"))))
    assert (
        "1 matched no subscriber" in result.stderr and "sign-ups undeliverable" not in result.stderr
    )
    # The reader says the address works now: the admin unblocks it, and its next
    # sign-up gets a confirmation mail (nothing was sent by the command itself).
    result = run("signups", "unblock", "New@example.com")
    assert "1 sign-up no longer undeliverable" in result.stderr
    assert len(site.smtp.handler.received) == 2
    assert "undeliverable" not in run("signups", "show", "new@example.com").output
    site.sign_up("new@example.com")
    assert len(site.smtp.handler.received) == 3
    refused = run("signups", "unblock", "new@example.com", ok=False)
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert refused.stderr.splitlines() == [
        "Error: no undeliverable sign-up for new@example.com",
        "Hint: digest signups show new@example.com",
    ]


def test_a_soft_bounce_of_a_confirmation_changes_nothing_and_a_welcome_bounce_is_the_readers(
    bouncing: Site, run: Cli
) -> None:
    from tests.test_bounces import bare_dsn

    site = bouncing
    site.sign_up("reader@example.com")
    confirmation_from = site.smtp.handler.received[0][0]
    result = run("bounces", "import", str(run.write("s.eml", bare_dsn(confirmation_from, "4.2.2"))))
    assert "sign-ups undeliverable" not in result.stderr
    site.clock.advance(60)
    site.confirm(site.link(site.mails()[0]))  # the mail did arrive: a confirmed reader
    welcome_from = site.smtp.handler.received[1][0]
    assert re.fullmatch(r"bounces\+s\d+\.[a-z2-7]{16}@example\.com", welcome_from)
    assert site.mails()[1]["Message-ID"].startswith("<welcome.s")
    result = run("bounces", "import", str(run.write("w.eml", bare_dsn(welcome_from, "5.1.1"))))
    assert "1 subscribers now bounced" in result.stderr  # they confirmed: theirs to bounce
    with Store.open(site.settings.db) as store:
        assert store.find_subscriber("reader@example.com").status == "bounced"


def test_an_arabic_welcome_runs_right_to_left_line_by_line(welcoming: Site) -> None:
    """Plain text has no dir: a client runs each line by its first strong letter, so the
    section line "- Sport" of an Arabic mail needs a RIGHT-TO-LEFT MARK (as the digest's
    text part has); the links stay untouched, so they remain clickable."""
    site = welcoming
    site.sign_up("reader@example.com", sections=["Sport"], locale="ar")
    site.clock.advance(60)
    site.confirm(site.link(site.mails()[0]))
    confirmation, welcome = site.mails()
    for mail in (confirmation, welcome):
        body = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        for line in body.splitlines():
            if line.startswith("http://"):
                continue  # a link: left as it is
            if line.strip():
                first = next(c for c in line if c.isalpha())
                assert line.startswith("\N{RIGHT-TO-LEFT MARK}") or "\u0600" <= first <= "\u06ff", (
                    line
                )
    body = welcome.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "\N{RIGHT-TO-LEFT MARK}- Sport" in body
    english = site.sign_up("other@example.com", locale="en")
    assert english.status_code == 200
    assert "\N{RIGHT-TO-LEFT MARK}" not in site.mails()[-1].as_string()
