"""Rendering: Jinja2 → MJML → HTML once per edition, escaping, strictness, placeholders."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from digest.errors import TemplateError
from digest.issue import build_edition
from digest.message import compile_edition
from digest.models import Article, NewsList
from digest.render import PLACEHOLDERS, Renderer, default_templates_dir

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
    (tmp_path / "issue.mjml").write_text(source.replace("<mj-text>", "<mj-txet>", 1))
    with pytest.raises(TemplateError, match="mj-txet"):
        Renderer(tmp_path).render(edition())  # type: ignore[arg-type]


def test_unknown_placeholder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "issue.txt").write_text("Hi [[nickname]]\n")
    with pytest.raises(TemplateError, match=r"\[\[nickname\]\]"):
        compile_edition(Renderer(tmp_path).render(edition()))  # type: ignore[arg-type]
    assert "nickname" not in PLACEHOLDERS
