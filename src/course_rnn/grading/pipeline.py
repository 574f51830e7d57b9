"""Grade a whole class: submissions in, gradebook, grades.csv, feedback and report out.

This process, the coordinator, alone writes the nbgrader gradebook and every output.
Graders run :func:`course_rnn.grading.worker.grade_student`, one
:class:`~course_rnn.grading.results.GradeTask` in (the submission's bytes travel with it)
and one :class:`~course_rnn.grading.results.StudentOutcome` out (with the executed
notebooks), through a *backend*: :class:`LocalBackend` (threads of this process, each
driving its own warm trusted runner) by default, or a Dask cluster with ``--scheduler``
(:mod:`course_rnn.grading.cluster`). Each finished student is committed to the gradebook
and to a small state file under ``OUT_DIR/.grading/`` before the next result is read, so
an interrupted run resumes where it stopped, and a re-run regrades only students whose
files changed.

Output layout (``OUT_DIR``)::

    grades.csv                              nbgrader's export format, one row per student
    seeds.csv                               each student's hidden-input seed (see below)
    feedback/<student>/<assignment>/<nb>.html
    autograded/<student>/<assignment>/<nb>.ipynb   executed notebooks (for the formgrader)
    report.md, report.html, score_histogram.png, pass_rates.png
    canvas_grades.csv, moodle_grades.csv   with --format: the LMS's gradebook import
    canvas_unmatched.csv, ...              ids the roster and the grades do not share

Hidden tests draw their random inputs from ``course_rnn.testing.hidden_rng()``, seeded per
student with :func:`student_seed`: an HMAC of the course secret (:func:`load_secret`),
the assignment and the student id. No two students share hidden inputs, and a regrade
(``--student ID``) draws the same ones. The secret itself is never written under
``OUT_DIR``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Protocol, TextIO

from nbgrader.api import Gradebook

from course_rnn.grading import gradebook as gbk
from course_rnn.grading.course import course_settings
from course_rnn.grading.csvsafe import csv_text
from course_rnn.grading.executor import Limits
from course_rnn.grading.late import LatePolicy
from course_rnn.grading.markup import one_line, summarise
from course_rnn.grading.results import GradeTask, StudentOutcome
from course_rnn.grading.submissions import Rejected, Submission, discover, extract_zip
from course_rnn.grading.worker import close_runners, grade_student

__all__ = ["Backend", "GradeRun", "LocalBackend", "RunSummary", "run_grading"]

# Bump when a change here changes grades, so old state files are not reused.
STATE_VERSION = 3
STATE_DIR = ".grading"
SECRET_FILE = ".course_rnn_secret"  # in the course root, unless --secret-file or the env
SECRET_ENV = "COURSE_RNN_SECRET"


@dataclass
class GradeRun:
    """Everything one ``course-rnn grade`` invocation needs (paths absolute)."""

    assignment: str
    submissions: Path
    out: Path
    course_root: Path
    db_url: str | None = None
    workers: int = 1
    limits: Limits = field(default_factory=Limits)
    due: datetime | None = None
    late_policy: LatePolicy = field(default_factory=LatePolicy)
    lms_timezone: str = "UTC"
    force: bool = False
    lms_formats: tuple[str, ...] = ()  # "canvas", "moodle": import files next to grades.csv
    roster: Path | None = None  # the LMS's roster export, to map student ids
    roster_key: str | None = None  # its column of student ids (default: the one that matches)
    lms_column: str | None = None  # the assignment's column (default: the assignment name)
    similarity_threshold: float | None = None  # None: SimilaritySettings' default
    secret_file: Path | None = None  # the course secret (default: env, then course root)
    only_student: str | None = None  # regrade this student alone; keep the others' results
    scheduler: str | None = None  # a Dask scheduler's address: grade on its workers


@dataclass
class RunSummary:
    """What a run did, for the command's summary and for tests."""

    graded: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    problems: dict[str, list[str]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)  # choices made per student
    rejected: list[Rejected] = field(default_factory=list)  # entries not graded (and skipped)
    scores: dict[str, float] = field(default_factory=dict)
    max_score: float = 0.0
    seconds: float = 0.0
    notebook_seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step of the run
    interrupted: bool = False
    unrecorded: set[str] = field(default_factory=set)  # graded, but no gradebook row
    similar_pairs: int | None = None  # pairs in the similarity report (None: not made)
    lms: list = field(default_factory=list)  # lms.LmsExport per --format
    # late students and pending written answers, for the terminal summary (report.py)
    attention: dict = field(default_factory=dict)


