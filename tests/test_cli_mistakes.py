"""Silent mistakes made loud (issue 11, item 5): each is one line, an error or a warning."""

from __future__ import annotations

import pytest

from tests.conftest import Cli


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
