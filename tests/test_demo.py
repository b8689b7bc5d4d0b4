"""`digest demo`: the whole path on sample data, as a new user runs it."""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import sys
from pathlib import Path


def run_demo(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    return subprocess.run(
        [sys.executable, "-m", "digest", "demo", "--date", "2026-11-27"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_demo_sends_one_message_per_sample_subscriber_and_is_rerunnable(tmp_path: Path) -> None:
    first = run_demo(tmp_path)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "subscribers.db").is_file()
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 4
    assert "outbox" in first.stdout and "preview/issue.html" in first.stdout
    assert (tmp_path / "preview" / "issue.html").read_text().startswith("<!doctype html>")

    full_order = ["Tchad", "Afrique", "English News", "Économie", "Sport"]
    seen_full = 0
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert message.get_content_type() == "multipart/alternative"
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        lines = [line.lstrip("\u200e\u200f") for line in text.splitlines()]  # direction marks
        sections = [line.strip("= ") for line in lines if line.startswith("== ")]
        assert sections == [s for s in full_order if s in sections]  # always in list order
        seen_full += sections == full_order
        assert "SCO Secretary-General" in text or sections == ["Sport"]
    assert seen_full == 3  # the fourth subscriber chose English News and Sport only

    second = run_demo(tmp_path)
    assert second.returncode == 0, second.stderr
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 4
    assert "already sent 4" in second.stderr
