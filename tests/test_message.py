"""message: every message built parses back (stdlib email) to exactly what was intended."""

from __future__ import annotations

import base64
import email
import email.header
import email.policy
import email.utils
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
from tests import perlmail

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


def raw_header(data: bytes, name: str) -> str:
    """A header's value as sent, unfolded (CRLF before whitespace removed)."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii").replace("\r\n ", " ")
    for line in head.split("\r\n"):
        key, _, value = line.partition(":")
        if key.lower() == name.lower():
            return value.strip()
    raise KeyError(name)


def decoded(value: str) -> str:
    """RFC 2047 decoding by the stdlib's older, stricter `decode_header`."""
    return str(email.header.make_header(email.header.decode_header(value)))


def stdlib_address(data: bytes, name: str) -> tuple[str, str]:
    """(display name, address) through `email.utils.parseaddr` and `decode_header`."""
    phrase, addr = email.utils.parseaddr(raw_header(data, name))
    return decoded(phrase), addr


def raw_header_lines(data: bytes, name: str) -> list[str]:
    """A header's lines as sent, folded."""
    lines = header_lines(data)
    start = next(i for i, line in enumerate(lines) if line.lower().startswith(name.lower() + ":"))
    end = start + 1
    while end < len(lines) and lines[end][:1] in (" ", "\t"):
        end += 1
    return lines[start:end]


def header_lines(data: bytes) -> list[str]:
    return data.split(b"\r\n\r\n", 1)[0].decode("ascii").split("\r\n")


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
    assert stdlib_address(data, "To")[0] == "N" * 200
    assert stdlib_address(data, "From")[0] == ("Ré " * 67).strip()
    assert perlmail.read_message(data)["From"][0]["name"] == ("Ré " * 67).strip()
    # Non-ASCII names are folded within 78 characters, ASCII ones at their spaces.
    from_lines = raw_header_lines(data, "From")
    assert len(from_lines) > 1 and all(len(line) <= 78 for line in from_lines)


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
# Names of any length: the oracle is parseaddr + decode_header, which follow RFC 2047
# §6.2 (policy.default's address parser adds a space between encoded words, gh-128110).
names = st.lists(words, max_size=8).map(" ".join)


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
    env = envelope(to_name=name)
    data = message.build_message(comp, env)
    check_wire_format(data)
    msg = parse(data)
    assert str(msg["Subject"]) == subject
    assert stdlib_address(data, "To") == (" ".join(name.split())[:200].strip(), env.to_addr)
    if not name.isascii():
        assert all(len(line) <= 78 for line in raw_header_lines(data, "To"))
        assert all(len(w) <= 75 for w in re.findall(r"=\?\S*?\?=", raw_header(data, "To")))
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


NAMES = [
    "Fatimé Haroun",
    "يوسف عبد الله",
    "L'Écho du Tchad — صدى تشاد",
    'Smith, John (Sport) "JS"',
    "Zoé (Sport), \"l'Écho\" <N'Djaména>",
    # Longer than one encoded word (45 bytes of UTF-8): several words, spaces inside them.
    "Mahamat Nour Abdelkerim — محمد نور عبد الكريم عبد الرحمن, N'Djaména (Tchad)",
]


@pytest.mark.parametrize("name", [*NAMES, "x " + "é" * 21 + "𐀀abc"])
def test_display_names_read_back_exactly_in_perl_and_decode_header(name: str) -> None:
    """RFC 2047 §6.2 readers drop the space between adjacent encoded words: none is lost."""
    env = envelope(to_name=name, from_name=name)
    data = message.build_message(message.compile_edition(rendered()), env)
    check_wire_format(data)
    assert all(len(line) <= 78 for line in header_lines(data)), header_lines(data)
    words = re.findall(r"=\?\S*?\?=", raw_header(data, "To"))
    assert bool(words) is not name.isascii() and all(len(w) <= 75 for w in words)  # RFC 2047 §2
    perl = perlmail.read_message(data)
    assert perl["To"] == [{"name": name, "address": "ann@example.org"}]
    assert perl["From"] == [{"name": name, "address": "news@example.com"}]
    assert stdlib_address(data, "To") == (name, "ann@example.org")
    assert stdlib_address(data, "From") == (name, "news@example.com")


