"""Grade a whole class: submissions in, gradebook, grades.csv, feedback and report out.

The parent process owns the nbgrader gradebook; a pool of worker processes
(:mod:`~course_rnn.grading.worker`) grades one student at a time with
:func:`course_rnn.grading.executor.grade_notebook` and sends back plain data. Each
finished student is committed to the gradebook and to a small state file under
``OUT_DIR/.grading/`` before the next result is read, so an interrupted run resumes
where it stopped, and a re-run regrades only students whose files changed.

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
import multiprocessing
import os
import secrets
import stat
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TextIO

from nbgrader.api import Gradebook

from course_rnn.grading import gradebook as gbk
from course_rnn.grading.course import course_settings
from course_rnn.grading.executor import Limits
from course_rnn.grading.late import LatePolicy
from course_rnn.grading.markup import one_line, summarise
from course_rnn.grading.submissions import Rejected, Submission, discover, extract_zip
from course_rnn.grading.worker import grade_student, init_worker

__all__ = ["GradeRun", "RunSummary", "run_grading"]

# Bump when a change here changes grades, so old state files are not reused.
STATE_VERSION = 2
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


def _sha256(path: Path) -> str:
    """The file's hash, read in chunks (never a symbolic link: refused when found)."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise OSError(f"{path.name} is not a regular file")
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fingerprint(sources: dict[str, Path], sub: Submission, limits: Limits) -> str:
    blob = {
        "version": STATE_VERSION,
        "sources": {name: _sha256(p) for name, p in sources.items()},
        "files": {name: _sha256(p) for name, p in sorted(sub.files.items())},
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
    """``seeds.csv``: student_id, assignment, hidden_seed, sorted by student."""
    lines = ["student_id,assignment,hidden_seed"]
    lines += [f"{s},{assignment},{seeds[s]}" for s in sorted(seeds)]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _failed_outcome(
    student: str, sources: dict[str, Path], reason: str, submitted: bool = True
) -> dict:
    notebooks = {
        name: {
            "tests": [],
            "problems": [reason],
            "answers": {},
            "seconds": 0.0,
            "submitted": submitted,
        }
        for name in sources
    }
    return {"student_id": student, "notebooks": notebooks}


def _pool_context() -> multiprocessing.context.BaseContext:
    """Fresh worker processes, never forks of this (threaded, database-holding) one.

    ``forkserver`` starts one clean server process that imports the worker module once
    and forks each worker from it (fast); ``spawn`` is the portable fallback.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        from multiprocessing import forkserver

        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["course_rnn.grading.startup", "course_rnn.grading.worker"])
        # Start the server now: it imports the worker module while this process
        # prepares the run, instead of when the first student is due.
        forkserver.ensure_running()
        return context
    return multiprocessing.get_context("spawn")


def _run_pool(
    tasks: list[dict],
    workers: int,
    on_result,
    sources: dict[str, Path],
    context: multiprocessing.context.BaseContext,
) -> list[dict]:
    """Run ``tasks`` in a process pool, calling ``on_result(outcome)`` as each finishes.

    A worker process that dies (it should not: the executor contains the student code)
    breaks the pool; the unfinished tasks are then retried one at a time, each in a fresh
    one-worker pool, so only the student who kills it loses points. Returns the tasks
    not finished (non-empty only after an interrupt).
    """
    pending = list(tasks)
    isolate = False
    while pending:
        batch = pending[:1] if isolate else pending
        size = 1 if isolate else max(1, min(workers, len(batch)))
        pool = ProcessPoolExecutor(size, mp_context=context, initializer=init_worker)
        futures: dict[Future, dict] = {pool.submit(grade_student, t): t for t in batch}
        done_ids: set[str] = set()
        broken = False
        try:
            remaining = set(futures)
            while remaining:
                finished, remaining = wait(remaining, return_when=FIRST_COMPLETED)
                for future in sorted(finished, key=lambda f: futures[f]["student_id"]):
                    task = futures[future]
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        broken = True
                        if isolate:
                            outcome = _failed_outcome(
                                task["student_id"],
                                sources,
                                "the grading process died while running this submission",
                            )
                        else:
                            continue
                    except Exception as exc:  # noqa: BLE001
                        outcome = _failed_outcome(
                            task["student_id"], sources, f"grading failed: {exc}"
                        )
                    on_result(outcome)
                    done_ids.add(task["student_id"])
        except KeyboardInterrupt:
            pool.shutdown(wait=True, cancel_futures=True)
            return [t for t in pending if t["student_id"] not in done_ids]
        pool.shutdown(wait=True, cancel_futures=True)
        pending = [t for t in pending if t["student_id"] not in done_ids]
        if broken:
            isolate = True
    return []


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
    context = _pool_context()
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
    subs, rejected = discover(folder, list(sources), run.lms_timezone)
    _attach_member_problems(subs, summary.rejected)
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
        _grade_class(run, gb, info, sources, subs, state_dir, summary, log, context, seeds)
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
    context: multiprocessing.context.BaseContext,
    seeds: dict[str, int],
) -> None:
    """Grade the students not graded yet, then write feedback, grades.csv and report.

    With ``run.only_student``, that student is regraded and the others keep the results
    saved by an earlier run into the same ``OUT_DIR`` (those without one are left out).

    Every step that touches one student's files or rows (hashing, recording, scoring,
    writing feedback) fails for that student alone: the reason goes on their row.
    """
    from course_rnn.grading.feedback import write_feedback
    from course_rnn.grading.report import write_report

    outcomes: dict[str, dict] = {}
    tasks = []
    by_id = {s.student_id: s for s in subs}
    fingerprints: dict[str, str] = {}
    failed_early: list[dict] = []
    for sub in subs:
        try:
            fingerprint = _fingerprint(sources, sub, run.limits)
        except OSError as exc:
            if run.only_student is not None and sub.student_id != run.only_student:
                continue
            failed_early.append(
                _failed_outcome(
                    sub.student_id,
                    sources,
                    f"the submission could not be read: {exc.strerror or exc}",
                )
            )
            fingerprints[sub.student_id] = ""
            continue
        fingerprints[sub.student_id] = fingerprint
        state = _read_state(state_dir / f"{sub.student_id}.json")
        alone = run.only_student is not None
        if alone and sub.student_id != run.only_student:
            if state and state.get("fingerprint") == fingerprint:
                if state.get("hidden_seed") == seeds[sub.student_id]:
                    outcomes[sub.student_id] = state["outcome"]
                    summary.reused.append(sub.student_id)
                    _record(gb, info, sub, state["outcome"], summary)
            continue
        if (
            not run.force
            and not alone
            and state
            and state.get("fingerprint") == fingerprint
            and state.get("hidden_seed") == seeds[sub.student_id]
        ):
            outcomes[sub.student_id] = state["outcome"]
            summary.reused.append(sub.student_id)
            # Cheap and idempotent: keeps the gradebook in step (timestamps, a new --db).
            _record(gb, info, sub, state["outcome"], summary)
            continue
        tasks.append(
            {
                "student_id": sub.student_id,
                "assignment": run.assignment,
                "sources": {n: str(p) for n, p in sources.items()},
                "files": {n: str(p) for n, p in sub.files.items()},
                "limits": asdict(run.limits),
                "autograded": str(run.out / "autograded"),
                "fingerprint": fingerprint,
                "hidden_seed": seeds[sub.student_id],
            }
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

    def on_result(outcome: dict) -> None:
        record_start = time.perf_counter()
        student = outcome["student_id"]
        sub = by_id[student]
        outcome["notes"] = summarise(list(sub.notes), what="note(s)")
        for name in sub.files:
            if name in outcome["notebooks"]:
                outcome["notebooks"][name]["file"] = sub.shown_name(name)
        _record(gb, info, sub, outcome, summary)
        if fingerprints.get(student):
            _write_state(
                state_dir / f"{student}.json",
                {
                    "fingerprint": fingerprints[student],
                    "hidden_seed": seeds.get(student),
                    "outcome": outcome,
                },
            )
        outcomes[student] = outcome
        summary.graded.append(student)
        got = sum(t["points"] for nb in outcome["notebooks"].values() for t in nb["tests"])
        seconds = sum(nb["seconds"] for nb in outcome["notebooks"].values())
        trouble = [p for nb in outcome["notebooks"].values() for p in nb["problems"]]
        note = f"  ({len(trouble)} problem(s): {one_line(trouble[0], 70)})" if trouble else ""
        print(
            f"[{len(summary.graded):>{len(str(total))}}/{total}] {student:<20} "
            f"tests {_fmt(got)}/{_fmt(auto_max)}  {seconds:5.1f} s{note}",
            file=log,
            flush=True,
        )
        summary.phases["record"] = summary.phases.get("record", 0.0) + (
            time.perf_counter() - record_start
        )

    for outcome in failed_early:
        on_result(outcome)
    workers = max(1, run.workers)
    if tasks:
        print(
            f"grading {len(tasks)} student(s) with {min(workers, len(tasks))} worker(s)", file=log
        )
    pool_start = time.perf_counter()
    left = _run_pool(tasks, workers, on_result, sources, context)
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
        problems = [p for nb in outcome["notebooks"].values() for p in nb["problems"]]
        if problems:
            summary.problems[student] = problems
        notes = outcome.get("notes") or []
        if notes:
            summary.notes[student] = notes
        summary.scores[student] = scores[student]["score"] - scores[student]["penalty"]
        summary.notebook_seconds += sum(nb["seconds"] for nb in outcome["notebooks"].values())
    graded = {s: outcomes[s] for s in scores}
    for student, error in write_feedback(
        run.out / "feedback", info, sources, graded, scores, run.late_policy
    ).items():
        summary.problems.setdefault(student, []).append(f"feedback not written: {error}")
    gbk.export_grades(gb, run.assignment, run.out / "grades.csv")
    _write_seeds(run.out / "seeds.csv", run.assignment, {s: seeds[s] for s in scores})
    similarity = _similarity(run, info, graded, summary, log)
    write_report(run.out, info, graded, scores, summary, run.late_policy, similarity)
    summary.phases["finish"] = time.perf_counter() - finish_start


def _record(
    gb: Gradebook, info: gbk.AssignmentInfo, sub: Submission, outcome: dict, summary: RunSummary
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
    from course_rnn.grading.lms import read_roster

    return {fmt: read_roster(run.roster, fmt) for fmt in run.lms_formats}


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
