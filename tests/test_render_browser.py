"""The rendered edition in a real headless chromium: layout at 375 and 600 px, dark mode."""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from digest.render import Renderer, Theme
from tests.conftest import offline_page
from tests.editions import MIXED_TITLE, big_edition, mixed_edition, sample_edition

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
    # The lead story stacks its image above its headline at every width (issue 14).
    for layout in found.values():
        assert layout["leadTitle"]["top"] >= layout["leadImage"]["bottom"]


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


# Every rendered element with its own text: its computed direction, and the direction its
# language asks for (the nearest lang attribute; Arabic is rtl, the others here ltr).
DIRECTIONS = """() => [...document.body.querySelectorAll('*')].filter((el) =>
    [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())
    && el.getClientRects().length && !el.closest('.preheader')
  ).map((el) => ({
    text: el.textContent.trim().slice(0, 40),
    lang: el.closest('[lang]').getAttribute('lang'),
    direction: getComputedStyle(el).direction,
  }))"""

# Where each of `words` (in reading order) lands after `needle`: [line top, x centre].
PLACES = """([needle, words]) => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node; (node = walker.nextNode());) {
    if (!node.textContent.includes(needle) || !node.parentElement.getClientRects().length
        || node.parentElement.closest('.preheader')) continue;
    let at = node.textContent.indexOf(needle);
    return words.map((word) => {
      const range = document.createRange();
      at = node.textContent.indexOf(word, at);
      range.setStart(node, at); range.setEnd(node, at + word.length);
      const r = range.getBoundingClientRect();
      return [Math.round(r.top), (r.left + r.right) / 2];
    });
  }
  return null;
}"""

TITLE_WORDS = ["Apple", "تطلق", "iPhone", "أسواق", "…"]  # in the order an Arabic reader reads


def read_right_to_left(places: list[list[float]]) -> bool:
    """True when each word comes after the previous one reading rtl (top to bottom, then <-)."""
    keys = [(top, -x) for top, x in places]
    return all(a < b for a, b in zip(keys, keys[1:], strict=False))


@pytest.mark.parametrize("locale", ["ar", "fr", "en"])
def test_every_text_block_runs_in_its_languages_direction(browser: Any, locale: str) -> None:
    """Arabic editions, and Arabic stories in any edition, are rtl block by block (issue 10).

    MJML writes `direction:ltr` inline on its sections and columns, which beats the
    document's dir="rtl"; Arabic text then ran ltr with only right alignment.
    """
    html = Renderer().render(mixed_edition(locale)).html
    for width in (375, 600):
        for dark in (False, True):
            page: Any = offline_page(browser, width, dark=dark)
            page.set_content(html)
            blocks = page.evaluate(DIRECTIONS)
            places = page.evaluate(PLACES, [MIXED_TITLE[:5], TITLE_WORDS])
            page.close()
            wrong = [b for b in blocks if b["direction"] != ("rtl" if b["lang"] == "ar" else "ltr")]
            assert not wrong, (width, dark, wrong[:5])
            arabic = [b for b in blocks if b["lang"] == "ar"]
            assert len(arabic) >= (20 if locale == "ar" else 6), (locale, len(arabic))
            assert places and read_right_to_left(places), (width, dark, places)


def test_plain_text_part_reads_right_to_left_where_clients_guess_direction(
    browser: Any,
) -> None:
    """Mail clients give each plain-text line the direction of its first strong letter.

    A line of an Arabic story that begins with a Latin word ("Apple تطلق iPhone 18…", the
    source name of its meta line) would run ltr, in the wrong order, without a mark.
    """
    text = Renderer().render(mixed_edition("ar")).text
    page: Any = offline_page(browser, 600)
    page.set_content('<pre style="unicode-bidi:plaintext;font-size:16px"></pre>')
    page.evaluate("(text) => { document.querySelector('pre').textContent = text; }", text)
    title = page.evaluate(PLACES, [MIXED_TITLE[:5], TITLE_WORDS])
    meta = page.evaluate(PLACES, ["Alwihda Info · يوسف", ["Alwihda", "يوسف", ":"]])
    page.close()
    assert title and read_right_to_left(title), title
    assert meta and read_right_to_left(meta), meta


