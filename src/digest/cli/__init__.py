"""click commands: read options, call one pipeline function, print a summary.

Each command group lives in its own module; importing them registers the commands.
"""

from digest.cli import (  # noqa: F401
    articles,
    bounces,
    editions,
    edits,
    feeds,
    list_settings,
    lists,
    schedule,
    secret,
    serve,
    signups,
    subscribers,
    tools,
    webhooks,
)
from digest.cli.base import cli


def main() -> None:
    cli(prog_name="digest")


__all__ = ["cli", "main"]
