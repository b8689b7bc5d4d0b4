"""Languages: locale names, message catalogues (.po, read with Babel), text direction.

Catalogues live beside the templates, in `locale/<lang>/LC_MESSAGES/messages.po`; a
site's templates folder may ship its own, whose entries win over the default theme's.
They are compiled in memory on first use, so there is no .mo build step.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from digest.errors import InputError, TemplateError

DOMAIN = "messages"
FALLBACK = "en"


@lru_cache(maxsize=256)
def parse_locale(name: str) -> Locale | None:
    """`fr`, `fr_FR`, `fr-FR`, `AR` → a Babel Locale; None when unknown or empty."""
    cleaned = name.strip().replace("-", "_")
    if not cleaned:
        return None
    parts = cleaned.split("_")
    cleaned = "_".join([parts[0].lower(), *parts[1:]])
    try:
        return Locale.parse(cleaned)
    except (UnknownLocaleError, ValueError):
        return None


def resolve_locale(*candidates: str) -> Locale:
    """The first candidate Babel knows (subscriber's, then list's), else English."""
    for name in candidates:
        found = parse_locale(name or "")
        if found is not None:
            return found
    return Locale.parse(FALLBACK)


@lru_cache(maxsize=256)
def direction(language: str) -> str:
    """'rtl' or 'ltr' for a BCP 47 language tag; '' when unknown."""
    found = parse_locale(language)
    if found is None:
        return ""
    return "rtl" if found.character_order == "right-to-left" else "ltr"


def available_languages(folders: list[Path]) -> tuple[str, ...]:
    """English and every locale with a catalogue in the folders (`ar`, `fr`, `pt_BR`...)."""
    found = {FALLBACK}
    for folder in folders:
        found.update(p.parents[1].name for p in folder.glob(f"locale/*/LC_MESSAGES/{DOMAIN}.po"))
    return tuple(sorted(found))


def check_locale(name: str, folders: list[Path], *, where: str) -> str:
    """A warning ('' when none) for a locale without a catalogue; InputError when unknown.

    `english` and `xx-YY` are no locale at all; `zh` is one, but with no catalogue in the
    folders its mail keeps the English strings (with Chinese dates), so it gets a warning.
    """
    known = available_languages(folders)
    found = parse_locale(name)
    if found is None:
        raise InputError(
            f"{where}: {name!r} is not a known language code",
            hint="use a code such as " + ", ".join(known) + " (BCP 47, e.g. fr-CA)",
        )
    if found.language == FALLBACK or {str(found), found.language} & set(known):
        return ""
    return (
        f"{where}: no message catalogue for {name!r}, so its mail keeps the English text "
        f"(catalogues: {', '.join(known)})"
    )


def negotiate_locale(accept_language: str, available: Iterable[str]) -> Locale:
    """The best of `available` for an HTTP Accept-Language header, else English.

    `fr-CH;q=0.9, ar;q=0.8, *;q=0.1` → fr when fr is available; q-values order the
    choices, ties keep the header's order, and q=0 refuses a language.
    """
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept_language[:400].split(",")[:20]):
        tag, _, params = item.partition(";")
        tag = tag.strip().replace("-", "_")
        quality = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, position, tag))
    preferred = [tag for _, _, tag in sorted(ranked)]
    found = Locale.negotiate(preferred, list(available), sep="_") if preferred else None
    return found if found is not None else Locale.parse(FALLBACK)


def load_translations(folders: list[Path], locale: Locale) -> NullTranslations:
    """The catalogue for `locale` (then its bare language) from the folders, merged.

    `folders` are in priority order (a site's own first); English needs no catalogue.
    """
    names = [str(locale)] + ([locale.language] if str(locale) != locale.language else [])
    result: NullTranslations | None = None
    for folder in reversed(folders):
        for name in names:
            path = folder / "locale" / name / "LC_MESSAGES" / f"{DOMAIN}.po"
            if path.is_file():
                translations = Translations(io.BytesIO(_compile(path, path.stat().st_mtime_ns)))
                if isinstance(result, Translations):
                    result.merge(translations)  # the higher folder's entries win
                else:
                    result = translations
                break
    return result if result is not None else NullTranslations()


@lru_cache(maxsize=64)
def _compile(path: Path, _mtime_ns: int) -> bytes:
    """The .po file compiled to .mo bytes (cached until the file changes)."""
    try:
        with path.open("rb") as handle:
            catalog = read_po(handle, abort_invalid=True)
    except Exception as exc:  # Babel raises several types for a broken .po file
        raise TemplateError(
            f"{path}: cannot read message catalogue: {exc}",
            hint="check the .po syntax (msgfmt --check-format FILE)",
        ) from None
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()
