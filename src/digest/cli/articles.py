"""`digest articles` commands."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape

from digest import issue
from digest.cli.base import (
    cli,
    clock_of,
    err,
    handle_errors,
    now_option,
    out,
    parse_day,
    settings_of,
)
from digest.errors import InputError
from digest.models import ARTICLE_FORMATS, Article

if TYPE_CHECKING:
    from digest import pipeline


def read_bytes(path: str) -> tuple[bytes, str]:
    """The file's bytes ('-' is stdin) and the name to use in messages."""
    if path == "-":
        return sys.stdin.buffer.read(), "stdin"
    try:
        return Path(path).read_bytes(), path
    except FileNotFoundError:
        raise InputError(f"{path}: no such file", hint="check the path") from None
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}", hint="check the path and permissions") from None


def print_import(
    report: pipeline.ImportReport, *, limit: int = 50, prefix: str = "", suffix: str = ""
) -> None:
    """Each warning and rejected record on its own line (first `limit`), then the counts."""
    for warning in report.warnings[:limit]:
        err.print(f"warning: {prefix}{warning}" if prefix else f"warning: {warning}")
    if len(report.warnings) > limit:
        err.print(f"... and {len(report.warnings) - limit} more warnings")
    for problem in report.problems[:limit]:
        err.print(f"rejected: {problem.message}" + (f" ({problem.hint})" if problem.hint else ""))
    shown = min(limit, len(report.problems))
    if report.rejected > shown:
        err.print(f"... and {report.rejected - shown} more rejected")
    err.print(prefix + report.summary() + suffix)


def article_json(a: Article, *, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": a.id,
        "url": a.url,
        "title": a.title,
        "section": a.section,
        "published_at": a.published_at.isoformat(),
        "author": a.author,
        "language": a.language,
    }
    if full:
        data.update(
            summary=a.summary,
            body_html=a.body_html,
            source=a.source,
            image_url=a.image_url,
            image_alt=a.image_alt,
            guid=a.guid,
        )
    return data


# -- articles -----------------------------------------------------------------------------


@cli.group("articles")
def articles_group() -> None:
    """Import, list, show and remove articles (the site's CMS may also write the table)."""


@articles_group.command("import")
@click.argument("file")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(ARTICLE_FORMATS),
    help="Force the format [default: detected from the content].",
)
@click.option("--section", help="Put every article in this section (overrides the file's).")
@click.option("--strict", is_flag=True, help="Import nothing unless every record is valid.")
@click.option(
    "--list", "list_slug", help="These articles belong to this list only [default: every list]."
)
@click.option(
    "--encoding",
    help="The file's real encoding, e.g. windows-1252 [default: UTF-8, or what its BOM "
    "or XML declaration says].",
)
@click.pass_context
@handle_errors
def articles_import(
    ctx: click.Context,
    file: str,
    fmt: str | None,
    section: str | None,
    strict: bool,
    encoding: str | None,
    list_slug: str | None,
) -> None:
    """Import articles from JSON, JSON Lines, CSV, RSS or Atom ('-' for stdin).

    The same URL (tracking parameters and fragment ignored) or the same feed guid means
    the same article: importing again updates in place. HTML is sanitised and repeated
    paragraphs are dropped. Bad records are reported and skipped (exit 1). Files are
    UTF-8, or UTF-16/UTF-32 with a byte order mark, or (feeds) what their XML
    declaration names; --encoding reads one that says UTF-8 but is not. With --list,
    only that list's editions carry them (importing again with another --list moves
    them; without --list, they stay where they are).

    \b
    Example:
      digest articles import today.jsonl
      digest articles import old-cms.xml --encoding windows-1252
      digest articles import une-fr.jsonl --list matin
      curl -s https://example.com/feed.xml | digest articles import - --section Sport
    """
    from digest import pipeline

    data, name = read_bytes(file)
    with pipeline.open_store(settings_of(ctx)) as store:
        report = pipeline.import_articles(
            store,
            data,
            name=name,
            now=clock_of(ctx).now(),
            fmt=fmt,
            section=section,
            strict=strict,
            encoding=encoding,
            list_slug=list_slug,
        )
    print_import(report)
    if report.rejected:
        sys.exit(1)


@articles_group.command("list")
@click.option("--date", "day", help="Articles published on this UTC day (YYYY-MM-DD).")
@click.option("--section", help="Only this section.")
@click.option(
    "--list",
    "slug",
    help="What this list's next edition would hold, in its order (edits applied).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@now_option
@click.pass_context
@handle_errors
def articles_list(
    ctx: click.Context, day: str | None, section: str | None, slug: str | None, as_json: bool
) -> None:
    """Show articles, newest first; with --list, those of the list's next edition.

    The next edition is the first of the list's sending days, from today in its time
    zone, that has not begun going out: its sections, languages and own articles, with
    the editors' lead, drops and pins applied (`digest editions show` for another day).

    \b
    Example:
      digest articles list --date 2026-11-27 --section Sport
      digest articles list --list daily --json
    """
    from rich.table import Table

    from digest import pipeline

    if slug is not None and day is not None:
        raise InputError(
            "--list shows the list's next edition; --date filters by publication day",
            hint="for another day's edition: digest editions show SLUG DATE",
        )
    start = datetime.combine(parse_day(day), time(0), tzinfo=UTC) if day else None
    end = start + timedelta(days=1) if start else None
    with pipeline.open_store(settings_of(ctx)) as store:
        if slug is None:
            rows = store.articles(start=start, end=end, section=section)
        else:
            edition = pipeline.next_edition(store, store.get_list(slug), clock_of(ctx).now())
            rows = [
                a
                for s in edition.sections
                if section is None or s.name.casefold() == section.casefold()
                for a in s.articles
            ]
            err.print(
                f"{edition.key}, due {edition.due_at:%Y-%m-%d %H:%M} UTC: what it holds so far"
            )
    if as_json:
        click.echo(json.dumps([article_json(a) for a in rows], ensure_ascii=False, indent=2))
        return
    table = Table("id", "published (UTC)", "section", "title")
    for a in rows:
        table.add_row(
            str(a.id), a.published_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"), a.section, a.title
        )
    out.print(table)
    err.print(issue.counted(len(rows), "article"))


@articles_group.command("show")
@click.argument("article")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@handle_errors
def articles_show(ctx: click.Context, article: str, as_json: bool) -> None:
    """Show one article, by id or URL.

    \b
    Example:
      digest articles show https://news.example.com/sport/sao-victoire
    """
    from digest import pipeline

    with pipeline.open_store(settings_of(ctx)) as store:
        found = store.get_article(article)
        only_for = store.article_list_slug(found.id or 0)
    data = {**article_json(found, full=True), "list": only_for or "(every list)"}
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for key, value in data.items():
        out.print(f"[bold]{key}:[/] {escape(str(value))}", markup=True)


@articles_group.command("remove")
@click.argument("article")
@click.pass_context
@handle_errors
def articles_remove(ctx: click.Context, article: str) -> None:
    """Delete one article, by id or URL.

    \b
    Example:
      digest articles remove 42
    """
    from digest import pipeline

    with pipeline.open_store(settings_of(ctx)) as store:
        removed = store.remove_article(article)
    err.print(f"removed article {removed.id}: {removed.title}")
