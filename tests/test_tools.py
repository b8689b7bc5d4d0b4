"""`digest preview` and `digest smtp-sink`, run as a user runs them."""

from __future__ import annotations

import email
import email.policy
import os
import smtplib
import subprocess
import sys
import time
from pathlib import Path

from digest.sink import free_port
from tests.conftest import Cli, article


def test_preview_writes_html_text_and_mjml(run: Cli, tmp_path: Path) -> None:
    run("lists", "add", "daily", "--name", "Le Quotidien", "--locale", "fr")
    run.write("a.json", [article(title="Crue du Chari", section="Tchad")])
    run("articles", "import", "a.json")
    result = run("preview", "--date", "2026-11-27", "--out", "prev")
    assert "1 article in 1 section," in result.stderr
    html = (tmp_path / "prev" / "issue.html").read_text()
    text = (tmp_path / "prev" / "issue.txt").read_text()
    mjml = (tmp_path / "prev" / "issue.mjml").read_text()
    assert "Crue du Chari" in html and "Crue du Chari" in text and "<mj-text" in mjml
    assert "vendredi 27 novembre 2026" in text  # the list's locale dates the edition
    assert [Path(p).name for p in result.stdout.split()] == [
        "issue.html",
        "issue.txt",
        "issue.mjml",
    ]


def test_smtp_sink_stores_each_message_as_eml(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "digest", "smtp-sink", "--port", str(port), "--outbox", "box"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        assert "listening on smtp://127.0.0.1:" in proc.stderr.readline()
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail("a@example.com", ["b@example.com"], b"Subject: hi\r\n\r\nhello\r\n")
        deadline = time.monotonic() + 10
        while not list((tmp_path / "box").glob("*.eml")) and time.monotonic() < deadline:
            time.sleep(0.05)
        [saved] = list((tmp_path / "box").glob("*.eml"))
        parsed = email.message_from_bytes(saved.read_bytes(), policy=email.policy.default)
        assert parsed["Subject"] == "hi" and parsed.get_content().strip() == "hello"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_smtp_sink_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "digest", "smtp-sink", "--port", str(port)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            # At once: aiosmtpd alone would notice only after its 10 s ready timeout.
            timeout=8,
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: cannot listen on 127.0.0.1:{port}")
    assert "Traceback" not in result.stderr
