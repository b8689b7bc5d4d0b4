"""Pure: Jinja2 → MJML → HTML (premailer-inlined) and the text part, once per section set.

The renderer keeps the edition's HTML under a size budget (Gmail clips messages past
~102 KB): when an edition would pass it, the lowest-ranked articles of the longest
sections are replaced by "N more stories in <section>" links, and the rendered edition
lists what was cut so the preview can say so.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import sys
import types
import unicodedata
from contextlib import suppress
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import jinja2.bccache
import mjml
from babel import Locale
from markupsafe import Markup

from digest.errors import TemplateError
from digest.models import Article, Edition, RenderedEdition
from digest.render import PLACEHOLDERS, sourcemap
from digest.render.language import direction, load_translations, resolve_locale
from digest.render.theme import Theme
from digest.render.view import (
    ArticleView,
    Layout,
    SectionView,
    anchor,
    article_view,
    full_date,
    full_layout,
    lead_of,
    long_date,
    shrink,
)

MJML_TEMPLATE = "issue.mjml"
TEXT_TEMPLATE = "issue.txt"
DEFAULT_BUDGET = 96 * 1024  # bytes of inlined HTML; leaves room under Gmail's ~102,000
PREHEADER_LENGTH = 140


def default_templates_dir() -> Path:
    """The default theme: inside the installed wheel, else templates/ of the checkout."""
    packaged = Path(__file__).parent.with_name("templates")
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "templates"


def theme_folders(templates: Path | None) -> list[Path]:
    """The theme's folders in priority order: a site's own (DIGEST_TEMPLATES), the default."""
    if templates is None:
        return [default_templates_dir()]
    if not templates.is_dir():
        raise TemplateError(
            f"templates folder {templates} does not exist",
            hint="fix --templates / DIGEST_TEMPLATES",
        )
    return [templates, default_templates_dir()]


class _QuietBytecodeCache(jinja2.FileSystemBytecodeCache):
    """Jinja2's own on-disk cache of compiled templates, which never fails a render: a
    file it cannot read or write is compiled again, as without the cache."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, EOFError, ValueError):
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with suppress(OSError):
            super().dump_bytecode(bucket)


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept between processes: a send's first render compiled the
    whole theme again each time (about 30 ms of its start-up). Jinja2 keeps them in a
    per-user directory it checks (owner, mode 0700) and checks each entry against the
    template's source (and Python and Jinja2's versions). The names carry this
    module's environment options, which the compiled code depends on."""
    try:
        return _QuietBytecodeCache(pattern=f"digest-{_ENV_OPTIONS}-%s.cache")
    except (OSError, RuntimeError):  # no safe directory: compile every time
        return None


_ENV_OPTIONS = "strict-trim-lstrip-keepnl-i18n-v1"  # change with the Environment below


def _autoescape(name: str | None) -> bool:
    return not (name or "").endswith((".txt", ".css"))


