"""Provider webhooks on `digest serve --public`: Mailgun, Postmark, SendGrid, SES via SNS.

Real parts: a real edition sent to the capture server (so the ledger holds real
Message-IDs and VERP senders), the app on real uvicorn, posts over real HTTP, keys and
certificates made here with `cryptography`, and for SES a real HTTPS server on loopback
that serves the SNS signing certificate and answers the SubscribeURL.

Payload shapes follow the providers' documented samples (Mailgun "Webhook Payloads",
Postmark "Bounce webhook", SendGrid "Event Webhook", SES "Amazon SNS notification
contents"), with our own subscribers' addresses and Message-IDs in them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest

from digest.config import Settings, load_settings
from digest.sink import CaptureServer, free_port
from digest.store import Store
from digest.web import create_app
from digest.web.webhooks import SnsFetcher
from tests.conftest import BASE_URL, NOW, Cli, ManualClock, article, serving
from tests.test_bounces import statuses, verp_senders

MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
BOUNCES = "bounces@news.example.com"


@pytest.fixture
def sent(run: Cli, smtp_server: CaptureServer) -> Cli:
    """Today's edition sent (with VERP) to amina@example.com and john@example.org."""
    run.env["DIGEST_SMTP_URL"] = smtp_server.url
    run.env["DIGEST_BOUNCE_ADDRESS"] = BOUNCES
    run("lists", "add", "daily", "--name", "Daily", "--from-addr", "news@example.com")
    run.write(
        "people.csv",
        "email,name,lists\namina@example.com,Amina,daily\njohn@example.org,John,daily\n",
    )
    run("subscribers", "import", "people.csv")
    run.write(
        "articles.json",
        [
            article(
                url="https://news.example.com/1",
                title="One",
                published_at="2026-11-27T06:00:00+00:00",
            )
        ],
    )
    run("articles", "import", "articles.json")
    run("send", "--date", "2026-11-27")
    return run


def message_ids(run: Cli) -> dict[str, str]:
    """Recipient -> the Message-ID their copy went out with (from the ledger)."""
    with Store.open(run.db_path) as store:
        rows = store.db.conn.execute(
            "SELECT s.email, d.message_id FROM deliveries d"
            " JOIN subscribers s ON s.id = d.subscriber_id"
        ).fetchall()
    return {email: mid for email, mid in rows}


def app_settings(run: Cli, **env: str) -> Settings:
    return load_settings(
        env={"DIGEST_BOUNCE_ADDRESS": BOUNCES, **env},
        overrides={"db": run.db_path, "base_url": BASE_URL},
        cwd=run.tmp_path,
    )


@contextmanager
def webhook_app(
    run: Cli, clock: ManualClock | None = None, sns: SnsFetcher | None = None, **env: str
) -> Iterator[httpx.Client]:
    """`digest serve --public`'s app on real uvicorn; a client for its origin."""
    clock = clock or ManualClock(NOW + timedelta(hours=1))
    port = free_port()
    settings = app_settings(run, **env)
    app = create_app(settings, public_mode=True, clock=clock.clock, port=port, sns=sns)
    with serving(app, port) as origin, httpx.Client(base_url=origin, timeout=10) as client:
        yield client


def post_json(client: httpx.Client, path: str, payload: object, **kwargs: Any) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = {"content-type": "application/json", **kwargs.pop("headers", {})}
    return client.post(path, content=body, headers=headers, **kwargs)


# -- Mailgun ------------------------------------------------------------------------------


def mailgun_post(
    event: dict[str, Any],
    *,
    timestamp: int,
    token: str = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0",
    key: str = MAILGUN_KEY,
) -> dict[str, Any]:
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256)
    return {
        "signature": {
            "timestamp": str(timestamp),
            "token": token,
            "signature": signature.hexdigest(),
        },
        "event-data": event,
    }


