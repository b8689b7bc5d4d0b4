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
from pathlib import Path
from typing import Any

import httpx
import pytest

from digest.config import Settings, load_settings
from digest.sink import CaptureServer, free_port
from digest.store import Store
from digest.web import create_app
from digest.web.webhooks import SnsFetcher
from tests.conftest import BASE_URL, NOW, Cli, ManualClock, serving
from tests.test_bounces import make_newsroom, statuses, verp_senders

MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
BOUNCES = "bounces@news.example.com"


@pytest.fixture
def sent(run: Cli, smtp_server: CaptureServer) -> Cli:
    """Today's edition sent (with VERP) to amina@example.com and john@example.org."""
    run.env["DIGEST_BOUNCE_ADDRESS"] = BOUNCES
    make_newsroom(run, smtp_server)
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


def test_without_its_setting_or_public_mode_a_webhook_route_does_not_exist(sent: Cli) -> None:
    with webhook_app(sent) as client:
        for name in ("mailgun", "postmark", "sendgrid", "ses"):
            assert post_json(client, f"/webhooks/{name}", {}).status_code == 404
    port = free_port()
    local = create_app(
        app_settings(sent, DIGEST_MAILGUN_SIGNING_KEY=MAILGUN_KEY), public_mode=False, port=port
    )
    with serving(local, port) as origin:
        assert httpx.post(f"{origin}/webhooks/mailgun", json={}).status_code == 404


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


# -- Amazon SES through SNS ---------------------------------------------------------------

TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-bounces"
CERT_PATH = "/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"
SNS_FIELDS = {
    "Notification": ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"],
    "SubscriptionConfirmation": [
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ],
}


class SnsSigner:
    """SNS's side: an RSA key and its certificate, and messages signed as AWS documents."""

    def __init__(self) -> None:
        import datetime as dt

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
            .not_valid_after(dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
            .sign(self.key, hashes.SHA256())
        )
        self.pem = cert.public_bytes(serialization.Encoding.PEM)

    def sign(self, message: dict[str, Any], version: str = "2") -> dict[str, Any]:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        signed = dict(message, SignatureVersion=version)
        text = "".join(
            f"{name}\n{signed[name]}\n" for name in SNS_FIELDS[signed["Type"]] if name in signed
        )
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(text.encode(), padding.PKCS1v15(), algorithm)
        signed["Signature"] = base64.b64encode(signature).decode()
        return signed


class SnsHost:
    """A real HTTPS server on loopback standing in for sns.<region>.amazonaws.com."""

    def __init__(self, tmp_path: Path, pem: bytes) -> None:
        import ssl
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from tests.test_sender import self_signed

        cert, key = self_signed(tmp_path)
        self.paths: list[str] = []
        paths = self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                paths.append(self.path)
                body = pem if self.path.endswith(".pem") else b"<ConfirmSubscriptionResponse/>"
                self.send_response(200)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_side.load_cert_chain(cert, key)
        self.server.socket = server_side.wrap_socket(self.server.socket, server_side=True)
        self.origin = f"https://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        client_side = ssl.create_default_context(cafile=cert)
        # The test-only trust seam: this loopback host, its own CA.
        self.fetcher = SnsFetcher(host_ok=lambda host: host == "127.0.0.1", context=client_side)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sns_signer() -> SnsSigner:
    return SnsSigner()


@pytest.fixture
def sns_host(tmp_path: Path, sns_signer: SnsSigner) -> Iterator[SnsHost]:
    host = SnsHost(tmp_path, sns_signer.pem)
    yield host
    host.close()


def ses_notification(
    host: SnsHost, body: dict[str, Any], *, message_id: str = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"
) -> dict[str, Any]:
    """An SNS Notification carrying an SES event, as in AWS's documented examples."""
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": TOPIC,
        "Message": json.dumps(body),
        "Timestamp": (NOW + timedelta(minutes=50)).isoformat(timespec="milliseconds")[:-6] + "Z",
        "SigningCertURL": host.origin + CERT_PATH,
        "UnsubscribeURL": f"{host.origin}/?Action=Unsubscribe&SubscriptionArn={TOPIC}:c9135db0",
    }


