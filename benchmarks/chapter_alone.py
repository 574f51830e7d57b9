"""Execute book chapters one at a time, each alone in its own kernel, and time them.

    .venv/bin/python benchmarks/chapter_alone.py book/05_gradients.md [...] [--out DIR]

This is the reference the clean-build loop compares with (issue: no chapter of a clean
build may take more than twice its time alone). With ``--out`` the executed notebooks
are written there, so a chapter's printed numbers can be read without building the book.
Kernels get one intra-op thread, as in the book build.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_name] = "1"
os.environ["COURSE_RNN_DEVICE"] = "cpu"  # as book/_ext/course_cpu.py sets for the build


def main() -> int:
    import jupytext
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, help="write executed notebooks here")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args()
    failed = 0
    for path in args.chapters:
        nb = jupytext.read(path)
        started = time.perf_counter()
        try:
            NotebookClient(
                nb, timeout=args.timeout, resources={"metadata": {"path": str(path.parent)}}
            ).execute()
            status = "ok"
        except CellExecutionError as err:
            status = "FAILED: " + str(err).strip().splitlines()[-1][:200]
            failed += 1
        print(f"{path.stem:24s} {time.perf_counter() - started:7.1f} s  {status}", flush=True)
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, args.out / f"{path.stem}.ipynb")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
