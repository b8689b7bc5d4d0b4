"""`digest lists` commands."""

from __future__ import annotations

import json
from dataclasses import replace

import click
from rich.markup import escape

from digest import issue
from digest.cli.base import (
    cli,
    clock_of,
    err,
    handle_errors,
    out,
    parse_send_at,
    settings_of,
)
from digest.cli.look import check_logo, look_of, look_options, read_look
from digest.errors import InputError
from digest.models import APPROVAL_MODES, SIGNUP_MODES, NewsList

# -- lists --------------------------------------------------------------------------------


@cli.group("lists")
def lists_group() -> None:
    """Newsletters: each has its own subscribers, send time, zone, language and sections."""


@lists_group.command("add")
@click.argument("slug")
@click.option("--name", required=True, help="The newsletter's name, shown in From and the header.")
@click.option("--from-addr", default="digest@localhost", show_default=True, help="Sender address.")
@click.option("--send-at", default="07:00", show_default=True, help="Local send time, HH:MM.")
@click.option("--timezone", "tz", default="UTC", show_default=True, help="IANA zone of --send-at.")
@click.option("--locale", default="en", show_default=True, help="Language: en, fr, ar, ...")
@click.option("--section", "sections", multiple=True, help="Section order (repeat).")
@click.option(
    "--only-sections", is_flag=True, help="Carry only the --section sections (a filter, too)."
)
@click.option(
    "--language",
    "languages",
    multiple=True,
    help="Carry only articles in this language (repeat; 'fr' takes fr-FR too).",
)
@click.option(
    "--days", default="daily", show_default=True, help="Weekdays it sends on: mon,thu or daily."
)
@click.option("--address", default="", help="Postal address / contact line for the footer.")
@click.option(
    "--signup",
    type=click.Choice(SIGNUP_MODES),
    default="closed",
    show_default=True,
    help="open: readers may sign themselves up at /subscribe/SLUG (double opt-in).",
)
@look_options
@click.option(
    "--approval",
    type=click.Choice(APPROVAL_MODES),
    default="none",
    show_default=True,
    help="required: no edition goes out until `digest editions approve` (test copies do).",
)
@click.option(
    "--editor",
    "editors",
    multiple=True,
    help="An editor's address: gets a proof DIGEST_PROOF_HOURS before the due moment (repeat).",
)
@click.pass_context
@handle_errors
def lists_add(
    ctx: click.Context,
    slug: str,
    name: str,
    from_addr: str,
    send_at: str,
    tz: str,
    locale: str,
    sections: tuple[str, ...],
    only_sections: bool,
    languages: tuple[str, ...],
    days: str,
    address: str,
    signup: str,
    approval: str,
    editors: tuple[str, ...],
    **look: str | None,
) -> None:
    """Create a newsletter.

    Every list carries every article unless told otherwise: articles imported with
    `articles import --list` and feeds added with `feeds add --list` belong to one list;
    --only-sections keeps only the --section sections; --language keeps only articles
    in those languages (an article that names no language is left out). --days sends
    on those weekdays only; each edition holds what was published since the one before
    (a Monday edition after a Thursday one holds four days). --brand-name, --logo,
    --accent, --footer and --address give the list its own look; each one left out is
    the site's (DIGEST_THEME_*). --approval required holds each edition until an
    editor approves it; the --editor addresses get a proof first.

    \b
    Example:
      digest lists add daily --name "Morning Digest" --from-addr news@example.com \\
        --send-at 07:00 --timezone Africa/Ndjamena --locale fr \\
        --section Tchad --section Afrique --section Sport
      digest lists add sport-fr --name "Sport" --section Sport --only-sections --language fr
      digest lists add weekly --name "The Week" --days mon --send-at 08:00
      digest lists add sport --name "Sport" --accent '#1a5fb4' \\
        --logo https://news.example.com/sport.png --logo-size 180x40
      digest lists add daily --name "Morning" --approval required --editor desk@example.com
    """
    from digest import ingest, pipeline

    if not slug.replace("-", "").replace("_", "").isalnum() or not slug.isascii():
        raise InputError(f"list slug {slug!r} is not valid", hint="use letters, digits, - and _")
    issue.zone(tz)
    locale_warning = pipeline.check_list_locale(settings_of(ctx), locale)
    from_addr = (
        ingest.normalize_email(from_addr, where="--from-addr")
        if "@localhost" not in from_addr
        else from_addr
    )
    news_list = NewsList(
        slug=slug,
        name=ingest.check_text(name, where="--name", limit=200),
        from_addr=from_addr,
        send_at=parse_send_at(send_at),
        timezone=tz,
        locale=locale,
        sections=sections,
        address=ingest.check_text(address, where="--address", limit=500),
        only_sections=_check_only_sections(only_sections, sections),
        languages=_check_languages(languages),
        days=issue.parse_days(days),
        signup=signup,
        approval=approval,
        editors=_check_editors(editors),
    )
    news_list = replace(news_list, **read_look(look))  # type: ignore[arg-type]
    check_logo(news_list)
    with pipeline.open_store(settings_of(ctx)) as store:
        created = store.add_list(news_list, now=clock_of(ctx).now())
    every = "" if len(created.days) == 7 else f" on {issue.format_days(created.days)}"
    err.print(
        f"created list {created.slug} ({created.name}), sent at "
        f"{created.send_at:%H:%M} {created.timezone}{every}"
    )
    if locale_warning:
        err.print(f"warning: {locale_warning}", markup=False)


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
                [
                    {
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
                        "signup": r.signup,
                        "approval": r.approval,
                        "editors": list(r.editors),
                    }
                    for r in rows
                ],
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
        "subscribers": total,
        "active": counts["active"],
        "unsubscribed": counts["unsubscribed"],
    }
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    own_look = look_of(r)
    for key, value in data.items():
        shown = "(the site's)" if key in own_look and not value else str(value)
        out.print(f"[bold]{key}:[/] {escape(shown)}", markup=True)


