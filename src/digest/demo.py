"""`digest demo`: the whole path on the project's own sample data, to a capture server.

The demo keeps to its own folder (`digest-demo/` by default): its own database, outbox
and preview. It never opens the database named by --db or DIGEST_DB, so running it
beside a real site's database changes nothing there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from importlib import resources
from pathlib import Path

from digest.clock import Clock
from digest.config import Settings
from digest.errors import DigestError
from digest.issue import local_today
from digest.models import DeliveryReport, NewsList
from digest.pipeline import (
    import_articles,
    import_subscribers,
    init_project,
    open_store,
    send_edition,
)
from digest.proof import preview_edition

DEMO_DIR = Path("digest-demo")
DEMO_DB = "demo.db"
LOOPBACK_BASE_URL = "http://127.0.0.1:8000"  # the demo's links: nobody outside reads them
SAMPLE_DAY = date(2020, 11, 14)  # the sample articles are from the 24 hours before this edition


def sample_text(name: str) -> str:
    return resources.files("digest").joinpath("sample", name).read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class DemoResult:
    report: DeliveryReport
    settings: Settings  # the demo's own: its database, outbox and links
    db: Path
    outbox: Path
    preview: Path
    smtp_url: str


def demo_settings(settings: Settings, folder: Path) -> Settings:
    """The demo's own settings: its database, outbox and loopback links, inside `folder`.

    Theme and templates are kept, so a site can try its theme on the sample data.
    """
    return replace(
        settings,
        db=folder / DEMO_DB,
        outbox=folder / "outbox",
        base_url=settings.base_url if settings.base_url_set else LOOPBACK_BASE_URL,
        base_url_set=True,
    )


def run_demo(
    settings: Settings, *, day: date | None, clock: Clock, folder: Path = DEMO_DIR
) -> DemoResult:
    """Sample list, subscribers and a day of articles; send the edition to a capture server.

    Everything lives in `folder` (created if needed); `settings.db` is never opened.
    `day` None means today in the sample list's time zone.
    """
    from digest.sink import CaptureServer

    now = clock.now

    if folder.exists() and not folder.is_dir():
        raise DigestError(f"{folder} is not a folder", hint="pick another with --dir")
    folder.mkdir(parents=True, exist_ok=True)
    settings = demo_settings(settings, folder)
    init_project(settings)
    with open_store(settings) as store:
        if not any(lst.slug == "daily" for lst in store.lists()):
            store.add_list(
                NewsList(
                    slug="daily",
                    name="Sahel Morning Digest",
                    from_addr="digest@news.example.com",
                    timezone="Africa/Ndjamena",
                    locale="en",
                    sections=("Tchad", "Afrique", "English News", "Économie", "Sport"),
                    address="Sahel Morning Digest · Avenue Charles de Gaulle, N'Djamena, Tchad",
                ),
                now=now(),
            )
        day = day or local_today(store.get_list("daily"), now())
        shift = timedelta(days=(day - SAMPLE_DAY).days)
        import_articles(
            store,
            sample_text("articles.json"),
            name="sample articles",
            now=now(),
            strict=True,
            adjust=lambda a: replace(a, published_at=a.published_at + shift),
        )
        import_subscribers(
            store, sample_text("subscribers.csv"), name="sample subscribers", now=now()
        )
        preview_dir = folder / "preview"
        _, _, paths = preview_edition(
            store, settings, slug="daily", day=day, now=now(), out=preview_dir
        )
        with CaptureServer(settings.outbox) as server:
            report = send_edition(
                store, settings, slug="daily", day=day, clock=clock, smtp_url=server.url
            )
    if report.failed:
        raise DigestError(f"demo: {report.failed} messages failed", hint="; ".join(report.notes))
    return DemoResult(
        report=report,
        settings=settings,
        db=settings.db,
        outbox=settings.outbox,
        preview=paths[0],
        smtp_url=server.url,
    )
