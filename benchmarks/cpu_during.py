"""Run a command and report how many CPU cores the whole machine kept busy meanwhile.

Reads /proc/stat before and after, so it counts every process (workers, sandboxed
kernels, trusted runners), not only the command's direct children. Run it on an
otherwise idle machine::

    .venv/bin/python benchmarks/cpu_during.py .venv/bin/course-rnn grade 02_rnn_forward \
        SUBMISSIONS --out /tmp/out --workers 1
"""

from __future__ import annotations

import os
import subprocess
import sys
import time


def busy_ticks() -> int:
    """Clock ticks all CPUs spent not idle (idle and iowait excluded) since boot."""
    fields = [int(v) for v in open("/proc/stat").readline().split()[1:]]
    return sum(fields) - fields[3] - fields[4]


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    ticks, start = busy_ticks(), time.perf_counter()
    code = subprocess.run(sys.argv[1:], capture_output=True).returncode
    wall = time.perf_counter() - start
    cpu = (busy_ticks() - ticks) / os.sysconf("SC_CLK_TCK")
    print(f"exit {code}, wall {wall:.1f} s, machine busy {cpu:.1f} CPU-s = "
          f"{cpu / wall:.2f} cores on average")  # fmt: skip
    return code


if __name__ == "__main__":
    sys.exit(main())
