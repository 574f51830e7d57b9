"""LMS gradebook import files: Canvas and Moodle columns, ids mapped by a roster,
every unmatched id listed."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from course_rnn.grading.lms import read_roster, summary_lines, write_lms_grades

# A Canvas gradebook export: the header, the "Points Possible" row, a test student.
CANVAS_ROSTER = """\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Old quiz (99)
    Points Possible,,,,,10
"Lovelace, Ada",1001,S-1,ada,RNN 101,7
"Turing, Alan",1002,S-2,Alan,RNN 101,8
"Hopper, Grace",1003,S-3,grace,RNN 102,9
"Student, Test",1004,,test_student,RNN 101,
"""

MOODLE_ROSTER = """First name,Last name,ID number,Institution,Department,Email address
Ada,Lovelace,S-1,Uni,CS,ada@example.org
Alan,Turing,S-2,Uni,CS,alan@example.org
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_canvas_import_file_maps_ids_and_lists_every_unmatched_one(tmp_path):
    roster = read_roster(_write(tmp_path, "roster.csv", CANVAS_ROSTER), "canvas")
    assert [r["Student"] for r in roster.rows][0] == "Lovelace, Ada"  # Points Possible skipped
    scores = {"ada": 4.5, "alan": 5.0, "zoe": 3.0}  # zoe is not in the roster
    export = write_lms_grades(tmp_path, "canvas", roster, scores, "RNN forward")
    assert export.path == tmp_path / "canvas_grades.csv"
    assert export.key == "SIS Login ID"
    with open(export.path, newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "RNN forward"]
    rows = _rows(export.path)
    by_login = {r["SIS Login ID"]: r for r in rows}
    assert by_login["ada"]["RNN forward"] == "4.5"
    assert by_login["Alan"]["RNN forward"] == "5"  # case of the roster's id ignored
    assert by_login["Alan"]["ID"] == "1002" and by_login["Alan"]["Section"] == "RNN 101"
    # Roster students without a grade keep their row, blank: the LMS keeps what it has.
    assert by_login["grace"]["RNN forward"] == "" and by_login["test_student"]["RNN forward"] == ""
    assert "zoe" not in {r["SIS Login ID"] for r in rows}
    assert export.not_in_roster == ["zoe"]
    assert export.not_graded == ["grace", "test_student"]
    unmatched = _rows(tmp_path / "canvas_unmatched.csv")
    assert {(r["id"], r["score"]) for r in unmatched} == {
        ("zoe", "3"),
        ("grace", ""),
        ("test_student", ""),
    }
    text = "\n".join(summary_lines(export))
    assert "zoe" in text and "grace" in text and "canvas_unmatched.csv" in text


def test_the_id_column_is_the_one_that_matches(tmp_path):
    roster = read_roster(_write(tmp_path, "roster.csv", CANVAS_ROSTER), "canvas")
    export = write_lms_grades(tmp_path, "canvas", roster, {"S-1": 2.0, "S-3": 1.0}, "A1")
    assert export.key == "SIS User ID"
    assert export.matched == ["S-1", "S-3"] and export.not_in_roster == []
    with pytest.raises(ValueError, match="not a column"):
        write_lms_grades(tmp_path, "canvas", roster, {"S-1": 2.0}, "A1", key="Login")


def test_a_fully_matched_class_leaves_no_stale_unmatched_file(tmp_path):
    roster = read_roster(_write(tmp_path, "roster.csv", CANVAS_ROSTER), "canvas")
    write_lms_grades(tmp_path, "canvas", roster, {"zoe": 1.0}, "A1")
    assert (tmp_path / "canvas_unmatched.csv").exists()
    everyone = {"ada": 1.0, "alan": 1.0, "grace": 1.0, "test_student": 0.0}
    export = write_lms_grades(tmp_path, "canvas", roster, everyone, "A1")
    assert export.unmatched_path is None and not (tmp_path / "canvas_unmatched.csv").exists()


def test_a_roster_listing_one_student_twice_is_reported(tmp_path):
    text = CANVAS_ROSTER + '"Lovelace, Ada",1001,S-1,ada,RNN 102,\n'
    roster = read_roster(_write(tmp_path, "roster.csv", text), "canvas")
    export = write_lms_grades(tmp_path, "canvas", roster, {"ada": 4.0}, "A1")
    assert export.duplicates == ["ada"]
    assert [r["A1"] for r in _rows(export.path) if r["SIS Login ID"] == "ada"] == ["4", ""]


