"""provider: what each provider's event becomes, without HTTP (tests/test_webhooks.py has it)."""

from __future__ import annotations

import pytest

from digest import provider
from tests.test_webhooks import mailgun_failed


@pytest.mark.parametrize(
    ("severity", "reason", "code", "kind"),
    [
        ("permanent", "bounce", "5.1.1", "hard"),
        ("permanent", "suppress-bounce", "", "hard"),
        ("permanent", "old", "", "soft"),  # Mailgun gave up retrying: not a dead address
        ("permanent", "espblock", "5.7.1", "soft"),
        ("permanent", "generic", "5.2.1", "hard"),  # the code says the mailbox is disabled
        ("temporary", "generic", "4.2.2", "delayed"),  # Mailgun still retries
    ],
)
def test_mailgun_failures_map_to_our_kinds(
    severity: str, reason: str, code: str, kind: str
) -> None:
    event = mailgun_failed("a@example.com", severity=severity, reason=reason, code=code)
    ((notice, _),) = provider.mailgun_notices({"event-data": event})
    assert notice.kind == kind


def test_mailgun_message_ids_get_their_angle_brackets_back() -> None:
    event = mailgun_failed("a@example.com", message_id="20261127.abc@news.example.com")
    ((notice, _),) = provider.mailgun_notices({"event-data": event})
    assert notice.original_message_id == "<20261127.abc@news.example.com>"


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        ({"event": "bounce", "type": "bounce", "status": "5.1.1"}, "hard"),
        ({"event": "bounce", "type": "blocked", "status": "4.0.0"}, "soft"),
        ({"event": "dropped", "reason": "Bounced Address"}, "hard"),
        ({"event": "dropped", "reason": "Invalid"}, "hard"),
        ({"event": "dropped", "reason": "Spam Reporting Address"}, "complaint"),
        ({"event": "dropped", "reason": "Unsubscribed Address"}, "unknown"),
        ({"event": "spamreport"}, "complaint"),
    ],
)
def test_sendgrid_events_map_to_our_kinds(event: dict[str, str], kind: str) -> None:
    ((notice, _),) = provider.sendgrid_notices([dict(event, email="a@example.com")])
    assert notice.kind == kind


def test_sendgrid_events_we_do_not_act_on_are_not_kept() -> None:
    events = [{"event": name, "email": "a@example.com"} for name in ("delivered", "open")]
    assert provider.sendgrid_notices(events) == []


def test_an_event_without_an_id_is_keyed_by_its_content() -> None:
    """Without sg_event_id two different events must not collide as one 'duplicate'."""
    one = {"event": "bounce", "type": "bounce", "email": "a@example.com"}
    two = dict(one, email="b@example.com")
    (first, _), (second, _), (again, _) = provider.sendgrid_notices([one, two, dict(one)])
    assert first.key.startswith("sendgrid:sha256:")
    assert first.key != second.key and first.key == again.key


def test_a_post_that_is_not_the_providers_shape_is_a_payload_error() -> None:
    with pytest.raises(provider.PayloadError):
        provider.sendgrid_notices({"event": "bounce"})
    with pytest.raises(provider.PayloadError):
        provider.mailgun_notices({"event-data": "failed"})
    with pytest.raises(provider.PayloadError):
        provider.loads(b"\xff not json")


def test_a_mailgun_event_id_reused_on_another_day_is_another_event() -> None:
    """Mailgun ids are unique within a day only; the event's timestamp tells them apart."""
    today = mailgun_failed("a@example.com")
    tomorrow = dict(today, timestamp=today["timestamp"] + 86400)
    ((first, _),) = provider.mailgun_notices({"event-data": today})
    ((again, _),) = provider.mailgun_notices({"event-data": dict(today)})
    ((later, _),) = provider.mailgun_notices({"event-data": tomorrow})
    assert first.key == again.key != later.key
