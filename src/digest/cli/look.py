"""A list's own look: the options `lists add` and `lists edit` share, and their checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from digest.errors import InputError
from digest.models import NewsList

LOOK_FLAGS = {
    "brand_name": "--brand-name",
    "logo_url": "--logo",
    "logo_size": "--logo-size",
    "accent": "--accent",
    "footer": "--footer",
}
LOOK_FIELDS = tuple(LOOK_FLAGS)


def look_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--brand-name, --logo, --logo-size, --accent and --footer; '' falls back to the site's."""
    for option in reversed(
        (
            click.option(
                "--brand-name",
                help="Name in the header and subject instead of --name [default: the site's"
                " DIGEST_THEME_NAME, else --name]; '' for the default.",
            ),
            click.option(
                "--logo",
                "logo_url",
                help="https URL of the header's logo [default: DIGEST_THEME_LOGO_URL];"
                " '' for the default.",
            ),
            click.option(
                "--logo-size",
                help="The logo's WIDTHxHEIGHT in px [default: DIGEST_THEME_LOGO_SIZE].",
            ),
            click.option(
                "--accent",
                help="Links, rules and buttons, #rrggbb dark enough to read on white"
                " [default: DIGEST_THEME_ACCENT]; '' for the default.",
            ),
            click.option(
                "--footer",
                help="A line in the footer, above the postal address"
                " [default: DIGEST_THEME_FOOTER]; '' for the default.",
            ),
        )
    ):
        func = option(func)
    return func


def read_look(values: dict[str, str | None]) -> dict[str, str]:
    """The look options given (None: not given), checked; '' means the site's value."""
    from digest import ingest
    from digest.render.theme import check_accent, check_logo_size, check_logo_url

    checks: dict[str, Callable[[str], str]] = {
        "brand_name": lambda v: ingest.check_text(v, where="--brand-name", limit=200),
        "logo_url": lambda v: check_logo_url(
            ingest.check_text(v, where="--logo", limit=2000), where="--logo", error=InputError
        ),
        "logo_size": lambda v: check_logo_size(v, where="--logo-size", error=InputError),
        "accent": lambda v: check_accent(v, where="--accent", error=InputError),
        "footer": lambda v: ingest.check_text(v, where="--footer", limit=500),
    }
    return {
        key: checks[key](value.strip()) if value.strip() else ""
        for key, value in values.items()
        if value is not None
    }


def check_logo(news_list: NewsList) -> None:
    """A logo size without the list's own logo says nothing: refuse it."""
    if news_list.logo_size and not news_list.logo_url:
        raise InputError(
            "--logo-size needs the list's own --logo",
            hint="give --logo https://... too, or set DIGEST_THEME_LOGO_SIZE for the site's",
        )


def look_of(news_list: NewsList) -> dict[str, str]:
    """The list's own look as `lists show` prints it ('' = the site's)."""
    return {key: getattr(news_list, key) for key in LOOK_FIELDS}
