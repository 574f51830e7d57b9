"""``course-rnn grade``: one command from a folder (or zip) of submissions to grades.

Example::

    course-rnn grade 02_rnn_forward ~/Downloads/submissions.zip --out grading/02 \\
        --due 2026-03-01T23:59 --timezone Europe/Berlin --late-penalty "10%/day,max=50%" \
        --format canvas --roster canvas_export.csv

On a Dask cluster (``dask scheduler`` and ``dask worker`` running; docs/instructors.md)::

    course-rnn grade 02_rnn_forward submitted --out grading/02 --scheduler tcp://10.0.0.5:8786
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

from course_rnn.grading.course import find_course_root
from course_rnn.grading.executor import Limits
from course_rnn.grading.late import parse_due, parse_penalty
from course_rnn.grading.markup import one_line
from course_rnn.grading.pipeline import GradeRun, run_grading

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``grade`` subcommand's arguments to ``parser``."""
    parser.add_argument("assignment", help="assignment name, e.g. 02_rnn_forward")
    parser.add_argument(
        "submissions",
        type=Path,
        help="folder of <student_id>/<notebook>.ipynb (or Blackboard files), or a zip of one",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="students graded in parallel (default: CPU count, %(default)s here)",
    )
    parser.add_argument(
        "--scheduler",
        default=os.environ.get("COURSE_RNN_SCHEDULER") or None,
        metavar="ADDRESS",
        help="grade on the workers of the Dask scheduler at ADDRESS, e.g. "
        "tcp://10.0.0.5:8786 (default: $COURSE_RNN_SCHEDULER; empty or unset: --workers "
        "threads here); every worker must sandbox with bubblewrap",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help=f"seconds per notebook (default {Limits().notebook_timeout_s:g}); also caps each cell",
    )
    parser.add_argument(
        "--db",
        default=None,
        help="gradebook URL (default sqlite:///<course root>/gradebook.db), "
        "e.g. postgresql://user@host/gradebook",
    )
    parser.add_argument(
        "--course-root",
        type=Path,
        default=None,
        help="course folder with nbgrader_config.py and the source notebooks "
        "(default: nearest one at or above the current folder)",
    )
    parser.add_argument("--due", default=None, help="due date, ISO 8601, e.g. 2026-03-01T23:59")
    parser.add_argument(
        "--timezone",
        default="UTC",
        help="IANA zone for --due, LMS file-name times and timestamp.txt times without a "
        "zone (default UTC)",
    )
    parser.add_argument(
        "--late-penalty",
        default="none",
        help="none | zero | P%%/UNIT[,max=Q%%][,grace=Mm], UNIT minute|hour|day|week "
        "(default none)",
    )
    parser.add_argument(
        "--force", action="store_true", help="regrade everyone, even unchanged submissions"
    )
    parser.add_argument(
        "--format",
        dest="formats",
        action="append",
        choices=["nbgrader", "canvas", "moodle"],
        default=None,
        help="grade files to write besides nbgrader's grades.csv (always written): canvas "
        "and/or moodle gradebook import CSV; repeat for several. Needs --roster",
    )
    parser.add_argument(
        "--roster",
        type=Path,
        default=None,
        help="the LMS's roster CSV (Canvas: gradebook export with Student, ID, SIS User ID, "
        "SIS Login ID, Section; Moodle: grades export with Username, ID number or Email "
        "address) to map student ids",
    )
    parser.add_argument(
        "--roster-key",
        default=None,
        help="roster column holding the student ids (default: the one that matches most); "
        "checked, like the roster, before grading starts",
    )
    parser.add_argument(
        "--lms-column",
        default=None,
        help="the assignment's column in the LMS file (default: the assignment name; "
        "Canvas creates a new assignment for a name it does not know)",
    )
    parser.add_argument(
        "--secret-file",
        type=Path,
        default=None,
        help="the course secret that seeds each student's hidden inputs (default: "
        "$COURSE_RNN_SECRET, else <course root>/.course_rnn_secret, created when missing); "
        "keep it private, never in exercises/ or git",
    )
    parser.add_argument(
        "--student",
        default=None,
        help="regrade this student alone (same hidden inputs, same score); the others keep "
        "the results of an earlier run into the same --out",
    )
    parser.add_argument(
        "--similarity-threshold",
        type=float,
        default=None,
        help="list answer pairs sharing at least this fraction of distinctive code "
        "(default 0.5) in the report's similarity section",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``course-rnn grade``; returns the exit code (0 done, 2 bad input, 130 stopped)."""
    try:
        if args.workers < 1:
            raise ValueError(f"--workers must be at least 1, got {args.workers}")
        limits = Limits()
        if args.timeout is not None:
            if args.timeout <= 0:
                raise ValueError(f"--timeout must be positive seconds, got {args.timeout}")
            limits = replace(
                limits,
                notebook_timeout_s=args.timeout,
                cell_timeout_s=min(limits.cell_timeout_s, args.timeout),
            )
        threshold = args.similarity_threshold
        if threshold is not None and not 0 < threshold <= 1:
            raise ValueError(f"--similarity-threshold must be in (0, 1], got {threshold}")
        formats = tuple(dict.fromkeys(f for f in (args.formats or []) if f != "nbgrader"))
        due = parse_due(args.due, args.timezone) if args.due else None
        policy = parse_penalty(args.late_penalty)
        root = (args.course_root or find_course_root()).resolve()
        if not root.is_dir():
            raise ValueError(f"course root {root} is not a folder")
        grade_run = GradeRun(
            assignment=args.assignment,
            submissions=args.submissions.resolve(),
            out=args.out.resolve(),
            course_root=root,
            db_url=args.db,
            workers=args.workers,
            limits=limits,
            due=due,
            late_policy=policy,
            lms_timezone=args.timezone,
            force=args.force,
            lms_formats=formats,
            roster=args.roster.resolve() if args.roster else None,
            roster_key=args.roster_key,
            lms_column=args.lms_column,
            similarity_threshold=threshold,
            secret_file=args.secret_file.resolve() if args.secret_file else None,
            only_student=args.student,
            scheduler=(args.scheduler or "").strip() or None,
        )
        summary = run_grading(grade_run)
        if not summary.interrupted:
            from course_rnn.grading.report import attention_lines

            for line in attention_lines(summary):
                print(line)
    except (ValueError, FileNotFoundError) as exc:
        # One line whatever the message holds (a path or a roster cell with a line break).
        print(f"course-rnn grade: {one_line(exc, 2000)}", file=sys.stderr)
        return 2
    return 130 if summary.interrupted else 0