def png(width: int, height: int) -> bytes:
    """A real PNG of that size (grey, 8-bit): enough for the browser to know its ratio."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


SHAPES = {"wide.png": (320, 180), "square.png": (200, 200), "tall.png": (150, 200)}  # 16:9 1:1 3:4


@pytest.fixture(scope="module")
def image_server() -> Iterator[str]:
    """Serves SHAPES over HTTP on a free loopback port; yields its origin."""
    images = {f"/{name}": png(*size) for name, size in SHAPES.items()}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            body = images.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# Each loaded image: its natural and its rendered width / height.
RATIOS = """() => [...document.images].filter((img) => img.getClientRects().length).map((img) => {
  const r = img.getBoundingClientRect();
  return {src: img.src.split('/').pop(), cls: img.className, natural: img.naturalWidth
          / img.naturalHeight, rendered: r.width / r.height, width: r.width, height: r.height};
})"""


@pytest.mark.parametrize("lead", ["wide.png", "square.png", "tall.png"])
def test_no_image_is_distorted_at_any_aspect_ratio(
    browser: Any, image_server: str, lead: str
) -> None:
    """Thumbnails and the lead image keep the photo's own shape (they were forced to 96x96).

    Images are sized by their width alone (attribute and CSS, height:auto): caniemail
    lists no client without support for that, whereas object-fit fails in Outlook,
    Yahoo and Gmail's webmail for non-Gmail accounts.
    """
    edition = big_edition(12)
    names = [lead, *(n for n in SHAPES if n != lead)]
    shapes = iter(names * 4)
    sections = tuple(
        replace(
            section,
            articles=tuple(
                replace(a, image_url=f"https://img.example/{next(shapes)}") if a.image_url else a
                for a in section.articles
            ),
        )
        for section in edition.sections
    )
    html = Renderer().render(replace(edition, sections=sections)).html
    html = html.replace("https://img.example/", f"{image_server}/")
    for width in (375, 600):
        page: Any = offline_page(browser, width)
        page.set_content(html, wait_until="load")
        images = page.evaluate(RATIOS)
        page.close()
        assert {i["cls"] for i in images} == {"lead-img", "thumb"}, images
        assert {i["src"] for i in images if i["cls"] == "thumb"} == set(SHAPES), images
        for image in images:
            assert image["natural"] == pytest.approx(image["rendered"], rel=0.03), (width, image)
            if image["cls"] == "thumb":
                assert image["width"] == 96, image


# The lead story against the other stories, and every visible rule in the lead card.
LEAD = """() => {
  const rect = (el) => el.getBoundingClientRect();
  const image = document.querySelector('.lead-img'), title = document.querySelector('.lead-title');
  const rules = [];
  for (const el of image.closest('.lead').querySelectorAll('*')) {
    const s = getComputedStyle(el), r = rect(el);
    for (const side of ['top', 'bottom']) {
      const width = parseFloat(s.getPropertyValue(`border-${side}-width`));
      if (width > 0 && s.getPropertyValue(`border-${side}-style`) !== 'none')
        rules.push({tag: el.tagName, cls: el.className, y: side === 'top' ? r.top : r.bottom});
    }
  }
  const button = document.querySelector('.lead a.button');
  return {
    image: {top: rect(image).top, bottom: rect(image).bottom, width: rect(image).width},
    title: {top: rect(title).top, size: parseFloat(getComputedStyle(title).fontSize)},
    story: parseFloat(getComputedStyle(document.querySelector('h3')).fontSize),
    column: rect(document.querySelector('.lead')).width,
    rules,
    button: button && {background: getComputedStyle(button).backgroundColor,
                       color: getComputedStyle(button).color, height: rect(button).height},
  };
}"""


@pytest.mark.parametrize("dark", [False, True])
def test_lead_story_is_larger_and_no_rule_parts_its_image_from_its_headline(
    browser: Any, image_server: str, dark: bool
) -> None:
    """The lead stood half-width at 264 px, titled like any story, and on mobile the
    section rule (h2's border-top) ran between its image and its headline (issue 14)."""
    edition = sample_edition("fr")
    html = Renderer().render(edition).html
    lead_image = edition.sections[0].articles[0].image_url
    html = html.replace(lead_image, f"{image_server}/wide.png")
    for width in (375, 600):
        page: Any = offline_page(browser, width, dark=dark)
        page.set_content(html, wait_until="load")
        lead = page.evaluate(LEAD)
        page.close()
        assert lead["title"]["top"] >= lead["image"]["bottom"], (width, lead)
        between = [
            r for r in lead["rules"] if lead["image"]["bottom"] <= r["y"] <= lead["title"]["top"]
        ]
        assert not between, (width, between)
        assert lead["image"]["width"] >= lead["column"] - 48 - 1, (width, lead)  # full width
        assert lead["title"]["size"] >= lead["story"] * 1.4, (width, lead)
        # "Read more" of the lead is a button: white on the accent, in light and dark mode.
        assert lead["button"]["background"] == "rgb(179, 38, 30)", lead  # #b3261e
        assert lead["button"]["color"] == "rgb(255, 255, 255)", lead
        assert lead["button"]["height"] >= 36, lead  # padded, a target for a thumb


# The masthead (its accent bar, title and dateline) and every story's "Read more" link.
MASTHEAD = """() => {
  const style = (el) => getComputedStyle(el);
  const h1 = document.querySelector('h1'), mast = h1.closest('.masthead');
  const bar = mast && mast.querySelector('td');
  const dateline = h1.nextElementSibling;
  return {
    bar: bar && [style(bar).borderTopWidth, style(bar).borderTopColor],
    title: parseFloat(style(h1).fontSize),
    dateline: [style(dateline).color, style(dateline).textTransform, style(dateline).fontWeight],
    links: [...document.querySelectorAll('a[aria-label]')].filter((a) => !a.closest('.lead'))
      .map((a) => [style(a).color, style(a).textDecorationLine, style(a).fontWeight,
                   a.parentElement.textContent.trim().slice(-1)]),
  };
}"""


@pytest.mark.parametrize("dark", [False, True])
def test_masthead_and_read_more_links_carry_the_accent(browser: Any, dark: bool) -> None:
    """The header was a bare title and the "Read more" links plain underlined text (issue 14):
    an accent bar and dateline head the edition; each story's link is bold, in the accent,
    not underlined, followed by an arrow (pointing left in Arabic)."""
    theme = Theme(accent="#1a5fb4")
    accent = "rgb(26, 95, 180)"
    r, g, b = (int(theme.accent_dark[i : i + 2], 16) for i in (1, 3, 5))
    shown = f"rgb({r}, {g}, {b})" if dark else accent
    for locale, arrow in (("fr", "→"), ("ar", "←")):
        html = Renderer(theme=theme).render(sample_edition(locale)).html
        for width in (375, 600):
            page: Any = offline_page(browser, width, dark=dark)
            page.set_content(html)
            found = page.evaluate(MASTHEAD)
            page.close()
            assert found["bar"] == ["6px", accent], found
            assert found["title"] >= 26, found
            assert found["dateline"] == [shown, "uppercase", "700"], found
            assert len(found["links"]) >= 6, found
            for link in found["links"]:
                assert link == [shown, "none", "700", arrow], (locale, width, link)


def test_two_lists_show_their_own_look_and_a_list_without_one_the_sites(browser: Any) -> None:
    """A look per list (issue 14): one renderer (the site's theme) renders both lists."""
    renderer = Renderer(theme=Theme(accent="#0b6e4f", logo_url="https://img.example/site.png"))
    edition = sample_edition()
    own = replace(
        edition,
        news_list=replace(
            edition.news_list,
            accent="#1a5fb4",
            logo_url="https://img.example/sport.png",
            logo_size="180x40",
            brand_name="Sahel Sport",
        ),
    )
    looks = {}
    for name, shown in (("own", own), ("site", edition)):
        page: Any = offline_page(browser, 375)
        page.set_content(renderer.render(shown).html)
        looks[name] = page.evaluate(
            "() => { const logo = document.querySelector('img.logo');"
            " const r = logo.getBoundingClientRect(), q = (s) => document.querySelector(s);"
            " return [getComputedStyle(q('.masthead td')).borderTopColor,"
            " getComputedStyle(q('.read a')).color,"
            " logo.getAttribute('src'), logo.alt, r.width, r.height]; }"
        )
        page.close()
    assert looks["own"] == [
        "rgb(26, 95, 180)", "rgb(26, 95, 180)", "https://img.example/sport.png", "Sahel Sport",
        180, 40,
    ]  # fmt: skip
    assert looks["site"] == [
        "rgb(11, 110, 79)", "rgb(11, 110, 79)", "https://img.example/site.png",
        "Sahel Morning Digest", 160, 40,
    ]  # fmt: skip
