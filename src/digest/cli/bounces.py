"""`digest bounces` commands: import the bounce mailbox, list what it held, report."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click

from digest.cli.base import cli, clock_of, err, handle_errors, out, settings_of


@cli.group("bounces")
def bounces_group() -> None:
    """Bounces (DSNs) and complaints that came back to the bounce address."""


@bounces_group.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.pass_context
@handle_errors
def bounces_import(ctx: click.Context, path: Path) -> None:
    """Read a .eml file, an mbox file, a Maildir or a folder of them, and act on each.

    A hard bounce (5.1.x, 5.2.1) sets the subscriber bounced; another failure counts as
    a soft bounce (DIGEST_SOFT_BOUNCE_LIMIT); a complaint (ARF) sets them complained;
    auto-replies and delay warnings are ignored; anything else is kept for
    `digest bounces list --unknown`. Importing the same messages again changes nothing.
    Nothing in PATH is moved or deleted.

    \b
    Example:
      digest bounces import ~/Maildir/.bounces
    """
    from digest import bouncebox, pipeline

    with pipeline.open_store(settings_of(ctx)) as store:
        result = bouncebox.import_bounces(store, path, **_classifying(ctx))
    err.print(result.summary())


@bounces_group.command("fetch")
@click.pass_context
@handle_errors
def bounces_fetch(ctx: click.Context) -> None:
    """Import the IMAP bounce mailbox (DIGEST_BOUNCE_IMAP_URL) like `bounces import`.

    Reads over TLS with the certificate verified the messages not yet flagged
    $DigestImported, and flags each (and marks it seen) once it is kept: nothing is
    deleted or moved. Run it from cron.

    \b
    Example:
      DIGEST_BOUNCE_IMAP_URL=imaps://bounces:PASSWORD@mail.example.com/INBOX digest bounces fetch
    """
    from digest import bouncebox, pipeline

    settings = settings_of(ctx)
    box = bouncebox.ImapMailbox.from_url(settings.bounce_imap_url)
    with pipeline.open_store(settings) as store:
        result = bouncebox.fetch_bounces(store, box, **_classifying(ctx))
    err.print(result.summary())


def _classifying(ctx: click.Context) -> dict[str, Any]:
    """What classifying bounces needs from the settings, and the moment, for both readers."""
    # flufl.bounce logs a traceback when one of its detectors trips on a message; the
    # message is then kept as unknown, which is what the user needs to know.
    logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)
    settings = settings_of(ctx)
    return {
        "secret_file": settings.secret_file,
        "bounce_address": settings.bounce_address,
        "soft_bounce_limit": settings.soft_bounce_limit,
        "now": clock_of(ctx).now(),
    }


@bounces_group.command("list")
@click.option("--unknown", is_flag=True, help="Only the messages that could not be classified.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@handle_errors
def bounces_list(ctx: click.Context, unknown: bool, as_json: bool) -> None:
    """The messages imported from the bounce mailbox and what each was found to be.

    \b
    Example:
      digest bounces list --unknown
    """
    from digest import pipeline

    with pipeline.open_store(settings_of(ctx)) as store:
        rows = list(store.bounce_messages(kind="unknown" if unknown else None))
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        who = r["address"] or "-"
        out.print(
            f"{r['id']}\t{r['kind']}\t{r['status'] or '-'}\t{who}\t{r['subject'] or '-'}"
            f"\t{r['source']}",
            markup=False,
        )
    if not rows:
        err.print("no unknown messages" if unknown else "no bounce messages imported yet")


@bounces_group.command("report")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@handle_errors
def bounces_report(ctx: click.Context, as_json: bool) -> None:
    """Hard bounces, soft bounces and complaints per edition and by receiving domain.

    Counts the imported bounce mailbox (one per message); a bounce that names no
    edition is counted under "-".

    \b
    Example:
      digest bounces report --json
    """
    from digest import pipeline

    with pipeline.open_store(settings_of(ctx)) as store:
        report = pipeline.bounce_report(store)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    for title, key in (("per edition", "editions"), ("by receiving domain", "domains")):
        out.print(f"{title}:", markup=False)
        out.print("  hard\tsoft\tcomplaints\t" + ("edition" if key == "editions" else "domain"))
        for row in report[key]:
            out.print(
                f"  {row['hard']}\t{row['soft']}\t{row['complaints']}\t{row['name']}",
                markup=False,
            )
    totals = report["total"]
    out.print(
        f"total: {totals['hard']} hard, {totals['soft']} soft, {totals['complaints']} complaints"
    )
