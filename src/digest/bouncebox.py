"""The bounce mailbox: read .eml files, mbox files or a Maildir, and act on what they say.

Each message is classified by `dsn.read_notice`, matched to a subscriber (its VERP token
first, then the quoted Message-ID, then the reported address), acted on and kept in the
`bounce_messages` table in one transaction, so importing the same file again changes
nothing. Files, mbox files and Maildirs are only read: nothing is flagged, moved or
deleted. An IMAP folder (`fetch_bounces`) gets a `$DigestImported` flag on each message
once it is kept, and nothing deleted.
"""

from __future__ import annotations

import mailbox
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from digest import dsn
from digest.config import Settings
from digest.errors import ConfigError, ImapError, InputError
from digest.secret import load_secrets, read_verp_token
from digest.store import Store


@dataclass(frozen=True, slots=True)
class BounceImport:
    """What one `digest bounces import` did."""

    read: int = 0
    duplicates: int = 0  # already imported before: nothing done
    kinds: dict[str, int] = field(default_factory=dict)  # new messages by kind
    unmatched: int = 0  # a bounce or complaint that names no subscriber we know
    bounced: int = 0  # subscribers set bounced now (hard, or soft past the limit)
    complained: int = 0  # subscribers set complained now

    def summary(self) -> str:
        kinds = ", ".join(f"{self.kinds.get(k, 0)} {k.replace('_', '-')}" for k in dsn.KINDS)
        return (
            f"read {self.read} messages ({self.duplicates} already imported): {kinds};"
            f" {self.unmatched} matched no subscriber; {self.bounced} subscribers now bounced,"
            f" {self.complained} complained"
        )


def _messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """(source, bytes) of every message under `path`: a Maildir, an mbox, .eml files."""
    if not path.exists():
        raise InputError(f"{path} does not exist", hint="give a .eml file, an mbox or a Maildir")
    if path.is_dir():
        if (path / "cur").is_dir() and (path / "new").is_dir():
            box = mailbox.Maildir(path, create=False)
            for key in sorted(box.keys()):
                yield f"{path}:{key}", box.get_bytes(key)
            return
        for child in sorted(p for p in path.iterdir() if p.is_file()):
            if child.suffix.lower() == ".eml" or _is_mbox(child):
                yield from _file_messages(child)  # other files (a README, ...) are not mail
        return
    yield from _file_messages(path)


