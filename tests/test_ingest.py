"""Article importers: every format, identity on re-import, bad input, random files."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest import ingest, pipeline
from digest.errors import DigestError, InputError
from digest.store import Store
from tests.conftest import NOW, article

RSS2 = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"
     xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Alwihda Info</title><link>https://news.example.com/</link>
<language>fr</language>
<item>
  <title>N'Djamena : la crue du Chari</title>
  <link>https://news.example.com/tchad/crue?utm_source=rss&amp;utm_medium=feed#haut</link>
  <guid isPermaLink="false">alwihda-1001</guid>
  <category>Tchad</category>
  <author>redaction@news.example.com (Mahamat)</author>
  <pubDate>Fri, 13 Nov 2020 18:30:00 +0100</pubDate>
  <description>&lt;p&gt;Le fleuve a encore monté.&lt;/p&gt;</description>
  <content:encoded><![CDATA[<p>Le fleuve a encore monté.</p><script>x()</script>
    <p onclick="x()">Deux sites d'accueil.</p><p>Le fleuve a encore monté.</p>]]></content:encoded>
  <enclosure url="https://news.example.com/i/chari.jpg" type="image/jpeg" length="1"/>
</item>
<item>
  <title>قمة اقتصادية 🚆</title>
  <link>https://news.example.com/afrique/qimma</link>
  <category>Afrique</category>
  <pubDate>Fri, 13 Nov 2020 16:00:00 GMT</pubDate>
  <description>يجتمع وزراء الاقتصاد</description>
  <media:thumbnail url="https://news.example.com/i/qimma.jpg"/>
</item>
<item>
  <title>Le match</title>
  <link>https://news.example.com/sport/match</link>
  <pubDate>Fri, 13 Nov 2020 21:45:00 +0100</pubDate>
  <media:content url="https://news.example.com/i/match.jpg" medium="image"/>
</item>
</channel></rss>
"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
  <title>English News</title>
  <id>urn:feed</id><updated>2020-11-13T09:00:00Z</updated>
  <entry>
    <title type="html">SCO &lt;b&gt;Secretary-General&lt;/b&gt;</title>
    <link href="https://news.example.com/english/sco"/>
    <id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>
    <updated>2020-11-13T09:12:00+01:00</updated>
    <author><name>peoplesdaily</name></author>
    <summary>Short summary.</summary>
    <content type="html">&lt;p&gt;Body text.&lt;/p&gt;</content>
    <category term="English News"/>
    <link rel="enclosure" type="image/jpeg" href="https://news.example.com/i/sco.jpg"/>
  </entry>
</feed>
"""

RSS1 = """<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
  xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://news.example.com/"><title>RDF</title>
    <link>https://news.example.com/</link><description>d</description></channel>
  <item rdf:about="https://news.example.com/rdf/1"><title>RDF item</title>
    <link>https://news.example.com/rdf/1</link><dc:date>2020-11-13T10:00:00+00:00</dc:date>
    <dc:subject>Sport</dc:subject><description>Plain words here.</description></item>
</rdf:RDF>
"""

RSS091 = """<?xml version="1.0"?>
<rss version="0.91"><channel><title>Old</title><link>https://news.example.com/</link>
<description>d</description><language>en-us</language>
<item><title>Old item</title><link>https://news.example.com/old/1</link>
<description>Old words.</description><pubDate>Fri, 13 Nov 2020 10:00:00 GMT</pubDate></item>
</channel></rss>
"""


def _one(data: str | bytes, **kw: object) -> ingest.ArticleBatch:
    raw = data.encode() if isinstance(data, str) else data
    return ingest.read_articles(raw, name="f", **kw)  # type: ignore[arg-type]


