"""Settings: defaults < digest.toml < DIGEST_* environment < options; bad values explained."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.config import Settings, load_settings
from digest.errors import ConfigError


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(env={}, cwd=tmp_path)
    assert settings == Settings()
    assert settings.db == Path("subscribers.db")
    assert settings.smtp_url == "smtp://127.0.0.1:1025"


def test_precedence_file_env_option(tmp_path: Path) -> None:
    (tmp_path / "digest.toml").write_text('db = "file.db"\nbase_url = "https://news.example.com"\n')
    settings = load_settings(env={"DIGEST_DB": "env.db"}, cwd=tmp_path)
    assert settings.db == Path("env.db") and settings.base_url == "https://news.example.com"
    settings = load_settings(env={"DIGEST_DB": "env.db"}, overrides={"db": "opt.db"}, cwd=tmp_path)
    assert settings.db == Path("opt.db")


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("db = [", {}, "digest.toml"),
        ("colour = 'red'", {}, "unknown setting 'colour'"),
        ("", {"DIGEST_SMTP_URL": "mail.example.com:25"}, "must start with smtp://"),
        ("", {"DIGEST_BASE_URL": "news.example.com"}, "must be an http(s) origin"),
        ("", {"DIGEST_SOFT_BOUNCE_LIMIT": "0"}, "SOFT_BOUNCE_LIMIT must be at least 1"),
        ("", {"DIGEST_SOFT_BOUNCE_LIMIT": "three"}, "SOFT_BOUNCE_LIMIT must be a whole number"),
    ],
)
def test_bad_settings_are_explained(
    tmp_path: Path, toml: str, env: dict[str, str], message: str
) -> None:
    (tmp_path / "digest.toml").write_text(toml)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        load_settings(env=env, cwd=tmp_path)
    assert info.value.hint


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DIGEST_FEEDBACK_ID", "news\r\nBcc: everyone@example.com"),
        ("DIGEST_BASE_URL", "https://news.example.com\r\nX-Injected: 1"),
        ("DIGEST_UNSUBSCRIBE_MAILTO", "unsub@example.com\nBcc: everyone@example.com"),
        ("DIGEST_THEME_NAME", "Daily\rBcc: x@example.com"),
    ],
)
def test_a_line_break_in_a_header_setting_is_refused_when_settings_load(
    tmp_path: Path, name: str, value: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={name: value}, cwd=tmp_path)
    assert caught.value.message.startswith(f"{name} must be one line, but it contains ")
    assert "header line" in caught.value.hint
    key = name.removeprefix("DIGEST_").lower()
    (tmp_path / "digest.toml").write_text(f"{key} = {value!r}\n".replace("'", '"'))
    with pytest.raises(ConfigError):  # the same from the settings file (TOML "\r\n" escapes)
        load_settings(env={}, cwd=tmp_path)


def test_the_footer_may_span_lines(tmp_path: Path) -> None:
    assert load_settings(env={"DIGEST_THEME_FOOTER": "a\nb"}, cwd=tmp_path).theme_footer == "a\nb"
