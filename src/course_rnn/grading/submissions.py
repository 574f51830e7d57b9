"""Find student submissions in a folder or an LMS zip, with validated student ids.

Accepted layouts (they may be mixed in one folder):

* ``<student_id>/<notebook>.ipynb``, optionally with nbgrader's ``timestamp.txt`` beside
  the notebooks (most hand-made folders and LMS zips look like this);
* nbgrader's ``submitted/`` tree, ``<student_id>/<assignment>/<notebook>.ipynb`` with
  ``<student_id>/<assignment>/timestamp.txt``, several assignments per student, when
  :func:`discover` is told the assignment: only that assignment's folder is read, and a
  student without one did not submit it (skipped, not a zero);
* flat Blackboard downloads, ``<Assignment>_<student_id>_attempt_<stamp>_<file>.ipynb``:
  the student id and submission time come from the name; the latest attempt wins.

Everything here reads files a student (or an LMS acting for one) named and shaped, so
every read is a per-entry operation: an entry that cannot be used becomes a
:class:`Rejected` (with ``skipped=True`` for folders that are simply not submissions,
such as hidden ones) or a note on the student's :class:`Submission`, never an exception
that stops the class. Only regular files are read: symbolic links (anywhere in a
student's folder), folders named like notebooks, FIFOs and devices are refused with the
reason. When several files stand for one notebook, the newest is graded and the note
says which.

A zip of either layout is unpacked member by member into a folder chosen by the caller:
no absolute paths, no ``..``, no links, no over-long or over-deep names, no duplicate
names, no file/folder clashes, and sizes are counted as the bytes come out, not as the
archive declares them.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from course_rnn.grading.late import BLACKBOARD_FILE, parse_lms_timestamp, read_timestamp_file

__all__ = [
    "MAX_ZIP_BYTES",
    "MAX_ZIP_FILES",
    "Rejected",
    "Submission",
    "discover",
    "extract_zip",
    "validate_student_id",
]

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}")
_SKIPPED = {
    "__MACOSX": "macOS archive metadata",
    "Thumbs.db": "Windows thumbnail cache",
    "timestamp.txt": "an nbgrader timestamp outside any student folder",
}
MAX_ZIP_BYTES = 2 * 1024**3
MAX_ZIP_FILES = 100_000
MAX_DEPTH = 16  # folders below a student's folder (and in a zip member's path)
MAX_NAME_BYTES = 255  # one file or folder name (Linux's limit)
MAX_ENTRIES_PER_STUDENT = 5_000
_CHUNK = 1 << 20


@dataclass
class Submission:
    """One student's files for one assignment.

    ``files`` maps a notebook name (without ``.ipynb``) of the assignment to the submitted
    file; ``timestamp`` is naive UTC or None; ``notes`` explain choices made on the way
    (which file was graded, what was refused) and are shown in feedback and summaries.
    """

    student_id: str
    files: dict[str, Path] = field(default_factory=dict)
    timestamp: datetime | None = None
    notes: list[str] = field(default_factory=list)
    folder: Path | None = None  # the folder read: <student>/ or <student>/<assignment>/
    timestamp_refused: bool = False  # a time was there but unusable (the note says why)

    def shown_name(self, name: str) -> str:
        """The graded file of notebook ``name`` as the student named it (no host path)."""
        path = self.files[name]
        if self.folder is not None:
            try:
                return str(path.relative_to(self.folder))
            except ValueError:
                pass
        return path.name


@dataclass
class Rejected:
    """An entry of the submissions folder or zip that was not graded, and why.

    ``skipped`` marks entries that are not submissions at all (hidden folders, archive
    metadata); the others were refused.
    """

    entry: str
    reason: str
    skipped: bool = False


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
        shown = " ".join(repr(c) for c in bad[:10])
        detail = f"it contains {shown}" + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
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


# ------------------------------------------------------------------------------ zips
def _member_problem(parts: tuple[str, ...], name: str) -> str | None:
    """Why a member path cannot be unpacked safely, or None."""
    if name.startswith(("/", "\\")) or (parts and ":" in parts[0]):
        return "absolute path in zip; refused"
    if ".." in parts:
        return "'..' in a zip member path; refused"
    if len(parts) > MAX_DEPTH + 2:
        return f"nested {len(parts)} folders deep (at most {MAX_DEPTH + 2}); refused"
    for part in parts:
        if len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            return f"a name in the path is longer than {MAX_NAME_BYTES} bytes; refused"
        if "\x00" in part:
            return "a NUL character in the path; refused"
    return None


def _zip_time(member: zipfile.ZipInfo) -> float | None:
    try:
        return datetime(*member.date_time, tzinfo=UTC).timestamp()
    except (ValueError, OverflowError, TypeError):
        return None


def _copy_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, room: int) -> int:
    """Write one member to ``target`` counting real bytes; return how many were written.

    Raises ``ValueError`` when the member holds more than it declares or than ``room``.
    """
    written = 0
    with archive.open(member) as src, open(target, "xb") as out:
        while True:
            chunk = src.read(_CHUNK)
            if not chunk:
                break
            written += len(chunk)
            if written > member.file_size:
                raise ValueError(
                    f"holds more than the {member.file_size} bytes the archive declares"
                )
            if written > room:
                raise ValueError("the archive unpacks to more than its size limit")
            out.write(chunk)
    return written


def extract_zip(zip_path: Path, dest: Path) -> list[Rejected]:
    """Unpack ``zip_path`` into ``dest`` (emptied first); return the members refused.

    Each member is unpacked on its own: one that is unsafe (see the module docstring),
    corrupt, encrypted, compressed with an unknown method or larger than declared is
    refused with the reason, and the others are still unpacked. Raises ``ValueError``
    only for the archive as a whole: not a zip, more than ``MAX_ZIP_FILES`` members, or
    more than ``MAX_ZIP_BYTES`` declared.
    """
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    rejected: list[Rejected] = []
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ValueError(f"cannot open {zip_path} as a zip archive: {exc}") from exc
    with archive:
        members = archive.infolist()
        if len(members) > MAX_ZIP_FILES:
            raise ValueError(f"{zip_path} has {len(members)} members; at most {MAX_ZIP_FILES}")
        total = sum(m.file_size for m in members)
        if total > MAX_ZIP_BYTES:
            raise ValueError(f"{zip_path} unpacks to {total} bytes; at most {MAX_ZIP_BYTES}")
        room = MAX_ZIP_BYTES
        seen: set[tuple[str, ...]] = set()
        for member in members:
            name = member.filename
            parts = tuple(p for p in PurePosixPath(name.replace("\\", "/")).parts if p != ".")
            problem = _member_problem(parts, name)
            if problem is None and stat.S_ISLNK(member.external_attr >> 16):
                problem = "symbolic link in zip; refused"
            if problem is None and parts in seen:
                problem = "duplicate name in zip: the first member of that name is used"
            if problem:
                rejected.append(Rejected(name, problem))
                continue
            if not parts:
                continue
            seen.add(parts)
            target = dest.joinpath(*parts)
            try:
                if member.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                room -= _copy_member(archive, member, target, room)
            except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
                rejected.append(
                    Rejected(
                        name, f"clashes with a file or folder of the same name ({exc.strerror})"
                    )
                )
                _remove_partial(target, member)
                continue
            except (OSError, zipfile.BadZipFile, EOFError, zlib.error, ValueError) as exc:
                rejected.append(Rejected(name, f"cannot be unpacked: {exc}"))
                _remove_partial(target, member)
                continue
            except (NotImplementedError, RuntimeError) as exc:  # compression, encryption
                rejected.append(Rejected(name, f"cannot be unpacked: {exc}"))
                _remove_partial(target, member)
                continue
            moment = _zip_time(member)
            if moment is not None:
                try:
                    os.utime(target, (moment, moment))
                except OSError:
                    pass
    return rejected


def _remove_partial(target: Path, member: zipfile.ZipInfo) -> None:
    """Remove what a failed member left (a half-written file), never a folder of others."""
    try:
        if not member.is_dir() and target.is_file() and not target.is_symlink():
            target.unlink()
    except OSError:
        pass


# ------------------------------------------------------------------------- folders
def _unwrap(root: Path, assignment: str | None = None) -> Path:
    """LMS zips often wrap everything in one top folder: descend into it.

    Not into the only student of an nbgrader tree (a folder holding ``<assignment>/``).
    """
    try:
        entries = [p for p in root.iterdir() if p.name not in _SKIPPED]
        if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
            if assignment and _child_kind(entries[0], assignment) == "folder":
                return root
            inner = [p for p in entries[0].iterdir() if p.name not in _SKIPPED]
            if inner and not any(p.suffix == ".ipynb" for p in inner if p.is_file()):
                return entries[0]
    except OSError:
        pass
    return root


def _resubmission(stem: str) -> tuple[str, int]:
    """``("name", n)`` for LMS re-submission names ``name-n`` and ``name (n)``, else 0."""
    match = re.fullmatch(r"(.*?)(?:-(\d{1,6})| \((\d{1,6})\))", stem)
    if match:
        return match[1], int(match[2] or match[3])
    return stem, 0


def _match_notebook(path: PurePosixPath | Path, notebooks: list[str]) -> str | None:
    """The assignment notebook a submitted file stands for, or None."""
    stem = path.stem
    if stem in notebooks:
        return stem
    base, _ = _resubmission(stem)
    return base if base in notebooks else None


def _walk(folder: Path, notes: list[str]) -> list[Path]:
    """Regular files under ``folder`` (links, special files and deep folders refused)."""
    files: list[Path] = []
    pending = [(folder, 0)]
    seen = 0
    while pending:
        current, depth = pending.pop()
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError as exc:
            notes.append(f"{_rel(current, folder)}/ could not be read ({exc.strerror}); skipped")
            continue
        for entry in entries:
            seen += 1
            if seen > MAX_ENTRIES_PER_STUDENT:
                notes.append(
                    f"more than {MAX_ENTRIES_PER_STUDENT} files and folders; the rest were not read"
                )
                return files
            path = Path(entry.path)
            rel = _rel(path, folder)
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError as exc:
                notes.append(f"{rel} could not be read ({exc.strerror}); ignored")
                continue
            if current == folder and entry.name == "timestamp.txt" and not stat.S_ISDIR(mode):
                continue  # read, or refused with its reason, by _read_stamp
            if stat.S_ISLNK(mode):
                notes.append(f"{rel} is a symbolic link; refused (links are never followed)")
            elif stat.S_ISDIR(mode):
                if entry.name == ".ipynb_checkpoints":
                    continue
                if entry.name.endswith(".ipynb"):
                    notes.append(f"{rel} is a folder, not a notebook file; ignored")
                if depth >= MAX_DEPTH:
                    notes.append(f"{rel}/ is more than {MAX_DEPTH} folders deep; not read")
                else:
                    pending.append((path, depth + 1))
            elif stat.S_ISREG(mode):
                files.append(path)
            elif entry.name.endswith(".ipynb") or entry.name == "timestamp.txt":
                notes.append(f"{rel} is not a regular file; refused")
    return sorted(files)


def _rel(path: Path, folder: Path) -> str:
    try:
        return str(path.relative_to(folder))
    except ValueError:
        return path.name


def _newest(candidates: list[Path], lms_timezone: str) -> tuple[Path, str]:
    """The newest of several files for one notebook, and how 'newest' was decided.

    A time in the file name (an LMS stamp) first, then the modification time, then the
    re-submission number (``name (2)`` after ``name (1)``), then the name.
    """

    def key(path: Path) -> tuple:
        try:
            stamp = parse_lms_timestamp(path.name, lms_timezone)
        except ValueError:
            stamp = None
        try:
            mtime = path.stat().st_mtime
        except OSError:
            mtime = 0.0
        return (stamp or datetime.min, mtime, _resubmission(path.stem)[1], path.name)

    ordered = sorted(candidates, key=key)
    return ordered[-1], "the newest (by the time in its name, then its modification time)"


def _child_kind(folder: Path, name: str) -> str:
    """What ``folder/name`` is, without following a link: folder, link, other or none."""
    try:
        mode = os.lstat(folder / name).st_mode
    except OSError:
        return "none"
    if stat.S_ISLNK(mode):
        return "link"
    return "folder" if stat.S_ISDIR(mode) else "other"


def _has_loose_notebook(folder: Path) -> bool:
    """Whether ``folder`` holds a ``.ipynb`` file itself (not in a subfolder)."""
    try:
        return any(
            e.name.endswith(".ipynb") and e.is_file(follow_symlinks=False)
            for e in os.scandir(folder)
        )
    except OSError:
        return False


def _student_folder(
    student: Path, notebooks: list[str], lms_timezone: str, assignment: str | None = None
) -> Submission:
    """One student's submission: their folder, or its ``<assignment>/`` folder if given."""
    folder = student / assignment if assignment else student
    sub = Submission(student_id=student.name, folder=folder)
    found = _walk(folder, sub.notes)
    candidates: dict[str, list[Path]] = {}
    unmatched = []
    for path in found:
        if path.suffix != ".ipynb":
            continue
        name = _match_notebook(path, notebooks)
        if name is None:
            unmatched.append(path)
        else:
            candidates.setdefault(name, []).append(path)
    for name, paths in sorted(candidates.items()):
        if len(paths) == 1:
            sub.files[name] = paths[0]
            continue
        chosen, how = _newest(paths, lms_timezone)
        sub.files[name] = chosen
        listed = ", ".join(_rel(p, folder) for p in paths[:10])
        sub.notes.append(
            f"{len(paths)} files could be {name}.ipynb ({listed}); graded {how}: "
            f"{_rel(chosen, folder)}"
        )
    if not sub.files and len(unmatched) == 1 and len(notebooks) == 1:
        sub.files[notebooks[0]] = unmatched[0]
        sub.notes.append(f"{_rel(unmatched[0], folder)} graded as {notebooks[0]}.ipynb")
        unmatched = []
    for path in unmatched[:20]:
        sub.notes.append(f"{_rel(path, folder)} ignored: not a notebook of this assignment")
    if len(unmatched) > 20:
        sub.notes.append(f"{len(unmatched) - 20} more notebooks ignored")
    problems = []
    sub.timestamp, problem = _read_stamp(folder / "timestamp.txt", lms_timezone)
    if problem:
        problems.append(f"timestamp.txt ignored: {problem}")
    if sub.timestamp is None:
        try:
            sub.timestamp = parse_lms_timestamp(student.name, lms_timezone)
        except ValueError as exc:
            problems.append(f"the time in the folder name was ignored: {exc}")
    if problems:
        sub.timestamp_refused = True
        if sub.timestamp is None:
            problems[-1] += " (no submission time: graded as on time, no late penalty)"
        sub.notes.extend(problems)
    return sub


