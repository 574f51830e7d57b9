"""Grades in the LMS's own gradebook import format, with student ids mapped by a roster.

``course-rnn grade ... --format canvas --roster roster.csv`` writes, next to
``grades.csv``:

- ``canvas_grades.csv``: the columns of a Canvas gradebook export (``Student``, ``ID``,
  ``SIS User ID``, ``SIS Login ID``, ``Section``) copied from the roster, plus one
  column named for the assignment with each student's final score (late penalty
  subtracted). A column name Canvas does not know creates a new assignment on import;
  give the name of an existing one (as exported, e.g. ``RNN forward (12345)``) with
  ``--lms-column`` to fill it instead;
- ``moodle_grades.csv`` (``--format moodle``): the roster's identity columns
  (``First name``, ``Last name``, ``ID number``, ``Username``, ``Email address``, those
  present) plus the assignment column; Moodle's "Import grades from CSV" maps one of
  them to its users;
- ``<format>_unmatched.csv``: every id that could not be matched, never dropped: graded
  students missing from the roster (with their score, to enter by hand) and roster
  students without a grade (left blank in the import file, so the LMS keeps what it has).

The roster is the LMS's own export (Canvas: Grades, Export; Moodle: Grades, Export to
CSV). Which column holds the ids nbgrader uses is found by matching: the candidate
column that matches the most graded ids (``--roster-key`` names one instead).
Matching ignores case and surrounding spaces.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["FORMATS", "LmsExport", "Roster", "read_roster", "write_lms_grades"]

CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MOODLE_COLUMNS = ("First name", "Last name", "ID number", "Username", "Email address")
FORMATS = {
    # format: (identity columns copied, candidate id columns in order of preference,
    #          columns the roster must have)
    "canvas": (CANVAS_COLUMNS, ("SIS Login ID", "SIS User ID", "ID"), CANVAS_COLUMNS),
    "moodle": (MOODLE_COLUMNS, ("Username", "ID number", "Email address"), ()),
}
MAX_ROSTER_BYTES = 20 * 1024 * 1024


@dataclass
class Roster:
    """The rows of a roster file, with its header."""

    path: Path
    columns: list[str]
    rows: list[dict[str, str]]


@dataclass
class LmsExport:
    """What one export wrote, and the ids it could not match."""

    format: str
    path: Path
    key: str  # the roster column matched against student ids
    matched: list[str] = field(default_factory=list)
    not_in_roster: list[str] = field(default_factory=list)  # graded, not in the roster
    not_graded: list[str] = field(default_factory=list)  # in the roster, no grade
    duplicates: list[str] = field(default_factory=list)  # in the roster again: left blank
    unmatched_path: Path | None = None


def _key(value: str) -> str:
    return value.strip().casefold()


def read_roster(path: Path, fmt: str) -> Roster:
    """Read and check a roster CSV for ``fmt``; raise ``ValueError`` saying what is wrong.

    Canvas's export has a "Points Possible" row (and may have a "Muted" row) under the
    header: they are not students and are skipped.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown LMS format {fmt!r}: expected one of {', '.join(FORMATS)}")
    try:
        if path.stat().st_size > MAX_ROSTER_BYTES:
            raise ValueError(f"roster {path} is larger than {MAX_ROSTER_BYTES >> 20} MiB")
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"roster {path} cannot be read as UTF-8 CSV: {exc}") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = [c.strip() for c in (reader.fieldnames or [])]
    identity, candidates, required = FORMATS[fmt]
    missing = [c for c in required if c not in columns]
    if missing or not any(c in columns for c in candidates):
        need = ", ".join(required or candidates)
        raise ValueError(
            f"roster {path} is not a {fmt} roster: it needs the columns {need}"
            + (f" (missing: {', '.join(missing)})" if missing else "")
            + f"; it has: {', '.join(columns) or 'no header'}"
        )
    rows = []
    for raw in reader:
        row = {(k or "").strip(): (v if isinstance(v, str) else "").strip() for k, v in raw.items()}
        first = row.get(columns[0], "")
        if first in ("Points Possible", "Muted") or not any(row.values()):
            continue
        rows.append(row)
    return Roster(path, columns, rows)


