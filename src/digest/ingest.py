"""Turn files and feeds into clean Article records, or say exactly what is wrong.

Every reader returns the good records and, separately, one InputError per bad record
naming the record and the field; a file that cannot be read at all raises InputError.
RSS and Atom are mapped by `feed`, subscriber CSV files are read by `roster`.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email

from digest import charset, sanitizer, spoofing
from digest.errors import InputError
from digest.models import ARTICLE_FIELDS, Article
from digest.models import ARTICLE_FORMATS as FORMATS

REQUIRED_ARTICLE_FIELDS = ("url", "title", "published_at")
_LIMITS = {"body_html": 1_000_000, "summary": 20_000, "url": 2048, "image_url": 2048}
_LINE_BREAKS = {"\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"}
_CONTROL = (
    {chr(c) for c in range(32) if chr(c) != "\t"} | {chr(c) for c in range(0x7F, 0xA0)}
) | _LINE_BREAKS
_CONTROL_RE = re.compile("[" + re.escape("".join(sorted(_CONTROL))) + "]")
_CONTROL_MULTILINE = re.compile("[" + re.escape("".join(sorted(_CONTROL - {"\n"}))) + "]")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")


# -- fields -------------------------------------------------------------------------------


def check_text(
    value: Any,
    *,
    where: str,
    multiline: bool = False,
    fold_breaks: bool = False,
    limit: int = 10_000,
) -> str:
    """A stripped text field. Control characters are refused: line breaks too, unless
    `multiline` (kept) or `fold_breaks` (turned into spaces, for titles from feeds)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"{where}: expected text, got {type(value).__name__}", hint="quote it")
    if len(value) > limit:
        raise InputError(f"{where}: longer than {limit} characters", hint="shorten it")
    if multiline or fold_breaks:
        value = value.replace("\r\n", "\n")
        for ch in _LINE_BREAKS & set(value):
            value = value.replace(ch, "\n" if multiline else " ")
    if (_CONTROL_MULTILINE if multiline else _CONTROL_RE).search(value):
        raise InputError(
            f"{where}: contains a control character (line break or similar)",
            hint="remove line breaks and control characters from this field",
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(
            f"{where}: contains an invalid character (a lone surrogate)",
            hint="the text must be valid Unicode",
        ) from None
    return value.strip()


def parse_datetime(value: str, *, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise InputError(
            f"{where}: {value!r} is not an ISO-8601 date-time",
            hint="write it like 2026-11-27T06:30:00+01:00",
        ) from None
    if moment.tzinfo is None:
        raise InputError(
            f"{where}: {value!r} has no UTC offset",
            hint="add one, e.g. 2026-11-27T06:30:00+01:00 or ...Z",
        )
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InputError(f"{where}: {value!r} is out of range", hint="check the year") from None


def check_url(value: str, *, where: str) -> str:
    url = sanitizer.canonical_url(value)
    if url is None:
        raise InputError(f"{where}: {value!r} is not an http(s) URL", hint="use an absolute URL")
    return url


def check_language(value: str, *, where: str) -> str:
    if value and not _LANGUAGE.match(value):
        raise InputError(
            f"{where}: {value!r} is not a language code", hint="use a BCP 47 code: en, fr, ar"
        )
    return value.replace("_", "-")


def normalize_email(
    value: str,
    *,
    where: str,
    check_dns: bool = False,
    domains: dict[str, tuple[str, str] | None] | None = None,
) -> str:
    """One spelling per address: domain lower-cased and in Unicode (punycode on the wire).

    `domains` is a cache for big imports: each domain is validated once, and plain ASCII
    local parts go through email-validator's local-part check only (~30x faster; the
    full check runs whenever the shortcut is not sure, so results are the same).
    """
    value = check_text(value, where=where, limit=320)
    if not value:
        raise InputError(f"{where}: the address is empty", hint="every row needs an email")
    if domains is not None and not check_dns:
        fast = _fast_email(value, domains)
        if fast is not None:
            return fast
    try:
        result = validate_email(value, check_deliverability=check_dns, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise InputError(
            f"{where}: {value!r} is not a valid address: {exc}", hint="fix the address"
        ) from None
    return str(result.normalized)


_SIMPLE_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")


def _fast_email(value: str, domains: dict[str, tuple[str, str] | None]) -> str | None:
    """The normalised address, or None to let the full validation decide."""
    local, at, domain = value.rpartition("@")
    if not at or not _SIMPLE_LOCAL.match(local) or _validate_local is None:
        return None
    if domain not in domains:
        try:
            checked = validate_email("a@" + domain, check_deliverability=False)
            domains[domain] = (str(checked.domain), str(checked.ascii_domain))
        except EmailNotValidError:
            domains[domain] = None
    known = domains[domain]
    if known is None or len(local) + 1 + len(known[1]) > 254:
        return None
    if _DOT_ATOM is not None:  # what validate_email_local_part checks an ASCII local part with
        return f"{local}@{known[0]}" if _DOT_ATOM.match(local) else None
    try:
        _validate_local(local, allow_smtputf8=False)
    except EmailNotValidError:
        return None
    return f"{local}@{known[0]}"


try:  # a stable helper of email-validator 2.x; without it every address takes the full path
    from email_validator.syntax import validate_email_local_part as _validate_local
except ImportError:  # pragma: no cover
    _validate_local = None  # type: ignore[assignment]
try:
    from email_validator.rfc_constants import DOT_ATOM_TEXT as _DOT_ATOM
except ImportError:  # pragma: no cover
    _DOT_ATOM = None  # type: ignore[assignment]


# -- articles -----------------------------------------------------------------------------


def article_from_dict(
    record: Any, *, where: str, section: str | None = None, lenient: bool = False
) -> Article:
    """Validate one record (contract field names) and clean it.

    `lenient` (feeds): an unknown language code is dropped instead of refused.
    """
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected an object", hint="each record is a JSON object")
    duplicate = getattr(record, "duplicate", None)
    if duplicate:
        raise InputError(
            f"{where}: field {duplicate!r} appears twice", hint="keep one value per field"
        )
    unknown = set(record) - set(ARTICLE_FIELDS) - {"id"}
    if unknown:
        raise InputError(
            f"{where}: unknown field {sorted(unknown)[0]!r}",
            hint="fields are " + ", ".join(ARTICLE_FIELDS),
        )
    for required in REQUIRED_ARTICLE_FIELDS:
        if not record.get(required):
            raise InputError(
                f"{where}: missing {required!r}", hint="url, title and published_at are required"
            )
    text = {
        name: check_text(
            record.get(name),
            where=f"{where} field {name!r}",
            multiline=name in ("body_html", "summary"),
            fold_breaks=True,
            limit=_LIMITS.get(name, 10_000),
        )
        for name in ARTICLE_FIELDS
        if name != "published_at"
    }
    if not isinstance(record["published_at"], str):
        raise InputError(
            f"{where} field 'published_at': expected text, got "
            f"{type(record['published_at']).__name__}",
            hint="write it like 2026-11-27T06:30:00+01:00",
        )
    published = parse_datetime(record["published_at"], where=f"{where} field 'published_at'")
    url = check_url(text["url"], where=f"{where} field 'url'")
    title = sanitizer.normalize_space(
        sanitizer.html_to_text(text["title"])
        if sanitizer.looks_like_html(text["title"])
        else text["title"]
    )
    if not title:
        raise InputError(
            f"{where}: missing 'title'", hint="url, title and published_at are required"
        )
    try:
        language = check_language(text["language"], where=f"{where} field 'language'")
    except InputError:
        if not lenient:
            raise
        language = ""
    try:
        body = sanitizer.clean_html(text["body_html"], base_url=url, title=title)
    except sanitizer.MarkupError as exc:
        raise InputError(f"{where} field 'body_html': {exc}", hint="simplify the HTML") from None
    summary = text["summary"]
    if summary and sanitizer.looks_like_html(summary):
        summary = sanitizer.html_to_text(summary)
    summary = sanitizer.normalize_space(summary) or sanitizer.excerpt(body.text)
    image_url = sanitizer.http_url(text["image_url"], base=url) or ""
    image_alt = sanitizer.normalize_space(text["image_alt"]) or (title if image_url else "")
    return Article(
        url=url,
        title=title,
        published_at=published,
        section=sanitizer.normalize_space(section if section is not None else text["section"]),
        summary=summary,
        body_html=body.html,
        author=sanitizer.normalize_space(text["author"]),
        source=sanitizer.normalize_space(text["source"]),
        image_url=image_url,
        image_alt=image_alt if image_url else "",
        language=language,
        guid=text["guid"],
    )


@dataclass(frozen=True, slots=True)
class ArticleBatch:
    """The readable records of one file or feed, and one error per unreadable record."""

    articles: list[tuple[str, Article]] = field(default_factory=list)  # (where, article)
    rejected: list[InputError] = field(default_factory=list)
    title: str = ""  # a feed's own title
    warnings: list[str] = field(default_factory=list)  # imported anyway, but worth a look


def decode_text(data: bytes, *, name: str) -> str:
    """UTF-8, or the UTF-16/UTF-32 its byte order mark says; else a one-line error.

    Without a BOM, text is UTF-8: nothing is guessed (a Latin-1 file is refused).
    """
    encoding, skip = charset.byte_encoding(data)
    if not skip:
        encoding = "utf-8"
    try:
        return data[skip:].decode(encoding)
    except UnicodeDecodeError as exc:
        label = encoding.upper().replace("-LE", "").replace("-BE", "")
        raise InputError(
            f"{name}: not {label} (byte {exc.start + skip})", hint="save the file as UTF-8"
        ) from None


def _recode(data: bytes, encoding: str, *, name: str) -> bytes:
    """The file as UTF-8 (its XML declaration saying so), from the encoding the user named."""
    try:
        text = charset.decode_as(data, encoding)
    except LookupError:
        raise InputError(
            f"--encoding: unknown encoding {encoding!r}",
            hint="e.g. utf-8, windows-1252, latin-1, windows-1256, utf-16",
        ) from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name}: not {encoding} (byte {exc.start})", hint="check --encoding"
        ) from None
    return charset.declare_utf8(text).encode("utf-8")


def detect_format(data: bytes) -> str:
    """From the first character, in the encoding a BOM or an XML start gives (else UTF-8)."""
    encoding, skip = charset.byte_encoding(data)
    if encoding.startswith(("utf-16", "utf-32")):
        head = data[skip : skip + 4096].decode(encoding, errors="ignore")
    else:
        head = data[skip : skip + 1024].decode("utf-8", errors="ignore")
    head = head.lstrip(" \t\r\n")
    if head.startswith("["):
        return "json"
    if head.startswith("{"):
        return "jsonl"
    if head.startswith("<"):
        return "feed"
    return "csv"


def read_articles(
    data: bytes,
    *,
    name: str,
    fmt: str | None = None,
    section: str | None = None,
    encoding: str | None = None,
) -> ArticleBatch:
    """Read JSON, JSON Lines, CSV or an RSS/Atom feed (detected from the content).

    The encoding is UTF-8, or what a byte order mark or a feed's XML declaration says;
    `encoding` overrides both (for a file that says UTF-8 but is Windows-1252).
    """
    if encoding:
        data = _recode(data, encoding, name=name)
    fmt = fmt or detect_format(data)
    if fmt == "feed":
        from digest.feed import read_feed  # feed builds on this module's record checks

        return read_feed(data, name=name, section=section)
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}", hint="use one of: " + ", ".join(FORMATS))
    text = decode_text(data, name=name)
    if not text.strip():
        raise InputError(f"{name}: the file is empty", hint="expected articles")
    records = _json_records(text, name=name, lines=fmt == "jsonl") if fmt != "csv" else None
    if records is None:
        records = _csv_records(text, name=name)
    batch = ArticleBatch()
    for where, record in records:
        try:
            if isinstance(record, InputError):
                raise record
            article = article_from_dict(record, where=where, section=section)
            batch.articles.append((where, article))
            batch.warnings.extend(article_warnings(article, where=where))
        except InputError as exc:
            batch.rejected.append(exc)
    return batch