def test_rss2_items_map_to_the_contract() -> None:
    batch = _one(RSS2)
    assert not batch.rejected and batch.title == "Alwihda Info"
    crue = batch.articles[0][1]
    assert crue.url == "https://news.example.com/tchad/crue"  # tracking and fragment removed
    assert crue.guid == "alwihda-1001"
    assert crue.section == "Tchad"
    assert crue.published_at == datetime(2020, 11, 13, 17, 30, tzinfo=UTC)
    assert crue.image_url == "https://news.example.com/i/chari.jpg"
    assert crue.image_alt == crue.title
    assert crue.language == "fr" and crue.source == "Alwihda Info"
    assert crue.body_html == "<p>Le fleuve a encore monté.</p><p>Deux sites d'accueil.</p>"
    assert crue.summary == "Le fleuve a encore monté."
    qimma = batch.articles[1][1]
    assert qimma.title == "قمة اقتصادية 🚆"
    assert qimma.image_url == "https://news.example.com/i/qimma.jpg"
    assert qimma.summary == "يجتمع وزراء الاقتصاد"
    match = batch.articles[2][1]
    assert match.image_url == "https://news.example.com/i/match.jpg"
    assert match.section == "" and match.summary == "" and match.body_html == ""


def test_atom_rss1_and_rss091_are_read() -> None:
    sco = _one(ATOM).articles[0][1]
    assert sco.title == "SCO Secretary-General"
    assert sco.summary == "Short summary." and sco.body_html == "<p>Body text.</p>"
    assert sco.author == "peoplesdaily" and sco.language == "en"
    assert sco.section == "English News" and sco.image_url.endswith("/i/sco.jpg")
    assert sco.guid.startswith("urn:uuid:")
    rdf = _one(RSS1).articles[0][1]
    assert (rdf.title, rdf.section, rdf.url) == (
        "RDF item",
        "Sport",
        "https://news.example.com/rdf/1",
    )
    old = _one(RSS091).articles[0][1]
    assert old.language == "en-us" and old.summary == "Old words."


def test_format_is_detected_and_section_can_be_forced() -> None:
    record = article(url="https://news.example.com/x", section="News")
    as_json = json.dumps([record])
    as_jsonl = json.dumps(record) + "\n"
    as_csv = "url;title;section;published_at\r\nhttps://news.example.com/x;A title;News;" + str(
        record["published_at"]
    )
    for data in (as_json, as_jsonl, "\ufeff" + as_csv, RSS2):
        batch = _one(data, section="Forced")
        assert batch.articles and not batch.rejected, data[:20]
        assert {a.section for _, a in batch.articles} == {"Forced"}
    with pytest.raises(InputError, match="invalid JSON"):
        _one(as_jsonl.replace("{", "[", 1), fmt="json")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ('[{"url": "https://n.example/a", "title": "t"', "invalid JSON at line 1"),
        ("<rss><channel><item></rss>", "malformed XML"),
        ("<html><body>hello</body></html>", "not an RSS or Atom feed"),
        ("", "the file is empty"),
        ("url,title,published_at,bogus\n", "unknown column 'bogus'"),
        ("url,title,published_at,url\n", "column 'url' appears twice"),
        ("url,title\nhttps://n.example/a,t\n", "no 'published_at' column"),
        ('url,title,published_at\n"https://n.example/a,t,x\n', "row 2"),
        ("[1, 2]", None),
    ],
)
def test_unreadable_files_give_one_clear_error(data: str, message: str | None) -> None:
    if message is None:  # readable file, every record rejected
        batch = _one(data)
        assert [str(e) for e in batch.rejected] == [
            "f record 1: expected an object",
            "f record 2: expected an object",
        ]
        return
    with pytest.raises(InputError, match=message):
        _one(data)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (article(published_at="2026-11-27T05:00:00"), "field 'published_at': .* has no UTC offset"),
        (article(published_at="yesterday"), "is not an ISO-8601 date-time"),
        (article(published_at="9999-12-31T23:00:00-05:00"), "out of range"),
        (article(title=""), "missing 'title'"),
        ({"title": "t", "published_at": "2026-11-27T05:00:00Z"}, "missing 'url'"),
        (article(url="javascript:alert(1)"), "field 'url': .* is not an http"),
        (article(title="x" * 20_000), "field 'title': longer than"),
        (article(author="A\x00B"), "field 'author': contains a control character"),
        (article(title=7), "field 'title': expected text, got int"),
        (article(language="not a language"), "field 'language'"),
        (article(colour="red"), "unknown field 'colour'"),
    ],
)
def test_bad_records_name_the_record_and_the_field(record: dict[str, object], message: str) -> None:
    batch = _one(json.dumps([article(url="https://n.example/ok"), record]))
    assert len(batch.articles) == 1
    [problem] = batch.rejected
    assert str(problem).startswith("f record 2")
    assert problem.hint
    import re

    assert re.search(message, str(problem)), str(problem)


