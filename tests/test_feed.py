"""Feeds by subscription, fetched from a real HTTP server on a free loopback port."""

from __future__ import annotations

import ast
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from digest import ingest, pipeline
from digest.errors import InputError
from digest.models import NewsList
from digest.store import Store
from tests.conftest import NOW, Cli


def rss(*items: tuple[str, str], title: str = "Alwihda Info") -> bytes:
    body = "".join(
        f"<item><title>{t}</title><link>https://news.example.com/{slug}</link>"
        f"<guid>{slug}</guid><category>Tchad</category>"
        "<pubDate>Fri, 27 Nov 2026 05:00:00 GMT</pubDate>"
        f"<description>&lt;p&gt;{t} body.&lt;/p&gt;</description></item>"
        for slug, t in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}'
        f"</title><link>https://news.example.com/</link>{body}</channel></rss>"
    ).encode()


@dataclass
class Site:
    """What the test server answers, and what it was asked."""

    pages: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    etags: dict[str, str] = field(default_factory=dict)
    slow: set[str] = field(default_factory=set)
    redirects: dict[str, tuple[int, str]] = field(default_factory=dict)  # path: (code, to)
    types: dict[str, str] = field(default_factory=dict)  # path: Content-Type
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def site() -> Iterator[Site]:
    state = Site()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            state.requests.append((self.path, dict(self.headers.items())))
            if self.path in state.slow:
                time.sleep(1.0)
            if self.path in state.redirects:
                code, location = state.redirects[self.path]
                self.send_response(code)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status, body = state.pages.get(self.path, (404, b"not found"))
            etag = state.etags.get(self.path)
            if etag and self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(status)
            self.send_header("Content-Type", state.types.get(self.path, "application/rss+xml"))
            self.send_header("Content-Length", str(len(body)))
            if etag:
                self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a client that gave up (the timeout test) is expected

    server = Server(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def clock() -> datetime:
    return NOW


def test_fetch_imports_items_then_uses_conditional_get(store: Store, site: Site) -> None:
    site.pages["/feed.xml"] = (200, rss(("crue", "La crue"), ("rentree", "La rentrée")))
    site.etags["/feed.xml"] = '"v1"'
    feed = pipeline.add_feed(store, site.url + "/feed.xml", section="Tchad", now=NOW)

    [report] = pipeline.fetch_feeds(store, now=clock)
    assert report.status == "ok" and report.report.added == 2
    assert report.feed.title == "Alwihda Info" and report.feed.etag == '"v1"'
    assert {a.title for a in store.articles()} == {"La crue", "La rentrée"}

    [report] = pipeline.fetch_feeds(store, now=clock)
    assert report.status == "not modified"
    assert site.requests[-1][1].get("If-None-Match") == '"v1"'

    site.pages["/feed.xml"] = (
        200,
        rss(("crue", "La crue (mise à jour)"), ("rentree", "La rentrée")),
    )
    site.etags["/feed.xml"] = '"v2"'
    [report] = pipeline.fetch_feeds(store, now=clock, which=str(feed.id))
    assert (report.report.added, report.report.updated, report.report.unchanged) == (0, 1, 1)
    assert len(store.articles()) == 2


def test_failures_are_named_and_only_repeated_failures_are_flagged(
    store: Store, site: Site
) -> None:
    site.pages["/good.xml"] = (200, rss(("a", "A")))
    site.pages["/broken.xml"] = (200, b"<rss><channel><item>")
    pipeline.add_feed(store, site.url + "/good.xml", now=NOW)
    pipeline.add_feed(store, site.url + "/gone.xml", now=NOW)
    pipeline.add_feed(store, site.url + "/broken.xml", now=NOW)

    reports = {r.feed.url.rsplit("/", 1)[1]: r for r in pipeline.fetch_feeds(store, now=clock)}
    assert reports["good.xml"].status == "ok"
    assert reports["gone.xml"].status == "failed" and "HTTP 404" in reports["gone.xml"].error
    assert "malformed XML" in reports["broken.xml"].error
    assert reports["gone.xml"].feed.failures == 1  # one blip: not flagged yet

    for _ in range(2):
        pipeline.fetch_feeds(store, now=clock)
    failing = {f.url.rsplit("/", 1)[1]: f.failures for f in store.feeds()}
    assert failing == {"good.xml": 0, "gone.xml": 3, "broken.xml": 3}

    site.pages["/gone.xml"] = (200, rss(("b", "B")))
    pipeline.fetch_feeds(store, now=clock)
    assert store.get_feed(site.url + "/gone.xml").failures == 0


def test_relative_item_links_resolve_against_the_feed_url(store: Store, site: Site) -> None:
    site.pages["/news/feed.xml"] = (
        200,
        rss(("x", "X")).replace(b"https://news.example.com/x", b"/news/story-1"),
    )
    pipeline.add_feed(store, site.url + "/news/feed.xml", now=NOW)
    [report] = pipeline.fetch_feeds(store, now=clock)
    assert report.status == "ok" and report.report.added == 1, report
    assert [a.url for a in store.articles()] == [site.url + "/news/story-1"]


def test_a_permanent_redirect_moves_the_feed_and_a_temporary_one_does_not(
    store: Store, site: Site, run: Cli
) -> None:
    site.pages["/new.xml"] = (200, rss(("crue", "La crue")))
    site.pages["/elsewhere.xml"] = (200, rss(("match", "Le match")))
    site.redirects["/old.xml"] = (301, "/new.xml")
    site.redirects["/today.xml"] = (302, site.url + "/elsewhere.xml")
    site.redirects["/ftp.xml"] = (308, "ftp://127.0.0.1/feed.xml")
    moved = pipeline.add_feed(store, site.url + "/old.xml", now=NOW)
    kept = pipeline.add_feed(store, site.url + "/today.xml", now=NOW)
    refused = pipeline.add_feed(store, site.url + "/ftp.xml", now=NOW)

    reports = pipeline.fetch_feeds(store, now=clock)
    assert [r.status for r in reports] == ["ok", "ok", "failed"]
    assert reports[0].report.added == 1 and reports[1].report.added == 1
    assert reports[0].moved == f"moved permanently to {site.url}/new.xml; feed URL updated"
    assert reports[1].moved == "" and "non-http" in reports[2].error
    assert store.get_feed(moved.id or 0).url == site.url + "/new.xml"
    assert store.get_feed(kept.id or 0).url == site.url + "/today.xml"
    assert store.get_feed(refused.id or 0).url == site.url + "/ftp.xml"
    assert {a.title for a in store.articles()} == {"La crue", "Le match"}

    site.requests.clear()
    pipeline.fetch_feeds(store, now=clock, which=str(moved.id))
    assert [path for path, _ in site.requests] == ["/new.xml"]  # straight to the new place

    site.redirects["/older.xml"] = (308, "/new.xml")  # the new place is subscribed already
    older = pipeline.add_feed(store, site.url + "/older.xml", now=NOW)
    result = run("feeds", "fetch", str(older.id))
    assert (
        f"Alwihda Info: added 0, updated 0, unchanged 1, rejected 0; moved permanently to "
        f"{site.url}/new.xml, which is already another feed; URL kept"
    ) in result.stderr
    assert store.get_feed(older.id or 0).url == site.url + "/older.xml"


def test_timeout_and_size_cap(store: Store, site: Site) -> None:
    site.pages["/slow.xml"] = (200, rss(("s", "S")))
    site.slow.add("/slow.xml")
    site.pages["/big.xml"] = (200, rss(*[(f"i{i}", "x" * 100) for i in range(50)]))
    slow = pipeline.add_feed(store, site.url + "/slow.xml", now=NOW)
    big = pipeline.add_feed(store, site.url + "/big.xml", now=NOW)
    [late] = pipeline.fetch_feeds(store, now=clock, which=str(slow.id), timeout=0.3)
    assert "no answer within 0.3 s" in late.error  # the server takes 1 s
    # The size cap on its own, with time to spare even on a loaded machine.
    [large] = pipeline.fetch_feeds(store, now=clock, which=str(big.id), timeout=20, max_bytes=2000)
    assert "larger than" in large.error
    assert store.articles() == []


def test_a_feed_tied_to_a_list_only_feeds_that_lists_editions(store: Store, site: Site) -> None:
    daily = store.add_list(NewsList(slug="daily", name="Daily"), now=NOW)
    sport = store.add_list(NewsList(slug="sport", name="Sport"), now=NOW)
    site.pages["/sport.xml"] = (200, rss(("match", "Le match")))
    pipeline.add_feed(store, site.url + "/sport.xml", list_slug="sport", now=NOW)
    pipeline.fetch_feeds(store, now=clock)
    day = date(2026, 11, 27)
    assert pipeline.load_edition(store, sport, day).article_count == 1
    assert pipeline.load_edition(store, daily, day).article_count == 0


def test_feed_commands(run: Cli, site: Site) -> None:
    site.pages["/feed.xml"] = (200, rss(("crue", "La crue")))
    run("feeds", "add", site.url + "/feed.xml", "--section", "Tchad")
    run("feeds", "add", site.url + "/missing.xml")
    result = run("feeds", "add", site.url + "/feed.xml", ok=False)
    assert result.exit_code == 1 and "already subscribed" in result.stderr
    result = run("feeds", "fetch", ok=False)
    assert result.exit_code == 1
    assert "Alwihda Info: added 1" in result.stderr
    assert f"{site.url}/missing.xml: failed: HTTP 404 Not Found (the feed moved" in result.stderr
    assert "FAILING" not in run("feeds", "list").stdout
    run("feeds", "fetch", "2", ok=False)
    run("feeds", "fetch", "2", ok=False)
    assert "FAILING" in run("feeds", "list").stdout
    [_, missing] = json.loads(run("feeds", "list", "--json").stdout)
    assert missing["failing"] and missing["failures"] == 3
    assert missing["last_error"] == "HTTP 404 Not Found"
    run("feeds", "remove", site.url + "/missing.xml")
    assert "missing" not in run("feeds", "list", "--json").stdout
    shown = run("articles", "show", "https://news.example.com/crue?utm_source=x").stdout
    assert "La crue" in shown and "Tchad" in shown


# -- feeds that are not well-formed XML (issue 10) -----------------------------------------

# A typical French feed: HTML entities that XML never declared, in titles, descriptions
# and the channel's own title.
FRENCH = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
<title>Le Journal du Tchad&nbsp;: l&rsquo;actualit&eacute;</title>
<link>https://journal.example.td/</link><language>fr</language>
<item><title>Ab&eacute;ch&eacute;&nbsp;: la rentr&eacute;e universitaire&hellip;</title>
<link>https://journal.example.td/rentree</link><pubDate>Fri, 27 Nov 2026 05:00:00 GMT</pubDate>
<description>&laquo;&nbsp;Bient&ocirc;t&nbsp;&raquo;, dit-il&hellip;
&lt;b&gt;120&lt;/b&gt; postes</description>
</item>
<item><title>L&rsquo;&eacute;quipe nationale s&rsquo;impose 2&ndash;1</title>
<link>https://journal.example.td/sport</link><pubDate>Fri, 27 Nov 2026 04:00:00 GMT</pubDate>
<description>Victoire &agrave; N&rsquo;Djamena.</description></item>
<item><title>March&eacute;s&nbsp;: le mil recule de 15&nbsp;%</title>
<link>https://journal.example.td/mil</link><pubDate>Fri, 27 Nov 2026 03:00:00 GMT</pubDate>
</item>
</channel></rss>
"""


def test_a_french_feed_with_html_entities_imports_decoded() -> None:
    batch = ingest.read_articles(FRENCH.encode(), name="journal.xml")
    assert not batch.rejected
    titles = [a.title for _, a in batch.articles]
    assert titles == [
        "Abéché\xa0: la rentrée universitaire…",
        "L’équipe nationale s’impose 2–1",
        "Marchés\xa0: le mil recule de 15\xa0%",
    ]
    first = batch.articles[0][1]
    assert first.summary == "«\xa0Bientôt\xa0», dit-il… 120 postes"
    assert first.source == batch.title == "Le Journal du Tchad\xa0: l’actualité"
    # Imported, but the editor hears that the feed is not well-formed.
    assert batch.warnings == [
        "journal.xml: malformed XML: 3:26: undefined entity; read 3 items anyway"
    ]


CORPUS = sorted((Path(__file__).parent / "data" / "feedparser").glob("*.xml"))


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_feedparsers_entity_corpus_imports_as_its_authors_expect(path: Path) -> None:
    """feedparser's own test files (tests/data/feedparser): each title, in a dated item."""
    text = path.read_text(encoding="utf-8")
    expected = ast.literal_eval(re.search(r"feed\['title'\] == (.*)", text).group(1))  # type: ignore[union-attr]
    title = re.search(r"<title>(.*)</title>", text).group(1)  # type: ignore[union-attr]
    assert "&" in title and ";" in title  # an undeclared entity, e.g. &eacute;
    feed = rss(("story", title)).replace(b"<title>Alwihda Info</title>", b"<title>Flux</title>")
    batch = ingest.read_articles(feed, name=path.name)
    [(_, article)] = batch.articles
    assert article.title == expected
    assert batch.warnings and "undefined entity" in batch.warnings[0]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<rss version='2.0'><channel><item><title>x", "malformed XML: 2:42: no element found"),
        (
            b"<rss version='2.0'><channel><item><title>Caf&eacute;</title></item></channel></rss>",
            "undefined entity; no item could be read from it (of 1); bad.xml item 1: no "
            "published or updated date",
        ),
    ],
)
def test_a_broken_feed_is_refused_only_without_a_readable_item(data: bytes, reason: str) -> None:
    with pytest.raises(InputError, match=re.escape(reason)):
        ingest.read_articles(data, name="bad.xml")


