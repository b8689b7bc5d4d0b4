"""The renderer on fixed editions: accessibility, languages, text part, size budget, errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from digest.config import load_settings
from digest.errors import ConfigError, TemplateError
from digest.issue import build_edition
from digest.message import compile_edition
from digest.models import Article, Edition, NewsList
from digest.render import PLACEHOLDERS, Renderer, Theme, default_templates_dir, inline_css
from digest.render.language import resolve_locale
from digest.render.view import full_layout, shrink
from tests.conftest import require_tool
from tests.editions import SUMMARY, Elements, big_edition, sample_edition

GENERIC_LINK_TEXT = {"click here", "here", "more", "read more", "link", "this", "lire la suite"}


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def test_html_declares_language_direction_and_title(renderer: Renderer) -> None:
    en = renderer.render(sample_edition("en"))
    assert re.search(r'<html[^>]* lang="en"[^>]* dir="ltr"', en.html)
    assert f"<title>{en.subject}</title>" in en.html
    assert en.subject == "Sahel Morning Digest — November 14, 2020"
    # The Arabic article of an English edition is right-to-left on its own.
    arabic = next(t for t in Elements(en.html).all("div") if t.get("lang") == "ar")
    assert arabic["dir"] == "rtl"

    ar = renderer.render(sample_edition("ar"))
    assert re.search(r'<html[^>]* lang="ar"[^>]* dir="rtl"', ar.html)
    # ... and in an Arabic edition the French and English articles are left-to-right.
    ltr = [t for t in Elements(ar.html).all("div") if t.get("dir") == "ltr"]
    assert {t["lang"] for t in ltr} == {"fr", "en"}
    assert not any(t.get("lang") == "ar" for t in Elements(ar.html).all("div")[1:])
    # Their "Read more" is in the edition's language, and says so.
    more = [t for t in Elements(ar.html).all("p") if t.get("lang") == "ar"]
    assert len(more) == len(ltr) and all(t["dir"] == "rtl" for t in more)


def test_every_image_has_alt_and_width(renderer: Renderer) -> None:
    html = renderer.render(big_edition(30)).html
    images = Elements(html).all("img")
    assert len(images) == 10
    for img in images:
        assert img.get("alt"), img
        assert img.get("width", "").isdigit(), img
        # A photo's shape is unknown: a fixed height would squash it where attributes win
        # over CSS (Outlook), so only the logo, whose size the site declares, has one.
        assert "height" not in img and "height:auto" in img["style"].replace(" ", ""), img
    # The sample has images without alt text: the title stands in.
    sample = Elements(renderer.render(sample_edition()).html).all("img")
    assert sample and all(img.get("alt") for img in sample)


CANIEMAIL = """
const {doIUseEmail} = require("doiuse-email");
const html = require("fs").readFileSync(0, "utf8");
const clients = ["gmail.*", "apple-mail.*", "outlook.*", "yahoo.*", "samsung-email.*"];
process.stdout.write(JSON.stringify(doIUseEmail(html, {emailClients: clients})));
"""
# What caniemail says these clients lack, and why it is acceptable for our images.
ACCEPTED = {
    "border-radius": "square corners in Outlook for Windows",
    "float": "the align attribute beside it does the same there",
}


def test_image_sizing_works_in_the_major_clients(renderer: Renderer) -> None:
    """Every <img> of an edition, checked against caniemail's data by npm doiuse-email.

    Thumbnails are sized by width alone (height:auto) because object-fit, the way to
    crop, is unsupported in Outlook, Yahoo and Gmail's mobile webmail (issue 10).
    """
    node = require_tool("node")
    html = renderer.render(big_edition(30)).html
    images = sorted(set(re.findall(r"<img[^>]*>", html)))
    assert len(images) >= 10, images
    page = f"<!doctype html><html><body>{''.join(images)}</body></html>"
    found = subprocess.run(
        [node, "-e", CANIEMAIL], input=page, capture_output=True, text=True, check=False
    )
    if "Cannot find module 'doiuse-email'" in found.stderr:
        require_tool("doiuse-email")  # fails under DIGEST_REQUIRE_TOOLS=1, else skips
    assert found.returncode == 0, found.stderr
    errors = json.loads(found.stdout).get("errors", [])
    unsupported = {re.match(r"`([^`]+)`", e).group(1) for e in errors}  # type: ignore[union-attr]
    unsupported -= {"<body> element", "<html> element", "doctype"}  # this test's wrapper
    assert unsupported <= set(ACCEPTED), errors


def test_headings_in_order_and_links_say_where_they_go(renderer: Renderer) -> None:
    page = Elements(renderer.render(sample_edition()).html)
    levels = [level for level, _ in page.headings]
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False)), levels
    assert len(page.links) > 10
    for attrs, text in page.links:
        name = attrs.get("aria-label") or text
        assert text, attrs
        assert name.casefold() not in GENERIC_LINK_TEXT, (attrs, text)
        assert text.casefold() in name.casefold()  # the visible text is part of the name


def test_hidden_preheader_and_dark_mode(renderer: Renderer) -> None:
    html = renderer.render(sample_edition()).html
    body = html[html.index("<body") :]
    preheader = re.search(r'<div class="preheader" style="([^"]*)">([^<]*)</div>', body)
    assert preheader and body.index(preheader.group(0)) < body.index("<h1")
    style, text = preheader.groups()
    assert "display:none" in style.replace(" ", "")
    assert not re.search(r"color|opacity|font-size", style)  # no white-on-white trick
    assert text.startswith("N'Djamena : la crue du Chari") and len(text) <= 140
    assert '<meta name="color-scheme" content="light dark"' in html
    assert "@media (prefers-color-scheme: dark)" in html
    assert re.search(r"\.logo\s*\{[^}]*background", html)  # the logo gets a light backing


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en", ["Saturday, November 14, 2020", "Unsubscribe", "View in browser"]),
        ("fr", ["samedi 14 novembre 2020", "Se désabonner", "Voir dans le navigateur"]),
        ("ar", ["السبت، 14 نوفمبر 2020", "إلغاء الاشتراك", "العرض في المتصفح"]),
    ],
)
def test_fixed_strings_and_dates_follow_the_locale(
    renderer: Renderer, locale: str, expected: list[str]
) -> None:
    rendered = renderer.render(sample_edition(locale))
    for phrase in expected:
        assert phrase in rendered.html and phrase in rendered.text
    assert rendered.locale == locale


def test_subscriber_locale_overrides_the_lists(renderer: Renderer) -> None:
    edition = sample_edition("en")
    assert "samedi 14 novembre 2020" in renderer.render(edition, locale="fr-FR").html
    assert "السبت" in renderer.render(edition, locale="ar_TD").html
    # An unknown locale falls back to the list's.
    fallback = renderer.render(sample_edition("fr"), locale="xx")
    assert fallback.locale == "fr" and "Se désabonner" in fallback.html


@pytest.mark.parametrize(
    ("locale", "count", "phrase"),
    [
        ("en", 1, "1 more story in Sport"),
        ("en", 4, "4 more stories in Sport"),
        ("fr", 1, "1 autre article dans Sport"),
        ("fr", 4, "4 autres articles dans Sport"),
        ("ar", 2, "مقالان آخران في Sport"),
        ("ar", 4, "4 مقالات أخرى في Sport"),
        ("ar", 11, "11 مقالًا آخر في Sport"),
    ],
)
def test_more_stories_plurals(locale: str, count: int, phrase: str) -> None:
    # One section of count+2 articles, and a budget just short of three of them.
    edition = big_edition(count + 2, locale=locale, sections=("Sport",), summary="")
    three = big_edition(3, locale=locale, sections=("Sport",), summary="")
    rendered = Renderer(budget=len(Renderer().render(three).html.encode()) - 1).render(edition)
    assert len(rendered.dropped) == count
    assert phrase in rendered.html and phrase in rendered.text


def test_catalogues_translate_every_template_string() -> None:
    folder = default_templates_dir()
    options = {"extensions": "jinja2.ext.i18n", "trim_blocks": "True", "lstrip_blocks": "True"}
    method_map = [("**.mjml", "jinja2"), ("**.txt", "jinja2")]
    found = {
        (msgid[0] if isinstance(msgid, tuple) else msgid)
        for _, _, msgid, *_ in extract_from_dir(
            str(folder), method_map, options_map={"**": options}
        )
    }
    assert len(found) >= 7
    for lang in ("fr", "ar"):
        with (folder / "locale" / lang / "LC_MESSAGES" / "messages.po").open("rb") as handle:
            catalog = read_po(handle)
        for msgid in found:
            message = catalog.get(msgid)
            assert message is not None, (lang, msgid)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            assert all(strings) and not message.fuzzy, (lang, msgid)


def test_text_part_keeps_urls_whole_and_wraps_prose(renderer: Renderer) -> None:
    long_url = "https://news.example.com/" + "very-long-path-segment/" * 5 + "?utm_source=digest"
    edition = big_edition(10, summary=f"{SUMMARY} Details: {long_url} and more words after it.")
    rendered = renderer.render(edition)
    lines = rendered.text.splitlines()
    for line in lines:
        if "://" in line:
            assert re.fullmatch(r"\S+://\S+", line), line  # a URL alone on its line
        else:
            assert len(line) <= 78, line
    assert lines.count(long_url) == 10
    for section in edition.sections:
        assert f"== {section.name} ==" in lines
        for article in section.articles:
            assert article.url in lines
            assert article.title[:40] in rendered.text


def test_thirty_articles_stay_lean(renderer: Renderer) -> None:
    empty = len(renderer.render(big_edition(0)).html.encode())
    full = renderer.render(big_edition(30))
    size = len(full.html.encode())
    assert size < 100 * 1024 and not full.dropped
    assert (size - empty) / 30 < 1.8 * 1024  # about 1.5 KB of HTML per article
    assert "<mj-" not in full.html


def test_budget_cuts_lowest_ranked_articles_of_longest_sections() -> None:
    edition = big_edition(30)
    budget = 40 * 1024
    rendered = Renderer(budget=budget).render(edition)
    assert len(rendered.html.encode()) <= budget
    assert rendered.dropped
    kept = {a.url for s in edition.sections for a in s.articles} - set(rendered.dropped)
    for section in edition.sections:
        urls = [a.url for a in section.articles]
        cut = [u for u in urls if u in rendered.dropped]
        assert cut == urls[len(urls) - len(cut) :]  # only the tail of a section goes
        if cut:
            more = len(cut)
            anchor = re.search(
                rf'<h2 id="([^"]+)"[^>]*>{re.escape(section.name)}</h2>', rendered.html
            )
            assert anchor
            assert f"archive/daily/2026-11-27#{anchor.group(1)}" in rendered.html
            assert f"{more} more stor" in rendered.text
    assert all(url in rendered.html for url in kept)
    assert not any(url in rendered.html for url in rendered.dropped)
    # Sections stay balanced: shown counts differ by at most one where anything was cut.
    shown = [len([a for a in s.articles if a.url in kept]) for s in edition.sections]
    assert max(shown) - min(shown) <= 1


def _fewest_cuts_one_at_a_time(renderer: Renderer, edition: Edition) -> int:
    """The slow reference: inline each layout, one more article cut per step, until one fits."""
    loc = resolve_locale("", edition.news_list.locale)
    env = renderer.environment(loc)
    base = renderer._base_context(edition, loc)
    full = full_layout(edition)
    for cuts in range(sum(full.shown) + 1):
        context = renderer._context(edition, loc, base, shrink(full, cuts))
        html = inline_css(renderer._compile(env, context)[1])
        if len(html.encode()) <= renderer.budget:
            return cuts
    return sum(full.shown)


@pytest.mark.parametrize("budget_kb", [22, 31, 40, 47])
def test_budget_keeps_as_many_articles_as_cutting_one_at_a_time(budget_kb: int) -> None:
    edition = big_edition(30)
    fitting = Renderer(budget=budget_kb * 1024)
    rendered = fitting.render(edition)
    assert len(rendered.dropped) == _fewest_cuts_one_at_a_time(fitting, edition)
    assert len(rendered.html.encode()) <= fitting.budget


def test_budget_at_the_exact_size_of_a_layout_keeps_that_layout() -> None:
    edition = big_edition(30)
    loc = resolve_locale("", edition.news_list.locale)
    probe = Renderer()
    env, base = probe.environment(loc), probe._base_context(edition, loc)
    context = probe._context(edition, loc, base, shrink(full_layout(edition), 7))
    size = len(inline_css(probe._compile(env, context)[1]).encode())
    assert len(Renderer(budget=size).render(edition).dropped) == 7
    assert len(Renderer(budget=size - 1).render(edition).dropped) > 7


def test_budget_too_small_for_any_article_cuts_them_all() -> None:
    edition = big_edition(12)
    rendered = Renderer(budget=4 * 1024).render(edition)
    assert len(rendered.dropped) == 12
    assert "12 more stories" not in rendered.text  # per section: 3 in each of the 4
    assert rendered.text.count("more stories in") == len(edition.sections)


def test_budget_fits_a_big_edition_in_few_compiles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted, not timed (benchmarks/budget_fit.py times it): one compile per cut was 1.2 s."""
    import mjml
    from premailer import Premailer

    calls = {"mjml": 0, "premailer": 0}
    compile_, transform = mjml.mjml2html, Premailer.transform

    def counted_compile(*args: Any, **kwargs: Any) -> str:
        calls["mjml"] += 1
        return compile_(*args, **kwargs)

    def counted_transform(self: Premailer, *args: Any, **kwargs: Any) -> str:
        calls["premailer"] += 1
        return transform(self, *args, **kwargs)

    monkeypatch.setattr(mjml, "mjml2html", counted_compile)
    monkeypatch.setattr(Premailer, "transform", counted_transform)
    rendered = Renderer().render(big_edition(120))
    assert len(rendered.dropped) > 40  # the budget cut many articles ...
    assert calls["mjml"] <= 12 and calls["premailer"] <= 4  # ... at a cost that does not grow