def _read_stamp(path: Path, lms_timezone: str) -> tuple[datetime | None, str]:
    """The time in ``timestamp.txt`` (None when there is none) and, when there is one that
    cannot be used, the reason: whatever ``path`` is, it is either absent, read, or
    refused with a reason (never silently skipped)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None, ""
    except OSError as exc:
        return None, f"it could not be read ({exc.strerror or exc})"
    if stat.S_ISLNK(mode):
        return None, "it is a symbolic link; refused (links are never followed)"
    if stat.S_ISDIR(mode):
        return None, "it is a folder, not a file"
    if not stat.S_ISREG(mode):
        return None, "it is not a regular file (a FIFO, socket or device); refused"
    try:
        return read_timestamp_file(path, lms_timezone), ""
    except ValueError as exc:
        return None, str(exc)


def discover(
    root: Path, notebooks: list[str], lms_timezone: str = "UTC", *, assignment: str | None = None
) -> tuple[list[Submission], list[Rejected]]:
    """Find every submission under ``root`` for an assignment with ``notebooks``.

    Returns submissions sorted by student id and the entries not graded (rejected or
    skipped, each with its reason). A student folder without any notebook of the
    assignment is kept (the student scores 0, with a note). Raises ``ValueError`` only
    when ``root`` itself is not a folder.

    With ``assignment`` (its name), ``root`` may be nbgrader's ``submitted/`` folder:
    when at least one student folder holds a folder named ``assignment``, each such
    student is read from ``<student>/<assignment>/`` alone (notebooks and
    ``timestamp.txt``), and a student folder without one is skipped with the reason,
    unless it holds notebooks itself (then it is read as ``<student>/<notebook>.ipynb``).
    Without ``assignment``, or when no student folder holds one, nothing changes.
    """
    if not root.is_dir():
        raise ValueError(f"submissions folder {root} does not exist or is not a folder")
    root = _unwrap(root, assignment)
    found: dict[str, Submission] = {}
    rejected: list[Rejected] = []
    flat: dict[str, list[tuple[datetime | None, Path, str]]] = {}
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        raise ValueError(f"cannot read the submissions folder {root}: {exc}") from exc
    tree = assignment if assignment and _is_tree(entries, assignment) else None
    for entry in entries:
        try:
            _discover_entry(entry, notebooks, lms_timezone, found, flat, rejected, tree)
        except (OSError, ValueError, RecursionError) as exc:  # one entry, not the class
            rejected.append(Rejected(entry.name, f"could not be read: {exc}"))
    for student, attempts in sorted(flat.items()):
        if student in found:
            rejected.append(Rejected(student, "both a folder and LMS files; the folder is used"))
            continue
        found[student] = _latest_attempt(student, attempts, notebooks)
    return [found[k] for k in sorted(found)], rejected


def _is_tree(entries: list[os.DirEntry], assignment: str) -> bool:
    """Whether some student folder holds ``<assignment>/``: nbgrader's submitted/ tree."""
    for entry in entries:
        try:
            if (
                not entry.name.startswith(".")
                and entry.is_dir(follow_symlinks=False)
                and _child_kind(Path(entry.path), assignment) == "folder"
            ):
                return True
        except OSError:
            continue
    return False


