"""`digest send` end to end: real SQLite file, real SMTP server on loopback, the CLI."""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

import pytest

from digest.sink import CaptureServer
from tests.conftest import Cli, article, received_messages

SECTIONS = ["Tchad", "Sport", "Afrique"]


@pytest.fixture
def newsroom(run: Cli, smtp_server: CaptureServer) -> Cli:
    """A list with three subscribers (one with section preferences) and five articles."""
    run.env["DIGEST_SMTP_URL"] = smtp_server.url
    run(
        "lists",
        "add",
        "daily",
        "--name",
        "Le Quotidien",
        "--from-addr",
        "news@example.com",
        *[x for s in SECTIONS for x in ("--section", s)],
    )
    run.write(
        "people.csv",
        "email,name,lists,locale,timezone,sections\n"
        "amina@example.com,Amina,daily,fr,,\n"
        "john@Example.ORG,John Smith,daily,en,,Sport\n"
        "zoe@example.net,Zoé,daily,,,\n",
    )
    run("subscribers", "import", "people.csv")
    run.write(
        "articles.json",
        [
            article(
                url="https://news.example.com/1",
                title="Eco",
                section="Économie",
                published_at="2026-11-27T06:00:00+00:00",
            ),
            article(
                url="https://news.example.com/2",
                title="Tchad un",
                section="Tchad",
                published_at="2026-11-26T10:00:00+00:00",
            ),
            article(
                url="https://news.example.com/3",
                title="Tchad deux",
                section="Tchad",
                published_at="2026-11-27T01:00:00+01:00",
            ),
            article(
                url="https://news.example.com/4",
                title="Sport",
                section="Sport",
                published_at="2026-11-26T20:00:00Z",
            ),
            article(
                url="https://news.example.com/old",
                title="Old",
                section="Sport",
                published_at="2026-11-25T20:00:00Z",
            ),
        ],
    )
    run("articles", "import", "articles.json")
    return run


def headings(message: email.message.EmailMessage) -> list[str]:
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    return [line.strip("= ") for line in text.splitlines() if line.startswith("== ")]


def test_send_delivers_one_multipart_message_per_subscriber(
    newsroom: Cli, smtp_server: CaptureServer
) -> None:
    result = newsroom("send", "--date", "2026-11-27", "--json")
    report = json.loads(result.stdout)
    assert report["sent"] == 3 and report["articles"] == 4 and report["failed"] == 0

    messages = {str(m["To"]): m for m in received_messages(smtp_server)}
    assert set(messages) == {
        "Amina <amina@example.com>",
        "John Smith <john@example.org>",
        "Zoé <zoe@example.net>",
    }
    for m in messages.values():
        assert m.get_content_type() == "multipart/alternative"
        parts = [p.get_content_type() for p in m.iter_parts()]
        assert parts == ["text/plain", "text/html"]
        assert m["From"] == "Le Quotidien <news@example.com>"
        assert m["Message-ID"].endswith("@example.com>")
        assert m["List-Unsubscribe"].startswith("<http") and m["List-Unsubscribe"].endswith(">")
        assert m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert m["Date"] and m["Subject"].startswith("Le Quotidien")
    # list order, then the rest alphabetically; the old article is outside the window
    assert headings(messages["Amina <amina@example.com>"]) == ["Tchad", "Sport", "Économie"]
    assert headings(messages["John Smith <john@example.org>"]) == ["Sport"]
    html = messages["Zoé <zoe@example.net>"].get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert html.index("Tchad deux") < html.index("Tchad un") < html.index("Économie")
    assert "Old" not in html and "<mj-" not in html
    assert len({m["Message-ID"] for m in messages.values()}) == 3


def test_second_send_sends_nothing(newsroom: Cli, smtp_server: CaptureServer) -> None:
    newsroom("send", "--date", "2026-11-27")
    again = newsroom("send", "--date", "2026-11-27", "--json")
    report = json.loads(again.stdout)
    assert report["sent"] == 0 and report["already_sent"] == 3
    assert len(smtp_server.handler.received) == 3
    assert any("nothing sent twice" in note for note in report["notes"])