def _read_file(path: Path) -> bytes:
    """A submitted file's bytes (never through a symbolic link: refused when found)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise OSError(f"{path.name} is not a regular file")
        return fh.read()


def _fingerprint(sources: dict[str, str], files: dict[str, bytes], limits: Limits) -> str:
    def sha(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    blob = {
        "version": STATE_VERSION,
        "sources": {name: sha(text.encode()) for name, text in sources.items()},
        "files": {name: sha(data) for name, data in sorted(files.items())},
        "limits": asdict(limits),
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def _write_state(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, sort_keys=True, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, path)


def _read_state(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def load_secret(secret_file: Path | None, course_root: Path, log: TextIO) -> bytes:
    """The course secret: ``secret_file``, else ``$COURSE_RNN_SECRET``, else the course
    root's ``.course_rnn_secret``, which is created (mode 0600) when missing."""
    if secret_file is None and os.environ.get(SECRET_ENV, "").strip():
        return os.environ[SECRET_ENV].strip().encode()
    path = secret_file or course_root / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        print(f"created the course secret {path} (keep it private and out of git)", file=log)
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the course secret {path}: {exc}") from None
    if not secret:
        raise ValueError(f"the course secret {path} is empty")
    return secret.encode()


def student_seed(secret: bytes, assignment: str, student: str) -> int:
    """The seed of a student's hidden inputs: HMAC-SHA256 of assignment and id, 8 bytes."""
    message = f"{assignment}\0{student}".encode()
    return int.from_bytes(hmac.new(secret, message, hashlib.sha256).digest()[:8], "big")


def _write_seeds(path: Path, assignment: str, seeds: dict[str, int]) -> None:
    """``seeds.csv``: student_id, assignment, hidden_seed, sorted by student (every cell
    by :mod:`~course_rnn.grading.csvsafe`'s rule)."""
    rows = [["student_id", "assignment", "hidden_seed"]]
    rows += [[s, assignment, seeds[s]] for s in sorted(seeds)]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(csv_text(rows), encoding="utf-8")
    os.replace(tmp, path)


class Backend(Protocol):
    """Where students are graded. ``run`` calls ``on_result`` in the caller's thread as
    each student finishes and returns the tasks left unfinished by Ctrl-C."""

    def check(self) -> None: ...

    def run(
        self, tasks: list[GradeTask], on_result: Callable[[StudentOutcome], None]
    ) -> list[GradeTask]: ...


class LocalBackend:
    """Grade in ``workers`` threads of this process, each with its own warm runner.

    The threads only wait: each drives one trusted runner process (which imports torch
    once and is reused for every student of the thread), and the runner drives one
    sandboxed kernel at a time. A runner that dies costs the notebook it was grading; the
    next notebook starts a new runner.
    """

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, workers)

    def check(self) -> None:
        pass

    def run(
        self, tasks: list[GradeTask], on_result: Callable[[StudentOutcome], None]
    ) -> list[GradeTask]:
        if not tasks:
            return []
        pool = ThreadPoolExecutor(min(self.workers, len(tasks)), "course-rnn-grader")
        futures = {pool.submit(grade_student, task): task for task in tasks}
        done: set[str] = set()
        try:
            for future in as_completed(futures):
                task = futures[future]
                try:
                    outcome = future.result()
                except Exception as exc:  # noqa: BLE001 - one student's row, not the class
                    outcome = StudentOutcome.failed(
                        task.student_id, list(task.sources), f"grading failed: {exc}"
                    )
                on_result(outcome)
                done.add(task.student_id)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            close_runners()  # the threads' runners die, so the threads return at once
            pool.shutdown(wait=True)
            return [t for t in tasks if t.student_id not in done]
        finally:
            pool.shutdown(wait=True)
            close_runners()
        return []


def _backend(run: GradeRun) -> Backend:
    if run.scheduler:
        from course_rnn.grading.cluster import DaskBackend

        return DaskBackend(run.scheduler)
    return LocalBackend(run.workers)


