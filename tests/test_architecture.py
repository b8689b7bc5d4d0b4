"""The pure modules stay pure: no database, network, CLI or scheduler imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

FORBIDDEN = ("sqlite3", "smtplib", "click", "apscheduler", "starlette")


@pytest.mark.parametrize(
    "module",
    [
        "digest.issue",
        "digest.render",
        "digest.message",
        "digest.timetable",
        "digest.charset",
        "digest.spoofing",
        "digest.roster",
        "digest.ingest",
        "digest.feed",
    ],
)
def test_pure_module_imports_nothing_impure(module: str) -> None:
    code = f"import sys, {module}; print(','.join(m for m in {FORBIDDEN!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