def ses_bounce(address: str, message_id: str, *, kind: str = "Permanent") -> dict[str, Any]:
    return {
        "notificationType": "Bounce",
        "bounce": {
            "feedbackId": "0100015e-4d4a-4b1b-9c2f-000000000001",
            "bounceType": kind,
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": address,
                    "action": "failed",
                    "status": "5.1.1" if kind == "Permanent" else "4.4.7",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": "2026-11-27T07:45:00.000Z",
            "remoteMtaIp": "127.0.2.0",
            "reportingMTA": "dsn; b232-5.smtp-out.eu-west-1.amazonses.com",
        },
        "mail": {
            "timestamp": "2026-11-27T07:00:05.000Z",
            "source": "news@example.com",
            "sourceArn": "arn:aws:ses:eu-west-1:123456789012:identity/example.com",
            "sendingAccountId": "123456789012",
            "messageId": "0100015e-4d4a-4b1b-9c2f-0000000000aa",
            "destination": [address],
            "headersTruncated": False,
            "commonHeaders": {
                "from": ["Daily <news@example.com>"],
                "to": [address],
                "messageId": message_id,
                "subject": "Daily",
            },
        },
    }


def ses_complaint(address: str) -> dict[str, Any]:
    return {
        "notificationType": "Complaint",
        "complaint": {
            "feedbackId": "0100015e-4d4a-4b1b-9c2f-000000000002",
            "complaintSubType": None,
            "complainedRecipients": [{"emailAddress": address}],
            "timestamp": "2026-11-27T07:50:00.000Z",
            "userAgent": "Mozilla/5.0",
            "complaintFeedbackType": "abuse",
            "arrivalDate": "2026-11-27T07:49:00.000Z",
        },
        "mail": {"source": "news@example.com", "commonHeaders": {"subject": "Daily"}},
    }


@pytest.mark.parametrize("version", ["1", "2"], ids=["SHA1withRSA", "SHA256withRSA"])
def test_a_signed_ses_bounce_and_complaint_act_and_the_certificate_is_fetched_once(
    sent: Cli, sns_host: SnsHost, sns_signer: SnsSigner, version: str
) -> None:
    mids = message_ids(sent)
    bounce = sns_signer.sign(
        ses_notification(sns_host, ses_bounce("amina@example.com", mids["amina@example.com"])),
        version,
    )
    complaint = sns_signer.sign(
        ses_notification(sns_host, ses_complaint("john@example.org"), message_id="m-2"), version
    )
    with webhook_app(sent, sns=sns_host.fetcher, DIGEST_SES_TOPIC_ARNS=TOPIC) as client:
        first = post_json(
            client, "/webhooks/ses", bounce, headers={"x-amz-sns-message-type": "Notification"}
        )
        assert first.status_code == 200, first.text
        second = post_json(client, "/webhooks/ses", complaint)
        assert second.status_code == 200, second.text
        replay = post_json(client, "/webhooks/ses", bounce)
        assert replay.status_code == 200 and replay.json()["duplicates"] == 1
    assert statuses(sent) == {"amina@example.com": "bounced", "john@example.org": "complained"}
    assert [p for p in sns_host.paths if p.endswith(".pem")] == [CERT_PATH]


def test_a_forged_stale_or_foreign_sns_message_is_refused(
    sent: Cli, sns_host: SnsHost, sns_signer: SnsSigner
) -> None:
    mids = message_ids(sent)
    message = ses_notification(sns_host, ses_bounce("amina@example.com", mids["amina@example.com"]))
    clock = ManualClock(NOW + timedelta(hours=1))
    with webhook_app(sent, clock, sns=sns_host.fetcher, DIGEST_SES_TOPIC_ARNS=TOPIC) as client:
        forged = SnsSigner().sign(message)  # another key than the certificate's
        assert post_json(client, "/webhooks/ses", forged).status_code == 403
        altered = dict(
            sns_signer.sign(message), Message=json.dumps(ses_complaint("john@example.org"))
        )
        assert post_json(client, "/webhooks/ses", altered).status_code == 403
        foreign = sns_signer.sign(dict(message, TopicArn=TOPIC.replace("ses-bounces", "other")))
        answer = post_json(client, "/webhooks/ses", foreign)
        assert answer.status_code == 403 and "TOPIC_ARNS" in answer.text
        plain_http = sns_signer.sign(
            dict(message, SigningCertURL=message["SigningCertURL"].replace("https:", "http:"))
        )
        assert post_json(client, "/webhooks/ses", plain_http).status_code == 403
        clock.advance(20 * 60)
        stale = post_json(client, "/webhooks/ses", sns_signer.sign(message))
        assert stale.status_code == 403 and "Stale" in stale.text
    assert statuses(sent) == {"amina@example.com": "active", "john@example.org": "active"}


