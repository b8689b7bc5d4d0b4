"""Silent mistakes made loud (issue 11, item 5): each is one line, an error or a warning."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import urllib.request

import pytest

from tests.conftest import Cli, article, without_digest_env


@pytest.mark.parametrize("locale", ["english", "xx-YY"])
def test_an_unknown_locale_is_refused_naming_the_choices(run: Cli, locale: str) -> None:
    result = run("lists", "add", "daily", "--name", "D", "--locale", locale, ok=False)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == f"Error: --locale: {locale!r} is not a known language code"
    assert lines[1].startswith("Hint: use a code such as ar, en, fr")
    assert "created" not in result.stderr and len(lines) == 2
    run("lists", "add", "daily", "--name", "D")
    edit = run("lists", "edit", "daily", "--locale", locale, ok=False)
    assert edit.exit_code == 1 and "is not a known language code" in edit.stderr
    assert '"locale": "en"' in run("lists", "show", "daily", "--json").stdout


def test_a_locale_without_a_catalogue_is_kept_with_a_warning_naming_the_catalogues(
    run: Cli,
) -> None:
    result = run("lists", "add", "daily", "--name", "D", "--locale", "zh")
    assert "created list daily" in result.stderr
    assert (
        "warning: --locale: no message catalogue for 'zh', so its mail keeps the English "
        "text (catalogues: ar, en, fr)"
    ) in result.stderr
    quiet = run("lists", "edit", "daily", "--locale", "fr-CA")  # falls back to fr's catalogue
    assert "warning" not in quiet.stderr


DB_COMMANDS = [
    ["lists", "list"],
    ["lists", "add", "daily", "--name", "D"],
    ["subscribers", "add", "amina@example.com"],
    ["subscribers", "count"],
    ["articles", "list"],
    ["feeds", "list"],
    ["preview", "--out", "preview"],
    ["send", "--date", "2026-11-27"],
    ["send", "--date", "2026-11-27", "--dry-run"],
    ["send", "--date", "2026-11-27", "--to", "editor@example.com"],
    ["schedule", "--run-due", "--now", "2026-11-27T07:00:00+00:00"],
    ["serve", "--port", "{busy}"],  # a taken port: without the check it fails differently
]


@pytest.mark.parametrize("args", DB_COMMANDS, ids=" ".join)
def test_a_wrong_db_path_is_refused_and_never_created(run: Cli, args: list[str]) -> None:
    typo = run.tmp_path / "subscriber.db"  # one letter off the real one
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        result = run("--db", str(typo), *[a.replace("{busy}", port) for a in args], ok=False)
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[0] == f"Error: no database at {typo}"
    assert "digest --db" in result.stderr and "init" in result.stderr  # the hint
    assert "Traceback" not in result.output
    assert not typo.exists()


def test_init_creates_the_database_the_other_commands_then_use(run: Cli) -> None:
    fresh = run.tmp_path / "news.db"
    run("--db", str(fresh), "init")
    assert fresh.is_file()
    assert run("--db", str(fresh), "lists", "list", "--json").stdout.strip() == "[]"


def test_set_sections_refuses_an_unknown_section_naming_the_known_ones(run: Cli) -> None:
    run("lists", "add", "daily", "--name", "D", "--section", "Tchad", "--section", "Sport")
    run("subscribers", "add", "amina@example.com", "--list", "daily")
    articles = run.write("a.json", [article(section="Économie")])
    run("articles", "import", str(articles))
    result = run(
        "subscribers", "set-sections", "amina@example.com", "--list", "daily",
        "--section", "Sprot", ok=False,
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: --section: 'Sprot' is not a section of daily",
        "Hint: sections: Tchad, Sport, Économie",
    ]
    saved = run(
        "subscribers", "set-sections", "amina@example.com", "--list", "daily",
        "--section", "sport", "--section", "Économie",
    )  # fmt: skip
    assert "amina@example.com gets Sport, Économie of daily" in saved.stderr


def test_serve_port_0_prints_the_port_it_really_listens_on(run: Cli) -> None:
    command = [sys.executable, "-m", "digest", "--db", str(run.db_path), "serve", "--port", "0"]
    server = subprocess.Popen(command, env=without_digest_env(), stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        found = re.fullmatch(r"serving on http://127\.0\.0\.1:(\d+)/ \(Ctrl-C stops\)\n", line)
        assert found, line
        port = int(found[1])
        assert port != 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
            assert answer.read() == b"ok"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_serve_on_a_port_in_use_is_one_line(run: Cli) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("serve", "--port", str(port), ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.splitlines()[0].startswith(f"Error: cannot listen on 127.0.0.1:{port}")
