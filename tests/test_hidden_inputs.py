"""Per-student hidden inputs: seeded from the course secret, reproducible on regrade.

A small course made here has one assignment whose hidden test draws its input (size and
values) from ``course_rnn.testing.hidden_rng()``. One graded class (four students) is
shared by the end-to-end tests; the unit tests of the seed and the secret are fast.
"""

from __future__ import annotations

import csv
import io
import os
import stat
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course_rnn import testing
from course_rnn.cli import main
from course_rnn.grading.pipeline import SECRET_ENV, load_secret, student_seed

ASSIGNMENT = "hid"
CONFIG = 'c = get_config()  # noqa: F821\nc.CourseDirectory.source_directory = "solutions"\n'
ANSWER = "def double(x):\n    return 2 * np.asarray(x, dtype=float)\n"
TEST = (
    "import numpy as np\n"
    "assert double(1) == 2, f'double(1) should be 2, got {double(1)!r}'\n"
    "### BEGIN HIDDEN TESTS\n"
    "from course_rnn.testing import hidden_rng\n"
    "rng = hidden_rng()\n"
    "x = rng.normal(size=(int(rng.integers(1, 6)), 3))\n"
    "np.testing.assert_allclose(double(x), 2 * x)\n"
    "### END HIDDEN TESTS\n"
)


def hidden_input(seed: int) -> np.ndarray:
    """The input the hidden test draws for ``seed`` (the same code as TEST)."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(int(rng.integers(1, 6)), 3))


def hardcoded(x: np.ndarray) -> str:
    """An answer that returns precomputed outputs for the inputs it saw, and only those."""
    return (
        "_TABLE = {repr(1.0): 2.0, " + repr(repr(x.round(12).tolist())) + ": "
        f"np.array({(2 * x).tolist()!r})}}\n"
        "def double(x):\n"
        "    key = repr(np.asarray(x, dtype=float).round(12).tolist())\n"
        "    return _TABLE.get(key, np.zeros(np.shape(x)))\n"
    )


def notebook(answer: str, hidden: bool) -> nbformat.NotebookNode:
    def nbg(gid: str, **kw) -> dict:
        return {"nbgrader": {"grade_id": gid, "schema_version": 3, **kw}}

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    test = TEST if hidden else TEST.split("### BEGIN")[0]
    nb.cells = [
        nbformat.v4.new_code_cell("import numpy as np"),
        nbformat.v4.new_code_cell(
            answer, metadata=nbg("double", grade=False, solution=True, locked=False)
        ),
        nbformat.v4.new_code_cell(
            test,
            metadata=nbg("test_double", grade=True, solution=False, locked=True, points=2.0),
        ),
    ]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"c{i}"
    return nb


def grade(course: Path, subs: Path, out: Path, *extra: str) -> int:
    argv = ["grade", ASSIGNMENT, str(subs), "--out", str(out), "--course-root", str(course)]
    return main([*argv, "--db", f"sqlite:///{out}.gradebook.db", "--workers", "2", *extra])


def rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as fh:
        return {row["student_id"]: row for row in csv.DictReader(fh)}


# ---------------------------------------------------------------- fast unit tests
def test_seed_is_the_hmac_of_assignment_and_student():
    import hashlib
    import hmac

    digest = hmac.new(b"k", b"02_rnn_forward\0alice", hashlib.sha256).digest()
    assert student_seed(b"k", "02_rnn_forward", "alice") == int.from_bytes(digest[:8], "big")
    seeds = {student_seed(b"k", a, s) for a in ("01", "02") for s in ("alice", "bob")}
    assert len(seeds) == 4  # no two (assignment, student) pairs share a seed
    assert student_seed(b"other", "01", "alice") != student_seed(b"k", "01", "alice")
    # "a\0bc" and "ab\0c" must not collide: the separator keeps the fields apart
    assert student_seed(b"k", "a", "bc") != student_seed(b"k", "ab", "c")


def test_hidden_rng_uses_the_seed_handed_over_and_a_fixed_default():
    try:
        testing.use_hidden_seed(None)
        assert testing.hidden_seed() == testing.DEFAULT_HIDDEN_SEED
        default = testing.hidden_rng().random(3)
        np.testing.assert_array_equal(default, testing.hidden_rng().random(3))
        testing.use_hidden_seed(2**64 - 1)
        assert testing.hidden_seed() == 2**64 - 1
        assert not np.array_equal(testing.hidden_rng().random(3), default)
    finally:
        testing.use_hidden_seed(None)


def test_secret_from_file_env_or_created(tmp_path, monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    log = io.StringIO()
    secret = load_secret(None, tmp_path, log)
    path = tmp_path / ".course_rnn_secret"
    assert path.read_text().strip().encode() == secret and len(secret) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert log.getvalue().count("\n") == 1 and str(path) in log.getvalue()
    again = io.StringIO()
    assert load_secret(None, tmp_path, again) == secret and again.getvalue() == ""
    monkeypatch.setenv(SECRET_ENV, "from-the-environment")
    assert load_secret(None, tmp_path, again) == b"from-the-environment"
    own = tmp_path / "own"
    own.write_text("mine\n")
    assert load_secret(own, tmp_path, again) == b"mine"  # the file named wins
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        load_secret(tmp_path / "empty", tmp_path, again)


# ---------------------------------------------------------------- one graded class
@pytest.fixture(scope="module")
def graded(tmp_path_factory, request):
    """Four students graded once with the course's default secret (created by `grade`)."""
    mp = pytest.MonkeyPatch()
    request.addfinalizer(mp.undo)
    mp.delenv(SECRET_ENV, raising=False)
    base = tmp_path_factory.mktemp("hidden")
    course = base / "course"
    (course / "solutions" / ASSIGNMENT).mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(CONFIG)
    nbformat.write(notebook(ANSWER, True), str(course / "solutions" / ASSIGNMENT / "hid.ipynb"))
    # The secret does not exist yet: the answers hard-coded to alice's hidden input are
    # made with the seed that `grade` will derive from the secret it creates, so create
    # it the same way first and check below that `grade` reuses it.
    secret = load_secret(None, course, io.StringIO())
    x_alice = hidden_input(student_seed(secret, ASSIGNMENT, "alice"))
    subs = base / "subs"
    answers = {
        "alice": hardcoded(x_alice),
        "bob": hardcoded(x_alice),
        "carol": ANSWER,
        "dave": ANSWER,
    }
    for student, answer in answers.items():
        (subs / student).mkdir(parents=True)
        nbformat.write(notebook(answer, False), str(subs / student / "hid.ipynb"))
    out = base / "out"
    assert grade(course, subs, out) == 0
    return course, subs, out, secret


