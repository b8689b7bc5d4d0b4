"""`digest secret` commands."""

from __future__ import annotations

import click

from digest.cli.base import cli, clock_of, err, handle_errors, settings_of
from digest.cli.schedule import parse_duration
from digest.secret import rotate_secret


@cli.group("secret")
def secret_group() -> None:
    """The secret that signs unsubscribe and preference links."""


@secret_group.command("rotate")
@click.option(
    "--grace",
    default="60d",
    show_default=True,
    help="How long links signed with the old secret keep working (e.g. 30d, 12h).",
)
@click.pass_context
@handle_errors
def secret_rotate(ctx: click.Context, grace: str) -> None:
    """Replace the secret; links in mail already sent keep working for --grace.

    Run it if the secret file may have leaked. Links signed with a secret whose grace
    has ended get 404, so keep --grace at 30 days or more (unsubscribe links must keep
    working that long in many jurisdictions).

    \b
    Example:
      digest secret rotate --grace 60d
    """
    settings = settings_of(ctx)
    now = clock_of(ctx).now()
    entries = rotate_secret(settings.secret_file, now=now, grace=parse_duration(grace, "--grace"))
    err.print(f"new secret written to {settings.secret_file}")
    for entry in entries[1:]:
        assert entry.expires_at is not None
        err.print(f"  an old secret stays valid until {entry.expires_at:%Y-%m-%d %H:%M} UTC")
