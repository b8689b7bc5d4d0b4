"""What a mail provider's event webhook says, and whether the provider really said it.

Pure: a post's bytes and headers in, `dsn.BounceNotice`s out, the same notices a bounce
mailbox gives, so `bouncebox` acts on both in one way (hard: bounced at once; soft: the
soft-bounce rule; complaint: complained at once). Each notice's key is the provider's own
event id, so a replayed post is kept once and changes nothing.

- Mailgun: HMAC-SHA256(signing key, timestamp + token), hex, in the JSON body.
- Postmark: no signature; the URL carries HTTP Basic credentials (checked in `web`).
- SendGrid: ECDSA P-256 / SHA-256 over timestamp + raw body, base64 DER, in headers.
- Amazon SES through SNS: in `digest.sns`, on the helpers here.

Provider verdicts map to our kinds as dsn does for mail: an address is dead (hard) when
the provider says so (Postmark HardBounce/BadEmailAddress, SendGrid bounce, SES
Permanent) or a 5.1.x / 5.2.1 status says so; a failure the provider still retries is a
warning only (`delayed`); anything we do not know is kept as `unknown`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any

from digest.dsn import BounceNotice, is_hard_status, verp_tokens

PROVIDERS = ("mailgun", "postmark", "sendgrid", "ses")
_STATUS = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])")


class PayloadError(ValueError):
    """The post is not the JSON shape the provider sends (answered 400)."""


def text_of(value: object, limit: int = 500) -> str:
    return " ".join(str(value if value is not None else "").split())[:limit]


def address_of(value: object) -> str:
    text = text_of(value, 320).strip("<>").lower()
    return text if "@" in text else ""


def message_id_of(value: object) -> str:
    """A Message-ID as our ledger keeps it: in angle brackets (Mailgun drops them)."""
    text = text_of(value, 300).strip().strip("<>")
    return f"<{text}>" if text and " " not in text else ""


def status_of(*texts: object) -> str:
    for text in texts:
        match = _STATUS.search(text_of(text))
        if match:
            return match.group(1)
    return ""


Event = tuple[BounceNotice, bytes]  # a notice and its event's JSON (kept if unknown)


def make_event(
    event: object,
    key: str,
    kind: str,
    address: str,
    *,
    status: str = "",
    detail: str = "",
    message_id: str = "",
    envelope_sender: str = "",
    bounce_local_part: str = "",
    sender: str = "",
    subject: str = "",
) -> Event:
    raw = json.dumps(event, ensure_ascii=False, sort_keys=True).encode()
    name, _, ident = key.partition(":")
    if not ident.strip(":"):  # no event id given: the same event twice still counts once
        key = f"{name}:sha256:{hashlib.sha256(raw).hexdigest()}"
    notice = BounceNotice(
        key=key[:300],
        kind=kind,
        recipients=(address,) if address else (),
        status=status,
        detail=detail[:500],
        tokens=verp_tokens(envelope_sender.encode("utf-8", "replace"), bounce_local_part),
        original_message_id=message_id,
        sender=sender,
        subject=subject[:300],
    )
    return notice, raw


def loads(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"not JSON: {exc}") from None


def as_object(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PayloadError(f"{what} is not a JSON object")
    return value


# -- Mailgun ------------------------------------------------------------------------------


def mailgun_signature(payload: object) -> tuple[str, str, str]:
    """(timestamp, token, signature) of a Mailgun post's `signature` object."""
    signed = as_object(as_object(payload, "the post").get("signature"), "signature")
    parts = tuple(str(signed.get(name, "")) for name in ("timestamp", "token", "signature"))
    if not all(parts) or not parts[0].isascii() or not parts[0].isdigit():
        raise PayloadError("signature needs timestamp, token and signature")
    return parts[0], parts[1], parts[2]


def mailgun_signature_ok(signing_key: str, timestamp: str, token: str, signature: str) -> bool:
    expected = hmac.new(
        signing_key.encode(), (timestamp + token).encode(), hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.lower().encode("utf-8", "replace"))


