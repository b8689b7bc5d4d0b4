"""The edition page of the preview at a big list: its size and time, with and without a search.

    python benchmarks/preview_as.py [SUBSCRIBERS] [RUNS]

Builds the demo's list, adds SUBSCRIBERS readers, then asks for the edition page RUNS
times (Starlette's TestClient, the real app and SQLite file) and prints the median time
and the page size: the plain page, and a "preview as" search for one address.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from starlette.testclient import TestClient

from digest import pipeline
from digest.clock import Clock
from digest.config import load_settings
from digest.demo import run_demo
from digest.store import Store
from digest.web import create_app

DAY = date(2026, 11, 27)
NOW = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        settings = load_settings(
            env={}, overrides={"db": base / "news.db", "outbox": base / "outbox"}, cwd=base
        )
        run_demo(settings, day=DAY, clock=Clock.frozen(NOW))
        rows = "".join(f"reader{n}@example.net,Reader {n},daily\n" for n in range(count))
        with Store.open(settings.db) as store:
            pipeline.import_subscribers(store, "email,name,lists\n" + rows, name="b", now=NOW)
        page = f"/preview/daily/{DAY.isoformat()}"
        with TestClient(base_url="http://127.0.0.1:8000", app=create_app(settings)) as client:
            for label, params in (("plain", {}), ("find", {"find": f"reader{count // 2}@"})):
                times, size = [], 0
                for _ in range(runs):
                    started = time.perf_counter()
                    response = client.get(page, params=params)
                    times.append(time.perf_counter() - started)
                    size = len(response.content)
                median = statistics.median(times) * 1000
                print(
                    f"{count} subscribers, {label:5} page: "
                    f"median {median:.0f} ms, {size / 1024:.1f} KB"
                )


if __name__ == "__main__":
    main()
