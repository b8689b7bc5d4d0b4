"""Chromium submits the sign-up form with the ALTCHA challenge solved by the page's own
script, then opens the confirmation link, whose page confirms by POSTing itself.

Apart from the other sign-up tests because Chromium does not start under libfaketime
(CI's run with the clock moved leaves the browser files out)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from digest.config import Settings
from digest.sink import CaptureServer
from digest.store import Store
from tests.conftest import offline_page
from tests.test_signup import Site, make_site


@pytest.fixture
def guarded(settings: Settings, smtp_server: CaptureServer) -> Iterator[Site]:
    yield from make_site(settings, smtp_server, rate_limit=1000)  # the challenge on: default


def test_chromium_signs_up_with_the_challenge_solved_and_confirms(
    guarded: Site, browser: object, tmp_path: Path
) -> None:
    page = offline_page(browser, 375)
    page.goto(f"{guarded.origin}/subscribe/daily")  # type: ignore[attr-defined]
    page.fill('input[name="email"]', "reader@example.com")  # type: ignore[attr-defined]
    page.check('input[value="Sport"]')  # type: ignore[attr-defined]
    page.screenshot(path=str(tmp_path / "1-form.png"))  # type: ignore[attr-defined]
    page.click('button[type="submit"]')  # type: ignore[attr-defined]
    page.wait_for_selector("text=Check your inbox to confirm", timeout=30_000)  # type: ignore[attr-defined]
    page.screenshot(path=str(tmp_path / "2-sent.png"))  # type: ignore[attr-defined]
    (mail,) = guarded.mails()
    assert not guarded.receives("reader@example.com")
    page.goto(guarded.link(mail))  # type: ignore[attr-defined]
    page.wait_for_selector("text=Subscription confirmed", timeout=10_000)  # type: ignore[attr-defined]
    page.screenshot(path=str(tmp_path / "3-confirmed.png"))  # type: ignore[attr-defined]
    assert guarded.receives("reader@example.com")
    with Store.open(guarded.settings.db) as store:
        subscriber = store.get_subscriber("reader@example.com")
        assert store.subscription_sections(subscriber.id or 0) == {"daily": ["Sport"]}
    page.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("lang", ["ar", "fr", "en"])
def test_the_form_is_no_wider_than_a_phone_in_either_direction(
    guarded: Site, browser: object, lang: str
) -> None:
    """The honeypot once sat at left:-10000px: in a right-to-left page that is scrollable
    overflow, so the Arabic form was 10,375 px wide on a 375 px phone."""
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 375, "height": 800}, extra_http_headers={"Accept-Language": lang}
    )
    page = context.new_page()
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(("http://127.0.0.1", "about:", "data:"))
            else route.abort()
        ),
    )
    page.goto(f"{guarded.origin}/subscribe/daily")
    assert page.evaluate("document.documentElement.dir || document.dir") == (
        "rtl" if lang == "ar" else "ltr"
    )
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, width
    honeypot = page.evaluate(
        "(() => { const box = document.querySelector('input[name=website]').closest('div');"
        " const r = box.getBoundingClientRect(); return r.width * r.height; })()"
    )
    assert honeypot <= 1  # still out of sight
    context.close()
