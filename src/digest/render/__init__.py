"""Pure: Jinja2 → MJML → HTML (+ inlining) and the text part, once per edition and locale.

The public surface; the work happens in the private modules beside this one:
`renderer` (the pipeline and the size budget), `view` (what templates see), `language`
(locales, catalogues, direction), `theme` (site settings), `sourcemap` (template error
locations) and `checks` (what the preview's checks panel reports).
"""

from digest.render.language import check_locale
from digest.render.renderer import (
    DEFAULT_BUDGET,
    MJML_TEMPLATE,
    PLACEHOLDER_RE,
    PLACEHOLDERS,
    TEXT_TEMPLATE,
    Renderer,
    default_templates_dir,
    inline_css,
    theme_folders,
    wrap_text,
)
from digest.render.theme import Theme

__all__ = [
    "DEFAULT_BUDGET",
    "MJML_TEMPLATE",
    "PLACEHOLDERS",
    "PLACEHOLDER_RE",
    "TEXT_TEMPLATE",
    "Renderer",
    "Theme",
    "check_locale",
    "default_templates_dir",
    "inline_css",
    "theme_folders",
    "wrap_text",
]
