"""End-to-end tests of ``course-rnn grade`` on generated submissions.

The tiny course (tests/fixtures/tiny_course) keeps most tests fast: one notebook, two
autograded tests with hidden parts (2 + 3 points) and one manually graded answer (1
point). One test grades a real assignment from solutions/ when it exists.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import datetime
from pathlib import Path

import nbformat
import pytest
from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions

from course_rnn.cli import main
from course_rnn.grading.late import parse_due, parse_lms_timestamp, parse_penalty
from course_rnn.grading.submissions import discover, validate_student_id

pytestmark = pytest.mark.grading

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "fixtures" / "tiny_course"
TINY_SOURCE = TINY / "solutions" / "tiny" / "tiny.ipynb"
HIDDEN_SOURCE_LINES = ("assert square(-7) == 49", "assert add(-10, 4) == -6")


# ---------------------------------------------------------------- submission makers
def release(source: Path) -> nbformat.NotebookNode:
    """The student version of ``source``, made with nbgrader's own preprocessors."""
    nb = nbformat.read(str(source), as_version=4)
    resources: dict = {}
    for step in (ClearSolutions(), ClearHiddenTests(), ClearOutput()):
        nb, resources = step.preprocess(nb, resources)
    return nb


def answered(source: Path, overrides: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """The released notebook with every answer cell filled from the source solution,
    except the grade ids in ``overrides``, which get the given text."""
    solved = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in nbformat.read(str(source), as_version=4).cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    solved.update(overrides or {})
    nb = release(source)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and gid in solved:
            cell.source = solved[gid]
    return nb


def put(folder: Path, student: str, notebook: str, nb_or_bytes) -> Path:
    path = folder / student / f"{notebook}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(nb_or_bytes, bytes):
        path.write_bytes(nb_or_bytes)
    else:
        nbformat.write(nb_or_bytes, str(path))
    return path


WRONG_ADD = 'def add(a, b):\n    """Return a plus b."""\n    return a - b\n'
HARDCODED_SQUARE = "def square(x):\n    return 9\n"


def tiny_class(folder: Path) -> Path:
    """Submissions covering the cases the issue names, for the tiny assignment."""
    put(folder, "correct", "tiny", answered(TINY_SOURCE))
    put(folder, "blank", "tiny", release(TINY_SOURCE))
    put(folder, "wrong_add", "tiny", answered(TINY_SOURCE, {"add_answer": WRONG_ADD}))
    put(folder, "hardcoded", "tiny", answered(TINY_SOURCE, {"square_answer": HARDCODED_SQUARE}))
    put(folder, "malformed", "tiny", b'{"cells": [ this is not json')
    return folder


def grade(assignment: str, submissions: Path, out: Path, *extra: str, course=TINY) -> int:
    db = f"sqlite:///{out}.gradebook.db"
    argv = ["grade", assignment, str(submissions), "--out", str(out), "--course-root", str(course)]
    if "--db" not in extra:
        argv += ["--db", db]
    return main(argv + list(extra))


def read_grades(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as fh:
        return {row["student_id"]: row for row in csv.DictReader(fh)}


# ---------------------------------------------------------------- shared graded runs
@pytest.fixture(scope="module")
def tiny_parallel(tmp_path_factory) -> tuple[Path, Path, str]:
    """The tiny class graded once with 2 workers: (submissions, out, printed output)."""
    base = tmp_path_factory.mktemp("tiny_parallel")
    subs = tiny_class(base / "subs")
    out = base / "out"
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = grade("tiny", subs, out, "--workers", "2")
    assert code == 0
    return subs, out, buffer.getvalue()


def test_correct_submission_gets_every_autograded_point(tiny_parallel):
    _, out, _ = tiny_parallel
    grades = read_grades(out / "grades.csv")
    # 2 + 3 autograded points; the written answer (1 point) waits for manual grading.
    assert float(grades["correct"]["score"]) == 5.0
    assert float(grades["correct"]["max_score"]) == 6.0


def test_blank_submission_scores_zero(tiny_parallel):
    _, out, _ = tiny_parallel
    assert float(read_grades(out / "grades.csv")["blank"]["score"]) == 0.0


def test_one_wrong_part_loses_exactly_its_points(tiny_parallel):
    _, out, _ = tiny_parallel
    grades = read_grades(out / "grades.csv")
    assert float(grades["wrong_add"]["score"]) == 2.0  # test_add (3 points) lost
    assert float(grades["hardcoded"]["score"]) == 3.0  # hidden test of square caught it


def test_malformed_notebook_is_reported_and_the_run_completes(tiny_parallel):
    _, out, printed = tiny_parallel
    grades = read_grades(out / "grades.csv")
    assert set(grades) == {"correct", "blank", "wrong_add", "hardcoded", "malformed"}
    assert float(grades["malformed"]["score"]) == 0.0
    report = (out / "report.md").read_text()
    section = report.split("## Submissions that could not be graded fully")[1].split("##")[0]
    assert "malformed" in section
    assert "malformed" in printed.split("lost points to problems")[1]
    # Progress: one line per student as each finishes, then the summary.
    assert all(f"[{i}/5]" in printed for i in range(1, 6))
    assert "tiny: 5 student(s) in grades.csv" in printed


def test_grades_csv_has_nbgrader_export_columns(tiny_parallel):
    _, out, _ = tiny_parallel
    header = (out / "grades.csv").read_text().splitlines()[0].split(",")
    assert header == [
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
    ]
    assert {row["assignment"] for row in read_grades(out / "grades.csv").values()} == {"tiny"}


def test_feedback_shows_each_test_and_never_hidden_test_source(tiny_parallel):
    _, out, _ = tiny_parallel
    page = (out / "feedback" / "hardcoded" / "tiny" / "tiny.html").read_text()
    assert "test_square" in page and "test_add" in page and "explain" in page
    assert "failed" in page and "passed" in page
    assert "0 / 2" in page and "3 / 3" in page
    for student in ("correct", "blank", "wrong_add", "hardcoded", "malformed"):
        html = (out / "feedback" / student / "tiny" / "tiny.html").read_text()
        assert "BEGIN HIDDEN TESTS" not in html
        for line in HIDDEN_SOURCE_LINES:
            assert line not in html, f"hidden test source leaked into {student}'s feedback"
    correct = (out / "feedback" / "correct" / "tiny" / "tiny.html").read_text()
    assert "awaiting manual grading" in correct  # the written answer goes to the formgrader
    for student in ("blank", "malformed"):  # left as released; lost with the broken file
        page = (out / "feedback" / student / "tiny" / "tiny.html").read_text()
        assert "no answer was given" in page and "awaiting manual grading" not in page
    wrong = (out / "feedback" / "wrong_add" / "tiny" / "tiny.html").read_text()
    assert "add(2, 3) should be 5, got -1" in wrong  # the visible test's message


def test_class_report_has_plots_and_pass_rates(tiny_parallel):
    _, out, _ = tiny_parallel
    for name in ("score_histogram.png", "pass_rates.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    # test_square passed by correct and wrong_add, test_add by correct and hardcoded: 2 of
    # the 3 students who answered (blank and malformed are counted apart, not as failures)
    assert "| `tiny/test_square` | 67% |" in report
    assert "| `tiny/test_add` | 67% |" in report
    assert "<table>" in (out / "report.html").read_text()


def test_rerun_gives_identical_grades_without_regrading(tiny_parallel, capsys):
    subs, out, _ = tiny_parallel
    before = (out / "grades.csv").read_text()
    assert grade("tiny", subs, out, "--workers", "2") == 0
    printed = capsys.readouterr().out
    assert "reusing 5 student(s)" in printed
    assert "grading " not in printed
    assert (out / "grades.csv").read_text() == before


def test_serial_run_from_a_zip_equals_parallel_run(tiny_parallel, tmp_path):
    subs, out, _ = tiny_parallel
    archive = tmp_path / "lms_download.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(subs.rglob("*")):
            if path.is_file():  # wrapped in one top folder, as LMS downloads are
                zf.write(path, Path("Submissions") / path.relative_to(subs))
    serial = tmp_path / "serial"
    assert grade("tiny", archive, serial, "--workers", "1") == 0
    assert (serial / "grades.csv").read_text() == (out / "grades.csv").read_text()


def test_unsafe_zip_members_and_bad_student_ids_are_rejected_with_reasons(tmp_path, capsys):
    archive = tmp_path / "lms.zip"
    good = nbformat.writes(answered(TINY_SOURCE))
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../escaped.ipynb", "{}")
        zf.writestr("/abs/x.ipynb", "{}")
        zf.writestr("rm -rf;x/tiny.ipynb", good)
        zf.writestr("-dash/tiny.ipynb", good)
        zf.writestr("ok_student/tiny.ipynb", good)
    out = tmp_path / "out"
    assert grade("tiny", archive, out, "--workers", "1") == 0
    assert not (tmp_path / "escaped.ipynb").exists()
    assert set(read_grades(out / "grades.csv")) == {"ok_student"}
    printed = capsys.readouterr().out
    assert "rejected 'rm -rf;x'" in printed and "' '" in printed and "';'" in printed
    assert "rejected '-dash'" in printed and "starts with '-'" in printed
    report = (out / "report.md").read_text()
    assert "'..' in a zip member path" in report and "absolute path in zip" in report
    assert "rm -rf;x" in report


@pytest.mark.parametrize(
    ("student_id", "ok"),
    [
        ("s123", True),
        ("jo.smith@uni.edu", True),
        ("a..b", False),
        ("../x", False),
        ("", False),
        ("ünï", False),
        ("x" * 101, False),
        ("x$(id)", False),
    ],
)
def test_student_id_validation(student_id, ok):
    assert (validate_student_id(student_id) is None) == ok


def test_late_penalty_uses_timestamps_parsed_from_lms_names(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    nb = nbformat.writes(answered(TINY_SOURCE))
    # Blackboard flat files: 2 h late (1 started day), 30 h late (2 started days).
    for student, stamp in [("late2h", "2026-03-02-02-00-00"), ("late30h", "2026-03-03-06-00-00")]:
        (subs / f"Tiny_{student}_attempt_{stamp}_tiny.ipynb").write_text(nb)
    # An older, blank attempt is ignored: the latest attempt counts.
    blank = nbformat.writes(release(TINY_SOURCE))
    (subs / "Tiny_late2h_attempt_2026-03-01-10-00-00_tiny.ipynb").write_text(blank)
    out = tmp_path / "out"
    code = grade(
        "tiny",
        subs,
        out,
        "--workers",
        "2",
        "--due",
        "2026-03-02T00:00",
        "--late-penalty",
        "10%/day,max=50%",
    )
    assert code == 0
    grades = read_grades(out / "grades.csv")
    assert float(grades["late2h"]["raw_score"]) == 5.0
    assert float(grades["late2h"]["late_submission_penalty"]) == pytest.approx(0.5)
    assert float(grades["late2h"]["score"]) == pytest.approx(4.5)
    assert float(grades["late30h"]["late_submission_penalty"]) == pytest.approx(1.0)
    assert grades["late30h"]["timestamp"] == "2026-03-03 06:00:00"
    assert grades["late30h"]["duedate"] == "2026-03-02 00:00:00"


def test_lms_timestamp_parsing():
    assert parse_lms_timestamp("HW_bob_attempt_2026-03-01-23-59-58_a.ipynb") == datetime(
        2026, 3, 1, 23, 59, 58
    )
    # Blackboard times are the server's local time: 23:59 in Berlin (UTC+1) is 22:59 UTC.
    assert parse_lms_timestamp(
        "HW_bob_attempt_2026-03-01-23-59-58_a.ipynb", "Europe/Berlin"
    ) == datetime(2026, 3, 1, 22, 59, 58)
    assert parse_lms_timestamp("123-45 - Smith, Jo - Mar 1, 2026 1159 PM - a.ipynb") == datetime(
        2026, 3, 1, 23, 59
    )
    assert parse_lms_timestamp("bob_2026-03-01T10-00-00+02:00.ipynb") == datetime(2026, 3, 1, 8)
    assert parse_lms_timestamp("plain_name.ipynb") is None
    assert parse_due("2026-03-01") == datetime(2026, 3, 1, 23, 59, 59)


def test_late_penalty_spec_errors_are_clear():
    assert parse_penalty("10%/day,max=50%").penalty(10.0, 3 * 86400) == pytest.approx(3.0)
    assert parse_penalty("zero").penalty(7.0, 1.0) == 7.0
    assert parse_penalty("10%/day").penalty(7.0, 0.0) == 0.0  # on time
    assert parse_penalty("2%/hour,grace=15m").penalty(10.0, 600) == 0.0
    with pytest.raises(ValueError, match="expected 'none', 'zero' or"):
        parse_penalty("ten percent")


def test_student_folder_notebook_matching(tmp_path):
    put(tmp_path, "amy", "tiny-1", answered(TINY_SOURCE))  # LMS re-submission suffix
    put(tmp_path, "ben", "whatever", answered(TINY_SOURCE))  # the only notebook: used
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "notes.txt").write_text("no notebook")
    subs, rejected = discover(tmp_path, ["tiny"])
    assert [s.student_id for s in subs] == ["amy", "ben", "cat"]
    assert subs[0].files["tiny"].name == "tiny-1.ipynb"
    assert subs[1].files["tiny"].name == "whatever.ipynb"
    assert subs[2].files == {} and "no notebook" in subs[2].notes[0]
    assert rejected == []


def test_unknown_assignment_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "subs").mkdir()
    assert grade("nope", tmp_path / "subs", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "no source notebook for assignment 'nope'" in err and "tiny" in err


def test_interrupted_run_resumes_without_regrading_finished_students(tmp_path):
    subs = tmp_path / "subs"
    # Ctrl-C must land mid-run: warm runners grade a student in about 0.1 s, so s03's
    # correct answer takes 4 s first (students are graded in order, one worker).
    n = 24
    slow_add = "import time\ntime.sleep(4)\n\n" + WRONG_ADD.replace("a - b", "a + b")
    for i in range(n):
        overrides = {"add_answer": slow_add} if i == 3 else None
        put(subs, f"s{i:02d}", "tiny", answered(TINY_SOURCE, overrides))
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "course_rnn",
        "grade",
        "tiny",
        str(subs),
        "--out",
        str(out),
        "--course-root",
        str(TINY),
        "--db",
        f"sqlite:///{tmp_path}/gb.db",
        "--workers",
        "1",
    ]
    # A suite started in the background (`make test &`) ignores SIGINT, and so would the
    # command: give it the default disposition, as an instructor's terminal does.
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    state = out / ".grading"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(state.glob("s*.json"))) < 1:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    first, _ = proc.communicate(timeout=120)
    finished = sorted(p.stem for p in state.glob("s*.json"))
    assert 1 <= len(finished) < n, first
    assert proc.returncode == 130 and "run the same command again to resume" in first
    assert not (out / "grades.csv").exists()
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True).stdout
    assert f"reusing {len(finished)} student(s)" in second
    for student in finished:
        assert f"] {student} " not in second  # not graded again
    grades = read_grades(out / "grades.csv")
    assert sorted(grades) == [f"s{i:02d}" for i in range(n)]
    assert all(float(row["score"]) == 5.0 for row in grades.values())