def test_moodle_import_file(tmp_path):
    roster = read_roster(_write(tmp_path, "moodle.csv", MOODLE_ROSTER), "moodle")
    export = write_lms_grades(
        tmp_path, "moodle", roster, {"ada@example.org": 3.25, "bob@example.org": 1.0}, "RNN"
    )
    assert export.key == "Email address"
    rows = _rows(tmp_path / "moodle_grades.csv")
    assert list(rows[0]) == ["First name", "Last name", "ID number", "Email address", "RNN"]
    assert [(r["Email address"], r["RNN"]) for r in rows] == [
        ("ada@example.org", "3.25"),
        ("alan@example.org", ""),
    ]
    assert export.not_in_roster == ["bob@example.org"]


def test_a_roster_without_the_lms_columns_is_refused(tmp_path):
    path = _write(tmp_path, "roster.csv", "name,email\nAda,ada@example.org\n")
    with pytest.raises(ValueError, match="SIS Login ID"):
        read_roster(path, "canvas")
    with pytest.raises(ValueError, match="not a moodle roster"):
        read_roster(path, "moodle")


# ---------------------------------------------------------------- through `course-rnn grade`
REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "fixtures" / "tiny_course"
TINY_SOURCE = TINY / "solutions" / "tiny" / "tiny.ipynb"

# A long answer to `add` and a copy with renamed variables: a pair for the similarity
# report, carrying markup that must reach report.html as text only.
LONG_ADD = '''def add(a, b):
    """Return a plus b."""
    banner = "</code></pre><script>alert(1)</script>"
    total = 0
    for value in (a, b):
        if isinstance(value, bool):
            value = int(value)
        total = total + value
    checks = [total - a == b, total - b == a]
    assert all(checks), banner
    history = [a, b, total]
    assert len(history) == 3, history
    return total
'''
COPIED_ADD = '''def add(a, b):
    """Return a plus b."""
    msg = "</code></pre><script>alert(1)</script>"
    acc = 0
    for v in (a, b):
        if isinstance(v, bool):
            v = int(v)
        acc = acc + v
    ok = [acc - a == b, acc - b == a]
    assert all(ok), msg
    seen = [a, b, acc]
    assert len(seen) == 3, seen
    return acc
'''


def _submission(folder: Path, student: str, add_source: str | None) -> None:
    import nbformat
    from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions

    source = nbformat.read(str(TINY_SOURCE), as_version=4)
    solved = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in source.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    if add_source is not None:
        solved["add_answer"] = add_source
    nb, resources = source, {}
    for step in (ClearSolutions(), ClearHiddenTests(), ClearOutput()):
        nb, resources = step.preprocess(nb, resources)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if add_source != "blank" and gid in solved:
            cell.source = solved[gid]
    path = folder / student / "tiny.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, str(path))


@pytest.mark.grading
def test_grade_writes_canvas_file_lists_unknown_ids_and_the_similarity_report(tmp_path, capsys):
    pytest.importorskip("nbgrader")
    from course_rnn.cli import main

    subs = tmp_path / "subs"
    _submission(subs, "ada", LONG_ADD)
    _submission(subs, "alan", COPIED_ADD)
    _submission(subs, "zoe", None)  # graded, not in the roster
    roster = _write(
        tmp_path,
        "roster.csv",
        "Student,ID,SIS User ID,SIS Login ID,Section\n"
        '"Lovelace, Ada",1,S1,ada,A\n"Turing, Alan",2,S2,alan,A\n"Hopper, Grace",3,S3,grace,A\n',
    )
    out = tmp_path / "out"
    argv = ["grade", "tiny", str(subs), "--out", str(out), "--course-root", str(TINY)]
    argv += ["--db", f"sqlite:///{tmp_path}/gb.db", "--workers", "1"]
    assert main([*argv, "--format", "canvas"]) == 2  # no roster: refused before grading
    assert "needs --roster" in capsys.readouterr().err
    assert main([*argv, "--format", "canvas", "--roster", str(roster)]) == 0
    printed = capsys.readouterr().out
    rows = {r["SIS Login ID"]: r for r in _rows(out / "canvas_grades.csv")}
    assert rows["ada"]["tiny"] == rows["alan"]["tiny"] == "5"  # both answers pass
    assert rows["grace"]["tiny"] == ""
    assert {r["id"] for r in _rows(out / "canvas_unmatched.csv")} == {"zoe", "grace"}
    assert "1 graded but not in the roster (not in the import file): zoe" in printed
    assert "grace" in printed and "canvas_unmatched.csv" in printed
    assert "1 pair(s) of similar answers" in printed
    report_md = (out / "report.md").read_text()
    assert "## Similar answers" in report_md and "not a verdict" in report_md
    page = (out / "report.html").read_text()
    assert "not a verdict" in page and 'class="shared"' in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