def mailgun_failed(
    recipient: str,
    *,
    severity: str = "permanent",
    reason: str = "bounce",
    code: str = "5.1.1",
    message_id: str = "",
    envelope_sender: str = "",
    event_id: str = "G9Bn5sl1TC6nu79C8C0bwg",
) -> dict[str, Any]:
    """A `failed` event shaped as Mailgun's "Permanent Failure" sample."""
    return {
        "id": event_id,
        "timestamp": (NOW + timedelta(minutes=30)).timestamp(),
        "log-level": "error",
        "event": "failed",
        "severity": severity,
        "reason": reason,
        "envelope": {"sender": envelope_sender, "transport": "smtp", "targets": recipient},
        "flags": {"is-routed": False, "is-authenticated": True, "is-test-mode": False},
        "recipient-domain": recipient.rpartition("@")[2],
        "message": {
            "headers": {
                "to": recipient,
                "message-id": message_id.strip("<>"),
                "from": "Daily <news@example.com>",
                "subject": "Daily",
            },
            "attachments": [],
            "size": 2048,
        },
        "recipient": recipient,
        "delivery-status": {
            "attempt-no": 1,
            "message": f"550 {code} The email account that you tried to reach does not exist",
            "code": 550,
            "enhanced-code": code,
            "description": "",
            "session-seconds": 0.4,
        },
    }


def test_a_mailgun_permanent_failure_sets_the_subscriber_bounced(sent: Cli) -> None:
    mids = message_ids(sent)
    stamp = int((NOW + timedelta(hours=1)).timestamp())
    with webhook_app(sent, DIGEST_MAILGUN_SIGNING_KEY=MAILGUN_KEY) as client:
        post = mailgun_post(
            mailgun_failed("amina@example.com", message_id=mids["amina@example.com"]),
            timestamp=stamp,
        )
        answer = post_json(client, "/webhooks/mailgun", post)
    assert answer.status_code == 200, answer.text
    assert answer.json()["bounced"] == 1
    assert statuses(sent) == {"amina@example.com": "bounced", "john@example.org": "active"}
    rows = json.loads(sent("bounces", "list", "--json").stdout)
    assert [(r["kind"], r["address"], r["source"]) for r in rows] == [
        ("hard", "amina@example.com", "webhook:mailgun")
    ]


def test_a_mailgun_event_is_matched_by_its_verp_envelope_sender(
    sent: Cli, smtp_server: CaptureServer
) -> None:
    """The recipient is an address we never sent to: only the VERP token names John."""
    sender = verp_senders(smtp_server)["john@example.org"]
    stamp = int((NOW + timedelta(hours=1)).timestamp())
    event = mailgun_failed("forwarded@elsewhere.example", envelope_sender=sender)
    with webhook_app(sent, DIGEST_MAILGUN_SIGNING_KEY=MAILGUN_KEY) as client:
        answer = post_json(client, "/webhooks/mailgun", mailgun_post(event, timestamp=stamp))
    assert answer.status_code == 200, answer.text
    assert statuses(sent)["john@example.org"] == "bounced"


def test_a_forged_or_stale_mailgun_post_is_refused_and_changes_nothing(sent: Cli) -> None:
    clock = ManualClock(NOW + timedelta(hours=1))
    stamp = int(clock.now().timestamp())
    event = mailgun_failed("amina@example.com")
    with webhook_app(sent, clock, DIGEST_MAILGUN_SIGNING_KEY=MAILGUN_KEY) as client:
        forged = mailgun_post(event, timestamp=stamp, key="key-not-the-one")
        assert post_json(client, "/webhooks/mailgun", forged).status_code == 403
        unsigned = {"event-data": event}
        assert post_json(client, "/webhooks/mailgun", unsigned).status_code == 403
        clock.advance(901)  # past DIGEST_WEBHOOK_MAX_AGE (900 s)
        stale = mailgun_post(event, timestamp=stamp, token="b" * 50)
        answer = post_json(client, "/webhooks/mailgun", stale)
        assert answer.status_code == 403 and "Stale" in answer.text
    assert statuses(sent)["amina@example.com"] == "active"


