"""SMTP: connections, TLS, authentication, pace, and what each reply means for a message.

`SmtpSender.deliver()` sends one message over a reused connection and never raises for
a reply: it returns an `Outcome` (RFC 5321 reply codes, RFC 3463 enhanced codes).
`pool` runs several senders in parallel and keeps the pace.
"""

from __future__ import annotations

import base64
import enum
import hmac
import smtplib
import ssl
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from digest.errors import (
    ConfigError,
    SmtpAuthError,
    SmtpBounceError,
    SmtpConnectionError,
    SmtpError,
    SmtpPolicyError,
    SmtpTemporaryError,
)

_TRUE = {"1", "true", "yes", "on"}
_UNSAFE = set("<>\r\n")
_FALSE = {"0", "false", "no", "off", ""}
URL_OPTIONS = (
    "starttls",
    "timeout",
    "data_timeout",
    "connections",
    "rate",
    "max_per_hour",
    "ca_file",
)


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = False
    username: str = ""
    password: str = ""
    timeout: float = 60.0  # each command and reply
    data_timeout: float = 600.0  # the wait after the final dot (RFC 5321 §4.5.3.2.6: 10 min)
    ca_file: str = ""
    connections: int = 1
    rate: float = 0.0  # messages per second over all connections; 0: no limit
    max_per_hour: int = 0  # 0: no limit

    @property
    def label(self) -> str:
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{self.host}:{self.port}"

    @classmethod
    def from_url(cls, url: str, *, password: str = "", ca_file: str = "") -> SmtpSettings:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError(
                f"bad SMTP URL {url!r}",
                hint="use smtp://host:587?starttls=true or smtps://host:465",
            )
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        unknown = sorted(set(query) - set(URL_OPTIONS))
        if unknown:
            raise ConfigError(
                f"unknown SMTP URL option {unknown[0]!r} in DIGEST_SMTP_URL",
                hint="known options: " + ", ".join(URL_OPTIONS),
            )
        starttls = query.get("starttls", "").lower()
        if starttls not in _TRUE | _FALSE:
            raise ConfigError(f"?starttls={starttls!r} is not true or false", hint="?starttls=true")
        try:
            port = parts.port or (465 if parts.scheme == "smtps" else 25)
            timeout = float(query.get("timeout", 60))
            data_timeout = float(query.get("data_timeout", 600))
            connections = int(query.get("connections", 1))
            rate = _parse_rate(query.get("rate", "0"))
            max_per_hour = int(query.get("max_per_hour", 0))
        except ValueError:
            raise ConfigError(
                f"bad number in SMTP URL {_redact(url)!r}",
                hint="e.g. ?connections=4&rate=50/s&max_per_hour=20000&timeout=60",
            ) from None
        if not (1 <= connections <= 64) or timeout <= 0 or data_timeout <= 0:
            raise ConfigError(
                "SMTP URL: connections must be 1..64 and timeouts positive",
                hint="e.g. ?connections=4&timeout=60&data_timeout=600",
            )
        if rate < 0 or max_per_hour < 0:
            raise ConfigError(
                "SMTP URL: rate and max_per_hour cannot be negative", hint="?rate=10/s"
            )
        return cls(
            host=parts.hostname,
            port=port,
            implicit_tls=parts.scheme == "smtps",
            starttls=starttls in _TRUE,
            username=unquote(parts.username or ""),
            password=password or unquote(parts.password or ""),
            timeout=timeout,
            data_timeout=data_timeout,
            ca_file=query.get("ca_file", ca_file),
            connections=connections,
            rate=rate,
            max_per_hour=max_per_hour,
        )


def _parse_rate(value: str) -> float:
    """`10`, `10/s`, `600/min` or `36000/h`, as messages per second."""
    number, _, unit = value.partition("/")
    per = {"": 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}.get(unit.strip())
    if per is None:
        raise ValueError(value)
    return float(number) / per


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(":" + parts.password + "@", ":***@", 1)
    return url


def tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    """Certificates and host names are verified; a site's own CA can be trusted with ca_file."""
    context = ssl.create_default_context()
    if settings.ca_file:
        try:
            context.load_verify_locations(cafile=settings.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot load CA file {settings.ca_file}: {exc}", hint="check DIGEST_SMTP_CA_FILE"
            ) from None
    return context


class Kind(enum.Enum):
    """What one reply means for one message."""

    SENT = "sent"
    DEFERRED = "deferred"  # 4xx: try again later
    RECONNECT = "reconnect"  # 421: the server closes; reconnect and try again
    RETRY = "retry"  # connection lost before the message was complete: not delivered
    MAYBE = "maybe"  # lost or timed out after the final dot: maybe delivered
    BOUNCED = "bounced"  # 5.1.x, 5.2.1: the address is dead (a hard bounce)
    SOFT_BOUNCED = "soft-bounced"  # a bare 550 or another 5xx that does not say so
    POLICY = "policy"  # 5.7.x or a refused sender: stop the run
    FAILED = "failed"  # any other permanent failure of this message
    DOWN = "down"  # cannot connect, log in or start TLS


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: Kind
    code: int
    reply: str

    @property
    def text(self) -> str:
        return f"{self.code} {self.reply}".strip() if self.code else self.reply


def enhanced_code(reply: str) -> str:
    """The RFC 3463 code at the start of a reply text, e.g. '5.1.1', else ''."""
    head = reply.split(None, 1)[0] if reply.split() else ""
    pieces = head.split(".")
    if len(pieces) == 3 and pieces[0] in ("2", "4", "5") and all(p.isdigit() for p in pieces):
        return head
    return ""


def is_hard_bounce(enhanced: str) -> bool:
    """Does this RFC 3463 code say the recipient's address is dead?

    5.1.x (addressing: bad mailbox 5.1.1, bad system 5.1.2, bad syntax 5.1.3, moved
    without forwarding 5.1.6, no mail service 5.1.10, other 5.1.0) and 5.2.1 (mailbox
    disabled). Not 5.1.7 and 5.1.8: those are about the sender's address.
    """
    if enhanced == "5.2.1":
        return True
    return enhanced.startswith("5.1.") and enhanced not in ("5.1.7", "5.1.8")


def classify(code: int, reply: str, *, stage: str = "rcpt") -> Kind:
    """Map a reply to a Kind. `stage` is mail, rcpt or data (data includes the final dot).

    Only an enhanced code decides a hard bounce. Many policy rejections are a bare 550,
    so a 5xx refusing a recipient without saying the address is dead is a soft bounce:
    it counts against the address, which bounces after several (delivery.py).
    """
    if 200 <= code < 400:
        return Kind.SENT
    if code == 421:
        return Kind.RECONNECT
    if 400 <= code < 500:
        return Kind.DEFERRED
    enhanced = enhanced_code(reply)
    if enhanced.startswith("5.7.") or stage == "mail":
        return Kind.POLICY
    if is_hard_bounce(enhanced):
        return Kind.BOUNCED
    if not enhanced and code in (530, 535, 554):
        return Kind.POLICY
    if stage == "rcpt" and enhanced not in ("5.1.7", "5.1.8"):
        return Kind.SOFT_BOUNCED
    return Kind.FAILED