def test_by_default_certificates_come_only_from_sns_amazonaws_com(
    sent: Cli, sns_host: SnsHost, sns_signer: SnsSigner
) -> None:
    """Without the test seam, a SigningCertURL on our loopback server is never fetched."""
    mids = message_ids(sent)
    message = sns_signer.sign(
        ses_notification(sns_host, ses_bounce("amina@example.com", mids["amina@example.com"]))
    )
    with webhook_app(sent, DIGEST_SES_TOPIC_ARNS=TOPIC) as client:
        answer = post_json(client, "/webhooks/ses", message)
    assert answer.status_code == 403 and "SigningCertURL" in answer.text
    assert sns_host.paths == []
    assert statuses(sent)["amina@example.com"] == "active"


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", True),
        ("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem", True),
        ("http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", False),
        ("https://sns.us-east-1.amazonaws.com.evil.example/x.pem", False),
        ("https://evilsns.us-east-1.amazonaws.com/x.pem", False),
        ("https://sns.us-east-1.amazonaws.com@evil.example/x.pem", False),
        ("https://user@sns.us-east-1.amazonaws.com/x.pem", False),
        ("https://s3.amazonaws.com/sns.us-east-1.amazonaws.com/x.pem", False),
    ],
)
def test_the_sns_host_rule(url: str, allowed: bool) -> None:
    assert SnsFetcher().allowed(url) is allowed


def test_a_subscription_confirmation_is_confirmed_by_getting_its_subscribe_url(
    sent: Cli, sns_host: SnsHost, sns_signer: SnsSigner
) -> None:
    token = "2336412f37fb687f5d51e6e241d638b05824e9e2f6713b42abaeb8607743f5ba91d34"
    confirm_path = f"/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token={token}"
    confirmation = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": token,
        "TopicArn": TOPIC,
        "Message": f"You have chosen to subscribe to the topic {TOPIC}.",
        "SubscribeURL": f"{sns_host.origin}{confirm_path}",
        "Timestamp": (NOW + timedelta(minutes=55)).isoformat(timespec="milliseconds")[:-6] + "Z",
        "SigningCertURL": sns_host.origin + CERT_PATH,
    }
    with webhook_app(sent, sns=sns_host.fetcher, DIGEST_SES_TOPIC_ARNS=TOPIC) as client:
        elsewhere = sns_signer.sign(
            dict(confirmation, SubscribeURL=f"https://evil.example/?Token={token}")
        )
        assert post_json(client, "/webhooks/ses", elsewhere).status_code == 403
        answer = post_json(client, "/webhooks/ses", sns_signer.sign(confirmation))
        assert answer.status_code == 200, answer.text
    assert [p for p in sns_host.paths if "ConfirmSubscription" in p] == [confirm_path]


def test_an_ses_delivery_notification_changes_nothing(
    sent: Cli, sns_host: SnsHost, sns_signer: SnsSigner
) -> None:
    delivery = {
        "notificationType": "Delivery",
        "mail": {"source": "news@example.com", "destination": ["amina@example.com"]},
        "delivery": {"recipients": ["amina@example.com"], "smtpResponse": "250 ok"},
    }
    with webhook_app(sent, sns=sns_host.fetcher, DIGEST_SES_TOPIC_ARNS=TOPIC) as client:
        answer = post_json(
            client, "/webhooks/ses", sns_signer.sign(ses_notification(sns_host, delivery))
        )
    assert answer.status_code == 200 and answer.json()["events"] == 0
    assert json.loads(sent("bounces", "list", "--json").stdout) == []


