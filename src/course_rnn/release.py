"""``course-rnn release [ASSIGNMENT ...]``: build every exercise from its one source.

Each assignment is written once, as a MyST Markdown notebook read by Jupytext:
``solutions/_sources/<assignment>.md``. Its front matter holds the assignment's forbid
list (``course_rnn: forbid: [...]``); its cells carry nbgrader's cell metadata (grade id,
points, solution, locked), so an exercise reads and diffs like a book chapter.
From it, ``release`` writes two generated files, both committed:

1. ``solutions/<assignment>/<assignment>.ipynb``, the nbgrader source notebook. It gets
   one read-only cell, before the first code cell, that hands the forbid list to
   :func:`course_rnn.testing.forbid`, so test cells write ``with forbid():`` and the list
   lives in the front matter alone. Cell ids are the grade ids (or ``cell-NN``), so the
   file is the same byte for byte each time.
2. ``exercises/<assignment>/<assignment>.ipynb``, the student release, made by nbgrader's
   ``generate_assignment`` (solutions and hidden tests removed) in a temporary course
   folder without a gradebook, then normalised (no outputs, canonical JSON).

``tests/test_exercises.py`` fails when either generated file differs from what its
source produces. Edit the ``.md``, then run ``make exercises``.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
from pathlib import Path

import nbformat

from course_rnn.grading.course import find_course_root

SOURCE_DIR = "solutions"
RELEASE_DIR = "exercises"
TEXT_DIR = "solutions/_sources"  # the one source of each assignment: <assignment>.md
TOTAL_POINTS = 100.0
FORBID_CELL_ID = "forbid_list"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def available_assignments(root: Path) -> list[str]:
    """The course's assignments, in course order: one per ``solutions/_sources/*.md``."""
    return sorted(path.stem for path in (root / TEXT_DIR).glob("*.md"))


def forbid_cell_source(names: list[str]) -> str:
    """The read-only cell that tells the test cells what this assignment forbids."""
    listed = "".join(f"\n    {name!r}," for name in names) + ("\n" if names else "")
    return (
        "# Set by the course (read-only): the library and course functions your answers may\n"
        "# not call here. The test cells call your code inside `with forbid():`.\n"
        "from course_rnn.testing import use_forbid_list\n\n"
        f"use_forbid_list([{listed}])"
    )


def build_source(path: Path) -> nbformat.NotebookNode:
    """Read one assignment's MyST source and return its nbgrader source notebook.

    Raises ``ValueError`` naming the file when the source breaks a rule: a graded cell
    without ``grade_id`` or ``points``, a duplicated grade id, points not adding up to
    100, or a forbid list that is not a list of dotted names.
    """
    import jupytext

    text_nb = jupytext.read(path, fmt="md:myst")
    forbid = text_nb.metadata.get("course_rnn", {}).get("forbid", [])
    if not isinstance(forbid, list) or not all(isinstance(n, str) and n for n in forbid):
        raise ValueError(f"{path.name}: course_rnn.forbid must be a list of dotted names")
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "course_rnn": {"forbid": forbid},
        "kernelspec": dict(KERNELSPEC),
        "language_info": {"name": "python"},
    }
    seen: set[str] = set()
    total = 0.0
    for cell in text_nb.cells:
        meta = dict(cell.metadata)
        nbg = meta.get("nbgrader")
        if cell.cell_type == "code" and not any(c.cell_type == "code" for c in nb.cells):
            nb.cells.append(_forbid_cell(forbid))
        if cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(cell.source, metadata=meta)
        elif cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(cell.source, metadata=meta)
        else:
            new = nbformat.v4.new_raw_cell(cell.source, metadata=meta)
        if nbg:
            grade_id = nbg.get("grade_id")
            if not grade_id:
                raise ValueError(f"{path.name}: an nbgrader cell has no grade_id")
            if grade_id in seen or grade_id == FORBID_CELL_ID:
                raise ValueError(f"{path.name}: grade_id {grade_id!r} is used twice")
            seen.add(grade_id)
            if nbg.get("grade"):
                if "points" not in nbg:
                    raise ValueError(f"{path.name}: graded cell {grade_id!r} has no points")
                total += float(nbg["points"])
        nb.cells.append(new)
    if abs(total - TOTAL_POINTS) > 1e-9:
        raise ValueError(f"{path.name}: points add up to {total:g}, expected {TOTAL_POINTS:g}")
    for index, cell in enumerate(nb.cells):
        cell.id = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell-{index:02d}"
    nbformat.validate(nb)
    return nb


