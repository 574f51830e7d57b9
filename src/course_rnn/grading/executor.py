"""Grade one student notebook: the interface the grading pipeline calls.

``grade_notebook(source, submitted, workdir, limits)`` rebuilds the submission from the
instructor's source notebook (``merge``), runs it and scores every autograded test cell
of the source. It never raises for a bad submission: whatever was lost is listed in
``NotebookResult.problems``.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import resource
import select
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
from course_rnn.grading.results import TestResult
from course_rnn.grading.sandbox import bwrap_path, cleanup_cgroups, sweep_stale_cgroups

__all__ = ["Limits", "NotebookResult", "TestResult", "TrustedRunner", "grade_notebook"]

# The runner caps kept output at Limits.max_output_bytes; its per-cell records add a
# little. Past this the events file is not read further (a runner bug, not a student).
MAX_EVENTS_BYTES = 64 << 20


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
    runner: TrustedRunner | None = None,
) -> NotebookResult:
    """Execute a student's notebook and score each autograded test cell of ``source``.

    ``source`` is the instructor's nbgrader source notebook, ``submitted`` the student's
    file and ``workdir`` a scratch folder for this student only (created if missing; the
    sandbox's home and only writable folder). Student code runs in the sandboxed kernel;
    every test cell runs in a trusted runner process (see docs/grading-security.md):
    ``runner``, a warm one reused across students, or a new one for this notebook alone.
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
    if bwrap_path() is None:
        problems.append(
            "bubblewrap is not installed: student code ran without filesystem and network "
            "isolation (install the Debian package 'bubblewrap')"
        )
    if runner is None:
        with TrustedRunner(limits) as one_off:
            events = _run_job(one_off, merged, workdir, limits, forbid, problems, hidden_seed)
    else:
        events = _run_job(runner, merged, workdir, limits, forbid, problems, hidden_seed)
    return _assemble(source.stem, merged, events, problems, limits)


def _run_job(
    runner: TrustedRunner,
    merged: MergedNotebook,
    workdir: Path,
    limits: Limits,
    forbid: list[str],
    problems: list[str],
    hidden_seed: int | None,
) -> dict[int, dict[str, Any]]:
    """Hand the merged notebook to the trusted runner; return its events by cell index."""
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
            "uid": runner.uid,
        }
        job_path.write_text(json.dumps(job))
        problem = runner.run(job_path, limits)
        if problem:
            problems.append(problem)
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


UID_BASE, UID_SLOTS = 200_000, 50_000


