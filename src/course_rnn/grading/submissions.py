"""Find student submissions in a folder or an LMS zip, with validated student ids.

Accepted layouts (both may appear in one folder):

* ``<student_id>/<notebook>.ipynb``, optionally with nbgrader's ``timestamp.txt`` beside
  the notebooks (what ``nbgrader collect`` and most hand-made folders look like);
* flat Blackboard downloads, ``<Assignment>_<student_id>_attempt_<stamp>_<file>.ipynb``:
  the student id and submission time come from the name; the latest attempt wins.

A zip of either layout is unpacked safely (no absolute paths, no ``..``, no links, bounded
size) into a folder chosen by the caller. Entries that cannot be used are returned as
:class:`Rejected` with a reason an instructor can act on; they never stop the run.
"""

from __future__ import annotations

import re
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

from course_rnn.grading.late import parse_lms_timestamp, read_timestamp_file

__all__ = [
    "Rejected",
    "Submission",
    "discover",
    "extract_zip",
    "validate_student_id",
]

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}")
_IGNORED = {"__MACOSX", ".DS_Store", ".ipynb_checkpoints", "Thumbs.db", "timestamp.txt"}
_BLACKBOARD_NAME = re.compile(
    r"^(?P<assignment>.+?)_(?P<student>[^_]+)_attempt_[\d-]{19}_(?P<file>.+)$"
)
MAX_ZIP_BYTES = 2 * 1024**3
MAX_ZIP_FILES = 100_000


@dataclass
class Submission:
    """One student's files for one assignment.

    ``files`` maps a notebook name (without ``.ipynb``) of the assignment to the submitted
    file; ``timestamp`` is naive UTC or None; ``notes`` explain choices made on the way.
    """

    student_id: str
    files: dict[str, Path] = field(default_factory=dict)
    timestamp: datetime | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Rejected:
    """An entry of the submissions folder that could not be used, and why."""

    entry: str
    reason: str


def validate_student_id(student_id: str) -> str | None:
    """Return None when ``student_id`` is acceptable, else the reason it is not.

    A student id becomes a folder name and a database key, so it must be 1-100
    characters from letters, digits and ``. _ - @ +``, start with a letter or digit, and
    contain no ``..``.
    """
    if _ID.fullmatch(student_id) and ".." not in student_id:
        return None
    bad = sorted({c for c in student_id if not (c.isascii() and (c.isalnum() or c in "._@+-"))})
    if not student_id:
        detail = "it is empty"
    elif bad:
        detail = "it contains " + " ".join(repr(c) for c in bad)
    elif ".." in student_id:
        detail = "it contains '..'"
    elif len(student_id) > 100:
        detail = f"it is {len(student_id)} characters long"
    else:
        detail = f"it starts with {student_id[0]!r}"
    return (
        "a student id must be 1-100 characters from letters, digits and . _ - @ +, "
        f"starting with a letter or digit; {detail}"
    )


def extract_zip(zip_path: Path, dest: Path) -> list[Rejected]:
    """Unpack ``zip_path`` into ``dest`` (emptied first); return the members refused.

    Refused: absolute paths, ``..`` components, symbolic links, non-UTF-8-safe names;
    the whole archive is refused beyond ``MAX_ZIP_FILES`` members or ``MAX_ZIP_BYTES``.
    """
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    rejected: list[Rejected] = []
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"cannot open {zip_path} as a zip archive: {exc}") from exc
    with archive:
        members = archive.infolist()
        if len(members) > MAX_ZIP_FILES:
            raise ValueError(f"{zip_path} has {len(members)} members; at most {MAX_ZIP_FILES}")
        total = sum(m.file_size for m in members)
        if total > MAX_ZIP_BYTES:
            raise ValueError(f"{zip_path} unpacks to {total} bytes; at most {MAX_ZIP_BYTES}")
        for member in members:
            name = member.filename
            parts = PurePosixPath(name.replace("\\", "/")).parts
            if name.startswith(("/", "\\")) or (parts and ":" in parts[0]):
                rejected.append(Rejected(name, "absolute path in zip; refused"))
                continue
            if ".." in parts:
                rejected.append(Rejected(name, "'..' in a zip member path; refused"))
                continue
            if stat.S_ISLNK(member.external_attr >> 16):
                rejected.append(Rejected(name, "symbolic link in zip; refused"))
                continue
            target = dest.joinpath(*parts) if parts else dest
            if member.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
    return rejected


