"""What a site changes without touching templates, validated once when settings load."""

from __future__ import annotations

import re
from dataclasses import dataclass

from digest.errors import ConfigError

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


def check_theme(theme: Theme) -> None:
    if not HEX_COLOUR.match(theme.accent):
        raise ConfigError(
            f"DIGEST_THEME_ACCENT must be a #rrggbb colour, got {theme.accent!r}",
            hint="for example #b3261e",
        )
    ratio = contrast(theme.accent, LIGHT_BACKGROUND)
    if ratio < MIN_CONTRAST:
        raise ConfigError(
            f"DIGEST_THEME_ACCENT {theme.accent} is too light to read on white "
            f"(contrast {ratio:.1f}:1, links need {MIN_CONTRAST}:1)",
            hint="pick a darker colour, e.g. #b3261e",
        )
    if not LOGO_SIZE.match(theme.logo_size):
        raise ConfigError(
            f"DIGEST_THEME_LOGO_SIZE must be WIDTHxHEIGHT in pixels, got {theme.logo_size!r}",
            hint="for example 160x40",
        )
    if theme.logo_url and not theme.logo_url.startswith("https://"):
        raise ConfigError(
            f"DIGEST_THEME_LOGO_URL must be an https:// URL, got {theme.logo_url!r}",
            hint="mail clients block or flag images over plain http",
        )


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
