"""The deliverability loop: VERP envelope senders, bounce import, the bounce report.

Real parts: the capture server (aiosmtpd) sees MAIL FROM; bounce samples are real-world
messages from flufl.bounce's own test corpus (tests/data/bounces/flufl/, Apache-2.0) and
hand-made DSNs for the VERP-only cases.
"""

from __future__ import annotations

import json
import mailbox
import re
import ssl
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from imapclient import IMAPClient

from digest.clock import Clock
from digest.dsn import read_notice
from digest.secret import load_secret, make_verp_token, read_verp_token
from digest.sink import CaptureServer
from digest.store import Store
from tests.conftest import NOW, Cli, article
from tests.imapserver import PASSWORD, USER, Dovecot
from tests.test_sender import self_signed

VERP = re.compile(r"^bounces\+(?P<token>[^@]+)@news\.example\.com$")


@pytest.fixture
def newsroom(run: Cli, smtp_server: CaptureServer) -> Cli:
    return make_newsroom(run, smtp_server)


def make_newsroom(run: Cli, smtp_server: CaptureServer) -> Cli:
    """A list with two subscribers and one article for today's edition."""
    run.env["DIGEST_SMTP_URL"] = smtp_server.url
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
    return run


def test_envelope_sender_is_a_signed_verp_address_naming_edition_and_subscriber(
    newsroom: Cli, smtp_server: CaptureServer
) -> None:
    newsroom.env["DIGEST_BOUNCE_ADDRESS"] = "bounces@news.example.com"
    newsroom("send", "--date", "2026-11-27")
    secret = load_secret(newsroom.db_path.with_name(newsroom.db_path.name + ".secret"))
    seen = {}
    for mail_from, rcpt_tos, _ in smtp_server.handler.received:
        match = VERP.match(mail_from)
        assert match, mail_from
        assert len(mail_from.partition("@")[0]) <= 64
        named = read_verp_token(secret, match["token"])
        assert named is not None
        seen[rcpt_tos[0]] = named
    assert sorted(seen) == ["amina@example.com", "john@example.org"]
    editions = {e for e, _ in seen.values()}
    subscribers = {s for _, s in seen.values()}
    assert len(editions) == 1 and len(subscribers) == 2


def test_without_a_bounce_address_the_envelope_sender_is_the_from_address(
    newsroom: Cli, smtp_server: CaptureServer
) -> None:
    newsroom("send", "--date", "2026-11-27")
    senders = {mail_from for mail_from, _, _ in smtp_server.handler.received}
    assert senders == {"news@example.com"}


def test_a_verp_token_is_refused_when_forged_or_altered() -> None:
    key, other = b"k" * 32, b"o" * 32
    token = make_verp_token(key, 12, 345)
    assert read_verp_token(key, token) == (12, 345)
    assert read_verp_token(key, token.upper()) == (12, 345)  # a server folded the case
    assert read_verp_token(other, token) is None
    assert read_verp_token(key, token.replace("12.", "13.", 1)) is None
    assert read_verp_token(key, "012." + token.partition(".")[2]) is None
    assert read_verp_token(key, "12.345") is None
    assert read_verp_token(key, "12.345." + "a" * 80) is None
    assert len("bounces+" + make_verp_token(key, 10**9, 10**9)) <= 64


def test_a_bounce_address_with_a_plus_is_refused_in_one_line(newsroom: Cli) -> None:
    newsroom.env["DIGEST_BOUNCE_ADDRESS"] = "bounces+x@news.example.com"
    result = newsroom("send", "--date", "2026-11-27", ok=False)
    assert result.exit_code == 1
    assert "DIGEST_BOUNCE_ADDRESS" in result.output and "Traceback" not in result.output


# -- import: flufl.bounce's real-world samples ------------------------------------------