def test_regrading_keeps_manual_grades_and_scores_unanswered_written_answers(tmp_path):
    from nbgrader.api import Gradebook

    from course_rnn.grading.gradebook import record_student, register_assignment, student_scores
    from course_rnn.grading.results import NotebookOutcome, StudentOutcome, TestResult

    db = f"sqlite:///{tmp_path}/gb.db"
    info = register_assignment(db, "tiny", {"tiny": TINY_SOURCE})
    gb = Gradebook(db)
    assert info.max_score == 6.0
    outcome = StudentOutcome(
        "amy",
        {
            "tiny": NotebookOutcome(
                tests=[
                    TestResult("test_square", 2.0, 2.0, True, ""),
                    TestResult("test_add", 0.0, 2.0, False, "AssertionError"),
                ],
                answers={"explain": "Because minus times minus is plus."},
            )
        },
    )
    record_student(gb, info, "amy", None, outcome)
    scores = student_scores(gb, info, "amy")
    assert scores["score"] == 2.0 and scores["notebooks"]["tiny"]["explain"]["pending"]
    with Gradebook(db) as grader:  # the formgrader, in another session
        grader.find_grade("explain", "tiny", "tiny", "amy").manual_score = 1.0
        grader.db.commit()
    gb.db.expire_all()
    record_student(gb, info, "amy", None, outcome)  # a regrade
    assert student_scores(gb, info, "amy")["score"] == 3.0
    # The written answer left as released scores 0 without waiting for a human.
    unanswered = StudentOutcome(
        "ben", {"tiny": NotebookOutcome(answers={"explain": "YOUR ANSWER HERE"})}
    )
    record_student(gb, info, "ben", None, unanswered)
    explain = student_scores(gb, info, "ben")["notebooks"]["tiny"]["explain"]
    assert explain["score"] == 0.0 and not explain["pending"]
    gb.close()


