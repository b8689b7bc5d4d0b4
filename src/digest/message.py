"""Pure: personalise a compiled edition for one subscriber and assemble the message bytes.

The edition's HTML and text are split once at their `[[placeholders]]` and each literal
piece is quoted-printable encoded once, ending in a soft line break. Per subscriber only
the few placeholder values are encoded, the pieces joined and a small header block
written: the decoded body is exactly the joined text (a soft break decodes to nothing).
"""

from __future__ import annotations

import binascii
import hashlib
import html
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime
from urllib.parse import quote

from digest.errors import ConfigError, TemplateError
from digest.models import RenderedEdition
from digest.render import PLACEHOLDER_RE, PLACEHOLDERS

CRLF = "\r\n"
MAX_LINE = 998  # RFC 5322: octets per line, CRLF excluded
SOFT_BREAK = "=" + CRLF

# Headers a DKIM signature covers (in this order), when present in the message.
DKIM_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Feedback-ID",
    "MIME-Version",
    "Content-Type",
)


@dataclass(frozen=True, slots=True)
class CompiledEdition:
    """A rendered edition split at its placeholders.

    `html_parts`/`text_parts`: even items literal text, odd items placeholder names.
    `html_qp`/`text_qp`: the same, literal items already quoted-printable encoded.
    """

    subject: str
    html_parts: tuple[str, ...]
    text_parts: tuple[str, ...]
    html_qp: tuple[str, ...] = ()
    text_qp: tuple[str, ...] = ()
    subject_header: str = ""  # the encoded, folded Subject value (the same for everyone)
    # The literal items once more, encoded, as bytes and dot-stuffed (see build_wire).
    html_wire: tuple[bytes, ...] = ()
    text_wire: tuple[bytes, ...] = ()


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
    unsubscribe_mailto: str = ""  # e.g. "unsubscribe@example.com?subject=unsubscribe%20T"
    feedback_id: str = ""


@dataclass(frozen=True, slots=True)
class DkimKey:
    """What DKIM signing needs: the private key (PEM), the selector and the signing domain."""

    private_key: bytes
    selector: str
    domain: str


def compile_edition(rendered: RenderedEdition) -> CompiledEdition:
    html_parts = _split(rendered.html, "issue.html")
    text_parts = _split(rendered.text, "issue.txt")
    html_qp = _encode_literals(html_parts)
    text_qp = _encode_literals(text_parts)
    return CompiledEdition(
        subject=rendered.subject,
        html_parts=html_parts,
        text_parts=text_parts,
        html_qp=html_qp,
        text_qp=text_qp,
        subject_header=encode_header(rendered.subject),
        html_wire=tuple(stuff(p.encode("ascii")) for p in html_qp[::2]),
        text_wire=tuple(stuff(p.encode("ascii")) for p in text_qp[::2]),
    )


def stuff(data: bytes) -> bytes:
    """SMTP dot-stuffing (RFC 5321 §4.5.2) of bytes that start at the start of a line:
    a line that starts with "." gets one more. Pieces that each start at a line start
    (the quoted-printable pieces here do) can be stuffed apart and joined."""
    if data.startswith(b"."):
        data = b"." + data
    return data.replace(b"\r\n.", b"\r\n..") if b"\r\n." in data else data


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


def _qp_piece(text: str) -> str:
    """Quoted-printable for one piece of a body, starting at column 0.

    The result ends at a line start: either the piece ended with a newline, or a soft
    line break is added. So pieces encoded separately concatenate into a valid body that
    decodes to the concatenated text.
    """
    if not text:
        return ""
    data = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    encoded = binascii.b2a_qp(data, istext=True).decode("ascii").replace("\n", CRLF)
    return encoded if encoded.endswith(CRLF) else encoded + SOFT_BREAK


def _encode_literals(parts: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_qp_piece(p) if i % 2 == 0 else p for i, p in enumerate(parts))


def _join_qp(encoded: tuple[str, ...], values: dict[str, str]) -> str:
    out = list(encoded)
    out[1::2] = [_qp_piece(values[name]) for name in encoded[1::2]]
    return "".join(out)


def message_id(list_slug: str, day: str, subscriber_id: int, domain: str) -> str:
    """The same (edition, subscriber) always gets the same Message-ID, on the From domain."""
    digest = hashlib.sha256(f"{list_slug}/{day}/{subscriber_id}".encode()).hexdigest()[:16]
    return f"<{day}.{subscriber_id}.{digest}@{ascii_domain(domain)}>"


def ascii_domain(domain: str) -> str:
    """An internationalised domain in punycode (IDNA 2008 with UTS #46 mapping)."""
    if domain.isascii():
        return domain
    import idna  # a dependency of email-validator

    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        return domain.encode("idna").decode("ascii")


