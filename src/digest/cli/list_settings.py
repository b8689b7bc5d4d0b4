"""`digest lists add` and `digest lists edit`: a list's settings as options, checked.

The look options they share live in `cli.look`; the commands that read lists
(list, show, form) and remove them in `cli.lists`.
"""

from __future__ import annotations

from dataclasses import replace

import click

from digest import issue
from digest.cli.base import clock_of, err, handle_errors, parse_send_at, settings_of
from digest.cli.lists import lists_group
from digest.cli.look import check_logo, look_options, read_look
from digest.errors import InputError
from digest.models import APPROVAL_MODES, SIGNUP_MODES, NewsList


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
        only_sections=check_only_sections(only_sections, sections),
        languages=check_languages(languages),
        days=issue.parse_days(days),
        signup=signup,
        approval=approval,
        editors=check_editors(editors),
    )
    news_list = replace(news_list, **read_look(look))  # type: ignore[arg-type]
    check_logo(news_list)
    with pipeline.open_store(settings_of(ctx)) as store:
        created = store.add_list(news_list, now=clock_of(ctx).now())
    every = "" if len(created.days) == 7 else f" on {issue.format_days(created.days)}"
    held = ""
    if created.approval == "required":
        proofs = (
            f"proofs to {issue.counted(len(created.editors), 'editor')}"
            if created.editors
            else "no --editor, so no proofs"
        )
        held = f"; each edition waits for approval ({proofs})"
    err.print(
        f"created list {created.slug} ({created.name}), sent at "
        f"{created.send_at:%H:%M} {created.timezone}{every}{held}",
        markup=False,
    )
    if locale_warning:
        err.print(f"warning: {locale_warning}", markup=False)


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
        changes["languages"] = check_languages(languages)
    if days is not None:
        changes["days"] = issue.parse_days(days)
    if signup is not None:
        changes["signup"] = signup
    if approval is not None:
        changes["approval"] = approval
    if editors and no_editors:
        raise InputError("--editor and --no-editors contradict each other", hint="give one of them")
    if editors or no_editors:
        changes["editors"] = check_editors(editors)
    if not changes:
        raise InputError("nothing to change", hint="give at least one option, see --help")
    with pipeline.open_store(settings_of(ctx)) as store:
        edited = replace(store.get_list(slug), **changes)  # type: ignore[arg-type]
        check_only_sections(edited.only_sections, edited.sections)
        check_logo(edited)
        updated = store.update_list(edited)
    err.print(f"updated list {updated.slug}: " + ", ".join(sorted(changes)))
    if locale_warning:
        err.print(f"warning: {locale_warning}", markup=False)


def check_only_sections(only: bool, sections: tuple[str, ...]) -> bool:
    if only and not sections:
        raise InputError(
            "--only-sections needs the list's sections",
            hint="name them with --section (repeat), e.g. --section Sport --only-sections",
        )
    return only


def check_editors(editors: tuple[str, ...]) -> tuple[str, ...]:
    from digest import ingest

    return tuple(dict.fromkeys(ingest.normalize_email(e, where="--editor") for e in editors))


def check_languages(languages: tuple[str, ...]) -> tuple[str, ...]:
    from digest import ingest

    checked = tuple(ingest.check_language(lang.strip(), where="--language") for lang in languages)
    if any(not lang for lang in checked):
        raise InputError("--language: an empty language code", hint="use a BCP 47 code: en, fr, ar")
    return checked
