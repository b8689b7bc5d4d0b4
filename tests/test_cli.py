"""The command line: help with examples, one-line errors, exit codes, admin commands."""

from __future__ import annotations

import csv
import io
import json

import click
import pytest

from digest.cli import cli
from tests.conftest import Cli, article


def all_commands() -> list[list[str]]:
    found: list[list[str]] = []

    def walk(command: click.Command, path: list[str]) -> None:
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
        else:
            found.append(path)

    walk(cli, [])
    return found


@pytest.mark.parametrize("path", all_commands(), ids=" ".join)
def test_every_command_has_help_with_an_example(run: Cli, path: list[str]) -> None:
    result = run(*path, "--help")
    assert "Example" in result.output and "digest " in result.output.split("Example")[1]


def test_user_error_is_one_line_with_hint_and_exit_1(run: Cli) -> None:
    result = run("lists", "add", "daily", "--name", "D", "--timezone", "Mars/Olympus", ok=False)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: unknown time zone 'Mars/Olympus'",
        "Hint: use an IANA name such as Africa/Ndjamena or UTC",
    ]


def test_usage_error_exits_2(run: Cli) -> None:
    result = run("lists", "add", "daily", ok=False)  # --name missing
    assert result.exit_code == 2 and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["send", "--date", "27/11/2026"], "--date: '27/11/2026' is not a date"),
        (["subscribers", "add", "not-an-address"], "is not a valid address"),
        (["send"], "there are no lists yet"),
        (["lists", "add", "x", "--name", "X", "--send-at", "7h"], "is not a time"),
        (["articles", "import", "missing.json"], "no such file"),
    ],
)
def test_bad_input_never_shows_a_traceback(run: Cli, args: list[str], message: str) -> None:
    result = run(*args, ok=False)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.output


def test_lists_and_subscribers_round_trip(run: Cli) -> None:
    run(
        "lists",
        "add",
        "daily",
        "--name",
        "Le Quotidien",
        "--send-at",
        "06:30",
        "--timezone",
        "Africa/Ndjamena",
        "--locale",
        "fr",
        "--section",
        "Tchad",
        "--section",
        "Sport",
    )
    [lst] = json.loads(run("lists", "list", "--json").stdout)
    assert lst["send_at"] == "06:30" and lst["sections"] == ["Tchad", "Sport"]
    assert run("lists", "add", "daily", "--name", "Again", ok=False).exit_code == 1

    run("subscribers", "add", "Amina@Example.COM", "--name", "Amina", "--list", "daily")
    run("subscribers", "add", "Amina@EXAMPLE.com", "--list", "daily")  # same person
    run.write(
        "more.csv",
        "email,name,lists,locale,timezone,sections\n"
        'bob@example.org,"Smith, Bob",daily,en,Europe/London,Sport;Tchad\n',
    )
    run("subscribers", "import", "more.csv")
    people = json.loads(run("subscribers", "list", "--list", "daily", "--json").stdout)
    assert [p["email"] for p in people] == ["Amina@example.com", "bob@example.org"]

    exported = list(csv.DictReader(io.StringIO(run("subscribers", "export").stdout)))
    assert exported[1] == {
        "email": "bob@example.org",
        "name": "Smith, Bob",
        "lists": "daily",
        "locale": "en",
        "timezone": "Europe/London",
        "sections": "Sport;Tchad",
        "status": "active",
        "list_status": "active",
        "paused": "",
        "consent_signed_up_at": "",
        "consent_form": "",
        "consent_form_version": "",
        "consent_confirmed_at": "",
        "consent_ip": "",
        "consent_source": "admin",
    }
    run("subscribers", "remove", "bob@example.org")
    assert len(json.loads(run("subscribers", "list", "--json").stdout)) == 1


def test_bad_csv_row_imports_nothing_with_strict(run: Cli) -> None:
    # issue 3: by default the valid rows are imported (exit 1); --strict imports none
    run("lists", "add", "daily", "--name", "D")
    run.write("bad.csv", "email,name\nok@example.com,Ok\nbroken,Bad\n")
    result = run("subscribers", "import", "bad.csv", "--list", "daily", "--strict", ok=False)
    assert result.exit_code == 1 and "row 3" in result.stderr
    assert json.loads(run("subscribers", "list", "--json").stdout) == []


def test_articles_import_and_list(run: Cli) -> None:
    run.write(
        "a.jsonl",
        "\n".join(
            json.dumps(
                article(
                    url=f"https://x.test/{i}",
                    title=f"T{i}",
                    published_at=f"2026-11-2{i}T10:00:00+01:00",
                )
            )
            for i in range(3, 6)
        ),
    )
    assert "added 3" in run("articles", "import", "a.jsonl").stderr
    assert "unchanged 3" in run("articles", "import", "a.jsonl").stderr
    day = json.loads(run("articles", "list", "--date", "2026-11-24", "--json").stdout)
    assert [a["title"] for a in day] == ["T4"]
    run.write("naive.json", [article(published_at="2026-11-27T10:00:00")])
    result = run("articles", "import", "naive.json", ok=False)
    assert "has no UTC offset" in result.stderr
    assert len(json.loads(run("articles", "list", "--json").stdout)) == 3


def test_preview_files_are_filled_in_for_a_sample_reader(run: Cli) -> None:
    """`digest preview --out` files showed `[[email]]` and `[[unsubscribe_url]]` (issue 14):
    they are filled in for reader@example.com, as the preview server fills in its pages."""
    run("lists", "add", "matin", "--name", "Le Matin", "--locale", "fr")
    run("articles", "import", str(run.write("a.json", [article(title="La crue du Chari")])))
    run("preview", "--list", "matin", "--date", "2026-11-27", "--out", "p")
    files = {s: (run.tmp_path / "p" / f"issue.{s}").read_text("utf-8") for s in ("html", "txt")}
    files["mjml"] = (run.tmp_path / "p" / "issue.mjml").read_text("utf-8")
    base = run.env.get("DIGEST_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
    for suffix, body in files.items():
        assert "[[" not in body, suffix
        assert "La crue du Chari" in body
    for suffix in ("html", "txt"):
        assert "reader@example.com parce que" in files[suffix], suffix
        assert f"{base}/u/" in files[suffix] and f"{base}/p/" in files[suffix], suffix
