"""How digest classifies a corpus of real-world bounces, against what its authors expect.

    python benchmarks/bounce_corpus.py [FLUFL_BOUNCE_SDIST_DIR]
    (get it with: pip download 'flufl.bounce==6.0.0' --no-deps --no-binary :all:; tar xzf)

Without an argument (the suite's tiny run) it counts the eight samples copied into
tests/data/bounces/flufl/, which have no table to compare with.

Reads every tests/data/*.txt of flufl.bounce's sdist with `dsn.read_notice` and compares
with the table in its tests/test_detectors.py (file, addresses, temporary or not). Prints
counts by kind and lists every disagreement:

- a *miss*: flufl.bounce's table expects a failure, digest says delayed/auto-reply/unknown,
  or the other way round (a permanent failure read as a warning counts too);
- an *address miss*: digest's recipients do not include every address the table expects.

A file the table does not list (flufl.bounce's "not a bounce" samples) only counts.
"""

from __future__ import annotations

import ast
import logging
import sys
from collections import Counter
from pathlib import Path

from digest.dsn import read_notice


def expected_table(sdist: Path) -> dict[str, list[tuple[set[str], bool]]]:
    source = (sdist / "tests" / "test_detectors.py").read_text()
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DETECTORS":
            table: dict[str, list[tuple[set[str], bool]]] = {}
            for _module, name, addresses, temporary in ast.literal_eval(node.value):
                found = {a.decode().lower() for a in addresses}
                table.setdefault(name, []).append((found, temporary))
            return table
    raise SystemExit("no DETECTORS table in tests/test_detectors.py")


COPIED = Path(__file__).resolve().parent.parent / "tests" / "data" / "bounces" / "flufl"


def main() -> None:
    logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)  # its detectors' tracebacks
    if len(sys.argv) > 1:
        sdist = Path(sys.argv[1])
        table = expected_table(sdist)
        files = sorted((sdist / "tests" / "data").glob("*.txt"))
    else:
        table, files = {}, sorted(COPIED.glob("*.eml"))
    kinds: Counter[str] = Counter()
    misses: list[str] = []
    for path in files:
        notice = read_notice(path.read_bytes())
        kinds[notice.kind] += 1
        rows = table.get(path.name)
        if not rows:
            continue
        wanted = set().union(*(a for a, _ in rows))
        temporary = any(t for a, t in rows if a)
        failure = notice.kind in ("hard", "soft")
        if wanted and (failure == temporary or (not failure and notice.kind != "delayed")):
            misses.append(
                f"{path.name}: table says {'temporary' if temporary else 'permanent'}"
                f" {sorted(wanted)}, digest says {notice.kind}"
            )
        elif not wanted and failure:
            misses.append(
                f"{path.name}: table says no failure, digest says {notice.kind}"
                f" {notice.status} {list(notice.recipients)}"
            )
        elif not wanted <= set(notice.recipients):
            misses.append(
                f"{path.name}: address miss: wanted {sorted(wanted)}, got {list(notice.recipients)}"
            )
    print(f"{len(files)} samples: " + ", ".join(f"{kinds[k]} {k}" for k in sorted(kinds)))
    print(f"{len(misses)} disagreements with flufl.bounce's own table:")
    for line in misses:
        print("  " + line)


if __name__ == "__main__":
    main()
