"""message: every message built parses back (stdlib email) to exactly what was intended."""

from __future__ import annotations

import base64
import email
import email.policy
import re
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from digest import message
from digest.message import CompiledEdition, DkimKey, Envelope
from digest.models import RenderedEdition

DATE = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)


def rendered(subject: str = "Morning Digest — 27 November 2026", **kw: str) -> RenderedEdition:
    return RenderedEdition(
        subject=subject,
        html=kw.get("html", '<p>Hello [[name]]</p>\n<a href="[[unsubscribe_url]]">stop</a>\n'),
        text=kw.get("text", "Hello [[name]] <[[email]]>\n\nStop: [[unsubscribe_url]]\n"),
        mjml="",
        sections=(),
        locale="en",
    )


def envelope(**kw: object) -> Envelope:
    values: dict[str, object] = {
        "to_addr": "ann@example.org",
        "to_name": "Ann Reader",
        "from_addr": "news@example.com",
        "from_name": "Morning Digest",
        "message_id": message.message_id("daily", "2026-11-27", 7, "example.com"),
        "date": DATE,
        "list_id": "<daily.example.com>",
        "unsubscribe_url": "https://news.example.com/u/7-1-abc",
        "preferences_url": "https://news.example.com/p/7-1-def",
    }
    values.update(kw)
    return Envelope(**values)  # type: ignore[arg-type]


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


def check_wire_format(data: bytes) -> None:
    assert b"\n" not in data.replace(b"\r\n", b""), "bare LF"
    assert b"\r" not in data.replace(b"\r\n", b""), "bare CR"
    for line in data.split(b"\r\n"):
        assert len(line) <= 998


def bodies(msg: email.message.EmailMessage) -> tuple[str, str]:
    assert msg.get_content_type() == "multipart/alternative"
    text, html = msg.get_payload()  # type: ignore[misc]
    assert text.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    for part in (text, html):
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        assert part.get_content_charset() == "utf-8"
    return (
        text.get_content().replace("\r\n", "\n"),
        html.get_content().replace("\r\n", "\n"),
    )


def test_headers_and_bodies_parse_back_exactly() -> None:
    data = message.build_message(message.compile_edition(rendered()), envelope())
    check_wire_format(data)
    msg = parse(data)
    assert msg["Date"].datetime == DATE
    assert msg["From"].addresses[0].display_name == "Morning Digest"
    assert msg["From"].addresses[0].addr_spec == "news@example.com"
    assert msg["To"].addresses[0].addr_spec == "ann@example.org"
    assert msg["Subject"] == "Morning Digest — 27 November 2026"
    assert msg["Message-ID"] == message.message_id("daily", "2026-11-27", 7, "example.com")
    assert msg["Message-ID"].endswith("@example.com>")
    assert msg["List-Id"] == "<daily.example.com>"
    assert msg["List-Unsubscribe"] == "<https://news.example.com/u/7-1-abc>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["MIME-Version"] == "1.0"
    assert "Feedback-ID" not in msg
    text, html = bodies(msg)
    assert (
        text == "Hello Ann Reader <ann@example.org>\n\nStop: https://news.example.com/u/7-1-abc\n"
    )
    assert (
        html == '<p>Hello Ann Reader</p>\n<a href="https://news.example.com/u/7-1-abc">stop</a>\n'
    )


def test_message_id_is_stable_per_edition_and_subscriber() -> None:
    a = message.message_id("daily", "2026-11-27", 7, "example.com")
    assert a == message.message_id("daily", "2026-11-27", 7, "example.com")
    assert a != message.message_id("daily", "2026-11-27", 8, "example.com")
    assert a != message.message_id("daily", "2026-11-28", 7, "example.com")
    assert message.message_id("d", "2026-11-27", 7, "bücher.de").endswith("@xn--bcher-kva.de>")


def test_non_ascii_names_subject_and_domains() -> None:
    env = envelope(
        to_addr="zoé@exämple.org".replace("zoé", "zoe"),
        to_name="Zoé Müller, Jr.",
        from_addr="nachrichten@bücher.de",
        from_name="Bücher — Nachrichten",
    )
    data = message.build_message(message.compile_edition(rendered("Édition spéciale")), env)
    check_wire_format(data)
    assert data.isascii()
    head = data.split(b"\r\n\r\n", 1)[0]
    assert b"xn--exmple-cua.org" in head and b"xn--bcher-kva.de" in head
    msg = parse(data)
    assert msg["Subject"] == "Édition spéciale"
    assert msg["To"].addresses[0].display_name == "Zoé Müller, Jr."
    assert msg["To"].addresses[0].addr_spec == "zoe@xn--exmple-cua.org"
    assert msg["From"].addresses[0].display_name == "Bücher — Nachrichten"
    text, _ = bodies(msg)
    assert text.startswith("Hello Zoé Müller, Jr. <zoe@exämple.org>")