# ---------------------------------------------------------------- PostgreSQL
def _start_postgres(folder: Path) -> tuple[str, callable]:
    """Start a throw-away PostgreSQL server; return (db_url, stop).

    The README calls the PostgreSQL server optional: without it the test is skipped
    locally, but fails under CI (``CI`` set), where ``.ci/run`` installs it. Anything
    else that goes wrong once it is installed is a failure, never a skip.
    """
    bindirs = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not bindirs:
        reason = "PostgreSQL server not installed (Debian package 'postgresql')"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    import psycopg  # noqa: F401  (SQLAlchemy's driver; pinned in requirements.txt)

    bindir = bindirs[-1]
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        assert shutil.which("runuser"), "running as root without runuser: cannot start PostgreSQL"
        as_user = ["runuser", "-u", "postgres", "--"]
    data, sock = folder / "pgdata", folder / "pgsock"
    sock.mkdir(parents=True)
    data.mkdir()
    if as_user:
        shutil.chown(folder, "postgres")
        shutil.chown(data, "postgres")
        shutil.chown(sock, "postgres")
    init = subprocess.run(
        as_user + [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "grader"],
        capture_output=True,
        text=True,
    )
    assert init.returncode == 0, f"initdb failed: {init.stderr.strip()[:500]}"
    port = str(20000 + os.getpid() % 20000)
    start = subprocess.run(
        as_user
        + [
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-l",
            str(folder / "pg.log"),
            "-o",
            f"-k {sock} -p {port} -c listen_addresses=''",
            "start",
        ],
        capture_output=True,
        text=True,
    )
    assert start.returncode == 0, f"PostgreSQL did not start: {start.stderr.strip()[:500]}"

    def stop() -> None:
        subprocess.run(
            as_user + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )

    created = subprocess.run(
        as_user + [str(bindir / "createdb"), "-h", str(sock), "-p", port, "-U", "grader", "gb"],
        capture_output=True,
        text=True,
    )
    if created.returncode != 0:
        stop()
        pytest.fail(f"createdb failed: {created.stderr.strip()[:500]}")
    return f"postgresql://grader@/gb?host={sock}&port={port}", stop


