"""`digest lists` commands."""

from __future__ import annotations

import json

import click
from rich.table import Table

from digest import ingest, issue, pipeline
from digest.cli.base import (
    cli,
    err,
    handle_errors,
    now_utc,
    out,
    parse_send_at,
    settings_of,
)
from digest.errors import InputError
from digest.models import NewsList

# -- lists --------------------------------------------------------------------------------


@cli.group("lists")
def lists_group() -> None:
    """Newsletters: each has its own subscribers, send time, zone, language and sections."""


@lists_group.command("add")
@click.argument("slug")
@click.option("--name", required=True, help="The newsletter's name, shown in From and the header.")
@click.option("--from-addr", default="digest@localhost", show_default=True, help="Sender address.")
@click.option("--send-at", default="07:00", show_default=True, help="Local send time, HH:MM.")
@click.option("--timezone", "tz", default="UTC", show_default=True, help="IANA zone of --send-at.")
@click.option("--locale", default="en", show_default=True, help="Language: en, fr, ar, ...")
@click.option("--section", "sections", multiple=True, help="Section order (repeat).")
@click.option("--address", default="", help="Postal address / contact line for the footer.")
@click.pass_context
@handle_errors
def lists_add(
    ctx: click.Context,
    slug: str,
    name: str,
    from_addr: str,
    send_at: str,
    tz: str,
    locale: str,
    sections: tuple[str, ...],
    address: str,
) -> None:
    """Create a newsletter.

    \b
    Example:
      digest lists add daily --name "Morning Digest" --from-addr news@example.com \\
        --send-at 07:00 --timezone Africa/Ndjamena --locale fr \\
        --section Tchad --section Afrique --section Sport
    """
    if not slug.replace("-", "").replace("_", "").isalnum() or not slug.isascii():
        raise InputError(f"list slug {slug!r} is not valid", hint="use letters, digits, - and _")
    issue.zone(tz)
    from_addr = (
        ingest.normalize_email(from_addr, where="--from-addr")
        if "@localhost" not in from_addr
        else from_addr
    )
    news_list = NewsList(
        slug=slug,
        name=ingest.check_text(name, where="--name", limit=200),
        from_addr=from_addr,
        send_at=parse_send_at(send_at),
        timezone=tz,
        locale=locale,
        sections=sections,
        address=ingest.check_text(address, where="--address", limit=500),
    )
    with pipeline.open_store(settings_of(ctx)) as store:
        created = store.add_list(news_list, now=now_utc())
    err.print(
        f"created list {created.slug} ({created.name}), sent at "
        f"{created.send_at:%H:%M} {created.timezone}"
    )


@lists_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@handle_errors
def lists_list(ctx: click.Context, as_json: bool) -> None:
    """Show every newsletter.

    \b
    Example:
      digest lists list --json
    """
    with pipeline.open_store(settings_of(ctx)) as store:
        rows = store.lists()
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "slug": r.slug,
                        "name": r.name,
                        "from_addr": r.from_addr,
                        "send_at": r.send_at.strftime("%H:%M"),
                        "timezone": r.timezone,
                        "locale": r.locale,
                        "sections": list(r.sections),
                    }
                    for r in rows
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    table = Table("slug", "name", "from", "send at", "locale", "sections")
    for r in rows:
        table.add_row(
            r.slug,
            r.name,
            r.from_addr,
            f"{r.send_at:%H:%M} {r.timezone}",
            r.locale,
            ", ".join(r.sections),
        )
    out.print(table)
