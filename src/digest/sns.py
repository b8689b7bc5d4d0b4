"""Amazon SES events through SNS: the SNS message signature, and what SES reports.

Pure, like `provider` (whose helpers it uses): SNS signs with SHA1withRSA
(SignatureVersion 1) or SHA256withRSA (2) over a canonical string of the message's
fields, with the certificate at SigningCertURL, which must be https on
sns.<region>.amazonaws.com. Fetching that certificate is the web layer's job.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from digest.provider import (
    Event,
    PayloadError,
    address_of,
    as_object,
    loads,
    make_event,
    message_id_of,
    status_of,
    text_of,
)

SNS_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")

SNS_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
SNS_FIELDS["UnsubscribeConfirmation"] = SNS_FIELDS["SubscriptionConfirmation"]


def sns_host_ok(host: str) -> bool:
    """The default rule for SigningCertURL and SubscribeURL: sns.<region>.amazonaws.com."""
    return bool(SNS_HOST.fullmatch(host))


def sns_url_ok(url: str, host_ok: Callable[[str], bool] = sns_host_ok) -> bool:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return False
    return parts.scheme == "https" and not parts.username and bool(host) and host_ok(host)


def sns_message(payload: object) -> Mapping[str, Any]:
    message = as_object(payload, "the post")
    kind = message.get("Type")
    if kind not in SNS_FIELDS:
        raise PayloadError(f"unknown SNS message type {kind!r}")
    for name in SNS_FIELDS[str(kind)]:
        if name != "Subject" and not isinstance(message.get(name), str):
            raise PayloadError(f"SNS {kind} without {name}")
    for name in ("Signature", "SigningCertURL", "SignatureVersion"):
        if not isinstance(message.get(name), str):
            raise PayloadError(f"SNS message without {name}")
    return message


def sns_canonical(message: Mapping[str, Any]) -> bytes:
    """The string SNS signs: "Name\\nvalue\\n" for its fields, in byte order of name."""
    lines = []
    for name in SNS_FIELDS[str(message["Type"])]:
        value = message.get(name)
        if value is None:  # only Subject may be absent
            continue
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode("utf-8")


def sns_signature_ok(message: Mapping[str, Any], certificate_pem: bytes) -> bool:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    algorithm: hashes.HashAlgorithm
    version = message.get("SignatureVersion")
    if version == "1":
        algorithm = hashes.SHA1()  # noqa: S303 - SNS SignatureVersion 1 is SHA1withRSA
    elif version == "2":
        algorithm = hashes.SHA256()
    else:
        return False
    try:
        key = x509.load_pem_x509_certificate(certificate_pem).public_key()
        signature = base64.b64decode(str(message["Signature"]), validate=True)
    except (binascii.Error, ValueError):
        return False
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(signature, sns_canonical(message), padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        return False
    return True


def ses_notices(message: Mapping[str, Any], *, bounce_local_part: str = "") -> list[Event]:
    """An SES Bounce or Complaint notification; Delivery (and anything else) keeps nothing."""
    body = as_object(loads(str(message.get("Message", "")).encode()), "the SES notification")
    kind_name = body.get("notificationType") or body.get("eventType")
    mail = as_object(body.get("mail") or {}, "mail")
    headers = as_object(mail.get("commonHeaders") or {}, "commonHeaders")
    message_id = message_id_of(headers.get("messageId"))
    source = text_of(mail.get("source"))
    subject = text_of(headers.get("subject"))
    notices: list[Event] = []
    if kind_name == "Bounce":
        bounce = as_object(body.get("bounce") or {}, "bounce")
        bounce_type = str(bounce.get("bounceType", ""))
        kind = {"Permanent": "hard", "Transient": "soft"}.get(bounce_type, "unknown")
        for recipient in bounce.get("bouncedRecipients") or []:
            entry = as_object(recipient, "a bounced recipient")
            address = address_of(entry.get("emailAddress"))
            notices.append(
                make_event(
                    {"bounce": bounce, "recipient": entry},
                    f"ses:{bounce['feedbackId']}:{address}" if bounce.get("feedbackId") else "ses:",
                    kind,
                    address,
                    status=status_of(entry.get("status"), entry.get("diagnosticCode")),
                    detail=f"SES {bounce_type}/{text_of(bounce.get('bounceSubType'))}: "
                    + text_of(entry.get("diagnosticCode")),
                    message_id=message_id,
                    envelope_sender=source,
                    bounce_local_part=bounce_local_part,
                    sender="Amazon SES",
                    subject=subject,
                )
            )
    elif kind_name == "Complaint":
        complaint = as_object(body.get("complaint") or {}, "complaint")
        for recipient in complaint.get("complainedRecipients") or []:
            address = address_of(as_object(recipient, "a complained recipient").get("emailAddress"))
            notices.append(
                make_event(
                    {"complaint": complaint, "recipient": recipient},
                    f"ses:{complaint['feedbackId']}:{address}"
                    if complaint.get("feedbackId")
                    else "ses:",
                    "complaint",
                    address,
                    detail="SES complaint: "
                    + (text_of(complaint.get("complaintFeedbackType")) or "no feedback type"),
                    message_id=message_id,
                    envelope_sender=source,
                    bounce_local_part=bounce_local_part,
                    sender="Amazon SES",
                    subject=subject,
                )
            )
    return notices
