"""Each user installs what they need: the student install has no instructor or book tools.

`pip install course-rnn` is the student's install (pyproject.toml's dependencies); the
extras `instructor`, `book` and `test` add the rest. The slow test builds the package from
its files, installs it into a fresh virtual environment and runs `course-rnn check` there,
as a student would. pip finds its packages the way it is configured on the machine (on
the course's machines, a local torch wheel through find-links); requirements.txt is
passed as constraints, so the versions are the tested ones.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PACKAGE = ROOT / "src" / "course_rnn"
RELEASED = ROOT / "exercises" / "02_rnn_forward" / "02_rnn_forward.ipynb"
INSTRUCTOR_LINE = (  # one line, naming what is missing (nbgrader among it) and the extra
    r"course-rnn {command} needs the instructor tools \([^()\n]*nbgrader[^()\n]* not "
    r"installed\): pip install 'course-rnn\[instructor\]'"
)


def _project_name(requirement: str) -> str:
    """'psycopg[binary]>=3.2' -> 'psycopg'; 'jupyter-book>=1' -> 'jupyter_book'.

    For every package the extras add, this is also the name it is imported by.
    """
    return re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0].lower().replace("-", "_")


def _extras_only() -> set[str]:
    """Import names of what the extras add beyond the student install."""
    base = {_project_name(r) for r in PYPROJECT["project"]["dependencies"]}
    extras = PYPROJECT["project"]["optional-dependencies"].values()
    added = {_project_name(r) for reqs in extras for r in reqs} - base
    return added - {"course_rnn"}  # the test extra names the package's own extras


# ---------------------------------------------------------------------------------------
# Fast: the package's declaration
# ---------------------------------------------------------------------------------------


def test_the_student_install_leaves_out_the_instructor_book_and_test_tools():
    base = {_project_name(r) for r in PYPROJECT["project"]["dependencies"]}
    assert {"nbgrader", "jupyter_book", "pytest", "jupytext"}.isdisjoint(base)
    assert {"numpy", "torch", "matplotlib", "ipywidgets", "notebook", "nbclient"} <= base
    assert "torch==2.13.0" in PYPROJECT["project"]["dependencies"]
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert set(extras) == {"instructor", "book", "test"}
    assert any(_project_name(r) == "nbgrader" for r in extras["instructor"])
    assert any(_project_name(r) == "jupyter_book" for r in extras["book"])


def test_requirements_pins_every_declared_package_within_its_range():
    """requirements.txt, the tested environment, holds the student set and every extra."""
    pinned = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            pinned[_project_name(line)] = line.split("==")[1].strip()
    extras = PYPROJECT["project"]["optional-dependencies"].values()
    declared = [*PYPROJECT["project"]["dependencies"], *(r for reqs in extras for r in reqs)]
    for requirement in map(Requirement, declared):
        name = _project_name(requirement.name)
        if name == "course_rnn":
            continue
        assert name in pinned, f"{requirement} is not pinned in requirements.txt"
        version = Version(pinned[name])
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.txt pins {requirement.name}=={version}, outside {requirement}"
        )


def test_package_data_globs_match_the_data_files_and_nothing_is_left_out():
    globs = PYPROJECT["tool"]["setuptools"]["package-data"]["course_rnn"]
    data_files = {
        p.relative_to(PACKAGE)
        for p in PACKAGE.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    }
    for pattern in globs:
        assert any(f.match(pattern) for f in data_files), (
            f"package-data {pattern!r} matches no file"
        )
    unshipped = [str(f) for f in data_files if not any(f.match(g) for g in globs)]
    assert not unshipped, f"no package-data glob ships {unshipped}"


def test_student_modules_import_without_the_extras():
    """What a notebook or `course-rnn check` imports works with every extra's package hidden.

    That includes the grading harness check runs (``grade_notebook``, the trusted runner,
    the sandboxed kernel); ``grade`` itself names the extra it misses.
    """
    hidden = sorted(_extras_only())
    code = (
        "import sys\n"
        f"for name in {hidden!r}:\n"
        "    sys.modules[name] = None  # import fails as if not installed\n"
        "import course_rnn.check, course_rnn.cli, course_rnn.testing, course_rnn.gradcheck\n"
        "import course_rnn.scratch, course_rnn.data, course_rnn.models, course_rnn.train\n"
        "import course_rnn.analysis, course_rnn.plots, course_rnn.widgets, course_rnn.device\n"
        "# check runs the grader's harness: the executor, its runner and its kernel\n"
        "import course_rnn.grading.executor, course_rnn.grading.runner, course_rnn.grading.kernel\n"
        "from course_rnn.cli import main\n"
        "sys.exit(main(['grade', 'a', 'b', '--out', 'c']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert result.returncode == 1, result.stderr[-3000:]
    # Every extra's package is installed here but hidden, so the first failing import of
    # the grading code names the package (which one depends on the import order).
    match = re.fullmatch(
        r"course-rnn grade needs the instructor tools \(([\w.-]+) is not installed\): "
        r"pip install 'course-rnn\[instructor\]'",
        result.stderr.strip(),
    )
    assert match and match[1] in hidden, result.stderr


# ---------------------------------------------------------------------------------------
# Slow: a fresh virtual environment with the student install
# ---------------------------------------------------------------------------------------


def _run(cmd: list, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kwargs
    )


@pytest.fixture(scope="module")
def student_env(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A fresh venv with `pip install course-rnn` (built from this tree) and its env vars."""
    tmp = tmp_path_factory.mktemp("student")
    project = tmp / "project"  # only what the package is built from: the tree stays clean
    shutil.copytree(
        ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, project / name)
    venv = tmp / "venv"
    made = _run([sys.executable, "-m", "venv", venv], timeout=300)
    assert made.returncode == 0, made.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        JUPYTER_PREFER_ENV_PATH="1",  # the venv's own python3 kernel before any other
        MPLBACKEND="Agg",
    )
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--disable-pip-version-check"]
    installed = _run(
        [*pip, "--quiet", "-c", ROOT / "requirements.txt", project], timeout=1800, env=env
    )
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    return venv, env


