"""The grading side of a run: one :class:`GradeTask` in, one :class:`StudentOutcome` out.

:func:`grade_student` runs in the coordinator's threads (the local pool) or on a Dask
worker (``--scheduler``). It touches no gradebook and no output folder: the submission
comes with the task, the executed notebooks go back with the outcome. Each calling
thread keeps one warm :class:`~course_rnn.grading.executor.TrustedRunner`, reused for
every student that thread grades.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import nbformat

from course_rnn.grading.executor import TrustedRunner, grade_notebook
from course_rnn.grading.limits import Limits
from course_rnn.grading.results import GradeTask, NotebookOutcome, StudentOutcome
from course_rnn.grading.sandbox import bwrap_path

__all__ = ["SandboxUnavailable", "close_runners", "grade_student", "warm_runner"]

_local = threading.local()
_runners: list[TrustedRunner] = []
_runners_lock = threading.Lock()


class SandboxUnavailable(RuntimeError):
    """Bubblewrap cannot sandbox here, and the task requires it."""


def warm_runner(limits: Limits) -> TrustedRunner:
    """This thread's trusted runner (created on first use)."""
    runner = getattr(_local, "runner", None)
    if runner is None:
        runner = TrustedRunner(limits)
        _local.runner = runner
        with _runners_lock:
            _runners.append(runner)
    return runner


def close_runners() -> None:
    """Stop every runner this process started (their threads may still hold them)."""
    with _runners_lock:
        runners = list(_runners)
    for runner in runners:
        runner.stop()


def _answers(executed: nbformat.NotebookNode) -> dict[str, str]:
    """grade_id -> source of every answer/task cell in an executed notebook (first wins)."""
    answers: dict[str, str] = {}
    for cell in executed.get("cells", []):
        nbg = cell.get("metadata", {}).get("nbgrader", {})
        gid = nbg.get("grade_id") if isinstance(nbg, dict) else None
        if isinstance(gid, str) and (nbg.get("solution") or nbg.get("task")):
            source = cell.get("source", "")
            answers.setdefault(gid, source if isinstance(source, str) else "".join(source))
    return answers


def grade_student(task: GradeTask, runner: TrustedRunner | None = None) -> StudentOutcome:
    """Grade every notebook of ``task`` with ``runner`` (default: this thread's warm one).

    Never raises for a bad submission or a grader failure on one notebook: the reason
    goes in that notebook's problems. Raises :class:`SandboxUnavailable` when
    ``task.require_sandbox`` and bubblewrap cannot run here: no student code runs then.
    """
    if task.require_sandbox and bwrap_path() is None:
        raise SandboxUnavailable(
            "bubblewrap cannot sandbox on this grading machine (install the Debian package "
            "'bubblewrap' and allow user namespaces); refusing to run student code"
        )
    runner = runner or warm_runner(task.limits)
    outcome = StudentOutcome(task.student_id)
    with tempfile.TemporaryDirectory(prefix="course-rnn-grade-") as tmp:
        for name, source_text in task.sources.items():
            entry = NotebookOutcome(submitted=name in task.files)
            outcome.notebooks[name] = entry
            if name not in task.files:
                entry.problems.append(f"{name}.ipynb was not submitted")
                continue
            start = time.perf_counter()
            folder = Path(tmp) / name
            source = folder / "source" / f"{name}.ipynb"
            submitted = folder / "submitted" / f"{name}.ipynb"
            source.parent.mkdir(parents=True)
            submitted.parent.mkdir()
            source.write_text(source_text, encoding="utf-8")
            submitted.write_bytes(task.files[name])
            try:
                result = grade_notebook(
                    source, submitted, folder / "work", task.limits, task.hidden_seed, runner
                )
            except Exception as exc:  # noqa: BLE001 - a grader bug must not stop the class
                entry.problems.append(f"grading failed: {type(exc).__name__}: {exc}")
            else:
                entry.tests = result.tests
                entry.problems = [str(p) for p in result.problems]
                entry.answers = _answers(result.executed)
                entry.executed = nbformat.writes(result.executed)
            entry.seconds = round(time.perf_counter() - start, 3)
    return outcome