class Renderer:
    """Holds the Jinja2 environments (one per locale); `render()` is pure given its inputs."""

    def __init__(
        self,
        templates: Path | None = None,
        theme: Theme | None = None,
        *,
        budget: int = DEFAULT_BUDGET,
    ) -> None:
        self.folders = theme_folders(templates)
        self.theme = theme or Theme()
        self.budget = budget
        self.loader = jinja2.FileSystemLoader([str(f) for f in self.folders])
        self._envs: dict[str, jinja2.Environment] = {}
        self._bytecode = _bytecode_cache()

    def environment(self, locale: Locale) -> jinja2.Environment:
        key = str(locale)
        if key not in self._envs:
            env = jinja2.Environment(
                loader=self.loader,
                autoescape=_autoescape,
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=True,
                extensions=["jinja2.ext.i18n"],
                bytecode_cache=self._bytecode,
            )
            env.install_gettext_translations(  # type: ignore[attr-defined]
                load_translations(self.folders, locale), newstyle=True
            )
            env.filters["wrap"] = wrap_text
            env.filters["bidi"] = mark_direction
            self._envs[key] = env
        return self._envs[key]

    # -- rendering ---------------------------------------------------------------------

    def render(
        self, edition: Edition, *, locale: str | None = None, archive: bool = False
    ) -> RenderedEdition:
        """The edition for one locale (a subscriber's, else the list's), within budget.

        `archive`: the copy for the public archive page, read without a subscriber: its
        footer links to the list's past editions (and its sign-up form when open) instead
        of the subscriber's unsubscribe, preferences and "you receive this at" lines.
        """
        loc = resolve_locale(locale or "", edition.news_list.locale)
        env = self.environment(loc)
        base = self._base_context(edition, loc, archive=archive)
        layout = full_layout(edition)
        context = self._context(edition, loc, base, layout)
        source, compiled = self._compile(env, context)
        html = inline_css(compiled)
        if _size(html) > self.budget:
            layout, source, html = self._fit(edition, loc, env, base, layout, compiled, html)
            context = self._context(edition, loc, base, layout)
        text = self._render_template(env, TEXT_TEMPLATE, context)
        dropped = tuple(
            a.url
            for section, shown in zip(edition.sections, layout.shown, strict=True)
            for a in section.articles[shown:]
        )
        return RenderedEdition(
            subject=base["subject"],
            html=html,
            text=text,
            mjml=source,
            sections=tuple(s.name for s in edition.sections),
            locale=str(loc),
            dropped=dropped,
        )

    def _fit(
        self,
        edition: Edition,
        loc: Locale,
        env: jinja2.Environment,
        base: dict[str, Any],
        layout: Layout,
        compiled: str,
        html: str,
    ) -> tuple[Layout, str, str]:
        """The layout with the fewest cuts whose inlined HTML fits the budget.

        Cutting k articles (`shrink`, lowest-ranked of the longest section first) gives
        one layout per k, and the HTML shrinks as k grows: the answer is the smallest k
        that fits (all articles cut when none does). MJML compiles take milliseconds and
        premailer tens of them, so k is binary-searched on compiled sizes, predicting the
        inlined size from the (compiled, inlined) sizes measured so far, and then
        confirmed with premailer: k must fit and k - 1 must not. Each confirmation adds a
        measured point, so a fit usually costs about log2(articles) compiles and two or
        three inlinings (one per article before).
        """
        known: dict[int, ArticleView] = {}  # one view per article, whatever the layout
        compiled_at: dict[int, tuple[Layout, str, str]] = {0: (layout, "", compiled)}
        inlined_at: dict[int, str] = {0: html}

        def compiled_of(cuts: int) -> tuple[Layout, str, str]:
            if cuts not in compiled_at:
                shrunk = shrink(layout, cuts)
                context = self._context(edition, loc, base, shrunk, known)
                compiled_at[cuts] = (shrunk, *self._compile(env, context))
            return compiled_at[cuts]

        def inlined_of(cuts: int) -> str:
            if cuts not in inlined_at:
                inlined_at[cuts] = inline_css(compiled_of(cuts)[2])
            return inlined_at[cuts]

        total = sum(layout.shown)
        if not total:  # nothing to cut: the header and footer alone pass the budget
            return layout, self._compile(env, self._context(edition, loc, base, layout))[0], html
        measured = [(_size(compiled), _size(html))]  # (compiled, inlined) sizes seen
        too_big, fits = 0, None  # the largest k seen too big and the smallest k seen to fit
        while fits is None or fits - too_big > 1:
            low, high = too_big + 1, total if fits is None else fits - 1
            for cuts in compiled_at:  # narrow the range with the layouts compiled already
                if low <= cuts <= high:
                    if _predict(measured, _size(compiled_at[cuts][2])) <= self.budget:
                        high = cuts
                    else:
                        low = max(low, min(cuts + 1, high))
            while low < high:  # smallest k in [low, high] predicted to fit (high if none)
                middle = (low + high) // 2
                if _predict(measured, _size(compiled_of(middle)[2])) <= self.budget:
                    high = middle
                else:
                    low = middle + 1
            inlined = inlined_of(low)
            measured.append((_size(compiled_of(low)[2]), _size(inlined)))
            if _size(inlined) <= self.budget or low == total:
                fits = low
            else:
                too_big = low
        shrunk, source, _ = compiled_of(fits)
        return shrunk, source, inlined_of(fits)

    def _compile(self, env: jinja2.Environment, context: dict[str, Any]) -> tuple[str, str]:
        """MJML source and compiled HTML; errors name the template file and line."""
        source = self._render_template(env, MJML_TEMPLATE, context)
        try:
            compiled = mjml.mjml2html(source, disable_comments=True, fonts={})
        except ValueError as exc:
            problem = sourcemap.find_mjml_problem(source)
            offset = problem.offset if problem else sourcemap.reported_offset(source, str(exc))
            detail = problem.message if problem else str(exc)
            raise TemplateError(
                f"{self._where(env, context, offset)}MJML does not compile: {detail}",
                hint="check the tags the template writes (every tag closed, attributes quoted)",
            ) from None
        leftover = re.search(r"<mj-[a-z-]*", compiled)
        if leftover:
            found = re.search(re.escape(leftover.group(0)) + r"(?![a-z-])", source)
            offset = found.start() if found else -1
            raise TemplateError(
                f"{self._where(env, context, offset if offset >= 0 else None)}"
                f"unknown MJML tag {leftover.group(0)}> left in the output",
                hint="MRML passes unknown tags through; fix the tag name",
            )
        return source, compiled

    def _where(self, env: jinja2.Environment, context: dict[str, Any], offset: int | None) -> str:
        """`file:line: ` for a character offset into the rendered MJML, via a traced render."""
        if offset is None:
            return f"{MJML_TEMPLATE}: "
        template = env.get_template(MJML_TEMPLATE)
        spans = sourcemap.trace_render(template, context)
        output = template.render(context)
        origin = sourcemap.origin_at(spans, offset, output)
        return f"{origin}: " if origin else f"{MJML_TEMPLATE}: "

    def _render_template(self, env: jinja2.Environment, name: str, context: dict[str, Any]) -> str:
        try:
            return env.get_template(name).render(context)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                f"{exc.filename or exc.name}:{exc.lineno}: {exc.message}",
                hint="fix the template syntax",
            ) from None
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(
                f"template {exc.name} not found", hint="check --templates / DIGEST_TEMPLATES"
            ) from None
        except jinja2.TemplateError as exc:
            origin = sourcemap.traceback_origin(exc)
            raise TemplateError(
                f"{origin or name}: {exc.message}",
                hint="the template uses a name or value the renderer does not pass",
            ) from None

    # -- context -----------------------------------------------------------------------

    def _base_context(
        self, edition: Edition, loc: Locale, *, archive: bool = False
    ) -> dict[str, Any]:
        news_list = edition.news_list
        theme = self.theme.for_list(news_list)
        title = theme.name or news_list.name
        edition_dir = direction(str(loc)) or "ltr"
        base = self.theme.base_url.rstrip("/")
        signup = f"{base}/subscribe/{news_list.slug}" if news_list.signup == "open" else ""
        return {
            "edition": edition,
            "news_list": news_list,
            "title": title,
            "subject": edition.subject or f"{title} — {long_date(edition, loc)}",
            "note": edition.note,
            "note_html": note_html(edition.note),
            "date_label": full_date(edition, loc),
            "lang": str(loc).replace("_", "-"),
            "dir": edition_dir,
            "align": "right" if edition_dir == "rtl" else "left",
            "arrow": "←" if edition_dir == "rtl" else "→",  # after "Read more", pointing onward
            "theme": theme,
            "archive_url": f"{base}/archive/{news_list.slug}/{edition.date.isoformat()}",
            "archive": archive,
            "archive_index_url": f"{base}/archive/{news_list.slug}/",
            "signup_url": signup,
            **{p: f"[[{p}]]" for p in PLACEHOLDERS},
        }

    def _context(
        self,
        edition: Edition,
        loc: Locale,
        base: dict[str, Any],
        layout: Layout,
        known: dict[int, ArticleView] | None = None,
    ) -> dict[str, Any]:
        tz = ZoneInfo(edition.news_list.timezone)
        known = {} if known is None else known  # views already made, by id(article)

        def view_of(article: Article) -> ArticleView:
            if id(article) not in known:
                known[id(article)] = article_view(
                    article, locale=loc, edition_dir=base["dir"], tz=tz
                )
            return known[id(article)]

        lead = lead_of(edition) if layout.shown and layout.shown[0] else None
        sections = []
        for index, (section, shown) in enumerate(zip(edition.sections, layout.shown, strict=True)):
            articles = section.articles[:shown]
            if lead is not None and index == 0:
                articles = tuple(a for a in articles if a is not lead)
            section_anchor = anchor(section.name, index)
            sections.append(
                SectionView(
                    name=section.name,
                    anchor=section_anchor,
                    articles=tuple(view_of(a) for a in articles),
                    more=len(section.articles) - shown,
                    more_url=f"{base['archive_url']}#{section_anchor}",
                )
            )
        views = [a for s in sections for a in s.articles[:1]]
        lead_view = view_of(lead) if lead else None
        top = [v.title for v in ([lead_view] if lead_view else []) + views]
        return {
            **base,
            "lead": lead_view,
            "sections": [s for s in sections if s.articles or s.more],
            "preheader": _shorten(" · ".join(top), PREHEADER_LENGTH),
        }


