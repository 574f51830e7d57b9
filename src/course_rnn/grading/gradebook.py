"""The nbgrader gradebook as the system of record: register, score, penalise, export.

Everything here goes through nbgrader's own API (``nbgrader.api.Gradebook``, its
``SaveCells`` preprocessor chain, the columns and values of its ``CsvExportPlugin``),
so the database is exactly what ``nbgrader autograde`` would leave: the formgrader,
``nbgrader export`` and ``nbgrader generate_feedback`` all work on it. Only the parent
process of a grading run calls these functions; grading workers never open the database.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import nbformat
import nbgrader.api
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    LockCells,
    SaveCells,
)
from sqlalchemy.exc import SAWarning
from traitlets.config import Config

from course_rnn.grading.csvsafe import csv_text
from course_rnn.grading.late import LatePolicy
from course_rnn.grading.results import StudentOutcome

__all__ = [
    "AssignmentInfo",
    "CellInfo",
    "apply_late_penalties",
    "default_db_url",
    "export_grades",
    "record_student",
    "register_assignment",
    "student_scores",
    "use_in_process_alembic",
]


@dataclass
class CellInfo:
    """One nbgrader cell of the source notebook that the gradebook tracks.

    ``scoring`` says how the cell is scored: "test" (autograded test cell), "manual"
    (manually graded answer), "task" (manually graded task) or "answer" (autograded
    answer: code, no points).
    ``released`` is the cell's source as students receive it.
    """

    grade_id: str
    scoring: str
    max_points: float
    released: str


@dataclass
class AssignmentInfo:
    """The gradebook's view of an assignment: notebook name -> tracked cells, in order."""

    name: str
    notebooks: dict[str, list[CellInfo]] = field(default_factory=dict)
    duedate: datetime | None = None

    @property
    def max_score(self) -> float:
        """Total points of the assignment (tests, manual answers and tasks)."""
        return sum(c.max_points for cells in self.notebooks.values() for c in cells)


def _alembic_head() -> str:
    """The newest revision of nbgrader's database schema, read in this process.

    nbgrader's ``get_alembic_version`` asks for it by running the ``alembic`` command in
    a subprocess each time it creates a database (seconds on a busy machine, and it
    fails when the virtual environment's ``bin`` is not on PATH). Same migration scripts,
    same answer, no subprocess.
    """
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import ALEMBIC_DIR

    config = AlembicConfig()
    config.set_main_option("script_location", ALEMBIC_DIR)
    return ScriptDirectory.from_config(config).get_current_head()


_NBGRADER_ALEMBIC_VERSION = nbgrader.api.get_alembic_version


def use_in_process_alembic() -> None:
    """Make nbgrader read its schema version in this process (the one alembic workaround).

    Call it before anything makes nbgrader create a gradebook (``Gradebook(url)``,
    ``nbgrader generate_assignment``): nbgrader then no longer runs the ``alembic``
    command, so neither its start-up time nor the ``PATH`` it needs matter. Idempotent;
    it changes ``nbgrader.api.get_alembic_version`` for the whole process.
    """
    nbgrader.api.get_alembic_version = _alembic_head


def default_db_url(course_root: Path) -> str:
    """nbgrader's default: ``gradebook.db`` (SQLite) in the course root."""
    return f"sqlite:///{(course_root / 'gradebook.db').resolve()}"


def _scoring(cell: nbformat.NotebookNode) -> str | None:
    if utils.is_task(cell):
        return "task"
    if utils.is_grade(cell) and utils.is_solution(cell):
        return "manual"
    if utils.is_grade(cell):
        return "test"
    if utils.is_solution(cell):
        return "answer"
    return None


