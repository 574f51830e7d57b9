"""The course-rnn command line: its subcommands, the installed script, the missing extras."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from course_rnn import cli
from course_rnn.cli import main

# The installed console script, beside the Python running the tests (.venv/bin/course-rnn).
SCRIPT = Path(sys.executable).with_name("course-rnn")


def run_script(*args: str) -> subprocess.CompletedProcess:
    assert SCRIPT.is_file(), f"{SCRIPT} is missing: install the package (pip install -e .)"
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def test_installed_script_lists_the_three_subcommands_with_their_purpose():
    result = run_script("--help")
    assert result.returncode == 0, result.stderr
    listed = dict(re.findall(r"^ {4}(\w+) +(.+)$", result.stdout, flags=re.MULTILINE))
    assert set(listed) == {"release", "check", "grade"}
    assert "visible tests" in listed["check"]
    assert "submissions" in listed["grade"]
    assert "exercises/" in listed["release"]


@pytest.mark.parametrize(
    "command, argument",
    [("check", "NOTEBOOK"), ("grade", "--out"), ("release", "ASSIGNMENT")],
)
def test_each_subcommand_shows_its_own_arguments(command, argument, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: course-rnn {command} ")
    assert argument in out


def test_no_subcommand_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out


def test_help_imports_no_subcommand(monkeypatch):
    imported = []
    monkeypatch.setattr(cli.importlib, "import_module", lambda name: imported.append(name))
    cli.build_parser().format_help()
    assert imported == []


def test_an_instructor_command_without_the_extra_says_which_extra_to_install(monkeypatch, capsys):
    real_version = cli.importlib.metadata.version

    def version(name):
        if name in ("nbgrader", "jupytext"):
            raise cli.importlib.metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(cli.importlib.metadata, "version", version)
    assert main(["grade", "--help"]) == 1
    assert capsys.readouterr().err == (
        "course-rnn grade needs the instructor tools (nbgrader and jupytext are not installed): "
        "pip install 'course-rnn[instructor]'\n"
    )
    assert main(["release"]) == 1
    assert "pip install 'course-rnn[instructor]'" in capsys.readouterr().err


def _instructor_subcommand(tmp_path, monkeypatch, module: str, source: str) -> None:
    """Make `course-rnn fake` a subcommand of the instructor extra, run by ``module``."""
    (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    fake = cli.Subcommand(module, "a fake instructor command", "instructor")
    monkeypatch.setitem(cli.SUBCOMMANDS, "fake", fake)


def test_a_missing_package_of_an_extra_names_the_extra_to_install(tmp_path, monkeypatch, capsys):
    _instructor_subcommand(tmp_path, monkeypatch, "fake_cmd_a", "import no_such_package_xyz\n")
    assert main(["fake", "--help"]) == 1
    assert capsys.readouterr().err.strip() == (
        "course-rnn fake needs the instructor tools (no_such_package_xyz is not installed): "
        "pip install 'course-rnn[instructor]'"
    )


def test_a_missing_package_imported_while_running_also_names_the_extra(
    tmp_path, monkeypatch, capsys
):
    source = "def add_arguments(parser):\n    pass\n\ndef run(args):\n    import no_such_xyz\n"
    _instructor_subcommand(tmp_path, monkeypatch, "fake_cmd_b", source)
    assert main(["fake"]) == 1
    assert "(no_such_xyz is not installed): pip install 'course-rnn[instructor]'" in (
        capsys.readouterr().err
    )


def test_a_missing_module_of_a_student_command_is_a_bug_not_an_extra(monkeypatch):
    monkeypatch.setitem(cli.SUBCOMMANDS, "check", cli.Subcommand("course_rnn.no_such_module", "x"))
    with pytest.raises(ModuleNotFoundError):
        main(["check", "--help"])