def ascii_address(address: str) -> str:
    """Punycode the domain; the local part stays as it is (ASCII for nearly everyone)."""
    local, _, domain = address.rpartition("@")
    return f"{local}@{ascii_domain(domain)}"


def encode_header(value: str, name: str = "Subject") -> str:
    """RFC 2047 only when needed; folded with CRLF; an ASCII value is never an encoded word.

    A folded ASCII value that still has a line over 998 octets (one huge word) is
    the only case where ASCII gets encoded, because nothing else keeps it legal.
    """
    value = " ".join(value.split())  # no raw CR/LF/tabs reach a header
    if value.isascii() and not ("=?" in value and "?=" in value):
        folded = Header(value, "us-ascii", header_name=name).encode(linesep=CRLF)
        if all(len(line) + len(name) + 2 <= MAX_LINE for line in folded.split(CRLF)):
            return folded
    return Header(value, "utf-8", header_name=name).encode(linesep=CRLF)


_SPECIALS = set('()<>[]:;@\\,."')
MAX_NAME = 200  # display names are cut to this many characters
LINE = 78  # RFC 5322 §2.1.1: lines should stay within 78 characters (CRLF excluded)
_WORD_BYTES = 45  # UTF-8 bytes per encoded word: 60 base64 characters, 72 in all


def format_address(name: str, address: str, header: str = "To") -> str:
    """`Name <addr>`: the name quoted if it has specials, RFC 2047-encoded if non-ASCII.

    A non-ASCII name is encoded as a whole, its spaces inside the encoded words, and cut
    into as many words as it needs at character boundaries. RFC 2047 §6.2 tells readers
    to drop the whitespace between adjacent encoded words (Perl Email::MIME, Python's
    `decode_header` and the rest do), so a name encoded word by word would lose its
    spaces ("FatiméHaroun"); encoded whole it reads back exactly everywhere. Lines are
    folded to stay within 78 characters (an address longer than that cannot be folded).
    """
    addr = ascii_address(address)
    tokens = phrase_tokens(name)
    if not tokens:
        return addr
    return fold(header, [*tokens, f"<{addr}>"])


def phrase_tokens(name: str) -> list[str]:
    """A display name as the pieces of an RFC 5322 phrase, to be joined by folding space.

    ASCII: its words (quoted as one quoted-string when it has specials; a fold between
    them unfolds back to the one space). Otherwise: base64 encoded words of the whole
    name, between which readers drop the folding space.
    """
    name = " ".join(name.split())[:MAX_NAME].strip()
    if not name:
        return []
    if name.isascii() and "=?" not in name:
        if _SPECIALS.intersection(name) or "'" in name:
            name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return name.split(" ")
    return _encoded_words(name)


def fold(header: str, tokens: list[str]) -> str:
    """`tokens` joined by single spaces, folded (CRLF + space) to keep lines within 78."""
    joined = " ".join(tokens)
    if len(header) + 2 + len(joined) <= LINE:  # most names: one line, nothing to fold
        return joined
    lines = [header + ":"]
    for token in tokens:
        if len(lines[-1]) + 1 + len(token) > LINE and lines[-1] != header + ":":
            lines.append("")
        lines[-1] += " " + token
    return CRLF.join(lines)[len(header) + 2 :]


def _encoded_words(text: str) -> list[str]:
    """`text` as base64 encoded words of at most 72 characters, whole characters in each.

    A word ends after a space where one is within reach, so that a reader that wrongly
    puts a space between adjacent encoded words (Python 3.11's `email.policy.default`,
    CPython gh-128110) at worst doubles a space instead of splitting a word.
    """
    chunks: list[str] = []
    current = ""
    size = 0
    for char in text:
        n = len(char.encode("utf-8"))
        if size + n > _WORD_BYTES:
            cut = current.rfind(" ") + 1
            if cut <= 0 or len(current[cut:].encode("utf-8")) + n > _WORD_BYTES:
                cut = len(current)
            chunks.append(current[:cut])
            current = current[cut:]
            size = len(current.encode("utf-8"))
        current += char
        size += n
    chunks.append(current)
    return [
        "=?utf-8?b?" + binascii.b2a_base64(c.encode("utf-8"), newline=False).decode() + "?="
        for c in chunks
    ]


def list_id(name: str, slug: str, domain: str) -> str:
    """The List-Id value (RFC 2919): the list's name as a phrase, then `<slug.domain>`."""
    return fold("List-Id", [*phrase_tokens(name), f"<{slug}.{ascii_domain(domain)}>"])


def list_unsubscribe(url: str, mailto: str = "") -> str:
    value = f"<{url}>"
    if mailto:
        value += f",{CRLF} <mailto:{mailto}>"
    return value


