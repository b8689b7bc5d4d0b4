"""Read subscriber CSV files into validated rows: one error per bad row, never a crash."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from digest import issue, spoofing
from digest.errors import InputError
from digest.ingest import check_text, csv_rows, normalize_email
from digest.models import Subscriber

SUBSCRIBER_COLUMNS = ("email", "name", "lists", "locale", "timezone", "sections")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    row: int
    subscriber: Subscriber
    lists: tuple[str, ...]
    sections: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SubscriberBatch:
    rows: list[SubscriberRow] = field(default_factory=list)
    rejected: list[InputError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # imported, but worth a look


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet may run such a cell


def spreadsheet_safe(cell: str) -> str:
    """An exported cell a spreadsheet will not run as a formula (OWASP: CSV injection).

    A cell starting with = + - @ (or a tab or CR) gets a leading single quote, which
    spreadsheets show as text; `from_spreadsheet_safe` takes it off again on import.
    """
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def from_spreadsheet_safe(cell: str) -> str:
    """The cell as it was before `spreadsheet_safe`, so export, import, export round-trips."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_START) else cell


def split_list(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in value.split(";") if v.strip()))


def check_locale(value: str, *, where: str) -> str:
    value = check_text(value, where=where, limit=35)
    from digest.render.language import parse_locale  # Babel: only when a file is read

    if value and (not _LOCALE.match(value) or parse_locale(value) is None):
        raise InputError(f"{where}: {value!r} is not a language code", hint="e.g. fr, en, ar")
    return value.replace("_", "-")


def check_timezone(value: str, *, where: str, known: set[str] | None = None) -> str:
    value = check_text(value, where=where, limit=64)
    if value and (known is None or value not in known):
        try:
            issue.zone(value)
        except InputError as exc:
            raise InputError(f"{where}: {exc.message}", hint=exc.hint) from None
        if known is not None:
            known.add(value)
    return value


def make_subscriber(
    *,
    email: str,
    name: str = "",
    locale: str = "",
    timezone: str = "",
    where: str,
    check_dns: bool = False,
    cache: _Cache | None = None,
) -> Subscriber:
    """A validated subscriber; `where` prefixes each message ("people.csv row 3")."""
    sep = " " if where else ""
    return Subscriber(
        email=normalize_email(
            email,
            where=f"{where}{sep}field 'email'",
            check_dns=check_dns,
            domains=cache.domains if cache else None,
        ),
        name=check_text(name, where=f"{where}{sep}field 'name'", limit=200),
        locale=check_locale(locale, where=f"{where}{sep}field 'locale'"),
        timezone=check_timezone(
            timezone, where=f"{where}{sep}field 'timezone'", known=cache.zones if cache else None
        ),
    )


@dataclass
class _Cache:
    """Per-import memo of validated domains and zones (a 100,000-row file repeats them)."""

    domains: dict[str, tuple[str, str] | None] = field(default_factory=dict)
    zones: set[str] = field(default_factory=set)


def read_subscribers_csv(
    data: str,
    *,
    name: str,
    check_dns: bool = False,
    progress: Callable[[int], None] | None = None,
) -> SubscriberBatch:
    """Rows of a subscribers CSV (',' or ';', BOM or not, quoted fields with newlines).

    A file that cannot be read raises InputError; a bad row becomes one InputError in
    `rejected`, naming the row number and the field.
    """
    batch = SubscriberBatch()
    cache = _Cache()
    rows = csv_rows(data, name=name, columns=SUBSCRIBER_COLUMNS, required=("email",))
    count = 0
    for count, (row, values) in enumerate(rows, 1):  # noqa: B007 (count is used after)
        where = f"{name} row {row}"
        values = {key: from_spreadsheet_safe(value) for key, value in values.items()}
        if progress is not None and count % 1000 == 0:
            progress(1000)
        try:
            if "#error" in values:
                raise InputError(f"{where}: {values['#error']}", hint="quote fields with commas")
            for key in ("lists", "sections"):
                check_text(values.get(key), where=f"{where} field {key!r}", limit=2000)
            subscriber = make_subscriber(
                email=values["email"],
                name=values.get("name", ""),
                locale=values.get("locale", ""),
                timezone=values.get("timezone", ""),
                where=where,
                check_dns=check_dns,
                cache=cache,
            )
            batch.rows.append(
                SubscriberRow(
                    row=row,
                    subscriber=subscriber,
                    lists=split_list(values.get("lists", "")),
                    sections=split_list(values.get("sections", "")),
                )
            )
            if not subscriber.email.isascii() or "xn--" in subscriber.email:
                batch.warnings.extend(
                    spoofing.check_email(subscriber.email, where=f"{where} field 'email'")
                )
            if spoofing.BIDI_CONTROLS.search(subscriber.name):
                batch.warnings.extend(spoofing.check_texts({"name": subscriber.name}, where=where))
        except InputError as exc:
            batch.rejected.append(exc)
    if progress is not None and count % 1000:
        progress(count % 1000)
    return batch