def _site(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / "site"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


ARTICLE = (default_templates_dir() / "article.mjml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "text", "where", "what"),
    [
        # An unclosed <p>: MRML says "unexpected end of stream" with no position at all.
        ("article.mjml", ARTICLE.replace("<p class=\"meta\">{{ article.meta }}</p>",
                                         "<p class=\"meta\">{{ article.meta }}"),
         "article.mjml:2:", "<p> is never closed"),
        # A stray closing tag: MRML reports a byte offset far from it.
        ("footer.mjml", "<mj-section><mj-column>\n<mj-text>\n<p>x</a></p></mj-text>\n"
                        "</mj-column></mj-section>\n",
         "footer.mjml:3:", "</a>"),
        # An unknown tag passes MRML silently and would be left in the output.
        ("header.mjml", "<mj-section>\n  <mj-colum>\n<mj-text>x</mj-text></mj-colum>\n"
                        "</mj-section>\n",
         "header.mjml:2:", "<mj-colum>"),
        ("footer.mjml", "<mj-section><mj-column>\n\n<mj-text>{{ no_such_name }}</mj-text>\n"
                        "</mj-column></mj-section>\n",
         "footer.mjml:3:", "no_such_name"),
        ("lead.mjml", "{% if lead %}\n{% endfor %}\n", "lead.mjml:2:", "endfor"),
    ],
)  # fmt: skip
def test_template_errors_name_file_and_line(
    tmp_path: Path, name: str, text: str, where: str, what: str
) -> None:
    renderer = Renderer(_site(tmp_path, name, text))
    with pytest.raises(TemplateError) as caught:
        renderer.render(sample_edition())
    message = str(caught.value)
    assert where in message and what in message, message
    assert str(tmp_path / "site" / name) in message
    assert caught.value.hint


def test_template_error_in_the_cli_is_one_line_and_a_hint(tmp_path: Path, run) -> None:  # type: ignore[no-untyped-def]
    site = _site(tmp_path, "footer.mjml", "<mj-section><mj-column>\n<mj-text><p>x</mj-text>\n")
    run("lists", "add", "daily", "--name", "Daily")
    result = run("--templates", str(site), "preview", "--out", str(tmp_path / "p"), ok=False)
    assert result.exit_code == 1
    assert "footer.mjml:" in result.stderr and "Hint:" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_site_overrides_one_file_and_theme_settings(tmp_path: Path) -> None:
    site = _site(tmp_path, "footer.mjml", (default_templates_dir() / "footer.mjml").read_text()
                 .replace("{{ _(\"Unsubscribe\") }}", "Stop these emails"))  # fmt: skip
    theme = Theme(
        name="Alwihda Info",
        logo_url="https://news.example.com/logo.png",
        logo_size="200x48",
        accent="#0b57d0",
        footer="Alwihda Info, news from Chad since 2003.",
    )
    rendered = Renderer(site, theme).render(sample_edition())
    assert "Stop these emails" in rendered.html
    logo = next(img for img in Elements(rendered.html).all("img") if "logo" in img["src"])
    assert logo == {**logo, "alt": "Alwihda Info", "width": "200", "height": "48"}
    assert "#0b57d0" in rendered.html and "#b3261e" not in rendered.html
    assert "Alwihda Info, news from Chad since 2003." in rendered.html
    assert "Alwihda Info, news from Chad since 2003." in rendered.text
    assert rendered.subject.startswith("Alwihda Info — ")


def test_theme_settings_from_the_environment_are_checked(tmp_path: Path) -> None:
    settings = load_settings(
        env={"DIGEST_THEME_ACCENT": "#0b57d0", "DIGEST_HTML_BUDGET_KB": "80"}, cwd=tmp_path
    )
    assert settings.theme_accent == "#0b57d0" and settings.html_budget_kb == 80
    for env, fragment in [
        ({"DIGEST_THEME_ACCENT": "#ffcc00"}, "too light"),
        ({"DIGEST_THEME_ACCENT": "red"}, "#rrggbb"),
        ({"DIGEST_THEME_LOGO_URL": "http://x.example/l.png"}, "https"),
        ({"DIGEST_THEME_LOGO_SIZE": "big"}, "WIDTHxHEIGHT"),
        ({"DIGEST_HTML_BUDGET_KB": "lots"}, "whole number"),
    ]:
        with pytest.raises(ConfigError, match=fragment):
            load_settings(env=env, cwd=tmp_path)


def test_render_stays_pure() -> None:
    code = (
        "import sys, digest.render, digest.issue\n"
        "bad = {'sqlite3', 'smtplib', 'click', 'apscheduler', 'starlette'} & set(sys.modules)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_preview_command_says_when_the_budget_cut_articles(tmp_path: Path, run) -> None:  # type: ignore[no-untyped-def]
    run("lists", "add", "daily", "--name", "Daily")
    records = [
        {
            "url": f"https://news.example.com/{i}",
            "title": f"Story {i}",
            "section": "News",
            "published_at": "2026-11-27T05:00:00+00:00",
            "summary": SUMMARY * 3,
        }
        for i in range(30)
    ]
    run("articles", "import", str(run.write("a.json", records)))
    run.env["DIGEST_HTML_BUDGET_KB"] = "20"
    result = run("preview", "--date", "2026-11-27", "--out", str(tmp_path / "p"))
    assert "size budget:" in result.stderr and "more stories" in result.stderr
    assert len((tmp_path / "p" / "issue.html").read_bytes()) <= 20 * 1024


# -- basics: compile, escape, strictness, placeholders ----------------------------------

LIST = NewsList(slug="daily", name="Le Quotidien", sections=("Tchad",))
DAY = date(2026, 11, 27)


def edition(title: str = "Hello") -> object:
    art = Article(
        url="https://x.test/a?b=1&c=2",
        title=title,
        section="Tchad",
        published_at=datetime(2026, 11, 27, 5, tzinfo=UTC),
        summary="Résumé.",
    )
    return build_edition([art], news_list=LIST, day=DAY)


def test_default_theme_is_found() -> None:
    assert (default_templates_dir() / "issue.mjml").is_file()


def test_render_compiles_mjml_and_inlines_css() -> None:
    rendered = Renderer().render(edition())  # type: ignore[arg-type]
    assert rendered.html.startswith("<!doctype html>")
    assert "<mj-" not in rendered.html and "<mjml" in rendered.mjml
    assert "<title>Le Quotidien" in rendered.html
    assert 'style="' in rendered.html  # premailer inlined the theme's CSS
    assert "@media" in rendered.html and "!important" in rendered.html  # media queries kept
    for name in ("unsubscribe_url", "preferences_url"):
        assert f"[[{name}]]" in rendered.html and f"[[{name}]]" in rendered.text
    assert "https://x.test/a?b=1&c=2" in rendered.text
    assert "https://x.test/a?b=1&amp;c=2" in rendered.html


def test_titles_are_escaped_in_mjml_and_html() -> None:
    rendered = Renderer().render(edition("<script>alert(1)</script> & co"))  # type: ignore[arg-type]
    assert "<script>alert" not in rendered.html and "<script>alert" not in rendered.mjml
    assert "&lt;script&gt;" in rendered.html
    assert "<script>alert(1)</script> & co" in rendered.text  # the text part is not HTML


def test_override_with_unknown_variable_is_a_template_error(tmp_path: Path) -> None:
    (tmp_path / "issue.txt").write_text("{{ news_list.name }}\n{{ no_such_thing }}\n")
    with pytest.raises(TemplateError) as info:
        Renderer(tmp_path).render(edition())  # type: ignore[arg-type]
    assert "issue.txt" in str(info.value) and "no_such_thing" in str(info.value)


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "issue.txt").write_text("line one\n{% for x in %}\n")
    with pytest.raises(TemplateError) as info:
        Renderer(tmp_path).render(edition())  # type: ignore[arg-type]
    assert "issue.txt:2" in str(info.value)


def test_leftover_mj_tag_is_refused(tmp_path: Path) -> None:
    source = (default_templates_dir() / "issue.mjml").read_text()
    # (MRML ignores unknown tags inside mj-attributes: misspell one in the body.)
    (tmp_path / "issue.mjml").write_text(
        source.replace("<mj-text padding-top", "<mj-txet padding-top", 1)
    )
    with pytest.raises(TemplateError, match="mj-txet"):
        Renderer(tmp_path).render(edition())  # type: ignore[arg-type]


def test_unknown_placeholder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "issue.txt").write_text("Hi [[nickname]]\n")
    with pytest.raises(TemplateError, match=r"\[\[nickname\]\]"):
        compile_edition(Renderer(tmp_path).render(edition()))  # type: ignore[arg-type]
    assert "nickname" not in PLACEHOLDERS


