"""Rebuild a student's notebook from the instructor's source: the source is authoritative.

The grader never trusts the structure of a submission. It walks the *source* notebook
(the nbgrader solutions notebook) and, cell by cell:

- test cells, read-only cells and task cells are copied from the source (a deleted,
  edited, duplicated or renamed test cell cannot change what is checked);
- answer cells (``solution: true``) take the student's text, matched by ``grade_id``;
  metadata (points, type, schema version) always comes from the source;
- the student's own extra cells (no nbgrader metadata, unknown or duplicated grade ids)
  are kept, without any of their metadata, after the answer or source cell they followed
  in the submission, so helper code the student wrote still runs (at most
  ``MAX_STUDENT_CELLS`` cells are read).

Everything lost on the way is reported as a human-readable problem.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

CELL_TYPES = ("code", "markdown", "raw")
MAX_SUBMISSION_BYTES = 64 << 20
MAX_STUDENT_CELLS = 1000  # the course's notebooks have under 100; more is not an answer


def _gid(value: str) -> str:
    """A student-chosen grade id, short enough to quote in a problem."""
    return value if len(value) <= 60 else value[:59] + "…"


@dataclass
class GradedCell:
    """One cell of the notebook the grader executes.

    ``role`` is ``"test"`` (autograded test cell from the source), ``"answer"`` (student
    text in an answer cell), ``"locked"`` (read-only cell from the source) or ``"extra"``
    (a cell the student added).
    """

    role: str
    cell_type: str
    source: str
    metadata: dict[str, Any]
    grade_id: str | None = None
    points: float = 0.0


@dataclass
class MergedNotebook:
    """The notebook to execute, plus the notebook-level metadata and what was lost."""

    cells: list[GradedCell]
    metadata: dict[str, Any]
    problems: list[str] = field(default_factory=list)

    def to_notebook(self) -> nbformat.NotebookNode:
        """Return the merged cells as an nbformat v4 notebook without outputs."""
        nb = nbformat.v4.new_notebook(metadata=json.loads(json.dumps(self.metadata)))
        for i, cell in enumerate(self.cells):
            meta = json.loads(json.dumps(cell.metadata))
            if cell.cell_type == "code":
                new = nbformat.v4.new_code_cell(cell.source, metadata=meta)
            elif cell.cell_type == "markdown":
                new = nbformat.v4.new_markdown_cell(cell.source, metadata=meta)
            else:
                new = nbformat.v4.new_raw_cell(cell.source, metadata=meta)
            new["id"] = f"cell-{i}"  # deterministic ids: re-grading gives identical files
            nb.cells.append(new)
        return nb


def _text(value: Any) -> str:
    """Cell source as one string (nbformat allows a list of lines)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    return ""


def _nbgrader(meta: Any) -> dict[str, Any]:
    if not isinstance(meta, dict):
        return {}
    nbg = meta.get("nbgrader")
    return nbg if isinstance(nbg, dict) else {}


def _role(nbg: dict[str, Any]) -> str | None:
    """Classify a source cell from its nbgrader metadata (None: not an nbgrader cell)."""
    if not nbg or not isinstance(nbg.get("grade_id"), str):
        return None
    if nbg.get("solution"):
        return "answer"
    if nbg.get("grade") and not nbg.get("task"):
        return "test"
    if nbg.get("locked") or nbg.get("task"):
        return "locked"
    return None


def load_source(path: Path) -> nbformat.NotebookNode:
    """Read the instructor's source notebook; a broken one is an instructor error."""
    try:
        return nbformat.read(str(path), as_version=4)
    except Exception as exc:  # noqa: BLE001 - re-raised with context
        raise ValueError(
            f"cannot read the source notebook {path}: expected a valid .ipynb file ({exc})"
        ) from exc


