"""The class report: score histogram, per-question pass rates, and who needs attention.

Writes ``score_histogram.png`` and ``pass_rates.png`` (matplotlib, no pyplot state),
``report.md`` and ``report.html`` into the output folder. Same inputs give the same
files: nothing depends on the clock. Student-controlled text (ids, file names,
problems) is escaped for Markdown (no raw HTML, no Markdown markup), and
``report.html`` is the Markdown rendered with raw HTML off, then sanitised; similar
answers (:mod:`~course_rnn.grading.similarity`) follow it side by side, every piece of
student code escaped with ``html.escape`` and the page sanitised again.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from course_rnn.grading.gradebook import AssignmentInfo
from course_rnn.grading.late import LatePolicy
from course_rnn.grading.markup import (
    markdown_text,
    markdown_to_html,
    one_line,
    sanitize_html,
    summarise,
)
from course_rnn.grading.results import StudentOutcome

__all__ = [
    "attention_lines",
    "classify",
    "diagnosis",
    "failure_groups",
    "pass_rates",
    "write_report",
]

_PNG_META = {"Software": None}


def pass_rates(info: AssignmentInfo, outcomes: dict[str, StudentOutcome]) -> dict[str, float]:
    """Fraction of students who passed each autograded test, keyed ``notebook/grade_id``."""
    rates: dict[str, float] = {}
    n = len(outcomes)
    for name, cells in info.notebooks.items():
        for cell in cells:
            if cell.scoring != "test":
                continue
            passed = 0
            for outcome in outcomes.values():
                notebook = outcome.notebooks.get(name)
                tests = notebook.tests if notebook is not None else []
                passed += any(t.grade_id == cell.grade_id and t.passed for t in tests)
            rates[f"{name}/{cell.grade_id}"] = passed / n if n else 0.0
    return rates


_HINT = re.compile(r"\bHint: (.+?)\s*$", re.DOTALL)
NO_DIAGNOSIS = "no known mistake recognised (see each student's message)"


def diagnosis(message: str) -> str:
    """The mistake a failure message names: its ``Hint:`` (``course_rnn.testing``'s
    ``assert_close`` adds one only when the output is that typical mistake's output)."""
    match = _HINT.search(str(message or ""))
    return one_line(match.group(1), 200) if match else NO_DIAGNOSIS


def _unanswered(source: str | None, released: str) -> bool:
    text = (source or "").strip()
    return not text or text == released.strip()


def _unreadable(notebook) -> bool:
    """Not submitted, unreadable (graded as empty), or not graded at all."""
    if notebook is None or not notebook.submitted:
        return True
    return any(
        "graded as empty" in p or p.startswith(("grading failed", "the submission could not"))
        for p in notebook.problems
    ) or (not notebook.tests and bool(notebook.problems))


def classify(info: AssignmentInfo, outcomes: dict[str, StudentOutcome]) -> dict[str, str]:
    """Each student as ``"unreadable"`` (no notebook could be read or graded),
    ``"blank"`` (every answer left as released) or ``"graded"``."""
    kinds = {}
    for student, outcome in outcomes.items():
        notebooks = [outcome.notebooks.get(name) for name in info.notebooks]
        if all(_unreadable(nb) for nb in notebooks):
            kinds[student] = "unreadable"
            continue
        answered = any(
            not _unanswered((nb.answers if nb else {}).get(cell.grade_id), cell.released)
            for name, nb in zip(info.notebooks, notebooks, strict=True)
            for cell in info.notebooks[name]
            if cell.scoring in ("answer", "manual")
        )
        kinds[student] = "graded" if answered else "blank"
    return kinds


def failure_groups(
    info: AssignmentInfo,
    outcomes: dict[str, StudentOutcome],
    titles: dict[str, dict[str, dict]] | None = None,
) -> list[tuple[str, str, list[tuple[str, list[str]]]]]:
    """What the class got wrong: per failed test, its students grouped by diagnosis.

    Returns ``[(notebook/grade_id, question title, [(diagnosis, students), ...]), ...]``
    in notebook order, the largest group first; tests nobody failed are left out.
    """
    titles = titles or {}
    groups = []
    for name, cells in info.notebooks.items():
        for cell in cells:
            if cell.scoring != "test":
                continue
            by_mistake: dict[str, list[str]] = {}
            for student, outcome in sorted(outcomes.items()):
                notebook = outcome.notebooks.get(name)
                verdict = next(
                    (
                        t
                        for t in (notebook.tests if notebook else [])
                        if t.grade_id == cell.grade_id
                    ),
                    None,
                )
                if verdict is not None and verdict.passed:
                    continue
                reason = diagnosis(verdict.message) if verdict else "the test did not run"
                by_mistake.setdefault(reason, []).append(student)
            if by_mistake:
                ordered = sorted(
                    by_mistake.items(), key=lambda kv: (kv[0] == NO_DIAGNOSIS, -len(kv[1]))
                )
                title = titles.get(name, {}).get(cell.grade_id, {}).get("title", cell.grade_id)
                groups.append((f"{name}/{cell.grade_id}", title, ordered))
    return groups


def attention_lines(summary) -> list[str]:
    """What still needs the instructor, for the end of the terminal summary: late
    students, written answers waiting in the formgrader, and a warning when grades were
    exported for an LMS while written answers are ungraded. Reads what
    :func:`write_report` left on ``summary`` (nothing when no report was written)."""
    attention = summary.attention
    if not attention:
        return []
    lines = []
    late = attention["late"]
    if late:
        shown = ", ".join(
            f"{one_line(s, 60)} ({hours:.1f} h, -{penalty:g})" for s, hours, penalty in late[:20]
        )
        more = f" and {len(late) - 20} more" if len(late) > 20 else ""
        lines.append(f"{len(late)} late submission(s): {shown}{more}")
    pending = attention["pending"]
    if pending:
        shown = ", ".join(one_line(s, 60) for s in pending[:20])
        more = f" and {len(pending) - 20} more" if len(pending) > 20 else ""
        lines.append(
            f"{len(pending)} student(s) with written answers waiting for you in the "
            f"formgrader (course-rnn formgrader --out OUT): {shown}{more}"
        )
        if getattr(summary, "lms", None):
            names = ", ".join(e.path.name for e in summary.lms)
            lines.append(
                f"warning: {names} scored {len(pending)} student(s) without their ungraded "
                "written answers; grade them in the formgrader and run the same command "
                "again before importing"
            )
    return lines


def _histogram(path: Path, finals: list[float], max_score: float) -> None:
    fig = Figure(figsize=(6, 3.5), dpi=100)
    ax = fig.add_subplot()
    top = max_score if max_score > 0 else 1.0
    bins = [top * i / 10 for i in range(11)]
    ax.hist(finals, bins=bins, color="#3b6ea5", edgecolor="white")
    ax.set_xlim(0, top)
    ax.set_xlabel(f"score (of {top:g})")
    ax.set_ylabel("students")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # whole students
    ax.set_title(f"Scores of {len(finals)} students")
    fig.tight_layout()
    fig.savefig(path, metadata=_PNG_META)


def _rates_plot(path: Path, rates: dict[str, float]) -> None:
    names = list(rates)
    fig = Figure(figsize=(6, 0.6 + 0.35 * max(1, len(names))), dpi=100)
    ax = fig.add_subplot()
    ax.barh(range(len(names)), [100 * rates[k] for k in names], color="#4c9a6a")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("students who passed (%)")
    ax.set_title("Pass rate per autograded test")
    fig.tight_layout()
    fig.savefig(path, metadata=_PNG_META)


def write_report(
    out: Path,
    info: AssignmentInfo,
    outcomes: dict[str, dict],
    scores: dict[str, dict],
    summary,
    policy: LatePolicy,
    similarity=None,
    sources: dict[str, Path] | None = None,
) -> dict[str, Path]:
    """Write the class report files into ``out``; return them by kind.

    ``scores`` are the gradebook's per-student scores, ``summary`` the run's
    :class:`~course_rnn.grading.pipeline.RunSummary` (problems and rejected entries),
    ``similarity`` a :class:`~course_rnn.grading.similarity.SimilarityReport` (its pairs
    are listed last, side by side in ``report.html``), ``sources`` the source notebooks
    (for question titles; without them grade ids stand in). Blank and unreadable
    submissions are counted apart, not in the pass rates; failures are grouped per test
    by the mistake their message names. The late students and pending written answers
    are left on ``summary.attention`` for :func:`attention_lines`.
    """
    students = sorted(outcomes)
    finals = [scores[s]["score"] - scores[s]["penalty"] for s in students]
    kinds = classify(info, outcomes)
    counted = {s: o for s, o in outcomes.items() if kinds[s] == "graded"}
    rates = pass_rates(info, counted)
    titles = {}
    if sources:
        from course_rnn.grading.feedback import question_map

        for name, path in sources.items():
            try:
                titles[name] = question_map(path)
            except Exception:  # noqa: BLE001 - titles are a courtesy; ids stand in
                titles[name] = {}
    paths = {
        "histogram": out / "score_histogram.png",
        "pass_rates": out / "pass_rates.png",
        "markdown": out / "report.md",
        "html": out / "report.html",
    }
    _histogram(paths["histogram"], finals, info.max_score)
    _rates_plot(paths["pass_rates"], rates)

    n = len(finals)
    ordered = sorted(finals)
    pending = [
        s
        for s in students
        if any(g["pending"] for nb in scores[s]["notebooks"].values() for g in nb.values())
    ]
    late = [s for s in students if scores[s]["seconds_late"] > 0]
    lines = [f"# Grading report: {info.name}", ""]
    lines += [
        "| students graded | mean | median | min | max | points possible |",
        "|---|---|---|---|---|---|",
    ]
    if n:
        lines.append(
            f"| {n} | {sum(finals) / n:.1f} | {ordered[n // 2]:g} | {ordered[0]:g} | "
            f"{ordered[-1]:g} | {info.max_score:g} |"
        )
    else:
        lines.append(f"| 0 | – | – | – | – | {info.max_score:g} |")
    lines += ["", "![Score histogram](score_histogram.png)", ""]
    blank = [s for s in students if kinds[s] == "blank"]
    unreadable = [s for s in students if kinds[s] == "unreadable"]
    lines += ["## Blank and unreadable submissions", ""]
    lines.append(
        f"{len(counted)} submission(s) answered something and count in the pass rates "
        f"below; {len(blank)} blank (every answer as released) and {len(unreadable)} "
        "unreadable or missing are counted apart (they score what grades.csv says)."
    )
    for label, group in (("Blank", blank), ("Unreadable or missing", unreadable)):
        if group:
            lines += ["", f"{label}: " + ", ".join(markdown_text(s) for s in group) + "."]
    lines += [""]
    lines += [
        f"## Pass rate per autograded test ({len(counted)} answered submission(s))",
        "",
        "| test | passed |",
        "|---|---|",
    ]
    lines += [f"| `{k}` | {100 * v:.0f}% |" for k, v in rates.items()]
    lines += ["", "![Pass rates](pass_rates.png)", ""]
    lines += ["## What the class got wrong", ""]
    lines.append(
        "Failures of the answered submissions per test, grouped by the mistake the test's "
        "message names (its hint: the output matched that typical mistake's output)."
    )
    lines.append("")
    groups = failure_groups(info, counted, titles)
    if groups:
        lines += ["| test | question | students | diagnosis | who |", "|---|---|---|---|---|"]
        for key, title, mistakes in groups:
            for reason, who in mistakes:
                listed = ", ".join(markdown_text(w) for w in who[:30])
                if len(who) > 30:
                    listed += f" and {len(who) - 30} more"
                lines.append(
                    f"| `{key}` | {markdown_text(title, 120)} | {len(who)} | "
                    f"{markdown_text(reason, 200)} | {listed} |"
                )
    else:
        lines.append("None: every answered submission passed every test.")
    lines += [""]
    lines += ["## Submissions that could not be graded fully", ""]
    if summary.problems:
        lines += ["| student | what went wrong |", "|---|---|"]
        for student, problems in sorted(summary.problems.items()):
            text = "; ".join(markdown_text(p, 300) for p in summarise(problems, 5))
            lines.append(f"| {markdown_text(student)} | {text} |")
    else:
        lines.append("None.")
    lines += ["", "## Choices made and files refused", ""]
    notes = getattr(summary, "notes", {})
    if notes:
        lines += ["| student | note |", "|---|---|"]
        for student, items in sorted(notes.items()):
            text = "; ".join(markdown_text(n, 300) for n in summarise(items, 5, "note(s)"))
            lines.append(f"| {markdown_text(student)} | {text} |")
    else:
        lines.append("None.")
    refused = [e for e in summary.rejected if not getattr(e, "skipped", False)]
    skipped = [e for e in summary.rejected if getattr(e, "skipped", False)]
    for title, entries in (
        ("Entries rejected (not graded)", refused),
        ("Entries skipped (not submissions)", skipped),
    ):
        lines += ["", f"## {title}", ""]
        if entries:
            lines += ["| entry | reason |", "|---|---|"]
            for entry in entries[:200]:
                lines.append(
                    f"| {markdown_text(repr(entry.entry), 120)} | {markdown_text(entry.reason)} |"
                )
            if len(entries) > 200:
                lines.append(f"| … | {len(entries) - 200} more, not listed |")
        else:
            lines.append("None.")
    lines += ["", "## Late submissions", "", f"Policy: {policy.describe()}.", ""]
    if late:
        lines += ["| student | hours late | penalty |", "|---|---|---|"]
        for s in late:
            lines.append(
                f"| {markdown_text(s)} | {scores[s]['seconds_late'] / 3600:.1f} | "
                f"{scores[s]['penalty']:g} |"
            )
    else:
        lines.append("None.")
    lines += ["", "## Manual grading", ""]
    lines.append(
        f"{len(pending)} student(s) have written answers waiting in the formgrader"
        + (": " + ", ".join(markdown_text(p) for p in pending) if pending else ".")
    )
    if pending:
        lines += [
            "",
            "**Until they are graded, grades.csv and any LMS import file (--format) score "
            "these students without those answers.** Grade them in the formgrader "
            "(`course-rnn formgrader --out OUT`), then run the same `course-rnn grade` "
            "command again before importing.",
        ]
    summary.attention = {  # for the terminal summary (attention_lines)
        "late": [(s, scores[s]["seconds_late"] / 3600, scores[s]["penalty"]) for s in late],
        "pending": pending,
    }
    if similarity is not None:
        lines += ["", *_similarity_lines(similarity)]
    markdown = "\n".join(lines) + "\n"
    paths["markdown"].write_text(markdown, encoding="utf-8")
    paths["html"].write_text(_markdown_to_html(markdown, info.name, similarity), encoding="utf-8")
    return paths


def _similarity_lines(similarity) -> list[str]:
    """The similarity section of ``report.md``: what was compared and the pairs listed."""
    from course_rnn.grading.similarity import DISCLAIMER

    s = similarity.settings
    lines = ["## Similar answers", "", f"**{DISCLAIMER}**", ""]
    lines.append(
        f"Answers are compared per autograded answer cell, with the released template "
        f"removed, comments ignored and names normalised. A pair is listed when they "
        f"share at least {s.min_shared} characters of normalised code and that covers at "
        f"least {100 * s.threshold:.0f}% of either answer's distinctive code (code found in "
        f"the answers of more than {100 * s.common_fraction:.0f}% of the class, and of more "
        f"than {s.common_min} students, is not counted; "
        f"answers under {s.min_answer} characters are not compared)."
    )
    lines += ["", "| answer cell | answers compared | pairs listed |", "|---|---|---|"]
    for key, count in similarity.cells.items():
        listed = sum(f"{p.notebook}/{p.grade_id}" == key for p in similarity.pairs)
        more = f" (+{similarity.unlisted[key]} not shown)" if key in similarity.unlisted else ""
        lines.append(f"| `{key}` | {count} | {listed}{more} |")
    lines.append("")
    whole = getattr(similarity, "whole", [])
    lines += ["### Whole submissions alike", ""]
    lines.append(
        "Short answers are never evidence alone; here every answer cell, code and written, "
        "short or long, is compared (template lines, comments, case and spacing ignored)."
    )
    lines.append("")
    if whole:
        lines += ["| student | student | every answer cell |", "|---|---|---|"]
        for w in whole:
            alike = (
                f"identical ({w.cells} cells)"
                if w.identical
                else f"nearly identical ({w.cells} cells, each at least {100 * w.least:.0f}% alike)"
            )
            lines.append(
                f"| {markdown_text(w.student_a)} | {markdown_text(w.student_b)} | {alike} |"
            )
    else:
        lines.append("No two whole submissions are alike.")
    lines += ["", "### Similar answers per cell", ""]
    if not similarity.pairs:
        lines.append("No pair above the threshold.")
        return lines
    lines += ["| answer cell | student | student | shared |", "|---|---|---|---|"]
    for p in similarity.pairs:
        lines.append(
            f"| `{p.notebook}/{p.grade_id}` | {markdown_text(p.student_a)} "
            f"({100 * p.fraction_a:.0f}%) | {markdown_text(p.student_b)} "
            f"({100 * p.fraction_b:.0f}%) | {100 * p.similarity:.0f}% |"
        )
    lines += ["", "report.html shows each pair's answers side by side, shared parts highlighted."]
    return lines


def _markdown_to_html(markdown: str, title: str, similarity=None) -> str:
    """``report.md`` as a standalone HTML page (rendered, then sanitised: see markup);
    the similar pairs side by side after it (escaped, then sanitised too)."""
    e = html.escape
    style = (
        "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.3rem .6rem}"
        "img{max-width:100%}"
    )
    pairs = ""
    if similarity is not None and similarity.pairs:
        from course_rnn.grading.similarity import SIMILARITY_STYLE, pairs_html

        style += SIMILARITY_STYLE
        pairs = "\n" + sanitize_html(pairs_html(similarity))
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Grading report: {e(title)}</title><style>{style}</style></head><body>\n"
        + markdown_to_html(markdown)
        + pairs
        + "\n</body></html>\n"
    )
