"""Grade one student notebook: the interface the grading pipeline calls.

``grade_notebook(source, submitted, workdir, limits)`` rebuilds the submission from the
instructor's source notebook (``merge``), runs it and scores every autograded test cell
of the source. It never raises for a bad submission: whatever was lost is listed in
``NotebookResult.problems``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_rnn.grading.merge import load_source, load_submission, merge


@dataclass
class Limits:
    """Resource limits for one submission (safe defaults)."""

    cell_timeout_s: float = 60
    notebook_timeout_s: float = 600
    memory_mb: int = 2048
    max_processes: int = 64
    cpu_time_s: float = 600
    max_output_bytes: int = 1_000_000
    network: bool = False


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
    source: Path, submitted: Path, workdir: Path, limits: Limits | None = None
) -> NotebookResult:
    """Execute a student's notebook and score each autograded test cell of ``source``.

    ``source`` is the instructor's nbgrader source notebook, ``submitted`` the student's
    file and ``workdir`` a scratch folder for this student only (created if missing).
    """
    from course_rnn.grading.sandbox import run_merged

    limits = limits or Limits()
    source, submitted, workdir = Path(source), Path(submitted), Path(workdir)
    src_nb = load_source(source)
    student_cells, problems = load_submission(submitted)
    merged = merge(src_nb, student_cells)
    if student_cells or not problems:  # an unreadable file needs one reason, not one per cell
        problems.extend(merged.problems)
    workdir.mkdir(parents=True, exist_ok=True)
    tests, executed, run_problems = run_merged(merged, workdir, limits)
    problems.extend(run_problems)
    return NotebookResult(source.stem, tests, problems, executed)
