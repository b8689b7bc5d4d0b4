"""`digest signups` commands: readers' own sign-ups (the public form's double opt-in)."""

from __future__ import annotations

import json

import click
from rich.markup import escape

from digest.cli.base import cli, clock_of, err, handle_errors, out, settings_of

EXIT_INCOMPLETE = 75  # EX_TEMPFAIL: confirmations left unsent; run again later


@cli.group("signups")
def signups_group() -> None:
    """Readers' sign-ups through /subscribe/LIST and their confirmation mails."""


@signups_group.command("send")
@click.pass_context
@handle_errors
def signups_send(ctx: click.Context) -> None:
    """Send the confirmation (and welcome) mails left unsent (a crash, a refusing server).

    The next sign-up, `digest send` and `digest schedule` send them too; this is for
    cron. Exits 0 when none is left, 75 when some could not be sent (they stay queued
    until their link would expire).

    \b
    Example:
      DIGEST_SMTP_URL=smtp://mail.example.com:587?starttls=true digest signups send
    """
    from digest import pipeline, signup
    from digest.web.pages import Pages

    settings = settings_of(ctx)
    pages = Pages(settings.templates)
    now = clock_of(ctx).now()
    with pipeline.open_store(settings) as store:
        sent, left = signup.send_confirmations(store, settings, pages, now=now)
        welcomed, waiting = signup.send_welcomes(store, settings, pages, now=now)
    err.print(f"confirmations: sent {sent}, left {left}")
    if welcomed or waiting:
        err.print(f"welcome mails: sent {welcomed}, left {waiting}")
    left += waiting
    if left:
        err.print("  the SMTP server refused or could not be reached; run again later")
        ctx.exit(EXIT_INCOMPLETE)


@signups_group.command("show")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: one object per sign-up.")
@click.pass_context
@handle_errors
def signups_show(ctx: click.Context, email: str, as_json: bool) -> None:
    """Show an address's sign-ups: per list, when it asked, when its confirmation went,
    when it confirmed, and whether a sign-up mail to it bounced (then it gets no more).

    \b
    Example:
      digest signups show reader@example.com --json
    """
    from digest import ingest, pipeline

    address = ingest.normalize_email(email, where="EMAIL")
    with pipeline.open_store(settings_of(ctx)) as store:
        rows = [
            {
                "list": slug,
                "signed_up_at": s.created_at.isoformat(),
                "form": s.form,
                "confirmation_sent_at": s.sent_at.isoformat() if s.sent_at else None,
                "confirmed_at": s.confirmed_at.isoformat() if s.confirmed_at else None,
                "undeliverable_at": s.bounced_at.isoformat() if s.bounced_at else None,
                "bounce": s.bounce_reason,
            }
            for slug, s in store.signups_of(address)
        ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        err.print(f"no sign-ups for {address}")
        return
    for row in rows:
        state = (
            f"undeliverable since {row['undeliverable_at']} ({row['bounce']}): no more mail"
            if row["undeliverable_at"]
            else f"confirmed {row['confirmed_at']}"
            if row["confirmed_at"]
            else f"confirmation sent {row['confirmation_sent_at']}, not confirmed"
            if row["confirmation_sent_at"]
            else "confirmation not sent yet"
        )
        out.print(
            f"[bold]{escape(str(row['list']))}:[/] signed up {row['signed_up_at']}"
            f" through {escape(str(row['form']))}; {state}",
            markup=True,
        )


@signups_group.command("unblock")
@click.argument("email")
@click.pass_context
@handle_errors
def signups_unblock(ctx: click.Context, email: str) -> None:
    """Let an address whose sign-up mail bounced sign up again (it works now, its owner
    says): its next sign-up through the form gets a confirmation mail. Nothing is sent
    by this command, and no subscriber is created.

    \b
    Example:
      digest signups unblock amina@example.com
    """
    from digest import pipeline
    from digest.errors import InputError

    settings = settings_of(ctx)
    with pipeline.open_store(settings) as store:
        cleared = store.clear_signups_undeliverable(email.strip())
    if not cleared:
        raise InputError(
            f"no undeliverable sign-up for {email.strip()}",
            hint=f"digest signups show {email.strip()}",
        )
    noun = "sign-up" if cleared == 1 else "sign-ups"
    err.print(
        f"{escape(email.strip())}: {cleared} {noun} no longer undeliverable;"
        " the next sign-up through the form gets a confirmation mail"
    )