SAMPLES = Path(__file__).parent / "data" / "bounces" / "flufl"
EXPECTED = {  # file: (kind, status, address)
    "dsn_11.eml": ("hard", "5.1.1", "joem@example.com"),
    "dsn_16.eml": ("soft", "5.0.0", "userx@example.com"),
    "dsn_05.eml": ("delayed", "4.4.1", "userx@example.cz"),
    "postfix_01.eml": ("hard", "5.1.1", "xxxxx@local.ie"),
    "yahoo_01.eml": ("soft", "", "userx@example.com"),
    "simple_03.eml": ("delayed", "", "userx@example.za"),
    "qmail_08.eml": ("auto_reply", "", ""),
    "simple_43.eml": ("unknown", "", ""),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_real_world_sample_is_classified(name: str) -> None:
    notice = read_notice((SAMPLES / name).read_bytes())
    kind, status, address = EXPECTED[name]
    assert (notice.kind, notice.status) == (kind, status)
    assert (address in notice.recipients) if address else not notice.recipients


@pytest.fixture
def sample_readers(run: Cli, smtp_server: CaptureServer) -> Cli:
    """The samples' addresses as subscribers, each sent today's edition for real."""
    run.env["DIGEST_SMTP_URL"] = smtp_server.url
    run("lists", "add", "daily", "--name", "Daily", "--from-addr", "news@example.com")
    people = sorted({a for _, _, a in EXPECTED.values() if a})
    run.write("people.csv", "email,lists\n" + "".join(f"{a},daily\n" for a in people))
    run("subscribers", "import", "people.csv")
    run.write(
        "articles.json",
        [article(url="https://news.example.com/1", published_at="2026-11-27T06:00:00+00:00")],
    )
    run("articles", "import", "articles.json")
    run("send", "--date", "2026-11-27")
    assert len(smtp_server.handler.received) == len(people)
    run.now = NOW + timedelta(hours=2)  # the bounces come back later
    return run


def statuses(run: Cli) -> dict[str, str]:
    rows = json.loads(run("subscribers", "list", "--json").stdout)
    return {r["email"]: r["status"] for r in rows}


def test_importing_the_samples_acts_on_each_and_a_second_import_changes_nothing(
    sample_readers: Cli,
) -> None:
    run = sample_readers
    first = run("bounces", "import", str(SAMPLES))
    assert "read 8 messages (0 already imported)" in first.stderr
    assert "2 hard, 2 soft, 0 complaint, 2 delayed, 1 auto-reply, 1 unknown" in first.stderr
    after = statuses(run)
    assert after["joem@example.com"] == "bounced" and after["xxxxx@local.ie"] == "bounced"
    # Two soft bounces of the same edition count once: still below the limit of 3.
    assert after["userx@example.com"] == "active"
    assert after["userx@example.cz"] == "active" and after["userx@example.za"] == "active"
    with Store.open(run.db_path) as store:
        user = store.subscriber_id_by_email("userx@example.com")
        assert user is not None and store.soft_bounce_count(user) == 1
        kept = list(store.bounce_messages())
    second = run("bounces", "import", str(SAMPLES))
    assert "read 8 messages (8 already imported)" in second.stderr
    assert statuses(run) == after
    with Store.open(run.db_path) as store:
        assert list(store.bounce_messages()) == kept
    unknown = json.loads(run("bounces", "list", "--unknown", "--json").stdout)
    assert [Path(u["source"]).name for u in unknown] == ["simple_43.eml#1"]  # an mbox of one


def test_an_mbox_and_a_maildir_are_read_like_files(sample_readers: Cli, tmp_path: Path) -> None:
    box = mailbox.mbox(tmp_path / "bounces.mbox")
    box.add((SAMPLES / "dsn_11.eml").read_bytes())
    box.close()
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    maildir.add((SAMPLES / "postfix_01.eml").read_bytes())
    sample_readers("bounces", "import", str(tmp_path / "bounces.mbox"))
    sample_readers("bounces", "import", str(tmp_path / "Maildir"))
    after = statuses(sample_readers)
    assert after["joem@example.com"] == "bounced" and after["xxxxx@local.ie"] == "bounced"
    assert list((tmp_path / "Maildir" / "new").iterdir())  # read, not moved or deleted


def test_importing_a_missing_path_is_one_line(run: Cli) -> None:
    result = run("bounces", "import", "nowhere", ok=False)
    assert result.exit_code == 1 and "nowhere does not exist" in result.output
    assert "Traceback" not in result.output


# -- import: hand-made notices that only VERP can match ----------------------------------


def verp_senders(server: CaptureServer) -> dict[str, str]:
    """Recipient -> the VERP envelope sender their copy went out with."""
    return {rcpt[0]: mail_from for mail_from, rcpt, _ in server.handler.received}


def bare_dsn(to: str, status: str, *, action: str = "failed") -> str:
    """A DSN as some servers send it: the recipient rewritten, no original headers quoted."""
    return (
        "From: MAILER-DAEMON@mx.example.org\n"
        f"To: {to}\n"
        f"Message-ID: <dsn-{status}-{abs(hash(to))}@mx.example.org>\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        "--b\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.org\n\n"
        "Final-Recipient: rfc822; mbox-4711@store7.internal\n"
        f"Action: {action}\nStatus: {status}\n"
        f"Diagnostic-Code: smtp; 550 {status} mailbox problem\n\n--b--\n"
    )


def arf_report(return_path: str) -> str:
    """An RFC 5965 complaint quoting only the original's headers, none of them the To."""
    return (
        "From: feedback@isp.example.net\nTo: abuse@news.example.com\n"
        "Message-ID: <arf-1@isp.example.net>\nSubject: complaint\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nThis is an abuse report.\n\n"
        "--b\nContent-Type: message/feedback-report\n\n"
        "Feedback-Type: abuse\nUser-Agent: isp-fbl/1.0\nVersion: 1\n\n"
        "--b\nContent-Type: text/rfc822-headers\n\n"
        f"Return-Path: <{return_path}>\nFrom: news@example.com\nSubject: Daily\n\n--b--\n"
    )


@pytest.fixture
def verp_newsroom(newsroom: Cli, smtp_server: CaptureServer) -> Cli:
    newsroom.env["DIGEST_BOUNCE_ADDRESS"] = "bounces@news.example.com"
    newsroom("send", "--date", "2026-11-27")
    newsroom.now = NOW + timedelta(hours=2)
    return newsroom


def test_a_dsn_that_quotes_nothing_is_matched_by_its_verp_address(
    verp_newsroom: Cli, smtp_server: CaptureServer
) -> None:
    senders = verp_senders(smtp_server)
    path = verp_newsroom.write("bounce.eml", bare_dsn(senders["amina@example.com"], "5.1.1"))
    result = verp_newsroom("bounces", "import", str(path))
    assert "0 matched no subscriber; 1 subscribers now bounced" in result.stderr
    assert statuses(verp_newsroom) == {
        "amina@example.com": "bounced",
        "john@example.org": "active",
    }


def test_a_soft_dsn_counts_against_the_edition_its_verp_token_names(
    verp_newsroom: Cli, smtp_server: CaptureServer
) -> None:
    senders = verp_senders(smtp_server)
    path = verp_newsroom.write("bounce.eml", bare_dsn(senders["john@example.org"], "4.4.7"))
    verp_newsroom("bounces", "import", str(path))
    with Store.open(verp_newsroom.db_path) as store:
        john = store.subscriber_id_by_email("john@example.org")
        assert john is not None and store.soft_bounce_count(john) == 1
    assert statuses(verp_newsroom)["john@example.org"] == "active"


def test_a_forged_verp_token_matches_nobody(verp_newsroom: Cli, smtp_server: CaptureServer) -> None:
    real = VERP.match(verp_senders(smtp_server)["amina@example.com"])
    assert real
    edition, subscriber, mac = real["token"].split(".")
    forged = f"bounces+{edition}.{subscriber}.{'a' * len(mac)}@news.example.com"
    path = verp_newsroom.write("bounce.eml", bare_dsn(forged, "5.1.1"))
    result = verp_newsroom("bounces", "import", str(path))
    assert "1 matched no subscriber" in result.stderr
    assert statuses(verp_newsroom)["amina@example.com"] == "active"


def test_an_arf_complaint_sets_complained_and_they_are_never_mailed_again(
    verp_newsroom: Cli, smtp_server: CaptureServer
) -> None:
    senders = verp_senders(smtp_server)
    path = verp_newsroom.write("arf.eml", arf_report(senders["john@example.org"]))
    result = verp_newsroom("bounces", "import", str(path))
    assert "1 complaint" in result.stderr and "1 complained" in result.stderr
    assert statuses(verp_newsroom)["john@example.org"] == "complained"
    # A later hard bounce does not turn the complaint into a mere bounce.
    bounce = verp_newsroom.write("b.eml", bare_dsn(senders["john@example.org"], "5.1.1"))
    verp_newsroom("bounces", "import", str(bounce))
    assert statuses(verp_newsroom)["john@example.org"] == "complained"
    before = len(smtp_server.handler.received)
    verp_newsroom.now = NOW + timedelta(days=1)
    verp_newsroom("send", "--date", "2026-11-28", "--force")
    sent_to = [rcpt[0] for _, rcpt, _ in smtp_server.handler.received[before:]]
    assert sent_to == ["amina@example.com"]


def test_without_verp_a_dsn_is_matched_by_the_message_id_it_quotes(
    newsroom: Cli, smtp_server: CaptureServer
) -> None:
    """No bounce address: only the quoted Message-ID names the subscriber (the recipient
    was rewritten). The lookup goes through the subscriber index (INDEXED BY fails loudly
    if that index is ever dropped); a Message-ID of another shape matches nothing."""
    newsroom("send", "--date", "2026-11-27")
    sent = {rcpt[0]: path.read_bytes() for _, rcpt, path in smtp_server.handler.received}
    quoted = re.search(rb"^Message-ID: (<[^>]+>)", sent["john@example.org"], re.M)
    assert quoted
    dsn = bare_dsn("news@example.com", "5.1.1").replace(
        "--b--\n",
        "--b\nContent-Type: text/rfc822-headers\n\n"
        f"Message-ID: {quoted[1].decode()}\nSubject: Daily\n\n--b--\n",
    )
    newsroom("bounces", "import", str(newsroom.write("bounce.eml", dsn)))
    assert statuses(newsroom) == {"amina@example.com": "active", "john@example.org": "bounced"}
    with Store.open(newsroom.db_path) as store:
        assert store.edition_of_message(quoted[1].decode()) is not None
        assert store.edition_of_message("<2026-11-27.2.0123456789abcdef@elsewhere>") is None
        assert store.edition_of_message("<something@else.example>") is None


def test_a_delay_warning_and_a_vacation_reply_change_nothing(
    verp_newsroom: Cli, smtp_server: CaptureServer
) -> None:
    senders = verp_senders(smtp_server)
    delayed = bare_dsn(senders["amina@example.com"], "4.4.1", action="delayed")
    vacation = (
        "From: amina@example.com\nTo: news@example.com\nMessage-ID: <away-1@example.com>\n"
        "Subject: Out of office\nAuto-Submitted: auto-replied\n\nI am away until Monday.\n"
    )
    verp_newsroom.write("d.eml", delayed)
    verp_newsroom.write("v.eml", vacation)
    result = verp_newsroom("bounces", "import", str(verp_newsroom.tmp_path))
    assert "1 delayed, 1 auto-reply" in result.stderr
    assert set(statuses(verp_newsroom).values()) == {"active"}
    with Store.open(verp_newsroom.db_path) as store:
        assert all(store.soft_bounce_count(i) == 0 for i in (1, 2))


# -- the report --------------------------------------------------------------------------


def test_the_report_counts_per_edition_and_by_receiving_domain(
    verp_newsroom: Cli, smtp_server: CaptureServer
) -> None:
    senders = verp_senders(smtp_server)
    verp_newsroom.write("1.eml", bare_dsn(senders["amina@example.com"], "5.1.1"))
    verp_newsroom.write("2.eml", bare_dsn(senders["john@example.org"], "5.7.1"))
    verp_newsroom.write("3.eml", arf_report(senders["john@example.org"]))
    verp_newsroom.write("4.eml", bare_dsn("nobody@elsewhere.example", "5.1.1"))
    verp_newsroom("bounces", "import", str(verp_newsroom.tmp_path))
    report = json.loads(verp_newsroom("bounces", "report", "--json").stdout)
    assert report["editions"] == [
        {"name": "daily/2026-11-27", "hard": 1, "soft": 1, "complaints": 1},
        {"name": "-", "hard": 1, "soft": 0, "complaints": 0},  # matched no subscriber
    ]
    assert report["domains"] == [
        {"name": "example.org", "hard": 0, "soft": 1, "complaints": 1},
        {"name": "example.com", "hard": 1, "soft": 0, "complaints": 0},
        {"name": "store7.internal", "hard": 1, "soft": 0, "complaints": 0},
    ]
    assert report["total"] == {"hard": 2, "soft": 1, "complaints": 1}
    text = verp_newsroom("bounces", "report").stdout
    assert "daily/2026-11-27" in text and "total: 2 hard, 1 soft, 1 complaints" in text


def test_the_preview_shows_the_same_report_behind_the_editor_password(
    verp_newsroom: Cli, smtp_server: CaptureServer, tmp_path: Path
) -> None:
    import base64

    import httpx

    from digest.config import load_settings
    from digest.sink import free_port
    from digest.web import create_app
    from tests.conftest import serving

    senders = verp_senders(smtp_server)
    verp_newsroom.write("1.eml", bare_dsn(senders["amina@example.com"], "5.1.1"))
    verp_newsroom.write("2.eml", bare_dsn(senders["john@example.org"], "5.7.1"))
    verp_newsroom.write("3.eml", arf_report(senders["john@example.org"]))
    verp_newsroom("bounces", "import", str(verp_newsroom.tmp_path))
    report = json.loads(verp_newsroom("bounces", "report", "--json").stdout)
    password = "correct horse battery staple"
    settings = load_settings(
        env={"DIGEST_EDITOR_PASSWORD": password},
        overrides={"db": verp_newsroom.db_path, "base_url": "https://news.example.com"},
        cwd=tmp_path,
    )
    port = free_port()
    login = base64.b64encode(f"editor:{password}".encode()).decode()
    app = create_app(settings, public_mode=True, clock=Clock.frozen(NOW), port=port)
    with serving(app, port) as origin:
        refused = httpx.get(f"{origin}/preview/bounces")
        page = httpx.get(f"{origin}/preview/bounces", headers={"Authorization": f"Basic {login}"})
        index = httpx.get(f"{origin}/preview/", headers={"Authorization": f"Basic {login}"})
    assert refused.status_code == 401 and "amina" not in refused.text
    assert page.status_code == 200
    assert 'href="/preview/bounces"' in index.text
    rows = re.findall(
        r"<tr><th scope=row>([^<]+)</th><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td></tr>", page.text
    )
    expected = [
        (row["name"], str(row["hard"]), str(row["soft"]), str(row["complaints"]))
        for key in ("editions", "domains")
        for row in report[key]
    ]
    assert rows == expected and ("daily/2026-11-27", "1", "1", "1") in rows
    assert "1 hard, 1 soft, 1 complaints" in page.text


# -- fetch: a real IMAP server (dovecot) on loopback --------------------------------------


@pytest.fixture
def imap(tmp_path: Path) -> Iterator[tuple[Dovecot, str]]:
    cert, key = self_signed(tmp_path)
    with Dovecot(tmp_path / "dovecot", cert=cert, key=key) as server:
        yield server, cert


def flags_on_server(server: Dovecot, cert: str) -> list[tuple[bytes, ...]]:
    """Each message's flags, read back over IMAP with a client of its own."""
    client = IMAPClient(
        "127.0.0.1", port=server.port, ssl=True, ssl_context=ssl.create_default_context(cafile=cert)
    )
    client.login(USER, PASSWORD)
    client.select_folder("INBOX", readonly=True)
    flags = client.get_flags(client.search(["ALL"]))
    client.logout()
    return [tuple(sorted(f)) for _, f in sorted(flags.items())]


def test_fetch_reads_the_imap_mailbox_over_verified_tls_and_flags_what_it_kept(
    verp_newsroom: Cli, smtp_server: CaptureServer, imap: tuple[Dovecot, str]
) -> None:
    server, cert = imap
    senders = verp_senders(smtp_server)
    server.deliver(bare_dsn(senders["amina@example.com"], "5.1.1").encode())
    server.deliver(arf_report(senders["john@example.org"]).encode())
    verp_newsroom.env["DIGEST_BOUNCE_IMAP_URL"] = f"{server.url}?ca_file={cert}"
    first = verp_newsroom("bounces", "fetch")
    assert "read 2 messages (0 already imported): 1 hard, 0 soft, 1 complaint" in first.stderr
    assert statuses(verp_newsroom) == {
        "amina@example.com": "bounced",
        "john@example.org": "complained",
    }
    flags = flags_on_server(server, cert)
    assert len(flags) == 2  # nothing deleted or moved
    assert all(b"$DigestImported" in f and b"\\Seen" in f for f in flags)
    again = verp_newsroom("bounces", "fetch")
    assert "read 0 messages" in again.stderr
    server.deliver(bare_dsn("someone@elsewhere.example", "5.1.1").encode())
    third = verp_newsroom("bounces", "fetch")
    assert "read 1 messages (0 already imported)" in third.stderr


def test_fetch_refuses_a_certificate_it_cannot_verify_in_one_line(
    run: Cli, imap: tuple[Dovecot, str]
) -> None:
    server, _ = imap
    run.env["DIGEST_BOUNCE_IMAP_URL"] = server.url  # self-signed, not trusted
    result = run("bounces", "fetch", ok=False)
    assert result.exit_code == 1 and "certificate we cannot verify" in result.output
    assert "ca_file" in result.output and "Traceback" not in result.output


def test_fetch_with_a_wrong_password_or_no_tls_is_one_line(
    run: Cli, imap: tuple[Dovecot, str]
) -> None:
    server, cert = imap
    run.env["DIGEST_BOUNCE_IMAP_URL"] = f"{server.url.replace(PASSWORD, 'wrong')}?ca_file={cert}"
    result = run("bounces", "fetch", ok=False)
    assert result.exit_code == 1 and "could not log in" in result.output
    run.env["DIGEST_BOUNCE_IMAP_URL"] = server.url.replace("imaps://", "imap://")
    result = run("bounces", "fetch", ok=False)
    assert result.exit_code == 1 and "must start with imaps://" in result.output