def article_warnings(article: Article, *, where: str) -> list[str]:
    """Bidirectional controls in an article's names, title or URLs (kept, but worth a look)."""
    return spoofing.check_texts(
        {
            "title": article.title,
            "author": article.author,
            "source": article.source,
            "url": article.url,
            "image_url": article.image_url,
        },
        where=where,
    )


def read_articles_json(data: str, *, name: str) -> list[Article]:
    """All the (cleaned) articles of a JSON or JSON Lines text, or the first error.

    The all-or-nothing reader the render tests and fixtures use; imports go through
    `read_articles`, which reports every bad record.
    """
    batch = read_articles(data.encode("utf-8"), name=name)
    if batch.rejected:
        raise batch.rejected[0]
    return [article for _, article in batch.articles]


class _Record(dict[str, Any]):
    duplicate: str | None = None


def _record_hook(pairs: list[tuple[str, Any]]) -> _Record:
    record = _Record()
    for key, value in pairs:
        if key in record and record.duplicate is None:
            record.duplicate = key
        record[key] = value
    return record


def _loads(text: str) -> Any:
    return json.loads(text, object_pairs_hook=_record_hook)


def _json_records(text: str, *, name: str, lines: bool) -> list[tuple[str, Any]]:
    stripped = text.strip()
    try:
        value = _loads(stripped)
    except json.JSONDecodeError as exc:
        if not lines:
            raise InputError(
                f"{name}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                hint="check the file with a JSON validator",
            ) from None
        value = None  # JSON Lines: read line by line below, with per-line messages
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{name}: invalid JSON: {exc}", hint="check the file") from None
    if isinstance(value, list):
        return [(f"{name} record {i}", r) for i, r in enumerate(value, 1)]
    if isinstance(value, dict):
        return [(f"{name} record 1", value)]
    if value is not None:
        raise InputError(f"{name}: expected a JSON array of objects", hint="wrap them in [ ]")
    records: list[tuple[str, Any]] = []
    for lineno, line in enumerate(stripped.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{name} line {lineno}"
        try:
            records.append((where, _loads(line)))
        except (ValueError, RecursionError) as exc:
            msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            problem = InputError(
                f"{where}: invalid JSON: {msg}", hint="JSON Lines needs one object per line"
            )
            records.append((where, problem))
    return records


def csv_rows(
    text: str | Iterable[str],
    *,
    name: str,
    columns: tuple[str, ...],
    required: tuple[str, ...] = (),
) -> Iterator[tuple[int, dict[str, str]]]:
    """(row number, {column: value}) for a CSV with a header; ',' or ';', quoted fields.

    `text` is the whole file, or its lines with their line endings (a text stream opened
    with newline="", read as it goes, so a big file is never held whole). Row numbers
    count the header as row 1, like a spreadsheet. A row with more fields than the
    header yields an InputError in place of its values.
    """
    csv.field_size_limit(2_000_000)
    stream = iter(io.StringIO(text, newline="") if isinstance(text, str) else text)
    try:
        first = next(stream, "").lstrip("\ufeff")
    except UnicodeDecodeError:
        raise InputError(f"{name}: not UTF-8 (row 1)", hint="save the file as UTF-8") from None
    header_line = first.split("\n", 1)[0]
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    reader = csv.reader(itertools.chain([first], stream), delimiter=delimiter, strict=True)
    try:
        header = [c.strip().lower() for c in next(reader, [])]
    except csv.Error as exc:
        raise InputError(f"{name} row 1: {exc}", hint="check the header line") from None
    if not header or header == [""]:
        raise InputError(f"{name}: the file is empty", hint="the first line names the columns")
    for column in required:
        if column not in header:
            raise InputError(
                f"{name}: no {column!r} column in the header",
                hint="the first line names the columns: " + ",".join(columns),
            )
    for column in header:
        if column not in columns:
            raise InputError(
                f"{name}: unknown column {column!r} in the header",
                hint="columns are: " + ",".join(columns),
            )
        if header.count(column) > 1:
            raise InputError(f"{name}: column {column!r} appears twice", hint="keep one")
    row = 1
    width = len(header)
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(
                f"{name} row {row + 1}: {exc}", hint="check the quotes on that row"
            ) from None
        except UnicodeDecodeError:
            raise InputError(
                f"{name}: not UTF-8 (near row {row + 1})", hint="save the file as UTF-8"
            ) from None
        row += 1
        if not values or values == [""]:
            continue
        if len(values) > width:
            yield row, {"#error": f"{len(values)} fields but the header has {width}"}
            continue
        if len(values) < width:
            values += [""] * (width - len(values))
        yield row, dict(zip(header, values, strict=True))


def _csv_records(text: str, *, name: str) -> list[tuple[str, Any]]:
    records: list[tuple[str, Any]] = []
    rows = csv_rows(text, name=name, columns=ARTICLE_FIELDS, required=REQUIRED_ARTICLE_FIELDS)
    for row, values in rows:
        where = f"{name} row {row}"
        if "#error" in values:
            records.append((where, InputError(f"{where}: {values['#error']}", hint="quote fields")))
        else:
            records.append((where, {k: v for k, v in values.items() if v != ""}))
    return records
