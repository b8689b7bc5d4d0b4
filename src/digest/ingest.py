"""Turn files into clean Article and Subscriber records, or say exactly what is wrong."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

from digest.errors import InputError
from digest.models import Article, Subscriber

ARTICLE_FIELDS = (
    "url",
    "title",
    "section",
    "published_at",
    "summary",
    "body_html",
    "author",
    "source",
    "image_url",
    "image_alt",
    "language",
    "guid",
)
SUBSCRIBER_COLUMNS = ("email", "name", "lists", "locale", "timezone", "sections")
_CONTROL = {chr(c) for c in range(32) if chr(c) not in "\t"} | {"\x7f"}


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
    return moment


def check_text(value: Any, *, where: str, multiline: bool = False, limit: int = 10_000) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"{where}: expected text, got {type(value).__name__}", hint="quote it")
    bad = _CONTROL - ({"\n", "\r"} if multiline else set())
    if any(ch in bad for ch in value):
        raise InputError(
            f"{where}: contains a control character (line break or similar)",
            hint="remove line breaks and control characters from this field",
        )
    if len(value) > limit:
        raise InputError(f"{where}: longer than {limit} characters", hint="shorten it")
    return value.strip()


def check_url(value: str, *, where: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"{where}: {value!r} is not an http(s) URL", hint="use an absolute URL")
    return value


def article_from_dict(record: Any, *, where: str) -> Article:
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected an object", hint="each record is a JSON object")
    unknown = set(record) - set(ARTICLE_FIELDS) - {"id"}
    if unknown:
        raise InputError(
            f"{where}: unknown field {sorted(unknown)[0]!r}",
            hint="fields are " + ", ".join(ARTICLE_FIELDS),
        )
    for required in ("url", "title", "published_at"):
        if not record.get(required):
            raise InputError(
                f"{where}: missing {required!r}", hint="url, title and published_at are required"
            )
    text = {
        name: check_text(
            record.get(name),
            where=f"{where} field {name!r}",
            multiline=name in ("body_html", "summary"),
            limit=1_000_000 if name == "body_html" else 10_000,
        )
        for name in ARTICLE_FIELDS
        if name != "published_at"
    }
    text["url"] = check_url(text["url"], where=f"{where} field 'url'")
    if text["image_url"]:
        text["image_url"] = check_url(text["image_url"], where=f"{where} field 'image_url'")
    published = parse_datetime(str(record["published_at"]), where=f"{where} field 'published_at'")
    return Article(published_at=published, **text)  # type: ignore[arg-type]


def read_articles_json(data: str, *, name: str) -> list[Article]:
    """A JSON array of objects, or JSON Lines (one object per line)."""
    stripped = data.lstrip("\ufeff").strip()
    if not stripped:
        raise InputError(f"{name}: the file is empty", hint="expected a JSON array or JSON Lines")
    if stripped.startswith("["):
        try:
            records = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{name}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                hint="check the file with a JSON validator",
            ) from None
        return [article_from_dict(r, where=f"{name} record {i}") for i, r in enumerate(records, 1)]
    articles = []
    for lineno, line in enumerate(stripped.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{name} line {lineno}: invalid JSON: {exc.msg}",
                hint="JSON Lines needs one complete object per line",
            ) from None
        articles.append(article_from_dict(record, where=f"{name} line {lineno}"))
    return articles


def normalize_email(value: str, *, where: str) -> str:
    value = check_text(value, where=where)
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InputError(
            f"{where}: {value!r} is not a valid address: {exc}", hint="fix the address"
        ) from None
    return str(result.normalized)


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    row: int
    subscriber: Subscriber
    lists: tuple[str, ...]
    sections: tuple[str, ...]


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(";") if v.strip())


def read_subscribers_csv(data: str, *, name: str) -> Iterator[SubscriberRow]:
    """Rows of a subscribers CSV; raises InputError naming the row and field."""
    text = data.lstrip("\ufeff")
    try:
        dialect = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    if "email" not in columns:
        raise InputError(
            f"{name}: no 'email' column in the header",
            hint="the first line must name the columns: " + ",".join(SUBSCRIBER_COLUMNS),
        )
    reader.fieldnames = columns
    for raw in reader:
        row = reader.line_num
        where = f"{name} row {row}"
        fields = {k: (v or "") for k, v in raw.items() if k is not None}
        email = normalize_email(fields.get("email", ""), where=f"{where} field 'email'")
        yield SubscriberRow(
            row=row,
            subscriber=Subscriber(
                email=email,
                name=check_text(fields.get("name"), where=f"{where} field 'name'", limit=200),
                locale=check_text(fields.get("locale"), where=f"{where} field 'locale'", limit=20),
                timezone=check_text(
                    fields.get("timezone"), where=f"{where} field 'timezone'", limit=64
                ),
            ),
            lists=_split_list(fields.get("lists", "")),
            sections=_split_list(fields.get("sections", "")),
        )
