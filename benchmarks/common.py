"""Shared set-up for the benchmarks: a 30-article edition and a database of subscribers."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from digest.models import Article, NewsList
from digest.store import Store, to_text

DAY = date(2026, 11, 27)
NOW = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
SECTIONS = ("Tchad", "Afrique", "Monde", "Économie", "Sport")
LIST = NewsList(
    slug="daily",
    name="Sahel Morning Digest",
    from_addr="digest@news.example.com",
    sections=SECTIONS,
    address="Avenue Charles de Gaulle, N'Djamena",
)


def articles(count: int = 30) -> list[Article]:
    words = (
        "Le gouvernement a présenté mardi un plan pour les routes, l'eau et les écoles "
        "des provinces du nord, financé en partie par des partenaires régionaux. "
    )
    return [
        Article(
            url=f"https://news.example.com/2026/11/27/story-{i}",
            title=f"Titre de l'article numéro {i}: ce qui change cette semaine",
            section=SECTIONS[i % len(SECTIONS)],
            published_at=NOW - timedelta(minutes=30 + 20 * i),
            summary=(words * 2)[:280],
            author="Rédaction",
            image_url=f"https://news.example.com/img/{i}.jpg",
            image_alt="Photo",
        )
        for i in range(count)
    ]


def make_database(path: Path, subscribers: int) -> None:
    """A list, 30 articles and `subscribers` active subscribers, inserted in bulk."""
    with Store.open(path) as store:
        news_list = store.add_list(LIST, now=NOW)
        with store.transaction():
            for article in articles():
                store.upsert_article(article, now=NOW)
    conn = sqlite3.connect(path)
    stamp = to_text(NOW)
    with conn:
        conn.executemany(
            "INSERT INTO subscribers (id, email, name, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                (i, f"reader{i}@example.org", f"Lecteur {i}", stamp, stamp)
                for i in range(1, subscribers + 1)
            ),
        )
        conn.executemany(
            "INSERT INTO subscriptions (subscriber_id, list_id, created_at) VALUES (?, ?, ?)",
            ((i, news_list.id, stamp) for i in range(1, subscribers + 1)),
        )
    conn.close()
