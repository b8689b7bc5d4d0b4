"""The preview's checks of one rendered edition (digest.render.checks), and where they show:
the preview server's panel, `digest preview` and `digest send --to`."""

from __future__ import annotations

from dataclasses import replace

from digest.render import Renderer
from digest.render.checks import check_edition
from digest.sink import CaptureServer
from tests.conftest import Cli, article, received_messages
from tests.editions import sample_edition

PLAIN = "http://img.example.com/crue.jpg"


def test_an_image_over_plain_http_is_named_with_its_story() -> None:
    """The renderer drops an image that is not on https, and no check said so (issue 14):
    the rendered HTML no longer holds it, so the "non-https links" check cannot see it."""
    edition = sample_edition()
    first = edition.sections[1].articles[0]
    sections = (
        edition.sections[0],
        replace(
            edition.sections[1],
            articles=(replace(first, image_url=PLAIN), *edition.sections[1].articles[1:]),
        ),
        *edition.sections[2:],
    )
    edition = replace(edition, sections=sections)
    rendered = Renderer().render(edition)
    assert PLAIN not in rendered.html  # dropped
    found = {c.name: c for c in check_edition(edition, rendered, rendered.html)}
    check = found["images not on https"]
    assert not check.ok and "1 story image(s) left out" in check.summary
    assert check.items == (f"{sections[1].name}: {first.title}: {PLAIN}",)
    assert PLAIN not in found["non-https links"].items  # it sees only what the HTML holds
    clean = Renderer().render(sample_edition())
    assert {c.name: c for c in check_edition(sample_edition(), clean, clean.html)}[
        "images not on https"
    ].ok


def test_send_to_and_preview_print_the_checks_naming_the_http_image(
    run: Cli, smtp_server: CaptureServer
) -> None:
    run("lists", "add", "daily", "--name", "Daily")
    stories = [article(title="The Chari flood", image_url=PLAIN, image_alt="The river")]
    run("articles", "import", str(run.write("a.json", stories)))
    run.env["DIGEST_SMTP_URL"] = smtp_server.url
    sent = run("send", "--list", "daily", "--date", "2026-11-27", "--to", "editor@example.com")
    assert "test copy sent to editor@example.com" in sent.stderr
    assert len(received_messages(smtp_server)) == 1
    preview = run("preview", "--list", "daily", "--date", "2026-11-27", "--out", "p")
    for result in (sent, preview):
        assert "warning: images not on https: 1 story image(s) left out" in result.stderr
        assert f"    News: The Chari flood: {PLAIN}\n" in result.stderr
        assert "checks: " in result.stderr
