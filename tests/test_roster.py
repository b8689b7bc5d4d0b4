"""Subscriber CSV import: dialects, bad rows, strict mode, merging, suppression, addresses."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest import pipeline, roster
from digest.errors import DigestError, InputError
from digest.models import NewsList
from digest.store import Store
from tests.conftest import NOW


@pytest.fixture
def lists(store: Store) -> Store:
    store.add_list(NewsList(slug="daily", name="Daily"), now=NOW)
    store.add_list(NewsList(slug="weekly", name="Weekly"), now=NOW)
    return store


def _import(store: Store, text: str, **kw: object) -> pipeline.ImportReport:
    return pipeline.import_subscribers(store, text, name="people.csv", now=NOW, **kw)  # type: ignore[arg-type]


def test_comma_semicolon_bom_and_quoted_fields_with_commas_and_newlines(lists: Store) -> None:
    comma = 'email,name,lists\namina@example.com,"Mahamat, Amina",daily\n'
    semicolon = '\ufeffemail;name;lists\r\njohn@example.org;"John\nSmith";"daily;weekly"\r\n'
    assert _import(lists, comma).added == 1
    report = _import(lists, semicolon)
    assert report.rejected == 1  # the newline in a name is refused: it could reach a header
    assert "row 2 field 'name': contains a control character" in str(report.problems[0])
    ok = 'email;name;lists\r\njohn@example.org;"Smith; John";"daily;weekly"\r\n'
    assert _import(lists, "\ufeff" + ok).added == 1
    people = {s.email: (s.name, tuple(slugs)) for s, slugs in lists.subscribers()}
    assert people == {
        "amina@example.com": ("Mahamat, Amina", ("daily",)),
        "john@example.org": ("Smith; John", ("daily", "weekly")),
    }


def test_each_bad_row_is_reported_with_its_number_and_the_good_rows_are_imported(
    lists: Store,
) -> None:
    text = (
        "email,name,lists,locale,timezone\n"
        "ok@example.com,Ok,daily,fr,Africa/Ndjamena\n"  # row 2
        "not-an-address,X,daily,,\n"  # row 3
        "b@example.com,B,nolist,,\n"  # row 4
        '"multi\nline@example.com",M,daily,,\n'  # row 5 (spans two lines)
        "c@example.com,C,daily,,Mars/Olympus\n"  # row 6
        "d@example.com,D,daily,not a locale,\n"  # row 7
        "e@example.com,E,daily,,,extra\n"  # row 8
        "f@example.com,F\x00,daily,,\n"  # row 9
        "g@example.com,G,daily,,\n"  # row 10
        "h@example.com,H,daily,xx-YY,\n"  # row 11: shaped like a code, but no language
    )
    report = _import(lists, text)
    assert (report.added, report.rejected) == (2, 8)
    messages = [p.message for p in report.problems]
    assert [m.split(":")[0] for m in messages] == [
        "people.csv row 3 field 'email'",
        "people.csv row 4 field 'lists'",
        "people.csv row 5 field 'email'",
        "people.csv row 6 field 'timezone'",
        "people.csv row 7 field 'locale'",
        "people.csv row 8",
        "people.csv row 9 field 'name'",
        "people.csv row 11 field 'locale'",
    ]
    assert {s.email for s, _ in lists.subscribers()} == {"ok@example.com", "g@example.com"}


def test_strict_imports_nothing_unless_every_row_is_valid(lists: Store) -> None:
    text = "email,lists\nok@example.com,daily\nbad,daily\n"
    report = _import(lists, text, strict=True)
    assert report.aborted and report.rejected == 1 and lists.count_subscribers() == 0
    assert _import(lists, "email,lists\nok@example.com,daily\n", strict=True).added == 1


def test_reimport_merges_list_memberships_and_keeps_one_subscriber_per_address(
    lists: Store,
) -> None:
    _import(lists, "email,name,lists\namina@Example.COM,Amina,daily\n")
    report = _import(lists, "email,lists,sections\namina@example.com,weekly,Sport\n")
    assert (report.added, report.updated) == (0, 1)
    [(amina, slugs)] = list(lists.subscribers())
    assert amina.email == "amina@example.com" and amina.name == "Amina"  # domain case folded
    assert slugs == ["daily", "weekly"]
    assert lists.subscription_sections(int(amina.id or 0)) == {"daily": [], "weekly": ["Sport"]}

    same = "email,name,lists\namina@example.com,,daily\namina@example.com,Amina,weekly\n"
    report = _import(lists, same)
    assert (report.added, report.updated, report.unchanged) == (0, 0, 2)
    report = _import(lists, "email,name\namina@example.com,Amina M.\nnew@example.com,\n")
    assert (report.added, report.updated, report.unchanged) == (1, 1, 0)
    assert lists.get_subscriber("amina@example.com").name == "Amina M."


def test_internationalised_domains_are_stored_once_in_unicode(lists: Store) -> None:
    _import(lists, "email,lists\nx@BÜCHER.example,daily\nx@xn--bcher-kva.example,daily\n")
    assert [s.email for s, _ in lists.subscribers()] == ["x@bücher.example"]


def test_removed_addresses_are_not_silently_resubscribed(lists: Store) -> None:
    _import(lists, "email,lists\namina@example.com,daily\njohn@example.org,daily\n")
    lists.remove_subscriber("amina@example.com", now=NOW)
    conn = sqlite3.connect(lists.path)
    assert "amina" not in repr(conn.execute("SELECT * FROM suppressions").fetchall())
    conn.close()
    report = _import(lists, "email,lists\nAMINA@EXAMPLE.COM,daily\njohn@example.org,weekly\n")
    assert report.rejected == 1 and "removed at their request" in report.problems[0].message
    assert lists.count_subscribers() == 1
    lists.remove_subscriber("amina@example.com", forget=True, now=NOW)
    assert _import(lists, "email,lists\namina@example.com,daily\n").added == 1


def test_unreadable_files_raise_one_error(lists: Store) -> None:
    with pytest.raises(InputError, match="no 'email' column"):
        _import(lists, "mail,name\nx@example.com,X\n")
    with pytest.raises(InputError, match="unknown column 'phone'"):
        _import(lists, "email,phone\n")
    with pytest.raises(DigestError, match="no list called 'nope'"):
        _import(lists, "email\nx@example.com\n", default_lists=["nope"])


def test_make_subscriber_refuses_line_breaks_in_every_field() -> None:
    for field in ("name", "locale", "timezone"):
        for bad in ("a\rb", "a\nb", "a\x00b", "a\u2028b", "a\x85b"):
            with pytest.raises(InputError, match=f"field '{field}'"):
                roster.make_subscriber(email="x@example.com", where="row 2", **{field: bad})
    with pytest.raises(InputError, match="field 'email': contains a control character"):
        roster.make_subscriber(email="x@example.com\r\nBcc: y@example.com", where="")


_cells = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["a@example.com", "A@EXAMPLE.com", "daily", "weekly;daily", "fr", "UTC"]),
)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    header=st.lists(st.sampled_from(roster.SUBSCRIBER_COLUMNS), min_size=1, max_size=4),
    rows=st.lists(st.lists(_cells, max_size=5), max_size=6),
    sep=st.sampled_from([",", ";"]),
    strict=st.booleans(),
)
def test_random_csv_imports_or_rejects_and_the_database_stays_consistent(
    lists: Store, header: list[str], rows: list[list[str]], sep: str, strict: bool
) -> None:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=sep)
    writer.writerow(header)
    writer.writerows(rows)
    before = lists.count_subscribers()
    try:
        report = _import(lists, buffer.getvalue(), strict=strict)
    except DigestError:
        assert lists.count_subscribers() == before
        return
    assert lists.count_subscribers() == before + report.added
    if report.aborted:
        assert report.added == 0
    conn = sqlite3.connect(lists.path)
    try:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        emails = [e for (e,) in conn.execute("SELECT email FROM subscribers")]
        assert len(emails) == len(set(emails))
        assert all("\n" not in e and "\r" not in e for e in emails)
    finally:
        conn.close()


_local = st.text(alphabet="aZ09.+-_!'~\"@ ()é", min_size=0, max_size=12)
_domain = st.sampled_from(
    ["example.com", "EXAMPLE.com", "bücher.example", "xn--bcher-kva.example", "localhost",
     "a..b.com", "-x.com", "x.c", "[127.0.0.1]", "example.com.", "ex_ample.com", "x" * 70 + ".com"]
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(local=_local, domain=_domain)
def test_the_cached_address_check_agrees_with_email_validator(local: str, domain: str) -> None:
    from digest.ingest import normalize_email

    address = f"{local}@{domain}"
    try:
        expected: str | None = normalize_email(address, where="e")
    except InputError:
        expected = None
    cache: dict[str, tuple[str, str] | None] = {}
    for _ in range(2):  # cold and warm cache
        try:
            got: str | None = normalize_email(address, where="e", domains=cache)
        except InputError:
            got = None
        assert got == expected


_field = st.text(
    alphabet=st.sampled_from(
        ["a", "Z", "é", "ø", " ", "\x07", "\x85", "\u2028", "\ud800", "\u202e", ";"]
    ),
    max_size=6,
)


def _outcomes(rows: list[object]) -> list[object]:
    return [
        r.message if isinstance(r, InputError) else (r.row, r.subscriber, r.lists, r.warnings)
        for r in rows
    ]


@settings(max_examples=150, deadline=None)
@given(name=_field, email_end=_field, zone=st.sampled_from(["", "UTC", "Africa/Ndjamena"]),
       lists_cell=st.sampled_from(["", "daily", "daily;weekly", "\x07"]))  # fmt: skip
def test_the_quick_row_check_agrees_with_the_full_one(
    name: str, email_end: str, zone: str, lists_cell: str
) -> None:
    """Most rows of a big import take roster._fast_row; any row it is unsure of (control
    characters, lone surrogates, look-alikes...) goes to the full check, so the two
    must give the same rows and the same errors."""
    rows = [("amina@example.com", "Amina", zone, "daily"),
            (f"n{email_end}@example.com", name, zone, lists_cell),
            ("b@example.com", name, zone, lists_cell)]  # fmt: skip
    values = [
        (i + 2, {"email": e, "name": n, "timezone": z, "lists": ls})
        for i, (e, n, z, ls) in enumerate(rows)
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(roster, "csv_rows", lambda *a, **k: iter(values))
        quick = _outcomes(list(roster.iter_subscribers_csv("", name="x.csv")))
        patch.setattr(roster, "_fast_row", lambda *a: None)
        full = _outcomes(list(roster.iter_subscribers_csv("", name="x.csv")))
    assert quick == full
    assert any(not isinstance(r, str) for r in quick)  # amina's row always passes


def test_status_columns_are_checked_per_row(lists: Store) -> None:
    text = (
        "email,lists,status,list_status,paused\n"
        "a@example.com,daily,gone,,\n"
        "b@example.com,daily,,paused,\n"
        "c@example.com,daily,,,yesterday\n"
        "d@example.com,daily,Unsubscribed,,2026-11-20T09:00:00+01:00\n"
    )
    report = _import(lists, text)
    assert [p.message.split(":")[0] for p in report.problems] == [
        "people.csv row 2 field 'status'",
        "people.csv row 3 field 'list_status'",
        "people.csv row 4 field 'paused'",
    ]
    [(d, _)] = list(lists.subscribers())
    assert d.status == "unsubscribed" and lists.is_paused(int(d.id or 0))


def test_the_stores_consent_cells_are_the_export_formats_consent_columns() -> None:
    from digest.roster import CONSENT_COLUMNS, SUBSCRIBER_COLUMNS
    from digest.store.subscriptions import CONSENT_FIELDS, NO_CONSENT

    assert SUBSCRIBER_COLUMNS[-len(CONSENT_FIELDS) :] == CONSENT_COLUMNS
    assert tuple(f"consent_{f}" for f in CONSENT_FIELDS) == CONSENT_COLUMNS
    assert len(NO_CONSENT) == len(CONSENT_FIELDS)
