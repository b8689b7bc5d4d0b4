"""sender: the SMTP session after a failed pipelined command, against a server that
answers DATA with 354 even though it refused the only recipient (RFC 2920 §3.1 says a
server may; Postfix does not, some appliances do)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from digest.config import Settings
from digest.sender import Kind, SmtpSender, SmtpSettings
from digest.store import Store
from tests.test_delivery import ledger, make_project, quick, send


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


class WireServer:
    """A bare SMTP server that shows whether the client pipelines across messages.

    After a final dot it holds its reply until more input arrives, or for `hold`
    seconds: `early[n]` says whether the next command came before message n's reply
    (with lockstep clients it never can). It reads raw bytes, so `bodies` are exactly
    what came after DATA, dot-stuffing undone as a server would.
    """

    def __init__(self, *, hold: float = 1.0, refuse: str = "") -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.hold = hold
        self.refuse = refuse  # RCPT TO containing this gets 550
        self.early: list[bool] = []
        self.bodies: list[tuple[str, bytes]] = []  # (recipient, body) of each message taken
        self.sessions: list[list[str]] = []
        self.ended: list[threading.Event] = []  # set when that connection is over
        threading.Thread(target=self._serve, daemon=True).start()

    def settled(self) -> list[list[str]]:
        """The sessions, once the server has read each to its end."""
        for ended in self.ended:
            assert ended.wait(10)
        return self.sessions

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
        ended = threading.Event()
        self.ended.append(ended)
        buffer = b""
        rcpt = ""
        body: list[bytes] | None = None

        def lines() -> Iterator[bytes]:
            nonlocal buffer
            while True:
                while b"\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                line, buffer = buffer.split(b"\r\n", 1)
                yield line

        conn.sendall(b"220 wire.test ESMTP\r\n")
        try:
            for line in lines():
                if body is not None:
                    if line != b".":
                        body.append(line[1:] if line.startswith(b".") else line)
                        continue
                    self.bodies.append((rcpt, b"\r\n".join(body) + b"\r\n"))
                    body = None
                    conn.settimeout(self.hold)
                    try:
                        while not buffer:
                            chunk = conn.recv(65536)
                            if not chunk:
                                break
                            buffer += chunk
                    except TimeoutError:
                        pass
                    conn.settimeout(None)
                    self.early.append(bool(buffer))
                    conn.sendall(b"250 2.0.0 queued\r\n")
                    continue
                text = line.decode("latin-1")
                verb = text[:4].upper()
                seen.append(verb)
                if verb == "EHLO":
                    conn.sendall(b"250-wire.test\r\n250 PIPELINING\r\n")
                elif verb == "RCPT":
                    rcpt = text.split("<", 1)[1].rstrip(">")
                    if self.refuse and self.refuse in rcpt:
                        conn.sendall(b"550 5.1.1 no such user\r\n")
                        rcpt = ""
                    else:
                        conn.sendall(b"250 ok\r\n")
                elif verb == "DATA":
                    if rcpt:
                        body = []
                        conn.sendall(b"354 go ahead\r\n")
                    else:
                        conn.sendall(b"554 5.5.1 no valid recipients\r\n")
                elif verb == "QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 ok\r\n")
        except OSError:
            pass
        finally:
            conn.close()
            ended.set()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def wire() -> Iterator[WireServer]:
    server = WireServer()
    yield server
    server.close()


def test_the_next_envelope_goes_out_with_the_final_dot(wire: WireServer) -> None:
    """One round trip per message, not two: the next MAIL, RCPT and DATA are written
    with the final dot, and their replies still count for the next message only."""
    settings = SmtpSettings.from_url(f"smtp://127.0.0.1:{wire.port}?timeout=5")
    wire.refuse = "dead@"
    rcpts = ["a@example.org", "dead@example.org", "b@example.org", "c@example.org"]
    outcomes = []
    with SmtpSender(settings) as sender:
        for i, rcpt in enumerate(rcpts):
            then = ("news@example.com", rcpts[i + 1]) if i + 1 < len(rcpts) else None
            outcomes.append(sender.deliver("news@example.com", rcpt, MESSAGE, then=then))
    assert [o.kind for o in outcomes] == [Kind.SENT, Kind.BOUNCED, Kind.SENT, Kind.SENT]
    assert outcomes[1].text == "550 5.1.1 no such user"
    assert [r for r, _ in wire.bodies] == ["a@example.org", "b@example.org", "c@example.org"]
    # a's dot came with dead's envelope; b's with c's; c was last. (dead had no body.)
    assert wire.early == [True, True, False]
    assert len(wire.settled()) == 1


def test_a_wire_message_arrives_unstuffed_and_whole(wire: WireServer) -> None:
    from digest import message

    raw = b"Subject: dots\r\n\r\n.starts with a dot\r\n..two\r\nmid.dle\r\n.\r\nend\r\n"
    settings = SmtpSettings.from_url(f"smtp://127.0.0.1:{wire.port}?timeout=5")
    with SmtpSender(settings) as sender:
        a = sender.deliver(
            "n@example.com", "a@example.org", message.stuff(raw) + b".\r\n", wire=True
        )
        b = sender.deliver("n@example.com", "b@example.org", raw)
    assert a.kind is b.kind is Kind.SENT
    assert wire.bodies == [("a@example.org", raw), ("b@example.org", raw)]


def test_an_envelope_sent_ahead_for_a_message_that_does_not_follow_is_abandoned(
    wire: WireServer,
) -> None:
    """The guess was wrong (say the subscriber left meanwhile): the server, waiting for
    a body after DATA, gets none; the connection is dropped, not QUIT (which would
    become message text), and the real next message goes on a new connection."""
    settings = SmtpSettings.from_url(f"smtp://127.0.0.1:{wire.port}?timeout=5")
    with SmtpSender(settings) as sender:
        first = sender.deliver(
            "n@example.com", "a@example.org", MESSAGE, then=("n@example.com", "gone@example.org")
        )
        other = sender.deliver(
            "n@example.com", "b@example.org", MESSAGE, then=("n@example.com", "c@example.org")
        )
    assert first.kind is other.kind is Kind.SENT
    assert [r for r, _ in wire.bodies] == ["a@example.org", "b@example.org"]
    one, two = wire.settled()
    # a's envelope, then (written with a's dot) the one for gone@, never used; then b's
    # and c's on a new connection. The client drops each connection with replies it
    # never read, so the kernel resets it and the server may miss the last lines.
    assert one[:5] == ["EHLO", "MAIL", "RCPT", "DATA", "MAIL"]
    assert two[:5] == ["EHLO", "MAIL", "RCPT", "DATA", "MAIL"]
    assert "QUIT" not in one + two  # a QUIT there would have become message text


def test_a_send_pipelines_each_next_envelope_and_keeps_the_ledger_exact(
    store: Store, settings: Settings, wire: WireServer
) -> None:
    """`digest send` over one connection: every message but the last has the next
    subscriber's envelope written with its final dot. A refused recipient found that
    way is recorded against its own row, and each body is the message, byte for byte
    once unstuffed."""
    import email
    import email.policy

    make_project(store, 5)
    wire.refuse = "s3@"
    report = send(store, quick(settings, f"smtp://127.0.0.1:{wire.port}?timeout=5"))
    assert (report.sent, report.bounced) == (4, 1)
    assert {email: row[0] for email, row in ledger(store).items()} == {
        "s1@example.org": "sent",
        "s2@example.org": "sent",
        "s3@example.org": "bounced",
        "s4@example.org": "sent",
        "s5@example.org": "sent",
    }
    assert [r for r, _ in wire.bodies] == [f"s{i}@example.org" for i in (1, 2, 4, 5)]
    assert wire.early == [True, True, True, False]
    assert len(wire.settled()) == 1
    rows = ledger(store)
    for rcpt, body in wire.bodies:
        parsed = email.message_from_bytes(body, policy=email.policy.default)
        assert parsed["Message-ID"] == rows[rcpt][2] and parsed["To"].endswith(f"<{rcpt}>")
