"""Golden files: the MJML, HTML and text subscribers get for the fixed sample editions.

Regenerate after an intended change with `pytest tests/test_golden.py --update-golden`
and review the diff of tests/golden/ like code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from digest.render import Renderer
from tests.editions import sample_edition

GOLDEN = Path(__file__).with_name("golden")


def normalise(text: str) -> str:
    """Trailing spaces and the final newline are noise; everything else is content."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").splitlines()]
    return "\n".join(lines).strip("\n") + "\n"


@pytest.mark.parametrize("locale", ["en", "fr", "ar"])
def test_sample_edition_matches_golden_files(locale: str, update_golden: bool) -> None:
    rendered = Renderer().render(sample_edition(locale))
    outputs = {"mjml": rendered.mjml, "html": rendered.html, "txt": rendered.text}
    for suffix, body in outputs.items():
        path = GOLDEN / f"sample-{locale}.{suffix}"
        actual = normalise(body)
        if update_golden:
            path.parent.mkdir(exist_ok=True)
            path.write_text(actual, encoding="utf-8")
            continue
        assert path.is_file(), f"{path} missing: run pytest --update-golden"
        expected = path.read_text(encoding="utf-8")
        if actual != expected:
            diff = next(i for i, (a, b) in enumerate(zip(actual, expected, strict=False)) if a != b)
            line = expected.count("\n", 0, diff) + 1
            pytest.fail(
                f"{path.name} differs from line {line}: "
                f"got {actual[diff : diff + 80]!r}, expected {expected[diff : diff + 80]!r}; "
                "if the change is intended, run pytest --update-golden and review the diff"
            )
    assert not re.search(r"<mj-", rendered.html)
