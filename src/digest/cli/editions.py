"""`digest preview and send` commands."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from digest import issue
from digest.cli.base import (
    cli,
    clock_of,
    err,
    handle_errors,
    now_option,
    parse_day,
    settings_of,
)

if TYPE_CHECKING:
    from digest.render.checks import Check

# -- editions -----------------------------------------------------------------------------


@cli.command()
@click.option("--list", "slug", help="The list (needed when there are several).")
@click.option(
    "--date", "day", help="Edition date, YYYY-MM-DD [default: today in the list's time zone]."
)
@now_option
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for issue.html, issue.txt and issue.mjml.",
)
@click.pass_context
@handle_errors
def preview(ctx: click.Context, slug: str | None, day: str | None, out_dir: Path) -> None:
    """Render an edition to files, without sending anything.

    The files are filled in for a sample reader, reader@example.com, with links signed
    for nobody (they unsubscribe no one).

    \b
    Example:
      digest preview --list daily --date 2026-11-27 --out preview/
    """
    from digest import pipeline, proof

    with pipeline.open_store(settings_of(ctx)) as store:
        edition, rendered, paths = proof.preview_edition(
            store,
            settings_of(ctx),
            slug=slug,
            day=parse_day(day) if day else None,
            now=clock_of(ctx).now(),
            out=out_dir,
        )
    err.print(
        f"{edition.key}: {issue.counted(edition.article_count, 'article')} in "
        f"{issue.counted(len(edition.sections), 'section')},"
        f" HTML {len(rendered.html.encode()) / 1024:.1f} KB"
    )
    if rendered.dropped:
        err.print(
            f"  size budget: {len(rendered.dropped)} articles became 'more stories' links "
            "(DIGEST_HTML_BUDGET_KB)"
        )
    from digest.render.checks import check_edition

    html = paths[0].read_text(encoding="utf-8")  # issue.html, as filled in
    print_checks(check_edition(edition, rendered, html, base_url=settings_of(ctx).base_url))
    for path in paths:
        click.echo(path)


EXIT_INCOMPLETE = 75  # EX_TEMPFAIL: messages remain queued or deferred; run again later


@cli.command()
@click.option("--list", "slug", help="The list (needed when there are several).")
@click.option(
    "--date", "day", help="Edition date, YYYY-MM-DD [default: today in the list's time zone]."
)
@now_option
@click.option(
    "--dry-run", is_flag=True, help="Write .eml files to the outbox; send and record nothing."
)
@click.option("--to", "test_to", help="Send one test copy to this address; record nothing.")
@click.option("--force", is_flag=True, help="Send even when the edition has no articles.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.pass_context
@handle_errors
def send(
    ctx: click.Context,
    slug: str | None,
    day: str | None,
    dry_run: bool,
    test_to: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Send an edition to every subscriber who does not have it yet.

    Safe to run again, even after a crash: the delivery ledger sends only what is left.
    Exits 0 when the edition is complete, 75 when messages remain deferred or queued
    (run it again later), 1 when the run was stopped, a message failed for good, or
    the edition has no articles (nothing is sent then, unless --force).

    \b
    Example:
      DIGEST_SMTP_URL='smtp://news:secret@mail.example.com:587?starttls=true&rate=20/s' \\
        digest send --list daily --date 2026-11-27
    """
    from digest import pipeline

    settings = settings_of(ctx)
    if test_to is not None and dry_run:
        raise click.UsageError(
            "--to sends one real test copy and --dry-run sends nothing: choose one "
            "(--dry-run alone writes every message to the outbox)"
        )
    if test_to is not None:
        from digest import proof

        with pipeline.open_store(settings) as store:
            note, checks = proof.send_test_checked(
                store,
                settings,
                slug=store.pick_list(slug).slug,
                day=parse_day(day) if day else None,
                to=test_to,
                now=clock_of(ctx).now(),
            )
        err.print(note)
        print_checks(checks)
        return
    with pipeline.open_store(settings) as store, _progress_bar(not as_json) as progress:
        if not dry_run:  # sign-up confirmations left waiting go out with every send
            from digest.dispatch import send_signup_mail

            sent, left = send_signup_mail(store, settings, now=clock_of(ctx).now())
            if sent or left:
                err.print(f"sign-up confirmations: sent {sent}, left {left}", markup=False)
        report = pipeline.send_edition(
            store,
            settings,
            slug=slug,
            day=parse_day(day) if day else None,
            clock=clock_of(ctx),
            dry_run=dry_run,
            force=force,
            progress=progress,
        )
    print_report(report, as_json)
    if report.stopped or report.failed or report.empty:
        sys.exit(1)
    if report.remaining:
        sys.exit(EXIT_INCOMPLETE)