def unsubscribe_mailto(address: str, token: str) -> str:
    """The mailto: target of List-Unsubscribe, carrying the token in its subject."""
    return f"{ascii_address(address)}?subject={quote('unsubscribe ' + token)}"


def build_message(compiled: CompiledEdition, env: Envelope, dkim: DkimKey | None = None) -> bytes:
    head, text_values, html_values, mid, tail = _frame(compiled, env)
    text_qp = compiled.text_qp or _encode_literals(compiled.text_parts)
    html_qp = compiled.html_qp or _encode_literals(compiled.html_parts)
    text_body = _join_qp(text_qp, text_values)
    html_body = _join_qp(html_qp, html_values)
    # Bodies are pure ASCII (quoted-printable); only an SMTPUTF8 local part is not.
    data = (head + text_body + mid + html_body + tail).encode("utf-8")
    if dkim is not None:
        data = sign_message(data, dkim)
    return data


def build_wire(compiled: CompiledEdition, env: Envelope, dkim: DkimKey | None = None) -> bytes:
    """The message as it goes after DATA: `build_message`'s bytes, dot-stuffed and
    ending in CRLF.CRLF. The edition's literal pieces were stuffed once, in
    `compile_edition`; per message only the headers and the placeholder values are,
    which spares a scan and two copies of the whole message (77 KB) per subscriber."""
    if dkim is not None or not compiled.html_wire:
        return stuff(build_message(compiled, env, dkim)) + b".\r\n"
    head, text_values, html_values, mid, tail = _frame(compiled, env)
    out = [stuff(head.encode("utf-8"))]
    _join_wire(out, compiled.text_wire, compiled.text_parts, text_values)
    out.append(stuff(mid.encode("utf-8")))
    _join_wire(out, compiled.html_wire, compiled.html_parts, html_values)
    out.append(stuff(tail.encode("utf-8")) + b".\r\n")
    return b"".join(out)


def _join_wire(
    out: list[bytes], literals: tuple[bytes, ...], parts: tuple[str, ...], values: dict[str, str]
) -> None:
    out.append(literals[0])
    for name, literal in zip(parts[1::2], literals[1:], strict=True):
        out.append(stuff(_qp_piece(values[name]).encode("ascii")))
        out.append(literal)


def _frame(
    compiled: CompiledEdition, env: Envelope
) -> tuple[str, dict[str, str], dict[str, str], str, str]:
    """What surrounds the two bodies, and the placeholder values for each:
    (headers up to the text body, text values, HTML values, between the bodies, end)."""
    raw = {
        "name": env.to_name,
        "email": env.to_addr,
        "unsubscribe_url": env.unsubscribe_url,
        "preferences_url": env.preferences_url,
    }
    escaped = {k: html.escape(v) for k, v in raw.items()}
    boundary = "=_digest_" + env.message_id.strip("<>").split("@")[0].replace(".", "_")
    headers = [
        "Date: " + format_datetime(env.date),
        "From: " + format_address(env.from_name, env.from_addr, "From"),
        "To: " + format_address(env.to_name, env.to_addr, "To"),
        "Subject: " + (compiled.subject_header or encode_header(compiled.subject)),
        "Message-ID: " + env.message_id,
        "List-Id: " + env.list_id,
        "List-Unsubscribe: " + list_unsubscribe(env.unsubscribe_url, env.unsubscribe_mailto),
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
    ]
    if env.feedback_id:
        headers.append("Feedback-ID: " + env.feedback_id)
    headers += [
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative;{CRLF} boundary="{boundary}"',
    ]
    head = CRLF.join(
        [
            CRLF.join(headers),
            "",
            f"--{boundary}",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable",
            "",
            "",
        ]
    )
    mid = CRLF.join(
        [
            "",
            f"--{boundary}",
            "Content-Type: text/html; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable",
            "",
            "",
        ]
    )
    tail = CRLF + f"--{boundary}--" + CRLF
    return head, raw, escaped, mid, tail


def sign_message(data: bytes, key: DkimKey) -> bytes:
    """Prepend a DKIM-Signature (relaxed/relaxed, rsa-sha256) covering DKIM_HEADERS."""
    try:
        import dkim as dkimpy
    except ImportError:
        raise ConfigError(
            "DKIM signing is configured but dkimpy is not installed",
            hint="pip install 'digest[dkim]', or unset DIGEST_DKIM_KEY_FILE",
        ) from None
    present = {
        line.split(b":", 1)[0].strip().lower()
        for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        if line[:1] not in (b" ", b"\t")
    }
    include = [h.encode() for h in DKIM_HEADERS if h.lower().encode() in present]
    signature = dkimpy.sign(
        data,
        key.selector.encode("ascii"),
        ascii_domain(key.domain).encode("ascii"),
        key.private_key,
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=include,
        linesep=b"\r\n",
    )
    return bytes(signature) + data
