"""`subscribers export` is safe to open in a spreadsheet (issue 11, item 7; OWASP CSV injection)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tests.conftest import Cli

NAMES = ['=HYPERLINK("https://evil.example","x")', "+33 6 12", "-1", "@SUM(A1)", "Amina"]


def _export(run: Cli) -> str:
    return run("subscribers", "export").stdout


def test_export_neutralises_formula_cells_and_round_trips(run: Cli, tmp_path: Path) -> None:
    run("lists", "add", "daily", "--name", "D")
    for n, name in enumerate(NAMES):
        run("subscribers", "add", f"p{n}@example.com", "--name", name, "--list", "daily")
    first = _export(run)
    cells = {row["email"]: row["name"] for row in csv.DictReader(io.StringIO(first))}
    assert cells == {
        "p0@example.com": "'" + NAMES[0],
        "p1@example.com": "'+33 6 12",
        "p2@example.com": "'-1",
        "p3@example.com": "'@SUM(A1)",
        "p4@example.com": "Amina",  # nothing to neutralise
    }
    assert not any(line.startswith(("=", "+", "-", "@")) for line in first.splitlines())

    backup = run.write("backup.csv", first)
    other = tmp_path / "other.db"
    run("--db", str(other), "init")
    run("--db", str(other), "lists", "add", "daily", "--name", "D")
    run("--db", str(other), "subscribers", "import", str(backup))
    shown = run("--db", str(other), "subscribers", "show", "p0@example.com", "--json").stdout
    assert '"name": "=HYPERLINK' in shown.replace('\\"', '"')  # the name itself is kept
    again = run("--db", str(other), "subscribers", "export").stdout
    assert again == first
