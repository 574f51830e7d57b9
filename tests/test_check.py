"""`course-rnn check` judges test cells as `course-rnn grade` does: a cell fails when it raises."""

import nbformat

from course_rnn.check import check_notebook, format_report


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


def test_check_fails_raising_tests_only_and_reports_broken_setup_cells(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("## 1. Tiny"),
        nbformat.v4.new_code_cell("import not_a_module_xyz"),
        _graded_cell("value = 1", "quiet", 2),
        _graded_cell("import sys, warnings\nwarnings.warn('a')\nsys.stderr.write('b')", "warns", 3),
        _graded_cell("raise AssertionError('expected 2, got 1')", "wrong", 5),
        _written_answer("why", 4),
    ]
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    report = check_notebook(path)
    verdicts = {q.grade_id: (q.scoring, q.passed, q.message) for q in report.questions}
    assert verdicts == {
        "quiet": ("test", True, ""),
        "warns": ("test", True, ""),  # a warning goes to stderr; the grader ignores it
        "wrong": ("test", False, "expected 2, got 1"),
        "why": ("manual", None, "not answered yet"),
    }
    assert any("not_a_module_xyz" in problem for problem in report.problems)
    text = format_report(report)
    assert "Visible tests: 2 of 3 passed (5 of 10 points)." in text
    assert "Written answers (4 points) are graded by hand." in text
