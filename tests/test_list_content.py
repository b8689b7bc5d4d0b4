"""A list's own content: articles imported for one list, a list's sections as a filter,
its languages. The edition, the preview and the archive carry only what belongs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from starlette.testclient import TestClient

from digest.config import load_settings
from digest.models import Article, NewsList
from digest.sink import CaptureServer
from digest.web import create_app
from tests.conftest import LOCAL, NOW, Cli, article, received_messages

FRENCH = article(
    url="https://news.example.com/crue", title="La crue du Chari", section="Tchad", language="fr"
)
ENGLISH = article(
    url="https://news.example.com/flood", title="The Chari flood", section="World", language="en"
)
SPORT = article(
    url="https://news.example.com/but", title="Un but tardif", section="Sport", language="fr-TD"
)
UNTAGGED = article(url="https://news.example.com/meteo", title="Météo", section="Tchad")


def two_lists(run: Cli) -> None:
    run("lists", "add", "matin", "--name", "Le Matin", "--locale", "fr")
    run("lists", "add", "morning", "--name", "Morning", "--section", "World")
    for slug in ("matin", "morning"):
        run("subscribers", "add", f"{slug}@example.com", "--list", slug)


def test_articles_imported_for_one_list_are_only_in_its_edition_preview_and_archive(
    run: Cli, smtp_server: CaptureServer, tmp_path: Path
) -> None:
    two_lists(run)
    run("articles", "import", str(run.write("fr.json", [FRENCH])), "--list", "matin")
    run("articles", "import", str(run.write("en.json", [ENGLISH])), "--list", "morning")
    run("articles", "import", str(run.write("all.json", [SPORT])))  # every list

    for slug, mine, other in (
        ("matin", "La crue", "The Chari"),
        ("morning", "The Chari", "La crue"),
    ):
        run("preview", "--list", slug, "--date", "2026-11-27", "--out", str(tmp_path / slug))
        html = (tmp_path / slug / "issue.html").read_text(encoding="utf-8")
        assert mine in html and "Un but tardif" in html and other not in html

    run.env["DIGEST_SMTP_URL"] = smtp_server.url
    for slug in ("matin", "morning"):
        run("send", "--list", slug, "--date", "2026-11-27")
    bodies = {
        str(m["To"]): m.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        for m in received_messages(smtp_server)
    }
    assert "La crue" in bodies["matin@example.com"]
    assert "The Chari" not in bodies["matin@example.com"]
    assert "The Chari" in bodies["morning@example.com"]
    assert "La crue" not in bodies["morning@example.com"]

    settings = load_settings(env=run.env, overrides={"db": run.db_path}, cwd=tmp_path)
    client = TestClient(create_app(settings), base_url=LOCAL)
    page = client.get("/archive/morning/2026-11-27")
    assert page.status_code == 200
    assert "The Chari flood" in page.text and "La crue" not in page.text


def test_reimporting_without_list_keeps_the_tie_and_with_another_list_moves_it(run: Cli) -> None:
    two_lists(run)
    path = str(run.write("fr.json", [FRENCH]))
    run("articles", "import", path, "--list", "matin")
    run("articles", "import", path)  # unchanged, still matin's
    shown = json.loads(run("articles", "show", str(FRENCH["url"]), "--json").stdout)
    assert shown["list"] == "matin"
    moved = run("articles", "import", path, "--list", "morning")
    assert "updated 1" in moved.stderr
    assert "list: morning" in run("articles", "show", str(FRENCH["url"])).stdout
    run("preview", "--list", "matin", "--date", "2026-11-27", "--out", "m")
    assert "La crue" not in (run.tmp_path / "m" / "issue.html").read_text(encoding="utf-8")


def test_an_unknown_list_is_one_line_and_imports_nothing(run: Cli) -> None:
    two_lists(run)
    result = run(
        "articles", "import", str(run.write("fr.json", [FRENCH])), "--list", "nope", ok=False
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == "Error: no list called 'nope'"
    assert json.loads(run("articles", "list", "--json").stdout) == []


def test_only_sections_makes_the_sections_a_filter_and_languages_restrict(run: Cli) -> None:
    two_lists(run)
    run("articles", "import", str(run.write("all.json", [FRENCH, ENGLISH, SPORT, UNTAGGED])))

    def titles(slug: str) -> str:
        run("preview", "--list", slug, "--date", "2026-11-27", "--out", slug)
        return (run.tmp_path / slug / "issue.txt").read_text(encoding="utf-8")

    assert all(t in titles("morning") for t in ("The Chari", "La crue", "Un but", "Météo"))
    shown = json.loads(run("articles", "show", str(ENGLISH["url"]), "--json").stdout)
    assert shown["list"] == "(every list)"
    run("lists", "edit", "morning", "--only-sections")
    text = titles("morning")
    assert "The Chari" in text and "La crue" not in text and "Un but" not in text

    run("lists", "edit", "matin", "--language", "fr")
    text = titles("matin")
    assert "La crue" in text and "Un but tardif" in text  # fr-TD is French
    assert "The Chari" not in text and "Météo" not in text  # no language: left out
    shown = json.loads(run("lists", "show", "matin", "--json").stdout)
    assert shown["languages"] == ["fr"] and shown["only_sections"] is False

    run("lists", "edit", "matin", "--any-language")
    assert "The Chari" in titles("matin")
    run("lists", "edit", "morning", "--all-sections")
    assert "La crue" in titles("morning")


def test_only_sections_without_sections_and_a_bad_language_are_one_line(run: Cli) -> None:
    result = run("lists", "add", "x", "--name", "X", "--only-sections", ok=False)
    assert result.exit_code == 1 and "--only-sections needs the list's sections" in result.stderr
    result = run("lists", "add", "x", "--name", "X", "--language", "fr!", ok=False)
    assert result.exit_code == 1 and "is not a language code" in result.stderr
    assert json.loads(run("lists", "list", "--json").stdout) == []


def test_language_matching_is_rfc4647_basic_filtering() -> None:
    from digest import issue

    assert issue.language_matches("fr-FR", ["fr"]) and issue.language_matches("FR_ca", ["fr"])
    assert not issue.language_matches("frr", ["fr"]) and not issue.language_matches("", ["fr"])
    assert issue.language_matches("pt-BR", ["pt-br"]) and not issue.language_matches(
        "pt", ["pt-BR"]
    )
    news = NewsList(slug="s", name="S", sections=("Sport",), only_sections=True)
    plain = Article(url="https://x.example/a", title="A", published_at=NOW)
    assert not issue.belongs_to(plain, news)  # no section means "News"
    assert issue.belongs_to(plain, replace(news, sections=("news",)))


def test_articles_list_for_a_list_shows_its_next_edition(
    run: Cli, smtp_server: CaptureServer
) -> None:
    """`articles list --list SLUG`: what that list's next edition would hold (issue 14)."""
    two_lists(run)
    run("lists", "add", "weekly", "--name", "La semaine", "--days", "mon", "--language", "fr")
    run("articles", "import", str(run.write("fr.json", [FRENCH])), "--list", "matin")
    run("articles", "import", str(run.write("en.json", [ENGLISH])), "--list", "morning")
    run("articles", "import", str(run.write("all.json", [SPORT, UNTAGGED])))

    def titles(slug: str, *extra: str) -> list[str]:
        shown = run("articles", "list", "--list", slug, *extra, "--json")
        return [a["title"] for a in json.loads(shown.stdout)]

    assert titles("matin") == ["Un but tardif", "Météo", "La crue du Chari"]  # edition order
    assert titles("morning") == ["The Chari flood", "Un but tardif", "Météo"]  # World first
    assert titles("matin", "--section", "sport") == ["Un but tardif"]
    weekly = run("articles", "list", "--list", "weekly")
    assert "weekly/2026-11-30, due 2026-11-30 07:00 UTC" in weekly.stderr  # next Monday
    assert "Un but tardif" in weekly.stdout and "Météo" not in weekly.stdout  # fr only

    run("editions", "edit", "matin", "2026-11-27", "--drop", str(FRENCH["url"]))
    run("editions", "edit", "matin", "2026-11-27", "--lead", str(UNTAGGED["url"]))
    assert titles("matin") == ["Météo", "Un but tardif"]  # the editor's hand applied
    run.env["DIGEST_SMTP_URL"] = smtp_server.url
    run("send", "--list", "matin", "--date", "2026-11-27")
    after = run("articles", "list", "--list", "matin", "--json")
    assert "matin/2026-11-28" in after.stderr and json.loads(after.stdout) == []  # went out

    mixed = run("articles", "list", "--list", "matin", "--date", "2026-11-27", ok=False)
    assert mixed.exit_code == 1 and "editions show" in mixed.stderr
    unknown = run("articles", "list", "--list", "nope", ok=False)
    assert unknown.exit_code == 1 and "no list called 'nope'" in unknown.stderr
