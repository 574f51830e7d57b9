"""Per-student feedback HTML built from test verdicts, never from test cell sources.

nbgrader's own feedback renders the autograded notebook, hidden tests included (its
issues #917 and #1363). Here feedback is a small page per notebook listing, for each
test, its name, passed or failed, the points and the failure message, plus the state of
manually graded answers and anything that went wrong while grading. No cell source is
ever copied in, and as a second guard any line of a failure message that repeats a line
of a hidden test is replaced.

Layout: ``feedback/<student>/<assignment>/<notebook>.html``, as ``nbgrader
release_feedback`` expects.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import nbformat

from course_rnn.grading.gradebook import AssignmentInfo
from course_rnn.grading.late import LatePolicy
from course_rnn.grading.markup import MAX_ITEM_CHARS, one_line, redact_host_paths, summarise
from course_rnn.grading.results import NotebookOutcome, StudentOutcome

__all__ = ["hidden_test_lines", "redact", "render_notebook_feedback", "write_feedback"]

_HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n?(.*?)### END HIDDEN TESTS", re.DOTALL)
REDACTED = "[line of a hidden test removed]"

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 56rem; margin: 2rem auto; padding: 0 1rem;
       color: #1b1b1b; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: .4rem .6rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.passed { color: #11603a; font-weight: 600; }
.failed { color: #a3121c; font-weight: 600; }
.pending { color: #7a5a00; font-weight: 600; }
pre { white-space: pre-wrap; margin: 0; font-size: .9em; }
.problems { background: #fff4e5; border-left: 4px solid #e08a00; padding: .5rem 1rem; }
.notes { background: #eef4fb; border-left: 4px solid #3b6ea5; padding: .5rem 1rem; }
"""


def hidden_test_lines(source: Path) -> set[str]:
    """Stripped lines (8+ characters) inside hidden-test blocks of a source notebook."""
    nb = nbformat.read(str(source), as_version=4)
    lines: set[str] = set()
    for cell in nb.cells:
        for block in _HIDDEN.findall(cell.source):
            lines.update(s.strip() for s in block.splitlines() if len(s.strip()) >= 8)
    return lines


def redact(message: str, hidden: set[str]) -> str:
    """``message`` with every line that contains a hidden-test line replaced."""
    out = []
    for line in message.splitlines():
        if any(h in line for h in hidden):
            out.append(REDACTED)
        else:
            out.append(line)
    return "\n".join(out)


def _points(score: float | None, max_score: float) -> str:
    return f"{'–' if score is None else f'{score:g}'} / {max_score:g}"


