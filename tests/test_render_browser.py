"""The rendered edition in a real headless chromium: layout at 375 and 600 px, dark mode."""

from __future__ import annotations

from typing import Any

import pytest

from digest.render import Renderer, Theme
from tests.conftest import offline_page
from tests.editions import big_edition, sample_edition

LAYOUT = """() => {
  const rect = (el) => el.getBoundingClientRect();
  const titles = [...document.querySelectorAll('h3 a, h2.lead-title a')].map((a) => {
    const r = rect(a), style = getComputedStyle(a);
    return {text: a.textContent, left: r.left, right: r.right, width: r.width, height: r.height,
            visible: style.visibility !== 'hidden' && style.display !== 'none'};
  });
  const lead = document.querySelector('.lead-img');
  const leadTitle = document.querySelector('.lead-title');
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    titles,
    bodyWidth: rect(document.querySelector('.card')).width,
    leadImage: lead && {top: rect(lead).top, bottom: rect(lead).bottom},
    leadTitle: leadTitle && {top: rect(leadTitle).top},
  };
}"""

# For every element with its own text: its colour and the first opaque background behind it.
CONTRAST = """() => {
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((c) => {
      c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); })
    .reduce((acc, c, i) => acc + c * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const worst = [];
  for (const el of document.body.querySelectorAll('*')) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || el.closest('.preheader')) continue;
    const fg = lum(rgb(getComputedStyle(el).color)), bg = lum(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    worst.push({tag: el.tagName, text: el.textContent.trim().slice(0, 30), ratio});
  }
  return worst.sort((a, b) => a.ratio - b.ratio).slice(0, 3);
}"""


@pytest.fixture(scope="module")
def editions() -> dict[str, str]:
    renderer = Renderer()
    return {
        "big": renderer.render(big_edition(30)).html,
        "ar": renderer.render(sample_edition("ar")).html,
    }


@pytest.mark.parametrize("name", ["big", "ar"])
def test_layout_at_desktop_and_mobile_widths(
    browser: Any, editions: dict[str, str], name: str
) -> None:
    found = {}
    for width in (600, 375):
        page: Any = offline_page(browser, width)
        page.set_content(editions[name])
        found[width] = page.evaluate(LAYOUT)
        page.close()
    for width, layout in found.items():
        assert layout["scrollWidth"] <= width, (width, layout["scrollWidth"])  # no overflow
        assert len(layout["titles"]) >= 8
        for title in layout["titles"]:
            assert title["visible"] and title["width"] > 0 and title["height"] > 0, title
            assert title["left"] >= 0 and title["right"] <= width, (width, title)
    assert found[600]["bodyWidth"] == 600  # the desktop column is 600 px wide
    assert found[375]["bodyWidth"] == 375
    # The lead story is two columns on desktop and one column under 480 px.
    desktop, mobile = found[600], found[375]
    assert abs(desktop["leadImage"]["top"] - desktop["leadTitle"]["top"]) < 40
    assert mobile["leadTitle"]["top"] >= mobile["leadImage"]["bottom"]


@pytest.mark.parametrize("dark", [False, True])
def test_text_is_readable_in_light_and_dark_mode(
    browser: Any, editions: dict[str, str], dark: bool
) -> None:
    page: Any = offline_page(browser, 600, dark=dark)
    page.set_content(editions["ar"])
    worst = page.evaluate(CONTRAST)
    page.close()
    assert worst and worst[0]["ratio"] >= 4.5, worst


def test_logo_keeps_a_light_backing_in_dark_mode(browser: Any) -> None:
    theme = Theme(logo_url="https://news.example.com/logo.png", logo_size="200x48")
    html = Renderer(theme=theme).render(sample_edition()).html
    found = {}
    for dark in (False, True):
        page: Any = offline_page(browser, 600, dark=dark)
        page.set_content(html)
        found[dark] = page.evaluate(
            "() => { const logo = document.querySelector('img.logo'); const r ="
            " logo.getBoundingClientRect(); return [getComputedStyle(logo).backgroundColor,"
            " r.width, r.height]; }"
        )
        page.close()
    assert found[True][0] == "rgb(255, 255, 255)"  # a dark logo stays readable
    assert found[False][0] == "rgba(0, 0, 0, 0)"
    assert found[False][1:] == [200, 48]  # explicit size holds even when the image is blocked
