"""``course-rnn check NOTEBOOK``: a student's self-check before submitting.

It runs the notebook with the grader's own harness,
:func:`course_rnn.grading.executor.grade_notebook`: the student's cells run in the
sandboxed kernel, each test cell runs in the trusted runner, and a test passes when its
cell ran to completion there, within its time limit (what it prints, warnings included,
does not count). The verdict of each visible test is therefore the one
``course-rnn grade`` gives for that test on the same answers. Where bubblewrap cannot run
(macOS, or a Linux without user namespaces) the harness is the same without the
sandbox, and the report says so in one line.

Which notebook holds the tests: the student's file is its own source (a student has only
the notebook they downloaded). Grading takes the test cells from the instructor's copy
instead, so check says what it cannot vouch for:

- a test cell whose text differs from the released version (nbgrader's ``checksum`` in
  the cell metadata no longer matches) is not run: its line says so, as grading runs the
  original;
- a read-only cell that differs runs as edited, with a note;
- a question whose graded cells add up to fewer points than its heading announces
  ("## 2. The whole sequence (30 points)") has lost a test cell: a note says so.

Hidden tests (``### BEGIN HIDDEN TESTS`` blocks, which released notebooks do not have)
are removed before running, so check reports the visible tests only, even on an
instructor's source notebook. Written answers are listed as graded by hand. The notebook
file itself is not modified.

Exit code: 0 when every visible test passes, 1 when one fails (or none could be checked),
2 when the notebook cannot be read or run.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import nbformat

    from course_rnn.grading.executor import TrustedRunner
    from course_rnn.grading.limits import Limits

NOT_ANSWERED = "YOUR ANSWER HERE"
MAX_PROBLEMS = 10  # other failed cells listed one by one; the rest are counted
NO_SANDBOX = (
    "Note: bubblewrap cannot run here, so your code ran without the grading sandbox; "
    "the tests and their verdicts are the grader's."
)


@dataclass
class QuestionResult:
    """The outcome of one graded cell."""

    grade_id: str
    title: str  # the heading of the section the cell belongs to
    points: float
    # how the cell is scored, as in the gradebook: "test" (an autograded test cell) or
    # "manual" (a written answer, graded by hand)
    scoring: str
    # True/False: the grader's verdict. None: a written answer, or a test cell that was
    # edited, whose verdict check cannot know (grading runs the original)
    passed: bool | None
    message: str = ""


@dataclass
class CheckReport:
    notebook: str
    questions: list[QuestionResult] = field(default_factory=list)
    # errors in cells that are not tests (a failed import, an answer cell that raises)
    problems: list[str] = field(default_factory=list)
    # what check could not vouch for, and what grading will note (one line each)
    notes: list[str] = field(default_factory=list)
    sandboxed: bool = True

    @property
    def tests(self) -> list[QuestionResult]:
        return [q for q in self.questions if q.scoring == "test"]

    @property
    def ok(self) -> bool:
        return bool(self.tests) and all(q.passed is True for q in self.tests)


def _heading(source: str) -> str | None:
    for line in source.splitlines():
        match = re.match(r"^#{1,6}\s+(.*)", line)
        if match:
            return match.group(1).strip()
    return None


def _title(heading: str) -> str:
    """'2. Bag of words (20 points)' -> '2. Bag of words': points are shown apart."""
    return re.sub(r"\s*\(\d+(\.\d+)? points?\)\s*$", "", heading)


def _heading_points(heading: str) -> float | None:
    match = re.search(r"\((\d+(?:\.\d+)?) points?\)\s*$", heading)
    return float(match.group(1)) if match else None


def _nbgrader(cell: nbformat.NotebookNode) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def _is_test(meta: dict) -> bool:
    return bool(meta.get("grade")) and not meta.get("solution") and not meta.get("task")


def _points(meta: dict) -> float:
    try:
        return float(meta.get("points") or 0)
    except (TypeError, ValueError):
        return 0.0


def nbgrader_checksum(cell: nbformat.NotebookNode) -> str:
    """nbgrader's checksum of a cell (``nbgrader.utils.compute_checksum``), without nbgrader.

    The release stores it in every graded and read-only cell; the student install has
    no nbgrader, so the formula is written out here (a test compares the two).
    """
    meta = _nbgrader(cell)
    grade, solution = bool(meta.get("grade", False)), bool(meta.get("solution", False))
    locked = False if solution else (True if grade else bool(meta.get("locked", False)))
    md5 = hashlib.md5(usedforsecurity=False)
    for part in (cell.source, cell.cell_type, str(grade), str(solution), str(locked)):
        md5.update(part.encode())
    md5.update(str(meta.get("grade_id", "")).encode())
    if grade:
        md5.update(str(_points(meta)).encode())
    return md5.hexdigest()


def _edited(cell: nbformat.NotebookNode) -> bool:
    """A read-only or test cell whose text or metadata no longer matches its checksum."""
    meta = _nbgrader(cell)
    if meta.get("solution") or not (meta.get("grade") or meta.get("locked")):
        return False
    checksum = meta.get("checksum")
    return isinstance(checksum, str) and checksum != nbgrader_checksum(cell)


def strip_hidden_tests(source: str) -> str:
    """The test cell without its ``### BEGIN HIDDEN TESTS`` ... ``### END`` blocks."""
    kept, hidden = [], False
    for line in source.splitlines(keepends=True):
        if "BEGIN HIDDEN TESTS" in line.upper():
            hidden = True
        elif "END HIDDEN TESTS" in line.upper():
            hidden = False
        elif not hidden:
            kept.append(line)
    return "".join(kept)


