"""SMTP: connections, TLS, authentication and reply-code classification."""

from __future__ import annotations

import smtplib
import ssl
from contextlib import AbstractContextManager
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


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = False
    username: str = ""
    password: str = ""
    timeout: float = 60.0
    ca_file: str = ""

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
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            port = parts.port or (465 if parts.scheme == "smtps" else 25)
            timeout = float(query.get("timeout", 60))
        except ValueError:
            raise ConfigError(
                f"bad port or timeout in SMTP URL {url!r}", hint="ports are numbers"
            ) from None
        return cls(
            host=parts.hostname,
            port=port,
            implicit_tls=parts.scheme == "smtps",
            starttls=query.get("starttls", "").lower() in _TRUE,
            username=unquote(parts.username or ""),
            password=password or unquote(parts.password or ""),
            timeout=timeout,
            ca_file=query.get("ca_file", ca_file),
        )


def tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    """Certificates are verified; a site's own CA can be trusted with ca_file."""
    context = ssl.create_default_context()
    if settings.ca_file:
        try:
            context.load_verify_locations(cafile=settings.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot load CA file {settings.ca_file}: {exc}", hint="check DIGEST_SMTP_CA_FILE"
            ) from None
    return context


def classify(code: int, reply: str) -> type[SmtpError]:
    """Map an SMTP reply to what we do about it (RFC 5321 codes, RFC 3463 enhanced codes)."""
    enhanced = reply.split(" ", 1)[0] if reply[:1] in "245" and "." in reply[:7] else ""
    if 400 <= code < 500:
        return SmtpTemporaryError
    if enhanced.startswith("5.7.") or code in (530, 535, 554) and not enhanced.startswith("5.1"):
        return SmtpPolicyError
    if enhanced.startswith("5.1.") or enhanced == "5.2.1" or code in (550, 551, 553):
        return SmtpBounceError
    return SmtpError


class SmtpSender(AbstractContextManager["SmtpSender"]):
    """One SMTP connection, reused for many messages."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpSender:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        s = self.settings
        try:
            if s.implicit_tls:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=tls_context(s)
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
                if s.starttls:
                    smtp.ehlo()
                    if not smtp.has_extn("starttls"):
                        smtp.close()
                        raise SmtpConnectionError(
                            f"{s.label} does not offer STARTTLS; refusing to send in clear",
                            hint="use the server's TLS port or fix its TLS setup",
                        )
                    smtp.starttls(context=tls_context(s))
                    smtp.ehlo()
            if s.username:
                smtp.login(s.username, s.password)
        except smtplib.SMTPAuthenticationError:
            raise SmtpAuthError(
                f"could not log in to {s.host} as {s.username}",
                hint="check the user and password in DIGEST_SMTP_URL / DIGEST_SMTP_PASSWORD",
            ) from None
        except ssl.SSLError as exc:
            raise SmtpConnectionError(
                f"TLS with {s.label} failed: {exc.reason or exc}",
                hint="for a private CA set DIGEST_SMTP_CA_FILE (or ?ca_file=) to its certificate",
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise SmtpConnectionError(
                f"cannot connect to {s.label}: {exc}",
                hint="is the SMTP server running? (try `digest smtp-sink` locally)",
            ) from None
        self._smtp = smtp

    def send(self, from_addr: str, to_addr: str, data: bytes) -> str:
        """Send one message; returns the server's reply or raises a classified SmtpError."""
        if self._smtp is None:
            self.connect()
        assert self._smtp is not None
        try:
            refused = self._smtp.sendmail(from_addr, [to_addr], data)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise self._error(code, reply, to_addr) from None
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code == 421:
                self.close()
            raise self._error(exc.smtp_code, exc.smtp_error, to_addr) from None
        except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
            self.close()
            raise SmtpConnectionError(
                f"connection to {self.settings.label} lost: {exc}",
                hint="the run can be resumed with `digest send`",
            ) from None
        if refused:
            code, reply = next(iter(refused.values()))
            raise self._error(code, reply, to_addr)
        return "250 OK"

    def _error(self, code: int, reply: bytes | str, to_addr: str) -> SmtpError:
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
        cls = classify(code, text)
        return cls(f"{to_addr}: {code} {text}", hint=_HINTS.get(cls, ""))

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None


_HINTS = {
    SmtpTemporaryError: "temporary: run `digest send` again later to retry",
    SmtpBounceError: "the address is dead; the subscriber is marked bounced",
    SmtpPolicyError: "the server refuses us (policy or reputation): check before sending more",
}
