"""The site secret and the HMAC tokens in unsubscribe and preference links.

The secret file (mode 0600) holds the current secret on its first line and, after
`digest secret rotate`, older secrets with the moment they stop being accepted::

    9f2c...e1                                   <- current: signs new links
    41ab...07 2027-01-26T09:00:00+00:00          <- old: still accepted until then
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from digest.errors import ConfigError

PURPOSES = ("unsubscribe", "preferences")
MAX_TOKEN_LENGTH = 100
MAX_LOCAL_PART = 64  # RFC 5321 4.5.3.1.1: the longest local part a server must accept


@dataclass(frozen=True, slots=True)
class SecretEntry:
    key: bytes
    expires_at: datetime | None = None  # None: the current secret


def _new_key() -> bytes:
    return secrets.token_bytes(32)


def _write(path: Path, entries: Sequence[SecretEntry]) -> None:
    """Replace the file atomically, never leaving it readable by others."""
    lines = [
        entry.key.hex()
        + ("" if entry.expires_at is None else " " + entry.expires_at.isoformat(timespec="seconds"))
        for entry in entries
    ]
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def read_entries(path: Path, *, create: bool = True) -> list[SecretEntry]:
    """Every secret in the file, current first; create the file when missing and allowed."""
    if not path.exists():
        if not create:
            raise ConfigError(f"secret file {path} is missing", hint="run `digest init`")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(_new_key().hex() + "\n")
    entries: list[SecretEntry] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            key = bytes.fromhex(fields[0])
            expires = datetime.fromisoformat(fields[1]) if len(fields) > 1 else None
        except ValueError:
            raise ConfigError(
                f"secret file {path} line {number} is damaged",
                hint="restore it from a backup, or delete it and run `digest init`"
                " (links in mail already sent stop working)",
            ) from None
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        entries.append(SecretEntry(key, None if not entries else expires))
    if not entries:
        raise ConfigError(f"secret file {path} is empty", hint="delete it and run `digest init`")
    return entries


def load_secret(path: Path, *, create: bool = True) -> bytes:
    """The current secret (signs new links); create it (mode 0600) when missing."""
    return read_entries(path, create=create)[0].key


def load_secrets(path: Path, *, now: datetime, create: bool = False) -> tuple[bytes, ...]:
    """The secrets a link may be signed with at `now`: current first, then old ones in grace."""
    return tuple(
        e.key
        for e in read_entries(path, create=create)
        if e.expires_at is None or now < e.expires_at
    )


def rotate_secret(path: Path, *, now: datetime, grace: timedelta) -> list[SecretEntry]:
    """Make a new current secret; the old one keeps verifying links for `grace`.

    Old secrets whose grace has ended are dropped. Returns the new file's entries.
    """
    entries = read_entries(path, create=False)
    kept = [e for e in entries[1:] if e.expires_at is not None and now < e.expires_at]
    new = [SecretEntry(_new_key()), SecretEntry(entries[0].key, now + grace), *kept]
    _write(path, new)
    return new


def _signature(secret: bytes, purpose: str, subscriber_id: int, list_id: int) -> str:
    mac = hmac.new(secret, f"{purpose}:{subscriber_id}:{list_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:16]).decode().rstrip("=")


def make_token(secret: bytes, purpose: str, subscriber_id: int, list_id: int) -> str:
    return f"{subscriber_id}-{list_id}-{_signature(secret, purpose, subscriber_id, list_id)}"


def read_token(secret: bytes | Sequence[bytes], purpose: str, token: str) -> tuple[int, int] | None:
    """(subscriber_id, list_id) if the token is genuine for this purpose, else None.

    `secret` may be several secrets (current and old ones in their grace period); the
    signature is compared in constant time against each.
    """
    keys = [secret] if isinstance(secret, bytes) else list(secret)
    parts = token.split("-", 2)
    if (
        len(token) > MAX_TOKEN_LENGTH
        or len(parts) != 3
        or not (parts[0].isascii() and parts[0].isdigit())
        or not (parts[1].isascii() and parts[1].isdigit())
        or len(parts[0]) > 18
        or len(parts[1]) > 18
    ):
        return None
    subscriber_id, list_id = int(parts[0]), int(parts[1])
    if str(subscriber_id) != parts[0] or str(list_id) != parts[1]:
        return None  # "007-1-..." is not the token we issued, even if the MAC matches
    given = parts[2].encode()
    matched = False
    for key in keys:
        expected = _signature(key, purpose, subscriber_id, list_id).encode()
        matched |= hmac.compare_digest(expected, given)
    return (subscriber_id, list_id) if matched else None


def sign(secret: bytes, *fields: object) -> str:
    """A short MAC over arbitrary fields (form tokens and the like)."""
    text = "\x1f".join(str(f) for f in fields)
    mac = hmac.new(secret, text.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def verify(keys: Sequence[bytes], signature: str, *fields: object) -> bool:
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(sign(key, *fields).encode(), signature.encode())
    return matched


def _verp_signature(secret: bytes, edition_id: int, subscriber_id: int) -> str:
    # Lower-case base32: some servers fold the case of a local part, and base32 survives it.
    mac = hmac.new(secret, f"verp:{edition_id}:{subscriber_id}".encode(), hashlib.sha256)
    return base64.b32encode(mac.digest()[:10]).decode().lower()  # 16 characters, 80 bits


def make_verp_token(secret: bytes, edition_id: int, subscriber_id: int) -> str:
    """`EDITION.SUBSCRIBER.MAC`: names who got which edition, for a bounce's envelope."""
    return f"{edition_id}.{subscriber_id}.{_verp_signature(secret, edition_id, subscriber_id)}"


def verp_address(bounce_address: str, token: str) -> str:
    """bounces@news.example.com + TOKEN -> bounces+TOKEN@news.example.com."""
    local, _, domain = bounce_address.rpartition("@")
    address = f"{local}+{token}@{domain}"
    if len(f"{local}+{token}") > MAX_LOCAL_PART:
        raise ValueError(f"VERP local part of {address} is longer than {MAX_LOCAL_PART}")
    return address


def read_verp_token(secret: bytes | Sequence[bytes], token: str) -> tuple[int, int] | None:
    """(edition_id, subscriber_id) if the token is one we signed, else None."""
    keys = [secret] if isinstance(secret, bytes) else list(secret)
    parts = token.lower().split(".")
    if len(token) > MAX_LOCAL_PART or len(parts) != 3:
        return None
    if not all(p.isascii() and p.isdigit() and len(p) <= 18 for p in parts[:2]):
        return None
    edition_id, subscriber_id = int(parts[0]), int(parts[1])
    if f"{edition_id}.{subscriber_id}" != f"{parts[0]}.{parts[1]}":
        return None
    matched = False
    for key in keys:
        expected = _verp_signature(key, edition_id, subscriber_id).encode()
        matched |= hmac.compare_digest(expected, parts[2].encode())
    return (edition_id, subscriber_id) if matched else None


def webhook_secret(secret: bytes) -> str:
    """The events-out signing secret derived from digest's current secret, for a site that
    sets no DIGEST_WEBHOOK_SECRET (`digest webhooks secret` prints it; it changes with
    `digest secret rotate`). The receiver uses the whole string, as UTF-8, as the key."""
    return "whsec_" + hmac.new(secret, b"digest events-out signing key", hashlib.sha256).hexdigest()