def _fmt(x: float) -> str:
    return f"{x:g}"


def run_grading(run: GradeRun, log: TextIO | None = None) -> RunSummary:
    """Grade every submission of ``run.assignment`` and write all outputs to ``run.out``.

    Raises ``ValueError`` for instructor errors (unknown assignment, unreadable zip,
    nbgrader refusing the source); a bad submission never raises.
    """
    log = log or sys.stdout
    started = time.perf_counter()
    summary = RunSummary()
    backend = _backend(run)
    backend.check()  # an unreachable cluster fails here, before anything is written
    course_id, source_dir, config = course_settings(run.course_root)
    source_folder = run.course_root / source_dir / run.assignment
    sources = {p.stem: p for p in sorted(source_folder.glob("*.ipynb"))}
    if not sources:
        known = sorted(p.name for p in (run.course_root / source_dir).glob("*") if p.is_dir())
        raise ValueError(
            f"no source notebook for assignment {run.assignment!r}: expected "
            f"{source_folder}/*.ipynb (assignments found: {', '.join(known) or 'none'})"
        )
    rosters = _read_rosters(run)
    secret = load_secret(run.secret_file, run.course_root, log)
    run.out.mkdir(parents=True, exist_ok=True)
    state_dir = run.out / STATE_DIR
    state_dir.mkdir(exist_ok=True)
    db_url = run.db_url or gbk.default_db_url(run.course_root)

    folder = run.submissions
    if folder.is_file() and folder.suffix.lower() == ".zip":
        unpacked = state_dir / "unpacked"
        summary.rejected.extend(extract_zip(folder, unpacked))
        folder = unpacked
    elif not folder.is_dir():
        raise ValueError(
            f"submissions {run.submissions} is neither a folder nor a .zip file: expected "
            "a folder of <student_id>/<notebook>.ipynb or a zip of one"
        )
    subs, rejected = discover(folder, list(sources), run.lms_timezone, assignment=run.assignment)
    _attach_member_problems(subs, summary.rejected)
    if run.due is not None:
        for sub in subs:
            if sub.timestamp is None and not sub.timestamp_refused:
                sub.notes.append(
                    "no submission time found (no timestamp.txt, no time in the file or "
                    "folder name): graded as on time, no late penalty"
                )
    if run.only_student is not None and run.only_student not in {s.student_id for s in subs}:
        raise ValueError(
            f"--student {run.only_student!r}: no submission with that id in {run.submissions}"
        )
    seeds = {s.student_id: student_seed(secret, run.assignment, s.student_id) for s in subs}
    del secret
    summary.rejected.extend(rejected)
    for entry in summary.rejected:
        verb = "skipped" if entry.skipped else "rejected"
        print(f"{verb} {one_line(repr(entry.entry), 120)}: {one_line(entry.reason)}", file=log)

    info = gbk.register_assignment(db_url, run.assignment, sources, run.due, course_id, config)
    summary.max_score = info.max_score
    # One connection for the whole run, in this process only: workers never see it.
    summary.phases["prepare"] = time.perf_counter() - started
    with Gradebook(db_url, course_id) as gb:
        _grade_class(run, gb, info, sources, subs, state_dir, summary, log, backend, seeds)
    if not summary.interrupted:
        _write_lms(run, rosters, summary)
    summary.seconds = time.perf_counter() - started
    if not summary.interrupted:
        _print_summary(run, summary, log)
    return summary


def _attach_member_problems(subs: list[Submission], refused: list[Rejected]) -> None:
    """A zip member refused inside a student's folder also goes on that student's notes."""
    by_id = {s.student_id: s for s in subs}
    for entry in refused:
        parts = PurePosixPath(entry.entry.replace("\\", "/")).parts
        for part in parts[:2]:  # <student>/... or <wrapper>/<student>/...
            if part in by_id:
                by_id[part].notes.append(
                    f"{'/'.join(parts[parts.index(part) + 1 :])} in the zip: {entry.reason}"
                )
                break


