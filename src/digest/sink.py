"""The built-in capture SMTP server: stores every message it receives as an .eml file."""

from __future__ import annotations

import socket
import time
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def free_port(host: str = "127.0.0.1") -> int:
    """aiosmtpd's Controller cannot take port 0: ask the OS for a free port first."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class OutboxHandler:
    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox
        self.received: list[tuple[str, list[str], Path]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content: Any = envelope.original_content or envelope.content
        data = content if isinstance(content, bytes) else str(content).encode()
        stamp = time.strftime("%Y%m%dT%H%M%S")
        path = self.outbox / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.rename(path)
        self.received.append((str(envelope.mail_from), list(envelope.rcpt_tos), path))
        return "250 Message accepted for delivery"


class CaptureServer:
    """Start with `with CaptureServer(outbox) as server:`; `server.port` is where it listens."""

    def __init__(self, outbox: Path, host: str = "127.0.0.1", port: int | None = None) -> None:
        outbox.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port or free_port(host)
        self.handler = OutboxHandler(outbox)
        self.controller = Controller(
            self.handler,
            hostname=host,
            port=self.port,
            enable_SMTPUTF8=True,
            decode_data=False,
            ready_timeout=10,
        )

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def __enter__(self) -> CaptureServer:
        # aiosmtpd reports a port in use only after ready_timeout (10 s): ask at once.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        with socket.create_server((self.host, self.port), family=family):
            pass
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
