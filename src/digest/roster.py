"""Read subscriber CSV files into validated rows: one error per bad row, never a crash."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from digest import issue, spoofing
from digest.errors import InputError
from digest.ingest import (
    _CONTROL_RE,
    _fast_email,
    check_text,
    csv_rows,
    normalize_email,
    parse_datetime,
)
from digest.models import LIST_STATUSES, SUBSCRIBER_STATUSES, Subscriber

# The import format, and what `subscribers export` writes: one row per subscriber and list
# (a subscriber on no list has one row with `lists` empty), so each list keeps its own
# sections and status. Files with only the first columns import as before.
SUBSCRIBER_COLUMNS = (
    "email",
    "name",
    "lists",
    "locale",
    "timezone",
    "sections",
    "status",  # the subscriber's: active, unsubscribed, bounced, complained
    "list_status",  # that list subscription's: active, unsubscribed
    "paused",  # when they paused all mail (UTC ISO-8601), empty if not
    # That list subscription's consent record (issue 13): see CONSENT_SOURCES.
    "consent_signed_up_at",
    "consent_form",  # which form: "/subscribe/daily (form)" or "(json)"
    "consent_form_version",  # a hash of the form's wording
    "consent_confirmed_at",
    "consent_ip",  # as stored: cut to /24 or /48
    "consent_source",
)
CONSENT_COLUMNS = tuple(c for c in SUBSCRIBER_COLUMNS if c.startswith("consent_"))  # the last six
# Where a subscription's consent record comes from: "signup", a confirmed sign-up on this
# site (its own evidence); "import-of-export", a record that came in with an imported
# export (what the file said, never proof: an import confirms nobody); "admin", added by
# an admin with no record (single opt-in). Empty on a row without a list.
CONSENT_SOURCES = ("signup", "import-of-export", "admin")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")


@dataclass(slots=True)  # not frozen: a big import makes one per row, and frozen costs 3x
class SubscriberRow:
    """One valid row. Empty `status`, `list_status` and `paused` mean "not given"."""

    row: int
    subscriber: Subscriber
    lists: tuple[str, ...]
    sections: tuple[str, ...]
    status: str = ""
    list_status: str = ""
    paused: str = ""  # UTC ISO-8601
    consent: ImportedConsent | None = None  # the row's consent columns, when it has any
    warnings: tuple[str, ...] = ()  # imported, but worth a look (a look-alike domain, ...)


@dataclass(frozen=True, slots=True)
class ImportedConsent:
    """A consent record as an imported file states it (see CONSENT_SOURCES)."""

    signed_up_at: str  # UTC ISO-8601 or empty, like confirmed_at
    form: str
    form_version: str
    confirmed_at: str
    ip: str
    source: str  # signup or import-of-export


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
    """Per-import memo of validated domains and zones (a 100,000-row file repeats them),
    and of the other values that repeat (lists, sections, locale, status): each distinct
    value is checked once, by the same function a row without the memo goes through."""

    domains: dict[str, tuple[str, str] | None] = field(default_factory=dict)
    zones: set[str] = field(default_factory=set)
    memo: dict[str, dict[str, object]] = field(
        default_factory=lambda: {column: {} for column in _CHECKS}
    )
    shapes: dict[tuple[str, ...], tuple[object, ...]] = field(default_factory=dict)
    # The consent columns this file has (every row has the same columns): None until the
    # first row; a file without them skips the consent test for each of its rows.
    consent: tuple[str, ...] | None = None

    def checked(self, column: str, raw: str) -> object:
        """The checked value for a value of `column`; _INVALID if the check refuses it."""
        known = self.memo[column]
        found = known.get(raw)
        if found is None:
            try:
                found = _CHECKS[column](raw)
            except InputError:
                return _INVALID
            if len(known) < 10_000:  # a memo, not a copy of the file
                known[raw] = found
        return found


_INVALID = object()
_CHECKS: dict[str, Callable[[str], object]] = {
    "lists": lambda v: split_list(check_text(v, where="", limit=2000)),
    "sections": lambda v: split_list(check_text(v, where="", limit=2000)),
    "locale": lambda v: check_locale(v, where=""),
    "status": lambda v: check_choice(v, SUBSCRIBER_STATUSES, where=""),
    "list_status": lambda v: check_choice(v, LIST_STATUSES, where=""),
}


def _fast_row(row: int, values: dict[str, str], joined: str, cache: _Cache) -> SubscriberRow | None:
    """The common row, checked with what the file's earlier rows taught: plain text, a
    known domain, values seen before. None whenever the full check must decide (it
    then gives the same result, or the error message).

    Length limits: the memoised values passed the full check, which has them; an
    address `_fast_email` accepts is at most 254 characters; the name is checked here.
    """
    if _REFUSED_RE.search(joined):
        return None
    get = values.get
    name = get("name", "")
    email = _fast_email(values["email"].strip(), cache.domains)
    zone = get("timezone", "").strip()
    if email is None or len(name) > 200 or (zone and zone not in cache.zones):
        return None
    if not email.isascii() or "xn--" in email:
        return None  # the full path also looks for look-alike domains
    if not name.isascii() and spoofing.BIDI_CONTROLS.search(name):
        return None  # and for bidirectional controls
    if get("paused", "").strip():
        return None
    if cache.consent is None:
        cache.consent = tuple(c for c in CONSENT_COLUMNS if c in values)
    if cache.consent and (
        get("consent_source", "").strip() not in ("", "admin")
        or any(get(c, "") for c in CONSENT_COLUMNS[:-1])
    ):
        return None  # a consent record: the full check reads it
    raw = (get("lists", ""), get("sections", ""), get("locale", ""), get("status", ""),
           get("list_status", ""))  # fmt: skip
    found = cache.shapes.get(raw)
    if found is None:  # a new combination: each value checked (most are memoised too)
        found = tuple(cache.checked(c, v) for c, v in zip(_SHAPE, raw, strict=True))
        if _INVALID in found:
            return None
        if len(cache.shapes) < 10_000:
            cache.shapes[raw] = found
    lists, sections, locale, status, list_status = found
    return SubscriberRow(
        row,
        Subscriber(email, name.strip(), locale, zone),  # type: ignore[arg-type]
        lists,  # type: ignore[arg-type]
        sections,  # type: ignore[arg-type]
        status,  # type: ignore[arg-type]
        list_status,  # type: ignore[arg-type]
    )


_SHAPE = ("lists", "sections", "locale", "status", "list_status")


# What the quick path leaves to the full check: control characters, and lone surrogates
# (text that cannot be written as UTF-8), in one search of the joined row.
_REFUSED_RE = re.compile(_CONTROL_RE.pattern[:-1] + "\ud800-\udfff]")


def check_choice(value: str, choices: tuple[str, ...], *, where: str) -> str:
    value = check_text(value, where=where, limit=40).lower()
    if value and value not in choices:
        raise InputError(f"{where}: {value!r} is not one of " + ", ".join(choices), hint="or empty")
    return value


def iter_subscribers_csv(
    data: str | Iterable[str],
    *,
    name: str,
    check_dns: bool = False,
) -> Iterator[SubscriberRow | InputError]:
    """Rows of a subscribers CSV (',' or ';', BOM or not, quoted fields with newlines),
    read as they come: a valid row is a SubscriberRow, a bad one an InputError naming
    its row number and field. A file that cannot be read at all raises InputError.
    """
    cache = _Cache()
    for row, values in csv_rows(data, name=name, columns=SUBSCRIBER_COLUMNS, required=("email",)):
        joined = "".join(values.values())  # every value, for the quick tests
        if "'" in joined and any(value[:1] == "'" for value in values.values()):
            # a quote a spreadsheet export added
            values = {key: from_spreadsheet_safe(value) for key, value in values.items()}
            joined = "".join(values.values())
        if not check_dns and "#error" not in values:
            fast = _fast_row(row, values, joined, cache)
            if fast is not None:
                yield fast
                continue
        where = f"{name} row {row}"
        try:
            if "#error" in values:
                raise InputError(f"{where}: {values['#error']}", hint="quote fields with commas")
            for key in ("lists", "sections"):
                check_text(values.get(key), where=f"{where} field {key!r}", limit=2000)
            paused = check_text(values.get("paused"), where=f"{where} field 'paused'", limit=40)
            subscriber = make_subscriber(
                email=values["email"],
                name=values.get("name", ""),
                locale=values.get("locale", ""),
                timezone=values.get("timezone", ""),
                where=where,
                check_dns=check_dns,
                cache=cache,
            )
            warnings: list[str] = []
            if not subscriber.email.isascii() or "xn--" in subscriber.email:
                warnings += spoofing.check_email(subscriber.email, where=f"{where} field 'email'")
            if spoofing.BIDI_CONTROLS.search(subscriber.name):
                warnings += spoofing.check_texts({"name": subscriber.name}, where=where)
            yield SubscriberRow(
                row=row,
                subscriber=subscriber,
                lists=split_list(values.get("lists", "")),
                sections=split_list(values.get("sections", "")),
                status=check_choice(
                    values.get("status", ""), SUBSCRIBER_STATUSES, where=f"{where} field 'status'"
                ),
                list_status=check_choice(
                    values.get("list_status", ""),
                    LIST_STATUSES,
                    where=f"{where} field 'list_status'",
                ),
                paused=(
                    parse_datetime(paused, where=f"{where} field 'paused'").isoformat()
                    if paused
                    else ""
                ),
                consent=read_consent(values, where=where),
                warnings=tuple(warnings),
            )
        except InputError as exc:
            yield exc


def read_consent(values: dict[str, str], *, where: str) -> ImportedConsent | None:
    """The row's consent columns, checked; None for none (or "admin": no record)."""
    source = check_choice(
        values.get("consent_source", ""), CONSENT_SOURCES, where=f"{where} field 'consent_source'"
    )
    texts = {
        column: check_text(values.get(column, ""), where=f"{where} field {column!r}", limit=200)
        for column in CONSENT_COLUMNS[:-1]
    }
    if source in ("", "admin"):
        if any(texts.values()):
            raise InputError(
                f"{where} field 'consent_source': a consent record needs a source",
                hint="signup or import-of-export, as `digest subscribers export` writes it",
            )
        return None
    stamps = {}
    for column in ("consent_signed_up_at", "consent_confirmed_at"):
        text = texts[column].strip()
        stamps[column] = (
            parse_datetime(text, where=f"{where} field {column!r}").isoformat(timespec="seconds")
            if text
            else ""
        )
    return ImportedConsent(
        signed_up_at=stamps["consent_signed_up_at"],
        form=texts["consent_form"].strip(),
        form_version=texts["consent_form_version"].strip(),
        confirmed_at=stamps["consent_confirmed_at"],
        ip=texts["consent_ip"].strip(),
        source=source,
    )
