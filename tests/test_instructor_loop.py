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


# ------------------------------------------------------------ 1. the feedback page
@pytest.fixture()
def graded_by_hand(tmp_path: Path) -> dict:
    """amy: late by 30 hours (10%/day: 20%), test_add failed, the written answer
    graded in the formgrader, with comments on it and on her add answer."""
    from nbgrader.api import Gradebook

    from course_rnn.grading.feedback import write_feedback
    from course_rnn.grading.gradebook import (
        apply_late_penalties,
        record_student,
        register_assignment,
        student_scores,
    )
    from course_rnn.grading.late import parse_penalty

    db = f"sqlite:///{tmp_path}/gb.db"
    due = datetime(2026, 3, 1, 12, 0)
    info = register_assignment(db, "tiny", {"tiny": TINY_SOURCE}, duedate=due)
    outcomes = {"amy": _outcome("amy", add_passes=False), "ben": _outcome("ben")}
    with Gradebook(db) as gb:
        record_student(gb, info, "amy", datetime(2026, 3, 2, 18, 0), outcomes["amy"])
        record_student(gb, info, "ben", due, outcomes["ben"])
        grade = gb.find_grade("explain", "tiny", "tiny", "amy")
        grade.manual_score, grade.needs_manual_grade = 1.0, False
        gb.find_comment(
            "explain", "tiny", "tiny", "amy"
        ).manual_comment = "Good. <script>top.__pwned=1</script>\nName the sign rule."
        gb.find_comment("add_answer", "tiny", "tiny", "amy").manual_comment = "Check the operator."
        gb.db.commit()
        policy = parse_penalty("10%/day")
        apply_late_penalties(gb, "tiny", ["amy", "ben"], policy)
        scores = {s: student_scores(gb, info, s) for s in outcomes}
    out = tmp_path / "feedback"
    assert write_feedback(out, info, {"tiny": TINY_SOURCE}, outcomes, scores, policy) == {}
    return {
        "amy": (out / "amy" / "tiny" / "tiny.html").read_text(),
        "ben": (out / "ben" / "tiny" / "tiny.html").read_text(),
        "folder": out,
    }


def test_feedback_shows_the_final_score_first_then_how_it_was_made(graded_by_hand) -> None:
    amy = graded_by_hand["amy"]
    # 2 (square) + 0 (add) + 1 (written) = 3 of 6; two started days late: 20% = 0.6.
    assert "Your score: 2.4 / 6" in amy
    assert amy.index("Your score: 2.4 / 6") < amy.index("3 points earned")
    assert "minus 0.6 points late penalty" in amy and "30.0 hours" in amy
    assert "count once" not in amy  # nothing is waiting for a person
    assert "tiny / tiny" not in amy and "<title>Feedback on tiny for amy</title>" in amy
    ben = graded_by_hand["ben"]  # on time, written answer not graded yet
    assert "Your score so far: 5 / 6" in ben and "still to be graded" in ben
    assert "late penalty" not in ben


def test_feedback_names_questions_shows_the_failed_answer_and_the_comments(
    graded_by_hand,
) -> None:
    amy = graded_by_hand["amy"]
    assert '<th scope="row">Tiny assignment' in amy  # the section's title, as check shows
    row = amy[amy.index('<code class="id">test_add</code>') :]
    row = row[: row.index("</tr>")]
    assert "Your answer:" in row and "return a - b  # mine" in row  # her own code
    assert "Check the operator." in row  # the comment on her add answer, beside it
    square = amy[amy.index('<code class="id">test_square</code>') :]
    assert "Your answer:" not in square[: square.index("</tr>")]  # passed: no code shown
    explain = amy[amy.index('<code class="id">explain</code>') :]
    explain = explain[: explain.index("</tr>")]
    assert "Name the sign rule." in explain
    assert "<script>" not in amy and "&lt;script&gt;" in explain  # the comment is text