def print_checks(checks: list[Check]) -> None:
    """The preview's checks, on stderr: one line for those that pass, each failing one
    with its items (what to fix)."""
    passed = [c.name for c in checks if c.ok]
    err.print(f"checks: {len(passed)} of {len(checks)} pass", markup=False)
    for check in checks:
        if not check.ok:
            err.print(f"  warning: {check.name}: {check.summary}", markup=False)
            for item in check.items:
                err.print(f"    {item}", markup=False)


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Callable[[int, int, str], None] | None]:
    """A rich progress bar with rate and ETA on a terminal (stderr); nothing otherwise
    (and then rich.progress, 14 ms of start-up, is not imported: cron, scripts)."""
    if not (enabled and err.is_terminal):
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("sending"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[note]}", style="dim"),
    )
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task("send", total=None, rate="", note="")

        def update(done: int, total: int, note: str) -> None:
            speed = bar.tasks[0].speed
            rate = f"{speed:,.0f} msg/s" if speed else ""
            bar.update(task, completed=done, total=total, rate=rate, note=note)

        yield update


def print_report(report: Any, as_json: bool) -> None:
    if as_json:
        from dataclasses import asdict

        click.echo(json.dumps(asdict(report), ensure_ascii=False, indent=2))
        return
    if report.empty:
        day = report.edition.rpartition("/")[2]
        err.print(
            f"Error: {report.edition}: no articles in this edition; nothing sent", markup=False
        )
        err.print(
            f"Hint: check --date and the articles (digest articles list --date {day}); "
            "--force sends it anyway",
            markup=False,
        )
        return
    if report.dry_run:
        err.print(
            f"{report.edition}: dry run, {report.recipients} messages written to {report.outbox}"
        )
    else:
        state = "complete" if report.complete else f"INCOMPLETE: {report.remaining} left"
        err.print(
            f"{report.edition}: {issue.counted(report.articles, 'article')}; sent {report.sent}, "
            f"deferred {report.deferred}, bounced {report.bounced}, skipped {report.skipped}, "
            f"failed {report.failed}, already sent {report.already_sent} "
            f"({report.elapsed:.1f} s, {report.rate:,.0f} msg/s) — {state}",
            markup=False,
        )
        if report.stopped:
            err.print(f"  stopped: {report.stopped}", markup=False)
    for note in report.notes:
        err.print(f"  {note}", markup=False)


@cli.command()
@click.option(
    "--keep-days",
    type=int,
    help="Keep the full ledger of this many days [default: DIGEST_LEDGER_KEEP_DAYS, 90].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@now_option
@click.pass_context
@handle_errors
def prune(ctx: click.Context, keep_days: int | None, as_json: bool) -> None:
    """Fold old editions' ledger rows into per-edition counts by status.

    Kept: every edition and its counts, every subscriber's status and the suppression
    list (what stops mail), and the whole ledger of the last --keep-days days (what
    stops a second copy), and the editors' edits and approvals of every edition that
    went out (the archive shows them; the approval says who let it go). Gone: who got
    which old edition, its Message-ID and reply; the edits, approvals and missed-approval
    notes of old editions that never went out; the proofs mailed to editors for old
    editions. A pruned edition cannot be sent again. Safe to run daily from cron.

    \b
    Example:
      digest prune --keep-days 90
    """
    from digest import pipeline

    settings = settings_of(ctx)
    with pipeline.open_store(settings) as store:
        report = pipeline.prune_ledger(
            store, settings, now=clock_of(ctx).now(), keep_days=keep_days
        )
    if as_json:
        click.echo(
            json.dumps(
                {
                    "before": report.before.isoformat(),
                    "editions": report.editions,
                    "rows": report.rows,
                    "pending": report.pending,
                    "events": report.events,
                    "edits": report.edits,
                    "approvals": report.approvals,
                    "proofs": report.proofs,
                    "missed_approvals": report.missed,
                    "missed_slots": report.missed_slots,
                }
            )
        )
        return
    err.print(
        f"editions before {report.before}: {report.editions} folded into counts,"
        f" {report.rows:,} ledger rows removed"
        + (f"; {report.pending} left alone (messages still pending)" if report.pending else "")
        + (f"; {report.events:,} delivered events out removed" if report.events else "")
        + (f"; {report.edits} edits of editions never sent forgotten" if report.edits else "")
        + (
            f"; {report.approvals} approvals of editions never sent forgotten"
            if report.approvals
            else ""
        )
        + (
            f"; {report.missed} missed-approval notes of editions never sent forgotten"
            if report.missed
            else ""
        )
        + (f"; {report.proofs} proofs to editors forgotten" if report.proofs else "")
        + (f"; {report.missed_slots} missed-slot notes forgotten" if report.missed_slots else "")
    )
