"""Render a 30-article edition (Jinja2 → MJML → premailer, and the text part) repeatedly.

Reports the median time of each step and of a whole `Renderer.render`, and the HTML
size, against the targets: under 100 ms and under 100 KB.

    python benchmarks/render_bench.py [--runs 30] [--articles 30] [--tiny]

`--tiny` (or DIGEST_BENCH_TINY=1) runs twice: a check that the benchmark still works.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta

import mjml

from digest.issue import build_edition, edition_due
from digest.models import Article, NewsList
from digest.render import Renderer, inline_css
from digest.render.language import resolve_locale
from digest.render.view import full_layout

TARGET_MS = 100.0
TARGET_KB = 100.0
SECTIONS = ("Tchad", "Afrique", "English News", "Économie", "Sport")
SUMMARY = (
    "Ministers from the region meet to discuss trade, energy and transport links, "
    "with new rail and road corridors expected to cut the time goods take to reach the sea."
)


def edition(count: int):  # type: ignore[no-untyped-def]
    news_list = NewsList(
        slug="daily",
        name="Sahel Morning Digest",
        timezone="Africa/Ndjamena",
        sections=SECTIONS,
        address="Avenue Charles de Gaulle, N'Djamena, Tchad",
    )
    day = date(2026, 11, 27)
    due = edition_due(news_list, day)
    # Every article inside the edition's 24-hour window: 20 minutes apart, closer when
    # there are more than 69 (at 20 minutes, 120 articles spanned 40 hours and 48 fell out).
    step = min(timedelta(minutes=20), timedelta(hours=23) / max(count, 1))
    articles = [
        Article(
            url=f"https://news.example.com/{i % 5}/story-{i:02d}-regional-news",
            title=f"Story {i:02d}: regional leaders agree on a plan for the new trade corridor",
            published_at=due - step * (i + 1),
            section=SECTIONS[i % 5],
            summary=SUMMARY,
            author="Achta Saleh",
            source="Alwihda Info",
            image_url=f"https://news.example.com/images/{i:02d}.jpg" if i % 3 == 0 else "",
            image_alt=f"Photo for story {i:02d}" if i % 3 == 0 else "",
            language="en",
        )
        for i in range(count)
    ]
    built = build_edition(articles, news_list=news_list, day=day)
    assert built.article_count == count, f"{built.article_count} of {count} articles in the window"
    return built


def median_ms(step: Callable[[], object], runs: int) -> float:
    step()  # warm caches (template compilation, catalogues)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--articles", type=int, default=30)
    parser.add_argument("--tiny", action="store_true", help="two runs: checks it still works")
    args = parser.parse_args()
    if args.tiny or os.environ.get("DIGEST_BENCH_TINY") == "1":
        args.runs = 2

    renderer = Renderer()
    ed = edition(args.articles)
    loc = resolve_locale("en")
    env = renderer.environment(loc)
    base = renderer._base_context(ed, loc)
    context = renderer._context(ed, loc, base, full_layout(ed))
    source = env.get_template("issue.mjml").render(context)
    compiled = mjml.mjml2html(source, disable_comments=True, fonts={})
    rendered = renderer.render(ed)
    size_kb = len(rendered.html.encode()) / 1024

    steps = {
        "Jinja2 (MJML template)": lambda: env.get_template("issue.mjml").render(context),
        "mjml-python": lambda: mjml.mjml2html(source, disable_comments=True, fonts={}),
        "premailer (inlining)": lambda: inline_css(compiled),
        "Jinja2 (text part)": lambda: env.get_template("issue.txt").render(context),
        "whole Renderer.render": lambda: renderer.render(ed),
    }
    print(f"{ed.article_count} articles, {args.runs} runs, medians:")
    results = {name: median_ms(step, args.runs) for name, step in steps.items()}
    for name, ms in results.items():
        print(f"  {name:<24} {ms:8.2f} ms")
    total = results["whole Renderer.render"]
    print(
        f"render: {total:.1f} ms median ({total / TARGET_MS:.0%} of the {TARGET_MS:.0f} ms target)"
    )
    print(
        f"HTML:   {size_kb:.1f} KB inlined ({size_kb / TARGET_KB:.0%} of the {TARGET_KB:.0f} KB "
        f"target), {size_kb / ed.article_count:.2f} KB per article; "
        f"MJML {len(source) / 1024:.1f} KB, text {len(rendered.text) / 1024:.1f} KB"
    )
    if rendered.dropped:
        print(f"size budget cut {len(rendered.dropped)} articles")


if __name__ == "__main__":
    main()
