"""Pure: what the preview's checks panel reports about one rendered edition."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlsplit

from digest.models import Edition, RenderedEdition

CLIP_LIMIT = 102_000  # bytes of HTML past which Gmail clips a message ("[Message clipped]")


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    summary: str
    items: tuple[str, ...] = ()


class _Links(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.urls.append(values["href"] or "")
        if tag == "img":
            self.images.append(values)
            self.urls.append(values.get("src") or "")


def is_loopback_host(host: str) -> bool:
    """localhost, 127.0.0.0/8, ::1 or 0.0.0.0: a host only this machine can reach."""
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def check_base_url(base_url: str) -> Check:
    """Whether the links in real mail (unsubscribe, preferences) can be opened by readers."""
    parts = urlsplit(base_url)
    problems = []
    if is_loopback_host(parts.hostname or ""):
        problems.append("loopback: its links open only on this machine")
    if parts.scheme != "https":
        problems.append("plain http: mailbox providers want https for one-click unsubscribe")
    if problems:
        return Check(
            "base URL",
            False,
            f"DIGEST_BASE_URL {base_url} is " + "; ".join(problems),
            ("set DIGEST_BASE_URL to the site's public https origin before a real send",),
        )
    return Check("base URL", True, f"unsubscribe and preferences links go to {base_url}")


def check_edition(
    edition: Edition, rendered: RenderedEdition, html: str, *, base_url: str = ""
) -> list[Check]:
    """`edition` as rendered (after section choice); `html` the personalised HTML;
    `base_url` the origin of the links in real mail (DIGEST_BASE_URL), checked if given."""
    size = len(html.encode("utf-8"))
    page = _Links(html)
    checks = [
        Check(
            "size",
            size <= CLIP_LIMIT,
            f"HTML {size / 1000:.1f} KB of Gmail's ~{CLIP_LIMIT / 1000:.0f} KB clip limit "
            f"({size / CLIP_LIMIT:.0%})",
        )
    ]
    if base_url:
        checks.append(check_base_url(base_url))
    no_alt = [
        f"{a.title} ({a.image_url}): the title stands in"
        for s in edition.sections
        for a in s.articles
        if a.image_url and not a.image_alt.strip()
    ]
    no_alt += [f"<img src={img.get('src')}> has no alt" for img in page.images if "alt" not in img]
    checks.append(
        Check(
            "images without alt",
            not no_alt,
            f"{len(no_alt)} image(s) without alt text" if no_alt else "every image has alt text",
            tuple(no_alt),
        )
    )
    insecure = sorted(
        {u for u in page.urls if u and not u.startswith(("https://", "mailto:", "#"))}
    )
    checks.append(
        Check(
            "non-https links",
            not insecure,
            f"{len(insecure)} link(s) or image(s) not on https" if insecure else "all https",
            tuple(insecure),
        )
    )
    # The renderer drops an image that is not on https (clients block or flag them), so
    # the rendered HTML no longer shows it: say which story lost which image.
    plain_images = tuple(
        f"{s.name}: {a.title}: {a.image_url}"
        for s in edition.sections
        for a in s.articles
        if a.image_url and not a.image_url.startswith("https://")
    )
    checks.append(
        Check(
            "images not on https",
            not plain_images,
            f"{len(plain_images)} story image(s) left out: not on https, which mail clients "
            "block or flag"
            if plain_images
            else "every story image is on https",
            plain_images,
        )
    )
    unsubscribe = (
        '"[[unsubscribe_url]]"' in rendered.html and "[[unsubscribe_url]]" in rendered.text
    )
    checks.append(
        Check(
            "unsubscribe link",
            unsubscribe,
            "present in the HTML and text parts"
            if unsubscribe
            else "missing: every edition needs a visible [[unsubscribe_url]] link in both parts",
        )
    )
    by_url = {a.url: a for s in edition.sections for a in s.articles}
    dropped = tuple(
        f"{by_url[u].section}: {by_url[u].title}" for u in rendered.dropped if u in by_url
    )
    checks.append(
        Check(
            "size budget",
            not dropped,
            f"{len(dropped)} article(s) cut to 'more stories' links to stay under the budget"
            if dropped
            else "no article cut",
            dropped,
        )
    )
    return checks