@lists_group.command("edit")
@click.argument("slug")
@click.option("--name", help="The newsletter's name.")
@click.option("--from-addr", help="Sender address.")
@click.option("--send-at", help="Local send time, HH:MM.")
@click.option("--timezone", "tz", help="IANA zone of --send-at.")
@click.option("--locale", help="Language: en, fr, ar, ...")
@click.option("--section", "sections", multiple=True, help="Section order (repeat; replaces).")
@click.option(
    "--only-sections/--all-sections",
    default=None,
    help="Carry only the list's sections, or every section again.",
)
@click.option(
    "--language", "languages", multiple=True, help="Carry only these languages (repeat; replaces)."
)
@click.option("--any-language", is_flag=True, help="Carry articles in every language again.")
@click.option("--days", help="Weekdays it sends on: mon,thu or daily.")
@click.option("--address", help="Postal address / contact line for the footer.")
@click.option(
    "--signup",
    type=click.Choice(SIGNUP_MODES),
    help="open: readers may sign themselves up at /subscribe/SLUG (double opt-in).",
)
@look_options
@click.option(
    "--clear-look",
    is_flag=True,
    help="Back to the site's name, logo, accent and footer (the address stays).",
)
@click.option(
    "--approval",
    type=click.Choice(APPROVAL_MODES),
    help="required: no edition goes out until `digest editions approve`; none: as usual.",
)
@click.option(
    "--editor", "editors", multiple=True, help="An editor's address for proofs (repeat; replaces)."
)
@click.option("--no-editors", is_flag=True, help="Forget the list's editors (no more proofs).")
@click.pass_context
@handle_errors
def lists_edit(
    ctx: click.Context,
    slug: str,
    name: str | None,
    from_addr: str | None,
    send_at: str | None,
    tz: str | None,
    locale: str | None,
    sections: tuple[str, ...],
    only_sections: bool | None,
    languages: tuple[str, ...],
    any_language: bool,
    days: str | None,
    address: str | None,
    signup: str | None,
    approval: str | None,
    editors: tuple[str, ...],
    no_editors: bool,
    clear_look: bool,
    **look: str | None,
) -> None:
    """Change a newsletter's settings; options not given stay as they are. A look
    option given as '' (--accent '') falls back to the site's value.

    \b
    Example:
      digest lists edit daily --send-at 06:30 --section Tchad --section Sport
      digest lists edit daily --only-sections --language fr --language ar
      digest lists edit weekly --days mon,thu
      digest lists edit sport --accent '#1a5fb4' --footer "Sport desk, N'Djamena"
      digest lists edit sport --clear-look
      digest lists edit daily --approval required \\
        --editor desk@example.com --editor amina@example.com
    """
    from digest import ingest, pipeline
    from digest.cli.look import LOOK_FIELDS, LOOK_FLAGS

    changes: dict[str, object] = {}
    given = read_look(look)
    if clear_look and given:
        raise InputError(
            "--clear-look and "
            + ", ".join(LOOK_FLAGS[k] for k in given)
            + " contradict each other",
            hint="clear the look first, then set what you want",
        )
    changes.update(dict.fromkeys(LOOK_FIELDS, "") if clear_look else given)
    if name is not None:
        changes["name"] = ingest.check_text(name, where="--name", limit=200)
    if from_addr is not None:
        changes["from_addr"] = ingest.normalize_email(from_addr, where="--from-addr")
    if send_at is not None:
        changes["send_at"] = parse_send_at(send_at)
    if tz is not None:
        issue.zone(tz)
        changes["timezone"] = tz
    locale_warning = ""
    if locale is not None:
        changes["locale"] = ingest.check_text(locale, where="--locale", limit=35)
        locale_warning = pipeline.check_list_locale(settings_of(ctx), locale)
    if sections:
        changes["sections"] = tuple(
            ingest.check_text(s, where="--section", limit=200) for s in sections
        )
    if address is not None:
        changes["address"] = ingest.check_text(address, where="--address", limit=500)
    if only_sections is not None:
        changes["only_sections"] = only_sections
    if languages and any_language:
        raise InputError(
            "--language and --any-language contradict each other", hint="give one of them"
        )
    if languages or any_language:
        changes["languages"] = _check_languages(languages)
    if days is not None:
        changes["days"] = issue.parse_days(days)
    if signup is not None:
        changes["signup"] = signup
    if approval is not None:
        changes["approval"] = approval
    if editors and no_editors:
        raise InputError("--editor and --no-editors contradict each other", hint="give one of them")
    if editors or no_editors:
        changes["editors"] = _check_editors(editors)
    if not changes:
        raise InputError("nothing to change", hint="give at least one option, see --help")
    with pipeline.open_store(settings_of(ctx)) as store:
        edited = replace(store.get_list(slug), **changes)  # type: ignore[arg-type]
        _check_only_sections(edited.only_sections, edited.sections)
        check_logo(edited)
        updated = store.update_list(edited)
    err.print(f"updated list {updated.slug}: " + ", ".join(sorted(changes)))
    if locale_warning:
        err.print(f"warning: {locale_warning}", markup=False)


def _check_only_sections(only: bool, sections: tuple[str, ...]) -> bool:
    if only and not sections:
        raise InputError(
            "--only-sections needs the list's sections",
            hint="name them with --section (repeat), e.g. --section Sport --only-sections",
        )
    return only


def _check_editors(editors: tuple[str, ...]) -> tuple[str, ...]:
    from digest import ingest

    return tuple(dict.fromkeys(ingest.normalize_email(e, where="--editor") for e in editors))


def _check_languages(languages: tuple[str, ...]) -> tuple[str, ...]:
    from digest import ingest

    checked = tuple(ingest.check_language(lang.strip(), where="--language") for lang in languages)
    if any(not lang for lang in checked):
        raise InputError("--language: an empty language code", hint="use a BCP 47 code: en, fr, ar")
    return checked


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