def test_feeds_fetch_and_import_say_a_recovered_feed_is_malformed(
    store: Store, site: Site, run: Cli
) -> None:
    site.pages["/journal.xml"] = (200, FRENCH.encode())
    pipeline.add_feed(store, site.url + "/journal.xml", now=NOW)
    [report] = pipeline.fetch_feeds(store, now=clock)
    assert report.status == "ok" and report.report.added == 3
    # The report line names the feed: the warning does not repeat it.
    assert report.report.warnings == ("malformed XML: 3:26: undefined entity; read 3 items anyway",)
    assert run("feeds", "fetch").stderr.splitlines() == [
        f"warning: {report.feed.name}: malformed XML: 3:26: undefined entity; read 3 items anyway",
        f"{report.feed.name}: added 0, updated 0, unchanged 3, rejected 0",
    ]

    path = run.write("journal.xml", FRENCH)
    result = run("articles", "import", str(path))
    assert result.stderr.splitlines() == [
        f"warning: {path}: malformed XML: 3:26: undefined entity; read 3 items anyway",
        "added 0, updated 0, unchanged 3, rejected 0",  # the same items as fetched
    ]


def test_fetch_reads_a_feed_in_the_charset_http_names_and_refuses_false_utf8(
    store: Store, site: Site
) -> None:
    """No XML declaration: HTTP's charset names the encoding; without one it is UTF-8."""
    latin1 = (
        rss(("rentree", "La rentrée à Abéché"))
        .decode()
        .replace('<?xml version="1.0" encoding="utf-8"?>', "")
    )
    site.pages["/latin1.xml"] = (200, latin1.encode("latin-1"))
    site.types["/latin1.xml"] = "text/xml; charset=ISO-8859-1"
    site.pages["/false.xml"] = (200, latin1.encode("latin-1"))
    site.types["/false.xml"] = "application/rss+xml; charset=utf-8"
    pipeline.add_feed(store, site.url + "/latin1.xml", now=NOW)
    pipeline.add_feed(store, site.url + "/false.xml", now=NOW)
    reports = {r.feed.url.rsplit("/", 1)[1]: r for r in pipeline.fetch_feeds(store, now=clock)}
    assert reports["latin1.xml"].status == "ok", reports["latin1.xml"].error
    assert [a.title for a in store.articles()] == ["La rentrée à Abéché"]
    assert reports["false.xml"].status == "failed"
    assert "is UTF-8 by XML's rule, but is not (byte" in reports["false.xml"].error
