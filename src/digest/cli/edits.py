"""`digest editions` commands: the editor's hand in one edition."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape

from digest.cli.base import cli, clock_of, err, handle_errors, out, parse_day, settings_of

if TYPE_CHECKING:
    from digest.store import Store


@cli.group("editions")
def editions_group() -> None:
    """One edition as its editor shapes it: lead story, drops, pins, note, subject."""


@editions_group.command("edit")
@click.argument("slug")
@click.argument("day", metavar="DATE")
@click.option("--lead", help="The lead story: an article's URL or id ('' for the usual one).")
@click.option("--drop", "drops", multiple=True, help="Leave this article out (URL or id; repeat).")
@click.option("--pin", "pins", multiple=True, help="First in its section (URL or id; repeat).")
@click.option("--note", help="A note at the top: plain text or Markdown ('' for none).")
@click.option("--subject", help="The subject instead of 'Name — date' ('' for that again).")
@click.option("--clear", is_flag=True, help="Forget this edition's edits first.")
@click.option("--json", "as_json", is_flag=True, help="Print the edits as JSON.")
@click.pass_context
@handle_errors
def editions_edit(
    ctx: click.Context,
    slug: str,
    day: str,
    lead: str | None,
    drops: tuple[str, ...],
    pins: tuple[str, ...],
    note: str | None,
    subject: str | None,
    clear: bool,
    as_json: bool,
) -> None:
    """Shape one edition before it goes out; the articles themselves never change.

    Options not given stay as they were; --drop and --pin given replace the edition's
    drops and pins (give every one you want). Articles must be in the edition. Once the
    edition began going out it can no longer be edited.

    \b
    Example:
      digest editions edit daily 2026-11-27 --lead https://news.example.com/crue \\
        --drop 42 --pin https://news.example.com/but --note "Special **flood** edition" \\
        --subject "The Chari floods N'Djamena"
    """
    from digest import pipeline

    with pipeline.open_store(settings_of(ctx)) as store:
        edits, withdrawn = pipeline.edit_edition(
            store,
            slug=slug,
            day=parse_day(day, option="DATE"),
            now=clock_of(ctx).now(),
            lead=lead,
            drops=drops or None,
            pins=pins or None,
            note=note,
            subject=subject,
            clear=clear,
        )
        data = _show(store, slug, day, now=clock_of(ctx).now())
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    err.print(
        f"edited {data['edition']}: "
        + (
            f"lead {'set' if edits.lead else 'usual'}, {len(edits.drops)} dropped,"
            f" {len(edits.pins)} pinned, note {'set' if edits.note else 'none'},"
            f" subject {'set' if edits.subject else 'usual'}"
            if not edits.empty
            else "no edits"
        )
    )
    if withdrawn is not None:
        err.print(
            f"warning: this edit withdrew the approval by {withdrawn.approved_by}"
            f" ({withdrawn.approved_at:%Y-%m-%d %H:%M} UTC); approve it again:"
            f" digest editions approve {slug} {day}",
            markup=False,
        )


@editions_group.command("show")
@click.argument("slug")
@click.argument("day", metavar="DATE")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@handle_errors
def editions_show(ctx: click.Context, slug: str, day: str, as_json: bool) -> None:
    """Show an edition's edits and its stories in the order they go out.

    \b
    Example:
      digest editions show daily 2026-11-27 --json
    """
    from digest import pipeline

    with pipeline.open_store(settings_of(ctx)) as store:
        data = _show(store, slug, day, now=clock_of(ctx).now())
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for key in ("edition", "state", "due_at", "subject", "note", "lead", "updated_at"):
        out.print(f"[bold]{key}:[/] {escape(str(data[key] or '—'))}", markup=True)
    if data["missed_logged_at"]:
        out.print(
            "[bold]missed:[/] "
            + escape(
                f"due {data['due_at']}, held unapproved (logged at {data['missed_logged_at']})"
            ),
            markup=True,
        )
    if data["approval"]:
        approved = data["approval"]
        out.print(
            "[bold]approved:[/] "
            + escape(f"by {approved['approved_by']} at {approved['approved_at']}"),
            markup=True,
        )
    for story in data["stories"]:
        mark = {"lead": "LEAD ", "pinned": "PIN  "}.get(story["state"], "     ")
        out.print(
            escape(f"{mark}{story['id']:>6}  [{story['section']}] {story['title']}  {story['url']}")
        )
    for url in data["dropped"]:
        out.print(escape(f"DROP  {url}"))


@editions_group.command("approve")
@click.argument("slug")
@click.argument("day", metavar="DATE")
@click.option("--by", "by", help="Who approves [default: $USER].")
@click.option("--revoke", is_flag=True, help="Withdraw the approval instead.")
@click.option("--json", "as_json", is_flag=True, help="Print the edition's state as JSON.")
@click.pass_context
@handle_errors
def editions_approve(
    ctx: click.Context, slug: str, day: str, by: str | None, revoke: bool, as_json: bool
) -> None:
    """Approve an edition of a list that requires approval, so it may go out.

    Approval is of this version: an edit made after it withdraws it (and says so).
    An edition that missed its due moment unapproved stays approvable: the next
    scheduler round or `schedule --run-due` within the catch-up window sends it, and
    `digest send` does after that. Refused once the edition began going out.

    \b
    Example:
      digest editions approve daily 2026-11-27 --by amina
      digest editions approve daily 2026-11-27 --revoke
    """
    import os

    from digest import approval, pipeline

    now = clock_of(ctx).now()
    parsed = parse_day(day, option="DATE")
    who = by if by is not None else os.environ.get("USER", "") or "cli"
    with pipeline.open_store(settings_of(ctx)) as store:
        result = approval.approve(store, slug=slug, day=parsed, by=who, now=now, revoke=revoke)
        data = _show(store, slug, day, now=now)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    if revoke:
        err.print(
            f"withdrew the approval of {data['edition']} by {result.approved_by}"
            if result is not None
            else f"{data['edition']} was not approved; nothing changed"
        )
    else:
        late = f"; {data['late']}" if data["late"] else ""
        err.print(f"approved {data['edition']} by {who}; it is now {data['state']}{late}")


def _show(store: Store, slug: str, day_text: str, *, now: datetime) -> dict[str, Any]:
    from digest import approval, pipeline

    day = parse_day(day_text, option="DATE")
    news_list = store.get_list(slug)
    edits = store.edition_edits(news_list, day)
    edition = pipeline.load_edition(store, news_list, day)
    pinned = set(edits.pins)
    state = approval.edition_state(store, news_list, day, now=now)
    approved = state.approval
    return {
        "edition": edition.key,
        "state": state.state,
        "approval_required": news_list.approval == "required",
        "approval": (
            {"approved_by": approved.approved_by, "approved_at": approved.approved_at.isoformat()}
            if approved
            else None
        ),
        "due_at": state.due_at.isoformat(),
        "missed_logged_at": (
            state.missed_logged_at.isoformat() if state.missed_logged_at else None
        ),
        "late": state.late_hint(news_list, day),
        "counts": state.counts,
        "subject": edits.subject,
        "note": edits.note,
        "lead": edits.lead,
        "drops": list(edits.drops),
        "pins": list(edits.pins),
        "updated_at": edits.updated_at.isoformat() if edits.updated_at else None,
        "stories": [
            {
                "id": a.id,
                "url": a.url,
                "title": a.title,
                "section": s.name,
                "state": "lead" if a.url == edits.lead else "pinned" if a.url in pinned else "",
            }
            for s in edition.sections
            for a in s.articles
        ],
        "dropped": list(edits.drops),
    }
