"""``course-rnn release [ASSIGNMENT ...]``: regenerate exercises/ from solutions/ with nbgrader.

nbgrader's ``generate_assignment`` does the work (removing solutions and hidden tests,
locking and checksumming cells). It runs on a copy of the source in a temporary course
folder without a gradebook, so releasing never touches ``gradebook.db``; the result is
then normalised (outputs and execution counts cleared, JSON written one canonical way)
and copied to ``exercises/<assignment>/``. Running it twice gives byte-identical files.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

ASSIGNMENTS: tuple[str, ...] = (
    "01_order_matters",
    "02_rnn_forward",
    "03_rnn_types",
    "04_bptt",
    "05_gradients",
    "06_lstm_gru",
    "07_project",
)
SOURCE_DIR = "solutions"
RELEASE_DIR = "exercises"


def find_root(start: Path | None = None) -> Path:
    """Return the course root: the nearest folder (upwards) holding nbgrader_config.py."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "nbgrader_config.py").is_file() and (folder / SOURCE_DIR).is_dir():
            return folder
    raise FileNotFoundError(
        f"no course root found from {here}: expected a folder with nbgrader_config.py and "
        f"{SOURCE_DIR}/ (run this inside the course repository)"
    )


def available_assignments(root: Path) -> list[str]:
    """Assignments of the course that have a source folder, in course order."""
    return [name for name in ASSIGNMENTS if (root / SOURCE_DIR / name).is_dir()]


def normalise_notebook(path: Path) -> None:
    """Clear outputs and execution counts and write the notebook in canonical JSON."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


def with_venv_on_path() -> None:
    """Put this Python's bin folder on PATH: nbgrader runs the ``alembic`` script from it."""
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if bin_dir not in path.split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + path


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
    names: list[str] | None = None, root: Path | None = None, output: Path | None = None
) -> list[Path]:
    """Generate the student version of each assignment; return the notebooks written.

    ``root`` is the course root (default: found from the current folder); ``output`` the
    folder receiving ``<assignment>/`` (default ``root/exercises``). An existing
    ``output/<assignment>/`` is replaced entirely.
    """
    root = find_root(root)
    output = output or root / RELEASE_DIR
    known = available_assignments(root)
    names = list(names) if names else known
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(
            f"unknown assignment(s) {', '.join(unknown)}; expected one of: {', '.join(known)}"
        )
    with_venv_on_path()
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="course-rnn-release-") as tmp:
        course = Path(tmp)
        shutil.copy2(root / "nbgrader_config.py", course / "nbgrader_config.py")
        for name in names:
            shutil.copytree(
                root / SOURCE_DIR / name,
                course / SOURCE_DIR / name,
                ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
            )
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
        help=f"assignment(s) to release (default: all of {', '.join(ASSIGNMENTS)})",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="folder receiving <assignment>/ (default: exercises/ in the course root)",
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