def test_a_replayed_mailgun_token_is_refused_even_with_other_events_in_it(sent: Cli) -> None:
    """Mailgun signs only timestamp + token: a captured post must not carry new events."""
    stamp = int((NOW + timedelta(hours=1)).timestamp())
    with webhook_app(sent, DIGEST_MAILGUN_SIGNING_KEY=MAILGUN_KEY) as client:
        first = mailgun_post(mailgun_failed("amina@example.com"), timestamp=stamp)
        assert post_json(client, "/webhooks/mailgun", first).status_code == 200
        again = post_json(client, "/webhooks/mailgun", first)
        assert again.status_code == 406  # Mailgun does not retry a 406
        swapped = dict(first, **{"event-data": mailgun_failed("john@example.org", event_id="x")})
        assert post_json(client, "/webhooks/mailgun", swapped).status_code == 406
    assert statuses(sent) == {"amina@example.com": "bounced", "john@example.org": "active"}


def test_a_mailgun_temporary_failure_is_a_warning_and_a_complaint_is_final(sent: Cli) -> None:
    stamp = int((NOW + timedelta(hours=1)).timestamp())
    temporary = mailgun_failed("john@example.org", severity="temporary", code="4.2.2")
    complaint = {
        "id": "-Agny091SquKnsrW2NEKUA",
        "timestamp": stamp,
        "event": "complained",
        "recipient": "amina@example.com",
        "message": {"headers": {"message-id": "x@example.com", "subject": "Daily"}},
    }
    with webhook_app(sent, DIGEST_MAILGUN_SIGNING_KEY=MAILGUN_KEY) as client:
        for number, event in enumerate([temporary, complaint]):
            post = mailgun_post(event, timestamp=stamp, token=f"token{number}" * 5)
            assert post_json(client, "/webhooks/mailgun", post).status_code == 200
    assert statuses(sent) == {"amina@example.com": "complained", "john@example.org": "active"}
    with Store.open(sent.db_path) as store:
        john = store.subscriber_id_by_email("john@example.org")
        assert john is not None and store.soft_bounce_count(john) == 0


def test_without_its_setting_a_webhook_route_does_not_exist(sent: Cli) -> None:
    with webhook_app(sent) as client:
        for name in ("mailgun", "postmark", "sendgrid", "ses"):
            assert post_json(client, f"/webhooks/{name}", {}).status_code == 404


# -- Postmark -----------------------------------------------------------------------------

POSTMARK_AUTH = "postmark:Vq3pMEh7t4aQ"


def postmark_bounce(
    email: str, *, kind: str = "HardBounce", record_id: int = 4323372036854775807
) -> dict[str, Any]:
    """A Bounce record shaped as Postmark's bounce-webhook sample."""
    return {
        "RecordType": "Bounce",
        "MessageStream": "broadcast",
        "ID": record_id,
        "Type": kind,
        "TypeCode": {"HardBounce": 1, "SoftBounce": 4096, "Transient": 2}.get(kind, 2048),
        "Name": "Hard bounce" if kind == "HardBounce" else kind,
        "Tag": "daily",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Metadata": {},
        "ServerID": 23,
        "Description": "The server was unable to deliver your message (ex: unknown user, "
        "mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": email,
        "From": "news@example.com",
        "BouncedAt": "2026-11-27T07:30:54.9070259Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Daily",
        "Content": "",
    }


def with_credentials(client: httpx.Client, credentials: str, path: str) -> str:
    """The URL given to Postmark: https://USER:PASSWORD@host/webhooks/postmark."""
    origin = str(client.base_url).rstrip("/")
    return origin.replace("http://", f"http://{credentials}@") + path


def test_a_postmark_hard_bounce_with_the_urls_credentials_sets_bounced(sent: Cli) -> None:
    with webhook_app(sent, DIGEST_POSTMARK_WEBHOOK_AUTH=POSTMARK_AUTH) as client:
        url = with_credentials(client, POSTMARK_AUTH, "/webhooks/postmark")
        answer = post_json(client, url, postmark_bounce("Amina@Example.com"))
        assert answer.status_code == 200, answer.text
        replay = post_json(client, url, postmark_bounce("Amina@Example.com"))
        assert replay.status_code == 200 and replay.json()["duplicates"] == 1
    assert statuses(sent) == {"amina@example.com": "bounced", "john@example.org": "active"}
    assert len(json.loads(sent("bounces", "list", "--json").stdout)) == 1


