"""Benchmark ``course-rnn grade`` against stock ``nbgrader autograde``, 1 worker and 2.

Makes N submissions of one assignment (default: 40 correct copies of the tiny test
assignment; ``--assignment`` picks a real one from solutions/), then grades them,
alternating in every round, with stock ``nbgrader autograde`` (in its own course folder,
``--nbgrader``, default on) and with ``course-rnn grade`` with 1 and 2 workers, each run
into fresh output folders and gradebooks, and reports:

* wall time per notebook of each grader, course-rnn's speed-up over nbgrader, and the
  speed-up from 1 to 2 workers;
* the per-notebook cost of the 1-worker run against the notebook's own execution time
  (its code cells in one plain Python process);
* overhead per notebook beyond the notebook's own execution: (wall time of the serial
  run - sum of the per-notebook times measured around the executor) / N. That is what
  the pipeline adds (submission discovery, gradebook writes, the worker pool, feedback,
  export, report); the executor's sandbox cost sits inside the per-notebook times and is
  measured separately by the executor's own benchmark.

Usage::

    .venv/bin/python benchmarks/grading.py [--n 40] [--assignment tiny] [--repeat 2]
    .venv/bin/python benchmarks/grading.py --n 40 --assignment 02_rnn_forward
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions

from course_rnn.grading.late import LatePolicy
from course_rnn.grading.pipeline import GradeRun, run_grading

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
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


def nbgrader_run(source: Path, assignment: str, n: int, root: Path) -> float:
    """Wall seconds of stock ``nbgrader autograde`` on ``n`` correct submissions (a fresh
    course folder with nbgrader's source/ and submitted/ trees, one process)."""
    import subprocess

    from nbgrader_baseline import write_course  # noqa: PLC0415 - a sibling script

    root.mkdir(parents=True)
    write_course(root, assignment, n, source)
    binary = str(Path(sys.executable).parent / "nbgrader")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(
        [binary, "generate_assignment", assignment, "--force"],
        cwd=root, env=env, capture_output=True, check=True,
    )  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(
        [binary, "autograde", assignment, "--create"], cwd=root, env=env, capture_output=True
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"nbgrader autograde failed: {done.stderr[-2000:]!r}")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="submissions (default 40)")
    parser.add_argument("--assignment", default="tiny", help="tiny, or one from solutions/")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=2, help="alternating rounds (default 2)")
    parser.add_argument(
        "--nbgrader",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time stock nbgrader autograde on the same submissions (default on)",
    )
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
        # Alternate nbgrader, 1, 2, nbgrader, 1, 2, ... so that load changes on a shared
        # machine hit every grader.
        runs: dict[int, list[dict]] = {w: [] for w in args.workers}
        stock: list[float] = []
        csvs = set()
        for rep in range(args.repeat):
            if args.nbgrader:
                stock.append(nbgrader_run(source, args.assignment, args.n, work / f"nbg{rep}"))
                print(
                    f"nbgrader autograde: wall {stock[-1]:.1f} s, "
                    f"{stock[-1] / args.n:.2f} s/notebook, load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
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
        if 1 in runs:
            per_nb = statistics.median(r["wall_s"] for r in runs[1]) / args.n
            print(
                f"course-rnn, 1 worker: {per_nb:.2f} s per notebook (median of rounds) = "
                f"{per_nb / own:.2f}x the notebook's own execution"
                if own > 0.05
                else f"course-rnn, 1 worker: {per_nb:.2f} s per notebook"
            )
            if stock:
                base = statistics.median(stock) / args.n
                pairs = [s / r["wall_s"] for s, r in zip(stock, runs[1], strict=True)]
                print(
                    f"nbgrader autograde: {base:.2f} s per notebook; course-rnn with 1 worker "
                    f"is {base / per_nb:.2f}x faster (per round: "
                    + ", ".join(f"{x:.2f}x" for x in pairs)
                    + ")"
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