def test_ascii_headers_are_never_encoded_words() -> None:
    env = envelope(to_name="Smith, John", from_name="The Daily")
    data = message.build_message(message.compile_edition(rendered("Plain ASCII subject")), env)
    head = data.split(b"\r\n\r\n", 1)[0]
    assert b"=?" not in head
    assert b"Subject: Plain ASCII subject\r\n" in head
    assert b'To: "Smith, John" <ann@example.org>' in head
    assert parse(data)["To"].addresses[0].display_name == "Smith, John"


def test_long_headers_are_folded_under_998_octets() -> None:
    subject = " ".join(["word"] * 400) + " " + "x" * 1200
    env = envelope(to_name="N" * 1500, from_name="Ré " * 500)
    data = message.build_message(message.compile_edition(rendered(subject)), env)
    check_wire_format(data)
    msg = parse(data)
    assert msg["Subject"] == subject
    # Display names are cut to 200 characters.
    assert msg["To"].addresses[0].display_name == "N" * 200
    assert msg["From"].addresses[0].display_name == ("Ré " * 67).strip()


def test_list_unsubscribe_mailto_and_feedback_id() -> None:
    env = envelope(
        unsubscribe_mailto=message.unsubscribe_mailto("leave@example.com", "7-1-abc"),
        feedback_id="daily:2026-11-27:digest:example",
    )
    msg = parse(message.build_message(message.compile_edition(rendered()), env))
    assert msg["List-Unsubscribe"] == (
        "<https://news.example.com/u/7-1-abc>, "
        "<mailto:leave@example.com?subject=unsubscribe%207-1-abc>"
    )
    assert msg["Feedback-ID"] == "daily:2026-11-27:digest:example"


def test_html_values_are_escaped_text_values_are_not() -> None:
    env = envelope(to_name='<b>"Tom" & Jerry</b>')
    text, html = bodies(parse(message.build_message(message.compile_edition(rendered()), env)))
    assert text.startswith('Hello <b>"Tom" & Jerry</b> <')
    assert html.startswith("<p>Hello &lt;b&gt;&quot;Tom&quot; &amp; Jerry&lt;/b&gt;</p>")


def test_personalised_once_split_matches_plain_join() -> None:
    """The pre-encoded pieces decode to what a per-subscriber render would produce."""
    body = "".join(f"<p>{i} café [[name]] . {'y' * (i * 7)}  \n.line\n" for i in range(40))
    comp = message.compile_edition(rendered(html=body, text=body))
    env = envelope(to_name="Zoë " + "z" * 90)
    text, html = bodies(parse(message.build_message(comp, env)))
    expected = body.replace("[[name]]", env.to_name)
    assert text == expected
    assert html == expected.replace("Zoë", "Zoë")  # nothing to escape


words = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=30
)
# A name's words are short enough for one encoded word each: the stdlib address parser
# (the oracle here) adds a space between adjacent encoded words, unlike RFC 2047.
names = st.lists(words.map(lambda w: w[:11]), max_size=8).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(
    subject=st.lists(words, min_size=1, max_size=12).map(" ".join),
    name=names,
    body=st.text(st.characters(blacklist_categories=("Cs",)), max_size=300),
)
def test_any_subject_name_and_body_round_trip(subject: str, name: str, body: str) -> None:
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"\[\[", "[ [", text)
    comp = message.compile_edition(rendered(subject, text=text + "[[name]]" + text, html="x"))
    data = message.build_message(comp, envelope(to_name=name))
    check_wire_format(data)
    msg = parse(data)
    assert str(msg["Subject"]) == subject
    assert msg["To"].addresses[0].display_name == " ".join(name.split())
    got_text, _ = bodies(msg)
    assert got_text == text + name.replace("\r\n", "\n").replace("\r", "\n") + text


def test_dkim_signature_verifies_offline() -> None:
    import dkim

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"sel1._domainkey.example.com."
        return record

    env = envelope(feedback_id="daily:2026-11-27:digest:example")
    dkim_key = DkimKey(private_key=pem, selector="sel1", domain="example.com")
    data = message.build_message(message.compile_edition(rendered("Édition")), env, dkim_key)
    check_wire_format(data)
    assert data.startswith(b"DKIM-Signature:")
    assert dkim.verify(data, dnsfunc=dns)
    sig = parse(data)["DKIM-Signature"]
    tags = dict(t.strip().split("=", 1) for t in str(sig).replace(" ", "").split(";") if t)
    assert tags["c"] == "relaxed/relaxed"
    signed = {h.lower() for h in tags["h"].split(":")}
    assert signed >= {
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "list-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
    }
    # Tampering with a signed header breaks the signature.
    assert not dkim.verify(data.replace(b"Subject: ", b"Subject: X"), dnsfunc=dns)


def test_compiled_edition_without_pre_encoding_still_builds() -> None:
    comp = message.compile_edition(rendered())
    bare = CompiledEdition(comp.subject, comp.html_parts, comp.text_parts)
    env = envelope()
    assert message.build_message(bare, env) == message.build_message(comp, env)


def test_unknown_placeholder_is_refused() -> None:
    from digest.errors import TemplateError

    with pytest.raises(TemplateError, match="unknown placeholder"):
        message.compile_edition(rendered(text="Hi [[nickname]]"))