@pytest.mark.slow
def test_postgresql_gradebook_gives_the_same_grades(tiny_parallel, tmp_path_factory):
    subs, out, _ = tiny_parallel
    some = tmp_path_factory.mktemp("pg_subs")
    for student in ("correct", "wrong_add"):  # two students keep the test short
        shutil.copytree(subs / student, some / student)
    # The server runs as the postgres user, who cannot enter pytest's private tmp folders.
    base = Path(tempfile.mkdtemp(prefix="course-rnn-pg-"))
    try:
        url, stop = _start_postgres(base)
        try:
            pg_out = tmp_path_factory.mktemp("pg") / "out"
            assert grade("tiny", some, pg_out, "--workers", "2", "--db", url) == 0
            sqlite_rows = read_grades(out / "grades.csv")
            pg_rows = read_grades(pg_out / "grades.csv")
            assert pg_rows == {k: sqlite_rows[k] for k in ("correct", "wrong_add")}
        finally:
            stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------- a real assignment
REAL = "02_rnn_forward"


@pytest.mark.slow
def test_real_assignment_correct_blank_and_one_part_wrong(tmp_path):
    source = REPO / "solutions" / REAL / f"{REAL}.ipynb"
    assert source.exists(), f"{source} is missing"
    src = nbformat.read(str(source), as_version=4)
    tests = [
        c
        for c in src.cells
        if c.metadata.get("nbgrader", {}).get("grade")
        and not c.metadata["nbgrader"].get("solution")
    ]
    answers = [
        c
        for c in src.cells
        if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"
    ]
    auto_max = sum(float(c.metadata["nbgrader"]["points"]) for c in tests)
    # "One part wrong": the last answer cell is left as released (it raises
    # NotImplementedError), so exactly the tests after it, which check that part, fail.
    last = answers[-1]
    last_gid = last.metadata["nbgrader"]["grade_id"]
    stub = next(
        c.source
        for c in release(source).cells
        if c.metadata.get("nbgrader", {}).get("grade_id") == last_gid
    )
    lost = sum(
        float(c.metadata["nbgrader"]["points"])
        for c in tests
        if src.cells.index(c) > src.cells.index(last)
    )
    subs = tmp_path / "subs"
    put(subs, "correct", REAL, answered(source))
    put(subs, "blank", REAL, release(source))
    put(subs, "one_wrong", REAL, answered(source, {last_gid: stub}))
    out = tmp_path / "out"
    assert grade(REAL, subs, out, "--workers", "2", course=REPO) == 0
    grades = read_grades(out / "grades.csv")
    assert float(grades["correct"]["score"]) == pytest.approx(auto_max)
    assert float(grades["blank"]["score"]) == 0.0
    assert float(grades["one_wrong"]["score"]) == pytest.approx(auto_max - lost)
    assert lost > 0
    hidden = [
        line.strip()
        for c in tests
        if "### BEGIN HIDDEN TESTS" in c.source
        for line in c.source.split("### BEGIN HIDDEN TESTS")[1]
        .split("### END HIDDEN TESTS")[0]
        .splitlines()
        if len(line.strip()) > 20
    ]
    assert hidden, "the real assignment should have hidden tests"
    for student in ("correct", "blank", "one_wrong"):
        page = (out / "feedback" / student / REAL / f"{REAL}.html").read_text()
        assert not [line for line in hidden if line in page], student