def load_submission(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Read the student's cells as plain dicts, salvaging what a broken file still holds.

    Returns ``(cells, problems)``; never raises for a bad file.
    """
    problems: list[str] = []
    try:
        size = Path(path).stat().st_size
        if size > MAX_SUBMISSION_BYTES:
            return [], [
                f"submission is {size / 2**20:.0f} MiB, over the {MAX_SUBMISSION_BYTES >> 20} MiB "
                "limit; graded as empty"
            ]
        raw = Path(path).read_bytes()
    except OSError as exc:
        return [], [f"submission could not be read ({exc.strerror or exc}); graded as empty"]
    try:
        data = json.loads(raw.decode("utf-8", errors="replace"))
    except (json.JSONDecodeError, RecursionError) as exc:
        msg = str(exc)[:200]
        return [], [f"submission is not valid notebook JSON ({msg}); graded as empty"]
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        if isinstance(data, dict) and isinstance(data.get("worksheets"), list):
            return [], ["submission uses the old nbformat 3 layout; graded as empty"]
        return [], ["submission has no list of cells; graded as empty"]
    cells, malformed = [], []
    for i, cell in enumerate(data["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") not in CELL_TYPES:
            malformed.append(i)
            continue
        cells.append(cell)
    if malformed:
        listed = ", ".join(str(i) for i in malformed[:10])
        more = f" and {len(malformed) - 10} more" if len(malformed) > 10 else ""
        problems.append(
            f"{len(malformed)} submission cell(s) are malformed and were ignored "
            f"(cells {listed}{more})"
        )
    if len(cells) > MAX_STUDENT_CELLS:
        problems.append(
            f"the submission has {len(cells)} cells; only the first {MAX_STUDENT_CELLS} were read"
        )
        cells = cells[:MAX_STUDENT_CELLS]
    return cells, problems


def merge(source: nbformat.NotebookNode, student_cells: list[dict[str, Any]]) -> MergedNotebook:
    """Build the notebook to execute from the source skeleton and the student's answers."""
    problems: list[str] = []
    source_ids: dict[str, str] = {}  # grade_id -> role
    for cell in source.cells:
        nbg = _nbgrader(cell.get("metadata"))
        role = _role(nbg)
        if role is not None:
            source_ids.setdefault(nbg["grade_id"], role)

    # Student cells: answers by grade_id (first wins), extras attached to the anchor
    # (the last grade_id cell known to the source) that precedes them.
    answers: dict[str, dict[str, Any]] = {}
    extras: dict[str | None, list[dict[str, Any]]] = {}
    anchor: str | None = None
    seen: set[str] = set()
    for cell in student_cells:
        nbg = _nbgrader(cell.get("metadata"))
        gid = nbg.get("grade_id") if isinstance(nbg.get("grade_id"), str) else None
        if gid in source_ids:
            if gid in seen:
                if source_ids[gid] == "answer":
                    problems.append(
                        f"cell '{_gid(gid)}' appears more than once; the first copy is the "
                        "answer, later copies run as extra cells"
                    )
                    extras.setdefault(anchor, []).append(cell)
                else:
                    problems.append(f"cell '{_gid(gid)}' was duplicated; the copies were ignored")
                continue
            seen.add(gid)
            anchor = gid
            if source_ids[gid] == "answer":
                answers[gid] = cell
            continue
        if gid is not None and (nbg.get("grade") or nbg.get("solution") or nbg.get("locked")):
            problems.append(
                f"cell with unknown grade id '{_gid(gid)}' kept as an extra cell (renamed answer?)"
            )
        extras.setdefault(anchor, []).append(cell)

    cells: list[GradedCell] = []

    def add_extras(key: str | None) -> None:
        for cell in extras.pop(key, []):
            # No student metadata is kept: tags, attachments and the like reach HTML
            # templates (the formgrader's) that do not expect hostile values.
            cells.append(GradedCell("extra", cell["cell_type"], _text(cell.get("source")), {}))

    add_extras(None)
    for cell in source.cells:
        nbg = _nbgrader(cell.get("metadata"))
        role = _role(nbg)
        if role is None:
            continue  # unmarked source cells: the student's own copy runs as an extra cell
        gid = nbg["grade_id"]
        meta = json.loads(json.dumps(dict(cell.metadata)))
        points = float(nbg.get("points") or 0.0) if nbg.get("grade") else 0.0
        if role == "answer":
            student = answers.get(gid)
            if student is None:
                problems.append(f"answer cell '{gid}' is missing from the submission")
                text = ""
            else:
                text = _text(student.get("source"))
                if student.get("cell_type") != cell.cell_type:
                    problems.append(
                        f"answer cell '{gid}' changed type from {cell.cell_type} to "
                        f"{student.get('cell_type')}; its text was kept as {cell.cell_type}"
                    )
            cells.append(GradedCell("answer", cell.cell_type, text, meta, gid, points))
        else:
            if gid not in seen and role == "test":
                problems.append(f"test cell '{gid}' was missing; restored from the source")
            cells.append(GradedCell(role, cell.cell_type, cell.source, meta, gid, points))
        add_extras(gid)
    for key in list(extras):
        add_extras(key)
    return MergedNotebook(cells, json.loads(json.dumps(dict(source.metadata))), problems)


def forbidden_uses(merged: MergedNotebook, forbid: list[str]) -> list[str]:
    """Problems naming student cells that mention a forbidden dotted name.

    The sandbox makes forbidden names raise, but a student owns their kernel and could
    undo that; this static scan points the instructor at the cell to read. A use is an
    attribute chain ending in the name's last two parts (``nn.LSTM``) or an import of
    it (``from torch.nn import LSTM``).
    """
    import ast

    found: list[str] = []
    for i, cell in enumerate(merged.cells):
        if cell.cell_type != "code" or cell.role not in ("answer", "extra"):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        chains = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                parts, cur = [node.attr], node.value
                while isinstance(cur, ast.Attribute):
                    parts.append(cur.attr)
                    cur = cur.value
                if isinstance(cur, ast.Name):
                    parts.append(cur.id)
                chains.add(".".join(reversed(parts)))
            elif isinstance(node, ast.ImportFrom) and node.module:
                chains.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                chains.update(a.name for a in node.names)
        where = cell.grade_id or f"extra cell {i}"
        for name in forbid:
            tail = ".".join(name.split(".")[-2:])
            if any(c == name or c.endswith("." + tail) or c == tail for c in chains):
                found.append(f"'{where}' mentions forbidden {name}: check it by hand")
    return found
