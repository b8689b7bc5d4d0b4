"""How long the size budget takes to fit a big edition (target: 120 articles in < 300 ms).

    python benchmarks/budget_fit.py [--articles 120 240] [--runs 9] [--tiny]

For each edition size, times `Renderer.render` with the default budget (96 KiB; the
budget cuts articles) and with no budget (the same edition, nothing cut), and prints
medians, their ratio in the same run, how many MJML compiles and premailer runs one
fitting render makes, and how many articles it cut. `--tiny` (or DIGEST_BENCH_TINY=1):
one 80-article edition, two runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import mjml
from render_bench import edition

from digest.render import Renderer, renderer

TARGET_MS = 300.0


def median_ms(step: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall-clock and CPU milliseconds of `step` (CPU is steadier on a busy machine)."""
    step()  # warm: templates compiled, catalogues loaded, premailer imported
    wall, cpu = [], []
    for _ in range(runs):
        started, cpu_started = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    return statistics.median(wall) * 1000, statistics.median(cpu) * 1000


def count_calls(step: Callable[[], object]) -> tuple[int, int]:
    """MJML compiles and premailer runs during one call of `step`."""
    counts = {"mjml": 0, "inline": 0}
    real_compile, real_inline = mjml.mjml2html, renderer.inline_css

    def compile_counted(*args: object, **kwargs: object) -> str:
        counts["mjml"] += 1
        return real_compile(*args, **kwargs)  # type: ignore[arg-type]

    def inline_counted(html: str) -> str:
        counts["inline"] += 1
        return real_inline(html)

    mjml.mjml2html, renderer.inline_css = compile_counted, inline_counted
    try:
        step()
    finally:
        mjml.mjml2html, renderer.inline_css = real_compile, real_inline
    return counts["mjml"], counts["inline"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, nargs="+", default=[120, 240])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--tiny", action="store_true", help="one small edition, two runs")
    args = parser.parse_args()
    if args.tiny or os.environ.get("DIGEST_BENCH_TINY") == "1":
        args.articles, args.runs = [80], 2

    fitting, unlimited = Renderer(), Renderer(budget=10**9)
    print(f"size budget {fitting.budget // 1024} KiB, {args.runs} runs, medians:")
    for count in args.articles:
        ed = edition(count)
        rendered = fitting.render(ed)
        compiles, inlines = count_calls(lambda: fitting.render(ed))  # noqa: B023
        fit_ms, fit_cpu = median_ms(lambda: fitting.render(ed), args.runs)  # noqa: B023
        free_ms, free_cpu = median_ms(lambda: unlimited.render(ed), args.runs)  # noqa: B023
        verdict = "ok" if fit_cpu < TARGET_MS else f"OVER the {TARGET_MS:.0f} ms target"
        print(
            f"  {count:4d} articles: fitted {fit_ms:6.1f} ms wall, {fit_cpu:6.1f} ms CPU"
            f" ({verdict}, on CPU);"
            f" unfitted {free_ms:6.1f} ms wall, {free_cpu:6.1f} ms CPU;"
            f" ratio {fit_cpu / free_cpu:4.1f}x (CPU)\n"
            f"                 {compiles} MJML compiles, "
            f"{inlines} premailer runs; cut {len(rendered.dropped)}, "
            f"HTML {len(rendered.html.encode()) / 1024:.1f} KiB"
        )


if __name__ == "__main__":
    main()