def test_the_editors_lead_gets_the_lead_treatment_even_without_an_image(
    renderer: Renderer,
) -> None:
    """`editions edit --lead` on a story without an image: it led only in order, titled like
    any other story, since the lead treatment needed an https image (issue 14)."""
    from digest.issue import apply_edits
    from digest.models import EditionEdits

    edition = sample_edition()
    chosen = edition.sections[3].articles[0]  # Économie: no image
    assert not chosen.image_url
    html = renderer.render(apply_edits(edition, EditionEdits(lead=chosen.url))).html
    assert '<h2 class="lead-title"' in html
    lead = html[html.index('class="lead-title"') :]
    assert lead[: lead.index("</h2>")].endswith(f"{chosen.title}</a>")
    assert 'class="lead-img"' not in html


def test_a_new_process_does_not_compile_the_theme_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A send's first render compiled every template (about 30 ms of its start-up);
    Jinja2's bytecode cache keeps them between processes (a new Renderer stands for
    one here), and a changed template is still compiled afresh."""
    import jinja2

    compiled: list[str | None] = []
    compile_ = jinja2.Environment.compile

    def counted(self: jinja2.Environment, source: Any, name: str | None = None, *a: Any) -> Any:
        compiled.append(name)
        return compile_(self, source, name, *a)

    monkeypatch.setattr(jinja2.Environment, "compile", counted)
    site = _site(
        tmp_path,
        "footer.mjml",
        "<mj-section><mj-column><mj-text>Zorglub-1</mj-text></mj-column></mj-section>\n",
    )
    first = Renderer(site).render(sample_edition())
    assert "Zorglub-1" in first.html
    compiled.clear()
    again = Renderer(site).render(sample_edition())
    assert compiled == [] and again.html == first.html
    (site / "footer.mjml").write_text(
        "<mj-section><mj-column><mj-text>Zorglub-2</mj-text></mj-column></mj-section>\n"
    )
    changed = Renderer(site).render(sample_edition())
    assert (
        compiled == ["footer.mjml"]
        and "Zorglub-2" in changed.html
        and "Zorglub-1" not in changed.html
    )
