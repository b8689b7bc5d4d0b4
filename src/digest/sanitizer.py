"""Clean article content: allow-listed HTML, no repeated paragraphs, excerpts, canonical URLs.

Pure functions over strings. `nh3` does the security work (an allow-list sanitiser);
a small tree pass over its well-formed output then drops repeated paragraphs and
captions, normalises whitespace and gives images an alt text.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import nh3

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "div", "dl", "dt",
    "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li",
    "ol", "p", "q", "s", "small", "strong", "sub", "sup", "table", "tbody", "td", "tfoot",
    "th", "thead", "tr", "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "abbr": {"title"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
# Removed with everything inside them (the rest of the unknown tags keep their text).
DROPPED_WITH_CONTENT = {
    "script", "style", "iframe", "form", "object", "embed", "noscript", "template", "svg",
    "math", "textarea", "select", "button", "frameset", "frame", "applet", "head", "title",
}  # fmt: skip
URL_SCHEMES = {"http", "https", "mailto"}

# Blocks whose repetition within one article is dropped: paragraphs, captions, headings.
_LEAF_BLOCKS = {"p", "figcaption", "h1", "h2", "h3", "h4", "h5", "h6", "li", "dt", "dd"}
_CONTAINERS = {"div", "blockquote", "figure", "ul", "ol", "dl", "table", "tbody", "thead",
               "tfoot", "tr"}  # fmt: skip
_INLINE = {"a", "b", "i", "em", "strong", "u", "s", "small", "sub", "sup", "code", "q"}
_DROP_WHEN_EMPTY = _LEAF_BLOCKS | _INLINE | {"div", "blockquote", "figure"}
_VOID = {"br", "hr", "img"}
_SPACE = re.compile(r"[ \t\n\r\f\v]+")  # not U+00A0: French typography needs it
_TAG_LIKE = re.compile(r"<[A-Za-z!/?]")
_ENTITY = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
_SENTENCE_END = re.compile(r"[.!?…؟。！？][\"'»”’)\]]*$")
_TRACKING = re.compile(
    r"^(utm_[a-z0-9_]*|fbclid|gclid|dclid|gbraid|wbraid|msclkid|yclid|mc_cid|mc_eid|igshid"
    r"|_hsenc|_hsmi|mkt_tok|oly_anon_id|oly_enc_id|vero_id|wt\.mc_id|ocid)$",
    re.IGNORECASE,
)


def canonical_url(value: str) -> str | None:
    """The URL that identifies an article: http(s) only, no fragment, no tracking parameters.

    Returns None when the value is not an absolute http(s) URL.
    """
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in ("http", "https") or not host or any(c.isspace() for c in value.strip()):
        return None
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        netloc += f":{port}"
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)
    ]
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query, doseq=True), ""))


def http_url(value: str, *, base: str = "") -> str | None:
    """`value` resolved against `base`, when the result is an http(s) URL; else None."""
    value = value.strip()
    if not value:
        return None
    try:
        resolved = urljoin(base, value) if base else value
        parts = urlsplit(resolved)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return resolved


def normalize_space(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def looks_like_html(text: str) -> bool:
    """Has a tag or a character reference (plain text has neither)."""
    return bool(_TAG_LIKE.search(text) or _ENTITY.search(text))


def plain_text_to_html(text: str) -> str:
    """Paragraphs separated by blank lines (or single line breaks) become <p> elements."""
    chunks = re.split(r"\n\s*\n" if "\n\n" in text.replace("\r", "") else r"\n", text)
    return "".join(f"<p>{html.escape(c.strip())}</p>" for c in chunks if c.strip())


# -- a tiny tree over nh3's (well-formed) output ----------------------------------------


@dataclass
class _Element:
    tag: str
    attrs: list[tuple[str, str]] = field(default_factory=list)
    children: list[_Element | str] = field(default_factory=list)

    def attr(self, name: str) -> str | None:
        return next((v for k, v in self.attrs if k == name), None)

    def set_attr(self, name: str, value: str) -> None:
        self.attrs = [(k, v) for k, v in self.attrs if k != name] + [(name, value)]


MAX_DEPTH = 64  # deeper elements are flattened into their ancestor (text kept)
MAX_NESTING = 1000  # refused before parsing: html5ever slows down quadratically with depth
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)")
# Elements whose end tag may be left out (the parser closes them): they do not nest.
_OPTIONAL_END = {"p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "colgroup",
                 "caption", "thead", "tbody", "tfoot", "rb", "rt", "rp", "body", "html",
                 "head"}  # fmt: skip


class MarkupError(ValueError):
    """HTML that cannot be cleaned safely (too deeply nested)."""


def _nesting(fragment: str) -> int:
    """How deep elements nest, roughly (a linear scan, before the real parser)."""
    depth = deepest = 0
    for match in _TAG.finditer(fragment):
        tag = match.group(2).lower()
        if tag in _VOID or tag in _OPTIONAL_END:
            continue
        depth = max(0, depth - 1) if match.group(1) else depth + 1
        deepest = max(deepest, depth)
    return deepest


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Element("#root")
        self.stack = [self.root]
        self.flattened: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if len(self.stack) > MAX_DEPTH and tag not in _VOID:
            self.flattened[tag] = self.flattened.get(tag, 0) + 1
            return
        element = _Element(tag, [(k, v or "") for k, v in attrs])
        self.stack[-1].children.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(_Element(tag, [(k, v or "") for k, v in attrs]))

    def handle_endtag(self, tag: str) -> None:
        if self.flattened.get(tag):
            self.flattened[tag] -= 1
            return
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def _parse(fragment: str) -> _Element:
    builder = _TreeBuilder()
    builder.feed(fragment)
    builder.close()
    return builder.root


def _text(node: _Element | str) -> str:
    if isinstance(node, str):
        return node
    if node.tag in ("br", "hr"):
        return " "
    text = "".join(_text(c) for c in node.children)
    return text if _inline(node) else f" {text} "


def _images(node: _Element | str) -> list[str]:
    if isinstance(node, str):
        return []
    if node.tag == "img":
        return [node.attr("src") or ""]
    return [src for c in node.children for src in _images(c)]


def _tidy(node: _Element, *, seen: set[str], title: str, in_block: bool) -> None:
    """Drop repeated blocks, empty elements and images without a source; collapse spaces."""
    kept: list[_Element | str] = []
    for child in node.children:
        if isinstance(child, str):
            kept.append(_SPACE.sub(" ", child))
            continue
        if child.tag == "img":
            if not child.attr("src"):
                continue
            if not (child.attr("alt") or "").strip():
                child.set_attr("alt", title)
            kept.append(child)
            continue
        if child.tag in _LEAF_BLOCKS:
            key = normalize_space(_text(child)).casefold()
            key = key or " ".join(_images(child))
            if key and key in seen:
                continue
            if key:
                seen.add(key)
        _tidy(
            child,
            seen=seen,
            title=title,
            in_block=child.tag not in _CONTAINERS,
        )
        empty = not normalize_space(_text(child)) and not _images(child)
        if child.tag in _DROP_WHEN_EMPTY and empty:
            continue
        kept.append(child)
    merged: list[_Element | str] = []
    for k in kept:  # adjacent text (after unwrapping or dropping elements) is one text
        if isinstance(k, str) and merged and isinstance(merged[-1], str):
            merged[-1] = _SPACE.sub(" ", merged[-1] + k)
        else:
            merged.append(k)
    kept = merged
    if not in_block:  # between blocks, a space is only layout: drop it
        kept = [
            k
            for i, k in enumerate(kept)
            if not (isinstance(k, str) and not k.strip())
            or (0 < i < len(kept) - 1 and _inline(kept[i - 1]) and _inline(kept[i + 1]))
        ]
    if node.tag in _LEAF_BLOCKS | {"td", "th", "#root"} and kept:
        if isinstance(kept[0], str):
            kept[0] = kept[0].lstrip()
        if isinstance(kept[-1], str):
            kept[-1] = kept[-1].rstrip()
        kept = [k for k in kept if k != ""]
    node.children = kept


def _wrap_loose_text(root: _Element) -> bool:
    """Top-level text and inline elements become paragraphs (so they can repeat, too).

    Returns whether anything was wrapped.
    """
    children: list[_Element | str] = []
    run: list[_Element | str] = []
    wrapped = False
    for child in [*root.children, _Element("#end")]:
        if _inline(child):
            run.append(child)
            continue
        if any(not isinstance(k, str) or k.strip() for k in run):
            children.append(_Element("p", children=run))
            wrapped = True
        run = []
        if isinstance(child, _Element) and child.tag != "#end":
            children.append(child)
    root.children = children
    return wrapped


def _inline(node: _Element | str) -> bool:
    """Text, or an inline element with nothing but inline content."""
    if isinstance(node, str):
        return True
    return node.tag in _INLINE | {"img", "br"} and all(_inline(c) for c in node.children)


def _unwrap_dead_links(node: _Element) -> None:
    """A link whose URL was refused keeps its content, without the <a>."""
    children: list[_Element | str] = []
    for child in node.children:
        if isinstance(child, _Element):
            _unwrap_dead_links(child)
            if child.tag == "a" and child.attr("href") is None:
                children.extend(child.children)
                continue
        children.append(child)
    node.children = children


def _serialize(node: _Element | str) -> str:
    if isinstance(node, str):
        return html.escape(node, quote=False)
    attrs = "".join(f' {k}="{html.escape(v, quote=True)}"' for k, v in node.attrs)
    if node.tag in _VOID:
        return f"<{node.tag}{attrs}>"
    inner = "".join(_serialize(c) for c in node.children)
    return inner if node.tag == "#root" else f"<{node.tag}{attrs}>{inner}</{node.tag}>"


@dataclass(frozen=True, slots=True)
class CleanBody:
    html: str
    text: str  # the visible text, blocks separated by a space


def clean_html(
    fragment: str, *, base_url: str = "", title: str = "", plain_text: bool = True
) -> CleanBody:
    """Sanitise an article body and tidy it (see the module docstring).

    With `plain_text`, a body without any tag is taken as text: paragraphs at blank lines.
    """
    if plain_text and fragment and not looks_like_html(fragment):
        fragment = plain_text_to_html(fragment)
    if _nesting(fragment) > MAX_NESTING:
        raise MarkupError(f"markup nested more than {MAX_NESTING} elements deep")

    def keep_url(element: str, attribute: str, value: str) -> str | None:
        if attribute in ("href", "src"):
            if attribute == "href" and value.strip().lower().startswith("mailto:"):
                return value.strip()
            return http_url(value, base=base_url)
        return value

    safe = nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        clean_content_tags=DROPPED_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=keep_url,
        url_schemes=URL_SCHEMES,
        link_rel="noopener",
        strip_comments=True,
    )
    root = _parse(safe)
    _unwrap_dead_links(root)
    # Until nothing changes: dropping a block can make its parent a repeat or leave
    # loose text to wrap (usually one round; the cap only guards against surprises).
    before = ""
    for _ in range(6):
        _tidy(root, seen=set(), title=title, in_block=False)
        _wrap_loose_text(root)
        after = _serialize(root)
        if after == before:
            break
        before = after
    blocks: list[str] = []
    _collect_text(root, blocks)
    return CleanBody(html=before, text=normalize_space(" ".join(blocks)))


def _collect_text(node: _Element, out: list[str]) -> None:
    for child in node.children:
        if isinstance(child, str):
            out.append(child)
        elif child.tag in _CONTAINERS:
            _collect_text(child, out)
        else:
            out.append(_text(child))


def html_to_text(fragment: str) -> str:
    """The visible text of an HTML fragment, whitespace normalised."""
    return clean_html(fragment, plain_text=False).text


def excerpt(text: str, *, words: int = 40, max_chars: int = 320) -> str:
    """The opening of `text`, about `words` words, cut at a sentence or word boundary."""
    text = normalize_space(text)
    tokens = text.split(" ")
    if len(tokens) <= words and len(text) <= max_chars:
        return text
    picked: list[str] = []
    length = 0
    for token in tokens[:words]:
        if length + len(token) + (1 if picked else 0) > max_chars:
            break
        picked.append(token)
        length += len(token) + (1 if len(picked) > 1 else 0)
    if not picked:  # one enormous "word" (a script written without spaces): cut by characters
        return tokens[0][:max_chars].rstrip() + "…"
    for end in range(len(picked), max(1, len(picked) * 2 // 5) - 1, -1):
        if _SENTENCE_END.search(picked[end - 1]):
            return " ".join(picked[:end])
    return " ".join(picked).rstrip(",;:–—-") + "…"