def test_in_process_schema_version_matches_nbgraders_alembic_command(monkeypatch):
    import nbgrader.api

    from course_rnn.grading import gradebook

    original = gradebook._NBGRADER_ALEMBIC_VERSION
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    gradebook.use_in_process_alembic()
    assert nbgrader.api.get_alembic_version is gradebook._alembic_head
    assert original() == gradebook._alembic_head()


# ------------------------------------------------- the input side under attack
def _old(path: Path, seconds: float) -> None:
    os.utime(path, (seconds, seconds))


def test_a_hostile_class_folder_never_stops_the_run(tmp_path, capsys):
    """Every read failure is a row or a listed entry with its reason; the class is graded."""
    subs = tmp_path / "subs"
    good, blank = answered(TINY_SOURCE), release(TINY_SOURCE)
    put(subs, "ok1", "tiny", good)
    plot = answered(TINY_SOURCE)  # displayed output: the autograded notebook must stay valid
    cell = nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([1, 2])\n1 + 1")
    del cell["id"]  # the tiny source is nbformat 4.4: no cell ids
    plot.cells.insert(1, cell)
    put(subs, "ok2", "tiny", plot)
    (subs / "ok2" / "x\x1b[31m<i>.ipynb").write_text("{}")  # a name with ANSI and markup
    (subs / "dir_as_nb" / "tiny.ipynb").mkdir(parents=True)
    for student, stamp in (
        ("absurd", "9999-12-31 23:59:59 -12:00"),
        ("impossible", "2026-02-30 10:00"),
    ):
        put(subs, student, "tiny", good)
        (subs / student / "timestamp.txt").write_text(stamp)
    (subs / "Tiny_lms_attempt_2026-13-45-10-00-00_tiny.ipynb").write_text(nbformat.writes(good))
    (subs / "bad\nname").mkdir()
    (subs / "<img src=x onerror=alert(1)>").mkdir()
    (subs / "linked" / "sub").mkdir(parents=True)
    (subs / "linked" / "sub" / "tiny.ipynb").symlink_to(TINY_SOURCE)  # the solutions!
    (subs / "linked_dir").mkdir()
    (subs / "linked_dir" / "d").symlink_to(TINY_SOURCE.parent, target_is_directory=True)
    put(subs, "two", "tiny", blank)
    _old(subs / "two" / "tiny.ipynb", 1_700_000_000)
    (subs / "two" / "tiny (1).ipynb").write_text(nbformat.writes(good))
    put(subs, ".hidden", "tiny", good)
    (subs / "fifo").mkdir()
    os.mkfifo(subs / "fifo" / "tiny.ipynb")
    out = tmp_path / "out"
    assert grade("tiny", subs, out, "--workers", "2") == 0
    printed = capsys.readouterr().out
    grades = {k: float(v["score"]) for k, v in read_grades(out / "grades.csv").items()}
    assert grades == {
        "absurd": 5.0, "dir_as_nb": 0.0, "fifo": 0.0, "impossible": 5.0, "linked": 0.0,
        "linked_dir": 0.0, "ok1": 5.0, "ok2": 5.0, "two": 5.0,
    }  # fmt: skip
    assert "\x1b" not in printed and "\\x1b" in printed
    for reason in (
        "skipped '.hidden': hidden",
        "impossible date",
        "a student id must be",
        "symbolic link; refused",
        "is a folder, not a notebook file",
        "is not a regular file",
        "timestamp.txt ignored",
        "graded the newest",
    ):
        assert reason in printed, reason
    report = (out / "report.md").read_text()
    assert "<" not in report and "\x1b" not in report
    assert "hidden" in report and "symbolic link" in report and "graded the newest" in report
    feedback = (out / "feedback" / "two" / "tiny" / "tiny.html").read_text()
    assert "File graded: <code>tiny (1).ipynb</code>" in feedback
    assert "graded the newest" in feedback
    linked = (out / "feedback" / "linked" / "tiny" / "tiny.html").read_text()
    assert "symbolic link; refused" in linked and str(tmp_path) not in linked
    autograded = sorted((out / "autograded").rglob("*.ipynb"))
    assert len(autograded) == 5  # ok1, ok2, absurd, impossible, two: no file read elsewhere
    for path in autograded:
        nbformat.validate(nbformat.read(str(path), as_version=4))


