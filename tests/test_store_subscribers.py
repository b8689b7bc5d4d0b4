"""Subscriber status, suppression and list administration in the store (real SQLite file)."""

from __future__ import annotations

import pytest

from conftest import NOW
from digest.errors import InputError, NotFoundError
from digest.models import NewsList, Subscriber
from digest.store import Store


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

    assert store.set_subscriber_status("amina@example.com", "active").status == "active"
    assert len(list(store.recipients(daily))) == 2


def test_set_subscriber_status_rejects_unknown_status_and_address(store: Store) -> None:
    store.upsert_subscriber(Subscriber(email="amina@example.com"), now=NOW)
    with pytest.raises(InputError, match="unknown subscriber status 'gone'"):
        store.set_subscriber_status("amina@example.com", "gone")
    with pytest.raises(NotFoundError):
        store.set_subscriber_status("nobody@example.com", "bounced")
    with pytest.raises(NotFoundError):
        store.set_subscriber_status(999, "bounced")
