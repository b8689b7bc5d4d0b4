"""Pure: Jinja2 → MJML → HTML (+ inlining) and the text part, once per edition and locale.

The public surface; the work happens in the private modules beside this one:
`renderer` (the pipeline and the size budget), `view` (what templates see), `language`
(locales, catalogues, direction), `theme` (site settings), `sourcemap` (template error
locations) and `checks` (what the preview's checks panel reports).
"""

import re
from typing import TYPE_CHECKING, Any

from digest.render.theme import Theme

# The per-subscriber fields of a rendered edition, filled in for each message: here, not
# in the renderer, so that building messages does not load Jinja2 and MJML.
PLACEHOLDERS = ("name", "email", "unsubscribe_url", "preferences_url")
PLACEHOLDER_RE = re.compile(r"\[\[([a-z_]+)\]\]")

# The renderer (Jinja2, MJML, Babel) loads on first use, through `__getattr__` below:
# every command validates its settings with `Theme`, and most never render.
if TYPE_CHECKING:
    from digest.render.renderer import (
        DEFAULT_BUDGET,
        MJML_TEMPLATE,
        TEXT_TEMPLATE,
        Renderer,
        default_templates_dir,
        inline_css,
        theme_folders,
        wrap_text,
    )

__all__ = [
    "DEFAULT_BUDGET",
    "MJML_TEMPLATE",
    "PLACEHOLDERS",
    "PLACEHOLDER_RE",
    "TEXT_TEMPLATE",
    "Renderer",
    "Theme",
    "default_templates_dir",
    "inline_css",
    "theme_folders",
    "wrap_text",
]


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "Theme":
        from digest.render import renderer

        return getattr(renderer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
