"""The deliverability loop: VERP envelope senders, bounce import, the bounce report.

Real parts: the capture server (aiosmtpd) sees MAIL FROM; bounce samples are real-world
messages from flufl.bounce's own test corpus (tests/data/bounces/flufl/, Apache-2.0) and
hand-made DSNs for the VERP-only cases.
"""

from __future__ import annotations

import re

import pytest

from digest.secret import load_secret, make_verp_token, read_verp_token
from digest.sink import CaptureServer
from tests.conftest import Cli, article

VERP = re.compile(r"^bounces\+(?P<token>[^@]+)@news\.example\.com$")


@pytest.fixture
def newsroom(run: Cli, smtp_server: CaptureServer) -> Cli:
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
