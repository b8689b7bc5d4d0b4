"""Run `digest` with the given arguments and print its peak RSS (VmHWM) to stderr at exit.

ru_maxrss of a child is no good here: it counts the memory of the forked copy of the
benchmark process before exec. VmHWM belongs to the new program's own address space.
"""

from __future__ import annotations

import atexit
import sys


def _report() -> None:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                sys.stderr.write(f"\nPEAK_KB {line.split()[1]}\n")


if __name__ == "__main__":
    atexit.register(_report)
    from digest.cli import cli

    cli(sys.argv[1:], prog_name="digest")