@pytest.mark.grading
def test_grade_creates_and_says_where_the_secret_is(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    course = tmp_path / "course"
    (course / "solutions" / ASSIGNMENT).mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(CONFIG)
    nbformat.write(notebook(ANSWER, True), str(course / "solutions" / ASSIGNMENT / "hid.ipynb"))
    (tmp_path / "subs").mkdir()  # nobody handed in: the run still needs the secret
    assert grade(course, tmp_path / "subs", tmp_path / "out") == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if "secret" in line]
    assert printed == [f"created the course secret {course / '.course_rnn_secret'} "
                       "(keep it private and out of git)"]  # fmt: skip
    assert stat.S_IMODE((course / ".course_rnn_secret").stat().st_mode) == 0o600


@pytest.mark.grading
def test_identical_correct_answers_both_get_full_marks_with_different_seeds(graded):
    course, _, out, secret = graded
    grades, seeds = rows(out / "grades.csv"), rows(out / "seeds.csv")
    assert float(grades["carol"]["raw_score"]) == float(grades["dave"]["raw_score"]) == 2.0
    assert seeds["carol"]["hidden_seed"] != seeds["dave"]["hidden_seed"]
    for student, row in seeds.items():
        assert int(row["hidden_seed"]) == student_seed(secret, ASSIGNMENT, student)
        assert row["assignment"] == ASSIGNMENT


@pytest.mark.grading
def test_answer_hardcoded_to_another_students_inputs_fails(graded):
    _, _, out, _ = graded
    grades = rows(out / "grades.csv")
    assert float(grades["alice"]["raw_score"]) == 2.0  # her own hidden input: it "works"
    assert float(grades["bob"]["raw_score"]) == 0.0  # bob's hidden input differs
    page = (out / "feedback" / "bob" / ASSIGNMENT / "hid.html").read_text()
    assert "hidden_rng" not in page  # the hidden test's source stays hidden


@pytest.mark.grading
def test_second_run_gives_byte_identical_grades(graded, tmp_path):
    course, subs, out, _ = graded
    again = tmp_path / "again"
    assert grade(course, subs, again, "--secret-file", str(course / ".course_rnn_secret")) == 0
    assert (again / "grades.csv").read_bytes() == (out / "grades.csv").read_bytes()
    assert (again / "seeds.csv").read_bytes() == (out / "seeds.csv").read_bytes()


@pytest.mark.grading
def test_regrading_one_student_gives_the_same_score_and_seed(graded, tmp_path, capsys):
    course, subs, out, _ = graded
    before = {n: (out / n).read_bytes() for n in ("grades.csv", "seeds.csv")}
    alone = tmp_path / "alone"
    assert grade(course, subs, alone, "--student", "bob") == 0
    assert list(rows(alone / "grades.csv")) == ["bob"]
    assert rows(alone / "grades.csv")["bob"] == rows(out / "grades.csv")["bob"]
    assert rows(alone / "seeds.csv")["bob"] == rows(out / "seeds.csv")["bob"]
    # In the class's own output folder: bob is regraded, the others are kept as they were.
    capsys.readouterr()
    assert grade(course, subs, out, "--student", "bob") == 0
    printed = capsys.readouterr().out
    assert "grading 1 student(s)" in printed and "reusing 3 student(s)" in printed
    assert {n: (out / n).read_bytes() for n in before} == before
    assert grade(course, subs, alone, "--student", "nobody") == 2


@pytest.mark.grading
def test_the_secret_is_written_nowhere_but_its_own_file(graded):
    course, subs, out, secret = graded
    secret_file = course / ".course_rnn_secret"
    files = [p for root in (course, subs, out) for p in root.rglob("*") if p.is_file()]
    files += [p for p in Path(f"{out}.gradebook.db").parent.glob("*.db") if p.is_file()]
    repo_exercises = Path(__file__).resolve().parents[1] / "exercises"
    files += [p for p in repo_exercises.rglob("*") if p.is_file()]
    leaks = [p for p in files if p != secret_file and secret in p.read_bytes()]
    assert files and not leaks
    assert os.environ.get(SECRET_ENV) is None
