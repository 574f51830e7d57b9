"""`course-rnn check` runs the grader's own harness: a test cell fails when it raises there.

The agreement of check and grade on a real assignment is tested in test_check_vs_grade.py.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_rnn.check import (
    NO_SANDBOX,
    CheckReport,
    _prepare,
    check_notebook,
    format_report,
    nbgrader_checksum,
)
from course_rnn.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _graded_cell(source: str, grade_id: str, points: float) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {
        "grade": True,
        "grade_id": grade_id,
        "locked": True,
        "points": points,
        "schema_version": 3,
        "solution": False,
        "task": False,
    }
    return cell


def _written_answer(grade_id: str, points: float) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell("YOUR ANSWER HERE")
    cell.metadata["nbgrader"] = {
        "grade": True,
        "grade_id": grade_id,
        "locked": False,
        "points": points,
        "schema_version": 3,
        "solution": True,
        "task": False,
    }
    return cell


@pytest.fixture
def tiny(tmp_path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("## 1. Tiny (14 points)"),
        nbformat.v4.new_code_cell("import not_a_module_xyz"),
        _graded_cell("value = 1", "quiet", 2),
        _graded_cell("import sys, warnings\nwarnings.warn('a')\nsys.stderr.write('b')", "warns", 3),
        _graded_cell("raise AssertionError('expected 2, got 1')", "wrong", 5),
        _written_answer("why", 4),
    ]
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    return path


def _verdicts(report) -> dict:
    return {q.grade_id: (q.scoring, q.passed, q.message) for q in report.questions}


TINY_VERDICTS = {
    "quiet": ("test", True, ""),
    "warns": ("test", True, ""),  # a warning goes to stderr; the grader ignores it
    "wrong": ("test", False, "expected 2, got 1"),
    "why": ("manual", None, "not answered yet"),
}


def test_check_fails_raising_tests_only_and_reports_broken_setup_cells(tiny):
    report = check_notebook(tiny)
    assert _verdicts(report) == TINY_VERDICTS
    assert any("not_a_module_xyz" in problem for problem in report.problems)
    text = format_report(report)
    assert "Visible tests: 2 of 3 passed (5 of 10 points)." in text
    assert "Written answers (4 points) are graded by hand." in text
    assert report.sandboxed and NO_SANDBOX not in text


def test_without_bubblewrap_check_says_so_in_one_line_and_gives_the_same_verdicts(tiny, tmp_path):
    """A student's laptop without bubblewrap: the same harness, unsandboxed, one line."""
    empty = tmp_path / "no-bwrap-here"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty)}  # bwrap cannot be found
    result = subprocess.run(
        [sys.executable, "-m", "course_rnn", "check", str(tiny)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    out = result.stdout
    assert result.returncode == 1, out + result.stderr[-3000:]
    assert out.startswith("Checking tiny.ipynb\n")
    sandbox_lines = [line for line in out.splitlines() if "bubblewrap" in line]
    assert sandbox_lines == [NO_SANDBOX], out
    assert "  passed  1. Tiny [quiet], 2 points\n" in out
    assert "  passed  1. Tiny [warns], 3 points\n" in out
    assert "  FAILED  1. Tiny [wrong], 5 points\n           expected 2, got 1\n" in out
    assert "Visible tests: 2 of 3 passed (5 of 10 points)." in out


@pytest.mark.parametrize("content", [b"not json at all", b"[1, 2]", b"\x00\xff\x00"])
def test_an_unreadable_notebook_exits_2_without_running_anything(tmp_path, capsys, content):
    path = tmp_path / "broken.ipynb"
    path.write_bytes(content)
    assert main(["check", str(path)]) == 2
    assert capsys.readouterr().out.startswith(f"course-rnn check: {path} is not a valid notebook")


def test_a_missing_file_exits_2(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nowhere.ipynb")]) == 2
    assert "does not exist" in capsys.readouterr().out


def test_checksum_is_nbgraders_for_every_released_cell():
    utils = pytest.importorskip("nbgrader.utils")
    compared = 0
    for path in sorted((ROOT / "exercises").glob("*/*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if "nbgrader" in cell.metadata:
                assert nbgrader_checksum(cell) == utils.compute_checksum(cell), path.name
                assert nbgrader_checksum(cell) == cell.metadata.nbgrader["checksum"]
                compared += 1
    assert compared > 50


def test_hidden_tests_are_removed_and_edited_test_cells_are_left_out():
    """Check runs the visible part only, even of an instructor's source notebook."""
    nb = nbformat.read(ROOT / "solutions/02_rnn_forward/02_rnn_forward.ipynb", as_version=4)
    released = nbformat.read(ROOT / "exercises/02_rnn_forward/02_rnn_forward.ipynb", as_version=4)
    assert sum("BEGIN HIDDEN TESTS" in c.source for c in nb.cells) == 4
    edited, notes = _prepare(nb)
    assert (edited, notes) == ([], [])
    tests = {
        c.metadata.nbgrader["grade_id"]: c.source.strip()
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
    }
    visible = {
        c.metadata.nbgrader["grade_id"]: c.source.strip()
        for c in released.cells
        if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
    }
    assert tests == visible  # exactly what nbgrader releases

    for cell in released.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_rnn_forward":
            cell.source += "\n# a student's comment"
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "forbid_list":
            cell.source = "pass"
    copies = [copy.deepcopy(c) for c in released.cells if c.metadata.get("nbgrader")]
    released.cells += copies  # a copied test runs once, a copied answer as a plain cell
    cells = len(released.cells)
    answers = [c for c in copies if c.metadata.nbgrader.get("solution")]
    edited, notes = _prepare(released)
    assert edited == ["test_rnn_forward"]
    assert "test_rnn_forward" not in str([c.metadata for c in released.cells])
    assert notes[0] == (
        "The read-only cell 'forbid_list' differs from the released version: check ran "
        "your copy, grading runs the original."
    )
    assert len(notes) == 1 + len(copies)
    assert "The cell 'test_count_shared' appears more than once: grading uses the first." in notes
    assert len(answers) == 4 and not any("nbgrader" in c.metadata for c in answers)
    assert len(released.cells) == cells - 1 - (len(copies) - len(answers))
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in released.cells]
    assert len([i for i in ids if i]) == len({i for i in ids if i})


def test_a_notebook_without_test_cells_is_not_reported_as_passing():
    """Cells pasted into a new notebook lose their metadata: grading would find no answers."""
    report = CheckReport("pasted.ipynb")
    assert not report.ok
    assert "This notebook has no test cells" in format_report(report)
    assert "All visible tests pass." not in format_report(report)


def _answer_cell(source: str, grade_id: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {
        "grade": False,
        "grade_id": grade_id,
        "locked": False,
        "schema_version": 3,
        "solution": True,
        "task": False,
    }
    return cell


def test_an_error_in_student_code_names_the_line_of_the_notebook_it_came_from(tmp_path):
    """The student reads which cell and line raised, not only the exception's text: when
    a test calls their function (the error comes back from the sandboxed kernel) and when
    an answer cell raises as it runs. The cell before them shifts the kernel's execution
    count, so a count taken for a cell index would name the wrong cell."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("## 1. Shift (10 points)"),
        nbformat.v4.new_code_cell("import numpy as np\nN = 3"),
        _answer_cell(
            "def shift(x):\n"
            "    out = np.zeros(len(x))\n"
            "    for t in range(len(x)):\n"
            "        out[t + 1] = x[t]\n"
            "    return out",
            "shift",
        ),
        _graded_cell("shift(np.arange(4.0))", "test_shift", 5),
        _answer_cell("total = 0\ntotal = total + undefined_name", "total"),
        _graded_cell("assert total == 0", "test_total", 5),
    ]
    path = tmp_path / "shift.ipynb"
    nbformat.write(nb, path)
    report = check_notebook(path)
    failed = {q.grade_id: q.message for q in report.questions if q.passed is False}
    assert set(failed) == {"test_shift"}, failed  # total = 0 ran before the error
    assert "your code raised IndexError" in failed["test_shift"]
    assert (
        "at line 4 of your answer cell 'shift' (in shift): out[t + 1] = x[t]"
        in failed["test_shift"]
    ), failed["test_shift"]
    (problem,) = [p for p in report.problems if "'total'" in p]
    assert "undefined_name" in problem
    assert "line 2 of your answer cell 'total': total = total + undefined_name" in problem
    assert "line 2" in format_report(report)
