"""What a site changes without touching templates, validated once when settings load."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from digest.errors import ConfigError, DigestError
from digest.models import NewsList

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
LOGO_SIZE = re.compile(r"^([1-9][0-9]{0,3})x([1-9][0-9]{0,3})$")
MIN_CONTRAST = 4.5  # WCAG AA for body-size text
LIGHT_BACKGROUND = "#ffffff"
DARK_BACKGROUND = "#1e1e1e"  # the cards in dark mode (style.css)


@dataclass(frozen=True, slots=True)
class Theme:
    """Theme settings. `name` empty means the list's own name."""

    base_url: str = "http://127.0.0.1:8000"
    name: str = ""
    logo_url: str = ""
    logo_size: str = "160x40"
    accent: str = "#b3261e"
    footer: str = ""
    address: str = ""  # the postal address for lists that give none

    def __post_init__(self) -> None:
        check_theme(self)

    @property
    def logo_width(self) -> int:
        return int(self.logo_size.split("x")[0])

    @property
    def logo_height(self) -> int:
        return int(self.logo_size.split("x")[1])

    @property
    def accent_dark(self) -> str:
        """The accent lightened until it reads on the dark-mode background."""
        return readable_on(self.accent, DARK_BACKGROUND)

    def for_list(self, news_list: NewsList) -> Theme:
        """The list's own look (`lists add|edit --brand-name --logo --accent --footer
        --address`) over the site's: each value the list leaves empty is the site's."""
        mine = {
            "name": news_list.brand_name,
            "logo_url": news_list.logo_url,
            "accent": news_list.accent,
            "footer": news_list.footer,
            "address": news_list.address,
        }
        changes = {key: value for key, value in mine.items() if value}
        if news_list.logo_url and news_list.logo_size:  # else the site's logo size
            changes["logo_size"] = news_list.logo_size
        return replace(self, **changes) if changes else self


def check_theme(theme: Theme) -> None:
    check_accent(theme.accent, where="DIGEST_THEME_ACCENT", error=ConfigError)
    check_logo_size(theme.logo_size, where="DIGEST_THEME_LOGO_SIZE", error=ConfigError)
    check_logo_url(theme.logo_url, where="DIGEST_THEME_LOGO_URL", error=ConfigError)


def check_accent(value: str, *, where: str, error: type[DigestError]) -> str:
    """A #rrggbb colour dark enough for links on white (WCAG AA), else `error`."""
    if not HEX_COLOUR.match(value):
        raise error(f"{where} must be a #rrggbb colour, got {value!r}", hint="for example #b3261e")
    ratio = contrast(value, LIGHT_BACKGROUND)
    if ratio < MIN_CONTRAST:
        raise error(
            f"{where} {value} is too light to read on white "
            f"(contrast {ratio:.1f}:1, links need {MIN_CONTRAST}:1)",
            hint="pick a darker colour, e.g. #b3261e",
        )
    return value.lower()


def check_logo_size(value: str, *, where: str, error: type[DigestError]) -> str:
    if not LOGO_SIZE.match(value):
        raise error(
            f"{where} must be WIDTHxHEIGHT in pixels, got {value!r}", hint="for example 160x40"
        )
    return value


def check_logo_url(value: str, *, where: str, error: type[DigestError]) -> str:
    if value and not value.startswith("https://"):
        raise error(
            f"{where} must be an https:// URL, got {value!r}",
            hint="mail clients block or flag images over plain http",
        )
    return value


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio between two #rrggbb colours."""
    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def readable_on(colour: str, background: str) -> str:
    """`colour`, mixed towards white in small steps until it reaches MIN_CONTRAST."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    for step in range(0, 21):
        t = step / 20
        mixed = "#" + "".join(f"{round(c + (255 - c) * t):02x}" for c in (r, g, b))
        if contrast(mixed, background) >= MIN_CONTRAST:
            return mixed
    return "#ffffff"
