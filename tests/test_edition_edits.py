"""The editor's hand: lead, drops, pins, note and subject stored per edition, applied to
the edition everywhere it is shown or sent, never changing the articles."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

from starlette.testclient import TestClient

from digest import issue
from digest.config import load_settings
from digest.models import Article, EditionEdits, NewsList
from digest.sink import CaptureServer
from digest.web import create_app
from tests.conftest import LOCAL, Cli, article, received_messages

BASE = "https://news.example.com/"
STORIES = [
    article(
        url=BASE + "crue",
        title="Flood story",
        section="Tchad",
        published_at="2026-11-27T06:00:00+00:00",
    ),
    article(
        url=BASE + "budget",
        title="Budget story",
        section="Tchad",
        published_at="2026-11-27T05:00:00+00:00",
    ),
    article(
        url=BASE + "route",
        title="Road story",
        section="Tchad",
        published_at="2026-11-27T04:00:00+00:00",
    ),
    article(
        url=BASE + "but",
        title="Goal story",
        section="Sport",
        published_at="2026-11-27T03:00:00+00:00",
        image_url="https://img.example.com/but.jpg",
    ),
    article(
        url=BASE + "match",
        title="Match story",
        section="Sport",
        published_at="2026-11-27T02:00:00+00:00",
    ),
]
NOTE = (
    "A **special** edition: [the river](https://news.example.com/chari) rose."
    "\n\n<script>alert(1)</script>"
)


def newsroom(run: Cli) -> None:
    run("lists", "add", "daily", "--name", "Daily", "--section", "Tchad", "--section", "Sport")
    run("subscribers", "add", "amina@example.com", "--list", "daily")
    run("articles", "import", str(run.write("a.json", STORIES)))


def preview(run: Cli, name: str) -> tuple[str, str]:
    run("preview", "--list", "daily", "--date", "2026-11-27", "--out", name)
    folder = run.tmp_path / name
    return (folder / "issue.html").read_text(encoding="utf-8"), (folder / "issue.txt").read_text(
        encoding="utf-8"
    )


def order(text: str, *titles: str) -> list[int]:
    return [text.index(t) for t in titles]


def test_lead_drop_pin_note_and_subject_shape_preview_send_and_archive(
    run: Cli, smtp_server: CaptureServer, tmp_path: Path
) -> None:
    newsroom(run)
    articles_before = run("articles", "list", "--json").stdout
    html, text = preview(run, "before")
    assert 'class="lead-img"' not in html  # the usual top story has no image: no lead
    assert "Road story" in text and sorted(order(text, "Flood", "Budget", "Road")) == order(
        text, "Flood", "Budget", "Road"
    )

    road_id = next(a["id"] for a in json.loads(articles_before) if a["url"] == BASE + "route")
    edited = run(
        "editions", "edit", "daily", "2026-11-27",
        "--lead", BASE + "but",
        "--drop", str(road_id),
        "--pin", BASE + "budget",
        "--note", NOTE,
        "--subject", "The river rises",
        "--json",
    )  # fmt: skip
    assert "edited daily/2026-11-27: lead set, 1 dropped, 1 pinned" in edited.stderr
    shown = json.loads(edited.stdout)
    assert [(s["title"], s["state"]) for s in shown["stories"]] == [
        ("Goal story", "lead"),
        ("Match story", ""),
        ("Budget story", "pinned"),
        ("Flood story", ""),
    ]
    assert shown["dropped"] == [BASE + "route"] and shown["subject"] == "The river rises"
    assert json.loads(run("editions", "show", "daily", "2026-11-27", "--json").stdout) == shown

    html, text = preview(run, "after")
    assert "Road story" not in html and "Road story" not in text
    assert '<img class="lead-img" src="https://img.example.com/but.jpg" alt="Goal story"' in html
    assert html.index("Goal story") < html.index("Budget story") < html.index("Flood story")
    assert "<strong>special</strong>" in html and 'href="https://news.example.com/chari"' in html
    assert "<script" not in html and "&lt;script&gt;alert(1)" in html  # raw HTML: shown as text
    assert html.index("From the editors") < html.index('class="lead-img"')
    assert "<title>The river rises</title>" in html
    assert text.index("From the editors:") < text.index("Goal story")
    assert "A **special** edition" in text  # the text part carries the note as written
    assert run("articles", "list", "--json").stdout == articles_before  # articles untouched

    run.env["DIGEST_SMTP_URL"] = smtp_server.url
    run("send", "--list", "daily", "--date", "2026-11-27")
    [mail] = received_messages(smtp_server)
    assert mail["Subject"] == "The river rises"
    body = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Road story" not in body and "From the editors:" in body

    settings = load_settings(env=run.env, overrides={"db": run.db_path}, cwd=tmp_path)
    page = TestClient(create_app(settings), base_url=LOCAL).get("/archive/daily/2026-11-27")
    assert page.status_code == 200 and "Road story" not in page.text
    assert "<strong>special</strong>" in page.text

    late = run("editions", "edit", "daily", "2026-11-27", "--note", "too late", ok=False)
    assert late.exit_code == 1
    assert late.stderr.splitlines()[0] == (
        "Error: daily/2026-11-27 began going out: it can no longer be edited"
    )


def test_the_note_is_translated_and_clearing_restores_the_edition(run: Cli) -> None:
    newsroom(run)
    run("lists", "edit", "daily", "--locale", "fr")
    plain_html, _ = preview(run, "plain")
    run("editions", "edit", "daily", "2026-11-27", "--note", "Bonjour", "--drop", BASE + "crue")
    html, text = preview(run, "noted")
    assert "Le mot de la rédaction" in html and "Le mot de la rédaction:" in text
    cleared = run("editions", "edit", "daily", "2026-11-27", "--clear")
    assert "no edits" in cleared.stderr
    assert preview(run, "again")[0] == plain_html
    assert json.loads(run("editions", "show", "daily", "2026-11-27", "--json").stdout)["note"] == ""


def test_bad_edits_are_one_line_and_change_nothing(run: Cli) -> None:
    newsroom(run)
    run(
        "articles",
        "import",
        str(
            run.write(
                "old.json", [article(url=BASE + "old", published_at="2026-11-20T05:00:00+00:00")]
            )
        ),
    )
    run("lists", "add", "weekly", "--name", "W", "--days", "mon")
    day = ["daily", "2026-11-27"]
    cases = [
        ([*day, "--drop", BASE + "nope"], f"Error: no article {BASE}nope"),
        ([*day, "--pin", BASE + "old"], f"Error: --pin: {BASE}old is not in daily/2026-11-27"),
        ([*day, "--lead", BASE + "but", "--drop", BASE + "but"], "Error: --lead "),
        ([*day, "--pin", BASE + "but", "--drop", BASE + "but"], f"Error: {BASE}but is both"),
        ([*day, "--subject", "two\nlines"], "Error: --subject: contains a control character"),
        (["weekly", "2026-11-27", "--note", "x"], "Error: list 'weekly' does not send on a Fri"),
        (["daily", "27/11/2026", "--note", "x"], "Error: DATE: '27/11/2026' is not a date"),
        (["nope", "2026-11-27", "--note", "x"], "Error: no list called 'nope'"),
    ]
    for args, line in cases:
        result = run("editions", "edit", *args, ok=False)
        assert result.exit_code == 1, (args, result.stderr)
        assert result.stderr.splitlines()[0].startswith(line), (args, result.stderr)
        assert "Traceback" not in result.output
    shown = json.loads(run("editions", "show", "daily", "2026-11-27", "--json").stdout)
    assert shown["drops"] == [] and shown["updated_at"] is None


def at(hour: int, url: str, section: str = "News") -> Article:
    return Article(
        url=url, title=url, section=section, published_at=datetime(2026, 11, 27, hour, tzinfo=UTC)
    )


def test_apply_edits_is_pure_and_ignores_urls_it_does_not_hold() -> None:
    news = NewsList(slug="d", name="D", sections=("A", "B"))
    articles = [
        at(6, "a1", "A"),
        at(5, "a2", "A"),
        at(4, "b1", "B"),
        at(3, "b2", "B"),
        at(2, "b3", "B"),
    ]
    built = issue.build_edition(articles, news_list=news, day=date(2026, 11, 27))
    assert issue.apply_edits(built, EditionEdits()) is built
    shaped = issue.apply_edits(
        built, EditionEdits(lead="b2", pins=("b3", "gone"), drops=("a1", "a2"), note="n")
    )
    assert [(s.name, [a.url for a in s.articles]) for s in shaped.sections] == [
        ("B", ["b2", "b3", "b1"])
    ]  # A emptied by the drops: gone
    assert shaped.note == "n" and built.note == ""