class SmtpSender(AbstractContextManager["SmtpSender"]):
    """One SMTP connection, reused for many messages; reconnects when it has to."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None
        self._pipelining = False
        # The envelope (from, to) sent after the last final dot, its replies unread.
        self._ahead: tuple[str, str] | None = None

    def __enter__(self) -> SmtpSender:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        s = self.settings
        smtp: smtplib.SMTP | None = None
        step = "greeting"  # which exchange failed, for the message
        try:
            if s.implicit_tls:
                smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=tls_context(s))
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            step = "EHLO"
            smtp.ehlo_or_helo_if_needed()
            if s.starttls and not s.implicit_tls:
                if not smtp.has_extn("starttls"):
                    raise SmtpConnectionError(
                        f"{s.label} does not offer STARTTLS; refusing to send in clear",
                        hint="use the server's TLS port or fix its TLS setup",
                    )
                step = "STARTTLS"
                smtp.starttls(context=tls_context(s))
                smtp.ehlo()
            if s.username:
                step = "AUTH"
                authenticate(smtp, s.username, s.password)
            self._pipelining = smtp.has_extn("pipelining")
        except SmtpError:
            _close_quietly(smtp)
            raise
        except (OSError, smtplib.SMTPException) as exc:
            _close_quietly(smtp)
            raise _connect_error(s, smtp, step, exc) from None
        self._smtp = smtp

    def deliver(
        self,
        from_addr: str,
        to_addr: str,
        data: bytes,
        *,
        wire: bool = False,
        then: tuple[str, str] | None = None,
    ) -> Outcome:
        """Send one message; the Outcome says what happened. Never raises for a reply.

        `wire=True`: `data` is already dot-stuffed and ends with the final CRLF.CRLF
        (message.build_wire does that once per edition, not once per message).
        `then=(from, to)`: the next message's envelope, which, when the server offers
        PIPELINING, goes out in the same write as this message's final dot (RFC 2920
        §3.1 lets message content start a group and DATA end it), so the next message
        costs one round trip instead of two. Its replies are read by the next
        `deliver`, and count for that message alone; a `deliver` for any other
        envelope first drops the connection, which abandons that transaction without
        a message (the server was waiting for a body).
        """
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead != (from_addr, to_addr):
            self.close(polite=False)
            ahead = None
        if self._smtp is None:
            try:
                self.connect()
            except SmtpError as exc:
                return Outcome(
                    Kind.DOWN, 0, f"{exc.message} ({exc.hint})" if exc.hint else exc.message
                )
        smtp = self._smtp
        assert smtp is not None
        if _UNSAFE.intersection(from_addr + to_addr):
            return Outcome(
                Kind.FAILED, 0, f"refusing an address with <, > or a line break: {to_addr!r}"
            )
        if then is not None and (not self._pipelining or _UNSAFE.intersection(then[0] + then[1])):
            then = None
        stage = "mail"
        clean = True
        try:
            try:
                if ahead is None:
                    commands = _commands(from_addr, to_addr)
                    if self._pipelining:
                        _write(smtp, [b"".join(line for _, line, _ in commands)])
                    stage, code, reply, clean = self._replies(smtp, commands)
                else:
                    stage, code, reply, clean = self._replies(smtp, _commands(*ahead))
            except _LostAt as lost:
                stage = lost.stage
                raise lost.cause from None
            if code == 354:
                if wire:
                    parts = [data]
                else:
                    payload = data
                    if b"\r\n." in payload:
                        payload = payload.replace(b"\r\n.", b"\r\n..")
                    if payload.startswith(b"."):
                        payload = b"." + payload
                    if not payload.endswith(b"\r\n"):
                        payload += b"\r\n"
                    parts = [payload, b".\r\n"]
                if then is not None:
                    parts.append(b"".join(line for _, line, _ in _commands(*then)))
                # With the next envelope after it, a failed write may have carried the
                # final dot: the server may have the message.
                stage = "body" if then is not None else "data"
                _write(smtp, parts)
                stage = "dot"
                assert smtp.sock is not None
                smtp.sock.settimeout(self.settings.data_timeout)
                try:
                    code, reply = smtp.getreply()
                finally:
                    if smtp.sock is not None:
                        smtp.sock.settimeout(self.settings.timeout)
                if then is not None:
                    self._ahead = then
        except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
            self.close(polite=False)
            timed_out = isinstance(exc, TimeoutError) or "timed out" in str(exc)
            what = "timed out" if timed_out else "was lost"
            if stage == "dot":
                return Outcome(Kind.MAYBE, 0, f"connection {what} after the final dot: {exc}")
            if stage == "body":  # part of it may have gone: the server may count it
                return Outcome(Kind.MAYBE, 0, f"connection {what} sending the message: {exc}")
            return Outcome(Kind.RETRY, 0, f"connection {what} {_LOST_AT[stage]}: {exc}")
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        text = " ".join(text.split())
        kind = classify(code, text, stage="data" if stage == "dot" else stage)
        if kind is Kind.RECONNECT or not clean:
            self.close(polite=False)
        elif kind is not Kind.SENT and stage != "dot":
            # After the final dot's reply the transaction is over, whatever it said (RFC
            # 5321 §4.1.1.4); an RSET there would land in the next, pipelined one.
            self._reset()
        return Outcome(kind, code, text)

    def _replies(
        self, smtp: smtplib.SMTP, commands: tuple[tuple[str, bytes, tuple[int, ...]], ...]
    ) -> tuple[str, int, bytes, bool]:
        """MAIL, RCPT and DATA: (stage, code, reply, clean), code 354 meaning go ahead.

        The commands are written by hand: smtplib's mail()/rcpt() re-parse each address
        with email.utils (about 0.1 ms apiece); ours were validated on the way in. With
        PIPELINING (RFC 2920) the three went out in one write (by the caller, perhaps
        after the last message's final dot) and the replies are read here in order.
        Without it each command is sent and answered in turn. `clean` is False when the
        session is in an unknown state after a failure and must be closed, not RSET.
        """
        if not self._pipelining:
            code, reply = 0, b""
            for stage, line, ok in commands:
                try:
                    smtp.send(line)
                    code, reply = smtp.getreply()
                except (smtplib.SMTPServerDisconnected, OSError) as exc:
                    raise _LostAt(stage, exc) from None
                if code not in ok:
                    return stage, code, reply, True
            return "data", code, reply, True
        replies: list[tuple[int, bytes]] = []
        failed: tuple[str, int, bytes] | None = None
        for stage, _, ok in commands:
            try:
                code, reply = smtp.getreply()
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                if failed is None:
                    # The replies come in order: lost while waiting for this one.
                    raise _LostAt(stage, exc) from None
                return (*failed, False)
            replies.append((code, reply))
            if failed is None and code not in ok:
                failed = (stage, code, reply)
        if failed is not None:
            # A 354 after a failed RCPT would wait for a body we will not send.
            return (*failed, replies[-1][0] != 354)
        return "data", *replies[-1], True

    def send(self, from_addr: str, to_addr: str, data: bytes) -> str:
        """Send one message; returns the reply or raises a classified SmtpError."""
        outcome = self.deliver(from_addr, to_addr, data)
        if outcome.kind is Kind.SENT:
            return outcome.text
        error = _ERRORS.get(outcome.kind, SmtpError)
        hint = _KIND_HINTS.get(outcome.kind) or _HINTS.get(error, "")
        raise error(f"{to_addr}: {outcome.text}", hint=hint)

    def _reset(self) -> None:
        if self._smtp is None:
            return
        try:
            self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.close(polite=False)

    def close(self, *, polite: bool = True) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        if self._ahead is not None:
            # The server may be waiting for a body after DATA: a QUIT would become
            # message text. Dropping the connection abandons that transaction.
            self._ahead = None
            polite = False
        if polite:
            try:
                smtp.quit()
                return
            except (smtplib.SMTPException, OSError):
                pass
        _close_quietly(smtp)


def _connect_error(
    s: SmtpSettings, smtp: smtplib.SMTP | None, step: str, exc: Exception
) -> SmtpError:
    """What went wrong while connecting, and what to do about it, as one error."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return SmtpAuthError(
            f"could not log in to {s.host} as {s.username}: {_reply_text(exc)}",
            hint="check the user and password in DIGEST_SMTP_URL / DIGEST_SMTP_PASSWORD",
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError) and step == "AUTH":
        assert smtp is not None
        if not (s.implicit_tls or s.starttls) and smtp.has_extn("starttls"):
            return SmtpAuthError(
                f"{s.label} offers AUTH only after STARTTLS, and DIGEST_SMTP_URL does not ask"
                " for STARTTLS: not logging in",
                hint="add ?starttls=true to DIGEST_SMTP_URL (port 587), or use smtps:// (port 465)",
            )
        if str(exc) == "no AUTH":
            return SmtpAuthError(
                f"{s.label} does not offer AUTH, so it cannot log us in as {s.username}",
                hint="if the server needs no login, drop the user from DIGEST_SMTP_URL;"
                " otherwise turn on AUTH on the server",
            )
        return SmtpAuthError(
            f"{s.label} offers {exc}: none of {', '.join(AUTH_MECHANISMS)}, which digest speaks",
            hint="enable PLAIN or LOGIN (over TLS) on the server, or relay through one that has",
        )
    if isinstance(exc, smtplib.SMTPConnectError):  # a greeting other than 220
        if 400 <= exc.smtp_code < 500:
            return SmtpConnectionError(
                f"{s.label} turned us away at the greeting: {_reply_text(exc)}",
                hint="a temporary refusal (busy, or limiting connections): run `digest send`"
                " again later; it resumes where it stopped",
            )
        return SmtpConnectionError(
            f"{s.label} refuses connections from this machine: {_reply_text(exc)}",
            hint="ask the server's administrator to accept this host, or send through the"
            " relay you are meant to use",
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected) or (
        isinstance(exc, ConnectionError) and step != "greeting"
    ):
        where = "before greeting us" if step == "greeting" else f"during {step}"
        return SmtpConnectionError(
            f"{s.label} closed the connection {where}",
            hint="it may be limiting connections or refusing this client: try again later,"
            " and read the server's log if it keeps happening",
        )
    if isinstance(exc, smtplib.SMTPResponseException):  # EHLO or STARTTLS refused
        return SmtpConnectionError(
            f"{s.label} refused {step}: {_reply_text(exc)}",
            hint="the server does not accept this client"
            if step == "EHLO"
            else "the server's TLS is not working: fix it, or use smtps:// (port 465)",
        )
    if isinstance(exc, ssl.SSLError):
        reason = getattr(exc, "verify_message", "") or exc.reason
        return SmtpConnectionError(
            f"TLS with {s.label} failed: {reason}",
            hint="for a private CA set DIGEST_SMTP_CA_FILE (or ?ca_file=) to its certificate",
        )
    if isinstance(exc, TimeoutError):
        return SmtpConnectionError(
            f"{s.label} did not answer within {s.timeout:g} s ({step})",
            hint="check the host and port (a firewall that drops packets looks like this),"
            " or allow longer with ?timeout=",
        )
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return SmtpConnectionError(
        f"cannot connect to {s.label}: {detail}",
        hint="is the SMTP server running, and are the host and port right?"
        " (try `digest smtp-sink` locally)",
    )


