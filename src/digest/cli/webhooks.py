"""`digest webhooks` commands: events out (DIGEST_WEBHOOK_URL), their outbox and retries."""

from __future__ import annotations

import json
import sys

import click

from digest.cli.base import cli, clock_of, err, handle_errors, out, settings_of
from digest.errors import InputError


@cli.group("webhooks")
def webhooks_group() -> None:
    """Events out: signed JSON posts to DIGEST_WEBHOOK_URL, from a durable outbox."""


@webhooks_group.command("send")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
@click.pass_context
@handle_errors
def webhooks_send(ctx: click.Context, as_json: bool) -> None:
    """Post the pending events that are due, oldest first (`digest schedule` does too).

    Exits 1 when an event failed for good in this run (see `digest webhooks list --failed`).

    \b
    Example:
      */5 * * * *  digest --db /srv/digest/news.db webhooks send
    """
    from digest import notifier, pipeline

    settings = settings_of(ctx)
    if not settings.webhook_url:
        raise InputError(
            "DIGEST_WEBHOOK_URL is not set: there is nowhere to send events",
            hint="set it to the receiver's URL, e.g. https://crm.example.com/hooks/digest",
        )
    with pipeline.open_store(settings) as store:
        report = notifier.send_events(store, settings, clock=clock_of(ctx))
    if as_json:
        when = report.next_attempt_at
        click.echo(
            json.dumps(
                {
                    "delivered": report.delivered,
                    "failed": report.failed,
                    "retrying": report.retrying,
                    "pending": report.pending,
                    "next_attempt_at": when.isoformat() if when else None,
                }
            )
        )
    else:
        err.print(report.summary(), markup=False)
    if report.failed:
        sys.exit(1)


@webhooks_group.command("list")
@click.option("--pending", "only", flag_value="pending", help="Only events not yet delivered.")
@click.option("--failed", "only", flag_value="failed", help="Only events that failed for good.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--limit", default=1000, show_default=True, help="Show at most this many.")
@click.pass_context
@handle_errors
def webhooks_list(ctx: click.Context, only: str | None, as_json: bool, limit: int) -> None:
    """The events in the outbox, oldest first: id, status, type, attempts, next attempt,
    last error.

    \b
    Example:
      digest webhooks list --failed --json
    """
    from digest import pipeline

    with pipeline.open_store(settings_of(ctx)) as store:
        events = store.webhook_events(status=only, limit=limit)
    if as_json:
        rows = [
            {
                "id": e.id,
                "event_id": e.event_id,
                "type": e.type,
                "status": e.status,
                "attempts": e.attempts,
                "created_at": e.created_at.isoformat(),
                "next_attempt_at": e.next_attempt_at.isoformat() if e.status == "pending" else None,
                "give_up_at": e.give_up_at.isoformat() if e.give_up_at else None,
                "delivered_at": e.delivered_at.isoformat() if e.delivered_at else None,
                "last_code": e.last_code,
                "last_error": e.last_error,
                "payload": json.loads(e.body),
            }
            for e in events
        ]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for e in events:
        payload = json.loads(e.body)
        when = f"{e.next_attempt_at:%Y-%m-%d %H:%M:%S}" if e.status == "pending" else "-"
        out.print(
            f"{e.id}\t{e.status}\t{e.type}\t{payload.get('email', '')}"
            f"\t{payload.get('list') or '-'}\t{e.attempts}\t{when}\t{e.last_error or '-'}",
            markup=False,
        )
    if not events:
        err.print(f"no {only} events" if only else "no events in the outbox")


@webhooks_group.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "every", is_flag=True, help="Every failed event.")
@click.pass_context
@handle_errors
def webhooks_retry(ctx: click.Context, ids: tuple[int, ...], every: bool) -> None:
    """Put failed events back in the queue, due now, with a new retry period; the next
    `digest webhooks send` (or scheduler round) posts them, in their original order.

    \b
    Examples:
      digest webhooks retry 41 42
      digest webhooks retry --all
    """
    from digest import pipeline

    if bool(ids) == every:
        raise click.UsageError("give event ids or --all (not both)")
    with pipeline.open_store(settings_of(ctx)) as store:
        count = store.retry_webhook_events(None if every else ids, now=clock_of(ctx).now())
    if not count:
        raise InputError(
            "no failed event to retry" + (f" among {', '.join(map(str, ids))}" if ids else ""),
            hint="see `digest webhooks list --failed`",
        )
    err.print(f"{count} event{'s' if count != 1 else ''} queued again", markup=False)


@webhooks_group.command("secret")
@click.pass_context
@handle_errors
def webhooks_secret(ctx: click.Context) -> None:
    """Print the key events are signed with, for the receiver: DIGEST_WEBHOOK_SECRET, or
    the one derived from digest's secret file (which `digest secret rotate` changes).

    \b
    Example:
      digest webhooks secret > receiver.key
    """
    from digest import notifier

    click.echo(notifier.signing_secret(settings_of(ctx)))
