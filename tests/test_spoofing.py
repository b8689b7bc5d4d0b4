"""Look-alike domains and bidirectional controls: warned about at import, never refused."""

from __future__ import annotations

import json

import pytest

from digest import spoofing
from tests.conftest import Cli, article

CYRILLIC_A = "\u0430"  # looks exactly like the Latin a
RLO, PDF, RLI, PDI = "\u202e", "\u202c", "\u2067", "\u2069"


@pytest.mark.parametrize(
    ("domain", "label"),
    [
        (f"ex{CYRILLIC_A}mple.org", f"ex{CYRILLIC_A}mple (Latin, Cyrillic)"),
        ("xn--exmple-4nf.org", f"ex{CYRILLIC_A}mple (Latin, Cyrillic)"),  # the same, in punycode
        ("news.p\u0430ypal.com", f"p{CYRILLIC_A}ypal (Latin, Cyrillic)"),
        ("\u03bfpenai.com", "\u03bfpenai (Greek, Latin)"),  # Greek omicron
        ("مثالa.com", "مثالa (Arabic, Latin)"),
        ("example.org", ""),
        ("bücher.de", ""),  # accents are Latin
        ("пример.рф", ""),  # all Cyrillic: one script per label
        ("صدى-تشاد.td", ""),
        ("日本語ドメインabc.jp", ""),  # Han, Kana and Latin together are normal Japanese
        ("한국abc.kr", ""),
        ("xn--99999999999.com", ""),  # undecodable punycode: nothing to say
    ],
)
def test_mixed_script_labels(domain: str, label: str) -> None:
    assert spoofing.mixed_script_label(domain) == label


def test_bidi_controls_are_named() -> None:
    assert spoofing.bidi_controls(f"a{RLO}b{PDF}{RLO}") == (
        "U+202E RIGHT-TO-LEFT OVERRIDE, U+202C POP DIRECTIONAL FORMATTING"
    )
    assert spoofing.bidi_controls(f"{RLI}x{PDI}") == (
        "U+2067 RIGHT-TO-LEFT ISOLATE, U+2069 POP DIRECTIONAL ISOLATE"
    )
    # Marks (U+200E/200F) change no order by themselves; Arabic text is not suspicious.
    assert spoofing.bidi_controls("\u200fيوسف عبد الله\u200e") == ""


def test_subscribers_import_warns_and_imports(run: Cli) -> None:
    run("lists", "add", "daily", "--name", "Daily")
    path = run.write(
        "people.csv",
        "email,name\n"
        f"amina@ex{CYRILLIC_A}mple.org,Amina\n"
        f"john@example.org,John {RLO}nhoJ{PDF}\n"
        "fatime@bücher.de,Fatimé Haroun\n",
    )
    result = run("subscribers", "import", str(path), "--list", "daily")
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        f"warning: {path} row 2 field 'email': domain label ex{CYRILLIC_A}mple (Latin, "
        "Cyrillic) mixes scripts: a look-alike of another domain?",
        f"warning: {path} row 3 field 'name': holds U+202E RIGHT-TO-LEFT OVERRIDE, U+202C "
        "POP DIRECTIONAL FORMATTING, which can make text display in another order than it reads",
        "added 3, updated 0, unchanged 0, rejected 0",
    ]
    assert run("subscribers", "count", "--list", "daily").stdout == "3\n"


def test_articles_import_warns_about_bidi_controls_in_titles_names_and_urls(run: Cli) -> None:
    records = [
        article(url=f"https://news.example.com/{RLO}fdp.exe", title="Clean title"),
        article(url="https://news.example.com/b", title=f"Breaking {RLI}news{PDI}", author="Ali"),
        article(url="https://news.example.com/c", title="Fine", author=f"{RLO}ilA"),
    ]
    result = run("articles", "import", str(run.write("a.json", records)))
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert [w.split(": holds")[0] for w in warnings] == [
        f"warning: {run.tmp_path}/a.json record 1 field 'url'",
        f"warning: {run.tmp_path}/a.json record 2 field 'title'",
        f"warning: {run.tmp_path}/a.json record 3 field 'author'",
    ]
    assert "added 3" in result.stderr
    titles = {a["title"] for a in json.loads(run("articles", "list", "--json").stdout)}
    assert f"Breaking {RLI}news{PDI}" in titles  # kept as written: a warning, not a change
