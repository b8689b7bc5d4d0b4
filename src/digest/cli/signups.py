"""`digest signups` commands: readers' own sign-ups (the public form's double opt-in)."""

from __future__ import annotations

import click

from digest.cli.base import cli, clock_of, err, handle_errors, settings_of

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
