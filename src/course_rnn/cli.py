"""The ``course-rnn`` command line: release, check and grade exercises.

Each subcommand lives in its own module, which provides ``add_arguments(parser)`` and
``run(args) -> int``. This file only wires them together. A subcommand's module is
imported only when that subcommand runs, so a student's install, which has no nbgrader,
runs ``course-rnn check``; ``release`` and ``grade`` then say which extra to install.
"""

from __future__ import annotations

import argparse
import importlib
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    try:
        parser = build_parser(command)
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        return int(args.handler(args) or 0)
    except ModuleNotFoundError as exc:  # on importing the subcommand, or a lazy import in it
        extra = SUBCOMMANDS[command].extra if command else None
        if extra is None or not exc.name or exc.name.split(".")[0] == "course_rnn":
            raise  # a student command, or a module of our own: a bug, not a missing extra
        print(
            f"course-rnn {command} needs the {extra} tools ({exc.name} is not installed): "
            f"pip install 'course-rnn[{extra}]'",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