def test_a_postmark_post_without_the_right_credentials_is_refused(sent: Cli) -> None:
    with webhook_app(sent, DIGEST_POSTMARK_WEBHOOK_AUTH=POSTMARK_AUTH) as client:
        for credentials in ("", "postmark:wrong", "other:Vq3pMEh7t4aQ", "postmark:Vq3pMEh7t4a"):
            url = (
                with_credentials(client, credentials, "/webhooks/postmark")
                if credentials
                else "/webhooks/postmark"
            )
            answer = post_json(client, url, postmark_bounce("amina@example.com"))
            assert answer.status_code == 401, credentials
            assert answer.headers["www-authenticate"].startswith("Basic")
    assert statuses(sent)["amina@example.com"] == "active"


def test_postmark_soft_bounces_count_and_a_spam_complaint_is_final(sent: Cli) -> None:
    complaint = {
        "RecordType": "SpamComplaint",
        "MessageStream": "broadcast",
        "ID": 42,
        "Type": "SpamComplaint",
        "TypeCode": 512,
        "Name": "Spam complaint",
        "MessageID": "00000000-0000-0000-0000-000000000000",
        "Details": "Test spam complaint details",
        "Email": "john@example.org",
        "From": "news@example.com",
        "BouncedAt": "2026-11-27T07:40:00Z",
        "Subject": "Daily",
    }
    with webhook_app(sent, DIGEST_POSTMARK_WEBHOOK_AUTH=POSTMARK_AUTH) as client:
        url = with_credentials(client, POSTMARK_AUTH, "/webhooks/postmark")
        soft = postmark_bounce("amina@example.com", kind="SoftBounce", record_id=7)
        assert post_json(client, url, soft).status_code == 200
        delayed = postmark_bounce("amina@example.com", kind="Transient", record_id=8)
        assert post_json(client, url, delayed).status_code == 200
        assert post_json(client, url, complaint).status_code == 200
    assert statuses(sent) == {"amina@example.com": "active", "john@example.org": "complained"}
    with Store.open(sent.db_path) as store:
        amina = store.subscriber_id_by_email("amina@example.com")
        assert amina is not None and store.soft_bounce_count(amina) == 1
    kinds = sorted(r["kind"] for r in json.loads(sent("bounces", "list", "--json").stdout))
    assert kinds == ["complaint", "delayed", "soft"]


# -- SendGrid -----------------------------------------------------------------------------


class SendGridKey:
    """An ECDSA P-256 key pair as SendGrid's Signed Event Webhook uses one."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        self.key = ec.generate_private_key(ec.SECP256R1())
        der = self.key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        self.public = base64.b64encode(der).decode()  # what SendGrid's settings page shows

    def headers(self, body: bytes, timestamp: int) -> dict[str, str]:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        signature = self.key.sign(str(timestamp).encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "content-type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": str(timestamp),
        }


def sendgrid_events(mids: dict[str, str]) -> list[dict[str, Any]]:
    """bounce, blocked, spamreport and delivered events, as in SendGrid's Event Webhook docs."""
    stamp = int((NOW + timedelta(minutes=20)).timestamp())
    common = {"timestamp": stamp, "category": ["daily"], "sg_message_id": "14c5d75ce93.dfd.64b4"}
    return [
        {
            **common,
            "email": "amina@example.com",
            "smtp-id": mids["amina@example.com"],
            "event": "bounce",
            "sg_event_id": "6g4ZI7SA-xmRDv57GoPIPw==",
            "reason": "500 unknown recipient",
            "status": "5.0.0",
            "type": "bounce",
        },
        {
            **common,
            "email": "john@example.org",
            "smtp-id": mids["john@example.org"],
            "event": "spamreport",
            "sg_event_id": "37nvH5QBz858KGVYCM4uOA==",
        },
        {
            **common,
            "email": "john@example.org",
            "event": "delivered",
            "response": "250 OK",
            "sg_event_id": "rWVYmVk90MjZJ9iohOBa3w==",
        },
    ]


