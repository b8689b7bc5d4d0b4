"""`digest subscribers` commands."""

from __future__ import annotations

import csv
import io
import itertools
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, BinaryIO

import click
from rich.markup import escape

from digest import charset
from digest.cli.articles import print_import
from digest.cli.base import (
    cli,
    clock_of,
    err,
    handle_errors,
    out,
    settings_of,
)
from digest.errors import InputError
from digest.models import SUBSCRIBER_STATUSES, Subscriber

if TYPE_CHECKING:
    from digest.store import Store

STATUS = click.Choice(SUBSCRIBER_STATUSES)


def subscriber_json(s: Subscriber, lists: list[str], store: Store) -> dict[str, object]:
    assert s.id is not None
    return {
        "id": s.id,
        "email": s.email,
        "name": s.name,
        "status": s.status,
        "locale": s.locale,
        "timezone": s.timezone,
        "lists": lists,
        "sections": store.subscription_sections(s.id),
    }


@contextmanager
def open_input(path: str) -> Iterator[tuple[Iterator[str], str]]:
    """A file (or '-', stdin) as text lines, read as they are needed, and its name.

    UTF-8, or the UTF-16/UTF-32 its byte order mark says (as `read_input`). Lines keep
    their line endings (what the csv module wants); text that does not decode is one
    error naming the file and, for UTF-8, the line and the byte.
    """
    if path == "-":
        yield _text_lines(sys.stdin.buffer, "stdin"), "stdin"
        return
    try:
        raw = open(path, "rb")  # noqa: SIM115 (closed below)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file", hint="check the path") from None
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}", hint="check the path and permissions") from None
    with raw:
        yield _text_lines(raw, path), path


def _text_lines(raw: BinaryIO, name: str) -> Iterator[str]:
    # a file or stdin is buffered already; a test's stdin (BytesIO) is wrapped to peek
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[type-var]
    encoding, skip = charset.byte_encoding(buffered.peek(4)[:4])
    if skip and encoding != "utf-8":  # UTF-16/32: the codec finds the lines
        buffered.read(skip)
        text = io.TextIOWrapper(buffered, encoding=encoding, newline="")
        label = encoding.upper().replace("-LE", "").replace("-BE", "")
        try:
            yield from text
        except UnicodeDecodeError:
            raise InputError(f"{name}: not {label}", hint="save the file as UTF-8") from None
        return
    for number, line in enumerate(buffered, 1):
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{name}: not UTF-8 (line {number}, byte {exc.start + 1})",
                hint="save the file as UTF-8",
            ) from None


