"""Subscriber status, suppression and list administration in the store (real SQLite file)."""

from __future__ import annotations

import pytest

from digest.errors import InputError, NotFoundError
from digest.models import NewsList, Subscriber
from digest.store import Store
from tests.conftest import NOW


def _list(store: Store, slug: str = "daily") -> NewsList:
    return store.add_list(NewsList(slug=slug, name=slug.title()), now=NOW)


def test_set_subscriber_status_by_email_or_id_and_sending_skips_it(store: Store) -> None:
    daily = _list(store)
    amina, _ = store.upsert_subscriber(
        Subscriber(email="amina@example.com"), lists=[(daily, ())], now=NOW
    )
    store.upsert_subscriber(Subscriber(email="john@example.org"), lists=[(daily, ())], now=NOW)
    assert amina.id is not None

    bounced = store.set_subscriber_status(amina.id, "bounced", now=NOW)
    assert bounced.status == "bounced"
    assert [r.subscriber.email for r in store.recipients(daily)] == ["john@example.org"]

    assert store.set_subscriber_status("amina@example.com", "active", now=NOW).status == "active"
    assert len(list(store.recipients(daily))) == 2


def test_set_subscriber_status_rejects_unknown_status_and_address(store: Store) -> None:
    store.upsert_subscriber(Subscriber(email="amina@example.com"), now=NOW)
    with pytest.raises(InputError, match="unknown subscriber status 'gone'"):
        store.set_subscriber_status("amina@example.com", "gone", now=NOW)
    with pytest.raises(NotFoundError):
        store.set_subscriber_status("nobody@example.com", "bounced", now=NOW)
    with pytest.raises(NotFoundError):
        store.set_subscriber_status(999, "bounced", now=NOW)


def test_unsubscribing_from_one_list_stops_only_that_list(store: Store) -> None:
    daily, weekly = _list(store, "daily"), _list(store, "weekly")
    store.upsert_subscriber(
        Subscriber(email="amina@example.com"), lists=[(daily, ()), (weekly, ())], now=NOW
    )
    store.unsubscribe("amina@example.com", "daily", now=NOW)
    assert list(store.recipients(daily)) == []
    assert [r.subscriber.email for r in store.recipients(weekly)] == ["amina@example.com"]
    # Listed by list, the status shown is the status for that list.
    assert [s.status for s, _ in store.subscribers("daily")] == ["unsubscribed"]
    assert [s.status for s, _ in store.subscribers("weekly")] == ["active"]
    assert [s.status for s, _ in store.subscribers()] == ["active"]
    store.unsubscribe("amina@example.com", now=NOW)
    assert list(store.recipients(weekly)) == []
    assert store.get_subscriber("amina@example.com").status == "unsubscribed"
    store.resubscribe("amina@example.com", "weekly", now=NOW)
    assert len(list(store.recipients(weekly))) == 1 and list(store.recipients(daily)) == []


def test_import_reports_progress_for_big_files(store: Store) -> None:
    from digest import pipeline

    _list(store)
    rows = "".join(f"r{i}@example.com,daily\n" for i in range(2500))
    seen: list[int] = []
    report = pipeline.import_subscribers(
        store, "email,lists\n" + rows, name="big.csv", now=NOW, progress=seen.append
    )
    assert report.added == 2500
    assert sum(seen) == 2 * 2500  # each row counted when checked and when written