def register_assignment(
    db_url: str,
    assignment: str,
    sources: dict[str, Path],
    duedate: datetime | None = None,
    course_id: str = "default_course",
    config: Config | None = None,
) -> AssignmentInfo:
    """Record ``assignment`` and its source notebooks' cells in the gradebook.

    Runs the part of nbgrader's ``generate_assignment`` chain that feeds the database
    (LockCells, ClearSolutions, ClearOutput, CheckCellMetadata, ComputeChecksums,
    SaveCells) on each source notebook in memory. ``duedate`` (naive UTC) replaces the
    stored due date when given; ``config`` is the course's nbgrader configuration (answer
    stubs and the like). Raises ``ValueError`` when nbgrader refuses, e.g. graded
    cells were added or removed after students were already graded in this database.
    """
    use_in_process_alembic()
    info = AssignmentInfo(assignment)
    with Gradebook(db_url, course_id) as gb:
        if duedate is not None:
            gb.update_or_create_assignment(assignment, duedate=duedate)
        else:
            gb.update_or_create_assignment(assignment)
        info.duedate = gb.find_assignment(assignment).duedate
    for name, path in sources.items():
        nb = nbformat.read(path, as_version=4)
        resources = {"nbgrader": {"notebook": name, "assignment": assignment, "db_url": db_url}}
        steps = [LockCells, ClearSolutions, ClearOutput, CheckCellMetadata, ComputeChecksums]
        chain = [step(config=config or Config()) for step in [*steps, SaveCells]]
        try:
            for step in chain:
                nb, resources = step.preprocess(nb, resources)
        except RuntimeError as exc:
            raise ValueError(
                f"nbgrader refused to update {assignment}/{name} in the gradebook: {exc}. "
                "Grade the changed notebook into a new database (--db) or remove the old "
                "submissions first."
            ) from exc
        cells = []
        for cell in nb.cells:
            scoring = _scoring(cell)
            if scoring is None:
                continue
            points = float(cell.metadata.nbgrader.get("points", 0) or 0)
            if scoring == "answer":
                points = 0.0
            cells.append(CellInfo(cell.metadata.nbgrader["grade_id"], scoring, points, cell.source))
        info.notebooks[name] = cells
    return info


def _unanswered(student_source: str | None, released: str) -> bool:
    """Missing, empty, or left exactly as released."""
    text = (student_source or "").strip()
    return not text or text == released.strip()


def record_student(
    gb: Gradebook,
    info: AssignmentInfo,
    student_id: str,
    timestamp: datetime | None,
    outcome: StudentOutcome,
) -> None:
    """Write one student's autograded scores into the gradebook.

    Each of ``outcome.notebooks`` holds ``tests`` (the verdicts) and ``answers``
    (grade_id -> the student's source of answer cells). Test
    cells get ``auto_score``; an unchanged or missing manually graded answer gets 0 and
    "No response." (as nbgrader does); other manual answers are left for the formgrader.
    Manual scores already given are kept, and so is the formgrader's "graded" mark
    (``needs_manual_grade`` false): a regrade of the same submission (same timestamp,
    same automatic score) does not list hand-scored answers as ungraded again; a new
    submission time or a changed automatic score asks for a review, as nbgrader's
    autograde does. ``gb`` is an open nbgrader ``Gradebook``.
    """
    gb.update_or_create_student(student_id)
    try:
        before = gb.find_submission(info.name, student_id).timestamp
        resubmitted = before != timestamp
    except MissingEntry:
        resubmitted = True
    with warnings.catch_warnings():
        # nbgrader's add_submission trips SQLAlchemy's autoflush warnings (harmless).
        warnings.simplefilter("ignore", SAWarning)
        gb.update_or_create_submission(info.name, student_id, timestamp=timestamp)
    for name, cells in info.notebooks.items():
        result = outcome.notebooks.get(name)
        points = {t.grade_id: float(t.points) for t in result.tests} if result else {}
        answers = result.answers if result else {}
        for cell in cells:
            student_source = answers.get(cell.grade_id)
            if cell.scoring in ("test", "manual", "task"):
                grade = gb.find_grade(cell.grade_id, name, info.name, student_id)
                # Graded by hand and marked done in the formgrader (it clears the flag).
                reviewed = grade.manual_score is not None and not grade.needs_manual_grade
                previous = grade.auto_score
                if cell.scoring == "test":
                    got = points.get(cell.grade_id, 0.0)
                    grade.auto_score = min(max(got, 0.0), cell.max_points)
                elif cell.scoring == "manual" and _unanswered(student_source, cell.released):
                    grade.auto_score = 0.0
                else:
                    grade.auto_score = None
                # nbgrader's autograde rule: a manual score or no automatic score needs a
                # person. A regrade of the same submission keeps the instructor's work:
                # what was reviewed stays reviewed unless the submission (its time) or
                # the automatic score changed.
                kept = reviewed and not resubmitted and grade.auto_score == previous
                grade.needs_manual_grade = not kept and (
                    grade.manual_score is not None or grade.auto_score is None
                )
            if cell.scoring in ("manual", "task", "answer"):
                comment = gb.find_comment(cell.grade_id, name, info.name, student_id)
                unanswered = cell.scoring != "task" and _unanswered(student_source, cell.released)
                comment.auto_comment = "No response." if unanswered else None
    gb.db.commit()


