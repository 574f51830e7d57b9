"""Overhead of the hardened grading executor over plain nbclient, per notebook.

For each notebook, alternately (to share machine noise fairly):

- **plain**: the source notebook executed top to bottom by nbclient in a fresh kernel
  (what stock nbgrader's autograde does per notebook, without its database work);
- **sandboxed**: ``grade_notebook(source, source, workdir)``: merge, trusted runner,
  bubblewrap kernel, student cells in the sandbox, every test cell in the runner with
  remote proxies.

Prints the median wall time of each and the difference (the sandbox's overhead).

    .venv/bin/python benchmarks/sandbox_overhead.py                 # tiny + 02_rnn_forward
    .venv/bin/python benchmarks/sandbox_overhead.py --repeats 7 solutions/04_bptt/04_bptt.ipynb
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent


def tiny_source(folder: Path) -> Path:
    """The four-test notebook of the security tests (numpy only)."""
    spec = importlib.util.spec_from_file_location(
        "hostile_tiny", ROOT / "tests/fixtures/hostile/tiny.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_source(folder)


def run_plain(path: Path, workdir: Path) -> float:
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    start = time.perf_counter()
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    ).execute()
    return time.perf_counter() - start


def run_sandboxed(path: Path, workdir: Path) -> float:
    from course_rnn.grading.executor import grade_notebook

    start = time.perf_counter()
    result = grade_notebook(path, path, workdir)
    elapsed = time.perf_counter() - start
    if result.score != result.max_score:
        failed = [t.grade_id for t in result.tests if not t.passed]
        raise SystemExit(f"{path}: source notebook lost points in the sandbox: {failed}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="source notebooks")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        notebooks = args.notebooks or [
            tiny_source(Path(tmp) / "tiny"),
            ROOT / "solutions/02_rnn_forward/02_rnn_forward.ipynb",
        ]
        print(f"{'notebook':<28} {'plain s':>8} {'sandboxed s':>12} {'overhead s':>11}")
        for n, path in enumerate(notebooks):
            plain, boxed = [], []
            for i in range(args.repeats):
                order = (0, 1) if i % 2 == 0 else (1, 0)
                for which in order:
                    work = Path(tmp) / f"w{n}-{i}-{which}"
                    work.mkdir()
                    if which == 0:
                        plain.append(run_plain(path, work))
                    else:
                        boxed.append(run_sandboxed(path, work))
            p, b = statistics.median(plain), statistics.median(boxed)
            print(f"{path.stem:<28} {p:8.2f} {b:12.2f} {b - p:11.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
