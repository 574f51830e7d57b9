"""The worker side of a grading run: one student in, plain data out.

Runs in the pool's processes, so it imports only what grading a notebook needs (the
executor), not the gradebook, nbgrader or matplotlib: a worker starts faster and never
touches the database.
"""

from __future__ import annotations

import signal
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import nbformat

from course_rnn.grading.executor import Limits

__all__ = ["grade_student", "init_worker"]


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


def grade_student(task: dict) -> dict:
    """Grade one student's notebooks (runs in a worker process; never raises).

    ``task`` holds plain data: ``student_id``, ``assignment``, ``sources`` (notebook name
    -> source path), ``files`` (notebook name -> submitted path), ``limits`` (a dict of
    :class:`Limits` fields), ``autograded`` (folder for executed notebooks) and
    ``hidden_seed`` (the student's seed for the hidden tests' inputs, or None).
    Returns ``{"student_id", "notebooks": {name: {"tests", "problems", "answers",
    "seconds", "submitted"}}}`` with tests as dicts of :class:`TestResult` fields.
    """
    from course_rnn.grading.executor import grade_notebook

    limits = Limits(**task["limits"])
    student = task["student_id"]
    outcome: dict = {"student_id": student, "notebooks": {}}
    with tempfile.TemporaryDirectory(prefix="course-rnn-grade-") as tmp:
        for name, source in task["sources"].items():
            entry: dict = {"tests": [], "problems": [], "answers": {}, "seconds": 0.0}
            entry["submitted"] = name in task["files"]
            outcome["notebooks"][name] = entry
            if name not in task["files"]:
                entry["problems"].append(f"{name}.ipynb was not submitted")
                continue
            start = time.perf_counter()
            try:
                result = grade_notebook(
                    Path(source),
                    Path(task["files"][name]),
                    Path(tmp) / name,
                    limits,
                    task.get("hidden_seed"),
                )
            except Exception as exc:  # noqa: BLE001 - a grader bug must not stop the class
                entry["problems"].append(f"grading failed: {type(exc).__name__}: {exc}")
            else:
                entry["tests"] = [asdict(t) for t in result.tests]
                entry["problems"] = [str(p) for p in result.problems]
                entry["answers"] = _answers(result.executed)
                dest = Path(task["autograded"]) / student / task["assignment"] / f"{name}.ipynb"
                dest.parent.mkdir(parents=True, exist_ok=True)
                try:
                    nbformat.write(result.executed, str(dest))
                except Exception as exc:  # noqa: BLE001
                    entry["problems"].append(f"executed notebook not saved: {exc}")
            entry["seconds"] = round(time.perf_counter() - start, 3)
    return outcome


def init_worker() -> None:
    """Pool initializer: ignore Ctrl-C (the parent stops the pool in order)."""
    # Ctrl-C goes to the parent, which stops the pool in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
