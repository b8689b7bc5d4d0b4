"""The pure modules stay pure: no database, network, CLI or scheduler imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FORBIDDEN = ("sqlite3", "smtplib", "click", "apscheduler", "starlette")


PURE = (
    "models",
    "errors",
    "issue",
    "timetable",
    "render",
    "message",
    "sanitizer",
    "ingest",
    "feed",
    "charset",
    "spoofing",
    "roster",
    "dsn",
    "provider",
    "sns",
)


@pytest.mark.parametrize("module", [f"digest.{name}" for name in PURE])
def test_pure_module_imports_nothing_impure(module: str) -> None:
    code = f"import sys, {module}; print(','.join(m for m in {FORBIDDEN!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# What a command costs to start is mostly what it imports (benchmarks/startup.py times it).
# `digest --help` needs click and rich only; `digest send` needs the store, the renderer
# and smtplib, but not the feed parser, the address validator or the web and cron faces.
HEAVY = ("sqlite_utils", "jinja2", "mjml", "babel", "premailer", "feedparser", "email_validator")
NOT_FOR_SEND = ("feedparser", "email_validator", "premailer", "starlette", "apscheduler", "nh3")


def _imported(code: str, names: tuple[str, ...]) -> list[str]:
    probe = f"import sys; {code}; print(','.join(m for m in {names!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [name for name in out.stdout.strip().split(",") if name]


def test_the_command_line_imports_no_library_before_a_command_runs() -> None:
    assert _imported("import digest.cli", HEAVY) == []


def test_loading_the_settings_imports_no_renderer(tmp_path: Path) -> None:
    """Every command loads its settings (and checks the theme); most never render."""
    code = (
        "from pathlib import Path; from digest.config import load_settings; "
        f"load_settings(env={{}}, cwd=Path({str(tmp_path)!r}))"
    )
    assert _imported(code, HEAVY) == []


def test_sending_imports_nothing_only_imports_and_feeds_need() -> None:
    assert _imported("import digest.cli, digest.pipeline", NOT_FOR_SEND) == []


def test_the_pipeline_loads_the_renderer_only_to_render(tmp_path: Path) -> None:
    """A cron round or a send with nothing due never renders: Jinja2, MJML and Babel
    (~90 ms) load when an edition is rendered, not when the pipeline is imported."""
    assert _imported("import digest.cli, digest.pipeline", ("jinja2", "mjml", "babel")) == []
    assert _imported(
        "from pathlib import Path; from digest.config import load_settings;"
        " import digest.pipeline as p;"
        f" p.make_renderer(load_settings(env={{}}, cwd=Path({str(tmp_path)!r})))",
        ("jinja2", "mjml"),
    ) == ["jinja2", "mjml"]


def test_pipeline_still_offers_intake_by_name() -> None:
    from digest import intake, pipeline

    assert pipeline.import_articles is intake.import_articles
    with pytest.raises(AttributeError):
        pipeline.no_such_thing  # noqa: B018


def test_inlining_css_does_not_import_requests_but_requests_still_works() -> None:
    """premailer imports `requests` (about 40 ms of a send's start-up) only to fetch
    external style sheets, which we forbid; it stays a stand-in until first use."""
    code = (
        "from digest.render.renderer import inline_css; "
        "html = inline_css('<html><head><style>p {color: red}</style></head>"
        "<body><p>x</p></body></html>'); assert 'color:red' in html.replace(' ', '')"
    )
    assert _imported(code, ("requests", "urllib3")) == ["requests"]  # the stand-in only
    assert _imported(code, ("urllib3",)) == []
    used = code + "; import requests; assert requests.codes.ok == 200; import requests.adapters"
    assert _imported(used, ("urllib3", "requests.adapters")) == ["urllib3", "requests.adapters"]


def test_a_send_without_a_terminal_does_not_import_the_progress_bar() -> None:
    """rich.progress costs about 14 ms of start-up; cron and scripts never see the bar."""
    code = "from digest.cli.editions import _progress_bar\nwith _progress_bar(True) as bar: pass"
    assert _imported(code, ("rich.progress",)) == []


def test_opening_an_up_to_date_database_imports_no_sqlite_utils(tmp_path: Path) -> None:
    """sqlite-utils runs the migrations; once none is pending, a command's start-up
    (every command opens the store) does without its ~70 ms import."""
    path = tmp_path / "news.db"
    open_it = f"from pathlib import Path; from digest.store import Store; Store.open(Path({str(path)!r}), create=True).close()"  # noqa: E501
    assert _imported(open_it, ("sqlite_utils",)) == ["sqlite_utils"]  # a new file: migrations
    assert _imported(open_it, ("sqlite_utils",)) == []