def _grade_class(
    run: GradeRun,
    gb: Gradebook,
    info: gbk.AssignmentInfo,
    sources: dict[str, Path],
    subs: list[Submission],
    state_dir: Path,
    summary: RunSummary,
    log: TextIO,
    backend: Backend,
    seeds: dict[str, int],
) -> None:
    """Grade the students not graded yet, then write feedback, grades.csv and report.

    With ``run.only_student``, that student is regraded and the others keep the results
    saved by an earlier run into the same ``OUT_DIR`` (those without one are left out).

    Every step that touches one student's files or rows (reading, recording, scoring,
    writing feedback) fails for that student alone: the reason goes on their row.
    """
    from course_rnn.grading.feedback import write_feedback
    from course_rnn.grading.report import write_report

    source_texts = {name: path.read_text(encoding="utf-8") for name, path in sources.items()}
    names = list(sources)
    outcomes: dict[str, StudentOutcome] = {}
    tasks: list[GradeTask] = []
    by_id = {s.student_id: s for s in subs}
    fingerprints: dict[str, str] = {}
    failed_early: list[StudentOutcome] = []
    alone = run.only_student is not None
    for sub in subs:
        if alone and sub.student_id != run.only_student:
            # Keep this student's saved result, if it still matches their files.
            saved = _saved(sub, source_texts, run, state_dir, seeds)
            if saved is not None:
                saved.notes = summarise(list(sub.notes), what="note(s)")  # today's files
                outcomes[sub.student_id] = saved
                summary.reused.append(sub.student_id)
                _record(gb, info, sub, saved, summary)
            continue
        try:
            files = {name: _read_file(path) for name, path in sub.files.items()}
        except OSError as exc:
            reason = f"the submission could not be read: {exc.strerror or exc}"
            failed_early.append(StudentOutcome.failed(sub.student_id, names, reason))
            fingerprints[sub.student_id] = ""
            continue
        fingerprint = _fingerprint(source_texts, files, run.limits)
        fingerprints[sub.student_id] = fingerprint
        if not run.force and not alone:
            saved = _load_state(state_dir, sub.student_id, fingerprint, seeds[sub.student_id])
            if saved is not None:
                # The notes describe today's folder (a timestamp.txt is not in the
                # fingerprint), not the one the saved outcome was graded from.
                saved.notes = summarise(list(sub.notes), what="note(s)")
                outcomes[sub.student_id] = saved
                summary.reused.append(sub.student_id)
                # Cheap and idempotent: keeps the gradebook in step (timestamps, a new --db).
                _record(gb, info, sub, saved, summary)
                continue
        tasks.append(
            GradeTask(
                sub.student_id,
                run.assignment,
                source_texts,
                files,
                run.limits,
                seeds[sub.student_id],
                require_sandbox=run.scheduler is not None,
            )
        )
    if summary.reused:
        print(
            f"reusing {len(summary.reused)} student(s) graded by an earlier run "
            "(unchanged files; --force regrades them)",
            file=log,
        )
    total = len(tasks) + len(failed_early)
    auto_max = sum(
        c.max_points for cells in info.notebooks.values() for c in cells if c.scoring == "test"
    )
    autograded = run.out / "autograded"

    def on_result(outcome: StudentOutcome) -> None:
        record_start = time.perf_counter()
        student = outcome.student_id
        sub = by_id[student]
        outcome.notes = summarise(list(sub.notes), what="note(s)")
        for name, entry in outcome.notebooks.items():
            if name in sub.files:
                entry.file = sub.shown_name(name)
            if entry.executed is not None:
                dest = autograded / student / run.assignment / f"{name}.ipynb"
                try:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_text(entry.executed, encoding="utf-8")
                except OSError as exc:
                    entry.problems.append(f"executed notebook not saved: {exc}")
                entry.executed = None  # on disk now; not kept in memory for the class
        _record(gb, info, sub, outcome, summary)
        if fingerprints.get(student):
            _write_state(
                state_dir / f"{student}.json",
                {
                    "fingerprint": fingerprints[student],
                    "hidden_seed": seeds.get(student),
                    "outcome": outcome.to_json(),
                },
            )
        outcomes[student] = outcome
        summary.graded.append(student)
        trouble = outcome.problems
        note = f"  ({len(trouble)} problem(s): {one_line(trouble[0], 70)})" if trouble else ""
        print(
            f"[{len(summary.graded):>{len(str(total))}}/{total}] {student:<20} "
            f"tests {_fmt(outcome.score)}/{_fmt(auto_max)}  {outcome.seconds:5.1f} s{note}",
            file=log,
            flush=True,
        )
        summary.phases["record"] = summary.phases.get("record", 0.0) + (
            time.perf_counter() - record_start
        )

    for outcome in failed_early:
        on_result(outcome)
    if tasks:
        where = (
            f"the Dask cluster at {run.scheduler}"
            if run.scheduler
            else (f"{min(max(1, run.workers), len(tasks))} worker(s)")
        )
        print(f"grading {len(tasks)} student(s) with {where}", file=log)
    pool_start = time.perf_counter()
    left = backend.run(tasks, on_result)
    summary.phases["pool"] = time.perf_counter() - pool_start
    finish_start = time.perf_counter()
    if left:
        summary.interrupted = True
        print(
            f"interrupted: {len(summary.graded)} student(s) graded and saved, {len(left)} "
            "left; run the same command again to resume",
            file=log,
        )
        return

    recorded = [s for s in sorted(outcomes) if s not in summary.unrecorded]
    gbk.apply_late_penalties(gb, run.assignment, recorded, run.late_policy)
    scores = {}
    for student in recorded:
        try:
            scores[student] = gbk.student_scores(gb, info, student)
        except Exception as exc:  # noqa: BLE001 - one student's row, not the class
            gb.db.rollback()
            _unrecorded(summary, student, f"its scores could not be read back: {exc}")
    for student in sorted(scores):
        outcome = outcomes[student]
        if outcome.problems:
            summary.problems[student] = outcome.problems
        if outcome.notes:
            summary.notes[student] = outcome.notes
        summary.scores[student] = scores[student]["score"] - scores[student]["penalty"]
        summary.notebook_seconds += outcome.seconds
    graded = {s: outcomes[s] for s in scores}
    for student, error in write_feedback(
        run.out / "feedback", info, sources, graded, scores, run.late_policy
    ).items():
        summary.problems.setdefault(student, []).append(f"feedback not written: {error}")
    gbk.export_grades(gb, run.assignment, run.out / "grades.csv")
    _write_seeds(run.out / "seeds.csv", run.assignment, {s: seeds[s] for s in scores})
    similarity = _similarity(run, info, graded, summary, log)
    write_report(
        run.out, info, graded, scores, summary, run.late_policy, similarity, sources=sources
    )
    summary.phases["finish"] = time.perf_counter() - finish_start


