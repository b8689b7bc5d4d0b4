"""Pure: personalise a compiled edition for one subscriber and assemble the message bytes.

The edition's HTML and text are split once at their `[[placeholders]]`; per subscriber
only a join, two quoted-printable encodings and a small header block are done.
"""

from __future__ import annotations

import binascii
import hashlib
import html
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr

from digest.errors import TemplateError
from digest.models import RenderedEdition
from digest.render import PLACEHOLDER_RE, PLACEHOLDERS

CRLF = "\r\n"


@dataclass(frozen=True, slots=True)
class CompiledEdition:
    """A rendered edition split at its placeholders: even items literal, odd items names."""

    subject: str
    html_parts: tuple[str, ...]
    text_parts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Envelope:
    """Everything per subscriber that goes into one message."""

    to_addr: str
    to_name: str
    from_addr: str
    from_name: str
    message_id: str
    date: datetime
    list_id: str
    unsubscribe_url: str
    preferences_url: str


def compile_edition(rendered: RenderedEdition) -> CompiledEdition:
    return CompiledEdition(
        subject=rendered.subject,
        html_parts=_split(rendered.html, "issue.html"),
        text_parts=_split(rendered.text, "issue.txt"),
    )


def _split(body: str, label: str) -> tuple[str, ...]:
    parts = tuple(PLACEHOLDER_RE.split(body))
    unknown = {p for p in parts[1::2] if p not in PLACEHOLDERS}
    if unknown:
        raise TemplateError(
            f"{label}: unknown placeholder [[{sorted(unknown)[0]}]]",
            hint="placeholders are " + ", ".join(f"[[{p}]]" for p in PLACEHOLDERS),
        )
    return parts


def _join(parts: tuple[str, ...], values: dict[str, str]) -> str:
    out = list(parts)
    out[1::2] = [values[name] for name in parts[1::2]]
    return "".join(out)


def message_id(list_slug: str, day: str, subscriber_id: int, domain: str) -> str:
    """The same (edition, subscriber) always gets the same Message-ID."""
    digest = hashlib.sha256(f"{list_slug}/{day}/{subscriber_id}".encode()).hexdigest()[:16]
    return f"<{day}.{subscriber_id}.{digest}@{domain}>"


def ascii_address(address: str) -> str:
    """Punycode the domain so the address is pure ASCII on the wire."""
    local, _, domain = address.rpartition("@")
    try:
        domain.encode("ascii")
    except UnicodeEncodeError:
        domain = domain.encode("idna").decode("ascii")
    return f"{local}@{domain}"


def encode_header(value: str) -> str:
    """RFC 2047 only when needed; folded with CRLF, never an encoded word for ASCII."""
    if value.isascii():
        return Header(value, "us-ascii", header_name="Subject").encode(linesep=CRLF)
    return Header(value, "utf-8", header_name="Subject").encode(linesep=CRLF)


def _qp(text: str) -> str:
    body = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    return binascii.b2a_qp(body, istext=True).decode("ascii").replace("\n", CRLF)


def build_message(compiled: CompiledEdition, env: Envelope) -> bytes:
    raw = {
        "name": env.to_name,
        "email": env.to_addr,
        "unsubscribe_url": env.unsubscribe_url,
        "preferences_url": env.preferences_url,
    }
    escaped = {k: html.escape(v) for k, v in raw.items()}
    text_body = _qp(_join(compiled.text_parts, raw))
    html_body = _qp(_join(compiled.html_parts, escaped))
    boundary = "=_digest_" + env.message_id.strip("<>").split("@")[0].replace(".", "_")
    headers = [
        "Date: " + format_datetime(env.date),
        "From: " + formataddr((env.from_name, ascii_address(env.from_addr)), charset="utf-8"),
        "To: " + formataddr((env.to_name, ascii_address(env.to_addr)), charset="utf-8"),
        "Subject: " + encode_header(compiled.subject),
        "Message-ID: " + env.message_id,
        "List-Id: " + env.list_id,
        "List-Unsubscribe: <" + env.unsubscribe_url + ">",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
    ]
    parts = [
        CRLF.join(headers),
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        text_body,
        f"--{boundary}",
        "Content-Type: text/html; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        html_body,
        f"--{boundary}--",
        "",
    ]
    return CRLF.join(parts).encode("ascii")
