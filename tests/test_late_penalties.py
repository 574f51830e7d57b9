"""Late penalties from nbgrader's timestamp.txt, in both folder layouts ``grade`` reads.

nbgrader's exchange writes ``timestamp.txt`` with ``Exchange.timestamp_format``, by
default ``"%Y-%m-%d %H:%M:%S.%f %Z"`` in ``Exchange.timezone`` (UTC unless configured):
``2026-03-01 23:59:59.123456 UTC``, or ``... CET`` on a hub set to Europe/Berlin.
``nbgrader collect`` puts it in ``submitted/<student>/<assignment>/``; hand-made and
LMS folders have ``<student>/timestamp.txt``. The end-to-end tests grade the tiny
course (tests/fixtures/tiny_course) and compute each expected penalty from the policy's
definition: P% of the score per started day late, at most Q%.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
from datetime import datetime
from pathlib import Path

import nbformat
import pytest

from course_rnn.cli import main
from course_rnn.grading.late import parse_timestamp, read_timestamp_file
from course_rnn.grading.submissions import discover

pytestmark = pytest.mark.grading

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "fixtures" / "tiny_course"
TINY_SOURCE = TINY / "solutions" / "tiny" / "tiny.ipynb"
PERCENT_PER_DAY, CAP_PERCENT = 10.0, 50.0
POLICY = f"{PERCENT_PER_DAY:g}%/day,max={CAP_PERCENT:g}%"


# ------------------------------------------------------------------ timestamp.txt
@pytest.mark.parametrize(
    ("text", "zone", "utc"),
    [
        # nbgrader's default: UTC, microseconds.
        ("2026-03-01 23:59:59.123456 UTC", "UTC", datetime(2026, 3, 1, 23, 59, 59, 123456)),
        # The --timezone does not change a time that names its zone.
        (
            "2026-03-01 23:59:59.123456 UTC",
            "Europe/Berlin",
            datetime(2026, 3, 1, 23, 59, 59, 123456),
        ),
        # Fewer digits of a second, and none.
        ("2026-03-01 10:00:00.5 UTC", "UTC", datetime(2026, 3, 1, 10, 0, 0, 500000)),
        ("2026-03-01 10:00:00.123 UTC", "UTC", datetime(2026, 3, 1, 10, 0, 0, 123000)),
        ("2026-03-01 10:00:00 UTC", "UTC", datetime(2026, 3, 1, 10)),
        # Without a zone: read in --timezone (Berlin is UTC+1 in March).
        ("2026-03-01 10:00:00.250000", "Europe/Berlin", datetime(2026, 3, 1, 9, 0, 0, 250000)),
        ("2026-03-01 10:00:00", "UTC", datetime(2026, 3, 1, 10)),
        # A hub with Exchange.timezone = "Europe/Berlin" writes CET in winter, CEST in summer.
        ("2026-03-01 10:00:00.000001 CET", "Europe/Berlin", datetime(2026, 3, 1, 9, 0, 0, 1)),
        ("2026-07-01 10:00:00.000000 CEST", "Europe/Berlin", datetime(2026, 7, 1, 8)),
        # CET is also a zone of its own, so it is read right even with --timezone UTC.
        ("2026-03-01 10:00:00 CET", "UTC", datetime(2026, 3, 1, 9)),
        ("2026-07-01 10:00:00 EDT", "America/New_York", datetime(2026, 7, 1, 14)),
        # The hour that repeats when clocks go back: the abbreviation says which one.
        ("2026-10-25 02:30:00 CEST", "Europe/Berlin", datetime(2026, 10, 25, 0, 30)),
        ("2026-10-25 02:30:00 CET", "Europe/Berlin", datetime(2026, 10, 25, 1, 30)),
        # "%z" in timestamp_format, and ISO 8601.
        ("2026-03-01 10:00:00.123456 +0100", "UTC", datetime(2026, 3, 1, 9, 0, 0, 123456)),
        ("2026-03-01T10:00:00-05:00", "UTC", datetime(2026, 3, 1, 15)),
        ("2026-03-01T10:00:00Z", "Europe/Berlin", datetime(2026, 3, 1, 10)),
    ],
)
def test_nbgrader_timestamps_are_read_as_utc(text, zone, utc):
    assert parse_timestamp(text, zone) == utc


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "is empty"),
        ("soon", "expected a time such as"),
        ("2026-02-30 10:00:00.000000 UTC", "impossible date"),
        ("1970-01-01 00:00:00 UTC", "implausible time"),
        # IST is India, Ireland or Israel: not guessed.
        ("2026-03-01 10:00:00 IST", "unknown time zone 'IST'"),
        # EDT is not what --timezone UTC is called, nor a zone of its own.
        ("2026-07-01 10:00:00 EDT", "unknown time zone 'EDT'"),
        ("2026-03-01 10:00:00 +2500", "impossible time zone offset"),
        ("2026-03-01 10:00:00 UTC" + " " * 200, "longer than 200 bytes"),
    ],
)
def test_a_bad_timestamp_file_raises_with_its_reason(tmp_path, content, reason):
    path = tmp_path / "timestamp.txt"
    path.write_text(content)
    with pytest.raises(ValueError, match=reason):
        read_timestamp_file(path, "UTC")


# ------------------------------------------------------------ discovering the tree
def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_submitted_tree_reads_the_named_assignment_and_its_timestamp(tmp_path):
    submitted = tmp_path / "submitted"
    nb = nbformat.writes(nbformat.v4.new_notebook())
    # amy submitted two assignments; each has its own time.
    _write(submitted / "amy" / "tiny" / "tiny.ipynb", nb)
    _write(submitted / "amy" / "tiny" / "timestamp.txt", "2026-03-01 10:00:00.5 UTC")
    _write(submitted / "amy" / "tiny" / "submission_secret.txt", "x")
    _write(submitted / "amy" / "other" / "other.ipynb", nb)
    _write(submitted / "amy" / "other" / "timestamp.txt", "2026-04-01 10:00:00 UTC")
    # ben submitted only the other assignment: not a submission of tiny.
    _write(submitted / "ben" / "other" / "other.ipynb", nb)
    _write(submitted / "ben" / "other" / "timestamp.txt", "2026-04-01 10:00:00 UTC")
    # cat's timestamp is unreadable: a note, and the notebook is still found.
    _write(submitted / "cat" / "tiny" / "tiny.ipynb", nb)
    _write(submitted / "cat" / "tiny" / "timestamp.txt", "garbage")
    # dan's tiny/ is a link to amy's: refused, never followed.
    (submitted / "dan").mkdir()
    (submitted / "dan" / "tiny").symlink_to(submitted / "amy" / "tiny", target_is_directory=True)
    # eve handed in a plain <student>/<notebook>.ipynb folder: still read as one.
    _write(submitted / "eve" / "tiny.ipynb", nb)
    _write(submitted / "eve" / "timestamp.txt", "2026-03-02 10:00:00 UTC")

    subs, rejected = discover(submitted, ["tiny"], assignment="tiny")
    by_id = {s.student_id: s for s in subs}
    assert sorted(by_id) == ["amy", "cat", "dan", "eve"]
    assert by_id["amy"].files == {"tiny": submitted / "amy" / "tiny" / "tiny.ipynb"}
    assert by_id["amy"].timestamp == datetime(2026, 3, 1, 10, 0, 0, 500000)
    assert by_id["amy"].shown_name("tiny") == "tiny.ipynb"
    assert not any("other" in note for note in by_id["amy"].notes)  # other/ is not read
    assert by_id["cat"].files and by_id["cat"].timestamp is None
    assert any(n.startswith("timestamp.txt ignored") for n in by_id["cat"].notes)
    assert by_id["dan"].files == {} and "symbolic link" in by_id["dan"].notes[0]
    assert by_id["eve"].timestamp == datetime(2026, 3, 2, 10)
    # ben is said once, as skipped (not refused, and not a row that scores 0).
    assert [(r.entry, r.skipped) for r in rejected] == [("ben", True)]
    assert rejected[0].reason.startswith("no tiny/ folder")


def test_a_submitted_tree_of_one_student_is_not_unwrapped(tmp_path):
    nb = nbformat.writes(nbformat.v4.new_notebook())
    _write(tmp_path / "amy" / "tiny" / "tiny.ipynb", nb)
    _write(tmp_path / "amy" / "tiny" / "timestamp.txt", "2026-03-01 10:00:00 UTC")
    _write(tmp_path / "amy" / "other" / "other.ipynb", nb)
    subs, rejected = discover(tmp_path, ["tiny"], assignment="tiny")
    assert [(s.student_id, s.timestamp) for s in subs] == [("amy", datetime(2026, 3, 1, 10))]
    assert rejected == []


def test_a_flat_folder_is_read_as_before_when_given_the_assignment(tmp_path):
    nb = nbformat.writes(nbformat.v4.new_notebook())
    _write(tmp_path / "amy" / "tiny.ipynb", nb)
    _write(tmp_path / "amy" / "timestamp.txt", "2026-03-01 10:00:00.123456 CET")
    _write(tmp_path / "ben" / "work" / "tiny.ipynb", nb)  # no tiny/ anywhere: not a tree
    for assignment in (None, "tiny"):
        subs, rejected = discover(tmp_path, ["tiny"], "UTC", assignment=assignment)
        assert [s.student_id for s in subs] == ["amy", "ben"] and rejected == []
        assert subs[0].timestamp == datetime(2026, 3, 1, 9, 0, 0, 123456)
        assert subs[1].files == {"tiny": tmp_path / "ben" / "work" / "tiny.ipynb"}


# ------------------------------------------------------------------- end to end
def _solved() -> nbformat.NotebookNode:
    """The tiny notebook as released, with every answer filled from the source."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions

    source = nbformat.read(str(TINY_SOURCE), as_version=4)
    answers = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in source.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    resources: dict = {}
    for step in (ClearSolutions(), ClearHiddenTests(), ClearOutput()):
        source, resources = step.preprocess(source, resources)
    for cell in source.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    return source