def _claim_uid() -> tuple[int, int]:
    """An unprivileged uid held by this runner alone, and the lock file descriptor.

    ``RLIMIT_NPROC`` counts processes per uid and a uid may signal its own processes, so
    two sandboxes must never share one, even from two ``grade`` commands at once: each
    uid is claimed with an exclusive lock on a file of the host's temporary folder, held
    until the runner closes (the kernel releases it if this process dies).
    """
    folder = Path(tempfile.gettempdir()) / "course-rnn-uids"
    folder.mkdir(mode=0o700, exist_ok=True)
    start = (os.getpid() * 7919 + time.monotonic_ns()) % UID_SLOTS
    for i in range(UID_SLOTS):
        uid = UID_BASE + (start + i) % UID_SLOTS
        fd = os.open(folder / str(uid), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        return uid, fd
    raise RuntimeError(f"no free sandbox uid in {UID_BASE}..{UID_BASE + UID_SLOTS - 1}")


class TrustedRunner:
    """A trusted runner process kept across notebooks (``runner --serve``).

    Started on first use; it imports numpy, torch and ``course_rnn.testing`` once, so a
    notebook costs its own cells and tests, not the imports. Jobs run one at a time. A
    runner that dies, or runs past a job's time limit, is killed with its process group
    and its sandboxes, and the next job starts a new one. The runner holds its own
    sandbox uid (:func:`_claim_uid`) for its whole life.
    """

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.proc: subprocess.Popen | None = None
        self.uid, self._uid_lock = _claim_uid()
        self._log = tempfile.TemporaryFile(prefix="course-rnn-runner-")
        self._replies = None
        self.jobs = 0  # jobs run by the current process (tests read it)
        self.grace_s = 60.0  # past the notebook time limit, the runner itself is killed
        self.start_timeout_s = 300.0  # importing torch on a loaded machine, not a job's time

    def __enter__(self) -> TrustedRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        env = {
            **os.environ,
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "PYTHONHASHSEED": "0",
        }
        runner_memory = int(self.limits.runner_memory_mb) << 20
        libc = _libc()
        sweep_stale_cgroups()

        def prepare() -> None:  # in the runner, before exec; the kernel sets its own
            try:
                resource.setrlimit(resource.RLIMIT_AS, (runner_memory, runner_memory))
            except (ValueError, OSError):
                pass  # e.g. macOS, where RLIMIT_AS cannot be lowered like this
            if libc is not None:  # SIGKILL when the thread that started it ends
                libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

        # The runner's uid and limits let it start its zygote (the student kernels'
        # sandbox, which imports torch) before it imports torch itself: side by side.
        setup = json.dumps({"uid": self.uid, "limits": asdict(self.limits)})
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-m", "course_rnn.grading.runner", "--serve", setup],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd="/",
            env=env,
            start_new_session=True,
            preexec_fn=prepare,
        )
        self.jobs = 0

    def _read_line(self, deadline: float) -> str | None:
        """One line from the runner, '' at EOF, None past the deadline."""
        fd = self.proc.stdout.fileno()
        buffer = b""
        while not buffer.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 64)
            if not chunk:
                return ""
            buffer += chunk
        return buffer.decode(errors="replace").strip()

    def run(self, job_path: Path, limits: Limits) -> str | None:
        """Run one job; None when it finished, else the problem in words.

        The runner enforces the notebook's time limit itself; past it and ``grace_s`` more
        (a runner stuck in a test), it is killed.
        """
        if limits != self.limits:
            self.stop()
            self.limits = limits
        if self.proc is None or self.proc.poll() is not None:
            self.stop()
            self._start()
            ready = self._read_line(time.monotonic() + self.start_timeout_s)
            if ready is None:
                self.stop()
                return f"the grader did not start within {self.start_timeout_s:g} s"
            if ready != "ready":
                return self._failed()
        deadline = time.monotonic() + float(limits.notebook_timeout_s) + self.grace_s
        log_start = self._log.seek(0, os.SEEK_END)
        try:
            self.proc.stdin.write(f"{job_path}\n".encode())
            self.proc.stdin.flush()
        except OSError:
            return self._failed(log_start)
        reply = self._read_line(deadline)
        if reply == "done":
            self.jobs += 1
            return None
        if reply is None:
            self.stop()
            return f"the notebook time limit ({limits.notebook_timeout_s:g} s) was reached"
        return self._failed(log_start)

    def _failed(self, log_start: int = 0) -> str:
        """Stop a runner that died; say how, with the end of its log."""
        code = self.proc.poll() if self.proc is not None else None
        self.stop()
        size = self._log.seek(0, os.SEEK_END)
        self._log.seek(max(log_start, size - 600))
        tail = self._log.read().decode(errors="replace")
        return f"the grader stopped unexpectedly (status {code}): {tail}"

    def stop(self) -> None:
        """Kill the runner's process group and its sandboxes (a new one starts on demand)."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        cleanup_cgroups(proc.pid)

    def close(self) -> None:
        """Stop the runner and release its uid."""
        self.stop()
        self._log.close()
        if self._uid_lock is not None:
            os.close(self._uid_lock)
            self._uid_lock = None


PR_SET_PDEATHSIG = 1


def _libc() -> ctypes.CDLL | None:
    """The C library where it has ``prctl`` (Linux), else None (e.g. macOS)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    return libc if hasattr(libc, "prctl") else None


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
