"""Pure: Jinja2 → MJML → HTML (premailer-inlined) and the text part, once per section set."""

from __future__ import annotations

import logging
import re
import textwrap
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import mjml
from babel.dates import format_date, format_time
from premailer import Premailer

from digest.errors import TemplateError
from digest.models import Edition, RenderedEdition

PLACEHOLDERS = ("name", "email", "unsubscribe_url", "preferences_url")
PLACEHOLDER_RE = re.compile(r"\[\[([a-z_]+)\]\]")
MJML_TEMPLATE = "issue.mjml"
TEXT_TEMPLATE = "issue.txt"


def default_templates_dir() -> Path:
    """The default theme: inside the installed wheel, else templates/ of the checkout."""
    packaged = Path(__file__).with_name("templates")
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "templates"


@dataclass(frozen=True, slots=True)
class Theme:
    """What a site changes without touching templates."""

    base_url: str = "http://127.0.0.1:8000"
    accent: str = "#b3261e"
    logo_url: str = ""


class Renderer:
    """Holds the Jinja2 environment; `render()` is pure given the edition and theme."""

    def __init__(self, templates: Path | None = None, theme: Theme | None = None) -> None:
        folders = [str(default_templates_dir())]
        if templates is not None:
            if not templates.is_dir():
                raise TemplateError(
                    f"templates folder {templates} does not exist",
                    hint="fix --templates / DIGEST_TEMPLATES",
                )
            folders.insert(0, str(templates))
        self.theme = theme or Theme()
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(folders),
            autoescape=lambda name: not (name or "").endswith(".txt"),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters["wrap"] = wrap_text

    def render(self, edition: Edition, *, locale: str | None = None) -> RenderedEdition:
        locale = locale or edition.news_list.locale or "en"
        context = self._context(edition, locale)
        source = self._render_template(MJML_TEMPLATE, context)
        try:
            compiled = mjml.mjml2html(source, disable_comments=True, fonts={})
        except ValueError as exc:
            raise TemplateError(
                f"{MJML_TEMPLATE}: MJML does not compile: {exc}",
                hint="check the tags the template writes",
            ) from None
        if "<mj-" in compiled:
            tag = re.search(r"<mj-[a-z-]*", compiled)
            name = tag.group(0) if tag else "<mj-"
            raise TemplateError(
                f"{MJML_TEMPLATE}: unknown MJML tag {name}> left in output",
                hint="MRML passes unknown tags through; fix the tag name",
            )
        html = inline_css(compiled)
        text = self._render_template(TEXT_TEMPLATE, context)
        return RenderedEdition(
            subject=context["subject"],
            html=html,
            text=text,
            mjml=source,
            sections=tuple(s.name for s in edition.sections),
            locale=locale,
        )

    def _render_template(self, name: str, context: dict[str, Any]) -> str:
        try:
            return self.env.get_template(name).render(context)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                f"{exc.filename or exc.name}:{exc.lineno}: {exc.message}",
                hint="fix the template syntax",
            ) from None
        except jinja2.UndefinedError as exc:
            raise TemplateError(
                f"{name}: {exc.message}", hint="the template uses a name the renderer does not pass"
            ) from None
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(
                f"template {exc.name} not found", hint="check --templates / DIGEST_TEMPLATES"
            ) from None

    def _context(self, edition: Edition, locale: str) -> dict[str, Any]:
        news_list = edition.news_list
        tz = ZoneInfo(news_list.timezone)
        date_label = format_date(edition.date, format="full", locale=locale)
        subject = f"{news_list.name} — {format_date(edition.date, format='long', locale=locale)}"
        top = [a.title for s in edition.sections for a in s.articles[:1]]
        base = self.theme.base_url.rstrip("/")

        def local_time(moment: datetime) -> str:
            return format_time(moment.astimezone(tz), format="short", locale=locale)

        return {
            "edition": edition,
            "news_list": news_list,
            "sections": edition.sections,
            "subject": subject,
            "date_label": date_label,
            "preheader": " · ".join(top)[:140],
            "lang": locale.replace("_", "-"),
            "theme": self.theme,
            "archive_url": f"{base}/archive/{news_list.slug}/{edition.date.isoformat()}",
            "local_time": local_time,
            **{p: f"[[{p}]]" for p in PLACEHOLDERS},
        }


def inline_css(html: str) -> str:
    """Inline the theme's CSS with premailer: no network, media queries and !important kept."""
    inlined = Premailer(
        html,
        strip_important=False,
        allow_network=False,
        keep_style_tags=True,
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
        cssutils_logging_handler=logging.NullHandler(),
    ).transform()
    if not inlined.lstrip().lower().startswith("<!doctype"):
        inlined = "<!doctype html>\n" + inlined
    return inlined


def wrap_text(text: str, width: int = 78) -> str:
    """Wrap prose at `width` columns, never breaking a word or a URL."""
    return "\n".join(
        textwrap.fill(para, width=width, break_long_words=False, break_on_hyphens=False)
        for para in text.splitlines()
    )