def render_notebook_feedback(
    student: str,
    assignment: str,
    notebook: str,
    cells: list,
    result: NotebookOutcome,
    scores: dict,
    late_note: str,
    hidden: set[str],
    notes: list[str] | None = None,
) -> str:
    """One notebook's feedback page as HTML.

    ``cells`` are the notebook's :class:`~course_rnn.grading.gradebook.CellInfo`;
    ``result`` the worker's outcome for the notebook (tests, problems, the graded
    ``file``); ``scores`` the gradebook's per-grade-id scores (which include any manual
    grading); ``notes`` the choices made about the student's files. Every text that
    came from the submission is escaped, cut and stripped of the grader's host paths.
    """
    notes = notes or []
    e = html.escape
    verdicts = {t.grade_id: t for t in result.tests}
    graded = [c for c in cells if c.scoring != "answer"]
    earned = sum((scores.get(c.grade_id, {}).get("score") or 0.0) for c in graded)
    possible = sum(c.max_points for c in graded)
    rows = []
    for cell in graded:
        score = scores.get(cell.grade_id, {})
        if cell.scoring == "test":
            verdict = verdicts.get(cell.grade_id)
            passed = bool(verdict and verdict.passed)
            status = "passed" if passed else "failed"
            message = "" if verdict is None else str(verdict.message or "")
            if verdict is None:
                message = "this test could not be run (see the problems above)"
            message = redact(redact_host_paths(message[:4000]), hidden)
            label = f'<span class="{status}">{status}</span>'
        else:
            pending = bool(score.get("pending"))
            status = "pending" if pending else "graded"
            label = (
                '<span class="pending">awaiting manual grading</span>'
                if pending
                else '<span class="passed">graded</span>'
            )
            message = "written answer, graded by your instructor"
            if not pending and score.get("score") == 0 and cell.scoring == "manual":
                message = "no answer was given"
        rows.append(
            f"<tr><td><code>{e(cell.grade_id)}</code></td><td>{label}</td>"
            f"<td>{_points(score.get('score'), cell.max_points)}</td>"
            f"<td><pre>{e(message)}</pre></td></tr>"
        )
    problems = summarise([redact_host_paths(str(p)) for p in result.problems])
    problem_html = ""
    if problems:
        items = "".join(f"<li>{e(redact(p, hidden))}</li>" for p in problems)
        problem_html = (
            '<div class="problems"><p>Something in this submission cost points '
            f"before or while the tests ran:</p><ul>{items}</ul></div>"
        )
    file_html = ""
    if result.file:
        file_html = f"<p>File graded: <code>{e(one_line(result.file, 200))}</code></p>\n"
    elif not result.submitted:
        file_html = f"<p>No file was graded: {e(notebook)}.ipynb was not found.</p>\n"
    if notes:
        items = "".join(f"<li>{e(one_line(n, MAX_ITEM_CHARS))}</li>" for n in summarise(notes))
        file_html += f'<div class="notes"><p>About your files:</p><ul>{items}</ul></div>\n'

    title = f"{assignment} / {notebook}: feedback for {student}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(title)}</title><style>{_STYLE}</style></head><body>\n"
        f"<h1>{e(title)}</h1>\n"
        f"<p><strong>Score: {earned:g} / {possible:g}</strong>"
        " (manually graded parts count once your instructor has graded them)</p>\n"
        f"{file_html}{f'<p>{e(late_note)}</p>' if late_note else ''}\n{problem_html}\n"
        "<table><thead><tr><th>Test or question</th><th>Result</th><th>Points</th>"
        "<th>Message</th></tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>\n"
        "</body></html>\n"
    )


def write_feedback(
    folder: Path,
    info: AssignmentInfo,
    sources: dict[str, Path],
    outcomes: dict[str, StudentOutcome],
    scores: dict[str, dict],
    policy: LatePolicy,
) -> dict[str, str]:
    """Write every student's feedback pages under ``folder``.

    Returns the students whose pages could not be written, with the reason (one
    student's failure never stops the others).
    """
    hidden = {name: hidden_test_lines(path) for name, path in sources.items()}
    failed: dict[str, str] = {}
    for student, outcome in sorted(outcomes.items()):
        try:
            _write_student(folder, info, outcome, scores[student], policy, hidden, student)
        except Exception as exc:  # noqa: BLE001 - one student's pages, not the class
            failed[student] = f"{type(exc).__name__}: {exc}"
    return failed


def _write_student(
    folder: Path,
    info: AssignmentInfo,
    outcome: StudentOutcome,
    student_scores: dict,
    policy: LatePolicy,
    hidden: dict[str, set[str]],
    student: str,
) -> None:
    """Write one student's pages (one per notebook)."""
    late_note = ""
    if student_scores["seconds_late"] > 0:
        hours = student_scores["seconds_late"] / 3600
        late_note = (
            f"Submitted {hours:.1f} hours after the due date; late policy: "
            f"{policy.describe()}; penalty for the assignment: "
            f"{student_scores['penalty']:g} points."
        )
    for name, cells in info.notebooks.items():
        page = render_notebook_feedback(
            student,
            info.name,
            name,
            cells,
            outcome.notebooks.get(name) or NotebookOutcome(submitted=False),
            student_scores["notebooks"].get(name, {}),
            late_note,
            hidden[name],
            outcome.notes,
        )
        dest = folder / student / info.name / f"{name}.html"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(page, encoding="utf-8")
