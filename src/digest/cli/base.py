"""Shared pieces of the command line: the root group, error handling, parsing helpers.

The one place that turns a DigestError into a message, a hint and an exit code.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from functools import wraps
from pathlib import Path
from typing import ParamSpec, TypeVar

import click
from rich.console import Console

from digest.clock import SYSTEM, Clock
from digest.config import Settings, load_settings
from digest.errors import DigestError, InputError

P = ParamSpec("P")
R = TypeVar("R")

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


class _NoticeHandler(logging.Handler):
    """What the store tells the person running a command (a migration's merges), on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        err.print(record.getMessage(), markup=False)


def _show_store_notices() -> None:
    logger = logging.getLogger("digest.store")
    if not any(isinstance(h, _NoticeHandler) for h in logger.handlers):
        handler = _NoticeHandler(logging.INFO)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except DigestError as exc:
            err.print(f"[bold red]Error:[/] {exc.message}", markup=True, soft_wrap=True)
            if exc.hint:
                err.print(f"[dim]Hint:[/] {exc.hint}", markup=True, soft_wrap=True)
            sys.exit(1)

    return wrapper


def settings_of(ctx: click.Context) -> Settings:
    settings: Settings = ctx.ensure_object(dict)["settings"]
    return settings


def clock_of(ctx: click.Context) -> Clock:
    """The one clock of this invocation: the system's, or started at `--now`."""
    clock: Clock = ctx.ensure_object(dict).get("clock", SYSTEM)
    return clock


def parse_moment(value: str, *, option: str = "--now") -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"{option}: {value!r} is not an ISO-8601 moment", hint="e.g. 2026-11-27T07:05:00+01:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _set_now(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        try:
            moment = parse_moment(value)
        except InputError as exc:
            raise click.BadParameter(f"{value!r} is not an ISO-8601 moment ({exc.hint})") from None
        ctx.ensure_object(dict)["clock"] = Clock.starting_at(moment)


def now_option(func: Callable[P, R]) -> Callable[P, R]:
    """`--now ISO-8601`: act as if it were that moment; the clock runs on from it."""
    return click.option(
        "--now",
        "now_text",
        metavar="ISO-8601",
        expose_value=False,
        callback=_set_now,
        help="Act as if it were this moment (the clock runs on from it); no offset means UTC.",
    )(func)


def parse_day(value: str, *, option: str = "--date") -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option}: {value!r} is not a date", hint="use YYYY-MM-DD") from None


def parse_send_at(value: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"--send-at: {value!r} is not a time", hint="use HH:MM, e.g. 07:00"
        ) from None


def read_input(path: str) -> tuple[str, str]:
    """The text of a file ('-' is stdin): UTF-8, or UTF-16/32 with a byte order mark."""
    from digest.ingest import decode_text

    if path == "-":
        return decode_text(sys.stdin.buffer.read(), name="stdin"), "stdin"
    try:
        return decode_text(Path(path).read_bytes(), name=path), path
    except FileNotFoundError:
        raise InputError(f"{path}: no such file", hint="check the path") from None
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}", hint="check the path and permissions") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="DIGEST_DB",
    help="SQLite database file [default: subscribers.db; env DIGEST_DB].",
)
@click.option(
    "--templates",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="DIGEST_TEMPLATES",
    help="Folder whose files override the default theme.",
)
@now_option
@click.version_option(package_name="digest")
@click.pass_context
@handle_errors
def cli(ctx: click.Context, db: Path | None, templates: Path | None) -> None:
    """Build a news site's daily email digest and send it, once, to every subscriber.

    \b
    Try it:  digest demo
    Then:    digest lists list ; digest preview --out preview ; digest send
    """
    _show_store_notices()
    ctx.ensure_object(dict)["settings"] = load_settings(
        overrides={"db": db, "templates": templates}
    )


@cli.command()
@click.pass_context
@handle_errors
def init(ctx: click.Context) -> None:
    """Create the database and the secret for unsubscribe links (safe to rerun).

    \b
    Example:
      digest --db news.db init
    """
    from digest import pipeline

    db, secret = pipeline.init_project(settings_of(ctx))
    out.print(f"database: {db}\nsecret:   {secret} (keep it private; mode 0600)")
