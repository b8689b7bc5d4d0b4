"""`digest preview and send` commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from digest import pipeline
from digest.cli.base import (
    cli,
    err,
    handle_errors,
    now_utc,
    parse_day,
    settings_of,
)

# -- editions -----------------------------------------------------------------------------


@cli.command()
@click.option("--list", "slug", help="The list (needed when there are several).")
@click.option("--date", "day", help="Edition date, YYYY-MM-DD [default: today, UTC].")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for issue.html, issue.txt and issue.mjml.",
)
@click.pass_context
@handle_errors
def preview(ctx: click.Context, slug: str | None, day: str | None, out_dir: Path) -> None:
    """Render an edition to files, without sending anything.

    \b
    Example:
      digest preview --list daily --date 2026-11-27 --out preview/
    """
    edition, rendered, paths = pipeline.preview_edition(
        pipeline.open_store(settings_of(ctx)),
        settings_of(ctx),
        slug=slug,
        day=parse_day(day),
        out=out_dir,
    )
    err.print(
        f"{edition.key}: {edition.article_count} articles in {len(edition.sections)} "
        f"sections, HTML {len(rendered.html.encode()) / 1024:.1f} KB"
    )
    if rendered.dropped:
        err.print(
            f"  size budget: {len(rendered.dropped)} articles became 'more stories' links "
            "(DIGEST_HTML_BUDGET_KB)"
        )
    for path in paths:
        click.echo(path)


@cli.command()
@click.option("--list", "slug", help="The list (needed when there are several).")
@click.option("--date", "day", help="Edition date, YYYY-MM-DD [default: today, UTC].")
@click.option(
    "--dry-run", is_flag=True, help="Write .eml files to the outbox; send and record nothing."
)
@click.option("--to", "test_to", help="Send one test copy to this address; record nothing.")
@click.option("--force", is_flag=True, help="Send even when the edition has no articles.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
@handle_errors
def send(
    ctx: click.Context,
    slug: str | None,
    day: str | None,
    dry_run: bool,
    test_to: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Send an edition to every subscriber who does not have it yet.

    Safe to run again: the delivery ledger makes sure nobody gets it twice.

    \b
    Example:
      DIGEST_SMTP_URL='smtp://news:secret@mail.example.com:587?starttls=true' \\
        digest send --list daily --date 2026-11-27
    """
    settings = settings_of(ctx)
    with pipeline.open_store(settings) as store:
        report = pipeline.send_edition(
            store,
            settings,
            slug=slug,
            day=parse_day(day),
            now=now_utc,
            dry_run=dry_run,
            test_to=test_to,
            force=force,
        )
    print_report(report, as_json)
    if report.failed:
        sys.exit(1)


def print_report(report: Any, as_json: bool) -> None:
    if as_json:
        from dataclasses import asdict

        click.echo(json.dumps(asdict(report), ensure_ascii=False, indent=2))
        return
    if report.dry_run:
        err.print(
            f"{report.edition}: dry run, {report.recipients} messages written to {report.outbox}"
        )
    else:
        err.print(
            f"{report.edition}: {report.articles} articles; sent {report.sent}, already sent "
            f"{report.already_sent}, skipped {report.skipped}, failed {report.failed} "
            f"({report.elapsed:.1f} s)"
        )
    for note in report.notes:
        err.print(f"  {note}")
