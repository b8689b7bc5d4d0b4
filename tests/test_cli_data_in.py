"""The data-in commands as a user runs them: subscribers, lists, articles, the demo."""

from __future__ import annotations

import json
import sqlite3

from tests.conftest import Cli, article


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
    assert exported == "email,name,lists,locale,timezone,sections\n" + (
        'john@example.org,"Smith, John",daily;weekly,,,\n'
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