def _reply_text(exc: smtplib.SMTPResponseException) -> str:
    """`421 4.3.2 busy`, not smtplib's `(421, b'4.3.2 busy')`."""
    error = exc.smtp_error
    text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
    return f"{exc.smtp_code} {' '.join(text.split())}"


AUTH_MECHANISMS = ("CRAM-MD5", "PLAIN", "LOGIN")  # in smtplib's order of preference


def authenticate(smtp: smtplib.SMTP, username: str, password: str) -> None:
    """AUTH with the user and password as UTF-8 (RFC 4954, RFC 4616), any characters.

    smtplib's `login()` encodes them as ASCII and raises UnicodeEncodeError for
    'pässwörd'. Mechanisms are tried as smtplib does: CRAM-MD5, PLAIN, LOGIN, those the
    server offers, until one succeeds. Raises SMTPAuthenticationError (refused) or
    SMTPNotSupportedError (no AUTH, or no mechanism we know, on this connection).
    """
    offered = smtp.esmtp_features.get("auth", "").upper().split()
    mechanisms = [m for m in AUTH_MECHANISMS if m in offered]
    if not mechanisms:
        raise smtplib.SMTPNotSupportedError(
            "no AUTH" if not offered else "AUTH " + " ".join(offered)
        )
    user, secret = username.encode("utf-8"), password.encode("utf-8")
    refused: smtplib.SMTPAuthenticationError | None = None
    for mechanism in mechanisms:
        if mechanism == "PLAIN":
            code, reply = smtp.docmd("AUTH", "PLAIN " + _b64(b"\0" + user + b"\0" + secret))
        else:
            code, reply = smtp.docmd("AUTH", mechanism)
            # LOGIN: the user, then the password; CRAM-MD5: one answer to its challenge.
            answers: list[bytes | None] = [user, secret] if mechanism == "LOGIN" else [None]
            for answer in answers:
                if code != 334:
                    break
                if answer is None:
                    digest = hmac.new(secret, base64.b64decode(reply), "md5").hexdigest()
                    answer = user + b" " + digest.encode("ascii")
                code, reply = smtp.docmd(_b64(answer))
            if code == 334:  # more challenges than the mechanism has: cancel (RFC 4954)
                code, reply = smtp.docmd("*")
        if code in (235, 503):  # 503: already authenticated
            return
        refused = smtplib.SMTPAuthenticationError(code, reply)
    assert refused is not None
    raise refused


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _commands(from_addr: str, to_addr: str) -> tuple[tuple[str, bytes, tuple[int, ...]], ...]:
    """The envelope's commands: (stage, line, the reply codes that mean go on)."""
    utf8 = " SMTPUTF8" if not (to_addr.isascii() and from_addr.isascii()) else ""
    return (
        ("mail", f"MAIL FROM:<{from_addr}>{utf8}\r\n".encode(), (250,)),
        ("rcpt", f"RCPT TO:<{to_addr}>\r\n".encode(), (250, 251)),
        ("data", b"DATA\r\n", (354,)),
    )