def _prepare(nb: nbformat.NotebookNode) -> tuple[list[str], list[str]]:
    """Make ``nb`` (in place) the notebook check runs; return (edited test ids, notes).

    Hidden-test blocks are removed; edited test cells are removed (their verdict would
    not be grading's); edited read-only cells stay, with a note. A grade id seen before
    is treated as grading treats it: a copied test or read-only cell is dropped, a
    copied answer runs as a plain cell.
    """
    edited_tests, notes, kept, seen = [], [], [], set()
    for cell in nb.cells:
        meta = _nbgrader(cell)
        gid = str(meta.get("grade_id", "?"))
        if isinstance(meta.get("grade_id"), str) and gid in seen:
            notes.append(f"The cell '{gid}' appears more than once: grading uses the first.")
            if not meta.get("solution"):
                continue
            del cell.metadata["nbgrader"]
            meta = {}
        elif isinstance(meta.get("grade_id"), str):
            seen.add(gid)
        if _edited(cell):
            if _is_test(meta):
                edited_tests.append(gid)
                continue
            notes.append(
                f"The read-only cell '{gid}' differs from the released version: check ran "
                "your copy, grading runs the original."
            )
        if cell.cell_type == "code" and _is_test(meta):
            cell.source = strip_hidden_tests(cell.source)
        kept.append(cell)
    nb.cells = kept
    return edited_tests, notes


def _missing_points(nb: nbformat.NotebookNode) -> list[str]:
    """Notes for sections whose graded cells add up to less than their heading says."""
    sections: list[list] = []  # [heading, announced points, points of graded cells]
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if cell.cell_type == "markdown" and not meta.get("solution"):
            heading = _heading(cell.source)
            if heading:
                sections.append([heading, _heading_points(heading), 0.0])
        if meta.get("grade") and sections:
            sections[-1][2] += _points(meta)
    return [
        f"'{_title(heading)}' is worth {announced:g} points but its graded cells add up to "
        f"{found:g}: a test cell seems to have been deleted. Grading runs every released "
        "test: copy your answers into a fresh download of the notebook to check them all."
        for heading, announced, found in sections
        if announced is not None and found < announced
    ]


def _friendly(message: str) -> str:
    """The grader's failure message, in the words a student needs before submitting."""
    if message.startswith("your code raised NotImplementedError"):
        return "not answered yet: the answer cell still raises NotImplementedError."
    if message.startswith("NameError: "):
        return (
            f"{message.removeprefix('NameError: ')}. Your answer cell must define it: check "
            "the spelling of the function name, and that the cells above run without errors."
        )
    if message.startswith("AssertionError: "):
        return message.removeprefix("AssertionError: ")
    return message


def _cell_failure(cell: nbformat.NotebookNode) -> str | None:
    """Why a student cell failed when it ran, or None (unanswered parts are not failures)."""
    for output in cell.get("outputs", []):
        if output.get("output_type") != "error":
            continue
        ename, evalue = output.get("ename", "Error"), output.get("evalue", "")
        if ename == "NotImplementedError":
            return None  # it calls an answer not written yet: the test says so
        if ename == "GradingError":  # the runner's own words: a crash, a time limit
            return evalue
        return _friendly(f"{ename}: {evalue}")
    return None


