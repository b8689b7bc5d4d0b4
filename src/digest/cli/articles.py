"""`digest articles` commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time

import click
from rich.table import Table

from digest import pipeline
from digest.cli.base import (
    cli,
    err,
    handle_errors,
    now_utc,
    out,
    parse_day,
    read_input,
    settings_of,
)

# -- articles -----------------------------------------------------------------------------


@cli.group("articles")
def articles_group() -> None:
    """Import and list articles (the site's CMS may also write the articles table)."""


@articles_group.command("import")
@click.argument("file")
@click.pass_context
@handle_errors
def articles_import(ctx: click.Context, file: str) -> None:
    """Import articles from a JSON array or JSON Lines file ('-' for stdin).

    Same URL means same article: importing again updates in place.

    \b
    Example:
      digest articles import today.jsonl
    """
    data, name = read_input(file)
    with pipeline.open_store(settings_of(ctx)) as store:
        report = pipeline.import_articles(store, data, name=name, now=now_utc())
    err.print(f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}")


@articles_group.command("list")
@click.option("--date", "day", help="Articles published on this UTC day (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@handle_errors
def articles_list(ctx: click.Context, day: str | None, as_json: bool) -> None:
    """Show articles, newest first.

    \b
    Example:
      digest articles list --date 2026-11-27
    """
    from datetime import timedelta

    start = (
        datetime.combine(parse_day(day), time(0), tzinfo=UTC)
        if day
        else datetime(1970, 1, 1, tzinfo=UTC)
    )
    end = start + timedelta(days=1) if day else datetime(9999, 1, 1, tzinfo=UTC)
    with pipeline.open_store(settings_of(ctx)) as store:
        rows = store.articles_between(start, end)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "id": a.id,
                        "url": a.url,
                        "title": a.title,
                        "section": a.section,
                        "published_at": a.published_at.isoformat(),
                        "author": a.author,
                        "language": a.language,
                    }
                    for a in rows
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    table = Table("id", "published (UTC)", "section", "title")
    for a in rows:
        table.add_row(
            str(a.id), a.published_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"), a.section, a.title
        )
    out.print(table)
