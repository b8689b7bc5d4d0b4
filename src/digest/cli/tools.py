"""`digest smtp-sink and demo` commands."""

from __future__ import annotations

from pathlib import Path

import click

from digest.cli.base import (
    cli,
    clock_of,
    err,
    handle_errors,
    now_option,
    out,
    parse_day,
    settings_of,
)
from digest.cli.editions import print_report
from digest.errors import DigestError

# -- tools --------------------------------------------------------------------------------


@cli.command("smtp-sink")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=1025, show_default=True, type=int)
@click.option(
    "--outbox",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to store received messages [default: outbox/].",
)
@click.pass_context
@handle_errors
def smtp_sink(ctx: click.Context, host: str, port: int, outbox: Path | None) -> None:
    """Run a local SMTP server that saves every message as an .eml file.

    \b
    Example (two terminals):
      digest smtp-sink --port 1025 --outbox outbox/
      DIGEST_SMTP_URL=smtp://127.0.0.1:1025 digest send
    """
    import threading

    from digest.sink import CaptureServer

    folder = outbox or settings_of(ctx).outbox
    try:
        server = CaptureServer(folder, host=host, port=port)
        server.__enter__()
    except (OSError, RuntimeError) as exc:
        raise DigestError(
            f"cannot listen on {host}:{port}: {exc}",
            hint="is another server using the port? try --port",
        ) from None
    err.print(f"listening on {server.url}, saving to {folder}/ (Ctrl-C stops)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.__exit__(None, None, None)


@cli.command()
@click.option("--date", "day", help="Edition date [default: today in the list's time zone].")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("digest-demo"),  # digest.demo.DEMO_DIR (imported only when the demo runs)
    show_default=True,
    help="The demo's own folder: its database, outbox/ and preview/.",
)
@now_option
@click.pass_context
@handle_errors
def demo(ctx: click.Context, day: str | None, folder: Path) -> None:
    """Try everything: sample list, subscribers and articles, sent to a local capture server.

    Works in its own folder (digest-demo/): creates demo.db there, sends today's sample
    edition over real SMTP to a built-in server on a free loopback port, and writes .eml
    files to digest-demo/outbox/. It never opens --db / DIGEST_DB or subscribers.db.

    \b
    Example:
      digest demo && ls digest-demo/outbox/
    """
    from digest.demo import run_demo

    result = run_demo(
        settings_of(ctx), day=parse_day(day) if day else None, clock=clock_of(ctx), folder=folder
    )
    print_report(result.report, False)
    out.print(f"database: {result.db.resolve()} (the demo's own; no other database touched)")
    out.print(f"messages: {result.outbox.resolve()}/ (.eml files, captured by {result.smtp_url})")
    out.print(f"preview:  {result.preview.resolve()}")