# ------------------------------------------------------------ 2. the class report
def test_report_groups_failures_by_diagnosis_and_counts_blank_apart(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from course_rnn.grading.gradebook import register_assignment
    from course_rnn.grading.late import parse_penalty
    from course_rnn.grading.report import attention_lines, write_report
    from course_rnn.grading.results import NotebookOutcome, StudentOutcome

    info = register_assignment(f"sqlite:///{tmp_path}/gb.db", "tiny", {"tiny": TINY_SOURCE})
    outcomes = {s: _outcome(s, add_passes=False) for s in ("amy", "ben", "cy")}
    outcomes["dee"] = _outcome("dee")
    odd = _outcome("eve", add_passes=False)
    odd.notebooks["tiny"].tests[1].message = "add(2, 3) should be 5, got 7"
    outcomes["eve"] = odd
    released = {c.grade_id: c.released for c in info.notebooks["tiny"]}
    blank = _outcome("fay", add_passes=False)
    blank.notebooks["tiny"].answers = {k: released[k] for k in blank.notebooks["tiny"].answers}
    outcomes["fay"] = blank
    outcomes["gus"] = StudentOutcome(
        "gus",
        {
            "tiny": NotebookOutcome(
                problems=["submission is not valid notebook JSON (x); graded as empty"]
            )
        },
    )
    scores = {
        s: {"score": 5.0, "penalty": 0.0, "seconds_late": 0.0, "notebooks": {"tiny": {}}}
        for s in outcomes
    }
    scores["ben"].update(seconds_late=7200.0, penalty=0.5)
    scores["cy"]["notebooks"]["tiny"] = {"explain": {"pending": True}}
    summary = SimpleNamespace(problems={}, notes={}, rejected=[], lms=[])
    write_report(
        tmp_path,
        info,
        outcomes,
        scores,
        summary,
        parse_penalty("none"),
        sources={"tiny": TINY_SOURCE},
    )
    report = (tmp_path / "report.md").read_text()
    # five answered submissions in the pass rates; blank fay and unreadable gus apart
    assert "| `tiny/test_add` | 20% |" in report and "| `tiny/test_square` | 100% |" in report
    assert "Blank: fay." in report and "Unreadable or missing: gus." in report
    assert (
        "| `tiny/test_add` | Tiny assignment | 3 | did you subtract instead of add? "
        "| amy, ben, cy |" in report
    )
    assert "| 1 | no known mistake recognised" in report and "| eve |" in report
    lines = attention_lines(summary)
    assert any("late" in line and "ben (2.0 h, -0.5)" in line for line in lines)
    assert any("waiting for you" in line and "cy" in line for line in lines)
    assert not any("warning" in line for line in lines)
    summary.lms = [SimpleNamespace(path=tmp_path / "canvas_grades.csv")]
    warning = [line for line in attention_lines(summary) if line.startswith("warning")]
    assert warning and "canvas_grades.csv" in warning[0]
    assert "any LMS import file" in report  # the report says so too


def test_score_histogram_counts_whole_students(tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    from course_rnn.grading import report

    saved = {}
    original = Figure.savefig

    def keep(fig, *args, **kwargs):
        saved["ticks"] = fig.axes[0].get_yticks()
        return original(fig, *args, **kwargs)

    Figure.savefig = keep
    try:
        report._histogram(tmp_path / "h.png", [1.0, 2.0, 5.5], 6.0)
    finally:
        Figure.savefig = original
    assert all(float(t).is_integer() for t in saved["ticks"])


# ------------------------------------------------------------ 3. similarity
def test_a_whole_submission_alike_is_flagged_though_each_answer_is_short() -> None:
    from course_rnn.grading.similarity import class_similarity

    cells = [
        ("tiny", "square_answer", "def square(x):\n    # YOUR CODE HERE\n"),
        ("tiny", "add_answer", "def add(a, b):\n    # YOUR CODE HERE\n"),
    ]
    copied = {
        ("tiny", "square_answer"): "def square(x):\n    return x*x\n",
        ("tiny", "add_answer"): "def add(a, b):\n    return b + a\n",
        ("tiny", "explain"): "Two negatives multiply to a positive.",
    }
    near = {**copied, ("tiny", "explain"): "Two negatives multiply to a positive!"}
    own = {**copied, ("tiny", "explain"): "The signs cancel when multiplied."}
    blank = {
        k: v for k, v in zip(copied, ["def square(x):\n", "def add(a, b):\n", ""], strict=True)
    }
    report = class_similarity(
        cells,
        {
            "amy": copied,
            "ben": dict(copied),
            "cy": near,
            "dee": own,
            "eve": blank,
            "fay": dict(blank),
        },
    )
    assert report.pairs == []  # every answer is short: no per-cell evidence
    whole = {(w.student_a, w.student_b): w for w in report.whole}
    assert whole[("amy", "ben")].identical
    assert not whole[("amy", "cy")].identical and whole[("amy", "cy")].least >= 0.9
    assert not any("dee" in pair for pair in whole)  # one answer of her own
    assert ("eve", "fay") not in whole  # two blank notebooks are no evidence


def test_side_by_side_columns_cannot_grow_past_the_page() -> None:
    from course_rnn.grading.similarity import SIMILARITY_STYLE

    assert "grid-template-columns:minmax(0,1fr) minmax(0,1fr)" in SIMILARITY_STYLE


# ------------------------------------------------------------ 4. the formgrader
def test_formgrader_command_binds_localhost_and_leaves_the_course_config_alone(
    tmp_path: Path,
) -> None:
    from course_rnn.cli import build_parser
    from course_rnn.grading.formgrader import formgrader_command

    tracked = (REPO / "nbgrader_config.py").read_text()
    out = tmp_path / "grading" / "02"
    argv, env, url = formgrader_command(REPO, out, tmp_path / "cfg", 8899, "tok", "sqlite:///x")
    assert "--ServerApp.ip=127.0.0.1" in argv and "--ServerApp.port=8899" in argv
    assert url == "http://127.0.0.1:8899/formgrader/?token=tok"
    assert env["JUPYTER_CONFIG_DIR"] == str(tmp_path / "cfg")
    written = (tmp_path / "cfg" / "nbgrader_config.py").read_text()
    assert repr(str(out / "autograded")) in written and "sqlite:///x" in written
    assert (REPO / "nbgrader_config.py").read_text() == tracked
    assert "autograded_directory" not in tracked  # else it would win over the command's
    args = build_parser("formgrader").parse_args(["formgrader", "--out", str(out)])
    assert args.out == out and args.port == 8888


def test_the_documented_output_folders_are_git_ignored() -> None:
    import re
    import subprocess

    docs = (REPO / "docs" / "instructors.md").read_text() + (REPO / "README.md").read_text()
    folders = set(re.findall(r"--out ((?:[\w.-]+/)+[\w.-]*)", docs))  # grading/02
    assert folders
    for folder in sorted(folders):
        probe = f"{folder}/grades.csv"
        done = subprocess.run(
            ["git", "check-ignore", "-q", "--no-index", probe], cwd=REPO, check=False
        )
        assert done.returncode == 0, f"{probe} would be committed"
    kept = subprocess.run(
        ["git", "check-ignore", "-q", "--no-index", "src/course_rnn/grading/new_module.py"],
        cwd=REPO,
        check=False,
    )
    assert kept.returncode == 1  # the package's own grading/ folder is not ignored