def _report(
    name: str,
    executed: nbformat.NotebookNode,
    verdicts: dict[str, tuple[bool, str]],
) -> CheckReport:
    """One result per graded cell of the executed notebook, in notebook order."""
    report = CheckReport(notebook=name)
    title = ""
    for cell in executed.cells:
        meta = _nbgrader(cell)
        gid = str(meta.get("grade_id", "?"))
        if cell.cell_type == "markdown" and not meta.get("solution"):
            heading = _heading(cell.source)
            title = _title(heading) if heading else title
        points = _points(meta)
        if meta.get("grade") and meta.get("solution"):  # a written answer, graded by hand
            answered = cell.source.strip() not in ("", NOT_ANSWERED)
            message = "answered, graded by hand" if answered else "not answered yet"
            report.questions.append(QuestionResult(gid, title, points, "manual", None, message))
            continue
        if _is_test(meta) and cell.cell_type == "code":
            passed, message = verdicts.get(gid, (False, "the grader did not run this test"))
            report.questions.append(
                QuestionResult(gid, title, points, "test", passed, "" if passed else message)
            )
            continue
        if cell.cell_type == "code" and (failure := _cell_failure(cell)):
            if meta.get("solution"):
                report.problems.append(f"your answer cell '{gid}' failed: {failure}")
            else:
                lines = cell.source.strip().splitlines()
                report.problems.append(
                    f"the cell starting `{lines[0] if lines else ''}` failed: {failure}"
                )
    return report


def check_notebook(
    path: Path,
    limits: Limits | None = None,
    runner: TrustedRunner | None = None,
) -> CheckReport:
    """Run the notebook at ``path`` as ``course-rnn grade`` does; one result per graded cell.

    ``limits`` default to grade's; ``runner`` (a warm
    :class:`~course_rnn.grading.executor.TrustedRunner`, for tests) defaults to a new one
    for this notebook alone. Raises ``ValueError`` when the file is not a notebook.
    """
    # Imported here: the executor needs POSIX (fcntl, process groups); run() says so.
    import nbformat

    from course_rnn.grading.executor import grade_notebook
    from course_rnn.grading.sandbox import bwrap_path

    path = Path(path)
    try:
        nb = nbformat.read(path, as_version=4)
        if not isinstance(nb.get("cells"), list):
            raise ValueError("it has no list of cells")
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same answer
        raise ValueError(f"{type(exc).__name__}: {exc}"[:300]) from exc
    original = copy.deepcopy(nb)
    missing = _missing_points(nb)
    edited_tests, notes = _prepare(nb)
    with tempfile.TemporaryDirectory(prefix="course-rnn-check-") as tmp:
        # The prepared notebook is both the source and the submission, so the test
        # cells that run are the ones in the student's file, hidden parts removed.
        prepared = Path(tmp) / "notebook" / path.name
        prepared.parent.mkdir()
        nbformat.write(nb, prepared)
        warm = {"runner": runner} if runner is not None else {}
        result = grade_notebook(prepared, prepared, Path(tmp) / "work", limits, **warm)
    verdicts = {t.grade_id: (t.passed, _friendly(t.message)) for t in result.tests}
    report = _report(path.name, result.executed, verdicts)
    report.sandboxed = bwrap_path() is not None
    _place_edited(report, original, edited_tests)
    report.notes = notes + missing
    report.notes += [
        f"Grading will also note: {p}"
        for p in result.problems
        if not (not report.sandboxed and p.startswith("bubblewrap"))
    ]
    return report


def _place_edited(report: CheckReport, original: nbformat.NotebookNode, edited: list[str]) -> None:
    """Insert a 'not checked' result for each edited test cell, after its question."""
    if not edited:
        return
    title, order = "", []
    for cell in original.cells:
        meta = _nbgrader(cell)
        if cell.cell_type == "markdown" and not meta.get("solution"):
            heading = _heading(cell.source)
            title = _title(heading) if heading else title
        gid = str(meta.get("grade_id", "?"))
        if meta.get("grade") and (meta.get("solution") or _is_test(meta)):
            order.append(gid)
            if gid in edited:
                report.questions.append(
                    QuestionResult(
                        gid,
                        title,
                        _points(meta),
                        "test",
                        None,
                        "this test cell differs from the released version, so check does not "
                        "run it: grading runs the original. Undo your edit, or copy your "
                        "answers into a fresh download of the notebook.",
                    )
                )
    rank = {gid: i for i, gid in enumerate(order)}
    report.questions.sort(key=lambda q: rank.get(q.grade_id, len(rank)))