def _size(html: str) -> int:
    return len(html.encode("utf-8"))


def _predict(measured: list[tuple[int, int]], compiled: int) -> float:
    """The inlined size of `compiled` bytes of MJML output, from sizes measured before.

    Between two measured points, on the line through them; outside, at the nearest
    point's ratio. (Inlining adds more per article than to the fixed head and styles.)
    """
    below = max((p for p in measured if p[0] <= compiled), default=None)
    above = min((p for p in measured if p[0] >= compiled), default=None)
    if below and above and above[0] > below[0]:
        slope = (above[1] - below[1]) / (above[0] - below[0])
        return below[1] + (compiled - below[0]) * slope
    nearest = below or above
    assert nearest is not None
    return compiled * nearest[1] / max(nearest[0], 1)


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0] + "…"


MJML_RESET = '<style type="text/css">\n#outlook a'


class _OnFirstUse(types.ModuleType):
    """Stands in for a module until something reads an attribute of it; then the real
    module is imported (and replaces this one in sys.modules) and the read goes to it."""

    def __getattr__(self, name: str) -> Any:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        return getattr(real, name)


def _premailer() -> Any:
    """premailer's Premailer, imported on first use (importing it takes ~0.1-0.25 s).

    premailer imports `requests` at the top (about 40 ms of CPU, a third of its import)
    only to fetch external style sheets, which `allow_network=False` never does; digest
    itself does not use it. So `requests` stays a stand-in until anything reads from
    it, which imports it then (`_OnFirstUse`).
    """
    if "premailer" not in sys.modules and "requests" not in sys.modules:
        spec = importlib.util.find_spec("requests")
        if spec is not None:
            stand_in = _OnFirstUse("requests")
            stand_in.__spec__ = spec  # `import requests` reads it; nothing is loaded
            sys.modules["requests"] = stand_in
    from premailer import Premailer

    return Premailer


