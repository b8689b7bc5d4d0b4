"""Feeds: RSS 0.9x/1.0/2.0 and Atom mapped to the article contract, and fetched over HTTP
politely (conditional GET, a timeout, a size cap, clear failures)."""

from __future__ import annotations

import calendar
import io
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from http.client import HTTPMessage
from typing import Any
from xml.sax import SAXException

import feedparser

from digest import charset, sanitizer
from digest.errors import DigestError, InputError
from digest.ingest import ArticleBatch, article_from_dict, article_warnings
from digest.sanitizer import http_url

# -- reading --------------------------------------------------------------------------------


def read_feed(
    data: bytes,
    *,
    name: str,
    section: str | None = None,
    base_url: str = "",
    content_type: str = "",
) -> ArticleBatch:
    """RSS 0.9x/1.0/2.0 or Atom, mapped to the article contract.

    `base_url` (where the feed was fetched from) resolves relative item links; a
    `content_type` with a charset (from HTTP) names the encoding as XML's rules say.
    A feed that is not well-formed XML (undeclared HTML entities such as `&eacute;`,
    a stray `&`) is read as far as feedparser recovers it, with a warning; it is refused
    only when no item can be read from it, and the message gives feedparser's reason.
    """
    http_charset = _charset_of(content_type)
    if not http_charset or charset.is_utf8(http_charset):
        _check_utf8(data, name=name)
    headers = {"content-location": base_url} if base_url else {}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(io.BytesIO(data), sanitize_html=False, response_headers=headers)
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    reason = _reason(problem) if problem is not None else ""
    if problem is not None and not parsed.get("version"):
        raise InputError(f"{name}: {reason}", hint="is it a valid RSS/Atom file?")
    if not parsed.get("version"):
        raise InputError(f"{name}: not an RSS or Atom feed", hint="check the file or URL")
    channel = parsed.get("feed", {})
    title = sanitizer.normalize_space(str(channel.get("title", "")))
    batch = ArticleBatch(title=title)
    for index, entry in enumerate(parsed.get("entries", []), 1):
        where = f"{name} item {index}"
        try:
            record = _feed_record(entry, channel, where=where)
            article = article_from_dict(record, where=where, section=section, lenient=True)
            batch.articles.append((where, article))
            batch.warnings.extend(article_warnings(article, where=where))
        except InputError as exc:
            batch.rejected.append(exc)
    if problem is not None:
        if not batch.articles:
            items = len(parsed.get("entries", []))
            why = f"; {batch.rejected[0].message}" if batch.rejected else ""
            raise InputError(
                f"{name}: {reason}; no item could be read from it"
                + (f" (of {items}){why}" if items else ""),
                hint="is it a valid RSS/Atom file? feedparser recovers what it can",
            )
        count = len(batch.articles)
        batch.warnings.append(
            f"{name}: {reason}; read {count} item{'s' if count != 1 else ''} anyway"
        )
    return batch


def _charset_of(content_type: str) -> str:
    """The charset parameter of an HTTP Content-Type, lower case; "" when none."""
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'").lower()
    return ""


def _check_utf8(data: bytes, *, name: str) -> None:
    """Refuse a feed that says UTF-8 (or, naming nothing, is UTF-8 by XML's rule) but is not.

    Guessing would garble it: a Latin-1 French feed and a Windows-1256 Arabic one look
    alike to a guesser, and feedparser's guess for a UTF-8 feed with one stray Latin-1
    byte turns every accent into two wrong letters. A file can be imported with
    `--encoding` when its real encoding is known.
    """
    encoding, skip = charset.sniff(data)
    if encoding and not charset.is_utf8(encoding):
        return  # it names its encoding: feedparser decodes it
    try:
        data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        says = "says UTF-8" if encoding else "names no encoding, so is UTF-8 by XML's rule,"
        raise InputError(
            f"{name}: {says} but is not (byte {exc.start + skip}: {data[exc.start + skip]:#04x})",
            hint="re-save it as UTF-8, or name its real encoding in the XML declaration; "
            "to import the file: digest articles import FILE --encoding windows-1252",
        ) from None


def _reason(problem: Exception) -> str:
    """feedparser's bozo exception as a short reason: 'malformed XML: 2:54: undefined entity'."""
    detail = (str(problem).splitlines() or [type(problem).__name__])[0]
    detail = detail.removeprefix("<unknown>:")
    if isinstance(problem, SAXException):
        return f"malformed XML: {detail}"
    return f"not a clean feed: {detail}"


def _feed_record(entry: Any, channel: Any, *, where: str) -> dict[str, Any]:
    guid = str(entry.get("id", "") or "")
    link = str(entry.get("link", "") or "")
    if not link and sanitizer.http_url(guid):
        link = guid
    moment = entry.get("published_parsed") or entry.get("updated_parsed")
    if moment is None:
        raw = entry.get("published") or entry.get("updated")
        raise InputError(
            f"{where}: " + (f"unreadable date {raw!r}" if raw else "no published or updated date"),
            hint="each item needs a pubDate (RSS) or published/updated (Atom)",
        )
    published = datetime.fromtimestamp(calendar.timegm(moment), UTC).isoformat()
    content = entry.get("content") or []
    summary_html = str(entry.get("summary", "") or "")
    body = str(content[0].get("value", "")) if content else summary_html
    tags = entry.get("tags") or []
    language = ""
    for detail in (content[0] if content else None, entry.get("summary_detail")):
        if detail and detail.get("language"):
            language = str(detail["language"])
            break
    return {
        "url": link,
        "guid": guid,
        "title": str(entry.get("title", "") or ""),
        "section": str(tags[0].get("term", "") or "") if tags else "",
        "published_at": published,
        "author": str(entry.get("author", "") or ""),
        "summary": summary_html if content else "",
        "body_html": body,
        "image_url": _feed_image(entry),
        "source": str(channel.get("title", "") or ""),
        "language": language or str(channel.get("language", "") or ""),
    }


