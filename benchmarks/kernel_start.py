"""Start time of a student kernel: a fresh sandbox per kernel against the zygote.

"Start" is what a notebook waits for before its first cell does any work: the kernel is
created, started and has run a first cell ``import torch`` (most course notebooks begin
that way). Both ways run as the grader does, in bubblewrap, as a claimed sandbox uid,
alternately (to share machine noise fairly):

- **fresh**: ``KernelProcess`` (a new sandbox, whose Python imports numpy, IPython and
  torch itself);
- **zygote**: ``Zygote.kernel`` (forked from the zygote's pre-imported sandbox; the
  previous kernel's processes were killed and its files removed when it closed, outside
  the timing).

The zygote's own start (once per runner) is timed separately. Needs root and bubblewrap.

    .venv/bin/python benchmarks/kernel_start.py --repeats 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from course_rnn.grading.executor import _claim_uid
from course_rnn.grading.limits import Limits
from course_rnn.grading.sandbox import KernelProcess
from course_rnn.grading.zygote import Zygote

FIRST_CELL = "import torch"


def time_kernel(kernel) -> float:
    start = time.perf_counter()
    kernel.start(120)
    reply = kernel.execute(FIRST_CELL, 120)
    elapsed = time.perf_counter() - start
    kernel.close()
    if not reply.get("ok"):
        raise RuntimeError(f"the first cell failed: {reply}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    limits = Limits()
    uid, lock = _claim_uid()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="course-rnn-bench-") as tmp:
        workdir = Path(tmp)
        start = time.perf_counter()
        zygote = Zygote(limits, uid)
        if zygote.mode != "zygote":
            raise SystemExit(f"the zygote cannot run here: {zygote.reason}")
        time_kernel(zygote.kernel(workdir, []))  # waits for the zygote's imports
        zygote_start = time.perf_counter() - start
        fresh, forked = [], []
        for _ in range(args.repeats):
            fresh.append(time_kernel(KernelProcess(workdir, limits, [], uid)))
            forked.append(time_kernel(zygote.kernel(workdir, [])))
        zygote.close()
    os.close(lock)
    load_after = os.getloadavg()
    median_fresh, median_forked = statistics.median(fresh), statistics.median(forked)
    print(f"repeats: {args.repeats}; first cell: {FIRST_CELL!r}")
    print(f"load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}")
    print(f"load average (1, 5, 15 min) after:  {', '.join(f'{x:.2f}' for x in load_after)}")
    print(f"zygote start, once per runner (incl. its first kernel): {zygote_start:.2f} s")
    print(f"{'':8}{'median':>8}{'min':>8}{'max':>8}")
    for name, times in (("fresh", fresh), ("zygote", forked)):
        print(f"{name:8}{statistics.median(times):8.3f}{min(times):8.3f}{max(times):8.3f}")
    print(f"speed-up of the median: {median_fresh / median_forked:.1f}x")


if __name__ == "__main__":
    main()
