"""The preview server in headless chromium over a real uvicorn on a loopback port:
the email frames' layout, and live reload keeping the scroll position."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from digest.clock import Clock
from digest.config import Settings, load_settings
from digest.demo import run_demo
from digest.models import Article
from digest.pipeline import open_store
from digest.render import default_templates_dir
from digest.web import create_app
from digest.web.preview import POLL_MS
from tests.conftest import offline_page, serving

DAY = date(2026, 11, 20)
PAGE = f"/preview/daily/{DAY.isoformat()}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    """`digest serve`'s app on uvicorn, with an (initially empty) site templates folder."""
    site = tmp_path / "site"
    site.mkdir()
    settings = load_settings(
        env={},
        overrides={"db": tmp_path / "news.db", "outbox": tmp_path / "outbox"},
        cwd=tmp_path,
    )
    moment = Clock.frozen(datetime(2026, 11, 20, 7, 0, tzinfo=UTC))
    settings = run_demo(settings, day=DAY, clock=moment, folder=tmp_path / "demo").settings
    settings = replace(settings, templates=site)
    port = free_port()
    with serving(create_app(settings, port=port), port) as origin:
        yield origin, settings


FRAME = """(view) => {
  const frame = document.querySelector('iframe.email');
  const doc = frame.contentDocument;
  const titles = [...doc.querySelectorAll('h3 a')].map((a) => a.getBoundingClientRect());
  return {frameWidth: frame.clientWidth, scrollWidth: doc.documentElement.scrollWidth,
          titles: titles.map((r) => [r.left, r.right, r.width]),
          height: frame.getBoundingClientRect().height};
}"""


def test_frames_show_the_email_at_desktop_and_mobile_width(
    browser: Any, server: tuple[str, Settings]
) -> None:
    base, _ = server
    page: Any = offline_page(browser, 1200)
    try:
        for view, width in (("desktop", 600), ("mobile", 375)):
            page.goto(f"{base}{PAGE}?view={view}")
            page.wait_for_selector("body[data-ready='1']")
            found = page.evaluate(FRAME)
            assert found["frameWidth"] == width
            assert found["scrollWidth"] <= width  # no horizontal overflow inside the email
            assert len(found["titles"]) >= 5
            assert all(r[0] >= 0 and r[1] <= width and r[2] > 0 for r in found["titles"])
            assert found["height"] > 1000  # sized to its content, so the page scrolls
    finally:
        page.close()


def settle(page: Any, condition: str) -> None:
    """Wait for `condition` after a reload, then once more after two more polls: one
    database write can be seen twice (WAL, then checkpoint) and reload the page twice."""
    page.wait_for_function(condition, timeout=15_000)
    page.wait_for_timeout(2 * POLL_MS + 200)
    page.wait_for_function(condition, timeout=15_000)


def test_live_reload_on_template_and_database_changes_keeps_scroll(
    browser: Any, server: tuple[str, Settings]
) -> None:
    base, settings = server
    assert settings.templates is not None
    page: Any = offline_page(browser, 1200)
    frame_text = "() => document.querySelector('iframe.email').contentDocument.body.innerText"
    try:
        page.goto(f"{base}{PAGE}")
        page.wait_for_selector("body[data-ready='1']")
        page.evaluate("window.scrollTo(0, 700)")
        # A template change: the editor's own footer.
        footer = (default_templates_dir() / "footer.mjml").read_text(encoding="utf-8")
        (settings.templates / "footer.mjml").write_text(
            footer.replace(
                "{% if theme.footer %}", "<p>Edited footer line</p>{% if theme.footer %}"
            )
        )
        settle(
            page,
            "() => document.body.dataset.ready === '1' && "
            "document.querySelector('iframe.email').contentDocument.body.innerText"
            ".includes('Edited footer line')",
        )
        assert abs(page.evaluate("window.scrollY") - 700) < 2
        # A database change: a new article in the edition's window.
        with open_store(settings) as store:
            store.upsert_article(
                Article(
                    url="https://news.example.com/tchad/late-news",
                    title="Late news from N'Djamena",
                    section="Tchad",
                    published_at=datetime(2026, 11, 20, 5, 0, tzinfo=UTC),
                ),
                now=datetime(2026, 11, 20, 5, 0, tzinfo=UTC),
            )
        settle(
            page,
            f"() => document.body.dataset.ready === '1' && ({frame_text})()"
            '.includes("Late news from N\'Djamena")',
        )
        assert abs(page.evaluate("window.scrollY") - 700) < 2
        # A template error shows in the page; fixing it brings the preview back.
        (settings.templates / "footer.mjml").write_text("<mj-section>\n<mj-column>\n")
        page.wait_for_selector("[role=alert]", timeout=15_000)
        assert "footer.mjml:" in page.inner_text("[role=alert]")
        (settings.templates / "footer.mjml").unlink()
        page.wait_for_selector("iframe.email", timeout=15_000)
    finally:
        page.close()


