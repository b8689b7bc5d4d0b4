"""Rules the suite keeps about itself and the code: one clock, constant-time MACs, no
silent skips."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WALL_CLOCK = re.compile(r"\b(datetime\.now|datetime\.utcnow|date\.today|time\.time)\(")
# A line may read the real clock when it says why, with this marker: e.g. a TLS
# certificate must be valid at the moment the machine's TLS library checks it.
ALLOWED = "# real clock:"


def test_tests_never_read_the_wall_clock() -> None:
    """The product's time comes from the test (NOW, ManualClock, --now), never the day
    the suite runs: a test comparing against datetime.now breaks on another day."""
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if path.name != Path(__file__).name
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if WALL_CLOCK.search(line) and ALLOWED not in line
    ]
    assert offenders == []


def test_only_the_clock_module_reads_the_wall_clock() -> None:
    """The product has one seam for time: digest.clock. (time.monotonic for elapsed time
    in the pool's own pacing is a default argument, overridden by the Clock.)"""
    src = ROOT / "src" / "digest"
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted(src.rglob("*.py"))
        if path.name != "clock.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if WALL_CLOCK.search(line)
    ]
    assert offenders == []


SECRET_NAMES = re.compile(r"mac|signature|digest|token|expected|given|hmac", re.I)


def _names(node: ast.AST) -> str:
    return " ".join(
        n.id if isinstance(n, ast.Name) else n.attr
        for n in ast.walk(node)
        if isinstance(n, ast.Name | ast.Attribute)
    )


def mac_comparisons(code: str) -> list[str]:
    """`==` / `!=` between operands named like MACs, tokens or signatures."""
    found = []
    for node in ast.walk(ast.parse(code)):
        if not isinstance(node, ast.Compare):
            continue
        if not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
            continue
        operands = [node.left, *node.comparators]
        if any(isinstance(o, ast.Constant) for o in operands):
            continue  # comparing with a literal (a status, a purpose) is not a MAC check
        if any(SECRET_NAMES.search(_names(o)) for o in operands):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_macs_are_compared_only_with_compare_digest() -> None:
    """`==` on a MAC leaks, by its timing, how many leading bytes were right."""
    offenders = [
        f"{path.relative_to(ROOT)}:{hit}"
        for path in sorted((ROOT / "src" / "digest").rglob("*.py"))
        for hit in mac_comparisons(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_mac_rule_can_fail() -> None:
    code = "def check(expected_mac, given):\n    return expected_mac == given\n"
    assert mac_comparisons(code) == ["2: expected_mac == given"]
    assert mac_comparisons("ok = status == 'sent'\n") == []


def test_a_missing_tool_is_reported_plainly(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without chromium or spamassassin the README's command says which tests it skipped."""
    monkeypatch.delenv("DIGEST_REQUIRE_TOOLS", raising=False)
    pytester.makeconftest("from tests.conftest import pytest_terminal_summary  # noqa: F401\n")
    pytester.makepyfile(
        test_needs_tool="""
from tests.conftest import require_tool

def test_uses_a_tool():
    require_tool("digest-no-such-tool")
"""
    )
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(skipped=1)
    text = result.stdout.str()
    assert "1 tests did not run because these tools are not installed: digest-no-such-tool (1)" in (
        text
    )
    assert "digest-no-such-tool: test_needs_tool.py::test_uses_a_tool" in text
    assert "DIGEST_REQUIRE_TOOLS=1" in text
