"""The ``course-rnn`` command line: release, check and grade exercises.

Each subcommand lives in its own module, which provides ``add_arguments(parser)`` and
``run(args) -> int``. This file only wires them together.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> (module, one-line help)
SUBCOMMANDS = {
    "release": ("course_rnn.release", "regenerate exercises/ from solutions/ with nbgrader"),
    "check": ("course_rnn.check", "run a notebook and report which visible tests pass"),
    "grade": ("course_rnn.grading.cli", "grade a folder (or zip) of student submissions"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="course-rnn", description="Release, check and grade the course-rnn exercises."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # Only a missing subcommand module means "not yet available"; a missing
            # dependency inside it is a real error.
            if exc.name is None or not module_name.startswith(exc.name):
                raise
            sub.set_defaults(handler=None)
            continue
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.handler is None:
        print(f"course-rnn {args.command}: not yet available in this version.", file=sys.stderr)
        return 2
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
