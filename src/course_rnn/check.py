"""``course-rnn check NOTEBOOK``: a student's self-check before submitting.

Runs the notebook from top to bottom in a fresh kernel (the student's own Python) and
reports, question by question, whether the visible tests pass, with the failure message
and the points at stake. A test passes when its cell runs without raising, the rule
``course-rnn grade`` applies; a warning it prints does not fail it. Written answers are
listed as graded by hand. The notebook file itself is not modified.

Exit code: 0 when every test cell passes, 1 when one fails, 2 when the notebook cannot
be read or run.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

NOT_ANSWERED = "YOUR ANSWER HERE"


@dataclass
class QuestionResult:
    """The outcome of one graded cell."""

    grade_id: str
    title: str  # the heading of the section the cell belongs to
    points: float
    # how the cell is scored, as in the gradebook: "test" (an autograded test cell) or
    # "manual" (a written answer, graded by hand)
    scoring: str
    passed: bool | None  # None for written answers
    message: str = ""


@dataclass
class CheckReport:
    notebook: str
    questions: list[QuestionResult] = field(default_factory=list)
    # errors in cells that are neither answers nor tests (e.g. a failed import)
    problems: list[str] = field(default_factory=list)

    @property
    def tests(self) -> list[QuestionResult]:
        return [q for q in self.questions if q.scoring == "test"]

    @property
    def ok(self) -> bool:
        return all(q.passed for q in self.tests)


def _heading(source: str) -> str | None:
    for line in source.splitlines():
        match = re.match(r"^#{1,6}\s+(.*)", line)
        if match:
            # "## 2. Bag of words (20 points)" -> "2. Bag of words": points are shown apart.
            return re.sub(r"\s*\(\d+(\.\d+)? points?\)\s*$", "", match.group(1).strip())
    return None


def _failure_message(outputs: list) -> str | None:
    """The reason a cell failed, or None if it passed.

    ``course-rnn grade``'s rule: a test cell fails when it raises. What it prints, to stdout
    or stderr (a warning, say), does not count.
    """
    for output in outputs:
        if output.get("output_type") == "error":
            ename, evalue = output.get("ename", "Error"), output.get("evalue", "")
            if ename == "NotImplementedError":
                return "not answered yet: the answer cell still raises NotImplementedError."
            if ename == "NameError":
                return (
                    f"{evalue}. Run the cells above (your answer cell must define it) or "
                    "check the spelling of the function name."
                )
            if ename == "AssertionError":
                return evalue or "an assertion failed."
            return f"{ename}: {evalue}"
    return None


def check_notebook(path: Path, timeout: int = 300) -> CheckReport:
    """Execute the notebook at ``path`` and collect one result per graded cell."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        allow_errors=True,
        kernel_name=nb.metadata.get("kernelspec", {}).get("name", "python3"),
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    # The kernel process's own stderr carries only ipykernel's start-up chatter (such as
    # its warning that local TCP traffic is unencrypted); what cells write to stderr
    # reaches the notebook through the kernel's messages, not through this stream.
    client.execute(stderr=subprocess.DEVNULL)
    report = CheckReport(notebook=path.name)
    title = ""
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown" and not meta.get("solution"):
            title = _heading(cell.source) or title
        if not meta.get("grade"):
            if cell.cell_type == "code" and not meta.get("solution"):
                message = _failure_message(cell.get("outputs", []))
                if message and not message.startswith("not answered yet"):
                    first_line = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
                    report.problems.append(f"the cell starting `{first_line}` failed: {message}")
            continue
        points = float(meta.get("points", 0))
        grade_id = meta.get("grade_id", "?")
        if meta.get("solution"):  # a written answer, graded by hand
            answered = cell.source.strip() not in ("", NOT_ANSWERED)
            report.questions.append(
                QuestionResult(
                    grade_id,
                    title,
                    points,
                    "manual",
                    None,
                    "answered, graded by hand" if answered else "not answered yet",
                )
            )
            continue
        message = _failure_message(cell.get("outputs", []))
        report.questions.append(
            QuestionResult(grade_id, title, points, "test", message is None, message or "")
        )
    return report


def format_report(report: CheckReport) -> str:
    """Plain-words summary of a check, one block per question."""
    lines = [f"Checking {report.notebook}", ""]
    for q in report.questions:
        points = f"{q.points:g} point{'s' if q.points != 1 else ''}"
        if q.scoring == "manual":
            lines.append(f"  WRITTEN  {q.title} [{q.grade_id}], {points}: {q.message}")
            continue
        status = "passed " if q.passed else "FAILED "
        lines.append(f"  {status} {q.title} [{q.grade_id}], {points}")
        if not q.passed:
            lines.append(f"           {q.message}")
    if report.problems:
        lines += ["", "Other cells that failed (they may explain the failures above):"]
        lines += [f"  - {problem}" for problem in report.problems]
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
    if report.ok:
        lines.append("All visible tests pass.")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebook", type=Path, metavar="NOTEBOOK", help="the .ipynb to check")
    parser.add_argument(
        "--timeout", type=int, default=300, help="seconds allowed per cell (default 300)"
    )


def run(args: argparse.Namespace) -> int:
    path: Path = args.notebook
    if not path.is_file():
        print(f"course-rnn check: {path} does not exist (expected a .ipynb file).")
        return 2
    try:
        report = check_notebook(path, timeout=args.timeout)
    except nbformat.reader.NotJSONError:
        print(f"course-rnn check: {path} is not a valid notebook (the JSON could not be read).")
        return 2
    except Exception as exc:  # the kernel died, a cell timed out, ...
        print(f"course-rnn check: could not run {path}: {type(exc).__name__}: {exc}")
        return 2
    print(format_report(report))
    return 0 if report.ok else 1
