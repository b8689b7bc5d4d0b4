"""sender: the SMTP session after a failed pipelined command, against a server that
answers DATA with 354 even though it refused the only recipient (RFC 2920 §3.1 says a
server may; Postfix does not, some appliances do)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from digest.sender import Kind, SmtpSender, SmtpSettings


class LaxServer:
    """A bare SMTP server on a free loopback port; records what each connection sent."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sessions: list[list[str]] = []  # per connection: commands, and "BODY:..." lines
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        seen: list[str] = []
        self.sessions.append(seen)
        reader = conn.makefile("rb")
        conn.sendall(b"220 lax.test ESMTP\r\n")
        in_body = False
        try:
            for raw in reader:
                line = raw.decode("latin-1").rstrip("\r\n")
                if in_body:
                    if line == ".":
                        in_body = False
                        conn.sendall(b"250 2.0.0 queued\r\n")
                    else:
                        seen.append("BODY:" + line)
                    continue
                verb = line[:4].upper()
                seen.append("EHLO" if verb == "EHLO" else line.split(":")[0].upper())
                if verb == "EHLO":
                    conn.sendall(b"250-lax.test\r\n250 PIPELINING\r\n")
                elif verb == "RCPT" and "dead@" in line:
                    conn.sendall(b"550 5.1.1 no such user\r\n")
                elif verb == "DATA":
                    in_body = True
                    conn.sendall(b"354 go ahead\r\n")  # even with no valid recipient
                elif verb == "QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 ok\r\n")
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def lax() -> Iterator[LaxServer]:
    server = LaxServer()
    yield server
    server.close()


MESSAGE = b"Subject: hi\r\n\r\nhello\r\n"


def test_a_354_after_a_refused_recipient_closes_the_session(lax: LaxServer) -> None:
    settings = SmtpSettings.from_url(f"smtp://127.0.0.1:{lax.port}?timeout=5")
    with SmtpSender(settings) as sender:
        dead = sender.deliver("news@example.com", "dead@example.org", MESSAGE)
        alive = sender.deliver("news@example.com", "alive@example.org", MESSAGE)
    assert dead.kind is Kind.BOUNCED and dead.text == "550 5.1.1 no such user"
    assert alive.kind is Kind.SENT
    # The server was waiting for a body: an RSET there would have become message text.
    first, second = lax.sessions
    assert first == ["EHLO", "MAIL FROM", "RCPT TO", "DATA"]
    assert not any(line.startswith("BODY:") for line in first)
    assert second[:4] == ["EHLO", "MAIL FROM", "RCPT TO", "DATA"]
    assert "BODY:hello" in second
