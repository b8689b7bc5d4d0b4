"""Map a place in rendered MJML back to the template file and line that wrote it.

mjml-python reports (some) errors as UTF-8 byte offsets into the MJML it was given,
and reports others with no position at all. `find_mjml_problem` looks for the first
malformed or unbalanced tag itself; `trace_render` renders the template again, noting
which template line produced each chunk of output, so an offset becomes `file:line`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

# Elements that never have a closing tag (HTML void elements, plus MJML's empty ones).
VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr",
}  # fmt: skip
TAG = re.compile(
    r"<!--.*?-->|<!\[.*?\]>|<(/?)([A-Za-z][\w:.-]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", re.S
)
ATTRS = re.compile(r"""^(?:\s+[\w:.@-]+(?:\s*=\s*(?:"[^"]*"|'[^']*'))?)*\s*/?$""", re.S)
POSITION = re.compile(r"position (\d+):(\d+)")
RAW_TEXT = {"mj-style", "style", "script", "mj-raw-css"}


@dataclass(frozen=True, slots=True)
class Problem:
    offset: int  # character offset into the MJML source
    message: str


def find_mjml_problem(source: str) -> Problem | None:
    """The first malformed tag, stray closing tag or unclosed element in `source`."""
    stack: list[tuple[str, int]] = []
    pos = 0
    while True:
        lt = source.find("<", pos)
        if lt < 0:
            break
        if stack and stack[-1][0] in RAW_TEXT:
            end = source.find(f"</{stack[-1][0]}", pos)
            if end < 0:
                name, start = stack[-1]
                return Problem(start, f"<{name}> is never closed")
            lt = end
        match = TAG.match(source, lt)
        if match is None:
            if re.match(r"<[/!A-Za-z]", source[lt : lt + 2]):
                return Problem(lt, "malformed tag")
            pos = lt + 1  # a literal "<" in text, which MRML tolerates
            continue
        pos = match.end()
        closing, name, attrs = match.group(1), match.group(2), match.group(3)
        if name is None:
            continue  # a comment or a conditional comment
        name = name.lower()
        if closing:
            if not stack:
                return Problem(lt, f"</{name}> closes nothing")
            if stack[-1][0] != name:
                open_name, open_at = stack[-1]
                if any(n == name for n, _ in stack):
                    return Problem(open_at, f"<{open_name}> is never closed (</{name}> follows)")
                return Problem(lt, f"</{name}> closes nothing (</{open_name}> was expected)")
            stack.pop()
            continue
        if not ATTRS.match(attrs):
            return Problem(lt, f"malformed attributes in <{name}>")
        if attrs.rstrip().endswith("/") or name in VOID:
            continue
        stack.append((name, lt))
    if stack:
        name, start = stack[-1]
        return Problem(start, f"<{name}> is never closed")
    return None


def reported_offset(source: str, message: str) -> int | None:
    """The character offset in `source` of the byte position in an MRML error message."""
    match = POSITION.search(message)
    if match is None:
        return None
    raw = source.encode("utf-8")
    return len(raw[: int(match.group(1))].decode("utf-8", errors="ignore"))


@dataclass(frozen=True, slots=True)
class Origin:
    filename: str
    lineno: int

    def __str__(self) -> str:
        return f"{self.filename}:{self.lineno}"


def trace_render(template: jinja2.Template, context: dict[str, Any]) -> list[tuple[int, Origin]]:
    """Render again, returning (start offset, origin) for each chunk of output, in order.

    Jinja renders through nested generators (one per template and include; an include
    is `for event in gen: yield event` with `gen` a local of the including frame); after
    each chunk, the innermost suspended frame is the template line that wrote it.
    """
    spans: list[tuple[int, Origin]] = []
    offset = 0
    gen = template.root_render_func(template.new_context(context))
    for chunk in gen:
        origin = _innermost_origin(gen)
        if origin is not None:
            spans.append((offset, origin))
        offset += len(chunk)
    return spans


def _innermost_origin(gen: Iterator[str]) -> Origin | None:
    frame = getattr(gen, "gi_frame", None)
    while frame is not None:
        inner: Any = getattr(gen, "gi_yieldfrom", None) or frame.f_locals.get("gen")
        inner_frame = getattr(inner, "gi_frame", None)
        if inner is gen or inner_frame is None:
            break
        gen, frame = inner, inner_frame
    if frame is None:
        return None
    owner = frame.f_globals.get("__jinja_template__")
    if owner is None:
        return None
    return Origin(
        owner.filename or owner.name or "?", owner.get_corresponding_lineno(frame.f_lineno)
    )


def origin_at(spans: list[tuple[int, Origin]], offset: int, output: str) -> Origin | None:
    """The template line that wrote character `offset` of `output`.

    A chunk of literal template text spans several lines: find it in the template's
    source and count lines up to the offset; an expression's value stays on its line.
    """
    found: tuple[int, Origin] | None = None
    for start, origin in spans:
        if start > offset:
            break
        found = (start, origin)
    if found is None:
        return None
    start, origin = found
    end = next((s for s, _ in spans if s > start), len(output))
    chunk = output[start:end]
    try:
        source = Path(origin.filename).read_text(encoding="utf-8")
    except OSError:
        return origin
    line_start = sum(len(line) for line in source.splitlines(keepends=True)[: origin.lineno - 1])
    at = source.find(chunk, line_start)
    if chunk and at >= 0 and source.count("\n", line_start, at) <= 1:
        return Origin(origin.filename, source.count("\n", 0, at + offset - start) + 1)
    return origin


def traceback_origin(exc: BaseException) -> Origin | None:
    """The template line in a Jinja-rewritten traceback (innermost template frame)."""
    found = None
    tb = exc.__traceback__
    while tb is not None:
        globals_ = tb.tb_frame.f_globals
        if "__jinja_template__" in globals_:
            owner = globals_["__jinja_template__"]
            found = Origin(
                owner.filename or owner.name, owner.get_corresponding_lineno(tb.tb_lineno)
            )
        elif "__jinja_exception__" in globals_:
            found = Origin(tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return found
