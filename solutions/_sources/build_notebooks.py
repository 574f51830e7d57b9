"""Build the nbgrader source notebooks solutions/<a>/<a>.ipynb from readable cell files.

Each assignment is written as ``solutions/_sources/<a>.cells``: plain text where a line
starting with ``%%`` opens a new cell:

    %% meta                         notebook metadata (JSON), e.g. {"forbid": [...]}
    %% markdown                     instructions
    %% code                         ordinary code (setup, demos)
    %% answer id=GRADE_ID           autograded answer cell (### BEGIN/END SOLUTION inside)
    %% test id=GRADE_ID points=N    autograded test cell (visible + ### BEGIN HIDDEN TESTS)
    %% written id=GRADE_ID points=N manually graded written answer (markdown; model answer)

The builder writes the nbgrader cell metadata (schema_version 3) and checks that the
points add up to 100. The committed notebooks are nbgrader's source of truth; rerun
``python solutions/_sources/build_notebooks.py [ASSIGNMENT ...]`` after editing a
.cells file, then ``course-rnn release`` to regenerate exercises/.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SOLUTIONS = HERE.parent
TOTAL_POINTS = 100


def _parse_header(line: str) -> tuple[str, dict[str, str]]:
    words = line[2:].split()
    kind, options = words[0], {}
    for word in words[1:]:
        key, _, value = word.partition("=")
        options[key] = value
    return kind, options


def parse_cells(text: str) -> list[tuple[str, dict[str, str], str]]:
    """Split a .cells file into (kind, options, source) triples."""
    cells: list[tuple[str, dict[str, str], list[str]]] = []
    for line in text.splitlines():
        if line.startswith("%% "):
            kind, options = _parse_header(line)
            cells.append((kind, options, []))
        elif cells:
            cells[-1][2].append(line)
        elif line.strip():
            raise ValueError(f"text before the first '%%' header: {line!r}")
    return [(k, o, "\n".join(src).strip("\n")) for k, o, src in cells]


def _nbgrader(grade_id: str, *, grade: bool, solution: bool, points: float | None) -> dict:
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": not solution,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return meta


def build(name: str) -> nbformat.NotebookNode:
    """Return the source notebook for assignment ``name``."""
    cells_file = HERE / f"{name}.cells"
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    total = 0.0
    ids: set[str] = set()
    for index, (kind, options, source) in enumerate(parse_cells(cells_file.read_text())):
        if kind == "meta":
            nb.metadata["course_rnn"] = json.loads(source)
            continue
        grade_id = options.get("id")
        if grade_id is not None and grade_id in ids:
            raise ValueError(f"{name}: duplicate id {grade_id}")
        points = float(options["points"]) if "points" in options else None
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(source)
        elif kind == "code":
            cell = nbformat.v4.new_code_cell(source)
        elif kind == "answer":
            cell = nbformat.v4.new_code_cell(source)
            cell.metadata["nbgrader"] = _nbgrader(grade_id, grade=False, solution=True, points=None)
        elif kind == "test":
            cell = nbformat.v4.new_code_cell(source)
            cell.metadata["nbgrader"] = _nbgrader(
                grade_id, grade=True, solution=False, points=points
            )
        elif kind == "written":
            cell = nbformat.v4.new_markdown_cell(source)
            cell.metadata["nbgrader"] = _nbgrader(
                grade_id, grade=True, solution=True, points=points
            )
        else:
            raise ValueError(f"{name}: unknown cell kind {kind!r}")
        if kind in ("answer", "test", "written"):
            if not grade_id:
                raise ValueError(f"{name}: a {kind} cell needs id=...")
            ids.add(grade_id)
        if kind in ("test", "written"):
            if points is None:
                raise ValueError(f"{name}: {grade_id} needs points=...")
            total += points
        cell.id = grade_id or f"cell-{index:02d}"
        nb.cells.append(cell)
    if abs(total - TOTAL_POINTS) > 1e-9:
        raise ValueError(f"{name}: points add up to {total}, expected {TOTAL_POINTS}")
    return nb


def main(names: list[str]) -> None:
    names = names or sorted(p.stem for p in HERE.glob("*.cells"))
    for name in names:
        nb = build(name)
        out = SOLUTIONS / name / f"{name}.ipynb"
        out.parent.mkdir(parents=True, exist_ok=True)
        nbformat.validate(nb)
        out.write_text(nbformat.writes(nb) + "\n")
        print(f"wrote {out.relative_to(SOLUTIONS.parent)}")


if __name__ == "__main__":
    main(sys.argv[1:])