def apply_late_penalties(
    gb: Gradebook, assignment: str, student_ids: list[str], policy: LatePolicy
) -> dict[str, float]:
    """Set each notebook's late penalty from the current scores; return totals per student.

    Mirrors nbgrader's ``AssignLatePenalties``: the penalty is computed per notebook from
    its score and the submission's lateness (extensions included) and never exceeds the
    score. Re-run after manual grading, so penalties follow the final scores.
    """
    totals: dict[str, float] = {}
    for student_id in student_ids:
        try:
            submission = gb.find_submission(assignment, student_id)
        except MissingEntry:
            continue
        late = submission.total_seconds_late
        total = 0.0
        for notebook in submission.notebooks:
            penalty = policy.penalty(notebook.score, late) if late > 0 else 0.0
            penalty = min(max(penalty, 0.0), notebook.score)
            notebook.late_submission_penalty = penalty if penalty > 0 else None
            total += penalty
        totals[student_id] = total
    gb.db.commit()
    return totals


def student_scores(gb: Gradebook, info: AssignmentInfo, student_id: str) -> dict:
    """The gradebook's current scores for one student, for feedback and reports.

    Returns ``{"score", "max_score", "penalty", "seconds_late", "timestamp",
    "notebooks": {name: {grade_id: {"score", "max_score", "needs_manual_grade",
    "pending"}}}}``; ``pending`` means not scored yet (a written answer to grade by hand),
    and then ``score`` is None. ``"comments"`` holds, per notebook, the comments written
    in the formgrader (grade_id -> text; answer cells, written answers and tasks).
    """
    submission = gb.find_submission(info.name, student_id)
    out = {
        "score": float(submission.score),
        "max_score": float(submission.max_score),
        "penalty": float(submission.late_submission_penalty or 0.0),
        "seconds_late": float(submission.total_seconds_late),
        "timestamp": submission.timestamp,
        "notebooks": {},
        "comments": {},
    }
    for name, cells in info.notebooks.items():
        per_cell = {}
        comments = {}
        for cell in cells:
            if cell.scoring in ("manual", "task", "answer"):
                try:
                    comment = gb.find_comment(cell.grade_id, name, info.name, student_id)
                except MissingEntry:
                    comment = None
                if comment is not None and (comment.manual_comment or "").strip():
                    comments[cell.grade_id] = comment.manual_comment
            if cell.scoring == "answer":
                continue
            grade = gb.find_grade(cell.grade_id, name, info.name, student_id)
            pending = grade.manual_score is None and grade.auto_score is None
            per_cell[cell.grade_id] = {
                "score": None if pending or grade.score is None else float(grade.score),
                "max_score": float(grade.max_score),
                "needs_manual_grade": bool(grade.needs_manual_grade),
                "pending": pending,
            }
        out["notebooks"][name] = per_cell
        out["comments"][name] = comments
    return out


GRADE_COLUMNS = (
    "assignment",
    "duedate",
    "timestamp",
    "student_id",
    "last_name",
    "first_name",
    "email",
    "raw_score",
    "late_submission_penalty",
    "score",
    "max_score",
)


def _grade_rows(gb: Gradebook, assignment: str) -> list[list[str]]:
    """One assignment's rows of nbgrader's ``CsvExportPlugin``: its columns, its values.

    The same loop as the plugin (every student of the gradebook; one without a submission
    scores 0), kept here because the plugin joins its values with commas unquoted.
    """
    found = gb.find_assignment(assignment)
    rows = []
    for student in gb.students:
        score = {
            "assignment": found.name,
            "duedate": found.duedate,
            "student_id": student.id,
            "last_name": student.last_name,
            "first_name": student.first_name,
            "email": student.email,
            "max_score": found.max_score,
        }
        try:
            submission = gb.find_submission(assignment, student.id)
        except MissingEntry:
            score.update(timestamp="", raw_score=0.0, late_submission_penalty=0.0, score=0.0)
        else:
            penalty = submission.late_submission_penalty
            score.update(
                timestamp=submission.timestamp,
                raw_score=submission.score,
                late_submission_penalty=penalty,
                score=max(0.0, submission.score - penalty),
            )
        rows.append(["" if score[k] is None else str(score[k]) for k in GRADE_COLUMNS])
    return rows


def export_grades(gb: Gradebook, assignment: str, dest: Path) -> None:
    """Write ``dest`` in the format of nbgrader's ``CsvExportPlugin`` for one assignment.

    The columns and values are nbgrader's own (``nbgrader export`` writes the same
    values); rows are sorted by student id so the file does not depend on database
    order, and every cell follows :mod:`~course_rnn.grading.csvsafe`'s rule (a name with
    a comma stays one cell, a name that looks like a formula is shown as text).
    """
    rows = sorted(_grade_rows(gb, assignment), key=lambda row: row[3])
    dest.write_text(csv_text([GRADE_COLUMNS, *rows]), encoding="utf-8")
