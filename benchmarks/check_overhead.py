"""What `course-rnn check` costs on top of the notebook's own execution.

For each assignment, a solved student notebook (the released notebook with the
instructor's answers in its answer cells) is run two ways, alternately (the order swaps
every repeat, so machine noise hits both alike):

- **own**: the notebook's code cells, in order, as one script in one plain Python
  process (``python script.py``): what the notebook itself costs, imports included;
- **check**: ``course-rnn check NOTEBOOK`` end to end, as a subprocess: its own start,
  one trusted runner started, one sandboxed kernel started, student cells in the
  kernel, every test cell in the runner.

It prints the median of each and the overhead (check - own), then where check's time
goes: check's own imports, the trusted runner's start (until ``ready``), the first
kernel's start as the runner makes it (forked from a zygote that imports numpy, torch
and IPython first, where the grader is root with bubblewrap), and the runner's job as
its events record it (``COURSE_RNN_GRADING_TRACE``): the first cell, which waits for the
kernel, and the rest of the cells and tests.

    .venv/bin/python benchmarks/check_overhead.py                   # 02_rnn_forward, 04_bptt
    .venv/bin/python benchmarks/check_overhead.py --repeats 3 02_rnn_forward
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
PYTHON = Path(sys.executable)
COURSE_RNN = PYTHON.parent / "course-rnn"
TARGET_S = 1.5
WARNED: set[str] = set()  # notebooks whose failed check was printed once


def solved_notebook(assignment: str, folder: Path) -> Path:
    """The released notebook with the instructor's answers: what a good student submits."""
    source = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", 4)
    answers = {
        c.metadata.nbgrader["grade_id"]: c.source
        for c in source.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    nb = nbformat.read(ROOT / "exercises" / assignment / f"{assignment}.ipynb", 4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    path = folder / f"{assignment}.ipynb"
    nbformat.write(nb, path)
    return path


def own_script(notebook: Path, folder: Path) -> Path:
    """The notebook's code cells as one plain Python script (IPython syntax translated)."""
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell
    nb = nbformat.read(notebook, 4)
    code = [transform(c.source) for c in nb.cells if c.cell_type == "code"]
    path = folder / f"{notebook.stem}.py"
    path.write_text("\n\n".join(code))
    return path


def timed(
    cmd: list, cwd: Path, env: dict | None = None
) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    return time.perf_counter() - start, done


def run_own(script: Path, cwd: Path) -> float:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    seconds, done = timed([PYTHON, script], cwd, env)
    if done.returncode != 0:
        raise SystemExit(f"{script.name} failed on its own:\n{done.stderr[-2000:]}")
    return seconds


def run_check(notebook: Path, cwd: Path) -> tuple[float, list[float], str]:
    """Wall time of `course-rnn check`, the runner's per-event seconds, its summary line."""
    env = {**os.environ, "COURSE_RNN_GRADING_TRACE": "1"}
    seconds, done = timed([COURSE_RNN, "check", notebook], cwd, env)
    summary = next((ln for ln in done.stdout.splitlines() if ln.startswith("Visible tests")), "")
    if done.returncode not in (0, 1) or not summary:
        raise SystemExit(f"check of {notebook.name} did not run:\n{done.stdout[-3000:]}")
    if done.returncode == 1 and notebook.name not in WARNED:  # timed all the same
        WARNED.add(notebook.name)
        print(f"WARNING: check of a solved {notebook.name} failed a test:\n{done.stdout}")
    events = []
    for line in done.stderr.splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and "cell" in event:
            events.append(float(event.get("seconds", 0.0)))
    return seconds, events, summary


def start_costs(workdir: Path, repeats: int) -> dict[str, float]:
    """Medians: check's imports, the runner's start to 'ready', the first kernel's start.

    The kernel is made as the runner makes it: forked from a zygote (a sandbox that
    imports numpy, torch and IPython first) where the grader is root with bubblewrap,
    else a sandbox (or, without bubblewrap, a process) of its own.
    """
    from course_rnn.grading.executor import TrustedRunner
    from course_rnn.grading.limits import Limits
    from course_rnn.grading.zygote import Zygote

    imports = (
        "import sys; sys.modules['rfc3987_syntax'] = None\n"
        "import course_rnn.cli, course_rnn.check, nbformat, course_rnn.grading.executor"
    )
    costs: dict[str, list[float]] = {}
    workdir.mkdir(parents=True, exist_ok=True)
    for _ in range(repeats):
        seconds, _ = timed([PYTHON, "-c", imports], ROOT)
        costs.setdefault("check process: start + imports", []).append(seconds)
        with TrustedRunner(Limits()) as runner:
            start = time.perf_counter()
            runner._start()
            ready = runner._read_line(time.monotonic() + 300)
            costs.setdefault("trusted runner: start to ready", []).append(
                time.perf_counter() - start
            )
            assert ready == "ready", ready
            runner.stop()
            start = time.perf_counter()
            with Zygote(Limits(), runner.uid) as zygote:
                kernel = zygote.kernel(workdir, [], Limits())
                kernel.start(timeout=300)
                name = f"first kernel ({zygote.mode}): start to ready"
                costs.setdefault(name, []).append(time.perf_counter() - start)
                kernel.close()
    return {name: statistics.median(values) for name, values in costs.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", default=["02_rnn_forward", "04_bptt"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="check-overhead-") as tmp:
        header = f"{'notebook':<16} {'own s':>7} {'check s':>8} {'overhead s':>11} {'target':>7}"
        rows, breakdown = [header], {}
        for assignment in args.assignments:
            folder = Path(tmp) / assignment
            folder.mkdir()
            notebook = solved_notebook(assignment, folder)
            script = own_script(notebook, folder)
            own, check, first, rest = [], [], [], []
            for i in range(args.repeats):
                for which in (0, 1) if i % 2 == 0 else (1, 0):
                    if which == 0:
                        own.append(run_own(script, folder))
                    else:
                        seconds, events, summary = run_check(notebook, folder)
                        check.append(seconds)
                        first.append(events[0] if events else float("nan"))
                        rest.append(sum(events[1:]))
            a, b = statistics.median(own), statistics.median(check)
            met = "met" if b - a <= TARGET_S else "missed"
            rows.append(f"{assignment:<16} {a:7.2f} {b:8.2f} {b - a:+11.2f} {met:>7}  [{summary}]")
            breakdown[assignment] = (statistics.median(first), statistics.median(rest))
            print(rows[-1], f"(own {own}, check {check})", flush=True)
        print()
        print("\n".join(rows))
        print(f"\nwhere check's time goes (medians of {args.repeats}):")
        for assignment, (first, rest) in breakdown.items():
            print(f"  {assignment}: runner job, first cell (kernel start + cell) {first:.2f} s,")
            print(f"  {' ' * len(assignment)}  other cells and tests {rest:.2f} s")
        for name, seconds in start_costs(Path(tmp) / "work", args.repeats).items():
            print(f"  {name}: {seconds:.2f} s")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