def _load_state(
    state_dir: Path, student: str, fingerprint: str, seed: int
) -> StudentOutcome | None:
    """The outcome an earlier run saved for these exact files and seed, or None."""
    state = _read_state(state_dir / f"{student}.json")
    if not state or state.get("fingerprint") != fingerprint or state.get("hidden_seed") != seed:
        return None
    try:
        return StudentOutcome.from_json(state["outcome"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None  # an unreadable state file: grade again


def _saved(
    sub: Submission,
    source_texts: dict[str, str],
    run: GradeRun,
    state_dir: Path,
    seeds: dict[str, int],
) -> StudentOutcome | None:
    """The saved outcome of a student that ``--student`` leaves as graded, if it still
    matches their files and seed."""
    try:
        files = {name: _read_file(path) for name, path in sub.files.items()}
    except OSError:
        return None
    fingerprint = _fingerprint(source_texts, files, run.limits)
    return _load_state(state_dir, sub.student_id, fingerprint, seeds[sub.student_id])


def _record(
    gb: Gradebook,
    info: gbk.AssignmentInfo,
    sub: Submission,
    outcome: StudentOutcome,
    summary: RunSummary,
) -> None:
    """Write one student's scores to the gradebook; a failure costs that student's row."""
    try:
        gbk.record_student(gb, info, sub.student_id, sub.timestamp, outcome)
    except Exception as exc:  # noqa: BLE001 - one student's row, not the class
        gb.db.rollback()
        _unrecorded(summary, sub.student_id, f"could not be recorded in the gradebook: {exc}")


def _unrecorded(summary: RunSummary, student: str, reason: str) -> None:
    summary.unrecorded.add(student)
    summary.rejected.append(Rejected(student, reason))


def _print_summary(run: GradeRun, summary: RunSummary, log: TextIO) -> None:
    """The run in a few lines; every student-controlled text is escaped (one_line)."""
    n = len(summary.scores)
    print("", file=log)
    print(
        f"{run.assignment}: {n} student(s) in grades.csv; {len(summary.graded)} graded now, "
        f"{len(summary.reused)} reused; {summary.seconds:.1f} s",
        file=log,
    )
    if n:
        values = sorted(summary.scores.values())
        mean = sum(values) / n
        print(
            f"score: mean {mean:.1f}, median {values[n // 2]:.1f}, min {values[0]:g}, "
            f"max {values[-1]:g} (of {summary.max_score:g})",
            file=log,
        )
    if summary.problems:
        print(f"{len(summary.problems)} submission(s) lost points to problems:", file=log)
        for student, problems in summary.problems.items():
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            print(f"  {student}: {one_line(problems[0], 200)}{more}", file=log)
    if summary.notes:
        print(f"{len(summary.notes)} submission(s) with choices made or files refused:", file=log)
        for student, notes in summary.notes.items():
            for note in notes[:5]:
                print(f"  {student}: {one_line(note, 200)}", file=log)
            if len(notes) > 5:
                print(f"  {student}: ... {len(notes) - 5} more in the report", file=log)
    refused = [e for e in summary.rejected if not e.skipped]
    skipped = [e for e in summary.rejected if e.skipped]
    if refused:
        print(f"{len(refused)} entry(ies) rejected (not graded):", file=log)
        for entry in refused:
            print(f"  {one_line(repr(entry.entry), 120)}: {one_line(entry.reason, 200)}", file=log)
    if skipped:
        print(f"{len(skipped)} entry(ies) skipped (not submissions):", file=log)
        for entry in skipped:
            print(f"  {one_line(repr(entry.entry), 120)}: {one_line(entry.reason, 200)}", file=log)
    if summary.similar_pairs:
        print(
            f"{summary.similar_pairs} pair(s) of similar answers in report.html: evidence to "
            "read, not a verdict",
            file=log,
        )
    if summary.lms:
        from course_rnn.grading.lms import summary_lines

        for export in summary.lms:
            for line in summary_lines(export):
                print(line, file=log)
    lms = "".join(f", {e.path.name}" for e in summary.lms)
    print(
        f"outputs in {run.out}: grades.csv, seeds.csv{lms}, feedback/, report.md, report.html",
        file=log,
    )


def _read_rosters(run: GradeRun) -> dict:
    """Each --format's roster, read and checked before any grading (a bad file fails fast)."""
    if not run.lms_formats:
        return {}
    if run.roster is None:
        raise ValueError(
            f"--format {','.join(run.lms_formats)} needs --roster: the LMS's roster export"
        )
    from course_rnn.grading.lms import check_roster_key, read_roster

    rosters = {fmt: read_roster(run.roster, fmt) for fmt in run.lms_formats}
    for roster in rosters.values():
        check_roster_key(roster, run.roster_key)
    return rosters


def _write_lms(run: GradeRun, rosters: dict, summary: RunSummary) -> None:
    from course_rnn.grading.lms import write_lms_grades

    for fmt, roster in rosters.items():
        column = run.lms_column or run.assignment
        summary.lms.append(
            write_lms_grades(run.out, fmt, roster, summary.scores, column, run.roster_key)
        )


def _similarity(run: GradeRun, info: gbk.AssignmentInfo, graded: dict, summary, log: TextIO):
    """The class similarity report's data, or None (said on the log) when it cannot be made."""
    try:
        from course_rnn.grading.similarity import (
            SimilaritySettings,
            answer_cells,
            answers_by_student,
            class_similarity,
        )
    except ImportError as exc:
        print(f"no similarity report: {exc} (pip install 'course-rnn[instructor]')", file=log)
        return None
    settings = SimilaritySettings()
    if run.similarity_threshold is not None:
        settings = replace(settings, threshold=run.similarity_threshold)
    try:
        report = class_similarity(answer_cells(info), answers_by_student(graded), settings)
    except Exception as exc:  # noqa: BLE001 - the grades stand without it
        print(f"no similarity report: {one_line(exc, 200)}", file=log)
        return None
    summary.similar_pairs = len(report.pairs)
    return report
