"""The data-in commands as a user runs them: subscribers, lists, articles, the demo."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

import pytest

from tests.conftest import Cli, article

HEADER = (
    "email,name,lists,locale,timezone,sections,status,list_status,paused,consent_signed_up_at,"
    "consent_form,consent_form_version,consent_confirmed_at,consent_ip,consent_source"
)


def _setup(run: Cli) -> None:
    run("lists", "add", "daily", "--name", "Daily", "--section", "Tchad")
    run("lists", "add", "weekly", "--name", "Weekly")


def test_subscriber_lifecycle(run: Cli) -> None:
    _setup(run)
    csv_path = run.write(
        "people.csv",
        "\ufeffemail;name;lists\r\namina@EXAMPLE.com;Amina;daily\r\n"
        'john@example.org;"Smith, John";"daily;weekly"\r\n',
    )
    result = run("subscribers", "import", str(csv_path))
    assert "added 2, updated 0, unchanged 0, rejected 0" in result.stderr

    run("subscribers", "unsubscribe", "amina@example.com", "--list", "daily")
    assert run("subscribers", "count", "--list", "daily", "--status", "active").stdout == "1\n"
    counts = json.loads(run("subscribers", "count", "--list", "daily", "--json").stdout)
    assert counts["unsubscribed"] == 1 and counts["total"] == 2

    run("subscribers", "resubscribe", "amina@example.com")
    run("subscribers", "set-sections", "john@example.org", "--list", "daily", "--section", "Tchad")
    shown = json.loads(run("subscribers", "show", "john@example.org", "--json").stdout)
    assert shown["sections"] == {"daily": ["Tchad"], "weekly": []}
    assert shown["list_status"] == {"daily": "active", "weekly": "active"}
    assert shown["paused"] is False

    run("subscribers", "unsubscribe", "john@example.org")
    listed = json.loads(run("subscribers", "list", "--status", "unsubscribed", "--json").stdout)
    assert [s["email"] for s in listed] == ["john@example.org"]

    # bounced (as the delivery side records it): resubscribe refused without --force
    conn = sqlite3.connect(run.db_path)
    conn.execute("UPDATE subscribers SET status = 'bounced' WHERE email = 'amina@example.com'")
    conn.commit()
    conn.close()
    result = run("subscribers", "resubscribe", "amina@example.com", ok=False)
    assert result.exit_code == 1 and "bounced" in result.stderr and "--force" in result.stderr
    run("subscribers", "resubscribe", "amina@example.com", "--force")

    exported = run("subscribers", "export", "--list", "weekly").stdout
    assert exported == HEADER + "\n" + (
        'john@example.org,"Smith, John",weekly,,,,unsubscribed,unsubscribed,,,,,,,admin\n'
    )


def test_remove_keeps_a_hash_and_forget_drops_it(run: Cli) -> None:
    _setup(run)
    run("subscribers", "add", "amina@example.com", "--list", "daily")
    run("subscribers", "remove", "amina@example.com")
    conn = sqlite3.connect(run.db_path)
    dump = "\n".join(conn.iterdump())
    conn.close()
    assert "amina" not in dump
    result = run("subscribers", "add", "amina@example.com", "--list", "daily", ok=False)
    assert "removed at their request" in result.stderr
    path = run.write("again.csv", "email,lists\namina@example.com,daily\n")
    result = run("subscribers", "import", str(path), ok=False)
    assert result.exit_code == 1 and "row 2" in result.stderr
    run("subscribers", "remove", "amina@example.com", "--forget")
    run("subscribers", "import", str(path))


def test_bad_rows_exit_1_with_row_numbers_and_strict_imports_nothing(run: Cli) -> None:
    _setup(run)
    run.write("p.csv", 'email,name\nok@example.com,Ok\nbad-address,X\nx@example.com,"A\rB"\n')
    result = run("subscribers", "import", "p.csv", "--list", "daily", "--strict", ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "rejected: p.csv row 3 field 'email'" in result.stderr
    assert "rejected: p.csv row 4 field 'name'" in result.stderr
    assert "nothing imported (--strict)" in result.stderr
    assert run("subscribers", "count").stdout == "0\n"
    result = run("subscribers", "import", "p.csv", "--list", "daily", ok=False)
    assert "added 1" in result.stderr and run("subscribers", "count").stdout == "1\n"


def test_lists_show_edit_and_remove(run: Cli) -> None:
    _setup(run)
    run("subscribers", "add", "amina@example.com", "--list", "weekly")
    run("lists", "edit", "weekly", "--send-at", "06:30", "--section", "Sport")
    shown = json.loads(run("lists", "show", "weekly", "--json").stdout)
    assert shown["send_at"] == "06:30" and shown["sections"] == ["Sport"]
    assert shown["subscribers"] == 1
    result = run("lists", "remove", "weekly", ok=False)
    assert result.exit_code == 1 and "still has 1 subscribers" in result.stderr
    run("lists", "remove", "weekly", "--force")
    run("lists", "remove", "daily")
    assert json.loads(run("lists", "list", "--json").stdout) == []


def test_articles_import_list_show_remove(run: Cli) -> None:
    records = [
        article(url="https://news.example.com/a?utm_source=x", title="Crue", section="Tchad"),
        article(url="https://news.example.com/b", title="Match", section="Sport"),
        article(url="ftp://news.example.com/c", title="Bad"),
    ]
    path = run.write("a.json", records)
    result = run("articles", "import", str(path), ok=False)
    assert result.exit_code == 1
    assert "added 2, updated 0, unchanged 0, rejected 1" in result.stderr
    assert "a.json record 3 field 'url'" in result.stderr
    result = run("articles", "import", "-", "--format", "jsonl", input=json.dumps(records[0]))
    assert "unchanged 1" in result.stderr
    listed = json.loads(run("articles", "list", "--section", "sport", "--json").stdout)
    assert [a["title"] for a in listed] == ["Match"]
    assert len(json.loads(run("articles", "list", "--date", "2026-11-27", "--json").stdout)) == 2
    run("articles", "remove", "https://news.example.com/a")
    result = run("articles", "show", "https://news.example.com/a", ok=False)
    assert result.exit_code == 1 and "no article" in result.stderr


def test_malformed_files_end_in_one_line_and_write_nothing(run: Cli) -> None:
    for name, content in [
        ("bad.json", '[{"url": '),
        ("bad.xml", "<rss><channel><item>"),
        ("bad.csv", 'url,title,published_at\n"unterminated'),
    ]:
        run.write(name, content)
        result = run("articles", "import", name, ok=False)
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert result.stderr.startswith("Error: " + name), result.stderr
        assert "Hint:" in result.stderr
    (run.tmp_path / "latin1.json").write_bytes('[{"title": "café"}]'.encode("latin-1"))
    result = run("articles", "import", str(run.tmp_path / "latin1.json"), ok=False)
    assert "not UTF-8" in result.stderr
    assert json.loads(run("articles", "list", "--json").stdout) == []


def test_demo_imports_the_cleaned_sample(run: Cli) -> None:
    run("demo", "--date", "2026-11-27")
    run.db_path = run.tmp_path / "digest-demo" / "demo.db"  # the demo's own database
    shown = json.loads(
        run(
            "articles",
            "show",
            "https://news.example.com/english-news/sco-secretary-general-shanghai-spirit",
            "--json",
        ).stdout
    )
    body = shown["body_html"]
    assert body.count("A special railway designed for the SCO") == 1
    assert body.count("In the first three quarters of this year") == 1
    assert shown["image_alt"] == shown["title"]  # the sample gives no alt text
    crue = run(
        "articles", "show", "https://news.example.com/tchad/ndjamena-crue-chari-quartiers-sud"
    )
    assert "utm_source" not in crue.stdout


def _consent_site(run: Cli) -> None:
    """Subscribers in every state an export has to carry (issue 11.3)."""
    _setup(run)
    run.write(
        "people.csv",
        "email,name,lists,locale,timezone,sections\n"
        'amina@example.com,"Mahamat, Amina",daily,fr,Africa/Ndjamena,Tchad;Sport\n'
        "amina@example.com,,weekly,,,\n"
        "john@example.org,John,daily;weekly,en,,\n"
        "zoe@example.net,Zoé,daily,,,\n"
        "kim@example.com,Kim,weekly,,,Sport\n"
        "lee@example.com,Lee,daily;weekly,,,\n"
        "pat@example.com,Pat,daily,,,\n"
        "ned@example.com,Ned,,,,\n",
    )
    run("subscribers", "import", "people.csv")
    run("subscribers", "unsubscribe", "john@example.org")  # everything
    run("subscribers", "unsubscribe", "lee@example.com", "--list", "weekly")  # one list
    conn = sqlite3.connect(run.db_path)
    with conn:
        conn.execute("UPDATE subscribers SET status = 'bounced' WHERE email = 'zoe@example.net'")
        conn.execute("UPDATE subscribers SET status = 'complained' WHERE email LIKE 'kim@%'")
        conn.execute(
            "UPDATE subscribers SET paused_at = '2026-11-20T08:00:00+00:00'"
            " WHERE email LIKE 'pat@%'"
        )
    conn.close()


def _consent(run: Cli, email: str) -> tuple[str, dict[str, str], dict[str, list[str]], bool]:
    shown = json.loads(run("subscribers", "show", email, "--json").stdout)
    return shown["status"], shown["list_status"], shown["sections"], shown["paused"]


def test_export_then_import_into_an_empty_database_then_export_is_identical(run: Cli) -> None:
    _consent_site(run)
    first = run("subscribers", "export").stdout
    assert first.splitlines()[0] == HEADER
    assert (
        'amina@example.com,"Mahamat, Amina",daily,fr,Africa/Ndjamena,Tchad;Sport,active,active,'
        in first
    )
    assert "john@example.org,John,weekly,en,,,unsubscribed,unsubscribed,,,,,,,admin" in first
    assert "lee@example.com,Lee,weekly,,,,active,unsubscribed,,,,,,,admin" in first
    assert "ned@example.com,Ned,,,,,active,,,,,,,,\n" in first
    run.write("backup.csv", first)
    people = ("john@example.org", "zoe@example.net", "kim@example.com", "lee@example.com",
              "pat@example.com", "amina@example.com")  # fmt: skip
    original = {e: _consent(run, e) for e in people}

    run.db_path = run.tmp_path / "restored.db"
    run("init")  # only init creates a database (issue 11, item 5)
    _setup(run)
    result = run("subscribers", "import", "backup.csv")
    assert "added 7, " in result.stderr and "rejected 0" in result.stderr
    assert run("subscribers", "export").stdout == first
    assert {e: _consent(run, e) for e in original} == original
    assert original["john@example.org"][0] == "unsubscribed"
    assert original["lee@example.com"][1] == {"daily": "active", "weekly": "unsubscribed"}
    assert original["amina@example.com"][2] == {"daily": ["Tchad", "Sport"], "weekly": []}
    assert original["pat@example.com"][3] is True
    assert run("subscribers", "count", "--list", "weekly", "--status", "active").stdout == "1\n"


def test_import_never_reactivates_without_resubscribe_and_says_how_many_it_kept(
    run: Cli,
) -> None:
    _consent_site(run)
    before = run("subscribers", "export").stdout
    # the site's old mailing-list file, and one that says "active" outright
    run.write(
        "old.csv",
        "email,name,lists\n"
        "john@example.org,John,daily;weekly\n"
        "zoe@example.net,,daily\n"
        "kim@example.com,,weekly\n"
        "lee@example.com,,weekly\n"
        "amina@example.com,,daily\n",
    )
    run.write(
        "active.csv",
        "email,lists,status,list_status\n"
        "john@example.org,daily,active,active\n"
        "lee@example.com,weekly,active,active\n",
    )
    for name, kept in (("old.csv", 4), ("active.csv", 2)):
        result = run("subscribers", "import", name)
        assert f"kept {kept} unsubscribed, bounced or complained" in result.stderr, result.stderr
        assert "--resubscribe" in result.stderr
        assert run("subscribers", "export").stdout == before
    assert run("subscribers", "count", "--status", "active").stdout == "4\n"

    # a file may stop mail: its unsubscribe is applied
    run.write("stop.csv", "email,lists,status,list_status\namina@example.com,daily,,unsubscribed\n")
    run("subscribers", "import", "stop.csv")
    assert _consent(run, "amina@example.com")[1] == {"daily": "unsubscribed", "weekly": "active"}

    result = run("subscribers", "import", "old.csv", "--resubscribe")
    assert "kept" not in result.stderr
    for email in ("john@example.org", "zoe@example.net", "kim@example.com", "lee@example.com"):
        status, lists, _, _ = _consent(run, email)
        assert status == "active" and set(lists.values()) == {"active"}, (email, lists)


def test_a_subscribers_file_that_is_not_utf8_is_one_line_naming_the_line(run: Cli) -> None:
    _setup(run)
    path = run.tmp_path / "latin1.csv"
    path.write_bytes("email,name\nok@example.com,Ok\nx@example.com,Zoé\n".encode("latin-1"))
    result = run("subscribers", "import", str(path), "--list", "daily", ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith(f"Error: {path}: not UTF-8 (line 3, byte 17)")
    assert run("subscribers", "count").stdout == "0\n"  # nothing half written
    result = run("subscribers", "import", "-", "--list", "daily", input="email\nin@example.com\n")
    assert "added 1" in result.stderr


# -- encodings (issue 10): what a file says about itself decides -----------------------------

TITLE = "Abéché : la rentrée — قمة في نجامينا"


def feed_text(encoding: str, title: str = TITLE) -> str:
    declaration = f' encoding="{encoding}"' if encoding else ""
    return (
        f'<?xml version="1.0"{declaration}?>\n<rss version="2.0"><channel><title>Journal</title>'
        f"<item><title>{title}</title><link>https://journal.example.td/a</link>"
        "<pubDate>Fri, 27 Nov 2026 05:00:00 GMT</pubDate></item></channel></rss>\n"
    )


def imported_titles(run: Cli) -> list[str]:
    return [a["title"] for a in json.loads(run("articles", "list", "--json").stdout)]


@pytest.mark.parametrize(
    ("declared", "data"),
    [
        ("UTF-16", lambda t: t.encode("utf-16")),  # little-endian BOM
        ("UTF-16", lambda t: b"\xfe\xff" + t.encode("utf-16-be")),
        ("UTF-16LE", lambda t: t.encode("utf-16-le")),  # no BOM: the "<?" bytes tell
        ("UTF-16BE", lambda t: t.encode("utf-16-be")),
        ("UTF-32", lambda t: t.encode("utf-32")),
        ("UTF-32BE", lambda t: t.encode("utf-32-be")),
        ("UTF-8", lambda t: t.encode("utf-8-sig")),
        ("UTF-16", lambda t: t.encode("utf-8")),  # a wrong declaration: the bytes win
    ],
    ids=[
        "utf16-bom-le",
        "utf16-bom-be",
        "utf16le",
        "utf16be",
        "utf32-bom",
        "utf32be",
        "utf8-bom",
        "utf8-declared-utf16",
    ],
)
def test_unicode_feed_files_are_read_in_their_encoding(
    run: Cli, declared: str, data: Callable[[str], bytes]
) -> None:
    """`digest articles import` refused these ("not UTF-8") or read them as CSV."""
    (run.tmp_path / "feed.xml").write_bytes(data(feed_text(declared)))
    result = run("articles", "import", str(run.tmp_path / "feed.xml"))
    assert "added 1, updated 0, unchanged 0, rejected 0" in result.stderr
    assert imported_titles(run) == [TITLE]


@pytest.mark.parametrize(
    ("declared", "title"),
    [("ISO-8859-1", "La rentrée à Abéché"), ("windows-1256", "قمة اقتصادية في نجامينا")],
)
def test_a_feed_is_read_in_the_encoding_its_declaration_names(
    run: Cli, declared: str, title: str
) -> None:
    (run.tmp_path / "feed.xml").write_bytes(feed_text(declared, title).encode(declared))
    run("articles", "import", str(run.tmp_path / "feed.xml"))
    assert imported_titles(run) == [title]


def test_json_and_csv_with_a_utf16_bom_are_read(run: Cli) -> None:
    record = article(url="https://news.example.com/j", title=TITLE)
    (run.tmp_path / "a.json").write_bytes(json.dumps([record], ensure_ascii=False).encode("utf-16"))
    csv_text = f"url,title,published_at\nhttps://news.example.com/c,{TITLE},2026-11-27T05:00:00Z\n"
    (run.tmp_path / "a.csv").write_bytes(csv_text.encode("utf-16"))
    (run.tmp_path / "people.csv").write_bytes(
        "email,name\nfatime@example.org,Fatimé\n".encode("utf-16")
    )
    run("articles", "import", str(run.tmp_path / "a.json"))
    run("articles", "import", str(run.tmp_path / "a.csv"))
    assert imported_titles(run) == [TITLE, TITLE]
    run("lists", "add", "daily", "--name", "Daily")
    result = run("subscribers", "import", str(run.tmp_path / "people.csv"), "--list", "daily")
    assert "added 1" in result.stderr
    shown = json.loads(run("subscribers", "show", "fatime@example.org", "--json").stdout)
    assert shown["name"] == "Fatimé"


def test_a_latin1_feed_that_claims_utf8_is_refused_unless_its_encoding_is_given(
    run: Cli,
) -> None:
    """Refused, not guessed: a guess that fits a French Latin-1 feed garbles an Arabic
    Windows-1256 one. `--encoding` imports a file whose real encoding is known."""
    title = "La rentrée à Abéché — “enfin”"
    path = run.tmp_path / "old-cms.xml"
    for declared in ("utf-8", ""):
        data = feed_text(declared, title).encode("windows-1252")
        path.write_bytes(data)
        result = run("articles", "import", str(path), ok=False)
        assert result.exit_code == 1 and "Traceback" not in result.output
        first = result.stderr.splitlines()[0]
        assert first.startswith(f"Error: {path}: ")
        at = data.index("é".encode("windows-1252"))
        assert f"but is not (byte {at}: 0xe9)" in first, first
        assert "--encoding windows-1252" in result.stderr
    assert imported_titles(run) == []
    run("articles", "import", str(path), "--encoding", "windows-1252")
    assert imported_titles(run) == [title]
    result = run("articles", "import", str(path), "--encoding", "klingon", ok=False)
    assert "unknown encoding 'klingon'" in result.stderr