def _unwrap(root: Path) -> Path:
    """LMS zips often wrap everything in one top folder: descend into it."""
    entries = [p for p in root.iterdir() if p.name not in _IGNORED]
    if len(entries) == 1 and entries[0].is_dir():
        inner = [p for p in entries[0].iterdir() if p.name not in _IGNORED]
        if inner and not any(p.suffix == ".ipynb" for p in inner if p.is_file()):
            return entries[0]
    return root


def _match_notebook(path: Path, notebooks: list[str]) -> str | None:
    """The assignment notebook a submitted file stands for, or None."""
    stem = path.stem
    if stem in notebooks:
        return stem
    # LMS re-submission suffixes: name-1.ipynb, name (1).ipynb
    base = re.sub(r"(-\d+| \(\d+\))$", "", stem)
    if base in notebooks:
        return base
    return None


def _student_folder(folder: Path, notebooks: list[str], lms_timezone: str) -> Submission:
    sub = Submission(student_id=folder.name)
    files = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    unmatched = []
    for path in files:
        name = _match_notebook(path, notebooks)
        if name is None:
            unmatched.append(path)
        elif name in sub.files:
            sub.notes.append(f"{path.relative_to(folder)} ignored: {name}.ipynb found twice")
        else:
            sub.files[name] = path
    if not sub.files and len(unmatched) == 1 and len(notebooks) == 1:
        sub.files[notebooks[0]] = unmatched[0]
        sub.notes.append(f"{unmatched[0].name} graded as {notebooks[0]}.ipynb")
        unmatched = []
    for path in unmatched:
        sub.notes.append(f"{path.relative_to(folder)} ignored: not a notebook of this assignment")
    stamp_file = folder / "timestamp.txt"
    if stamp_file.is_file():
        try:
            sub.timestamp = read_timestamp_file(stamp_file, lms_timezone)
        except ValueError as exc:
            sub.notes.append(f"timestamp ignored: {exc}")
    if sub.timestamp is None:
        sub.timestamp = parse_lms_timestamp(folder.name, lms_timezone)
    return sub


def discover(
    root: Path, notebooks: list[str], lms_timezone: str = "UTC"
) -> tuple[list[Submission], list[Rejected]]:
    """Find every submission under ``root`` for an assignment with ``notebooks``.

    Returns submissions sorted by student id and the rejected entries. A student folder
    without any notebook of the assignment is kept (the student scores 0, with a note).
    """
    if not root.is_dir():
        raise ValueError(f"submissions folder {root} does not exist or is not a folder")
    root = _unwrap(root)
    found: dict[str, Submission] = {}
    rejected: list[Rejected] = []
    flat: dict[str, list[tuple[datetime | None, Path, str]]] = {}
    for entry in sorted(root.iterdir()):
        if entry.name in _IGNORED or entry.name.startswith("."):
            continue
        if entry.is_symlink():
            rejected.append(Rejected(entry.name, "symbolic link; refused"))
            continue
        if entry.is_dir():
            problem = validate_student_id(entry.name)
            if problem:
                rejected.append(Rejected(entry.name, problem))
                continue
            sub = _student_folder(entry, notebooks, lms_timezone)
            if not sub.files:
                seen = ", ".join(p.name for p in sorted(entry.iterdir())[:5]) or "nothing"
                sub.notes.append(f"no notebook of this assignment in the folder (found {seen})")
            found[sub.student_id] = sub
            continue
        match = _BLACKBOARD_NAME.match(entry.name)
        if entry.suffix == ".ipynb" and match:
            student = match["student"]
            problem = validate_student_id(student)
            if problem:
                rejected.append(Rejected(entry.name, problem))
                continue
            stamp = parse_lms_timestamp(entry.name, lms_timezone)
            flat.setdefault(student, []).append((stamp, entry, match["file"]))
            continue
        rejected.append(
            Rejected(
                entry.name,
                "not a student folder (<student_id>/<notebook>.ipynb) nor a Blackboard "
                "file (<assignment>_<student>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file>.ipynb)",
            )
        )
    for student, attempts in sorted(flat.items()):
        if student in found:
            rejected.append(Rejected(student, "both a folder and LMS files; the folder is used"))
            continue
        attempts.sort(key=lambda a: (a[0] or datetime.min, a[1].name))
        latest = attempts[-1][0]
        sub = Submission(student_id=student, timestamp=latest)
        for stamp, path, original in attempts:
            if stamp != latest:
                continue
            name = _match_notebook(Path(original), notebooks)
            if name is None and len(notebooks) == 1:
                name = notebooks[0]
            if name is not None:
                sub.files[name] = path
        if len(attempts) > len(sub.files):
            sub.notes.append(f"{len(attempts) - len(sub.files)} older or extra file(s) ignored")
        found[student] = sub
    return [found[k] for k in sorted(found)], rejected
