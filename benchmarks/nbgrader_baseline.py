"""Stock ``nbgrader autograde`` against ``course-rnn grade``, side by side.

Both grade the same N correct submissions of one assignment, alternating, each round in
fresh folders with a fresh gradebook:

- ``nbgrader``: ``nbgrader autograde ASSIGNMENT --create`` in one process (it grades
  students one after another; it has no parallel mode);
- ``course-rnn -w1`` / ``-w2``: ``course-rnn grade`` with 1 and 2 workers (sandboxed
  kernel and trusted checks per notebook, feedback, grades.csv and the class report).

Usage (from the repository root)::

    .venv/bin/python benchmarks/nbgrader_baseline.py --n 10 --assignment 02_rnn_forward
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grading import correct_submission  # noqa: E402  (the grading benchmark's helper)

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def write_course(root: Path, assignment: str, n: int, source: Path | None = None) -> None:
    """An nbgrader course folder: source/, and submitted/<student>/<assignment>/."""
    source = source or REPO / "solutions" / assignment / f"{assignment}.ipynb"
    (root / "source" / assignment).mkdir(parents=True)
    shutil.copy(source, root / "source" / assignment / source.name)
    submission = correct_submission(source)
    for i in range(n):
        folder = root / "submitted" / f"s{i:03d}" / assignment
        folder.mkdir(parents=True)
        nbformat.write(submission, str(folder / source.name))
        subs = root / "flat" / f"s{i:03d}"
        subs.mkdir(parents=True)
        nbformat.write(submission, str(subs / source.name))
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        "c.CourseDirectory.course_id = 'bench'\n"
        "c.ExecutePreprocessor.timeout = 120\n"
    )


def run(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return elapsed


def one_round(assignment: str, n: int) -> dict[str, float]:
    times = {}
    for name in ("nbgrader", "course-rnn -w1", "course-rnn -w2"):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            write_course(root, assignment, n)
            if name == "nbgrader":
                run([str(BIN / "nbgrader"), "generate_assignment", assignment, "--force"], root)
                cmd = [str(BIN / "nbgrader"), "autograde", assignment, "--create"]
                times[name] = run(cmd, root)
            else:
                workers = name[-1]
                cmd = [str(BIN / "course-rnn"), "grade", assignment, str(root / "flat"),
                       "--out", str(root / "out"), "--workers", workers]  # fmt: skip
                times[name] = run(cmd, REPO)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10, help="submissions (default 10)")
    parser.add_argument("--assignment", default="02_rnn_forward")
    parser.add_argument("--repeat", type=int, default=2, help="alternating rounds")
    args = parser.parse_args()
    rounds = [one_round(args.assignment, args.n) for _ in range(args.repeat)]
    print(f"assignment={args.assignment} n={args.n} cpus={os.cpu_count()} "
          f"load={os.getloadavg()[0]:.1f}")  # fmt: skip
    print("| grader | wall s (median) | s per notebook | vs nbgrader |")
    print("|---|---:|---:|---:|")
    base = statistics.median(r["nbgrader"] for r in rounds)
    for name in rounds[0]:
        wall = statistics.median(r[name] for r in rounds)
        print(f"| {name} | {wall:.1f} | {wall / args.n:.2f} | {base / wall:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