def test_duplicate_keys_and_lone_surrogates_are_rejected() -> None:
    dup = (
        '[{"url": "https://n.example/a", "title": "a", "title": "b",'
        ' "published_at": "2026-11-27T05:00:00Z"}]'
    )
    [problem] = _one(dup).rejected
    assert "field 'title' appears twice" in str(problem)
    bad = (
        '{"url": "https://n.example/a", "title": "\\ud800", "published_at": "2026-11-27T05:00:00Z"}'
    )
    [problem] = _one(bad).rejected
    assert "f record 1 field 'title'" in str(problem) and "surrogate" in str(problem)


def test_non_utf8_file_is_refused_with_the_byte_offset() -> None:
    with pytest.raises(InputError, match=r"not UTF-8 \(byte 1[0-9]\)"):
        _one('[{"title": "caf\xe9"}]'.encode("latin-1"))


def test_reimport_updates_in_place_by_canonical_url_or_guid(store: Store) -> None:
    first = [
        article(url="https://news.example.com/a?utm_source=x", title="One"),
        article(url="https://news.example.com/b", title="Two", guid="g-2"),
    ]
    report = pipeline.import_articles(store, json.dumps(first), name="f", now=NOW)
    assert (report.added, report.updated, report.unchanged) == (2, 0, 0)
    again = [
        article(url="https://news.example.com/a#comments", title="One"),  # same article
        article(url="https://news.example.com/b-renamed", title="Two!", guid="g-2"),  # same guid
        article(url="https://news.example.com/c", title="Three"),
        {"url": "https://news.example.com/d"},
    ]
    report = pipeline.import_articles(store, json.dumps(again), name="f", now=NOW)
    assert (report.added, report.updated, report.unchanged, report.rejected) == (1, 1, 1, 1)
    urls = sorted(a.url for a in store.articles())
    assert urls == [
        "https://news.example.com/a",
        "https://news.example.com/b-renamed",
        "https://news.example.com/c",
    ]
    assert store.get_article("https://news.example.com/a?utm_campaign=z").title == "One"


def test_strict_writes_nothing_when_a_record_is_bad(store: Store) -> None:
    data = json.dumps([article(url="https://news.example.com/ok"), article(published_at="x")])
    report = pipeline.import_articles(store, data, name="f", now=NOW, strict=True)
    assert report.aborted and report.rejected == 1 and store.articles() == []
    report = pipeline.import_articles(store, data, name="f", now=NOW)
    assert (report.added, report.rejected) == (1, 1) and len(store.articles()) == 1


