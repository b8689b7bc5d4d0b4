"""What a message in the bounce mailbox says: a bounce, a complaint, an auto-reply, or unknown.

Pure: bytes in, a `BounceNotice` out; the store and the subscriber are not consulted here.

- ARF complaint reports (RFC 5965: a `message/feedback-report` part) are complaints.
- Delivery status notifications (RFC 3464) are read field by field: per recipient, its
  Action and Status. A failed recipient with 5.1.x (bad address) or 5.2.1 (mailbox
  disabled) is a hard bounce; any other failure is soft; `delayed` is only a warning.
- Everything else goes through flufl.bounce (Mailman's detectors for the non-standard
  bounces real servers send). A permanent failure found there is hard only when the text
  carries a 5.1.x or 5.2.1 code; without one it counts as soft (the soft-bounce rule ends
  the address after DIGEST_SOFT_BOUNCE_LIMIT editions). Its temporary failures are warnings.
- Auto-replies and vacation notices (Auto-Submitted, X-Autoreply, Precedence) are ignored.
- A VERP token (bounces+TOKEN@) anywhere in the message names the edition and subscriber,
  so a DSN that quotes none of the original message still matches.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import email.utils
import hashlib
import re
from dataclasses import dataclass, field, replace
from typing import Any

KINDS = ("hard", "soft", "complaint", "delayed", "auto_reply", "unknown")

_CODE = re.compile(rb"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
# "Precedence: bulk" alone is weak (some bounces carry it): it counts with a vacation subject.
_AUTO_SUBJECT = re.compile(
    r"auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|vacation|absence|abwesen"
    r"|r[ée]ponse automatique|risposta automatica|respuesta autom[aá]tica|away from",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class BounceNotice:
    """One message of the bounce mailbox, classified."""

    key: str  # "mid:<Message-ID>" or "sha256:..." when it has none: the same mail twice is one
    kind: str  # one of KINDS
    recipients: tuple[str, ...] = ()  # the addresses it reports, lower-cased
    status: str = ""  # the enhanced status code (5.1.1), or "" when none was given
    detail: str = ""  # the diagnostic, or what made it unknown
    tokens: tuple[str, ...] = field(default=())  # VERP tokens seen (not yet verified)
    original_message_id: str = ""  # the bounced message's Message-ID, if quoted
    sender: str = ""  # From of the notice
    subject: str = ""


def notice_key(raw: bytes, message_id: str | None) -> str:
    mid = (message_id or "").strip()
    return f"mid:{mid}" if mid else "sha256:" + hashlib.sha256(raw).hexdigest()


def verp_tokens(raw: bytes, local_part: str) -> tuple[str, ...]:
    """Every `LOCAL+TOKEN@` in the message (headers, quoted message, body), in order."""
    if not local_part:
        return ()
    pattern = re.compile(
        re.escape(local_part.encode()) + rb"\+([0-9]{1,18}\.[0-9]{1,18}\.[A-Za-z2-7]{16})@",
        re.IGNORECASE,
    )
    seen: dict[str, None] = {}
    for match in pattern.finditer(raw):
        seen.setdefault(match.group(1).decode().lower(), None)
    return tuple(seen)


def is_hard_status(code: str) -> bool:
    """5.1.x (bad address) or 5.2.1 (mailbox disabled): the address is dead."""
    return code.startswith("5.1.") or code == "5.2.1"


def _text(value: object) -> str:
    return " ".join(str(value or "").split())


def _bare(address: str) -> str:
    # Final-Recipient: rfc822; someone@example.com
    value = address.partition(";")[2] if ";" in address else address
    return value.strip().strip("<>").lower()


def _delivery_status(msg: email.message.Message) -> list[tuple[str, str, str, str]]:
    """(recipient, action, status, diagnostic) for each recipient block of a DSN."""
    found = []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload: Any = part.get_payload()
        blocks: list[Any] = payload if isinstance(payload, list) else []
        if not blocks and isinstance(payload, str):  # some parsers leave it as text
            blocks = [
                email.message_from_string(chunk.strip() + "\n")
                for chunk in re.split(r"\n\s*\n", payload)
                if chunk.strip()
            ]
        for block in blocks:
            recipient = block.get("Final-Recipient") or block.get("Original-Recipient")
            if not recipient:
                continue
            status = (_CODE.search(str(block.get("Status", "")).encode()) or None) and _text(
                block.get("Status")
            ).split()[0]
            found.append(
                (
                    _bare(str(recipient)),
                    _text(block.get("Action")).lower(),
                    status or "",
                    _text(block.get("Diagnostic-Code")),
                )
            )
    return found


def _quoted_message_id(msg: email.message.Message) -> str:
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner: Any = part.get_payload()
            if isinstance(inner, list) and inner and inner[0].get("Message-ID"):
                return str(inner[0]["Message-ID"]).strip()
        elif kind == "text/rfc822-headers":
            text: Any = part.get_payload(decode=True) or b""
            match = re.search(rb"^Message-ID:\s*(<[^>\s]+>)", text, re.I | re.M)
            if match:
                return match.group(1).decode("ascii", "replace")
    match = re.search(
        rb"^Message-ID:\s*(<[^>\s]+>)", msg.as_bytes().split(b"\n\n", 1)[-1], re.I | re.M
    )
    return match.group(1).decode("ascii", "replace") if match else ""


def _complaint_recipients(msg: email.message.Message) -> tuple[str, ...]:
    found: list[str] = []
    for part in msg.walk():
        if part.get_content_type() == "message/feedback-report":
            payload = part.get_payload()
            fields: Any = payload[0] if isinstance(payload, list) and payload else None
            text = fields.as_string() if fields is not None else str(payload)
            found += [
                m.strip().strip("<>").lower()
                for m in re.findall(r"^Original-Rcpt-To:\s*(\S+)", text, re.I | re.M)
            ]
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers") and not found:
            inner: Any = part.get_payload()
            if isinstance(inner, list) and inner and inner[0].get("To"):
                found += [a.lower() for _, a in email.utils.getaddresses([str(inner[0]["To"])])]
    return tuple(dict.fromkeys(a for a in found if "@" in a))


def _is_complaint(msg: email.message.Message) -> bool:
    if msg.get_content_type() == "multipart/report" and (
        str(msg.get_param("report-type", "")).lower() == "feedback-report"
    ):
        return True
    return any(p.get_content_type() == "message/feedback-report" for p in msg.walk())


def _is_auto_reply(msg: email.message.Message) -> bool:
    """RFC 3834 auto-replies and the common vacation markers; not other automatic mail.

    Only reached for a message that holds no bounce: an unmatched `auto-generated`
    notice stays unknown, for a person to look at.
    """
    if str(msg.get("Auto-Submitted", "")).strip().lower().startswith("auto-replied"):
        return True
    if msg.get("X-Autoreply") or msg.get("X-Autorespond"):
        return True
    precedence = str(msg.get("Precedence", "")).strip().lower()
    if precedence in ("auto_reply", "auto-reply"):
        return True
    return precedence in ("bulk", "junk") and bool(_AUTO_SUBJECT.search(_text(msg.get("Subject"))))


def _flufl_addresses(msg: email.message.Message) -> list[str]:
    """What flufl.bounce reads as the failed address (it knows Original-Recipient quirks)."""
    from flufl.bounce import all_failures

    try:
        temporary, permanent = all_failures(msg)
    except Exception:
        return []
    return sorted(a.decode("utf-8", "replace").lower() for a in {*temporary, *permanent})


def read_notice(raw: bytes, *, bounce_local_part: str = "") -> BounceNotice:
    """Classify one message from the bounce mailbox."""
    from flufl.bounce import all_failures

    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    base = BounceNotice(
        key=notice_key(raw, msg.get("Message-ID")),
        kind="unknown",
        tokens=verp_tokens(raw, bounce_local_part),
        original_message_id=_quoted_message_id(msg),
        sender=_text(msg.get("From")),
        subject=_text(msg.get("Subject"))[:300],
    )
    if _is_complaint(msg):
        return replace(
            base, kind="complaint", recipients=_complaint_recipients(msg), detail="ARF report"
        )
    reports = _delivery_status(msg)
    failed = [r for r in reports if r[1] == "failed"]
    if failed:
        hard = [r for r in failed if is_hard_status(r[2])]
        worst = (hard or failed)[0]
        return replace(
            base,
            kind="hard" if hard else "soft",
            recipients=tuple(dict.fromkeys([*(r[0] for r in failed), *_flufl_addresses(msg)])),
            status=worst[2],
            detail=worst[3][:500],
        )
    if reports and all(r[1] in ("delayed", "delivered", "relayed", "expanded") for r in reports):
        kind = "delayed" if any(r[1] == "delayed" for r in reports) else "auto_reply"
        return replace(
            base,
            kind=kind,
            recipients=tuple(dict.fromkeys([*(r[0] for r in reports), *_flufl_addresses(msg)])),
            status=reports[0][2],
            detail=reports[0][3][:500] or "action " + reports[0][1],
        )
    try:
        temporary, permanent = all_failures(msg)
    except Exception as exc:  # a detector tripping over a malformed message: keep it
        return replace(base, kind="unknown", detail=f"flufl.bounce failed: {exc}"[:500])
    if permanent:
        codes = [".".join(c.decode() for c in m.groups()) for m in _CODE.finditer(raw)]
        dead = [c for c in codes if is_hard_status(c)]
        refused = [c for c in codes if c.startswith("5.")]
        return replace(
            base,
            kind="hard" if dead else "soft",
            recipients=tuple(sorted(a.decode("utf-8", "replace").lower() for a in permanent)),
            status=(dead or refused or [""])[0],
            detail="found by flufl.bounce" + ("" if codes else " (no status code given)"),
        )
    if temporary:
        return replace(
            base,
            kind="delayed",
            recipients=tuple(sorted(a.decode("utf-8", "replace").lower() for a in temporary)),
            detail="a warning: the server is still trying",
        )
    if _is_auto_reply(msg):
        return replace(base, kind="auto_reply", detail="auto-reply or vacation notice")
    return replace(base, kind="unknown", detail="no bounce, complaint or auto-reply found")
