"""sender: URL options, reply classification, TLS against a real loopback server."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from digest.errors import ConfigError, SmtpAuthError, SmtpConnectionError
from digest.sender import Kind, SmtpSender, SmtpSettings, classify
from tests.faultsmtp import FaultServer

MESSAGE = (
    b"From: a@example.com\r\nTo: b@example.org\r\nSubject: hi\r\nMessage-ID: <1@x>\r\n\r\n.hi\r\n"
)


def test_url_options_are_parsed() -> None:
    s = SmtpSettings.from_url(
        "smtp://news:p%40ss@mail.example.com:587?starttls=true&connections=4&rate=600/min"
        "&max_per_hour=20000&timeout=30&data_timeout=300"
    )
    assert (s.host, s.port, s.username, s.password) == ("mail.example.com", 587, "news", "p@ss")
    assert s.starttls and not s.implicit_tls
    assert (s.connections, s.rate, s.max_per_hour) == (4, 10.0, 20000)
    assert (s.timeout, s.data_timeout) == (30.0, 300.0)
    tls = SmtpSettings.from_url("smtps://mail.example.com", password="from-env")
    assert (tls.port, tls.implicit_tls, tls.password) == (465, True, "from-env")


@pytest.mark.parametrize(
    "url",
    [
        "smtp://h?conections=2",
        "smtp://h?rate=fast",
        "smtp://h?connections=0",
        "smtp://h?starttls=maybe",
        "http://h",
    ],
)
def test_bad_url_options_are_refused(url: str) -> None:
    with pytest.raises(ConfigError):
        SmtpSettings.from_url(url)


@pytest.mark.parametrize(
    ("code", "reply", "stage", "kind"),
    [
        (250, "2.0.0 OK", "data", Kind.SENT),
        (421, "4.3.2 closing", "rcpt", Kind.RECONNECT),
        (451, "4.7.1 greylisted", "rcpt", Kind.DEFERRED),
        (452, "4.2.2 full", "rcpt", Kind.DEFERRED),
        (550, "5.1.1 no such user", "rcpt", Kind.BOUNCED),
        (550, "5.2.1 mailbox disabled", "rcpt", Kind.BOUNCED),
        (550, "5.1.10 null MX", "rcpt", Kind.BOUNCED),
        (550, "no such user", "rcpt", Kind.SOFT_BOUNCED),  # bare: could be policy
        (551, "user not local", "rcpt", Kind.SOFT_BOUNCED),
        (550, "5.2.2 mailbox full", "rcpt", Kind.SOFT_BOUNCED),
        (550, "5.0.0 rejected", "rcpt", Kind.SOFT_BOUNCED),
        (553, "5.1.8 bad sender domain", "rcpt", Kind.FAILED),  # about us, not them
        (550, "rejected", "data", Kind.FAILED),
        (554, "5.7.1 blocked", "data", Kind.POLICY),
        (550, "5.7.1 spam", "rcpt", Kind.POLICY),
        (553, "5.1.8 bad sender", "mail", Kind.POLICY),
        (552, "5.3.4 too big", "data", Kind.FAILED),
    ],
)
def test_reply_classification(code: int, reply: str, stage: str, kind: Kind) -> None:
    assert classify(code, reply, stage=stage) is kind


def self_signed(tmp_path: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 that no CA vouches for.

    Valid from 2000 to 2100, so TLS accepts it whatever day the suite runs (faketime too).
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "digest test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


@pytest.mark.parametrize("implicit", [True, False], ids=["smtps", "starttls"])
def test_self_signed_certificate_is_refused_by_default_and_accepted_when_trusted(
    tmp_path: Path, implicit: bool
) -> None:
    cert, key = self_signed(tmp_path)
    with FaultServer(tls=(cert, key), implicit=implicit) as server:
        url = server.url if implicit else server.url + "?starttls=true"
        with (
            pytest.raises(SmtpConnectionError, match="TLS with .* failed: self-signed certificate"),
            SmtpSender(SmtpSettings.from_url(url)),
        ):
            pass
        assert server.handler.seen == []
        trusted = SmtpSettings.from_url(url, ca_file=cert)
        with SmtpSender(trusted) as sender:
            assert sender.send("a@example.com", "b@example.org", MESSAGE).startswith("250")
    assert len(server.handler.accepted) == 1
    assert server.handler.accepted[0].data.endswith(b"\r\n.hi\r\n")  # dot-stuffing undone


def test_trust_through_the_setting_reaches_the_sender(tmp_path: Path) -> None:
    from digest.config import load_settings
    from digest.pipeline import smtp_settings

    cert, key = self_signed(tmp_path)
    with FaultServer(tls=(cert, key), implicit=True) as server:
        settings = load_settings(
            env={"DIGEST_SMTP_URL": server.url, "DIGEST_SMTP_CA_FILE": cert}, cwd=tmp_path
        )
        with SmtpSender(smtp_settings(settings, None)) as sender:
            sender.send("a@example.com", "b@example.org", MESSAGE)
    assert len(server.handler.accepted) == 1


def test_starttls_requested_but_not_offered_refuses_to_continue_in_clear() -> None:
    with FaultServer() as server:
        settings = SmtpSettings.from_url(server.url + "?starttls=true")
        with pytest.raises(SmtpConnectionError, match="refusing to send in clear"):
            SmtpSender(settings).connect()
        assert server.handler.seen == []


def test_auth_from_the_url_or_the_password_setting(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with FaultServer(tls=(cert, key), credentials=("news", "s3cret")) as server:
        base = server.url.replace("smtp://", "smtp://news:{}@") + "?starttls=true"
        with SmtpSender(SmtpSettings.from_url(base.format("s3cret"), ca_file=cert)) as sender:
            sender.send("a@example.com", "b@example.org", MESSAGE)
        from_env = SmtpSettings.from_url(base.format("wrong"), password="s3cret", ca_file=cert)
        with SmtpSender(from_env) as sender:
            sender.send("a@example.com", "b@example.org", MESSAGE)
        with pytest.raises(SmtpAuthError, match="could not log in .* as news"):
            SmtpSender(SmtpSettings.from_url(base.format("wrong"), ca_file=cert)).connect()
    assert len(server.handler.accepted) == 2


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_non_ascii_password_authenticates_as_utf8(tmp_path: Path, mechanism: str) -> None:
    """RFC 4954: AUTH carries UTF-8. smtplib's login() raised UnicodeEncodeError here."""
    cert, key = self_signed(tmp_path)
    credentials = ("rédaction", "pässwörd")
    with FaultServer(tls=(cert, key), credentials=credentials, mechanisms=(mechanism,)) as server:
        # The user from the URL (percent-encoded UTF-8), the password from the setting.
        url = server.url.replace("smtp://", "smtp://r%C3%A9daction@") + "?starttls=true"
        settings = SmtpSettings.from_url(url, password="pässwörd", ca_file=cert)
        with SmtpSender(settings) as sender:
            assert sender.send("a@example.com", "b@example.org", MESSAGE).startswith("250")
        wrong = SmtpSettings.from_url(url, password="passwörd", ca_file=cert)
        with pytest.raises(SmtpAuthError, match="could not log in .* as rédaction"):
            SmtpSender(wrong).connect()
    assert server.handler.auth_seen == [mechanism]
    assert len(server.handler.accepted) == 1