def mailgun_notices(payload: object, *, bounce_local_part: str = "") -> list[Event]:
    """`failed` and `complained` events; others (delivered, opened, ...) are not kept."""
    data = as_object(as_object(payload, "the post").get("event-data"), "event-data")
    event = str(data.get("event", ""))
    if event not in ("failed", "complained"):
        return []
    status = as_object(data.get("delivery-status") or {}, "delivery-status")
    headers = as_object(
        as_object(data.get("message") or {}, "message").get("headers") or {}, "headers"
    )
    envelope = as_object(data.get("envelope") or {}, "envelope")
    code = text_of(status.get("enhanced-code")) or status_of(
        status.get("message"), status.get("description")
    )
    reason = text_of(data.get("reason"))
    if event == "complained":
        kind, detail = "complaint", "Mailgun: complained"
    elif data.get("severity") == "temporary":
        kind = "delayed"  # Mailgun retries it; a later `failed permanent` is the verdict
        detail = f"Mailgun: temporary failure ({reason})"
    else:
        # "bounce" and "suppress-bounce" are the receiving server's (or an earlier) verdict;
        # "old", "espblock", "generic" are Mailgun giving up, not a dead address.
        dead = reason in ("bounce", "suppress-bounce") or is_hard_status(code)
        kind = "hard" if dead else "soft"
        detail = f"Mailgun: permanent failure ({reason})"
    described = text_of(status.get("description")) or text_of(status.get("message"))
    return [
        make_event(
            data,
            # Mailgun's event id is unique "within a day" only: with the event's own
            # timestamp it names one event for good (a retry carries both unchanged).
            f"mailgun:{data['id']}:{data.get('timestamp', '')}" if data.get("id") else "mailgun:",
            kind,
            address_of(data.get("recipient")),
            status=code,
            detail=f"{detail}: {described}" if described else detail,
            message_id=message_id_of(headers.get("message-id")),
            envelope_sender=text_of(envelope.get("sender")),
            bounce_local_part=bounce_local_part,
            sender="Mailgun",
            subject=text_of(headers.get("subject")),
        )
    ]


# -- Postmark -----------------------------------------------------------------------------

POSTMARK_HARD = ("HardBounce", "BadEmailAddress")
POSTMARK_SOFT = ("SoftBounce", "DnsError", "Blocked", "DMARCPolicy")
POSTMARK_DELAYED = ("Transient",)  # Postmark is still trying
POSTMARK_AUTO = ("AutoResponder",)


def postmark_notices(payload: object) -> list[Event]:
    """Bounce and SpamComplaint records; Delivery, Open, Click and the rest are not kept."""
    record = as_object(payload, "the post")
    record_type = str(record.get("RecordType", ""))
    if record_type not in ("Bounce", "SpamComplaint"):
        return []
    bounce_type = str(record.get("Type", ""))
    if record_type == "SpamComplaint" or bounce_type == "SpamComplaint":
        kind = "complaint"
    elif bounce_type in POSTMARK_HARD:
        kind = "hard"
    elif bounce_type in POSTMARK_SOFT:
        kind = "soft"
    elif bounce_type in POSTMARK_DELAYED:
        kind = "delayed"
    elif bounce_type in POSTMARK_AUTO:
        kind = "auto_reply"
    else:
        kind = "unknown"
    details = text_of(record.get("Details")) or text_of(record.get("Description"))
    return [
        make_event(
            record,
            f"postmark:{record_type}:{record['ID']}" if record.get("ID") else "postmark:",
            kind,
            address_of(record.get("Email")),
            status=status_of(record.get("Details"), record.get("Description")),
            detail=f"Postmark {bounce_type or record_type}: {details}",
            sender="Postmark",
            subject=text_of(record.get("Subject")),
        )
    ]


# -- SendGrid -----------------------------------------------------------------------------


def sendgrid_signature_ok(
    public_key_b64: str, timestamp: str, body: bytes, signature_b64: str
) -> bool:
    """ECDSA P-256 / SHA-256 of timestamp + body, with SendGrid's base64 DER public key."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    try:
        key = load_der_public_key(base64.b64decode(public_key_b64, validate=True))
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    try:
        key.verify(signature, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def sendgrid_public_key_ok(public_key_b64: str) -> bool:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    try:
        key = load_der_public_key(base64.b64decode(public_key_b64, validate=True))
    except (binascii.Error, ValueError):
        return False
    return isinstance(key, ec.EllipticCurvePublicKey)


def sendgrid_notices(payload: object) -> list[Event]:
    """bounce (type bounce: hard, blocked: soft), dropped and spamreport events."""
    if not isinstance(payload, list):
        raise PayloadError("SendGrid posts a JSON array of events")
    notices: list[Event] = []
    for item in payload:
        event = as_object(item, "an event")
        name = str(event.get("event", ""))
        reason = text_of(event.get("reason"))
        if name == "spamreport":
            kind = "complaint"
        elif name == "bounce":
            kind = "soft" if event.get("type") == "blocked" else "hard"
        elif name == "dropped":
            # Dropped before sending, because of an earlier verdict on the address.
            lowered = reason.lower()
            if "spam" in lowered:
                kind = "complaint"
            elif "bounced" in lowered or "invalid" in lowered:
                kind = "hard"
            else:
                kind = "unknown"
        else:
            continue
        status = text_of(event.get("status")) or status_of(reason)
        if not _STATUS.fullmatch(status):
            status = status_of(reason)
        notices.append(
            make_event(
                event,
                f"sendgrid:{event.get('sg_event_id', '')}",
                kind,
                address_of(event.get("email")),
                status=status,
                detail=f"SendGrid {name}"
                + (f" ({event['type']})" if event.get("type") else "")
                + (f": {reason}" if reason else ""),
                message_id=message_id_of(event.get("smtp-id")),
                sender="SendGrid",
            )
        )
    return notices