def _feed_image(entry: Any) -> str:
    for enclosure in entry.get("enclosures") or []:
        if str(enclosure.get("type", "")).startswith("image/") and enclosure.get("href"):
            return str(enclosure["href"])
    for media in entry.get("media_content") or []:
        kind = str(media.get("medium", "") or media.get("type", ""))
        if kind.startswith("image") and media.get("url"):
            return str(media["url"])
    for thumb in entry.get("media_thumbnail") or []:
        if thumb.get("url"):
            return str(thumb["url"])
    return ""


# -- fetching -----------------------------------------------------------------------------

USER_AGENT = "digest/0.1 (+https://github.com/; newsletter digest builder)"
TIMEOUT = 20.0  # seconds, per connection attempt and per read
MAX_BYTES = 5_000_000  # a feed larger than this is refused, not truncated


class FeedFetchError(DigestError):
    """A feed could not be fetched: the message names the feed and the reason."""


PERMANENT_REDIRECTS = (301, 308)


@dataclass(frozen=True, slots=True)
class FetchResult:
    status: int  # 200, or 304 when the feed has not changed since the last fetch
    body: bytes = b""
    etag: str = ""
    last_modified: str = ""
    url: str = ""  # after redirects
    content_type: str = ""  # the Content-Type header, whose charset may name the encoding
    moved_to: str = ""  # where permanent redirects (301, 308) say the feed now lives


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) only (urllib would also follow ftp://), note each hop,
    and never read a redirect's body (only the feed itself counts against the size cap).

    urllib passes the request's timeout on to every hop and stops after 10 of them.
    """

    def __init__(self) -> None:
        self.hops: list[tuple[int, str]] = []

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if http_url(newurl) is None:
            raise urllib.error.HTTPError(newurl, code, "redirect to a non-http URL", headers, fp)
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        fp.close()  # urllib reads what is left of a closed response as b""
        self.hops.append((code, newurl))
        return new

    def moved_to(self) -> str:
        """The last URL reached by permanent redirects only, from the start; else ""."""
        moved = ""
        for code, target in self.hops:
            if code not in PERMANENT_REDIRECTS:
                break
            moved = target
        return moved


def fetch(
    url: str,
    *,
    etag: str = "",
    last_modified: str = "",
    timeout: float = TIMEOUT,
    max_bytes: int = MAX_BYTES,
) -> FetchResult:
    """GET the feed, sending If-None-Match / If-Modified-Since from the last fetch.

    Redirects are followed (to http(s) only); `moved_to` says where permanent ones lead.
    """
    if http_url(url) is None:
        raise FeedFetchError(f"{url}: not an http(s) URL", hint="feeds are fetched over http(s)")
    headers = {"User-Agent": USER_AGENT, "Accept": "application/rss+xml, application/atom+xml, "
               "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"}  # fmt: skip
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    redirects = _HttpOnlyRedirects()
    opener = urllib.request.build_opener(redirects, urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, headers=headers)
    try:
        with opener.open(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise _too_big(url, max_bytes)
            body = response.read(max_bytes + 1)
            if len(body) > max_bytes:
                raise _too_big(url, max_bytes)
            return FetchResult(
                status=response.status,
                body=body,
                etag=response.headers.get("ETag", "") or "",
                last_modified=response.headers.get("Last-Modified", "") or "",
                url=response.geturl(),
                content_type=response.headers.get("Content-Type", "") or "",
                moved_to=redirects.moved_to(),
            )
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return FetchResult(
                status=304,
                etag=etag,
                last_modified=last_modified,
                url=exc.geturl() or url,
                moved_to=redirects.moved_to(),
            )
        raise FeedFetchError(
            f"{url}: HTTP {exc.code} {exc.reason}", hint=_hint_for_status(exc.code)
        ) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, socket.timeout | TimeoutError):
            raise _timed_out(url, timeout) from None
        raise FeedFetchError(
            f"{url}: cannot connect: {reason}", hint="check the URL and the network"
        ) from None
    except TimeoutError:
        raise _timed_out(url, timeout) from None
    except (OSError, ValueError) as exc:
        raise FeedFetchError(f"{url}: {exc}", hint="check the URL and the network") from None


def _too_big(url: str, max_bytes: int) -> FeedFetchError:
    return FeedFetchError(
        f"{url}: larger than {max_bytes // 1_000_000} MB", hint="is this really a feed?"
    )


def _timed_out(url: str, timeout: float) -> FeedFetchError:
    return FeedFetchError(
        f"{url}: no answer within {timeout:g} s", hint="the site is slow or down; try later"
    )


def _hint_for_status(code: int) -> str:
    if code in (401, 403):
        return "the site refuses us; is the feed private?"
    if code in (404, 410):
        return "the feed moved or is gone; update it with `digest feeds remove` and `add`"
    if code >= 500:
        return "the site has a problem; the next fetch may work"
    return "check the feed URL"
