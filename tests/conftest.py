"""Shared fixtures: a real SQLite file, a real SMTP server on a free loopback port, the CLI."""

from __future__ import annotations

import email
import email.policy
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from digest.cli import cli
from digest.clock import Clock
from digest.config import Settings, load_settings
from digest.sink import CaptureServer
from digest.store import Store

pytest_plugins = ["pytester"]

# Tests link to loopback on purpose, set explicitly: a real send refuses an unset base URL.
BASE_URL = "http://127.0.0.1:8000"
DAY = date(2026, 11, 27)  # edition date used across tests; due 07:00 UTC by default
NOW = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
LOCAL = BASE_URL  # the app answers only the Host values it serves (loopback, its port)


class ManualClock:
    """A test's own time, starting at NOW: it moves only when the product sleeps or the
    test calls `advance`, so waits, backoff and pacing are checked without waiting."""

    def __init__(self, at: datetime = NOW) -> None:
        self.at = at
        self.elapsed = 1000.0
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)
        self.elapsed += seconds

    @property
    def clock(self) -> Clock:
        return Clock(now=self.now, monotonic=self.monotonic, sleep=self.sleep)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "subscribers.db"


@pytest.fixture
def settings(tmp_path: Path, db_path: Path) -> Settings:
    return load_settings(
        env={},
        overrides={"db": db_path, "outbox": tmp_path / "outbox", "base_url": BASE_URL},
        cwd=tmp_path,
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with Store.open(settings.db) as opened:
        yield opened


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[CaptureServer]:
    """The real capture server (aiosmtpd) on a free loopback port."""
    with CaptureServer(tmp_path / "received") as server:
        yield server


def received_messages(server: CaptureServer) -> list[EmailMessage]:
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for _, _, path in server.handler.received
    ]


class Cli:
    """Runs `digest` through CliRunner against one database, as a user would.

    Every run happens at `now` (NOW unless a test moves it), through the root `--now`;
    a command's own `--now` overrides it.
    """

    def __init__(self, tmp_path: Path, db_path: Path, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.db_path = db_path
        self.env = env
        self.now = NOW

    def __call__(self, *args: str, input: str | None = None, ok: bool = True) -> Result:
        result = CliRunner().invoke(
            cli,
            ["--db", str(self.db_path), "--now", self.now.isoformat(), *args],
            input=input,
            env=self.env,
            catch_exceptions=False,
        )
        if ok:
            assert result.exit_code == 0, (result.output, result.stderr)
        return result

    def write(self, name: str, content: str | list[dict[str, object]]) -> Path:
        path = self.tmp_path / name
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        path.write_text(text, encoding="utf-8")
        return path


@pytest.fixture
def run(tmp_path: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("DIGEST_"):
            monkeypatch.delenv(key)
    Store.open(db_path).close()  # as `digest init` would: other commands need the database
    return Cli(
        tmp_path, db_path, {"DIGEST_OUTBOX": str(tmp_path / "outbox"), "DIGEST_BASE_URL": BASE_URL}
    )


@contextmanager
def serving(app: Any, port: int) -> Iterator[str]:
    """The app on real uvicorn (a real HTTP parser) on a loopback port; yields its origin."""
    import threading
    import time

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def without_digest_env(**extra: str) -> dict[str, str]:
    """This process's environment without any DIGEST_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env.update(extra)
    return env


def article(**fields: object) -> dict[str, object]:
    """An article record in the import format, with defaults for the required fields."""
    record: dict[str, object] = {
        "url": "https://news.example.com/a",
        "title": "A title",
        "section": "News",
        "published_at": "2026-11-27T05:00:00+00:00",
        "summary": "A summary.",
    }
    record.update(fields)
    return record


def require_tool(name: str) -> str:
    """The path of a system tool; skip when absent unless DIGEST_REQUIRE_TOOLS=1 (CI)."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("DIGEST_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{name} is required here (DIGEST_REQUIRE_TOOLS=1) but not installed")
    pytest.skip(f"{TOOL_MISSING}{name}")


TOOL_MISSING = "tool not installed: "


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say plainly which tests did not run for want of a tool, and how to run them."""
    missing: dict[str, list[str]] = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else ""
        if TOOL_MISSING in reason:
            tool = reason.split(TOOL_MISSING, 1)[1].strip()
            missing.setdefault(tool, []).append(report.nodeid)
    if not missing:
        return
    count = sum(len(ids) for ids in missing.values())
    terminalreporter.section("tests NOT run: tools missing", sep="!", bold=True)
    terminalreporter.write_line(
        f"{count} tests did not run because these tools are not installed: "
        + ", ".join(f"{tool} ({len(ids)})" for tool, ids in sorted(missing.items()))
    )
    for tool, ids in sorted(missing.items()):
        for nodeid in ids:
            terminalreporter.write_line(f"  {tool}: {nodeid}")
    terminalreporter.write_line(
        "Install them as .ci/run does (apt-get install chromium spamassassin ...), or set"
        " DIGEST_REQUIRE_TOOLS=1 to make these tests fail instead of skipping."
    )


# -- golden files and the headless browser (render and preview tests) ---------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/golden/ from the current output; review the diff before committing",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Belt and braces: no name resolves except loopback, so nothing leaves the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One headless Debian chromium for the whole session, driven by Playwright."""
    executable = require_tool("chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def offline_page(browser: object, width: int, *, dark: bool = False) -> object:
    """A page `width` px wide whose requests to anything but loopback are refused."""
    page = browser.new_page(  # type: ignore[attr-defined]
        viewport={"width": width, "height": 900}, color_scheme="dark" if dark else "light"
    )

    def route(route: object) -> None:
        url = route.request.url  # type: ignore[attr-defined]
        local = url.startswith(("http://127.0.0.1", "about:", "data:"))
        route.continue_() if local else route.abort()  # type: ignore[attr-defined]

    page.route("**/*", route)
    return page


def dkim_key_file(tmp_path: Path) -> tuple[Path, str]:
    """A fresh RSA key in a PEM file, and its DKIM TXT record (the test is its DNS)."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key_file, "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode()
