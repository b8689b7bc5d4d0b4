"""`digest subscribers` commands."""

from __future__ import annotations

import csv
import json
import sys

import click
from rich.table import Table

from digest import ingest, pipeline
from digest.cli.base import (
    cli,
    err,
    handle_errors,
    now_utc,
    out,
    read_input,
    settings_of,
)
from digest.models import Subscriber

# -- subscribers --------------------------------------------------------------------------


@cli.group("subscribers")
def subscribers_group() -> None:
    """Add, remove, import and export subscribers."""


@subscribers_group.command("add")
@click.argument("email")
@click.option("--name", default="", help="Display name.")
@click.option("--list", "slugs", multiple=True, help="Subscribe to this list (repeat).")
@click.option("--locale", default="", help="Language overriding the list's.")
@click.pass_context
@handle_errors
def subscribers_add(
    ctx: click.Context, email: str, name: str, slugs: tuple[str, ...], locale: str
) -> None:
    """Add a subscriber (or add lists to an existing one).

    \b
    Example:
      digest subscribers add amina@example.com --name "Amina" --list daily
    """
    address = ingest.normalize_email(email, where="EMAIL")
    subscriber = Subscriber(
        email=address, name=ingest.check_text(name, where="--name", limit=200), locale=locale
    )
    with pipeline.open_store(settings_of(ctx)) as store:
        lists = [(store.get_list(s), ()) for s in slugs]
        stored, new = store.upsert_subscriber(subscriber, lists=lists, now=now_utc())
    err.print(
        f"{'added' if new else 'updated'} {stored.email}"
        + (f" to {', '.join(slugs)}" if slugs else "")
    )


@subscribers_group.command("remove")
@click.argument("email")
@click.pass_context
@handle_errors
def subscribers_remove(ctx: click.Context, email: str) -> None:
    """Delete a subscriber and their subscriptions.

    \b
    Example:
      digest subscribers remove amina@example.com
    """
    address = ingest.normalize_email(email, where="EMAIL")
    with pipeline.open_store(settings_of(ctx)) as store:
        store.remove_subscriber(address)
    err.print(f"removed {address}")


@subscribers_group.command("list")
@click.option("--list", "slug", help="Only subscribers of this list.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@handle_errors
def subscribers_list(ctx: click.Context, slug: str | None, as_json: bool) -> None:
    """Show subscribers.

    \b
    Example:
      digest subscribers list --list daily --json
    """
    with pipeline.open_store(settings_of(ctx)) as store:
        rows = list(store.subscribers(slug))
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "email": s.email,
                        "name": s.name,
                        "status": s.status,
                        "locale": s.locale,
                        "timezone": s.timezone,
                        "lists": lists,
                    }
                    for s, lists in rows
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    table = Table("email", "name", "status", "lists")
    for s, lists in rows:
        table.add_row(s.email, s.name, s.status, ", ".join(lists))
    out.print(table)
    err.print(f"{len(rows)} subscribers")


@subscribers_group.command("import")
@click.argument("file")
@click.option("--list", "slugs", multiple=True, help="List for rows without a 'lists' column.")
@click.pass_context
@handle_errors
def subscribers_import(ctx: click.Context, file: str, slugs: tuple[str, ...]) -> None:
    """Import subscribers from CSV (columns: email,name,lists,locale,timezone,sections).

    All rows are imported or, on the first bad row, none.

    \b
    Example:
      digest subscribers import people.csv --list daily
    """
    data, name = read_input(file)
    with pipeline.open_store(settings_of(ctx)) as store:
        report = pipeline.import_subscribers(
            store, data, name=name, default_lists=slugs, now=now_utc()
        )
    err.print(f"added {report.added}, updated {report.updated}")


@subscribers_group.command("export")
@click.option("--list", "slug", help="Only subscribers of this list.")
@click.pass_context
@handle_errors
def subscribers_export(ctx: click.Context, slug: str | None) -> None:
    """Write subscribers as CSV to stdout (the import format).

    \b
    Example:
      digest subscribers export --list daily > backup.csv
    """
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(ingest.SUBSCRIBER_COLUMNS)
    with pipeline.open_store(settings_of(ctx)) as store:
        for s, lists in store.subscribers(slug):
            assert s.id is not None
            sections = store.subscription_sections(s.id)
            wanted = sections.get(slug, []) if slug else next(iter(sections.values()), [])
            writer.writerow(
                [s.email, s.name, ";".join(lists), s.locale, s.timezone, ";".join(wanted)]
            )