def _lie_about_size(archive: Path, member: str, declared: int) -> None:
    """Patch a stored member's declared size (local header and central directory)."""
    data = bytearray(archive.read_bytes())
    name = member.encode()
    local, central = data.find(name), data.rfind(name)
    data[local - 30 + 22 : local - 30 + 26] = declared.to_bytes(4, "little")
    data[central - 46 + 24 : central - 46 + 28] = declared.to_bytes(4, "little")
    archive.write_bytes(bytes(data))


def test_a_malformed_zip_never_stops_the_run(tmp_path, capsys):
    good = nbformat.writes(answered(TINY_SOURCE))
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok/tiny.ipynb", good)
        zf.writestr("long/" + "x" * 300 + ".ipynb", good)
        zf.writestr("clash/tiny.ipynb", good)
        zf.writestr("clash/tiny.ipynb/inner.ipynb", good)
        zf.writestr("deep/" + "d/" * 30 + "tiny.ipynb", good)
        zf.writestr("dup/tiny.ipynb", good)
        with pytest.warns(UserWarning, match="Duplicate name"):
            zf.writestr("dup/tiny.ipynb", "{}")
        zf.writestr("liar/tiny.ipynb", good)
    _lie_about_size(archive, "liar/tiny.ipynb", 100)
    out = tmp_path / "out"
    assert grade("tiny", archive, out, "--workers", "1") == 0
    printed = capsys.readouterr().out
    grades = {k: float(v["score"]) for k, v in read_grades(out / "grades.csv").items()}
    assert grades["ok"] == 5.0 and grades["dup"] == 5.0 and grades["clash"] == 5.0
    assert grades["liar"] == 0.0  # its folder exists, its notebook was refused
    assert "long" not in grades and "deep" not in grades  # refused before any folder
    for reason in ("longer than 255 bytes", "clashes with a file", "folders deep",
                   "duplicate name in zip", "cannot be unpacked"):  # fmt: skip
        assert reason in printed, reason
    liar = (out / "feedback" / "liar" / "tiny" / "tiny.html").read_text()
    assert "in the zip: cannot be unpacked" in liar
