"""What `course-rnn check` says is what `course-rnn grade` does, on a real assignment.

A corpus of student notebooks of 02_rnn_forward, built from its released version and
the instructor's answers: solved, blank, one part wrong (with an answer that warns on
stderr and one that prints megabytes), and a crash mid-notebook (an answer cell that
calls ``os._exit``, another that raises after its definitions) with a deleted and an
edited test cell. Each notebook is checked once and graded twice with the grader's
executor: against the released notebook as source (the tests a student sees) and
against the instructor's source (hidden tests included). Every test that check gives a
verdict for gets the same verdict from both gradings. The corpus's answers are right or
wrong for every input (none is tuned to the visible examples), so a test's hidden part
agrees with its visible part and the instructor's source can be compared on every test.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from course_rnn.check import check_notebook, format_report
from course_rnn.grading.executor import TrustedRunner, grade_notebook
from course_rnn.grading.limits import Limits

ROOT = Path(__file__).resolve().parents[1]
RELEASED = ROOT / "exercises" / "02_rnn_forward" / "02_rnn_forward.ipynb"
SOURCE = ROOT / "solutions" / "02_rnn_forward" / "02_rnn_forward.ipynb"
TESTS = ["test_rnn_cell_forward", "test_rnn_forward", "test_count_shared", "test_count_unshared"]


def _gid(cell: nbformat.NotebookNode) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _instructor_answers() -> dict[str, str]:
    nb = nbformat.read(SOURCE, as_version=4)
    return {_gid(c): c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")}


ANSWERS = _instructor_answers()
NOISY_STEP = ANSWERS["rnn_cell_forward"] + (
    "\n\nimport sys\nimport warnings\n\n_step = rnn_cell_forward\n\n\n"
    "def rnn_cell_forward(x_t, h_prev, params):\n"
    "    warnings.warn('a noisy answer: this warning goes to stderr')\n"
    "    print('debugging output on stderr', file=sys.stderr)\n"
    "    return _step(x_t, h_prev, params)\n"
)
WRONG_SEQUENCE = (  # every step starts again from h0: the recurrence is lost
    "def rnn_forward(x, h0, params):\n"
    "    return np.stack([rnn_cell_forward(x[:, t], h0, params) for t in range(x.shape[1])], 1)\n"
)
LOUD_COUNT = ANSWERS["count_params"] + "\n\nprint('spam ' * 400_000)  # 2 MB of output\n"
CRASHING_STEP = ANSWERS["rnn_cell_forward"] + "\n\nimport os\n\nos._exit(3)\n"
RAISES_AFTER_COUNT = ANSWERS["count_params"] + "\n\nraise RuntimeError('after the definitions')\n"


def _student(answers: dict[str, str], delete=(), edit=()) -> nbformat.NotebookNode:
    """The released notebook with ``answers`` in place, test cells deleted or edited."""
    nb = nbformat.read(RELEASED, as_version=4)
    cells = []
    for cell in nb.cells:
        gid = _gid(cell)
        if gid in delete:
            continue
        if gid in answers:
            cell.source = answers[gid]
        if gid in edit:
            cell.source += "\n# my own note on this test"
        cells.append(cell)
    nb.cells = cells
    return nb


CORPUS = {
    "solved": (_student(ANSWERS), dict.fromkeys(TESTS, True)),
    "blank": (_student({}), dict.fromkeys(TESTS, False)),
    "wrong_noisy_loud": (
        _student(
            {
                **ANSWERS,
                "rnn_cell_forward": NOISY_STEP,
                "rnn_forward": WRONG_SEQUENCE,
                "count_params": LOUD_COUNT,
            }
        ),
        {**dict.fromkeys(TESTS, True), "test_rnn_forward": False},
    ),
    "crash_deleted_edited": (
        _student(
            {**ANSWERS, "rnn_cell_forward": CRASHING_STEP, "count_params": RAISES_AFTER_COUNT},
            delete=["test_count_unshared"],
            edit=["test_rnn_forward"],
        ),
        # the crash takes rnn_cell_forward with it; check does not run the edited test
        # and cannot run the deleted one
        {"test_rnn_cell_forward": False, "test_count_shared": True},
    ),
}


@pytest.fixture(scope="module")
def runner():
    """One warm trusted runner for every grading of this file (check's CLI starts its own)."""
    with TrustedRunner(Limits()) as warm:
        yield warm


@pytest.mark.parametrize("name", list(CORPUS))
def test_check_gives_each_visible_test_the_verdict_grade_gives(name, runner, tmp_path):
    nb, expected = CORPUS[name]
    path = tmp_path / "student" / RELEASED.name
    path.parent.mkdir()
    nbformat.write(nb, path)

    report = check_notebook(path, runner=runner)
    checked = {q.grade_id: q.passed for q in report.tests if q.passed is not None}
    assert checked == expected, format_report(report)
    by_released = grade_notebook(RELEASED, path, tmp_path / "w1", runner=runner)
    by_source = grade_notebook(SOURCE, path, tmp_path / "w2", runner=runner)
    for way, result in (("released", by_released), ("instructor's source", by_source)):
        graded = {t.grade_id: t.passed for t in result.tests}
        assert set(graded) == set(TESTS), way
        assert {gid: graded[gid] for gid in checked} == checked, (way, format_report(report))

    text = format_report(report)
    assert "BEGIN HIDDEN" not in text.upper() and "hidden_rng" not in text
    assert len(text) < 5000  # megabytes printed by an answer never reach the report
    if name == "blank":
        # the two answer cells tested first say so; the tests built on them name the part
        assert text.count("not answered yet: the answer cell still raises") == 2
        assert text.count("which does not pass yet: fix ") == 2
        assert text.count("first (it is not answered yet)") == 2
        assert "[written_sharing], 25 points: not answered yet" in text
    if name == "crash_deleted_edited":
        assert "the kernel stopped during this cell" in " ".join(report.problems)
        assert "  EDITED  2. The whole sequence [test_rnn_forward], 30 points" in text
        assert (
            "'3. Counting parameters' is worth 20 points but its graded cells add up to 10: "
            "a test cell seems to have been deleted." in text
        )
        assert by_released.tests[1].passed is False  # grading ran the original test
        assert report.ok is False
