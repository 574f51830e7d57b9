"""The plain data that crosses between the coordinator and the graders.

One student's grading is one call: a :class:`GradeTask` in, a :class:`StudentOutcome`
out. Both are picklable dataclasses holding text, bytes and numbers only, never paths:
the submission travels with the task and the executed notebooks come back with the
outcome, so a grader can run in this process's threads, on a Dask worker on another
machine, or anywhere in between, and only the coordinator writes files and the gradebook.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from course_rnn.grading.limits import Limits

__all__ = ["GradeTask", "NotebookOutcome", "StudentOutcome", "TestResult"]


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
class GradeTask:
    """Everything needed to grade one student's submission of one assignment."""

    student_id: str
    assignment: str
    sources: dict[str, str]  # notebook name -> the instructor's source notebook (JSON text)
    files: dict[str, bytes]  # notebook name -> the submitted file; absent: not submitted
    limits: Limits = field(default_factory=Limits)
    hidden_seed: int | None = None  # seeds course_rnn.testing.hidden_rng() for this student
    require_sandbox: bool = False  # refuse to grade where bubblewrap cannot sandbox


@dataclass
class NotebookOutcome:
    """One graded notebook of one student."""

    tests: list[TestResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what cost points, in words
    answers: dict[str, str] = field(default_factory=dict)  # grade_id -> answer cell source
    seconds: float = 0.0
    submitted: bool = True
    file: str | None = None  # the submitted file's name as the student gave it (display)
    executed: str | None = None  # the autograded notebook (JSON text), for the formgrader

    @property
    def score(self) -> float:
        return sum(t.points for t in self.tests)


@dataclass
class StudentOutcome:
    """One student's grading: a result per notebook of the assignment."""

    student_id: str
    notebooks: dict[str, NotebookOutcome] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # choices made about the files

    @property
    def score(self) -> float:
        return sum(nb.score for nb in self.notebooks.values())

    @property
    def seconds(self) -> float:
        return sum(nb.seconds for nb in self.notebooks.values())

    @property
    def problems(self) -> list[str]:
        return [p for nb in self.notebooks.values() for p in nb.problems]

    @classmethod
    def failed(
        cls, student: str, names: list[str], reason: str, submitted: bool = True
    ) -> StudentOutcome:
        """An outcome where every notebook lost everything for one ``reason``."""
        notebooks = {n: NotebookOutcome(problems=[reason], submitted=submitted) for n in names}
        return cls(student, notebooks)

    def to_json(self, executed: bool = False) -> dict[str, Any]:
        """Plain JSON data (for the state file); the executed notebooks only if asked."""
        data = asdict(self)
        if not executed:
            for nb in data["notebooks"].values():
                nb["executed"] = None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StudentOutcome:
        """The inverse of :meth:`to_json` (raises KeyError/TypeError on a bad record)."""
        notebooks = {}
        for name, nb in data["notebooks"].items():
            tests = [TestResult(**t) for t in nb["tests"]]
            notebooks[name] = NotebookOutcome(**{**nb, "tests": tests})
        return cls(str(data["student_id"]), notebooks, list(data.get("notes") or []))