def _expected_penalty(raw: float, submitted: datetime, due: datetime) -> float:
    """The policy's definition: P% of the score per started day late, at most Q%."""
    late_s = (submitted - due).total_seconds()
    if late_s <= 0:
        return 0.0
    return raw * min(PERCENT_PER_DAY * math.ceil(late_s / 86400), CAP_PERCENT) / 100


def _grade(submissions: Path, out: Path, *extra: str) -> tuple[dict[str, dict], str]:
    argv = ["grade", "tiny", str(submissions), "--out", str(out), "--course-root", str(TINY)]
    argv += ["--db", f"sqlite:///{out}.gradebook.db", "--workers", "2", "--late-penalty", POLICY]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(argv + list(extra)) == 0
    with open(out / "grades.csv", newline="") as fh:
        return {row["student_id"]: row for row in csv.DictReader(fh)}, printed.getvalue()


def _check_row(row: dict, submitted: datetime | None, due: datetime) -> None:
    raw = float(row["raw_score"])
    assert raw == 5.0  # every autograded point; the written answer waits for a person
    assert datetime.fromisoformat(row["duedate"]) == due
    if submitted is None:
        assert row["timestamp"] == ""
        expected = 0.0
    else:
        assert datetime.fromisoformat(row["timestamp"]) == submitted
        expected = _expected_penalty(raw, submitted, due)
    assert float(row["late_submission_penalty"] or 0) == pytest.approx(expected)
    assert float(row["score"]) == pytest.approx(raw - expected)


