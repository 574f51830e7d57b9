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
column that matches the most graded ids (``--roster-key`` names one instead, checked
with :func:`check_roster_key` before grading starts).

Matching is exact first. A graded id without an exact match is matched ignoring ASCII
case (and surrounding spaces) only when that is unambiguous: one graded id and one
roster id that differ only in case. Ids that differ only in case from another graded
or roster id (``casey`` and ``Casey``) are never merged: each is listed as ambiguous in
``<format>_unmatched.csv`` (graded ones with their score), and the roster row stays
blank. Every cell of every file follows :mod:`~course_rnn.grading.csvsafe`'s rule.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from course_rnn.grading.csvsafe import csv_text

__all__ = [
    "FORMATS",
    "LmsExport",
    "Roster",
    "check_roster_key",
    "read_roster",
    "write_lms_grades",
]

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
    # ids (graded, or the roster's) that match another only ignoring case: never merged
    ambiguous: list[str] = field(default_factory=list)
    unmatched_path: Path | None = None


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _key(value: str) -> str:
    """``value`` without surrounding spaces, ASCII letters in lower case (and nothing else
    folded: the Kelvin sign is not a 'k', 'ß' is not 'ss')."""
    return value.strip().translate(_ASCII_LOWER)


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
        raise ValueError(f"roster {path} cannot be read as UTF-8 CSV: {exc}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return _parse_roster(path, fmt, reader)
    except csv.Error as exc:  # a field over the csv module's limit, a stray quote ...
        raise ValueError(
            f"roster {path} cannot be read as CSV (line {reader.line_num}): {exc}"
        ) from None


def _parse_roster(path: Path, fmt: str, reader: csv.DictReader) -> Roster:
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


def check_roster_key(roster: Roster, key: str | None) -> None:
    """Raise ``ValueError`` when ``key`` (``--roster-key``) is not a column of ``roster``."""
    if key is not None and key not in roster.columns:
        raise ValueError(
            f"--roster-key {key!r} is not a column of {roster.path}: {', '.join(roster.columns)}"
        )


def _choose_key(roster: Roster, fmt: str, student_ids: list[str], key: str | None) -> str:
    _, candidates, _ = FORMATS[fmt]
    if key is not None:
        check_roster_key(roster, key)
        return key
    wanted = {_key(s) for s in student_ids}
    present = [c for c in candidates if c in roster.columns]
    # Most matches wins; ties go to the earlier candidate (the usual login name first).
    return max(present, key=lambda c: (sum(_key(r.get(c, "")) in wanted for r in roster.rows),
                                       -present.index(c)))  # fmt: skip


def _score(value: float) -> str:
    return f"{round(value, 2):g}"


def _match(
    rows: list[dict[str, str]], chosen: str, scores: dict[str, float]
) -> tuple[dict[int, str], dict[int, str], dict[str, str], list[int]]:
    """Match roster rows to graded ids: exact first, then ignoring case when unambiguous.

    Returns (row index -> graded id, row index -> why it is ambiguous, graded id -> why
    it is ambiguous, row indices repeating a matched id).
    """
    values = [row.get(chosen, "").strip() for row in rows]
    matched: dict[int, str] = {}
    repeats: list[int] = []
    taken: set[str] = set()
    exact = set(scores)
    for i, value in enumerate(values):
        if value in exact:
            if value in taken:
                repeats.append(i)
            else:
                matched[i] = value
                taken.add(value)
    groups: dict[str, tuple[list[str], list[int]]] = {}
    for student in scores:
        groups.setdefault(_key(student), ([], []))[0].append(student)
    for i, value in enumerate(values):
        if value and _key(value) in groups:
            groups[_key(value)][1].append(i)
    odd_rows: dict[int, str] = {}
    odd_ids: dict[str, str] = {}
    for graded, indices in groups.values():
        ids_left = [s for s in graded if s not in taken]
        rows_left = [i for i in indices if i not in matched and i not in repeats]
        if not ids_left and not rows_left:
            continue
        if not indices:  # nobody in the roster: plainly not in it, each with its score
            continue
        left_values = sorted({values[i] for i in rows_left})
        if len(graded) == 1 and ids_left and len(left_values) == 1 and not taken & set(graded):
            student = ids_left[0]
            first, *others = rows_left
            matched[first] = student
            taken.add(student)
            repeats.extend(others)
            continue
        names = sorted({*graded, *(values[i] for i in indices)})
        why = f"ids that differ only in case ({', '.join(names)}): never merged"
        for student in ids_left:
            odd_ids[student] = why
        for i in rows_left:
            odd_rows[i] = why
    return matched, odd_rows, odd_ids, sorted(repeats)


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
    roster student, blank where there is no grade (or the match is ambiguous).
    """
    identity, _, _ = FORMATS[fmt]
    chosen = _choose_key(roster, fmt, list(scores), key)
    export = LmsExport(fmt, out / f"{fmt}_grades.csv", chosen)
    columns = [c for c in identity if c in roster.columns]
    if chosen not in columns:
        columns.append(chosen)
    matched, odd_rows, odd_ids, repeats = _match(roster.rows, chosen, scores)
    lines: list[list[str]] = [[*columns, column]]
    for i, row in enumerate(roster.rows):
        label = row.get(chosen, "") or row.get(columns[0], "")
        student = matched.get(i)
        if student is not None:
            export.matched.append(student)
            lines.append([*(row.get(c, "") for c in columns), _score(scores[student])])
            continue
        if i in repeats:
            export.duplicates.append(label)
        elif i in odd_rows:
            export.ambiguous.append(label)
        else:
            export.not_graded.append(label)
        lines.append([*(row.get(c, "") for c in columns), ""])
    export.path.write_text(csv_text(lines), encoding="utf-8")
    done = set(export.matched)
    export.not_in_roster = sorted(s for s in scores if s not in done and s not in odd_ids)
    export.ambiguous = sorted(odd_ids) + export.ambiguous
    unmatched_path = out / f"{fmt}_unmatched.csv"
    if export.not_in_roster or export.not_graded or export.duplicates or export.ambiguous:
        lines = [["id", "problem", "score"]]
        for student in export.not_in_roster:
            lines.append(
                [
                    student,
                    f"graded, but not in the roster (column {chosen}): enter by hand",
                    _score(scores[student]),
                ]
            )
        for student in sorted(odd_ids):
            lines.append(
                [student, f"graded; {odd_ids[student]}: enter by hand", _score(scores[student])]
            )
        for i, why in sorted(odd_rows.items()):
            label = roster.rows[i].get(chosen, "")
            lines.append([label, f"in the roster; {why}: left blank in the import", ""])
        for label in export.not_graded:
            lines.append([label, "in the roster, but no grade: left blank in the import", ""])
        for label in export.duplicates:
            lines.append([label, "in the roster twice: only the first row has the grade", ""])
        unmatched_path.write_text(csv_text(lines), encoding="utf-8")
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
        ("differ only in case from another id (never merged; not in the import)",
         export.ambiguous),
    ):  # fmt: skip
        if ids:
            shown = ", ".join(one_line(i, 60) for i in ids[:limit])
            more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
            lines.append(f"  {len(ids)} {title}: {shown}{more}")
    if export.unmatched_path is not None:
        lines.append(f"  all of them, with scores, in {export.unmatched_path.name}")
    return lines
