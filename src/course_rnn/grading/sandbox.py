"""Run a merged notebook and score its test cells (first, unhardened version: nbclient)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

from course_rnn.grading.merge import MergedNotebook

if TYPE_CHECKING:
    from course_rnn.grading.executor import Limits, TestResult


def run_merged(
    merged: MergedNotebook, workdir: Path, limits: Limits
) -> tuple[list[TestResult], nbformat.NotebookNode, list[str]]:
    """Execute ``merged`` with nbclient; a test passes when its cell raised nothing."""
    from nbclient import NotebookClient

    from course_rnn.grading.executor import TestResult

    nb = merged.to_notebook()
    problems: list[str] = []
    client = NotebookClient(
        nb,
        timeout=limits.cell_timeout_s,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(workdir)}},
    )
    try:
        client.execute()
    except Exception as exc:  # noqa: BLE001 - a dead kernel costs the remaining tests
        problems.append(f"execution stopped: {type(exc).__name__}: {str(exc)[:200]}")
    tests = []
    for cell, gc in zip(nb.cells, merged.cells, strict=True):
        if gc.kind != "test":
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        ran = cell.get("execution_count") is not None
        passed = ran and not errors
        if passed:
            message = ""
        elif errors:
            message = f"{errors[0].get('ename')}: {errors[0].get('evalue')}"[:2000]
        else:
            message = "not run (the notebook stopped before this test)"
        tests.append(
            TestResult(gc.grade_id or "", gc.points if passed else 0.0, gc.points, passed, message)
        )
    return tests, nb, problems
