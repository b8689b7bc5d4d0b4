"""A look per list (issue 14): name, logo, accent, footer and postal address set per list,
each falling back to the site's DIGEST_THEME_* settings."""

from __future__ import annotations

import json
import re
from email.message import EmailMessage

import pytest

from digest.sink import CaptureServer
from tests.conftest import Cli, article, received_messages

SITE = {
    "DIGEST_THEME_ACCENT": "#0b6e4f",
    "DIGEST_THEME_LOGO_URL": "https://img.example.com/site.png",
    "DIGEST_THEME_FOOTER": "The site's own footer",
    "DIGEST_THEME_ADDRESS": "Site address, BP 2",
}


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def test_two_lists_go_out_with_their_own_looks_in_one_run(
    run: Cli, smtp_server: CaptureServer
) -> None:
    run.env.update(SITE)
    run(
        "lists", "add", "sport", "--name", "Sport", "--brand-name", "Sahel Sport",
        "--accent", "#1A5FB4", "--logo", "https://img.example.com/sport.png",
        "--logo-size", "180x40", "--footer", "The sport desk", "--address", "BP 1, N'Djamena",
    )  # fmt: skip
    run("lists", "add", "news", "--name", "The News")  # no look: the site's
    for slug in ("sport", "news"):
        run("subscribers", "add", f"{slug}@example.com", "--list", slug)
    run("articles", "import", str(run.write("a.json", [article(title="A late goal")])))
    run.env["DIGEST_SMTP_URL"] = smtp_server.url
    run("schedule", "--run-due")  # both lists are due at 07:00 UTC: one run sends both

    mails = {m["To"].split("@")[0]: m for m in received_messages(smtp_server)}
    assert set(mails) == {"sport", "news"}
    sport, news = html_of(mails["sport"]), html_of(mails["news"])
    assert mails["sport"]["Subject"].startswith("Sahel Sport — ")
    assert mails["news"]["Subject"].startswith("The News — ")
    assert (
        'src="https://img.example.com/sport.png" alt="Sahel Sport" width="180" height="40"' in sport
    )
    assert 'src="https://img.example.com/site.png" alt="The News" width="160" height="40"' in news
    assert "border-top:6px solid #1a5fb4" in sport and "#0b6e4f" not in sport
    assert "border-top:6px solid #0b6e4f" in news and "#1a5fb4" not in news
    assert "The sport desk" in sport and "The site's own footer" not in sport
    assert "BP 1, N" in sport and "Site address" not in sport
    assert "The site&#39;s own footer" in news or "The site's own footer" in news
    assert "Site address, BP 2" in news and "Site address, BP 2" in text_of(mails["news"])
    assert "The sport desk" in text_of(mails["sport"])


def test_the_look_is_shown_edited_and_cleared(run: Cli) -> None:
    run("lists", "add", "sport", "--name", "Sport", "--accent", "#1a5fb4", "--footer", "Desk")
    shown = json.loads(run("lists", "show", "sport", "--json").stdout)
    assert {k: shown[k] for k in ("brand_name", "logo_url", "logo_size", "accent", "footer")} == {
        "brand_name": "",
        "logo_url": "",
        "logo_size": "",
        "accent": "#1a5fb4",
        "footer": "Desk",
    }
    assert "accent: #1a5fb4" in run("lists", "show", "sport").stdout
    assert "logo_url: (the site's)" in run("lists", "show", "sport").stdout
    shown_text = run("lists", "show", "sport").stdout
    assert "address: (the site's)" in shown_text  # '' is DIGEST_THEME_ADDRESS, as the look
    assert "sections: —" in shown_text and "editors: —" in shown_text  # not "[]"
    run("lists", "edit", "sport", "--logo", "https://img.example.com/s.png", "--accent", "")
    shown = json.loads(run("lists", "show", "sport", "--json").stdout)
    assert (shown["logo_url"], shown["accent"], shown["footer"]) == (
        "https://img.example.com/s.png",
        "",
        "Desk",
    )
    cleared = run("lists", "edit", "sport", "--clear-look")
    assert "updated list sport: accent, brand_name, footer, logo_size, logo_url" in cleared.stderr
    shown = json.loads(run("lists", "show", "sport", "--json").stdout)
    assert not any(shown[k] for k in ("brand_name", "logo_url", "logo_size", "accent", "footer"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--accent", "red"], "Error: --accent must be a #rrggbb colour, got 'red'"),
        (["--accent", "#ffff00"], "Error: --accent #ffff00 is too light to read on white"),
        (["--logo", "http://img.example.com/l.png"], "Error: --logo must be an https:// URL"),
        (["--logo-size", "180x40"], "Error: --logo-size needs the list's own --logo"),
        (
            ["--logo", "https://img.example.com/l.png", "--logo-size", "big"],
            "Error: --logo-size must be WIDTHxHEIGHT in pixels, got 'big'",
        ),
        (["--footer", "one\ntwo"], "Error: --footer: contains a control character"),
    ],
)
def test_a_bad_look_is_refused_in_one_line_and_nothing_is_written(
    run: Cli, args: list[str], message: str
) -> None:
    run("lists", "add", "news", "--name", "News")
    for command in (["lists", "add", "sport", "--name", "Sport"], ["lists", "edit", "news"]):
        result = run(*command, *args, ok=False)
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith(message), result.stderr
        assert len(result.stderr.strip().splitlines()) == 2  # the error and its hint
        assert "Traceback" not in result.output
    assert [lst["slug"] for lst in json.loads(run("lists", "list", "--json").stdout)] == ["news"]
    shown = json.loads(run("lists", "show", "news", "--json").stdout)
    assert not any(shown[k] for k in ("logo_url", "logo_size", "accent", "footer"))


def test_clear_look_with_a_look_option_contradicts(run: Cli) -> None:
    run("lists", "add", "news", "--name", "News")
    result = run("lists", "edit", "news", "--clear-look", "--accent", "#1a5fb4", ok=False)
    assert result.exit_code == 1
    assert "--clear-look and --accent contradict each other" in result.stderr
    assert re.search(r'"accent": ""', run("lists", "show", "news", "--json").stdout)


def test_lists_list_json_carries_the_look_approval_and_editors_as_lists_show_does(
    run: Cli,
) -> None:
    run(
        "lists", "add", "sport", "--name", "Sport", "--accent", "#1a5fb4", "--footer", "Desk",
        "--address", "BP 1", "--approval", "required", "--editor", "desk@example.com",
    )  # fmt: skip
    run("lists", "add", "news", "--name", "The News")
    listed = {lst["slug"]: lst for lst in json.loads(run("lists", "list", "--json").stdout)}
    for slug in ("sport", "news"):
        shown = json.loads(run("lists", "show", slug, "--json").stdout)
        for count in ("subscribers", "active", "unsubscribed"):
            del shown[count]
        assert listed[slug] == shown
    assert listed["sport"]["accent"] == "#1a5fb4" and listed["sport"]["footer"] == "Desk"
    assert listed["sport"]["address"] == "BP 1" and listed["news"]["logo_url"] == ""
    assert listed["sport"]["approval"] == "required"
    assert listed["sport"]["editors"] == ["desk@example.com"]