def _choose_key(roster: Roster, fmt: str, student_ids: list[str], key: str | None) -> str:
    _, candidates, _ = FORMATS[fmt]
    if key is not None:
        if key not in roster.columns:
            raise ValueError(
                f"--roster-key {key!r} is not a column of {roster.path}: "
                f"{', '.join(roster.columns)}"
            )
        return key
    wanted = {_key(s) for s in student_ids}
    present = [c for c in candidates if c in roster.columns]
    # Most matches wins; ties go to the earlier candidate (the usual login name first).
    return max(present, key=lambda c: (sum(_key(r.get(c, "")) in wanted for r in roster.rows),
                                       -present.index(c)))  # fmt: skip


def _score(value: float) -> str:
    return f"{round(value, 2):g}"


def _safe_cell(value: str) -> str:
    """A spreadsheet never reads a cell of ours as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def write_lms_grades(
    out: Path,
    fmt: str,
    roster: Roster,
    scores: dict[str, float],
    column: str,
    key: str | None = None,
) -> LmsExport:
    """Write ``<fmt>_grades.csv`` (and ``<fmt>_unmatched.csv`` when an id is unmatched).

    ``scores`` is student id -> final score (the run's ``RunSummary.scores``), ``column``
    the assignment column's name. Rows follow the roster's order; the file has every
    roster student, blank where there is no grade.
    """
    identity, _, _ = FORMATS[fmt]
    chosen = _choose_key(roster, fmt, list(scores), key)
    by_key: dict[str, str] = {_key(s): s for s in scores}
    export = LmsExport(fmt, out / f"{fmt}_grades.csv", chosen)
    columns = [c for c in identity if c in roster.columns]
    if chosen not in columns:
        columns.append(chosen)
    seen: set[str] = set()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*columns, column])
    for row in roster.rows:
        ident = _key(row.get(chosen, ""))
        student = by_key.get(ident) if ident else None
        if student is None or ident in seen:
            label = row.get(chosen, "") or row.get(columns[0], "")
            (export.duplicates if student else export.not_graded).append(label)
            writer.writerow([*(row.get(c, "") for c in columns), ""])
            continue
        seen.add(ident)
        export.matched.append(student)
        writer.writerow([*(row.get(c, "") for c in columns), _score(scores[student])])
    export.path.write_text(buffer.getvalue(), encoding="utf-8")
    export.not_in_roster = sorted(s for s in scores if _key(s) not in seen)
    unmatched_path = out / f"{fmt}_unmatched.csv"
    if export.not_in_roster or export.not_graded or export.duplicates:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["id", "problem", "score"])
        for student in export.not_in_roster:
            writer.writerow(
                [
                    _safe_cell(student),
                    f"graded, but not in the roster (column {chosen}): enter by hand",
                    _score(scores[student]),
                ]
            )
        for label in export.not_graded:
            writer.writerow(
                [_safe_cell(label), "in the roster, but no grade: left blank in the import", ""]
            )
        for label in export.duplicates:
            writer.writerow(
                [_safe_cell(label), "in the roster twice: only the first row has the grade", ""]
            )
        unmatched_path.write_text(buffer.getvalue(), encoding="utf-8")
        export.unmatched_path = unmatched_path
    elif unmatched_path.exists():
        unmatched_path.unlink()  # a stale list from an earlier run would mislead
    return export


def summary_lines(export: LmsExport, limit: int = 20) -> list[str]:
    """The export in a few lines for the run's summary: every unmatched id named."""
    from course_rnn.grading.markup import one_line

    lines = [
        f"{export.format}: {export.path.name} has {len(export.matched)} grade(s), matched on "
        f"the roster's {export.key!r} column"
    ]
    for title, ids in (
        ("graded but not in the roster (not in the import file)", export.not_in_roster),
        ("in the roster but not graded (left blank)", export.not_graded),
        ("in the roster twice (only the first row has the grade)", export.duplicates),
    ):
        if ids:
            shown = ", ".join(one_line(i, 60) for i in ids[:limit])
            more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
            lines.append(f"  {len(ids)} {title}: {shown}{more}")
    if export.unmatched_path is not None:
        lines.append(f"  all of them, with scores, in {export.unmatched_path.name}")
    return lines