def _is_mbox(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def _file_messages(path: Path) -> Iterator[tuple[str, bytes]]:
    if _is_mbox(path):
        box = mailbox.mbox(path, create=False)
        try:
            for number, key in enumerate(box.keys(), start=1):
                yield f"{path}#{number}", box.get_bytes(key)
        finally:
            box.close()
    else:
        yield str(path), path.read_bytes()


def import_bounces(
    store: Store,
    path: Path,
    *,
    secret_file: Path,
    bounce_address: str,
    soft_bounce_limit: int,
    now: datetime,
) -> BounceImport:
    """Import every message of a file, an mbox, a Maildir or a folder of them."""
    return import_messages(
        store,
        _messages(path),
        secret_file=secret_file,
        bounce_address=bounce_address,
        soft_bounce_limit=soft_bounce_limit,
        now=now,
    )


def import_messages(
    store: Store,
    messages: Iterable[tuple[str, bytes]],
    *,
    secret_file: Path,
    bounce_address: str,
    soft_bounce_limit: int,
    now: datetime,
    done: Callable[[str], None] | None = None,
) -> BounceImport:
    """Classify, match, act on and keep each (source, bytes); `done(source)` is called once
    a message is committed (or found already kept), so a mailbox can flag it then."""
    keys = _keys(secret_file, now)
    local_part = bounce_local_part(bounce_address)
    tally = _Tally()
    for source, raw in messages:
        tally.outcomes["read"] += 1
        notice = dsn.read_notice(raw, bounce_local_part=local_part)
        with store.transaction():
            tally.add(notice, _take(store, notice, source, raw, keys, soft_bounce_limit, now))
        if done is not None:
            done(source)
    return tally.result()


def bounce_local_part(bounce_address: str) -> str:
    """The local part VERP tokens follow (bounces+TOKEN@): DIGEST_BOUNCE_ADDRESS's."""
    return bounce_address.rpartition("@")[0] if bounce_address else "bounces"


def _keys(secret_file: Path, now: datetime) -> tuple[bytes, ...]:
    return load_secrets(secret_file, now=now, create=False) if secret_file.exists() else ()


class _Tally:
    """What an import or a webhook post did, notice by notice."""

    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()

    def add(self, notice: dsn.BounceNotice, outcome: str) -> None:
        self.outcomes[outcome] += 1
        if outcome != "duplicate":
            self.kinds[notice.kind] += 1

    def result(self) -> BounceImport:
        return BounceImport(
            read=self.outcomes["read"],
            duplicates=self.outcomes["duplicate"],
            kinds=dict(self.kinds),
            unmatched=self.outcomes["unmatched"],
            bounced=self.outcomes["bounced"],
            complained=self.outcomes["complained"],
        )


def record_provider_events(
    settings: Settings,
    events: Iterable[tuple[dsn.BounceNotice, bytes]],
    *,
    source: str,
    now: datetime,
    nonce: tuple[str, str] | None = None,
    nonce_keep: float = 0.0,
) -> BounceImport | None:
    """Act on a provider webhook's notices exactly as on bounce-mailbox messages.

    Each notice is kept once under its provider event id (`notice.key`), so a replayed
    post changes nothing. With `nonce` (provider, value), the post is refused (None,
    nothing written) when that value was seen within `nonce_keep` seconds; it is
    claimed in the same transaction as the notices' effects, so a post that fails
    half-way can be retried. Each event's own bytes are kept with an unknown notice.
    """
    keys = _keys(settings.secret_file, now)
    tally = _Tally()
    with (
        Store.open(
            settings.db,
            create=False,
            busy_timeout=settings.busy_timeout,
            events=bool(settings.webhook_url),
        ) as store,
        store.transaction(),
    ):
        if nonce is not None and not store.claim_webhook_nonce(
            *nonce, now=now, keep_seconds=nonce_keep
        ):
            return None
        for notice, raw in events:
            tally.outcomes["read"] += 1
            outcome = _take(store, notice, source, raw, keys, settings.soft_bounce_limit, now)
            tally.add(notice, outcome)
    return tally.result()


def _take(
    store: Store,
    notice: dsn.BounceNotice,
    source: str,
    raw: bytes,
    keys: tuple[bytes, ...],
    soft_bounce_limit: int,
    now: datetime,
) -> str:
    """Keep one new message and act on it; says what happened (for the summary)."""
    if store.bounce_message_seen(notice.key):
        return "duplicate"
    edition_id, subscriber_id = _match(store, notice, keys)
    address = ""
    if subscriber_id is not None:
        found = store.get_subscriber_by_id(subscriber_id)
        address = found.email if found else ""
    address = address or (notice.recipients[0] if notice.recipients else "")
    row = {
        "message_key": notice.key,
        "kind": notice.kind,
        "subscriber_id": subscriber_id,
        "edition_id": edition_id,
        "address": address,
        "domain": address.rpartition("@")[2].lower(),
        "status": notice.status,
        "detail": notice.detail,
        "sender": notice.sender[:300],
        "subject": notice.subject,
        "source": source[:500],
        "raw": raw if notice.kind == "unknown" else None,
    }
    if not store.add_bounce_message(row, now=now):
        return "duplicate"  # the same message twice within this import
    if notice.kind not in ("hard", "soft", "complaint"):
        return "kept"
    if subscriber_id is None:
        return "unmatched"
    via = source if source.startswith("webhook:") else "dsn"  # for events out
    if notice.kind == "complaint":
        if store.subscriber_status_at_least(subscriber_id, "complained"):
            return "kept"
        store.mark_subscriber_complained(subscriber_id, now=now, via=via, edition_id=edition_id)
        return "complained"
    if store.subscriber_status_at_least(subscriber_id, "bounced"):
        return "kept"
    if notice.kind == "hard":
        store.mark_subscriber_bounced(
            subscriber_id,
            now=now,
            via=via,
            edition_id=edition_id,
            dsn_status=notice.status,
            reply=notice.detail[:300],
        )
    elif edition_id is not None:
        store.record_soft_bounce(
            subscriber_id,
            edition_id,
            reply=f"{notice.status} {notice.detail}".strip(),
            now=now,
            limit=soft_bounce_limit,
            via=via,
        )
    return "bounced" if store.subscriber_status_at_least(subscriber_id, "bounced") else "kept"


def _match(
    store: Store, notice: dsn.BounceNotice, keys: tuple[bytes, ...]
) -> tuple[int | None, int | None]:
    """(edition_id, subscriber_id): the VERP token, the quoted Message-ID, the address."""
    for token in notice.tokens:
        named = read_verp_token(keys, token) if keys else None
        if named is not None and store.get_subscriber_by_id(named[1]) is not None:
            return named
    if notice.original_message_id:
        sent = store.edition_of_message(notice.original_message_id)
        if sent is not None:
            return sent
    for address in notice.recipients:
        subscriber_id = store.subscriber_id_by_email(address)
        if subscriber_id is not None:
            return store.last_edition_sent_to(subscriber_id), subscriber_id
    return None, None


# -- IMAP ---------------------------------------------------------------------------------

IMPORTED_FLAG = b"$DigestImported"


@dataclass(frozen=True, slots=True)
class ImapMailbox:
    """Where `digest bounces fetch` reads: imaps://USER:PASSWORD@HOST[:PORT]/FOLDER[?ca_file=]."""

    host: str
    port: int
    user: str
    password: str
    folder: str
    ca_file: str = ""

    @classmethod
    def from_url(cls, url: str) -> ImapMailbox:
        from urllib.parse import parse_qs, unquote, urlsplit

        hint = "for example imaps://bounces:PASSWORD@mail.example.com/INBOX"
        if not url:
            raise ConfigError("DIGEST_BOUNCE_IMAP_URL is not set", hint=hint)
        parts = urlsplit(url)
        if parts.scheme != "imaps":
            raise ConfigError(
                f"DIGEST_BOUNCE_IMAP_URL must start with imaps:// (TLS), got {parts.scheme}://",
                hint=hint,
            )
        if not parts.hostname or not parts.username or parts.password is None:
            raise ConfigError(
                "DIGEST_BOUNCE_IMAP_URL needs a host, a user and a password", hint=hint
            )
        query = parse_qs(parts.query)
        return cls(
            host=parts.hostname,
            port=parts.port or 993,
            user=unquote(parts.username),
            password=unquote(parts.password),
            folder=unquote(parts.path.lstrip("/")) or "INBOX",
            ca_file=query.get("ca_file", [""])[0],
        )


def fetch_bounces(
    store: Store,
    box: ImapMailbox,
    *,
    secret_file: Path,
    bounce_address: str,
    soft_bounce_limit: int,
    now: datetime,
    timeout: float = 30.0,
) -> BounceImport:
    """Import the folder's messages not yet flagged `$DigestImported`, then flag each.

    The certificate and host name are verified (`ca_file` adds a CA to trust). A message
    is flagged (and marked \\Seen) only after it is committed to the store; nothing is
    deleted or moved, so a crash in between re-reads it and the store drops the duplicate.
    """
    import ssl

    from imapclient import IMAPClient
    from imapclient.exceptions import IMAPClientError, LoginError

    context = ssl.create_default_context()
    where = f"{box.host}:{box.port}"
    try:
        if box.ca_file:
            context.load_verify_locations(cafile=box.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot load CA file {box.ca_file}: {exc}",
            hint="fix ?ca_file= in DIGEST_BOUNCE_IMAP_URL",
        ) from None
    try:
        client = IMAPClient(box.host, port=box.port, ssl=True, ssl_context=context, timeout=timeout)
    except ssl.SSLCertVerificationError as exc:
        raise ImapError(
            f"the IMAP server {where} has a certificate we cannot verify: {exc.verify_message}",
            hint="for a private CA add ?ca_file=/path/to/ca.pem to DIGEST_BOUNCE_IMAP_URL",
        ) from None
    except (OSError, ssl.SSLError) as exc:
        raise ImapError(
            f"cannot connect to the IMAP server {where}: {exc}",
            hint="check the host and port in DIGEST_BOUNCE_IMAP_URL (imaps:// is usually 993)",
        ) from None
    try:
        try:
            client.login(box.user, box.password)
        except LoginError:
            raise ImapError(
                f"could not log in to {where} as {box.user}",
                hint="check the user and password in DIGEST_BOUNCE_IMAP_URL",
            ) from None
        try:
            client.select_folder(box.folder)
        except IMAPClientError as exc:
            raise ImapError(
                f"cannot open folder {box.folder!r} on {where}: {exc}",
                hint="check the folder (the URL's path) in DIGEST_BOUNCE_IMAP_URL",
            ) from None
        uids = client.search(["NOT", "KEYWORD", IMPORTED_FLAG.decode()])

        def messages() -> Iterator[tuple[str, bytes]]:
            for start in range(0, len(uids), 50):
                batch = uids[start : start + 50]
                fetched = client.fetch(batch, ["BODY.PEEK[]"])
                for uid in batch:
                    if uid in fetched:
                        yield f"imap:{box.folder}:{uid}", fetched[uid][b"BODY[]"]

        def done(source: str) -> None:
            uid = int(source.rpartition(":")[2])
            client.add_flags([uid], [IMPORTED_FLAG, b"\\Seen"])

        return import_messages(
            store,
            messages(),
            secret_file=secret_file,
            bounce_address=bounce_address,
            soft_bounce_limit=soft_bounce_limit,
            now=now,
            done=done,
        )
    finally:
        with suppress(IMAPClientError, OSError):
            client.logout()
