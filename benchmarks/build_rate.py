"""Benchmark 1: personalise and assemble one message of a 30-article edition.

Target: >= 1,000 messages/s on one core. Prints medians of several rounds, and the naive
path (render per subscriber) for comparison, measured in the same run.

    python benchmarks/build_rate.py [--messages 3000] [--rounds 5]

DIGEST_BENCH_TINY=1 builds 50 messages once (the test that keeps this working).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path
from tempfile import TemporaryDirectory

from common import DAY, LIST, NOW, TINY, articles

from digest import issue, message, pipeline
from digest.config import load_settings
from digest.models import Subscriber
from digest.render import Renderer, Theme


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if TINY:
        args.messages, args.rounds = 50, 1

    news_list = replace(LIST, id=1)
    edition = issue.build_edition(articles(), news_list=news_list, day=DAY)
    renderer = Renderer(None, Theme(base_url="https://news.example.com"))
    rendered = renderer.render(edition)
    compiled = message.compile_edition(rendered)
    with TemporaryDirectory() as tmp:
        settings = load_settings(env={}, overrides={"db": Path(tmp) / "x.db"}, cwd=Path(tmp))
    secret = b"k" * 32
    subscribers = [
        Subscriber(email=f"reader{i}@example.org", name=f"Lecteur {i}", id=i)
        for i in range(1, args.messages + 1)
    ]

    def build_all() -> int:
        size = 0
        for sub in subscribers:
            env = pipeline.envelope_for(
                sub, news_list, DAY, settings=settings, secret=secret, now=NOW
            )
            size += len(message.build_message(compiled, env))
        return size

    rates = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        size = build_all()
        rates.append(args.messages / (time.perf_counter() - start))

    naive_n = 2 if TINY else 15
    start = time.perf_counter()
    for sub in subscribers[:naive_n]:
        env = pipeline.envelope_for(sub, news_list, DAY, settings=settings, secret=secret, now=NOW)
        fresh = message.compile_edition(renderer.render(edition))
        message.build_message(fresh, env)
    naive = naive_n / (time.perf_counter() - start)

    print(
        f"edition: {edition.article_count} articles, HTML {len(rendered.html) / 1024:.1f} KB,"
        f" message {size / args.messages / 1024:.1f} KB"
    )
    print(
        f"build rate (median of {args.rounds} x {args.messages}): "
        f"{statistics.median(rates):,.0f} msg/s  (min {min(rates):,.0f}, max {max(rates):,.0f})"
    )
    print(
        f"naive render per subscriber: {naive:,.1f} msg/s; "
        f"ratio {statistics.median(rates) / naive:,.0f}x"
    )
    print("target: >= 1,000 msg/s:", "MET" if statistics.median(rates) >= 1000 else "NOT MET")


if __name__ == "__main__":
    main()
