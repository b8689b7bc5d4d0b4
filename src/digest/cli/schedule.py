"""`digest schedule`: send each list's edition at its time, in the foreground or from cron."""

from __future__ import annotations

import logging
import sys
from datetime import timedelta

import click

from digest.cli.base import cli, clock_of, err, handle_errors, now_option, settings_of
from digest.clock import Clock
from digest.errors import InputError
from digest.timetable import DEFAULT_CATCH_UP
from digest.timetable import parse_duration as _parse


def parse_duration(value: str, option: str) -> timedelta:
    try:
        return _parse(value)
    except ValueError:
        raise InputError(
            f"{option}: {value!r} is not a duration", hint="use e.g. 6h, 90m, 2d or 1h30m"
        ) from None


class _ClockFormatter(logging.Formatter):
    """Log times from the one clock, so that `--now` lines read the moment acted at
    (not the wall clock's day, which contradicted every due time on the line)."""

    def __init__(self, clock: Clock) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s")
        self.clock = clock

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return self.clock.now().strftime("%Y-%m-%dT%H:%M:%S%z")


def _setup_logging(verbose: bool, clock: Clock) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ClockFormatter(clock))
    logging.basicConfig(
        handlers=[handler], level=logging.DEBUG if verbose else logging.INFO, force=True
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


@cli.command()
@click.option(
    "--catch-up",
    "catch_up",
    default=f"{DEFAULT_CATCH_UP // timedelta(hours=1)}h",
    show_default=True,
    help="Send an edition missed by less than this (after downtime); skip older ones.",
)
@click.option("--run-due", is_flag=True, help="Run whatever is due now, once, and exit (cron).")
@now_option
@click.option(
    "--reload-every",
    default="5m",
    show_default=True,
    help="Re-read lists and subscribers' zones this often (SIGHUP reloads at once).",
)
@click.option("-v", "--verbose", is_flag=True, help="Also log slots with nothing to send.")
@click.pass_context
@handle_errors
def schedule(
    ctx: click.Context,
    catch_up: str,
    run_due: bool,
    reload_every: str,
    verbose: bool,
) -> None:
    """Send each list's edition at its send time, in each subscriber's time zone.

    Runs in the foreground until SIGTERM or Ctrl-C, which finish the message in flight
    and exit. On start it sends what was missed within --catch-up. One log line per
    run goes to stderr. With --run-due it does one round and exits: run it from cron
    every few minutes instead of keeping a process.

    \b
    Examples:
      digest schedule --catch-up 6h
      */5 * * * *  digest --db /srv/digest/news.db schedule --run-due
      digest schedule --run-due --now 2026-11-27T07:00:00+01:00
    """
    from digest import dispatch, pipeline

    settings = settings_of(ctx)
    pipeline.require_base_url(settings)  # before anything is due: it sends real mail
    window = parse_duration(catch_up, "--catch-up")
    _setup_logging(verbose, clock_of(ctx))
    if "clock" in ctx.ensure_object(dict) and not run_due:
        raise click.UsageError("--now needs --run-due")
    if run_due:
        with pipeline.open_store(settings) as store:
            runs = dispatch.run_due(store, settings, clock=clock_of(ctx), catch_up=window)
            if settings.webhook_url:  # the events of this round (bounces) and earlier ones
                from digest import notifier

                events = notifier.send_events(store, settings, clock=clock_of(ctx))
                if events.delivered or events.failed or events.pending:
                    err.print(events.summary(), markup=False)
        if any(r.error or (r.report and r.report.failed) for r in runs):
            sys.exit(1)
        return

    from digest.scheduler import Scheduler

    pipeline.open_store(settings).close()  # a wrong --db fails now, not at the first round

    scheduler = Scheduler(
        settings, catch_up=window, reload_every=parse_duration(reload_every, "--reload-every")
    )
    scheduler.install_signal_handlers()
    scheduler.run()