def inline_css(html: str) -> str:
    """Inline the theme's CSS with premailer: no network, media queries and !important kept.

    MJML's own reset block (`table, td`, `img`, `p` ...) stays in <style> only, as MJML
    itself ships it: inlining it onto every cell cost ~15% of the HTML and ~40% of the
    inlining time, and the layout styles MJML needs are already inline.
    """
    Premailer = _premailer()
    html = html.replace(
        MJML_RESET, '<style type="text/css" data-premailer="ignore">\n#outlook a', 1
    )
    inlined = Premailer(
        html,
        strip_important=False,
        allow_network=False,
        keep_style_tags=True,
        disable_validation=True,
        # MJML's reset `img { height: auto }` must not overwrite explicit img sizes.
        disable_basic_attributes=["width", "height"],
        cssutils_logging_level=logging.CRITICAL,
        cssutils_logging_handler=logging.NullHandler(),
    ).transform()
    if not inlined.lstrip().lower().startswith("<!doctype"):
        inlined = "<!doctype html>\n" + inlined
    return inlined


ASCII_SPACE = re.compile(r"[ \t]+")  # never split at no-break spaces (e.g. "6:30\u202fPM")
URL_RE = re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.I)


def note_html(note: str) -> Markup:
    """The editor's note (plain text or CommonMark, raw HTML off) as sanitised HTML."""
    if not note.strip():
        return Markup("")
    from markdown_it import MarkdownIt

    from digest.sanitizer import clean_html

    rendered = MarkdownIt("commonmark", {"html": False}).render(note)
    return Markup(clean_html(rendered, plain_text=False).html)  # noqa: S704 (sanitised)


def wrap_text(text: str, width: int = 78) -> str:
    """Wrap prose at `width` columns; a URL is never broken and goes on a line of its own.

    Greedy on whitespace, like textwrap.fill without breaking words, at a fraction of
    its cost (the text part is rendered once per section set and locale).
    """
    out: list[str] = []
    for para in text.splitlines():
        line = ""
        for word in ASCII_SPACE.split(para.strip(" \t")):
            if not word:
                continue
            if URL_RE.match(word):
                if line:
                    out.append(line)
                out.append(word)
                line = ""
            elif not line:
                line = word
            elif len(line) + 1 + len(word) <= width:
                line += " " + word
            else:
                out.append(line)
                line = word
        if line or not para.strip():
            out.append(line)
    return "\n".join(out)


MARKS = {"ltr": "\u200e", "rtl": "\u200f"}  # LEFT-TO-RIGHT MARK, RIGHT-TO-LEFT MARK


def first_strong(line: str) -> str:
    """'ltr'/'rtl' from a line's first strong letter (how clients guess plain text), else ''."""
    for char in line:
        kind = unicodedata.bidirectional(char)
        if kind == "L":
            return "ltr"
        if kind in ("R", "AL"):
            return "rtl"
    return ""


def mark_direction(text: str, direction: str) -> str:
    """Start each line whose first strong letter would mislead a client with a direction mark.

    Plain text carries no dir attribute: clients give each line the direction of its
    first strong letter (ltr when none). An Arabic line that opens with a Latin word
    ("Apple تطلق iPhone 18…") then runs ltr, in the wrong order; a RIGHT-TO-LEFT MARK
    in front makes it rtl. URL lines stay untouched, so they remain clickable.
    """
    if direction not in MARKS:
        return text
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.strip() and not URL_RE.match(line) and (first_strong(line) or "ltr") != direction:
            lines[i] = MARKS[direction] + line
    return "\n".join(lines)