def test_a_signed_sendgrid_batch_bounces_and_complains_and_a_replay_changes_nothing(
    sent: Cli,
) -> None:
    key = SendGridKey()
    body = json.dumps(sendgrid_events(message_ids(sent))).encode()
    stamp = int((NOW + timedelta(hours=1)).timestamp())
    with webhook_app(sent, DIGEST_SENDGRID_PUBLIC_KEY=key.public) as client:
        answer = client.post("/webhooks/sendgrid", content=body, headers=key.headers(body, stamp))
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "events": 2,
            "duplicates": 0,
            "bounced": 1,
            "complained": 1,
            "unmatched": 0,
        }
        replay = client.post("/webhooks/sendgrid", content=body, headers=key.headers(body, stamp))
        assert replay.status_code == 200 and replay.json()["duplicates"] == 2
    assert statuses(sent) == {"amina@example.com": "bounced", "john@example.org": "complained"}
    assert len(json.loads(sent("bounces", "list", "--json").stdout)) == 2


def test_a_forged_altered_or_stale_sendgrid_post_is_refused(sent: Cli) -> None:
    key, other = SendGridKey(), SendGridKey()
    body = json.dumps(sendgrid_events(message_ids(sent))).encode()
    clock = ManualClock(NOW + timedelta(hours=1))
    stamp = int(clock.now().timestamp())
    with webhook_app(sent, clock, DIGEST_SENDGRID_PUBLIC_KEY=key.public) as client:
        forged = client.post("/webhooks/sendgrid", content=body, headers=other.headers(body, stamp))
        assert forged.status_code == 403
        altered = body.replace(b"amina@example.com", b"john@example.org")
        signed = key.headers(body, stamp)
        assert client.post("/webhooks/sendgrid", content=altered, headers=signed).status_code == 403
        moved = dict(signed, **{"X-Twilio-Email-Event-Webhook-Timestamp": str(stamp + 1)})
        assert client.post("/webhooks/sendgrid", content=body, headers=moved).status_code == 403
        unsigned = {"content-type": "application/json"}
        assert client.post("/webhooks/sendgrid", content=body, headers=unsigned).status_code == 403
        clock.advance(901)
        stale = client.post("/webhooks/sendgrid", content=body, headers=signed)
        assert stale.status_code == 403 and "Stale" in stale.text
    assert statuses(sent) == {"amina@example.com": "active", "john@example.org": "active"}


def test_a_sendgrid_block_is_a_soft_bounce_under_the_soft_bounce_limit(sent: Cli) -> None:
    key = SendGridKey()
    blocked = {
        "email": "john@example.org",
        "timestamp": int(NOW.timestamp()),
        "event": "bounce",
        "type": "blocked",
        "status": "4.0.0",
        "reason": "421 4.7.0 Try again later, closing connection.",
        "sg_event_id": "YmxvY2tlZC0x",
    }
    body = json.dumps([blocked]).encode()
    stamp = int((NOW + timedelta(hours=1)).timestamp())
    with webhook_app(
        sent, DIGEST_SENDGRID_PUBLIC_KEY=key.public, DIGEST_SOFT_BOUNCE_LIMIT="1"
    ) as client:
        answer = client.post("/webhooks/sendgrid", content=body, headers=key.headers(body, stamp))
        assert answer.status_code == 200, answer.text
    assert statuses(sent)["john@example.org"] == "bounced"  # limit 1: the first soft bounce
    kinds = [r["kind"] for r in json.loads(sent("bounces", "list", "--json").stdout)]
    assert kinds == ["soft"]


def test_a_sendgrid_key_that_is_not_one_is_refused_in_one_line(run: Cli) -> None:
    run("bounces", "report")  # without the setting: fine
    run.env["DIGEST_SENDGRID_PUBLIC_KEY"] = "bm90IGEga2V5"
    refused = run("bounces", "report", ok=False)
    assert refused.exit_code == 1
    assert "DIGEST_SENDGRID_PUBLIC_KEY is not a base64 DER" in refused.stderr
    assert "Traceback" not in refused.output