def test_new_subscriber_gets_only_their_copy_on_rerun(
    newsroom: Cli, smtp_server: CaptureServer
) -> None:
    newsroom("send", "--date", "2026-11-27")
    newsroom("subscribers", "add", "late@example.com", "--list", "daily")
    report = json.loads(newsroom("send", "--date", "2026-11-27", "--json").stdout)
    assert (report["sent"], report["already_sent"]) == (1, 3)
    assert [r for _, r, _ in smtp_server.handler.received][-1] == ["late@example.com"]


def test_dry_run_writes_eml_and_records_nothing(
    newsroom: Cli, smtp_server: CaptureServer, tmp_path: Path
) -> None:
    newsroom("send", "--date", "2026-11-27", "--dry-run")
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 3 and not smtp_server.handler.received
    parsed = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    report = json.loads(newsroom("send", "--date", "2026-11-27", "--json").stdout)
    assert report["sent"] == 3  # the dry run recorded nothing


def test_test_copy_goes_to_one_address_and_records_nothing(
    newsroom: Cli, smtp_server: CaptureServer
) -> None:
    newsroom("send", "--date", "2026-11-27", "--to", "editor@example.com")
    assert [r for _, r, _ in smtp_server.handler.received] == [["editor@example.com"]]
    report = json.loads(newsroom("send", "--date", "2026-11-27", "--json").stdout)
    assert report["sent"] == 3


def test_empty_edition_sends_nothing_unless_forced(
    newsroom: Cli, smtp_server: CaptureServer
) -> None:
    result = newsroom("send", "--date", "2026-12-25", ok=False)
    assert result.exit_code == 1  # not "INCOMPLETE: 0 left" with exit 0 (issue 11, item 5)
    assert result.stderr.splitlines() == [
        "Error: daily/2026-12-25: no articles in this edition; nothing sent",
        "Hint: check --date and the articles (digest articles list --date 2026-12-25); "
        "--force sends it anyway",
    ]
    assert not smtp_server.handler.received
    report = json.loads(newsroom("send", "--date", "2026-12-25", "--json", ok=False).stdout)
    assert (report["empty"], report["complete"], report["sent"]) == (True, False, 0)
    newsroom("send", "--date", "2026-12-25", "--force")
    # John only wants Sport, which is empty: he is skipped even when forced
    assert len(smtp_server.handler.received) == 2