def format_report(report: CheckReport) -> str:
    """Plain-words summary of a check, one block per question."""
    lines = [f"Checking {report.notebook}", ""]
    for q in report.questions:
        points = f"{q.points:g} point{'s' if q.points != 1 else ''}"
        if q.scoring == "manual":
            lines.append(f"  WRITTEN  {q.title} [{q.grade_id}], {points}: {q.message}")
            continue
        status = {True: "passed ", False: "FAILED ", None: "EDITED "}[q.passed]
        lines.append(f"  {status} {q.title} [{q.grade_id}], {points}")
        if q.passed is not True:
            lines.append(f"           {q.message}")
    if report.problems:
        lines += ["", "Other cells that failed (they may explain the failures above):"]
        lines += [f"  - {problem}" for problem in report.problems[:MAX_PROBLEMS]]
        if len(report.problems) > MAX_PROBLEMS:
            lines.append(f"  - and {len(report.problems) - MAX_PROBLEMS} more")
    if report.notes:
        lines += ["", *report.notes]
    tests = report.tests
    passed = [q for q in tests if q.passed]
    earned = sum(q.points for q in passed)
    at_stake = sum(q.points for q in tests)
    written = sum(q.points for q in report.questions if q.scoring == "manual")
    lines += [
        "",
        f"Visible tests: {len(passed)} of {len(tests)} passed ({earned:g} of {at_stake:g} points).",
        f"Written answers ({written:g} points) are graded by hand.",
        "When your work is graded, hidden tests with other inputs run as well: make your "
        "answers general, not tuned to the visible examples.",
    ]
    if not tests:
        lines.append(
            "This notebook has no test cells: check the exercise notebook as downloaded, "
            "with its cells' metadata intact."
        )
    elif report.ok:
        lines.append("All visible tests pass.")
    if not report.sandboxed:
        lines.append(NO_SANDBOX)
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from course_rnn.grading.limits import Limits

    parser.add_argument("notebook", type=Path, metavar="NOTEBOOK", help="the .ipynb to check")
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help=f"seconds for the whole notebook (default {Limits().notebook_timeout_s:g}, as "
        f"course-rnn grade); also caps each cell (default {Limits().cell_timeout_s:g})",
    )


def _skip_iri_grammar() -> None:
    """Spare this one-shot process jsonschema's RFC 3987 grammar (1.5 s of CPU or more).

    nbformat imports jsonschema, which compiles that grammar at import time when the
    optional ``rfc3987_syntax`` package is installed (Jupyter installs it); notebook
    validation never checks IRIs. Marked absent, jsonschema skips that checker. Done by
    ``run`` only: a process that imports this module as a library keeps it.
    """
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]


def run(args: argparse.Namespace) -> int:
    from course_rnn.grading.limits import Limits

    _skip_iri_grammar()

    path: Path = args.notebook
    if not path.is_file():
        print(f"course-rnn check: {path} does not exist (expected a .ipynb file).")
        return 2
    limits = Limits()
    if args.timeout is not None:
        if args.timeout <= 0:
            print(f"course-rnn check: --timeout must be positive seconds, got {args.timeout:g}.")
            return 2
        limits = Limits(
            notebook_timeout_s=args.timeout,
            cell_timeout_s=min(limits.cell_timeout_s, args.timeout),
        )
    if sys.platform == "win32":
        print(
            "course-rnn check: the grader's harness needs Linux or macOS; on Windows, run it "
            "inside WSL (Windows Subsystem for Linux)."
        )
        return 2
    try:
        report = check_notebook(path, limits)
    except ValueError as exc:
        print(f"course-rnn check: {path} is not a valid notebook ({exc}).")
        return 2
    except Exception as exc:  # a grader failure, not the student's
        print(f"course-rnn check: could not run {path}: {type(exc).__name__}: {exc}")
        return 2
    print(format_report(report))
    return 0 if report.ok else 1