def test_a_postmark_record_of_a_type_we_do_not_know_is_kept_as_unknown_with_its_json(
    sent: Cli,
) -> None:
    odd = postmark_bounce("amina@example.com", kind="ManuallyDeactivated", record_id=99)
    with webhook_app(sent, DIGEST_POSTMARK_WEBHOOK_AUTH=POSTMARK_AUTH) as client:
        url = with_credentials(client, POSTMARK_AUTH, "/webhooks/postmark")
        assert post_json(client, url, odd).status_code == 200
    listed = json.loads(sent("bounces", "list", "--unknown", "--json").stdout)
    assert [(r["kind"], r["address"]) for r in listed] == [("unknown", "amina@example.com")]
    with Store.open(sent.db_path) as store:
        (raw,) = store.db.conn.execute("SELECT raw FROM bounce_messages").fetchone()
    assert json.loads(raw) == odd  # the record, for a person to read
    assert statuses(sent)["amina@example.com"] == "active"


def test_after_a_webhook_complaint_they_are_never_mailed_again(
    sent: Cli, smtp_server: CaptureServer
) -> None:
    complaint = dict(postmark_bounce("john@example.org"), RecordType="SpamComplaint")
    complaint.update(Type="SpamComplaint", TypeCode=512, ID=5)
    with webhook_app(sent, DIGEST_POSTMARK_WEBHOOK_AUTH=POSTMARK_AUTH) as client:
        url = with_credentials(client, POSTMARK_AUTH, "/webhooks/postmark")
        assert post_json(client, url, complaint).json()["complained"] == 1
    before = len(smtp_server.handler.received)
    sent.now = NOW + timedelta(days=1)
    sent("send", "--date", "2026-11-28", "--force")
    assert [rcpt[0] for _, rcpt, _ in smtp_server.handler.received[before:]] == [
        "amina@example.com"
    ]


def test_digest_serve_public_serves_the_configured_webhooks(sent: Cli) -> None:
    """The real command in a subprocess: it names the routes, and a signed post acts."""
    import subprocess
    import sys

    from tests.conftest import without_digest_env

    env = without_digest_env(
        DIGEST_MAILGUN_SIGNING_KEY=MAILGUN_KEY,
        DIGEST_EDITOR_PASSWORD="a long editor password",
        DIGEST_BASE_URL=BASE_URL,
        DIGEST_BOUNCE_ADDRESS=BOUNCES,
    )
    at = NOW + timedelta(hours=1)
    command = [sys.executable, "-m", "digest", "--db", str(sent.db_path), "--now", at.isoformat()]
    server = subprocess.Popen(
        [*command, "serve", "--public", "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        origin = server.stderr.readline().split()[2].rstrip("/")
        assert server.stderr.readline() == "provider webhooks: /webhooks/mailgun\n"
        post = mailgun_post(mailgun_failed("amina@example.com"), timestamp=int(at.timestamp()))
        answer = httpx.post(f"{origin}/webhooks/mailgun", json=post, timeout=10)
        assert answer.status_code == 200, answer.text
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert statuses(sent)["amina@example.com"] == "bounced"


def test_a_post_while_the_database_is_locked_gets_503_and_its_retry_acts(sent: Cli) -> None:
    import sqlite3

    with webhook_app(
        sent, DIGEST_POSTMARK_WEBHOOK_AUTH=POSTMARK_AUTH, DIGEST_BUSY_TIMEOUT="0.2"
    ) as client:
        url = with_credentials(client, POSTMARK_AUTH, "/webhooks/postmark")
        writer = sqlite3.connect(sent.db_path, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            busy = post_json(client, url, postmark_bounce("amina@example.com"))
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        assert busy.status_code == 503, busy.text
        assert statuses(sent)["amina@example.com"] == "active"
        retried = post_json(client, url, postmark_bounce("amina@example.com"))
        assert retried.status_code == 200
    assert statuses(sent)["amina@example.com"] == "bounced"
