"""Benchmark ``course-rnn grade``: 1 worker against 2, and the pipeline's own overhead.

Makes N submissions of one assignment (default: 40 correct copies of the tiny test
assignment; ``--assignment`` picks a real one from solutions/), grades them with 1 and
then 2 workers into fresh output folders and gradebooks, and reports:

* total wall time of each run and the speed-up from 1 to 2 workers;
* overhead per notebook beyond the notebook's own execution: (wall time of the serial
  run - sum of the per-notebook times measured around the executor) / N. That is what
  the pipeline adds (submission discovery, gradebook writes, the worker pool, feedback,
  export, report); the executor's sandbox cost sits inside the per-notebook times and is
  measured separately by the executor's own benchmark.

Usage::

    .venv/bin/python benchmarks/grading.py [--n 40] [--assignment tiny] [--repeat 2]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions

from course_rnn.grading.late import LatePolicy
from course_rnn.grading.pipeline import GradeRun, run_grading

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "fixtures" / "tiny_course"


def correct_submission(source: Path) -> nbformat.NotebookNode:
    """The released notebook with every answer cell filled from the source."""
    src = nbformat.read(str(source), as_version=4)
    solved = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in src.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    nb, resources = src, {}
    for step in (ClearSolutions(), ClearHiddenTests(), ClearOutput()):
        nb, resources = step.preprocess(nb, resources)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and gid in solved:
            cell.source = solved[gid]
    return nb


_OWN = """
import json, sys, time, nbformat
nb = nbformat.read(sys.argv[1], as_version=4)
code = [c.source for c in nb.cells if c.cell_type == "code"]
start = time.perf_counter()
namespace = {"__name__": "__main__"}
for source in code:
    exec(compile(source, "<cell>", "exec"), namespace)
print(json.dumps(time.perf_counter() - start))
"""


def own_execution_s(source: Path) -> float:
    """Seconds to run the source notebook's code cells (answers and tests) in one plain
    Python process, excluding interpreter start: the notebook's own execution time."""
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", _OWN, str(source)], capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def one_run(args, course: Path, subs: Path, work: Path, workers: int) -> dict:
    """Grade ``subs`` once with ``workers`` into a fresh folder and gradebook."""
    work.mkdir(parents=True)
    run = GradeRun(
        assignment=args.assignment,
        submissions=subs,
        out=work / "out",
        course_root=course,
        db_url=f"sqlite:///{work}/gradebook.db",
        workers=workers,
        late_policy=LatePolicy(),
    )
    with contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        summary = run_grading(run)
        wall = time.perf_counter() - start
    return {
        "wall_s": round(wall, 2),
        "notebook_s_mean": round(summary.notebook_seconds / args.n, 3),
        "overhead_per_notebook_s": round((wall - summary.notebook_seconds) / args.n, 3),
        "graded": len(summary.graded),
        "load": os.getloadavg()[0],
        "phases_s": {k: round(v, 2) for k, v in summary.phases.items()},
        "grades_csv": (run.out / "grades.csv").read_text(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="submissions (default 40)")
    parser.add_argument("--assignment", default="tiny", help="tiny, or one from solutions/")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=2, help="alternating rounds (default 2)")
    args = parser.parse_args()

    course = TINY if args.assignment == "tiny" else REPO
    source = course / "solutions" / args.assignment / f"{args.assignment}.ipynb"
    if not source.exists():
        print(f"no source notebook {source}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="course-rnn-bench-"))
    try:
        subs = work / "subs"
        nb = correct_submission(source)
        for i in range(args.n):
            folder = subs / f"student{i:03d}"
            folder.mkdir(parents=True)
            nbformat.write(nb, str(folder / f"{args.assignment}.ipynb"))
        own = own_execution_s(source)
        print(f"assignment={args.assignment} n={args.n} cpus={os.cpu_count()}")
        print(f"notebook's own execution (plain python, no kernel): {own:.3f} s")
        # Alternate 1, 2, 1, 2, ... so that load changes on a shared machine hit both.
        runs: dict[int, list[dict]] = {w: [] for w in args.workers}
        csvs = set()
        for rep in range(args.repeat):
            for workers in args.workers:
                r = one_run(args, course, subs, work / f"r{rep}w{workers}", workers)
                csvs.add(r.pop("grades_csv"))
                runs[workers].append(r)
                print(
                    f"workers={workers}: wall {r['wall_s']:.1f} s, mean notebook "
                    f"{r['notebook_s_mean']:.2f} s, pipeline overhead "
                    f"{r['overhead_per_notebook_s']:.3f} s/notebook, load "
                    f"{r['load']:.1f}, phases {r['phases_s']}",
                    flush=True,
                )
        print(f"identical grades.csv across all runs: {len(csvs) == 1}")
        if 1 in runs:
            serial = min(runs[1], key=lambda r: r["wall_s"])
            print(
                f"per notebook, best serial run: {serial['wall_s'] / args.n:.2f} s in all = "
                f"own execution {own:.2f} s + executor (kernel, sandbox, trusted checks) "
                f"{serial['notebook_s_mean'] - own:.2f} s + pipeline "
                f"{serial['overhead_per_notebook_s']:.3f} s"
            )
        if 1 in runs and 2 in runs:
            pairs = [a["wall_s"] / b["wall_s"] for a, b in zip(runs[1], runs[2], strict=True)]
            best = min(r["wall_s"] for r in runs[1]) / min(r["wall_s"] for r in runs[2])
            print(
                "speed-up 1 -> 2 workers: per pair "
                + ", ".join(f"{x:.2f}x" for x in pairs)
                + f"; best against best {best:.2f}x"
            )
        print(json.dumps(runs))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
