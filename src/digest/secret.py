"""The site secret and the HMAC tokens in unsubscribe and preference links."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from digest.errors import ConfigError

PURPOSES = ("unsubscribe", "preferences")


def load_secret(path: Path, *, create: bool = True) -> bytes:
    """Read the secret; create it (mode 0600) when missing and `create` is set."""
    if not path.exists():
        if not create:
            raise ConfigError(f"secret file {path} is missing", hint="run `digest init`")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    if not lines:
        raise ConfigError(f"secret file {path} is empty", hint="delete it and run `digest init`")
    return bytes.fromhex(lines[0])


def _signature(secret: bytes, purpose: str, subscriber_id: int, list_id: int) -> str:
    mac = hmac.new(secret, f"{purpose}:{subscriber_id}:{list_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:16]).decode().rstrip("=")


def make_token(secret: bytes, purpose: str, subscriber_id: int, list_id: int) -> str:
    return f"{subscriber_id}-{list_id}-{_signature(secret, purpose, subscriber_id, list_id)}"


def read_token(secret: bytes, purpose: str, token: str) -> tuple[int, int] | None:
    """(subscriber_id, list_id) if the token is genuine for this purpose, else None."""
    parts = token.split("-", 2)
    if len(token) > 100 or len(parts) != 3 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    subscriber_id, list_id = int(parts[0]), int(parts[1])
    expected = _signature(secret, purpose, subscriber_id, list_id)
    if not hmac.compare_digest(expected.encode(), parts[2].encode()):
        return None
    return subscriber_id, list_id