def _consistent(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        for (url,) in conn.execute("SELECT url FROM articles"):
            assert url.startswith(("http://", "https://"))
    finally:
        conn.close()


_fields = st.sampled_from([*ingest.ARTICLE_FIELDS, "id", "bogus"])
_values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "https://news.example.com/a?utm_source=x",
            "2026-11-27T05:00:00+01:00",
            "2026-11-27T05:00:00",
            "<p onclick=x>a</p><p>a</p>",
            "javascript:alert(1)",
        ]
    ),
    st.integers(),
    st.none(),
)
_records = st.lists(st.dictionaries(_fields, _values, max_size=8), max_size=5)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=_records, fmt=st.sampled_from(["json", "jsonl"]))
def test_random_json_records_import_or_reject_and_the_database_stays_consistent(
    store: Store, records: list[dict[str, object]], fmt: str
) -> None:
    text = (
        json.dumps(records) if fmt == "json" else "\n".join(json.dumps(r) for r in records) or "\n"
    )
    before = len(store.articles())
    try:
        report = pipeline.import_articles(store, text, name="r", now=NOW)
    except DigestError:
        assert len(store.articles()) == before
        return
    assert report.added + report.updated + report.unchanged + report.rejected == len(records)
    assert len(store.articles()) == before + report.added
    _consistent(store.path)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        st.sampled_from([RSS2, ATOM, RSS1, "url,title,published_at\n"]).flatmap(
            lambda doc: st.integers(0, len(doc)).map(lambda n: doc[:n].encode())
        ),
    )
)
def test_random_bytes_import_or_reject_and_the_database_stays_consistent(
    store: Store, data: bytes
) -> None:
    before = len(store.articles())
    try:
        report = pipeline.import_articles(store, data, name="r", now=NOW)
    except DigestError:
        assert len(store.articles()) == before
        return
    assert len(store.articles()) == before + report.added
    _consistent(store.path)


def test_feed_in_a_legacy_encoding_and_every_script_round_trip_through_the_store(
    store: Store,
) -> None:
    latin1 = (
        '<?xml version="1.0" encoding="ISO-8859-1"?><rss version="2.0"><channel><title>Tchad'
        "</title><item><title>Économie : les prix reculent à Abéché</title>"
        "<link>https://news.example.com/eco</link>"
        "<pubDate>Fri, 13 Nov 2020 08:15:00 +0100</pubDate></item></channel></rss>"
    ).encode("latin-1")
    assert pipeline.import_articles(store, latin1, name="f", now=NOW).added == 1
    assert store.get_article("https://news.example.com/eco").title == (
        "Économie : les prix reculent à Abéché"
    )
    records = [
        article(url="https://news.example.com/ar", title="قمة اقتصادية 🚆", language="ar"),
        article(url="https://news.example.com/fr", title="« Déjà » ⚽", language="fr-TD"),
    ]
    pipeline.import_articles(store, json.dumps(records, ensure_ascii=False), name="f", now=NOW)
    ar = store.get_article("https://news.example.com/ar")
    assert (ar.title, ar.language) == ("قمة اقتصادية 🚆", "ar")
    fr = store.get_article("https://news.example.com/fr")
    assert (fr.title, fr.language) == ("« Déjà » ⚽", "fr-TD")


def test_absurd_lengths_are_refused() -> None:
    records = [
        article(url="https://news.example.com/" + "a" * 5000),
        article(body_html="<p>" + "x" * 1_000_001 + "</p>"),
    ]
    batch = _one(json.dumps(records))
    assert [str(e).split(":")[0] for e in batch.rejected] == [
        "f record 1 field 'url'",
        "f record 2 field 'body_html'",
    ]


def test_importers_stay_free_of_database_network_and_cli() -> None:
    import subprocess
    import sys

    forbidden = ("sqlite3", "smtplib", "click", "starlette", "digest.store")
    code = (
        "import sys, digest.ingest, digest.sanitizer, digest.roster;"
        f"print(','.join(m for m in {forbidden!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_absurdly_deep_markup_is_refused_quickly() -> None:
    deep = "<div>" * 5000 + "x" + "</div>" * 5000
    batch = _one(json.dumps([article(body_html=deep), article(url="https://n.example/ok")]))
    assert [str(e) for e in batch.rejected] == [
        "f record 1 field 'body_html': markup nested more than 1000 elements deep"
    ]
    many_paragraphs = "<p>para" * 5000  # unclosed <p> elements do not nest
    assert not _one(json.dumps([article(body_html=many_paragraphs)])).rejected
