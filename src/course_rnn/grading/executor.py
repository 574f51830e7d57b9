"""Grade one student notebook: the interface the grading pipeline calls.

``grade_notebook(source, submitted, workdir, limits)`` rebuilds the submission from the
instructor's source notebook (``merge``), runs it and scores every autograded test cell
of the source. It never raises for a bad submission: whatever was lost is listed in
``NotebookResult.problems``.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from course_rnn.grading.limits import Limits
from course_rnn.grading.markup import redact_host_paths, summarise
from course_rnn.grading.merge import (
    MergedNotebook,
    forbidden_uses,
    load_source,
    load_submission,
    merge,
)

__all__ = ["Limits", "NotebookResult", "TestResult", "grade_notebook"]

# The runner caps kept output at Limits.max_output_bytes; its per-cell records add a
# little. Past this the events file is not read further (a runner bug, not a student).
MAX_EVENTS_BYTES = 64 << 20


@dataclass
class TestResult:
    """The verdict on one autograded test cell."""

    __test__ = False  # not a pytest class

    grade_id: str
    points: float
    max_points: float
    passed: bool
    message: str  # failure message for feedback; never hidden-test source


@dataclass
class NotebookResult:
    """Everything the pipeline needs about one graded notebook."""

    notebook: str
    tests: list[TestResult]
    problems: list[str] = field(default_factory=list)
    executed: nbformat.NotebookNode = field(default_factory=nbformat.v4.new_notebook)

    @property
    def score(self) -> float:
        """Points earned over all autograded tests."""
        return sum(t.points for t in self.tests)

    @property
    def max_score(self) -> float:
        """Points available over all autograded tests."""
        return sum(t.max_points for t in self.tests)


def grade_notebook(
    source: Path,
    submitted: Path,
    workdir: Path,
    limits: Limits | None = None,
    hidden_seed: int | None = None,
) -> NotebookResult:
    """Execute a student's notebook and score each autograded test cell of ``source``.

    ``source`` is the instructor's nbgrader source notebook, ``submitted`` the student's
    file and ``workdir`` a scratch folder for this student only (created if missing; the
    sandbox's home and only writable folder). Student code runs in the sandboxed kernel;
    every test cell runs in a trusted runner process (see docs/grading-security.md).
    ``hidden_seed`` seeds the hidden tests' random inputs (``course_rnn.testing.hidden_rng``);
    None leaves the fixed default. Never raises for a bad submission.
    """
    limits = limits or Limits()
    source, submitted, workdir = Path(source), Path(submitted), Path(workdir)
    src_nb = load_source(source)
    student_cells, problems = load_submission(submitted)
    merged = merge(src_nb, student_cells)
    if student_cells or not problems:  # an unreadable file needs one reason, not one per cell
        problems.extend(merged.problems)
    workdir.mkdir(parents=True, exist_ok=True)
    meta = merged.metadata.get("course_rnn")
    forbid = meta.get("forbid", []) if isinstance(meta, dict) else []
    forbid = [f for f in forbid if isinstance(f, str)] if isinstance(forbid, list) else []
    problems.extend(forbidden_uses(merged, forbid))
    events = _run_trusted(merged, workdir, limits, forbid, problems, hidden_seed)
    return _assemble(source.stem, merged, events, problems, limits)


def _run_trusted(
    merged: MergedNotebook,
    workdir: Path,
    limits: Limits,
    forbid: list[str],
    problems: list[str],
    hidden_seed: int | None = None,
) -> dict[int, dict[str, Any]]:
    """Run the trusted runner in its own session; return its events by cell index."""
    from course_rnn.grading.sandbox import bwrap_path, sweep_stale_cgroups

    sweep_stale_cgroups()
    if bwrap_path() is None:
        problems.append(
            "bubblewrap is not installed: student code ran without filesystem and network "
            "isolation (install the Debian package 'bubblewrap')"
        )
    with tempfile.TemporaryDirectory(prefix="course-rnn-grade-") as tmp:
        job_path, events_path = Path(tmp) / "job.json", Path(tmp) / "events.jsonl"
        events_path.touch()
        job = {
            "cells": [
                {
                    "role": c.role,
                    "cell_type": c.cell_type,
                    "source": c.source,
                    "grade_id": c.grade_id,
                }
                for c in merged.cells
            ],
            "limits": asdict(limits),
            "workdir": str(workdir.resolve()),
            "forbid": forbid,
            "hidden_seed": hidden_seed,
            "events": str(events_path),
            "cwd": tmp,
            "uid": _sandbox_uid(),
        }
        job_path.write_text(json.dumps(job))
        env = {
            **os.environ,
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "PYTHONHASHSEED": "0",
        }
        log_path = Path(tmp) / "runner.log"
        runner_memory = int(limits.runner_memory_mb) << 20

        def cap_memory() -> None:  # in the runner, before exec; the kernel sets its own
            resource.setrlimit(resource.RLIMIT_AS, (runner_memory, runner_memory))

        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-m", "course_rnn.grading.runner", str(job_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=tmp,
                env=env,
                start_new_session=True,
                preexec_fn=cap_memory,
            )
            try:
                proc.wait(timeout=float(limits.notebook_timeout_s) + 60)
            except subprocess.TimeoutExpired:
                problems.append(
                    f"the notebook time limit ({limits.notebook_timeout_s:g} s) was reached"
                )
            finally:
                _kill_group(proc)
        if proc.returncode not in (0, None, -signal.SIGKILL):
            with open(log_path, "rb") as fh:
                fh.seek(max(0, log_path.stat().st_size - 600))
                tail = fh.read().decode(errors="replace")
            problems.append(f"the grader stopped unexpectedly (status {proc.returncode}): {tail}")
        events: dict[int, dict[str, Any]] = {}
        if events_path.stat().st_size > MAX_EVENTS_BYTES:
            problems.append("the grader's record of this notebook was too large; it was cut")
        with open(events_path, "rb") as fh:
            record = fh.read(MAX_EVENTS_BYTES).decode(errors="replace")
        for line in record.splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict) and isinstance(event.get("cell"), int):
                events[event["cell"]] = event
        if os.environ.get("COURSE_RNN_GRADING_TRACE"):
            print(record, file=sys.stderr)
        return events


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the runner's whole process group (the sandbox dies with it)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    from course_rnn.grading.sandbox import cleanup_cgroups

    cleanup_cgroups(proc.pid)


_UIDS = itertools.count()


def _sandbox_uid() -> int:
    """An unprivileged uid for this submission's kernel (distinct per parallel run).

    ``RLIMIT_NPROC`` counts processes per uid, so parallel sandboxes must not share one.
    """
    return (
        200_000 + (os.getpid() * 7919 + next(_UIDS) * 104_729 + time.time_ns() // 10**6) % 100_000
    )


def _valid_output(raw: Any, count: int | None) -> nbformat.NotebookNode | None:
    """One output of the runner as a valid nbformat v4 output, host paths redacted."""
    if not isinstance(raw, dict):
        return None
    kind = raw.get("output_type")
    if kind == "stream":
        return nbformat.v4.new_output(
            "stream",
            name=str(raw.get("name", "stdout")),
            text=redact_host_paths(str(raw.get("text", ""))),
        )
    if kind in ("display_data", "execute_result") and isinstance(raw.get("data"), dict):
        data = {k: v for k, v in raw["data"].items() if isinstance(v, str)}
        if "text/plain" in data:
            data["text/plain"] = redact_host_paths(data["text/plain"])
        if kind == "execute_result":
            return nbformat.v4.new_output(kind, data=data, metadata={}, execution_count=count)
        return nbformat.v4.new_output(kind, data=data, metadata={})
    if kind == "error":
        tb = raw.get("traceback")
        return nbformat.v4.new_output(
            "error",
            ename=str(raw.get("ename", "Error")),
            evalue=redact_host_paths(str(raw.get("evalue", ""))),
            traceback=[redact_host_paths(str(t)) for t in tb] if isinstance(tb, list) else [],
        )
    return None


def _assemble(
    name: str,
    merged: MergedNotebook,
    events: dict[int, dict[str, Any]],
    problems: list[str],
    limits: Limits,
) -> NotebookResult:
    """The executed notebook (valid nbformat) and the verdicts, from the runner's events."""
    executed = merged.to_notebook()
    tests = []
    for i, (cell, gc) in enumerate(zip(executed.cells, merged.cells, strict=True)):
        event = events.get(i, {})
        if gc.cell_type == "code":
            count = event.get("count")
            count = count if isinstance(count, int) and not isinstance(count, bool) else None
            raw = event.get("outputs")
            outputs = [_valid_output(o, count) for o in raw] if isinstance(raw, list) else []
            cell.outputs = [o for o in outputs if o is not None]
            cell.execution_count = count
        if gc.role != "test" or gc.cell_type != "code":
            continue
        verdict = event.get("test")
        if isinstance(verdict, dict):
            passed = verdict.get("passed") is True
            message = redact_host_paths(str(verdict.get("message", "")))
        else:
            passed = False
            message = (
                f"not run: the notebook time limit ({limits.notebook_timeout_s:g} s) was "
                "reached or the grader stopped first"
            )
            if not cell.outputs:
                cell.outputs = [
                    nbformat.v4.new_output(
                        "error", ename="TestFailed", evalue=message, traceback=[message]
                    )
                ]
        tests.append(
            TestResult(gc.grade_id or "", gc.points if passed else 0.0, gc.points, passed, message)
        )
    try:
        nbformat.validate(executed)
    except nbformat.ValidationError as exc:  # a grader bug: keep the verdicts, drop outputs
        for cell in executed.cells:
            if cell.cell_type == "code":
                cell.outputs = []
        problems.append(
            f"the executed notebook's outputs were invalid and were removed ({exc.message})"
        )
    problems = summarise([redact_host_paths(p) for p in problems])
    return NotebookResult(name, tests, problems, executed)