def _discover_entry(
    entry: os.DirEntry,
    notebooks: list[str],
    lms_timezone: str,
    found: dict[str, Submission],
    flat: dict[str, list[tuple[datetime | None, Path, str]]],
    rejected: list[Rejected],
    tree: str | None = None,
) -> None:
    """Sort one top-level entry into a student folder, a Blackboard file or a rejection.

    ``tree`` is the assignment when ``root`` is nbgrader's submitted/ tree, else None.
    """
    name = entry.name
    if name in _SKIPPED:
        rejected.append(Rejected(name, f"{_SKIPPED[name]}; skipped", skipped=True))
        return
    if name.startswith("."):
        rejected.append(Rejected(name, "hidden (the name starts with '.'); skipped", skipped=True))
        return
    mode = entry.stat(follow_symlinks=False).st_mode
    if stat.S_ISLNK(mode):
        rejected.append(Rejected(name, "symbolic link; refused (links are never followed)"))
        return
    if stat.S_ISDIR(mode):
        problem = validate_student_id(name)
        if problem:
            rejected.append(Rejected(name, problem))
            return
        student = Path(entry.path)
        inner = None
        if tree is not None:
            kind = _child_kind(student, tree)
            if kind == "link":
                found[name] = Submission(
                    student_id=name,
                    folder=student,
                    notes=[f"{tree} is a symbolic link; refused (links are never followed)"],
                )
                return
            if kind == "folder":
                inner = tree
            elif not _has_loose_notebook(student):
                rejected.append(
                    Rejected(
                        name,
                        f"no {tree}/ folder: this student did not submit {tree} "
                        "(nbgrader's submitted/ tree); skipped",
                        skipped=True,
                    )
                )
                return
        sub = _student_folder(student, notebooks, lms_timezone, inner)
        if not sub.files:
            try:
                seen = ", ".join(sorted(os.listdir(sub.folder))[:5]) or "nothing"
            except OSError:
                seen = "an unreadable folder"
            sub.notes.append(f"no notebook of this assignment in the folder (found {seen})")
        found[sub.student_id] = sub
        return
    match = BLACKBOARD_FILE.fullmatch(name)
    if name.endswith(".ipynb") and match and stat.S_ISREG(mode):
        student = match["student"]
        problem = validate_student_id(student)
        if problem:
            rejected.append(Rejected(name, problem))
            return
        try:
            stamp = parse_lms_timestamp(name, lms_timezone)
        except ValueError as exc:
            rejected.append(Rejected(name, f"the submission time in the name is impossible: {exc}"))
            return
        flat.setdefault(student, []).append((stamp, Path(entry.path), match["file"]))
        return
    rejected.append(
        Rejected(
            name,
            "not a student folder (<student_id>/<notebook>.ipynb) nor a Blackboard "
            "file (<assignment>_<student>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file>.ipynb)",
        )
    )


def _latest_attempt(
    student: str, attempts: list[tuple[datetime | None, Path, str]], notebooks: list[str]
) -> Submission:
    """A student's Blackboard files: the latest attempt's notebooks, with notes."""
    attempts.sort(key=lambda a: (a[0] or datetime.min, a[1].name))
    latest = attempts[-1][0]
    sub = Submission(student_id=student, timestamp=latest)
    ignored = []
    for stamp, path, original in attempts:
        name = _match_notebook(PurePosixPath(original), notebooks)
        if name is None and len(notebooks) == 1:
            name = notebooks[0]
        if stamp != latest or name is None:
            ignored.append(path.name)
            continue
        if name in sub.files:
            ignored.append(sub.files[name].name)
        sub.files[name] = path  # same attempt, two files for one notebook: the later name
    if ignored:
        shown = ", ".join(ignored[:5]) + (
            f" and {len(ignored) - 5} more" if len(ignored) > 5 else ""
        )
        graded = ", ".join(p.name for p in sub.files.values()) or "nothing"
        sub.notes.append(f"graded the latest attempt ({graded}); ignored: {shown}")
    return sub
