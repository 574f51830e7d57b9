"""The course-rnn command line wires its subcommands together."""

import subprocess
import sys

from course_rnn.cli import SUBCOMMANDS, build_parser, main


def test_help_lists_every_subcommand():
    help_text = build_parser().format_help()
    for name in SUBCOMMANDS:
        assert name in help_text


def test_no_subcommand_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out


def test_console_script_is_installed():
    result = subprocess.run(
        [sys.executable, "-m", "course_rnn", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert "release" in result.stdout
