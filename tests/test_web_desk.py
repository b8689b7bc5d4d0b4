"""The preview for an editor's day, over real HTTP through uvicorn: each edition's state
with the ledger's counts, the inbox line, desktop and mobile side by side, and the edit
and approve forms (protected like every preview route, plus a signed form token)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from digest.clock import Clock
from digest.config import Settings, load_settings
from digest.sink import CaptureServer, free_port
from digest.web import create_app
from tests.conftest import NOW, Cli, article, received_messages, serving
from tests.faultsmtp import FaultServer, always

BASE = "https://news.example.com/"
STORIES = [
    article(
        url=BASE + "crue",
        title="Flood story",
        section="Tchad",
        published_at="2026-11-27T06:00:00+00:00",
    ),
    article(
        url=BASE + "but",
        title="Goal story",
        section="Sport",
        published_at="2026-11-27T05:00:00+00:00",
    ),
]
PAGE = "/preview/daily/2026-11-27"
MORNING = NOW - timedelta(hours=2)


def newsroom(run: Cli, *subscribers: str) -> Settings:
    run("lists", "add", "daily", "--name", "Daily", "--from-addr", "news@example.com",
        "--approval", "required", "--section", "Tchad", "--section", "Sport")  # fmt: skip
    for address in subscribers or ("amina@example.com",):
        run("subscribers", "add", address, "--list", "daily")
    run("articles", "import", str(run.write("a.json", STORIES)))
    return load_settings(env=run.env, overrides={"db": run.db_path}, cwd=run.tmp_path)


@pytest.fixture
def desk(run: Cli) -> Iterator[tuple[httpx.Client, Cli]]:
    run.now = MORNING
    settings = newsroom(run)
    port = free_port()
    app = create_app(settings, clock=Clock.frozen(MORNING), port=port)
    with serving(app, port) as origin, httpx.Client(base_url=origin) as client:
        yield client, run


def token_of(page: str) -> str:
    found = re.search(r'name="token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def shown(run: Cli) -> dict[str, object]:
    data = json.loads(run("editions", "show", "daily", "2026-11-27", "--json").stdout)
    return data  # type: ignore[no-any-return]


def test_the_page_shows_state_inbox_line_and_both_frames(
    desk: tuple[httpx.Client, Cli],
) -> None:
    client, _ = desk
    page = client.get(PAGE)
    assert page.status_code == 200
    assert 'data-state="awaiting approval"' in page.text
    assert "needs approval before it goes out" in page.text
    assert "due 2026-11-27 07:00 UTC" in page.text
    inbox = re.search(r'<div class="inbox".*?</div>', page.text, re.DOTALL)
    assert inbox
    assert '<span class="from" title="news@example.com">Daily</span>' in inbox.group(0)
    assert '<span class="subject">Daily — November 27, 2026</span>' in inbox.group(0)
    assert "Flood story · Goal story" in inbox.group(0)  # the preheader
    frames = re.findall(r'<iframe class="email"[^>]*data-view="(\w+)"', page.text)
    assert frames == ["desktop", "mobile"]
    assert '<button type="submit" data-action="approve">Approve</button>' in page.text
    assert "<details><summary>Stories: pin or drop</summary>" in page.text  # folded: no edits
    index = client.get("/")
    assert re.search(r'2026-11-27 \(today\)</a> <span class="state awaiting"', index.text)
    # A subscriber without a name or language is their address once ("a <a> " before).
    found = client.get(PAGE, params={"find": "amina"}).text
    assert re.findall(r'<option value="\d+"[^>]*>([^<]+)</option>', found) == ["amina@example.com"]
    # Every page names its icon: else each visit's /favicon.ico is a 404 in the console.
    missing = client.get("/u/not-a-token")  # the subscriber pages' layout
    for shown_page in (page.text, index.text, missing.text):
        assert '<link rel="icon" href="data:,">' in shown_page


def test_forms_need_this_pages_token_and_the_same_origin(
    desk: tuple[httpx.Client, Cli],
) -> None:
    client, run = desk
    token = token_of(client.get(PAGE).text)
    before = shown(run)
    refused = [
        client.post(f"{PAGE}/approve", data={"action": "approve"}),  # no token
        client.post(f"{PAGE}/approve", data={"action": "approve", "token": token[:-2] + "xx"}),
        client.post(
            "/preview/daily/2026-11-26/approve", data={"action": "approve", "token": token}
        ),  # another edition's token
        client.post(f"{PAGE}/edit", data={"subject": "Hacked", "token": "A" * 22}),
        client.post(
            f"{PAGE}/approve",
            data={"action": "approve", "token": token},
            headers={"origin": "https://evil.example"},
        ),
        client.post(
            f"{PAGE}/edit",
            data={"subject": "Hacked", "token": token},
            headers={"sec-fetch-site": "cross-site"},
        ),
    ]
    assert [r.status_code for r in refused] == [403] * 6
    assert shown(run) == before and before["state"] == "awaiting approval"


def test_edit_and_approve_from_the_page(desk: tuple[httpx.Client, Cli]) -> None:
    client, run = desk
    token = token_of(client.get(PAGE).text)
    saved = client.post(
        f"{PAGE}/edit",
        data={
            "token": token,
            "lead": BASE + "but",
            "pin": [],
            "drop": [BASE + "crue"],
            "note": "A **short** note\r\non two lines",
            "subject": "The goal",
        },
    )
    assert saved.status_code == 303
    page = client.get(saved.headers["location"])
    assert 'role="status">edits saved</p>' in page.text
    data = shown(run)
    assert data["lead"] == BASE + "but" and data["drops"] == [BASE + "crue"]
    assert data["note"] == "A **short** note\non two lines" and data["subject"] == "The goal"
    assert '<span class="subject">The goal</span>' in page.text
    assert "The goal · 1 article in 1 section · en" in page.text  # not "1 articles"
    assert f'<option value="{BASE}but" selected>Goal story</option>' in page.text
    assert f'name="drop" value="{BASE}crue" checked' in page.text
    # What the editor did is in view: the pin/drop table opens, with its count.
    assert "<details open><summary>Stories: pin or drop (1 dropped)</summary>" in page.text

    bad = client.post(f"{PAGE}/edit", data={"token": token, "lead": BASE + "elsewhere"})
    notice = client.get(bad.headers["location"]).text
    assert "not saved: " in notice and shown(run)["lead"] == BASE + "but"

    auth = "Basic " + base64.b64encode(b"amina:any").decode()
    approved = client.post(
        f"{PAGE}/approve",
        data={"token": token, "action": "approve"},
        headers={"authorization": auth},
    )
    page = client.get(approved.headers["location"])
    assert "approved by amina" in page.text and 'data-state="approved"' in page.text
    assert "past its due moment" not in page.text  # approved in time: nothing to add
    assert shown(run)["approval"]["approved_by"] == "amina"  # type: ignore[index]
    assert 'data-action="revoke">Withdraw approval</button>' in page.text

    again = client.post(f"{PAGE}/edit", data={"token": token, "subject": "Another"})
    page = client.get(again.headers["location"])
    assert "this withdrew the approval by amina" in page.text
    assert 'data-state="awaiting approval"' in page.text and shown(run)["approval"] is None

    client.post(f"{PAGE}/approve", data={"token": token, "action": "approve"})
    assert shown(run)["approval"]["approved_by"] == "preview (127.0.0.1)"  # type: ignore[index]
    client.post(f"{PAGE}/approve", data={"token": token, "action": "revoke"})
    assert shown(run)["state"] == "awaiting approval"


def test_missed_sending_and_sent_with_the_ledgers_counts(run: Cli, tmp_path: Path) -> None:
    settings = newsroom(run, "a@example.com", "b@example.com", "c@example.com")
    port = free_port()

    def page_at(moment_hours: float) -> str:
        app = create_app(
            settings, clock=Clock.frozen(NOW + timedelta(hours=moment_hours)), port=port
        )
        with serving(app, port) as origin:
            return httpx.get(origin + PAGE).text

    run.env["DIGEST_PROOF_HOURS"] = "0"
    run("schedule", "--run-due")  # the round at the due moment holds it and logs it
    missed = page_at(1)
    assert 'data-state="missed approval"' in missed
    assert "held at its due moment, logged at 2026-11-27 07:00 UTC" in missed
    run("editions", "approve", "daily", "2026-11-27", "--by", "amina")
    late = page_at(1)
    assert 'data-state="approved"' in late and "past its due moment: the next round of" in late
    assert "<code>digest send --list daily --date 2026-11-27</code> does" in late
    with FaultServer() as server:
        server.handler.rcpt["b@example.com"] = always("451 4.3.0 try later")
        run.env["DIGEST_SMTP_URL"] = server.url
        run.env["DIGEST_RETRY_WINDOW"] = "0"
        run("send", "--list", "daily", "--date", "2026-11-27", ok=False)
    sending = page_at(1)
    assert 'data-state="sending"' in sending
    counts = dict(re.findall(r'<b data-count="(\w+)">(\d+)</b>', sending))
    assert counts == {"sent": "2", "deferred": "1", "bounced": "0", "failed": "0"}
    assert '<progress max="3" value="2"' in sending and "66%" in sending
    assert "This edition began going out: it can no longer be edited or approved" in sending

    with CaptureServer(tmp_path / "cap") as capture:
        run.env["DIGEST_SMTP_URL"] = capture.url
        run.now = NOW + timedelta(hours=1)
        run("send", "--list", "daily", "--date", "2026-11-27")
        assert [m["To"] for m in received_messages(capture)] == ["b@example.com"]
    sent = page_at(2)
    assert 'data-state="sent"' in sent and '<b data-count="sent">3</b>' in sent
    assert "This edition went out: it can no longer be edited or approved" in sent