@pytest.mark.parametrize(
    ("greeting", "says", "hint"),
    [
        ("421 4.3.2 Too many connections, try later", "turned us away at the greeting", "later"),
        ("554 5.7.1 No SMTP service for you", "refuses connections from this machine", "accept"),
    ],
)
def test_a_refusing_greeting_says_so_without_a_python_tuple(
    greeting: str, says: str, hint: str
) -> None:
    with FaultServer() as server:
        server.handler.greeting = greeting
        with pytest.raises(SmtpConnectionError) as caught:
            SmtpSender(SmtpSettings.from_url(server.url)).connect()
    error = caught.value
    assert error.message == f"{server.url} {says}: {greeting}"
    assert hint in error.hint and "running" not in error.hint


def test_auth_offered_only_after_starttls_says_to_ask_for_starttls(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with FaultServer(tls=(cert, key), credentials=("news", "s3cret")) as server:
        url = server.url.replace("smtp://", "smtp://news:s3cret@")
        with pytest.raises(SmtpAuthError) as caught:
            SmtpSender(SmtpSettings.from_url(url, ca_file=cert)).connect()
        assert "offers AUTH only after STARTTLS" in caught.value.message
        assert "?starttls=true" in caught.value.hint
        with SmtpSender(SmtpSettings.from_url(url + "?starttls=true", ca_file=cert)) as sender:
            sender.send("a@example.com", "b@example.org", MESSAGE)  # and that was the fix
    with FaultServer(credentials=("news", "s3cret")) as plain:  # no TLS, so no AUTH at all
        url = plain.url.replace("smtp://", "smtp://news:s3cret@")
        with pytest.raises(SmtpAuthError, match="does not offer AUTH, so it cannot log us in"):
            SmtpSender(SmtpSettings.from_url(url)).connect()


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "lockstep"])
@pytest.mark.parametrize(
    ("rule", "stage"),
    [
        ("drop", "after MAIL FROM was accepted, before the server answered RCPT TO"),
        ("drop-after-250", "after RCPT TO was accepted, before the server answered DATA"),
    ],
)
def test_a_lost_connection_names_the_command_it_was_lost_at(
    pipelining: bool, rule: str, stage: str
) -> None:
    """With PIPELINING the three commands leave together; the replies say where it broke."""
    with FaultServer(pipelining=pipelining) as server:
        server.handler.rcpt["b@example.org"] = lambda attempt: rule
        with SmtpSender(SmtpSettings.from_url(server.url)) as sender:
            assert sender._pipelining is pipelining
            outcome = sender.deliver("a@example.com", "b@example.org", MESSAGE)
            assert outcome.kind is Kind.RETRY
            assert outcome.reply.startswith(f"connection was lost {stage}"), outcome.reply
            # the next message goes out on a new connection
            assert sender.send("a@example.com", "c@example.org", MESSAGE).startswith("250")
    assert server.handler.connections == 2


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "lockstep"])
def test_with_pipelining_mail_rcpt_and_data_leave_in_one_write(pipelining: bool) -> None:
    """RFC 2920 saves two round trips a message only if the three commands go together."""
    from tests.faultsmtp import Wiretap

    with (
        FaultServer(pipelining=pipelining) as server,
        Wiretap(server.port) as tap,
        SmtpSender(SmtpSettings.from_url(tap.url)) as sender,
    ):
        for rcpt in ("b@example.org", "c@example.org"):
            assert sender.send("a@example.com", rcpt, MESSAGE).startswith("250")
    envelope = [
        b"MAIL FROM:<a@example.com>\r\n",
        b"RCPT TO:<c@example.org>\r\n",
        b"DATA\r\n",
    ]
    if pipelining:
        assert b"".join(envelope) in tap.chunks, tap.chunks
    else:  # each command waits for its reply: the wiretap tells the two apart
        assert all(line in tap.chunks for line in envelope), tap.chunks
    assert len(server.handler.accepted) == 2
