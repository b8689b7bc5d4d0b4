"""HTML of the subscriber pages, translated by the theme's message catalogues.

The page templates live beside this module (`templates/*.html`) and a site cannot
replace them: they carry the form token and the one-click form. Their strings are
English msgids in the same catalogues as the email's (`templates/locale`), so a site's
DIGEST_TEMPLATES folder translates or rewords them exactly as it does the email's.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2
from babel import Locale

from digest.render import theme_folders
from digest.render.language import (
    FALLBACK,
    available_languages,
    direction,
    load_translations,
    negotiate_locale,
    resolve_locale,
)

PAGES_DIR = Path(__file__).with_name("templates")


class Pages:
    """One Jinja2 environment per language; the catalogues are read on first use."""

    def __init__(self, templates: Path | None) -> None:
        self.templates = templates
        self._envs: dict[str, jinja2.Environment] = {}

    @cached_property
    def folders(self) -> list[Path]:
        return theme_folders(self.templates)

    @cached_property
    def languages(self) -> tuple[str, ...]:
        return available_languages(self.folders)

    def locale_for(self, *candidates: str) -> Locale:
        """The email's choice (subscriber's, then list's), or English when it has no catalogue."""
        found = resolve_locale(*candidates)
        if str(found) in self.languages or found.language in self.languages:
            return found
        return Locale.parse(FALLBACK)

    def locale_from_header(self, accept_language: str) -> Locale:
        """The best language with a catalogue for a request's Accept-Language."""
        return negotiate_locale(accept_language, self.languages)

    def render(self, name: str, locale: Locale, **context: Any) -> str:
        tag = str(locale)
        return (
            self._environment(locale)
            .get_template(name)
            .render({**context, "lang": tag.replace("_", "-"), "dir": direction(tag) or "ltr"})
        )

    def _environment(self, locale: Locale) -> jinja2.Environment:
        key = str(locale)
        if key not in self._envs:
            env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(PAGES_DIR),
                autoescape=True,
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                extensions=["jinja2.ext.i18n"],
            )
            env.install_gettext_translations(  # type: ignore[attr-defined]
                load_translations(self.folders, locale), newstyle=True
            )
            self._envs[key] = env
        return self._envs[key]
