"""A scriptable SMTP server for fault tests, built on aiosmtpd, on a free loopback port.

`greeting` replaces the 220 greeting (e.g. "421 4.3.2 too busy"), closing the connection.
`rcpt` maps a recipient to a rule `attempt -> reply or None` (None: accept; "drop": close
without a reply; "drop-after-250": accept it, then close before DATA); `data` is a
rule `n -> action` for the server's n-th DATA (1-based), where an action is None
(accept), a reply such as "421 4.3.2 closing" or "554 5.7.1 blocked", "drop" (close the
connection without a reply after reading the message), "slow:SECONDS" (reply late), or
"hold" (record the message, then wait until `release()` before replying).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hmac
import socket
import ssl
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, Session

from digest.sink import free_port

Rule = Callable[[int], "str | None"]


def always(reply: str) -> Rule:
    return lambda attempt: reply


def fail_times(times: int, reply: str) -> Rule:
    return lambda attempt: reply if attempt <= times else None


def at(actions: dict[int, str]) -> Rule:
    return lambda n: actions.get(n)


@dataclass(frozen=True)
class Received:
    rcpt: str
    message_id: str
    data: bytes


class FaultHandler:
    def __init__(self) -> None:
        self.rcpt: dict[str, Rule] = {}
        self.data: Rule = lambda n: None
        self.rcpt_attempts: dict[str, int] = {}
        self.data_count = 0
        self.seen: list[Received] = []  # every message whose content arrived
        self.accepted: list[Received] = []  # those answered 250
        self.connections = 0
        self.pipelining = True
        self.credentials: tuple[str, str] | None = None
        self.greeting = ""
        self.auth_seen: list[str] = []  # the mechanism of each successful AUTH
        self._released = threading.Event()
        self.holding = threading.Event()
        self._lock = threading.Lock()

    def release(self) -> None:
        self._released.set()

    def hold_again(self) -> None:
        """Make the next "hold" action wait again until release()."""
        self.holding.clear()
        self._released.clear()

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: Any
    ) -> Any:
        self.connections += 1
        session.host_name = hostname
        if self.pipelining:  # aiosmtpd reads one line at a time, so it copes
            responses.insert(1, "250-PIPELINING")
        return responses

    async def auth_CRAM__MD5(self, server: SMTP, args: list[str]) -> AuthResult:
        """CRAM-MD5 (RFC 2195), which aiosmtpd lacks: HMAC-MD5 keyed by the UTF-8 password."""
        challenge = b"<1896.697170952@digest.test>"
        answer = await server.challenge_auth(challenge)
        if answer is MISSING or self.credentials is None:
            return AuthResult(success=False, handled=False)
        assert isinstance(answer, bytes)
        user, _, digest = answer.rpartition(b" ")
        name, password = self.credentials
        expected = hmac.new(password.encode(), challenge, "md5").hexdigest().encode()
        ok = user == name.encode() and hmac.compare_digest(digest, expected)
        if ok:
            self.auth_seen.append("CRAM-MD5")
        return AuthResult(success=ok, handled=False)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        with self._lock:
            attempt = self.rcpt_attempts[address] = self.rcpt_attempts.get(address, 0) + 1
        rule = self.rcpt.get(address)
        reply = rule(attempt) if rule else None
        assert server.transport is not None
        if reply == "drop":  # the connection is lost before the message's final dot
            server.transport.abort()
            return "250 never sent"
        if reply == "drop-after-250":
            server.transport.write(b"250 OK\r\n")
            server.transport.close()  # written first, then closed: DATA gets no reply
            return "250 never sent"
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content: Any = envelope.original_content or envelope.content
        data = content if isinstance(content, bytes) else str(content).encode()
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        item = Received(envelope.rcpt_tos[0], str(parsed["Message-ID"]), data)
        with self._lock:
            self.data_count += 1
            n = self.data_count
            self.seen.append(item)
        action = self.data(n)
        if action == "drop":
            assert server.transport is not None
            server.transport.abort()
            return "250 never sent"
        if action and action.startswith("slow:"):
            await asyncio.sleep(float(action[5:]))
            action = None
        if action == "hold":
            self.holding.set()
            while not self._released.is_set():
                await asyncio.sleep(0.01)
            action = None
        if action:
            return action
        self.accepted.append(item)
        return "250 2.0.0 queued"

    def accepted_ids(self) -> dict[str, set[str]]:
        """Recipient -> the distinct Message-IDs it received (accepted or not)."""
        ids: dict[str, set[str]] = {}
        for item in self.seen:
            ids.setdefault(item.rcpt, set()).add(item.message_id)
        return ids


class _FaultSMTP(SMTP):
    """aiosmtpd's server, except that it can greet with the handler's `greeting` and hang up."""

    _greeted = False

    async def push(self, status: bytes | str) -> None:
        greeting = getattr(self.event_handler, "greeting", "")
        if not self._greeted:
            self._greeted = True
            if greeting:
                await super().push(greeting)
                assert self.transport is not None
                self.transport.close()
                return
        await super().push(status)


class _FaultController(Controller):
    def factory(self) -> SMTP:
        return _FaultSMTP(self.handler, **self.SMTP_kwargs)


class FaultServer:
    """`with FaultServer() as server:`; script `server.handler`; `server.url` to send to.

    `tls` = (certfile, keyfile): `implicit=True` serves smtps, otherwise offers STARTTLS.
    `credentials` = (user, password) turns on AUTH with `mechanisms`, offered only after
    STARTTLS unless `auth_require_tls=False`.
    """

    def __init__(
        self,
        *,
        tls: tuple[str, str] | None = None,
        implicit: bool = False,
        host: str = "127.0.0.1",
        pipelining: bool = True,
        credentials: tuple[str, str] | None = None,
        mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN"),
        auth_require_tls: bool = True,
    ) -> None:
        self.host = host
        self.port = free_port(host)
        self.handler = FaultHandler()
        self.handler.pipelining = pipelining
        self.implicit = implicit and tls is not None
        kwargs: dict[str, Any] = {}
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            if implicit:
                kwargs["ssl_context"] = context
            else:
                kwargs["tls_context"] = context
        if credentials is not None:
            self.handler.credentials = credentials
            handler = self.handler

            def authenticate(
                server: Any, session: Any, envelope: Any, mechanism: str, data: Any
            ) -> AuthResult:
                given = tuple(v.decode() if isinstance(v, bytes) else v for v in data)
                ok = given == credentials
                if ok:
                    handler.auth_seen.append(mechanism)
                return AuthResult(success=ok, handled=False)

            kwargs["authenticator"] = authenticate
            kwargs["auth_require_tls"] = auth_require_tls
            # mechanisms: those the server offers (aiosmtpd's PLAIN and LOGIN, ours CRAM-MD5)
            excluded = {"PLAIN", "LOGIN", "CRAM-MD5"} - set(mechanisms)
            kwargs["auth_exclude_mechanism"] = sorted(excluded)
        self.controller = _FaultController(
            self.handler,
            hostname=host,
            port=self.port,
            decode_data=False,
            ready_timeout=10,
            **kwargs,
        )

    @property
    def url(self) -> str:
        return f"{'smtps' if self.implicit else 'smtp'}://{self.host}:{self.port}"

    def __enter__(self) -> FaultServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.handler.release()
        self.controller.stop()


class Wiretap:
    """A loopback relay to `target` that records each chunk the client's writes arrive in.

    `with Wiretap(server.port) as tap:` then connect to `tap.url`; `tap.chunks` holds
    what each recv() from the client returned, in order.
    """

    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.target_port = target_port
        self.chunks: list[bytes] = []
        self._listener = socket.create_server((host, 0))
        self.port = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def __enter__(self) -> Wiretap:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection((self.host, self.target_port))
            for source, sink, record in ((client, upstream, True), (upstream, client, False)):
                pump = threading.Thread(target=self._pump, args=(source, sink, record), daemon=True)
                pump.start()
                self._threads.append(pump)

    def _pump(self, source: socket.socket, sink: socket.socket, record: bool) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                if record:
                    self.chunks.append(data)
                sink.sendall(data)
        for sock in (source, sink):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