def test_flat_layout_late_penalties_follow_timestamp_txt(tmp_path):
    # The due date names its offset; --timezone stays UTC (times without a zone are UTC).
    due = datetime(2026, 3, 1, 23)  # 2026-03-02T00:00+01:00
    stamps = {
        # A hub on Europe/Berlin time: 23:45 CET is 22:45 UTC, on time (not 45 min late).
        "ontime": ("2026-03-01 23:45:00.500000 CET", datetime(2026, 3, 1, 22, 45, 0, 500000)),
        "late30m": ("2026-03-01 23:30:00.123456 UTC", datetime(2026, 3, 1, 23, 30, 0, 123456)),
        "late58h": ("2026-03-04 09:00:00", datetime(2026, 3, 4, 9)),  # 3 started days
        "broken": ("next tuesday-ish", None),
    }
    subs = tmp_path / "subs"
    for student, (text, _) in stamps.items():
        nbformat.write(_solved(), str(_write(subs / student / "tiny.ipynb", "")))
        _write(subs / student / "timestamp.txt", text + "\n")
    rows, printed = _grade(subs, tmp_path / "out", "--due", "2026-03-02T00:00+01:00")
    assert sorted(rows) == sorted(stamps)
    for student, (_, submitted) in stamps.items():
        _check_row(rows[student], submitted, due)
    assert float(rows["late58h"]["late_submission_penalty"]) > 0  # the policy did act
    assert "timestamp.txt ignored" in printed  # the broken file is a note, not a crash


def test_submitted_tree_late_penalties_follow_each_assignments_timestamp(tmp_path):
    # --timezone Europe/Berlin: the due date is 23:00 UTC, a time without a zone is Berlin's.
    due = datetime(2026, 3, 1, 23)
    stamps = {
        "ontime": ("2026-03-01 22:59:59.999999 UTC", datetime(2026, 3, 1, 22, 59, 59, 999999)),
        "late90m": ("2026-03-02 01:30:00.25 CET", datetime(2026, 3, 2, 0, 30, 0, 250000)),
        "late156h": ("2026-03-08 12:00:00 +0100", datetime(2026, 3, 8, 11)),  # capped at 50%
    }
    submitted = tmp_path / "submitted"
    for student, (text, _) in stamps.items():
        nbformat.write(_solved(), str(_write(submitted / student / "tiny" / "tiny.ipynb", "")))
        _write(submitted / student / "tiny" / "timestamp.txt", text)
        # Another assignment, submitted on time, must not be read for this one.
        _write(submitted / student / "other" / "other.ipynb", "{}")
        _write(submitted / student / "other" / "timestamp.txt", "2026-01-01 10:00:00 UTC")
    _write(submitted / "absent" / "other" / "other.ipynb", "{}")
    rows, printed = _grade(
        submitted, tmp_path / "out", "--due", "2026-03-02T00:00", "--timezone", "Europe/Berlin"
    )
    assert sorted(rows) == sorted(stamps)  # absent did not submit tiny: no row
    for student, (_, submitted_at) in stamps.items():
        _check_row(rows[student], submitted_at, due)
    assert "skipped 'absent': no tiny/ folder" in printed
