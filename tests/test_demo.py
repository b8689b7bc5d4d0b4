"""`digest demo`: the whole path on sample data, as a new user runs it."""

from __future__ import annotations

import email
import email.policy
import hashlib
import os
import subprocess
import sys
from pathlib import Path


def run_demo(cwd: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")} | extra_env
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
    demo = tmp_path / "digest-demo"
    assert (demo / "demo.db").is_file()
    assert not (tmp_path / "subscribers.db").exists()
    files = sorted((demo / "outbox").glob("*.eml"))
    assert len(files) == 4
    assert "digest-demo/outbox" in first.stdout and "digest-demo/preview/issue.html" in first.stdout
    assert "digest-demo/demo.db" in first.stdout
    assert (demo / "preview" / "issue.html").read_text().startswith("<!doctype html>")

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
    assert len(list((demo / "outbox").glob("*.eml"))) == 4
    assert "already sent 4" in second.stderr


def _digest(cwd: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    subprocess.run(
        [sys.executable, "-m", "digest", *args], cwd=cwd, env=env, check=True, timeout=60
    )


def _fingerprint(folder: Path) -> dict[str, str]:
    """Every file of the real site's database (with -wal, -shm, .secret), by content hash."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.name.startswith("subscribers.db")
    }


def test_demo_beside_a_real_database_leaves_it_byte_for_byte_unchanged(tmp_path: Path) -> None:
    """Issue 11.1: the demo once sent 'daily' to a real subscriber and recorded it as sent."""
    _digest(tmp_path, "init")
    _digest(tmp_path, "lists", "add", "daily", "--name", "Real", "--from-addr", "news@real.example")
    _digest(tmp_path, "subscribers", "add", "reader@real.example", "--list", "daily")
    before = _fingerprint(tmp_path)
    assert "subscribers.db" in before

    result = run_demo(tmp_path)
    assert result.returncode == 0, result.stderr
    # and with the real database named explicitly, as a site's environment would
    again = run_demo(tmp_path, DIGEST_DB=str(tmp_path / "subscribers.db"))
    assert again.returncode == 0, again.stderr

    assert _fingerprint(tmp_path) == before
    assert "already sent 4" in again.stderr  # both runs used the demo's own database
    sent_to = [p.read_text() for p in (tmp_path / "digest-demo" / "outbox").glob("*.eml")]
    assert len(sent_to) == 4 and not any("reader@real.example" in m for m in sent_to)