def test_smtp_server_down_is_one_line_error(newsroom: Cli) -> None:
    from digest.sink import free_port

    newsroom.env["DIGEST_SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"
    result = newsroom("send", "--date", "2026-11-27", ok=False)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stderr.startswith("Error: cannot connect to smtp://127.0.0.1")
    assert "Hint:" in result.stderr


def test_a_test_copy_and_a_dry_run_do_not_combine(
    newsroom: Cli, smtp_server: CaptureServer, tmp_path: Path
) -> None:
    result = newsroom(
        "send", "--date", "2026-11-27", "--to", "editor@example.com", "--dry-run", ok=False
    )
    assert result.exit_code == 2  # a usage error (issue 11, item 5): it used to send
    assert "--to sends one real test copy and --dry-run sends nothing: choose one" in (
        result.stderr
    )
    assert not smtp_server.handler.received and not (tmp_path / "outbox").exists()


def test_names_read_back_exactly_by_perl_from_a_real_send(
    run: Cli, smtp_server: CaptureServer
) -> None:
    """The bytes the SMTP server received, read by Perl Email::MIME: names keep their spaces."""
    from tests import perlmail

    list_name = "L'Écho du Tchad — صدى تشاد"
    run.env["DIGEST_SMTP_URL"] = smtp_server.url
    run("lists", "add", "tchad", "--name", list_name, "--from-addr", "echo@example.com")
    names = {
        "fatime@example.com": "Fatimé Haroun",
        "youssouf@example.com": "يوسف عبد الله",
        "john@example.com": 'Smith, John (Sport) "JS"',
    }
    run.write(
        "people.csv",
        "email,name,lists\n"
        + "".join(f'{a},"{n.replace(chr(34), chr(34) * 2)}",tchad\n' for a, n in names.items()),
    )
    run("subscribers", "import", "people.csv")
    run.write("articles.json", [article(title="Tchad : la une", section="Tchad")])
    run("articles", "import", "articles.json")
    run("send", "--list", "tchad", "--date", "2026-11-27")

    assert len(smtp_server.handler.received) == 3
    for _, recipients, path in smtp_server.handler.received:
        data = path.read_bytes()
        perl = perlmail.read_message(data)
        assert perl["To"] == [{"name": names[recipients[0]], "address": recipients[0]}]
        assert perl["From"] == [{"name": list_name, "address": "echo@example.com"}]
        assert perl["List-Id"] == f"{list_name} <tchad.example.com>"
        assert perl["Subject"].startswith(list_name)
        text, html = perl["parts"]
        assert text["type"].startswith("text/plain") and html["type"].startswith("text/html")
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        assert parsed["Subject"] == perl["Subject"]
        for part, got in zip(parsed.iter_parts(), (text, html), strict=True):  # type: ignore[attr-defined]
            assert got["body"] == part.get_content()
        assert "Tchad : la une" in text["body"]


def test_non_ascii_smtp_password_from_the_setting(newsroom: Cli, tmp_path: Path) -> None:
    """DIGEST_SMTP_PASSWORD='pässwörd': sent (AUTH in UTF-8); a wrong one is one line."""
    from tests.faultsmtp import FaultServer
    from tests.test_sender import self_signed

    cert, key = self_signed(tmp_path)
    with FaultServer(tls=(cert, key), credentials=("news", "pässwörd")) as server:
        newsroom.env["DIGEST_SMTP_URL"] = server.url.replace("//", "//news@") + "?starttls=true"
        newsroom.env["DIGEST_SMTP_CA_FILE"] = cert
        newsroom.env["DIGEST_SMTP_PASSWORD"] = "passwörd"
        refused = newsroom("send", "--date", "2026-11-27", ok=False)
        assert refused.exit_code == 1 and "Traceback" not in refused.output
        assert refused.stderr.startswith("Error: could not log in to 127.0.0.1 as news")
        newsroom.env["DIGEST_SMTP_PASSWORD"] = "pässwörd"
        report = json.loads(newsroom("send", "--date", "2026-11-27", "--json").stdout)
    assert report["sent"] == 3 and len(server.handler.accepted) == 3


def test_a_421_greeting_is_one_line_that_says_try_later(newsroom: Cli) -> None:
    from tests.faultsmtp import FaultServer

    with FaultServer() as server:
        server.handler.greeting = "421 4.3.2 Too many connections, try later"
        newsroom.env["DIGEST_SMTP_URL"] = server.url
        result = newsroom("send", "--date", "2026-11-27", ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    first, hint = result.stderr.strip().splitlines()
    assert first == (
        f"Error: {server.url} turned us away at the greeting:"
        " 421 4.3.2 Too many connections, try later"
    )
    assert hint.startswith("Hint: a temporary refusal") and "(421" not in result.stderr


def test_send_refuses_while_the_base_url_is_unset_but_dry_run_and_test_copy_go_on(
    newsroom: Cli, smtp_server: CaptureServer, tmp_path: Path
) -> None:
    """Issue 11.2: real mail must not carry unsubscribe links to the loopback default."""
    del newsroom.env["DIGEST_BASE_URL"]
    result = newsroom("send", "--date", "2026-11-27", ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    first, hint = result.stderr.splitlines()
    assert first.startswith("Error: DIGEST_BASE_URL is not set") and hint.startswith("Hint:")
    assert not smtp_server.handler.received
    again = newsroom("schedule", "--run-due", "--now", "2026-11-27T07:05:00+00:00", ok=False)
    assert again.exit_code == 1 and "DIGEST_BASE_URL is not set" in again.stderr
    assert not smtp_server.handler.received

    newsroom("send", "--date", "2026-11-27", "--dry-run")
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 3
    newsroom("send", "--date", "2026-11-27", "--to", "editor@example.com")
    assert len(smtp_server.handler.received) == 1

    newsroom.env["DIGEST_BASE_URL"] = "https://news.example.com"
    report = json.loads(newsroom("send", "--date", "2026-11-27", "--json").stdout)
    assert report["sent"] == 3 and report["already_sent"] == 0  # the refusals recorded nothing
    sent = received_messages(smtp_server)[1:]
    assert all(m["List-Unsubscribe"].startswith("<https://news.example.com/u/") for m in sent)
