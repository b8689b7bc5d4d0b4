"""Tokens and the secret file: rotation with a grace period, constant-time checks."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from digest.errors import ConfigError
from digest.secret import (
    load_secret,
    load_secrets,
    make_token,
    read_entries,
    read_token,
    rotate_secret,
)
from tests.conftest import Cli, article

NOW = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)


def test_token_round_trip_and_purpose(tmp_path: Path) -> None:
    key = load_secret(tmp_path / "s")
    token = make_token(key, "unsubscribe", 12, 3)
    assert read_token(key, "unsubscribe", token) == (12, 3)
    assert read_token(key, "preferences", token) is None
    assert read_token([b"other", key], "unsubscribe", token) == (12, 3)


def test_forged_truncated_and_tampered_tokens_are_refused(tmp_path: Path) -> None:
    key = load_secret(tmp_path / "s")
    token = make_token(key, "unsubscribe", 12, 3)
    sig = token.split("-", 2)[2]
    for bad in (
        token[:-1],
        token + "A",
        f"13-3-{sig}",  # another subscriber, same signature
        f"12-4-{sig}",  # another list
        f"012-3-{sig}",  # same numbers spelled differently
        f"12-3-{'A' * len(sig)}",
        "12-3",
        "",
        "x" * 500,
        f"١٢-3-{sig}",  # non-ASCII digits
    ):
        assert read_token(key, "unsubscribe", bad) is None, bad


def test_secret_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "s"
    load_secret(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    rotate_secret(path, now=NOW, grace=timedelta(days=1))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_rotation_keeps_old_links_valid_for_the_grace_period(tmp_path: Path) -> None:
    path = tmp_path / "s"
    old_key = load_secret(path)
    old_token = make_token(old_key, "unsubscribe", 1, 1)
    rotate_secret(path, now=NOW, grace=timedelta(days=30))
    new_key = load_secret(path)
    assert new_key != old_key
    in_grace = load_secrets(path, now=NOW + timedelta(days=29))
    assert in_grace[0] == new_key
    assert read_token(in_grace, "unsubscribe", old_token) == (1, 1)
    after = load_secrets(path, now=NOW + timedelta(days=30))
    assert after == (new_key,)
    assert read_token(after, "unsubscribe", old_token) is None
    # A second rotation after the grace period drops the expired secret from the file.
    rotate_secret(path, now=NOW + timedelta(days=31), grace=timedelta(days=30))
    assert old_key not in [e.key for e in read_entries(path)]
    assert len(read_entries(path)) == 2


def test_cli_secret_rotate(run: Cli) -> None:
    run("init")
    secret_file = Path(str(run.db_path) + ".secret")
    before = load_secret(secret_file)
    result = run("secret", "rotate", "--grace", "45d")
    assert "stays valid until" in result.stderr
    entries = read_entries(secret_file)
    assert entries[1].key == before and entries[0].key != before
    assert entries[1].expires_at is not None
    bad = run("secret", "rotate", "--grace", "soon", ok=False)
    assert bad.exit_code == 1 and "not a duration" in bad.stderr


@pytest.mark.parametrize(
    ("content", "complaint"),
    [("", "is empty"), ("\n\n", "is empty"), ("not-hex at all\n", "line 1 is damaged")],
    ids=["empty", "blank-lines", "damaged"],
)
def test_an_empty_or_damaged_secret_is_one_line_and_changes_nothing(
    run: Cli, content: str, complaint: str
) -> None:
    run("init")
    run("lists", "add", "daily", "--name", "Daily", "--from-addr", "news@example.com")
    run("subscribers", "add", "a@example.com", "--list", "daily")
    run("articles", "import", str(run.write("a.json", [article()])))
    secret_file = Path(str(run.db_path) + ".secret")
    secret_file.write_text(content)
    with pytest.raises(ConfigError, match=complaint):
        load_secret(secret_file)
    result = run("send", "--list", "daily", "--dry-run", ok=False)
    assert result.exit_code == 1
    assert f"Error: secret file {secret_file} {complaint}" in result.stderr
    assert "Traceback" not in result.stderr
    assert secret_file.read_text() == content  # never silently replaced: old links would die
    assert not (run.tmp_path / "outbox").exists()