def count_lines(path: str) -> int:
    """Lines in a file, for a progress bar on a terminal (0 for stdin or elsewhere)."""
    if path == "-" or not err.is_terminal:
        return 0
    lines = 0
    with open(path, "rb") as raw:
        while block := raw.read(1 << 20):
            lines += block.count(b"\n")
    return lines


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal; nothing otherwise.

    `total` counts rows twice: once checked, once written.
    """
    if not err.is_terminal or total < 10_000:
        yield None
        return
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    with Progress(
        TextColumn(label), BarColumn(), TaskProgressColumn(), console=err, transient=True
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


# -- subscribers --------------------------------------------------------------------------


@cli.group("subscribers")
def subscribers_group() -> None:
    """Add, remove, import, export and manage subscribers."""


@subscribers_group.command("add")
@click.argument("email")
@click.option("--name", default="", help="Display name.")
@click.option("--list", "slugs", multiple=True, help="Subscribe to this list (repeat).")
@click.option("--locale", default="", help="Language overriding the list's.")
@click.option("--timezone", "tz", default="", help="The subscriber's IANA time zone.")
@click.option("--check-dns", is_flag=True, help="Also check that the domain accepts mail.")
@click.option("--force", is_flag=True, help="Re-add an address that was removed.")
@click.pass_context
@handle_errors
def subscribers_add(
    ctx: click.Context,
    email: str,
    name: str,
    slugs: tuple[str, ...],
    locale: str,
    tz: str,
    check_dns: bool,
    force: bool,
) -> None:
    """Add a subscriber (or add lists to an existing one).

    \b
    Example:
      digest subscribers add amina@example.com --name "Amina" --list daily
    """
    from digest import pipeline, roster

    subscriber = roster.make_subscriber(
        email=email, name=name, locale=locale, timezone=tz, where="", check_dns=check_dns
    )
    with pipeline.open_store(settings_of(ctx)) as store:
        stored, new = pipeline.add_subscriber(
            store, subscriber, lists=slugs, now=clock_of(ctx).now(), force=force
        )
    err.print(
        f"{'added' if new else 'updated'} {stored.email}"
        + (f" to {', '.join(slugs)}" if slugs else "")
    )


@subscribers_group.command("remove")
@click.argument("email")
@click.option("--forget", is_flag=True, help="Also drop the suppression entry.")
@click.pass_context
@handle_errors
def subscribers_remove(ctx: click.Context, email: str, forget: bool) -> None:
    """Erase a subscriber's data; keep a hash of the address so no import re-adds them.

    \b
    Example:
      digest subscribers remove amina@example.com
      digest subscribers remove amina@example.com --forget   # no trace at all
    """
    from digest import ingest, pipeline

    address = ingest.normalize_email(email, where="EMAIL")
    with pipeline.open_store(settings_of(ctx)) as store:
        store.remove_subscriber(address, forget=forget, now=clock_of(ctx).now())
    err.print(
        f"removed {address}"
        + ("; nothing kept" if forget else "; a hash of the address is kept (--forget drops it)")
    )


@subscribers_group.command("unsubscribe")
@click.argument("email")
@click.option("--list", "slug", help="Only from this list [default: from everything].")
@click.pass_context
@handle_errors
def subscribers_unsubscribe(ctx: click.Context, email: str, slug: str | None) -> None:
    """Stop sending to a subscriber (from one list, or everything); keeps their record.

    \b
    Example:
      digest subscribers unsubscribe amina@example.com --list daily
    """
    from digest import ingest, pipeline

    address = ingest.normalize_email(email, where="EMAIL")
    with pipeline.open_store(settings_of(ctx)) as store:
        store.unsubscribe(address, slug, now=clock_of(ctx).now())
    err.print(f"unsubscribed {address}" + (f" from {slug}" if slug else " from every list"))


@subscribers_group.command("resubscribe")
@click.argument("email")
@click.option("--list", "slug", help="Only to this list [default: every list they had].")
@click.option("--force", is_flag=True, help="Even if mail to them bounced or they complained.")
@click.pass_context
@handle_errors
def subscribers_resubscribe(ctx: click.Context, email: str, slug: str | None, force: bool) -> None:
    """Make a subscriber active again (refused for bounced or complained without --force).

    \b
    Example:
      digest subscribers resubscribe amina@example.com
    """
    from digest import ingest, pipeline

    address = ingest.normalize_email(email, where="EMAIL")
    with pipeline.open_store(settings_of(ctx)) as store:
        store.resubscribe(address, slug, force=force, now=clock_of(ctx).now())
    err.print(f"resubscribed {address}" + (f" to {slug}" if slug else ""))


@subscribers_group.command("set-sections")
@click.argument("email")
@click.option("--list", "slug", required=True, help="The list.")
@click.option("--section", "sections", multiple=True, help="A wanted section (repeat; none=all).")
@click.pass_context
@handle_errors
def subscribers_set_sections(
    ctx: click.Context, email: str, slug: str, sections: tuple[str, ...]
) -> None:
    """Choose the sections a subscriber gets from one list (no --section: all of them).

    \b
    Example:
      digest subscribers set-sections amina@example.com --list daily --section Sport
    """
    from digest import ingest, pipeline

    address = ingest.normalize_email(email, where="EMAIL")
    wanted = [ingest.check_text(s, where="--section", limit=200) for s in sections]
    with pipeline.open_store(settings_of(ctx)) as store:
        saved = store.set_sections(address, slug, wanted)
    err.print(f"{address} gets {', '.join(saved) if saved else 'every section'} of {slug}")


@subscribers_group.command("list")
@click.option("--list", "slug", help="Only subscribers of this list.")
@click.option("--status", type=STATUS, help="Only subscribers with this status.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@handle_errors
def subscribers_list(
    ctx: click.Context, slug: str | None, status: str | None, as_json: bool
) -> None:
    """Show subscribers, as they are read (a million start showing at once).

    \b
    Example:
      digest subscribers list --list daily --status active --json
    """
    from digest import pipeline

    with pipeline.open_store(settings_of(ctx)) as store:
        rows = store.subscriber_listing(slug, status=status)
        if as_json:
            echo_json_array(listing_json(s, sections) for s, sections in rows)
            return
        shown = echo_columns(
            ("email", "name", "status", "lists"),
            ((s.email, s.name, s.status, ", ".join(sections)) for s, sections in rows),
        )
    err.print(f"{shown} subscribers")


def listing_json(s: Subscriber, sections: dict[str, list[str]]) -> dict[str, object]:
    return {
        "id": s.id,
        "email": s.email,
        "name": s.name,
        "status": s.status,
        "locale": s.locale,
        "timezone": s.timezone,
        "lists": list(sections),
        "sections": sections,
    }


def echo_json_array(items: Iterable[object]) -> None:
    """What json.dumps(list(items), indent=2) prints, written one item at a time."""
    write = sys.stdout.write
    first = True
    for item in items:
        text = json.dumps(item, ensure_ascii=False, indent=2).replace("\n", "\n  ")
        write(("[\n  " if first else ",\n  ") + text)
        first = False
    write("[]\n" if first else "\n]\n")


def echo_columns(headers: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> int:
    """Rows in aligned columns, streamed: widths come from the first 1,000 rows (a longer
    value later just pushes its line out). Returns how many rows were written."""
    head: list[tuple[str, ...]] = []
    rest = iter(rows)
    for row in rest:
        head.append(row)
        if len(head) >= 1000:
            break
    widths = [max([len(h), *(len(r[i]) for r in head)]) for i, h in enumerate(headers)]

    def line(values: tuple[str, ...]) -> str:
        cells = [v.ljust(w) for v, w in zip(values[:-1], widths, strict=False)]
        return "  ".join([*cells, values[-1]]).rstrip() + "\n"

    write = sys.stdout.write
    write(line(headers))
    count = 0
    for row in itertools.chain(head, rest):
        write(line(row))
        count += 1
    return count


@subscribers_group.command("show")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@handle_errors
def subscribers_show(ctx: click.Context, email: str, as_json: bool) -> None:
    """Show one subscriber, their lists and section choices, and their consent records.

    \b
    Example:
      digest subscribers show amina@example.com
    """
    from digest import ingest, pipeline

    address = email if email.isdigit() else ingest.normalize_email(email, where="EMAIL")
    with pipeline.open_store(settings_of(ctx)) as store:
        found = store.find_subscriber(address)
        assert found.id is not None
        lists = sorted(store.subscription_sections(found.id))
        data = subscriber_json(found, lists, store)
        data["list_status"] = store.subscription_statuses(found.id)
        data["paused"] = store.is_paused(found.id)
        data["consent"] = [
            {
                "list": slug,
                "signed_up_at": c.created_at.isoformat(),
                "form": c.form,
                "form_version": c.form_version,
                "ip": c.ip,
                "confirmed_at": c.confirmed_at.isoformat() if c.confirmed_at else None,
            }
            for slug, c in store.consents(found.email)
        ]
        data["imported_consent"] = store.imported_consents(found.id)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    consent = data.pop("consent")
    imported = data.pop("imported_consent")
    for key, value in data.items():
        out.print(f"[bold]{key}:[/] {escape(str(value))}", markup=True)
    for record in consent:  # type: ignore[attr-defined]
        out.print(
            f"[bold]consent ({escape(record['list'])}):[/] signed up {record['signed_up_at']}"
            f" through {escape(record['form'])} (form text {record['form_version']}),"
            f" from {record['ip'] or 'an unknown address'}, confirmed {record['confirmed_at']}",
            markup=True,
        )
    for record in imported:  # type: ignore[attr-defined]
        out.print(
            f"[bold]imported consent ({escape(record['list'])}):[/] as an export said on"
            f" {record['imported_at']}: signed up {record['signed_up_at'] or '?'} through"
            f" {escape(record['form'] or '?')} (form text {escape(record['form_version'] or '?')}),"
            f" from {escape(record['ip'] or 'an unknown address')},"
            f" confirmed {record['confirmed_at'] or '?'} (not confirmed here)",
            markup=True,
        )
    if not consent and not imported:
        out.print("[bold]consent:[/] none recorded (added by an admin: single opt-in)", markup=True)


@subscribers_group.command("count")
@click.option("--list", "slug", help="Only subscribers of this list.")
@click.option("--status", type=STATUS, help="Only subscribers with this status.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: the count per status.")
@click.pass_context
@handle_errors
def subscribers_count(
    ctx: click.Context, slug: str | None, status: str | None, as_json: bool
) -> None:
    """Count subscribers.

    \b
    Example:
      digest subscribers count --list daily --status active
    """
    from digest import pipeline

    with pipeline.open_store(settings_of(ctx)) as store:
        if not as_json:
            click.echo(store.count_subscribers(slug, status=status))
            return
        # every status in one pass over the list
        counts = store.count_by_status(slug, statuses=(status,) if status else SUBSCRIBER_STATUSES)
    click.echo(json.dumps(counts, indent=2))


@subscribers_group.command("import")
@click.argument("file")
@click.option("--list", "slugs", multiple=True, help="List for rows without a 'lists' value.")
@click.option("--strict", is_flag=True, help="Import nothing unless every row is valid.")
@click.option("--check-dns", is_flag=True, help="Also check each domain accepts mail (slow).")
@click.option(
    "--resubscribe",
    is_flag=True,
    help="Make unsubscribed, bounced or complained subscribers in the file active again.",
)
@click.pass_context
@handle_errors
def subscribers_import(
    ctx: click.Context,
    file: str,
    slugs: tuple[str, ...],
    strict: bool,
    check_dns: bool,
    resubscribe: bool,
) -> None:
    """Import subscribers from CSV (the export format: email,name,lists,locale,timezone,
    sections,status,list_status,paused and the consent_* columns; only email is required).

    Consent columns are kept as an imported record (source import-of-export), shown by
    `subscribers show` and exported again, never as a confirmed sign-up.

    ',' or ';' separated, with or without a BOM. Each bad row is reported with its row
    number; the valid rows are imported and the command exits 1 if any was rejected
    (--strict: nothing is imported then). Importing again merges list memberships.
    An unsubscribed, bounced or complained address or list stays so (the summary
    counts them) unless --resubscribe.

    \b
    Example:
      digest subscribers import people.csv --list daily
    """
    from digest import pipeline

    with (
        open_input(file) as (stream, name),
        pipeline.open_store(settings_of(ctx)) as store,
        progress_bar(2 * count_lines(file), "importing") as progress,
    ):
        report = pipeline.import_subscribers(
            store,
            stream,
            name=name,
            default_lists=slugs,
            now=clock_of(ctx).now(),
            strict=strict,
            check_dns=check_dns,
            resubscribe=resubscribe,
            progress=progress,
        )
    print_import(report)
    if report.rejected:
        sys.exit(1)


@subscribers_group.command("export")
@click.option("--list", "slug", help="Only subscribers of this list.")
@click.option("--status", type=STATUS, help="Only subscribers with this status.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of CSV.")
@click.pass_context
@handle_errors
def subscribers_export(
    ctx: click.Context, slug: str | None, status: str | None, as_json: bool
) -> None:
    """Write subscribers as CSV to stdout (the import format), or as JSON.

    One row per subscriber and list, with the subscriber's status, that list's status
    and sections, when they paused, and that subscription's consent record (signed up
    at, form, form text version, confirmed at, IP as stored, and its source: signup,
    import-of-export or admin). Importing the file into an empty database gives the
    same subscribers; their consent records come back as import-of-export records,
    and nobody is marked confirmed by an import.

    \b
    Example:
      digest subscribers export --list daily > backup.csv
    """
    from digest import pipeline, roster

    with pipeline.open_store(settings_of(ctx)) as store:
        if as_json:
            echo_json_array(
                {**listing_json(s, sections), "consent": consent}
                for s, sections, consent in store.export_listing(slug, status=status)
            )
            return
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(roster.SUBSCRIBER_COLUMNS)
        writer.writerows(
            [roster.spreadsheet_safe(cell) for cell in cells]
            for cells in store.export_rows(slug, status=status)
        )
