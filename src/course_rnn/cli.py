"""The ``course-rnn`` command line: release, check and grade exercises.

Each subcommand lives in its own module, which provides ``add_arguments(parser)`` and
``run(args) -> int``. This file only wires them together. A subcommand's module is
imported only when that subcommand runs, so the student install (``pip install
course-rnn``, without nbgrader) runs ``course-rnn check``, and ``release`` and ``grade``
say in one line which extra to install.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import re
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Subcommand:
    module: str  # provides add_arguments(parser) and run(args) -> int
    help: str
    extra: str | None = None  # the pip extra its third-party imports come from


SUBCOMMANDS = {
    "release": Subcommand(
        "course_rnn.release", "regenerate exercises/ from solutions/ with nbgrader", "instructor"
    ),
    "check": Subcommand("course_rnn.check", "run a notebook and report which visible tests pass"),
    "grade": Subcommand(
        "course_rnn.grading.cli", "grade a folder (or zip) of student submissions", "instructor"
    ),
    "formgrader": Subcommand(
        "course_rnn.grading.formgrader",
        "open nbgrader's formgrader on a graded run (127.0.0.1)",
        "instructor",
    ),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand; only ``command``'s module is imported, for its arguments."""
    parser = argparse.ArgumentParser(
        prog="course-rnn", description="Release, check and grade the course-rnn exercises."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, sub in SUBCOMMANDS.items():
        subparser = subparsers.add_parser(name, help=sub.help, description=sub.help)
        if name == command:
            module = importlib.import_module(sub.module)
            module.add_arguments(subparser)
            subparser.set_defaults(handler=module.run)
    return parser


def not_installed(extra: str) -> list[str]:
    """The packages of course-rnn's ``extra`` that are not installed, by their pip names.

    Read from the installed package's metadata; empty when there is none (running from a
    source tree), and then a failing import tells instead.
    """
    try:
        requirements = importlib.metadata.requires("course-rnn") or []
    except importlib.metadata.PackageNotFoundError:
        return []
    missing = []
    for requirement in requirements:  # e.g. 'nbgrader==0.9.6; extra == "instructor"'
        match = re.match(r"([A-Za-z0-9._-]+).*;\s*extra\s*==\s*['\"]([^'\"]+)['\"]", requirement)
        if match and match[2] == extra:
            try:
                importlib.metadata.version(match[1])
            except importlib.metadata.PackageNotFoundError:
                missing.append(match[1])
    return missing


def _needs_extra(command: str, extra: str, missing: list[str]) -> int:
    names = " and ".join([", ".join(missing[:-1]), missing[-1]] if missing[:-1] else missing)
    verb = "is" if len(missing) == 1 else "are"
    print(
        f"course-rnn {command} needs the {extra} tools ({names} {verb} not installed): "
        f"pip install 'course-rnn[{extra}]'",
        file=sys.stderr,
    )
    return 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    extra = SUBCOMMANDS[command].extra if command else None
    if extra and (missing := not_installed(extra)):
        return _needs_extra(command, extra, missing)
    try:
        parser = build_parser(command)
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        return int(args.handler(args) or 0)
    except ModuleNotFoundError as exc:  # on importing the subcommand, or a lazy import in it
        if extra is None or not exc.name or exc.name.split(".")[0] == "course_rnn":
            raise  # a student command, or a module of our own: a bug, not a missing extra
        return _needs_extra(command, extra, [exc.name.split(".")[0]])


if __name__ == "__main__":
    sys.exit(main())
