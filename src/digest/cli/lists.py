"""`digest lists` commands that read lists (list, show, form) and remove one.

`lists add` and `lists edit`, with the checks of a list's settings, are in
`cli.list_settings`.
"""

from __future__ import annotations

import json

import click
from rich.markup import escape

from digest import issue
from digest.cli.base import cli, err, handle_errors, out, settings_of
from digest.cli.look import look_of
from digest.errors import InputError
from digest.models import NewsList

# -- lists --------------------------------------------------------------------------------


@cli.group("lists")
def lists_group() -> None:
    """Newsletters: each has its own subscribers, send time, zone, language and sections."""


@lists_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@handle_errors
def lists_list(ctx: click.Context, as_json: bool) -> None:
    """Show every newsletter.

    \b
    Example:
      digest lists list --json
    """
    from rich.table import Table

    from digest import pipeline

    with pipeline.open_store(settings_of(ctx)) as store:
        rows = store.lists()
    if as_json:
        click.echo(
            json.dumps(
                [list_data(r) for r in rows],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    table = Table("slug", "name", "from", "send at", "locale", "sections")
    for r in rows:
        table.add_row(
            r.slug,
            r.name,
            r.from_addr,
            f"{r.send_at:%H:%M} {r.timezone}"
            + ("" if len(r.days) == 7 else f" {issue.format_days(r.days)}"),
            r.locale,
            ", ".join(r.sections),
        )
    out.print(table)


@lists_group.command("show")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@handle_errors
def lists_show(ctx: click.Context, slug: str, as_json: bool) -> None:
    """Show one newsletter and how many subscribers it has.

    \b
    Example:
      digest lists show daily
    """
    from digest import pipeline

    with pipeline.open_store(settings_of(ctx)) as store:
        r = store.get_list(slug)
        by_status = store.count_by_status(slug)
        counts = {s: by_status[s] for s in ("active", "unsubscribed")}
        total = by_status["total"]
    data = {
        **list_data(r),
        "subscribers": total,
        "active": counts["active"],
        "unsubscribed": counts["unsubscribed"],
    }
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    site_defaults = {*look_of(r), "address"}  # '' falls back to DIGEST_THEME_*
    for key, value in data.items():
        if key in site_defaults and not value:
            shown = "(the site's)"
        elif isinstance(value, list):
            shown = ", ".join(value) or "—"
        else:
            shown = str(value)
        out.print(f"[bold]{key}:[/] {escape(shown)}", markup=True)


def list_data(r: NewsList) -> dict[str, object]:
    """A list's settings as `lists list --json` and `lists show --json` print them."""
    return {
        "slug": r.slug,
        "name": r.name,
        "from_addr": r.from_addr,
        "send_at": r.send_at.strftime("%H:%M"),
        "timezone": r.timezone,
        "locale": r.locale,
        "sections": list(r.sections),
        "only_sections": r.only_sections,
        "languages": list(r.languages),
        "days": issue.format_days(r.days),
        "address": r.address,
        "signup": r.signup,
        **look_of(r),
        "approval": r.approval,
        "editors": list(r.editors),
    }


@lists_group.command("form")
@click.argument("slug")
@click.option("--locale", help="Language of the form [default: the list's].")
@click.pass_context
@handle_errors
def lists_form(ctx: click.Context, slug: str, locale: str | None) -> None:
    """Print an HTML sign-up form to paste into a site's page (needs --signup open).

    It posts to DIGEST_BASE_URL/subscribe/SLUG; readers then get a mail to confirm.

    \b
    Example:
      DIGEST_BASE_URL=https://news.example.com digest lists form daily --locale fr
    """
    from digest import pipeline
    from digest.web.signup import form_snippet

    settings = settings_of(ctx)
    with pipeline.open_store(settings) as store:
        news_list = store.get_list(slug)
    if news_list.signup != "open":
        raise InputError(
            f"list {slug!r} does not take sign-ups",
            hint=f"open it first: digest lists edit {slug} --signup open",
        )
    click.echo(form_snippet(settings, news_list, locale or news_list.locale))


@lists_group.command("remove")
@click.argument("slug")
@click.option("--force", is_flag=True, help="Even if it has subscribers (they leave the list).")
@click.pass_context
@handle_errors
def lists_remove(ctx: click.Context, slug: str, force: bool) -> None:
    """Delete a newsletter; refused while it has subscribers unless --force.

    \b
    Example:
      digest lists remove weekly
    """
    from digest import pipeline

    with pipeline.open_store(settings_of(ctx)) as store:
        dropped = store.remove_list(slug, force=force)
    err.print(f"removed list {slug}" + (f" and its {dropped} subscriptions" if dropped else ""))
