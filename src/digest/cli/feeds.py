"""`digest feeds` commands: subscribe to RSS/Atom feeds and fetch them into articles."""

from __future__ import annotations

import json
import sys

import click

from digest.cli.articles import print_import
from digest.cli.base import cli, clock_of, err, handle_errors, out, settings_of
from digest.models import Feed


def feed_json(feed: Feed) -> dict[str, object]:
    from digest import pipeline

    return {
        "id": feed.id,
        "url": feed.url,
        "title": feed.title,
        "section": feed.section,
        "list": feed.list_slug,
        "failures": feed.failures,
        "failing": feed.failures >= pipeline.FLAG_AFTER_FAILURES,
        "last_error": feed.last_error,
        "last_ok_at": feed.last_ok_at.isoformat() if feed.last_ok_at else None,
        "last_fetched_at": feed.last_fetched_at.isoformat() if feed.last_fetched_at else None,
    }


@cli.group("feeds")
def feeds_group() -> None:
    """Feeds by subscription: each fetch imports new and changed items as articles."""


@feeds_group.command("add")
@click.argument("url")
@click.option("--section", default="", help="Put the feed's items in this section.")
@click.option("--list", "slug", default="", help="Only this list's editions show its items.")
@click.pass_context
@handle_errors
def feeds_add(ctx: click.Context, url: str, section: str, slug: str) -> None:
    """Subscribe to an RSS or Atom feed (fetch it with `digest feeds fetch`).

    \b
    Example:
      digest feeds add https://www.alwihdainfo.com/xml/syndication.rss --section Tchad
    """
    from digest import pipeline

    with pipeline.open_store(settings_of(ctx)) as store:
        added = pipeline.add_feed(
            store, url, section=section, list_slug=slug, now=clock_of(ctx).now()
        )
    err.print(f"added feed {added.id}: {added.url}")


@feeds_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@handle_errors
def feeds_list(ctx: click.Context, as_json: bool) -> None:
    """Show feeds; one failing fetch after fetch is flagged (a single blip is not).

    \b
    Example:
      digest feeds list
    """
    from rich.table import Table

    from digest import pipeline

    with pipeline.open_store(settings_of(ctx)) as store:
        rows = store.feeds()
    if as_json:
        click.echo(json.dumps([feed_json(f) for f in rows], ensure_ascii=False, indent=2))
        return
    table = Table("id", "feed", "section", "list", "last ok (UTC)", "state")
    for f in rows:
        state = "ok" if f.last_ok_at else "never fetched"
        if f.failures >= pipeline.FLAG_AFTER_FAILURES:
            state = f"FAILING ({f.failures} fetches): {f.last_error}"
        elif f.failures:
            state = f"last fetch failed: {f.last_error}"
        last_ok = f"{f.last_ok_at:%Y-%m-%d %H:%M}" if f.last_ok_at else "-"
        table.add_row(str(f.id), f.name, f.section, f.list_slug, last_ok, state)
    out.print(table)


@feeds_group.command("remove")
@click.argument("feed")
@click.pass_context
@handle_errors
def feeds_remove(ctx: click.Context, feed: str) -> None:
    """Unsubscribe from a feed, by id or URL (its articles stay).

    \b
    Example:
      digest feeds remove 3
    """
    from digest import pipeline

    with pipeline.open_store(settings_of(ctx)) as store:
        removed = store.remove_feed(feed)
    err.print(f"removed feed {removed.id}: {removed.url}")


@feeds_group.command("fetch")
@click.argument("feed", required=False)
@click.option("--timeout", default=20.0, show_default=True, help="Seconds to wait per feed.")
@click.pass_context
@handle_errors
def feeds_fetch(ctx: click.Context, feed: str | None, timeout: float) -> None:
    """Fetch every feed (or one, by id or URL) and import new and changed items.

    Uses conditional GET, so an unchanged feed costs one short request. Exits 1 when a
    feed failed; each failure is named with its reason.

    \b
    Example:
      digest feeds fetch && digest articles list --date 2026-11-27
    """
    from digest import pipeline

    with pipeline.open_store(settings_of(ctx)) as store:
        reports = pipeline.fetch_feeds(store, now=clock_of(ctx).now, which=feed, timeout=timeout)
    failed = 0
    for r in reports:
        if r.status == "failed":
            failed += 1
            flag = (
                " (failing repeatedly)" if r.feed.failures >= pipeline.FLAG_AFTER_FAILURES else ""
            )
            err.print(
                f"{r.feed.name}: failed{flag}: {r.error}" + (f" ({r.hint})" if r.hint else "")
            )
        elif r.status == "not modified":
            err.print(f"{r.feed.name}: not modified" + (f"; {r.moved}" if r.moved else ""))
        else:
            print_import(
                r.report, prefix=f"{r.feed.name}: ", suffix=f"; {r.moved}" if r.moved else ""
            )
    if not reports:
        err.print("no feeds yet: digest feeds add URL")
    if failed:
        sys.exit(1)
