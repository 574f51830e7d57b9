"""Where the autograder hands over to people (issue 24): the formgrader's work survives a
regrade, the feedback page shows the final score, titles, comments and the answer that
failed, the class report says what the class got wrong, similarity flags whole copies,
and the formgrader is one command away.

Most tests build the gradebook and the outcomes directly (fast); the ones marked
``grading`` run ``course-rnn grade`` on the tiny course.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "fixtures" / "tiny_course"
TINY_SOURCE = TINY / "solutions" / "tiny" / "tiny.ipynb"

pytest.importorskip("nbgrader")


def _outcome(student: str, add_passes: bool = True, explain: str = "Minus times minus."):
    from course_rnn.grading.results import NotebookOutcome, StudentOutcome, TestResult

    add_message = (
        ""
        if add_passes
        else ("add(2, 3) does not match the reference. Hint: did you subtract instead of add?")
    )
    return StudentOutcome(
        student,
        {
            "tiny": NotebookOutcome(
                tests=[
                    TestResult("test_square", 2.0, 2.0, True, ""),
                    TestResult(
                        "test_add", 3.0 if add_passes else 0.0, 3.0, add_passes, add_message
                    ),
                ],
                answers={
                    "square_answer": "def square(x):\n    return x * x\n",
                    "add_answer": "def add(a, b):\n    return a - b  # mine\n",
                    "explain": explain,
                },
            )
        },
    )


# ------------------------------------------------------------ 4. manual grading kept
def test_a_regrade_keeps_the_formgraders_graded_answers_graded(tmp_path: Path) -> None:
    from nbgrader.api import Gradebook

    from course_rnn.grading.gradebook import record_student, register_assignment

    db = f"sqlite:///{tmp_path}/gb.db"
    info = register_assignment(db, "tiny", {"tiny": TINY_SOURCE})
    stamp = datetime(2026, 3, 1, 12, 0)
    with Gradebook(db) as gb:
        record_student(gb, info, "amy", stamp, _outcome("amy", add_passes=False))
        assert gb.find_grade("explain", "tiny", "tiny", "amy").needs_manual_grade
    with Gradebook(db) as grader:  # the formgrader: a score for the answer, a fixed test
        for grade_id, score in (("explain", 1.0), ("test_add", 1.0)):
            grade = grader.find_grade(grade_id, "tiny", "tiny", "amy")
            grade.manual_score = score
            grade.needs_manual_grade = False
        grader.db.commit()
    with Gradebook(db) as gb:  # `course-rnn grade` again: same submission
        record_student(gb, info, "amy", stamp, _outcome("amy", add_passes=False))
        for grade_id in ("explain", "test_add"):
            grade = gb.find_grade(grade_id, "tiny", "tiny", "amy")
            assert grade.manual_score == 1.0 and not grade.needs_manual_grade, grade_id
        assert not gb.find_submission("tiny", "amy").needs_manual_grade
    with Gradebook(db) as gb:  # a new submission (a later time) asks for a review again
        later = datetime(2026, 3, 2, 9, 0)
        record_student(gb, info, "amy", later, _outcome("amy", add_passes=True))
        assert gb.find_grade("explain", "tiny", "tiny", "amy").needs_manual_grade
        assert gb.find_grade("test_add", "tiny", "tiny", "amy").needs_manual_grade