SIDE_BY_SIDE = """() => [...document.querySelectorAll('.frames iframe.email')].map((f) => {
  const r = f.getBoundingClientRect();
  return {view: f.dataset.view, left: r.left, right: r.right, top: r.top, width: f.clientWidth,
          overflow: f.contentDocument.documentElement.scrollWidth};
})"""


def test_desktop_and_mobile_sit_side_by_side_and_approve_works(browser: Any, run: Any) -> None:
    from tests.test_web_desk import MORNING, newsroom, shown
    from tests.test_web_desk import PAGE as DESK_PAGE

    run.now = MORNING
    settings = newsroom(run)
    port = free_port()
    app = create_app(settings, clock=Clock.frozen(MORNING), port=port)
    page: Any = offline_page(browser, 1400)
    try:
        with serving(app, port) as origin:
            page.goto(origin + DESK_PAGE)
            page.wait_for_selector("body[data-ready='1']")
            desktop, mobile = page.evaluate(SIDE_BY_SIDE)
            assert (desktop["view"], mobile["view"]) == ("desktop", "mobile")
            assert (desktop["width"], mobile["width"]) == (600, 375)
            assert abs(desktop["top"] - mobile["top"]) < 1  # one row, not stacked
            assert mobile["left"] >= desktop["right"]
            assert desktop["overflow"] <= 600 and mobile["overflow"] <= 375
            assert page.inner_text(".inbox .subject") == "Daily — November 27, 2026"
            assert page.get_attribute(".status .state", "data-state") == "awaiting approval"

            page.click("button[data-action='approve']")
            page.wait_for_selector(".status .state[data-state='approved']", timeout=15_000)
            assert "approved by preview (127.0.0.1)" in page.inner_text("p.notice")
            assert shown(run)["state"] == "approved"
    finally:
        page.close()


def test_unsaved_edits_survive_a_database_change_and_approve_asks_first(
    browser: Any, run: Any
) -> None:
    """The page reloads itself when the database changes: with an editor's typing in the
    edit form, that reload threw the typing away, and Approve approved the saved version
    without a word about the unsaved one."""
    from tests.test_web_desk import MORNING, newsroom, shown
    from tests.test_web_desk import PAGE as DESK_PAGE

    run.now = MORNING
    settings = newsroom(run)
    port = free_port()
    app = create_app(settings, clock=Clock.frozen(MORNING), port=port)
    page: Any = offline_page(browser, 1400)
    dialogs: list[str] = []

    def answer(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()  # the editor says no: nothing is approved

    page.on("dialog", answer)
    try:
        with serving(app, port) as origin:
            page.goto(origin + DESK_PAGE)
            page.wait_for_selector("body[data-ready='1']")
            page.fill("textarea[name=note]", "Half-written note")
            run("editions", "edit", "daily", "2026-11-27", "--subject", "Set elsewhere")
            page.wait_for_selector("p.stale", timeout=15_000)
            assert "changed elsewhere while you were editing" in page.inner_text("p.stale")
            assert page.input_value("textarea[name=note]") == "Half-written note"  # kept

            page.click("button[data-action='approve']")
            page.wait_for_timeout(POLL_MS * 2)
            assert dialogs and "Your edits are not saved" in dialogs[0]
            assert shown(run)["state"] == "awaiting approval"  # declined: not approved
            assert page.input_value("textarea[name=note]") == "Half-written note"

            page.click("button[name=save]")  # saving keeps the typing (and the page reloads)
            page.wait_for_selector("p.notice:not(.stale)", timeout=15_000)
            assert shown(run)["note"] == "Half-written note"
    finally:
        page.close()
