"""``course-rnn formgrader``: nbgrader's formgrader on a graded run, one command away.

Example::

    course-rnn formgrader --out grading/02

starts a Jupyter server in the course root, bound to 127.0.0.1, whose formgrader reads
the gradebook ``course-rnn grade`` wrote and the executed notebooks in
``grading/02/autograded``, and prints the address to open
(``http://127.0.0.1:8888/formgrader/?token=...``). The tracked ``nbgrader_config.py``
is never edited: the run's folders are given in an ``nbgrader_config.py`` of a private
Jupyter configuration folder made for this server (``JUPYTER_CONFIG_DIR``), which
nbgrader reads before the course's own file. A course ``nbgrader_config.py`` that sets
``CourseDirectory.autograded_directory`` itself wins; the command says so.

Jupyter refuses to run as root unless told; when ``course-rnn grade`` ran as root (for
the sandbox's cgroups and zygote), the gradebook and ``OUT/autograded`` belong to root
and the formgrader must write manual scores into that gradebook, so as root the command
adds ``--allow-root`` and says why. The server listens on 127.0.0.1 only: the token in
the address is the only key, so never bind it to a public address.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

from course_rnn.grading.course import find_course_root
from course_rnn.grading.markup import one_line

__all__ = ["add_arguments", "formgrader_command", "run"]

HOST = "127.0.0.1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``formgrader`` subcommand's arguments to ``parser``."""
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="the --out folder of the course-rnn grade run to grade by hand",
    )
    parser.add_argument("--port", type=int, default=8888, help="port (default %(default)s)")
    parser.add_argument(
        "--db",
        default=None,
        help="the gradebook URL given to course-rnn grade --db (default: nbgrader's, "
        "sqlite:///<course root>/gradebook.db)",
    )
    parser.add_argument(
        "--course-root",
        type=Path,
        default=None,
        help="course folder with nbgrader_config.py (default: nearest one at or above the "
        "current folder)",
    )


def formgrader_command(
    course_root: Path, out: Path, config_dir: Path, port: int, token: str, db: str | None = None
) -> tuple[list[str], dict[str, str], str]:
    """The Jupyter server command, its environment and the formgrader's address.

    Writes ``config_dir/nbgrader_config.py`` pointing nbgrader at ``out/autograded``
    (and ``db`` when given); the environment makes ``config_dir`` Jupyter's
    configuration folder.
    """
    lines = [
        "# written by course-rnn formgrader for one server; the course's own",
        "# nbgrader_config.py (sanitising included) is read after it",
        "c = get_config()  # noqa: F821",
        f"c.CourseDirectory.autograded_directory = {str(out / 'autograded')!r}",
    ]
    if db:
        lines.append(f"c.CourseDirectory.db_url = {db!r}")
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "nbgrader_config.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
    argv = [
        sys.executable,
        "-m",
        "jupyter_server",
        "--no-browser",
        f"--ServerApp.ip={HOST}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={course_root}",
        f"--IdentityProvider.token={token}",
    ]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_CONFIG_DIR"}
    env["JUPYTER_CONFIG_DIR"] = str(config_dir)
    return argv, env, f"http://{HOST}:{port}/formgrader/?token={token}"


def _course_sets_autograded(course_root: Path) -> bool:
    try:
        text = (course_root / "nbgrader_config.py").read_text(encoding="utf-8")
    except OSError:
        return False
    return any(
        "autograded_directory" in line and not line.lstrip().startswith("#")
        for line in text.splitlines()
    )


def run(args: argparse.Namespace) -> int:
    """Run the formgrader until Ctrl-C; 0 stopped, 2 bad input, else the server's code."""
    root = (args.course_root or find_course_root()).resolve()
    out = args.out.resolve()
    if not (out / "autograded").is_dir():
        print(
            f"course-rnn formgrader: {one_line(out / 'autograded')} not found: pass the "
            "--out folder of a course-rnn grade run",
            file=sys.stderr,
        )
        return 2
    if _course_sets_autograded(root):
        print(
            f"note: {root / 'nbgrader_config.py'} sets autograded_directory; it wins over "
            f"{out / 'autograded'} (remove that line to use this command's)"
        )
    with tempfile.TemporaryDirectory(prefix="course-rnn-formgrader-") as tmp:
        token = secrets.token_hex(16)
        argv, env, url = formgrader_command(root, out, Path(tmp), args.port, token, args.db)
        if os.geteuid() == 0:
            print(
                "running as root (--allow-root): the gradebook and autograded notebooks of "
                "a run graded as root belong to root, and the formgrader writes manual "
                "scores into that gradebook"
            )
        print(f"formgrader for {out.name}: open {url}\n(Ctrl-C stops the server)", flush=True)
        try:
            return subprocess.call(argv, cwd=root, env=env)
        except KeyboardInterrupt:
            return 0