def test_subject_and_list_id_with_a_non_ascii_list_name() -> None:
    name = "L'Écho du Tchad — صدى تشاد"
    subject = f"{name} — édition du vendredi 27 novembre 2026 : l'essentiel de la journée"
    env = envelope(list_id=message.list_id(name, "tchad", "écho.example"), from_name=name)
    data = message.build_message(message.compile_edition(rendered(subject)), env)
    check_wire_format(data)
    assert all(len(line) <= 78 for line in header_lines(data)), header_lines(data)
    list_id = f"{name} <tchad.xn--cho-9la.example>"
    perl = perlmail.read_message(data)
    assert (perl["Subject"], perl["List-Id"]) == (subject, list_id)
    assert decoded(raw_header(data, "Subject")) == subject
    assert decoded(raw_header(data, "List-Id")) == list_id
    # An ASCII name stays readable; a name with specials is quoted.
    assert message.list_id("Daily News", "daily", "example.com") == (
        "Daily News <daily.example.com>"
    )
    assert message.list_id("News, Sport", "d", "example.com") == '"News, Sport" <d.example.com>'


def test_dkim_signature_verifies_in_perl_mail_dkim() -> None:
    """An independent verifier (Perl Mail::DKIM), the public key handed over directly."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode()
    env = envelope(
        to_name="Fatimé Haroun",
        from_name="L'Écho du Tchad — صدى تشاد",
        list_id=message.list_id("L'Écho du Tchad — صدى تشاد", "tchad", "example.com"),
        unsubscribe_mailto=message.unsubscribe_mailto("leave@example.com", "7-1-abc"),
    )
    dkim_key = DkimKey(private_key=pem, selector="sel1", domain="example.com")
    data = message.build_message(message.compile_edition(rendered("Édition")), env, dkim_key)
    verdict = perlmail.verify_dkim(data, "sel1._domainkey.example.com", record)
    assert verdict["result"] == "pass", verdict
    (signature,) = verdict["signatures"]
    assert signature["domain"] == "example.com"
    signed = {h.lower() for h in signature["headers"].split(":")}
    assert {"list-unsubscribe", "list-unsubscribe-post", "from", "to", "subject"} <= signed
    # Tampering with a signed header, or another key, fails in Perl too.
    tampered = data.replace(b"List-Unsubscribe: <https://", b"List-Unsubscribe: <http://")
    assert perlmail.verify_dkim(tampered, "sel1._domainkey.example.com", record)["result"] == "fail"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    wrong = (
        "v=DKIM1; k=rsa; p="
        + base64.b64encode(
            other.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ).decode()
    )
    assert perlmail.verify_dkim(data, "sel1._domainkey.example.com", wrong)["result"] == "fail"


def smtp_stuffed(data: bytes) -> bytes:
    """What smtplib would put on the wire after DATA (its own dot-stuffing, by regex)."""
    import smtplib

    quoted = smtplib.quotedata(data.decode("latin-1")).encode("latin-1")
    return quoted + (b"" if quoted.endswith(b"\r\n") else b"\r\n") + b".\r\n"


@given(
    name=st.text(st.sampled_from(".a \n\r=é"), max_size=12),
    body=st.text(st.sampled_from(".ab \n=é[]"), max_size=300),
    html=st.text(st.sampled_from(".<>ab \n="), max_size=300),
)
@settings(max_examples=300)
def test_the_wire_form_is_the_message_dot_stuffed_and_terminated(
    name: str, body: str, html: str
) -> None:
    """build_wire stuffs the edition's pieces once and the subscriber's values apart:
    the bytes must be exactly those of stuffing the whole message, lines starting with
    dots anywhere (in a literal, a value, or where one meets the other)."""
    text = re.sub(r"\[\[", "[ [", body)
    markup = re.sub(r"\[\[", "[ [", html)
    comp = message.compile_edition(
        rendered(text=text + "[[name]]" + text + "[[email]]", html=markup + "[[name]]." + markup)
    )
    env = envelope(to_name=name.replace("\r", "").replace("\n", " "))
    assert message.build_wire(comp, env) == smtp_stuffed(message.build_message(comp, env))
