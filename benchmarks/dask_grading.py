"""Benchmark ``course-rnn grade --scheduler``: the local pool against 1 and 2 Dask workers.

Makes N correct submissions of one assignment (default: 200 of the tiny test assignment;
``--assignment`` picks a real one from solutions/), starts two Dask clusters on loopback
(``dask scheduler`` with one ``dask worker --nthreads 1``, and another with two), then
grades the submissions, alternating in every round, with the local pool (``--workers``
1 and 2) and with each cluster, each run into a fresh output folder and gradebook. It
reports per run: wall time, the mean per-notebook time measured around the executor,
and the *pool overhead per notebook* = (wall time of the grading phase - the sum of the
per-notebook executor times) / N with one grader, i.e. what the path around the executor
costs per notebook: for the local pool a thread hand-off and the gradebook writes, for
Dask also the task's trip (the submission out, the executed notebook back), the
scheduler and the worker. The Dask path's own overhead per notebook is the difference
between the two one-grader runs (target <= 0.2 s). Scaling: the speed-up from 1 to 2
graders on each path, and whether every grades.csv is identical.

The Dask workers keep their warm runners between rounds (as a standing cluster does);
the local pool starts its runners in every run (as each ``course-rnn grade`` does).

Usage::

    .venv/bin/python benchmarks/dask_grading.py                      # 200 x tiny
    .venv/bin/python benchmarks/dask_grading.py --n 20 --assignment 02_rnn_forward
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from course_rnn.grading.pipeline import GradeRun, run_grading

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from grading import correct_submission, own_execution_s  # noqa: E402 - a sibling script

TINY = REPO / "tests" / "fixtures" / "tiny_course"
DASK = Path(sys.executable).parent / "dask"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_cluster(workers: int, folder: Path) -> tuple[str, list[subprocess.Popen]]:
    """A loopback scheduler and ``workers`` one-thread workers; (address, processes)."""
    folder.mkdir(parents=True)
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"

    def start(args: list[str], log: str) -> subprocess.Popen:
        return subprocess.Popen(
            [str(DASK), *args],
            stdout=(folder / log).open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    scheduler = ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
    procs = [start(scheduler, "scheduler.log")]
    for i in range(workers):
        args = ["worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard"]
        args += ["--host", "127.0.0.1", "--local-directory", str(folder / f"w{i}")]
        procs.append(start(args, f"w{i}.log"))
    from distributed import Client

    with Client(address, timeout=120, set_as_default=False) as client:
        client.wait_for_workers(workers, timeout=180)
    return address, procs


def stop_cluster(procs: list[subprocess.Popen]) -> None:
    for proc in procs[::-1]:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the workers' runners die with them
        proc.wait()


def one_run(
    args, course: Path, subs: Path, work: Path, workers: int, scheduler: str | None
) -> dict:
    """Grade ``subs`` once into a fresh folder and gradebook."""
    work.mkdir(parents=True)
    run = GradeRun(
        assignment=args.assignment,
        submissions=subs,
        out=work / "out",
        course_root=course,
        db_url=f"sqlite:///{work}/gradebook.db",
        workers=workers,
        scheduler=scheduler,
    )
    load = os.getloadavg()[0]
    with contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        summary = run_grading(run)
        wall = time.perf_counter() - start
    assert len(summary.graded) == args.n, f"graded {len(summary.graded)} of {args.n}"
    pool = summary.phases["pool"]
    return {
        "wall_s": round(wall, 2),
        "pool_s": round(pool, 2),
        "notebook_s_mean": round(summary.notebook_seconds / args.n, 3),
        "pool_overhead_per_notebook_s": round((pool - summary.notebook_seconds) / args.n, 3),
        "load_before": round(load, 1),
        "load_after": round(os.getloadavg()[0], 1),
        "grades_csv": (run.out / "grades.csv").read_text(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="submissions (default 200)")
    parser.add_argument("--assignment", default="tiny", help="tiny, or one from solutions/")
    parser.add_argument("--repeat", type=int, default=1, help="alternating rounds (default 1)")
    args = parser.parse_args()

    course = TINY if args.assignment == "tiny" else REPO
    source = course / "solutions" / args.assignment / f"{args.assignment}.ipynb"
    if not source.exists():
        print(f"no source notebook {source}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="course-rnn-dask-bench-"))
    procs: list[subprocess.Popen] = []
    try:
        subs = work / "subs"
        nb = correct_submission(source)
        for i in range(args.n):
            folder = subs / f"student{i:03d}"
            folder.mkdir(parents=True)
            nbformat.write(nb, str(folder / f"{args.assignment}.ipynb"))
        own = own_execution_s(source)
        clusters = {}
        for workers in (1, 2):
            address, started = start_cluster(workers, work / f"cluster{workers}")
            clusters[workers] = address
            procs += started
        print(f"assignment={args.assignment} n={args.n} cpus={os.cpu_count()}")
        print(f"notebook's own execution (plain python, no kernel): {own:.3f} s")
        paths = [("local", 1), ("dask", 1), ("local", 2), ("dask", 2)]
        runs: dict[str, list[dict]] = {f"{p} {w}": [] for p, w in paths}
        csvs = set()
        for rep in range(args.repeat):
            for path, workers in paths:
                scheduler = clusters[workers] if path == "dask" else None
                name = f"{path} {workers}"
                out = work / f"r{rep}-{path}{workers}"
                r = one_run(args, course, subs, out, workers, scheduler)
                csvs.add(r.pop("grades_csv"))
                runs[name].append(r)
                print(
                    f"{name:<8} wall {r['wall_s']:6.1f} s, grading {r['pool_s']:6.1f} s, "
                    f"executor {r['notebook_s_mean']:.3f} s/notebook, pool overhead "
                    f"{r['pool_overhead_per_notebook_s']:+.3f} s/notebook, load "
                    f"{r['load_before']} -> {r['load_after']}",
                    flush=True,
                )
        print(f"identical grades.csv across all runs: {len(csvs) == 1}")
        for rep in range(args.repeat):
            local, dask = runs["local 1"][rep], runs["dask 1"][rep]
            extra = (dask["pool_s"] - local["pool_s"]) / args.n
            by_overhead = (
                dask["pool_overhead_per_notebook_s"] - local["pool_overhead_per_notebook_s"]
            )
            print(
                f"round {rep + 1}: the Dask path costs {extra:+.3f} s per notebook more than "
                f"the local pool (grading phases, one grader each); {by_overhead:+.3f} s "
                "counting overhead beyond the executor only"
            )
            for path in ("local", "dask"):
                one, two = runs[f"{path} 1"][rep]["pool_s"], runs[f"{path} 2"][rep]["pool_s"]
                print(f"round {rep + 1}: {path} 1 -> 2 graders: {one / two:.2f}x")
        print(json.dumps(runs))
    finally:
        stop_cluster(procs)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