def _write(smtp: smtplib.SMTP, parts: list[bytes]) -> None:
    """Write `parts` as one stream, without joining them into a copy where the socket
    can gather them (sendmsg; TLS sockets cannot, so those get one joined write)."""
    sock = smtp.sock
    if sock is None:
        raise smtplib.SMTPServerDisconnected("please run connect() first")
    try:
        if isinstance(sock, ssl.SSLSocket) or len(parts) == 1:
            sock.sendall(parts[0] if len(parts) == 1 else b"".join(parts))
            return
        views = [memoryview(p) for p in parts if p]
        while views:
            sent = sock.sendmsg(views)
            while views and sent >= len(views[0]):
                sent -= len(views[0])
                views.pop(0)
            if sent:
                views[0] = views[0][sent:]
    except OSError:
        smtp.close()
        raise


class _LostAt(Exception):
    """The connection broke while sending a command of `stage` or awaiting its reply."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(stage)
        self.stage = stage
        self.cause = cause


# What a lost connection means at each stage (the replies before it came in).
_LOST_AT = {
    "mail": "before the server answered MAIL FROM",
    "rcpt": "after MAIL FROM was accepted, before the server answered RCPT TO",
    "data": "after RCPT TO was accepted, before the server answered DATA",
}


def _close_quietly(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        with suppress(OSError):
            smtp.close()


_ERRORS: dict[Kind, type[SmtpError]] = {
    Kind.DEFERRED: SmtpTemporaryError,
    Kind.RECONNECT: SmtpTemporaryError,
    Kind.RETRY: SmtpConnectionError,
    Kind.MAYBE: SmtpConnectionError,
    Kind.DOWN: SmtpConnectionError,
    Kind.BOUNCED: SmtpBounceError,
    Kind.SOFT_BOUNCED: SmtpBounceError,
    Kind.POLICY: SmtpPolicyError,
}
_HINTS = {
    SmtpTemporaryError: "temporary: run `digest send` again later to retry",
    SmtpConnectionError: "check the SMTP server; the run can be resumed with `digest send`",
    SmtpBounceError: "the address is dead",
    SmtpPolicyError: "the server refuses us (policy or reputation): check before sending more",
}
_KIND_HINTS = {
    Kind.SOFT_BOUNCED: "the server refused this address without saying it is dead"
    " (a soft bounce): check the reply, or try again later",
}
