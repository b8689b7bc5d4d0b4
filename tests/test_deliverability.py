"""The full sample message, scored by a real spam filter (SpamAssassin, network tests off)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from digest.clock import Clock
from digest.config import Settings
from digest.demo import run_demo
from tests.conftest import NOW, require_tool

WELL_UNDER = 2.0  # SpamAssassin's threshold is 5.0


def test_sample_edition_scores_well_under_the_spam_threshold(
    settings: Settings, tmp_path: Path
) -> None:
    spamassassin = require_tool("spamassassin")
    result = run_demo(settings, day=NOW.date(), clock=Clock.frozen(NOW), folder=tmp_path / "demo")
    # The biggest message is a whole edition (all sections), the most to be suspicious of.
    message = max(Path(result.outbox).glob("*.eml"), key=lambda p: p.stat().st_size)
    scored = subprocess.run(
        [spamassassin, "-L", "-x", "-t"],
        input=message.read_bytes(),
        capture_output=True,
        check=False,
        timeout=120,
    )
    report = scored.stdout.decode("utf-8", "replace")
    status = re.search(r"^X-Spam-Status: (\w+), score=(-?[\d.]+) required=([\d.]+)", report, re.M)
    assert status, report[:2000]
    verdict, score, required = status.group(1), float(status.group(2)), float(status.group(3))
    assert verdict == "No" and score < WELL_UNDER < required, report[report.find("Content an") :]