def _forbid_cell(forbid: list[str]) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(forbid_cell_source(forbid))
    cell.metadata["nbgrader"] = {
        "grade": False,
        "grade_id": FORBID_CELL_ID,
        "locked": True,
        "schema_version": 3,
        "solution": False,
        "task": False,
    }
    return cell


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """A notebook as the course writes it: no outputs, canonical JSON, final newline."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nbformat.writes(nb) + "\n"


def normalise_notebook(path: Path) -> None:
    """Rewrite a notebook file the way :func:`notebook_text` writes it."""
    path.write_text(notebook_text(nbformat.read(path, as_version=4)), encoding="utf-8")


def _generate(course: Path, name: str) -> None:
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    overrides = Config()
    overrides.CourseDirectory.root = str(course)
    overrides.CourseDirectory.source_directory = SOURCE_DIR
    overrides.CourseDirectory.release_directory = RELEASE_DIR
    overrides.CourseDirectory.db_url = f"sqlite:///{course / 'gradebook.db'}"
    overrides.GenerateAssignment.force = True
    config.merge(overrides)
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = name
    converter = GenerateAssignment(coursedir=coursedir, config=config)
    converter.log.setLevel(logging.WARNING)
    converter.start()


def release(
    names: list[str] | None = None,
    root: Path | None = None,
    output: Path | None = None,
    source_output: Path | None = None,
) -> list[Path]:
    """Build each assignment from its source; return the release notebooks written.

    ``root`` is the course root (default: found from the current folder). The nbgrader
    source notebooks go to ``source_output/<assignment>/`` (default ``root/solutions``),
    the releases to ``output/<assignment>/`` (default ``root/exercises``); an existing
    release folder is replaced entirely.
    """
    root = find_course_root(root)
    if not (root / TEXT_DIR).is_dir():
        raise FileNotFoundError(f"{root} has no {TEXT_DIR}/: the exercise sources live there")
    output = output or root / RELEASE_DIR
    source_output = source_output or root / SOURCE_DIR
    known = available_assignments(root)
    names = list(names) if names else known
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(
            f"unknown assignment(s) {', '.join(unknown)}; expected one of: {', '.join(known)}"
        )
    from course_rnn.grading.gradebook import use_in_process_alembic

    use_in_process_alembic()
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="course-rnn-release-") as tmp:
        course = Path(tmp)
        shutil.copy2(root / "nbgrader_config.py", course / "nbgrader_config.py")
        for name in names:
            text = notebook_text(build_source(root / TEXT_DIR / f"{name}.md"))
            for folder in (source_output / name, course / SOURCE_DIR / name):
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{name}.ipynb").write_text(text, encoding="utf-8")
            _generate(course, name)
            generated = course / RELEASE_DIR / name
            for notebook in sorted(generated.rglob("*.ipynb")):
                normalise_notebook(notebook)
            target = output / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(generated, target)
            written.extend(sorted(target.rglob("*.ipynb")))
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "assignments",
        nargs="*",
        metavar="ASSIGNMENT",
        help=f"assignment(s) to build (default: every {TEXT_DIR}/*.md)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="folder receiving the release <assignment>/ (default: exercises/ in the course root)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        written = release(args.assignments, output=args.output)
    except (ValueError, FileNotFoundError) as exc:
        print(f"course-rnn release: {exc}")
        return 2
    for path in written:
        print(f"released {path}")
    return 0
