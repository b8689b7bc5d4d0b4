"""How long `digest articles import FEED.xml` takes as the feed grows (target: linear,
10,000 items in under 5 s).

    python benchmarks/feed_import.py [--items 2500 5000 10000] [--runs 3] [--tiny]

Each run imports a generated RSS 2.0 file (items with a guid, a date, a category, an
author, an HTML description of a few paragraphs and an image enclosure) into a new
database, through the same function the command calls. Prints, per size, the median of
RUNS runs (wall clock and CPU), the time per 1,000 items and its ratio to the smallest
size in the same run: about 1.0x means linear, 2x per doubling quadratic.
`--tiny` (or DIGEST_BENCH_TINY=1): 200 and 400 items, one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from digest import pipeline
from digest.store import Store

NOW = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
TARGET_S = 5.0  # for 10,000 items


def make_feed(items: int) -> bytes:
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        "<title>Alwihda Info</title><link>https://news.example.com/</link>"
        "<language>fr</language>"
    ]
    for i in range(items):
        published = format_datetime(NOW - timedelta(minutes=i))
        parts.append(
            f"<item><title>Article {i} : le conseil des ministres adopte le budget</title>"
            f"<link>https://news.example.com/{i % 7}/article-{i}?utm_source=rss</link>"
            f"<guid>https://news.example.com/?p={i}</guid><pubDate>{published}</pubDate>"
            f"<category>Section {i % 9}</category><author>redaction@example.com (Rédaction)"
            "</author><description><![CDATA[<p>Le gouvernement a présenté mardi un plan pour "
            f"les routes et les écoles, numéro {i}.</p><p>Financé en partie par des "
            "partenaires régionaux, il doit être voté avant la fin du mois.</p>]]>"
            f'</description><enclosure url="https://news.example.com/img/{i}.jpg" '
            'type="image/jpeg" length="1000"/></item>'
        )
    parts.append("</channel></rss>\n")
    return "".join(parts).encode()


def import_once(data: bytes, items: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "bench.db") as store:
        started, cpu = time.perf_counter(), time.process_time()
        report = pipeline.import_articles(store, data, name="feed.xml", now=NOW)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert report.added == items and report.rejected == 0, report.summary()
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="+", default=[2500, 5000, 10000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="200 and 400 items, one run")
    args = parser.parse_args()
    if args.tiny or os.environ.get("DIGEST_BENCH_TINY") == "1":
        args.items, args.runs = [200, 400], 1

    print(f"feed import, {args.runs} runs each, medians:")
    first_per_k = None
    for items in args.items:
        data = make_feed(items)
        runs = [import_once(data, items) for _ in range(args.runs)]
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        per_k = cpu / items * 1000
        first_per_k = first_per_k or per_k
        verdict = ""
        if items == 10_000:
            verdict = "  ok (on CPU)" if cpu < TARGET_S else f"  OVER the {TARGET_S:.0f} s target"
        print(
            f"  {items:6d} items ({len(data) / 1e6:5.1f} MB): {wall:6.2f} s wall, {cpu:6.2f} s CPU,"
            f" {per_k * 1000:5.0f} ms CPU per 1,000 items ({per_k / first_per_k:.1f}x){verdict}"
        )


if __name__ == "__main__":
    main()