@pytest.mark.slow
def test_student_install_has_the_package_and_jupyter_but_no_instructor_or_book_tools(
    student_env,
):
    venv, env = student_env
    code = (
        "import importlib.util as u\n"
        "names = ['course_rnn', 'torch', 'numpy', 'matplotlib', 'ipywidgets', 'notebook',\n"
        "         'nbgrader', 'jupyter_book', 'jupytext', 'pytest']\n"
        "print(' '.join(n for n in names if u.find_spec(n)))\n"
    )
    found = _run([venv / "bin" / "python", "-c", code], timeout=300, env=env)
    assert found.returncode == 0, found.stderr
    assert found.stdout.split() == [
        "course_rnn", "torch", "numpy", "matplotlib", "ipywidgets", "notebook",
    ]  # fmt: skip
    data = _run(
        [
            venv / "bin" / "python",
            "-c",
            "import course_rnn.data as d; print(len(d.load_digit_rows()[0]))",
        ],
        timeout=300,
        env=env,
    )
    assert data.returncode == 0 and int(data.stdout) > 0, data.stderr[-2000:]


@pytest.mark.slow
def test_course_rnn_check_runs_a_released_notebook_in_the_student_install(student_env, tmp_path):
    venv, env = student_env
    notebook = tmp_path / RELEASED.name  # the student's copy, as downloaded
    shutil.copy2(RELEASED, notebook)
    result = _run(
        [venv / "bin" / "course-rnn", "check", notebook], timeout=900, env=env, cwd=tmp_path
    )
    out = result.stdout
    assert result.returncode == 1, out[-3000:] + result.stderr[-3000:]  # unanswered: fails
    assert out.startswith(f"Checking {RELEASED.name}\n")
    nb = nbformat.read(RELEASED, as_version=4)
    graded = [
        c.metadata["nbgrader"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
    ]
    tests = [m for m in graded if not m.get("solution")]
    for meta in graded:
        assert f"[{meta['grade_id']}]" in out, meta["grade_id"]
    assert f"Visible tests: 0 of {len(tests)} passed" in out
    assert "not answered yet" in out
    # The notebook's own imports (course_rnn.testing, torch, ...) worked in this install.
    assert "Other cells that failed" not in out, out


@pytest.mark.slow
@pytest.mark.parametrize("command", ["grade", "release"])
def test_instructor_commands_in_the_student_install_name_the_extra(student_env, tmp_path, command):
    venv, env = student_env
    args = ["02_rnn_forward", tmp_path / "submissions", "--out", tmp_path / "out"]
    result = _run(
        [venv / "bin" / "course-rnn", command, *(args if command == "grade" else [])],
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert re.fullmatch(INSTRUCTOR_LINE.format(command=command), result.stderr.strip())
    assert not (tmp_path / "out").exists()
