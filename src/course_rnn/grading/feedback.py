"""Per-student feedback HTML built from test verdicts, never from test cell sources.

nbgrader's own feedback renders the autograded notebook, hidden tests included (its
issues #917 and #1363). Here feedback is a small page per notebook: the final score
first (late penalty subtracted), then how it was made; for each graded cell its
question's title (as ``course-rnn check`` shows it), passed or failed, the points and
the failure message with the student's own answer code beside a failed test; the state
of written answers; the comments the instructor wrote in the formgrader beside their
question; and anything that went wrong while grading. No test cell source is ever
copied in, and as a second guard any line of a message or answer that repeats a line
of a hidden test is replaced. Everything from the submission or the gradebook is
escaped.

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

__all__ = [
    "hidden_test_lines",
    "question_map",
    "redact",
    "render_notebook_feedback",
    "write_feedback",
]

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
.headline { font-size: 1.3em; }
th[scope=row] { background: none; font-weight: 600; }
code.id { font-weight: normal; font-size: .8em; color: #555; }
.answer pre { background: #f6f6f6; padding: .4rem; margin-top: .2rem; overflow-x: auto; }
.answer p, .comment p { margin: .5rem 0 0; }
.comment { background: #f1f8ec; border-left: 4px solid #4c9a6a; padding: .2rem .6rem;
           margin-top: .5rem; }
.comment p + p { white-space: pre-wrap; }
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


def question_map(source: Path) -> dict[str, dict]:
    """Each graded cell's question, read from the source notebook as ``check`` reads it.

    Returns grade_id -> ``{"title": the heading of its section (points left out),
    "answers": the grade ids of the answer cells it tests}``; a test's answers are the
    answer cells since the previous test (or the previous test's, when two tests check
    one answer). Cells before any heading get their grade id as title.
    """
    from course_rnn.check import _heading, _title

    nb = nbformat.read(str(source), as_version=4)
    out: dict[str, dict] = {}
    title, waiting, last = "", [], []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {}) or {}
        gid = str(meta.get("grade_id", ""))
        if cell.cell_type == "markdown" and not meta.get("solution"):
            heading = _heading(cell.source)
            if heading:
                title, waiting, last = _title(heading), [], []
        if not gid:
            continue
        if meta.get("solution") and not meta.get("grade"):
            waiting.append(gid)
            out[gid] = {"title": title or gid, "answers": [gid]}
        elif meta.get("grade") and meta.get("solution") or meta.get("task"):
            out[gid] = {"title": title or gid, "answers": [gid]}
        elif meta.get("grade"):
            last = waiting or last
            waiting = []
            out[gid] = {"title": title or gid, "answers": list(last)}
    return out


def _headline(overall: dict | None, earned: float, possible: float, pending: float) -> str:
    """The final score first, then how it was made (points earned, the late penalty)."""
    e = html.escape
    if overall is None:  # no assignment totals: this notebook's points
        so_far = " so far" if pending else ""
        return f"<p><strong>Score{so_far}: {earned:g} / {possible:g}</strong></p>\n"
    final = max(0.0, overall["score"] - overall["penalty"])
    so_far = " so far" if overall.get("pending_points") else ""
    parts = [
        f'<p class="headline"><strong>Your score{so_far}: {final:g} / '
        f"{overall['max_score']:g}</strong></p>"
    ]
    how = f"{overall['score']:g} points earned"
    if overall.get("notebooks", 1) > 1:
        how += (
            f" in the assignment's {overall['notebooks']} notebooks "
            f"(this one: {earned:g} / {possible:g})"
        )
    if overall["penalty"] > 0:
        how += f", minus {overall['penalty']:g} points late penalty"
        if overall.get("late_note"):
            how += f" ({e(overall['late_note'])})"
    parts.append(f"<p>How it was made: {how}.</p>")
    if overall.get("pending_points"):
        parts.append(
            f"<p>Written answers worth {overall['pending_points']:g} point(s) are still to "
            "be graded by your instructor; their points are added then.</p>"
        )
    return "\n".join(parts) + "\n"


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
    *,
    overall: dict | None = None,
    questions: dict[str, dict] | None = None,
    comments: dict[str, str] | None = None,
) -> str:
    """One notebook's feedback page as HTML.

    ``cells`` are the notebook's :class:`~course_rnn.grading.gradebook.CellInfo`;
    ``result`` the worker's outcome for the notebook (tests, problems, the graded
    ``file``, the student's answers); ``scores`` the gradebook's per-grade-id scores
    (which include any manual grading); ``notes`` the choices made about the student's
    files. ``overall`` gives the assignment's totals for the headline (``score``,
    ``max_score``, ``penalty``, ``pending_points``, ``notebooks``, ``late_note``; then
    ``late_note`` is shown inside it); ``questions`` maps grade ids to their question
    (:func:`question_map`); ``comments`` the instructor's formgrader comments by grade
    id, shown beside their question. Every text that came from the submission is
    escaped, cut and stripped of the grader's host paths.
    """
    notes = notes or []
    questions = questions or {}
    comments = dict(comments or {})
    e = html.escape
    verdicts = {t.grade_id: t for t in result.tests}
    graded = [c for c in cells if c.scoring != "answer"]
    earned = sum((scores.get(c.grade_id, {}).get("score") or 0.0) for c in graded)
    possible = sum(c.max_points for c in graded)
    pending_points = sum(c.max_points for c in graded if scores.get(c.grade_id, {}).get("pending"))
    rows = []
    for cell in graded:
        score = scores.get(cell.grade_id, {})
        question = questions.get(cell.grade_id, {})
        title = question.get("title") or cell.grade_id
        owned = question.get("answers") or [cell.grade_id]
        extra = ""
        if cell.scoring == "test":
            verdict = verdicts.get(cell.grade_id)
            passed = bool(verdict and verdict.passed)
            status = "passed" if passed else "failed"
            message = "" if verdict is None else str(verdict.message or "")
            if verdict is None:
                message = "this test could not be run (see the problems above)"
            message = redact(redact_host_paths(message[:4000]), hidden)
            label = f'<span class="{status}">{status}</span>'
            if not passed:
                for gid in owned:
                    code = result.answers.get(gid)
                    if code is None or not code.strip():
                        continue
                    code = redact(redact_host_paths(code[:4000]), hidden)
                    extra += (
                        '<div class="answer"><p>Your answer:</p>'
                        f"<pre><code>{e(code)}</code></pre></div>"
                    )
        else:
            pending = bool(score.get("pending"))
            label = (
                '<span class="pending">awaiting manual grading</span>'
                if pending
                else '<span class="passed">graded</span>'
            )
            message = (
                "written answer, to be graded by your instructor"
                if pending
                else "written answer, graded by your instructor"
            )
            if not pending and score.get("score") == 0 and cell.scoring == "manual":
                message = "no answer was given"
        for gid in owned:
            text = comments.pop(gid, None)
            if text:
                extra += (
                    '<div class="comment"><p>Comment from your instructor:</p>'
                    f"<p>{e(one_line_keep_breaks(text))}</p></div>"
                )
        rows.append(
            f'<tr><th scope="row">{e(title)}<br><code class="id">{e(cell.grade_id)}</code></th>'
            f"<td>{label}</td>"
            f"<td>{_points(score.get('score'), cell.max_points)}</td>"
            f"<td><pre>{e(message)}</pre>{extra}</td></tr>"
        )
    leftover = "".join(
        f"<li><code>{e(gid)}</code>: {e(one_line_keep_breaks(text))}</li>"
        for gid, text in comments.items()
        if text
    )
    if leftover:
        leftover = (
            f'<div class="comment"><p>Comments from your instructor:</p><ul>{leftover}</ul></div>\n'
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

    where = assignment if notebook == assignment else f"{assignment}, notebook {notebook}"
    title = f"Feedback on {where} for {student}"
    if overall is None:
        headline = _headline(None, earned, possible, pending_points)
        if pending_points:
            headline += "<p>Written answers count once your instructor has graded them.</p>\n"
        late_html = f"<p>{e(late_note)}</p>" if late_note else ""
    else:
        headline = _headline(overall, earned, possible, pending_points)
        late_html = ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title><style>{_STYLE}</style></head><body>\n"
        f"<h1>{e(title)}</h1>\n{headline}"
        f"{file_html}{late_html}\n{problem_html}\n"
        "<table><thead><tr><th>Question</th><th>Result</th><th>Points</th>"
        "<th>Message</th></tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>\n"
        f"{leftover}</body></html>\n"
    )


def one_line_keep_breaks(text: str, limit: int = 4000) -> str:
    """An instructor's comment: control characters escaped, line breaks kept, cut."""
    return "\n".join(one_line(line, limit) for line in str(text)[:limit].splitlines())


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
    questions = {name: question_map(path) for name, path in sources.items()}
    failed: dict[str, str] = {}
    for student, outcome in sorted(outcomes.items()):
        try:
            _write_student(
                folder, info, outcome, scores[student], policy, hidden, student, questions
            )
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
    questions: dict[str, dict[str, dict]] | None = None,
) -> None:
    """Write one student's pages (one per notebook)."""
    questions = questions or {}
    late_note = ""
    if student_scores["seconds_late"] > 0:
        hours = student_scores["seconds_late"] / 3600
        late_note = (
            f"submitted {hours:.1f} hours after the due date; late policy: {policy.describe()}"
        )
    pending_points = sum(
        g["max_score"]
        for nb in student_scores["notebooks"].values()
        for g in nb.values()
        if g.get("pending")
    )
    overall = {
        "score": student_scores["score"],
        "max_score": student_scores["max_score"],
        "penalty": student_scores["penalty"],
        "pending_points": pending_points,
        "notebooks": len(info.notebooks),
        "late_note": late_note,
    }
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
            overall=overall,
            questions=questions.get(name),
            comments=student_scores.get("comments", {}).get(name),
        )
        dest = folder / student / info.name / f"{name}.html"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(page, encoding="utf-8")
