"""A scriptable SMTP server for fault tests, built on aiosmtpd, on a free loopback port.

`rcpt` maps a recipient to a rule `attempt -> reply or None` (None: accept; "drop" closes
the connection without a reply); `data` is a
rule `n -> action` for the server's n-th DATA (1-based), where an action is None
(accept), a reply such as "421 4.3.2 closing" or "554 5.7.1 blocked", "drop" (close the
connection without a reply after reading the message), "slow:SECONDS" (reply late), or
"hold" (record the message, then wait until `release()` before replying).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

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

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        with self._lock:
            attempt = self.rcpt_attempts[address] = self.rcpt_attempts.get(address, 0) + 1
        rule = self.rcpt.get(address)
        reply = rule(attempt) if rule else None
        if reply == "drop":  # the connection is lost before the message's final dot
            assert server.transport is not None
            server.transport.abort()
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


class FaultServer:
    """`with FaultServer() as server:`; script `server.handler`; `server.url` to send to.

    `tls` = (certfile, keyfile): `implicit=True` serves smtps, otherwise offers STARTTLS.
    """

    def __init__(
        self,
        *,
        tls: tuple[str, str] | None = None,
        implicit: bool = False,
        host: str = "127.0.0.1",
        pipelining: bool = True,
        credentials: tuple[str, str] | None = None,
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

            def authenticate(
                server: Any, session: Any, envelope: Any, mechanism: str, data: Any
            ) -> AuthResult:
                given = tuple(v.decode() if isinstance(v, bytes) else v for v in data)
                ok = given == credentials
                return AuthResult(success=ok, handled=False)

            kwargs["authenticator"] = authenticate
            kwargs["auth_require_tls"] = True
        self.controller = Controller(
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
