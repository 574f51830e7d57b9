"""The warm trusted runner: reused across students, and nothing carries from one to the next.

One :class:`~course_rnn.grading.executor.TrustedRunner` grades student after student
(that is where the speed comes from), so these tests grade a hostile student and then a
correct one with the same runner, and compare the second with the same notebook graded
by a runner of its own.
"""

from __future__ import annotations

import fcntl
import os
import signal
import tempfile
from pathlib import Path

import nbformat
import pytest
from test_grading_security import tiny  # the hostile fixture, loaded once

from course_rnn.grading.executor import Limits, TrustedRunner, grade_notebook
from course_rnn.grading.results import GradeTask
from course_rnn.grading.worker import grade_student

pytestmark = pytest.mark.grading

LIMITS = Limits(notebook_timeout_s=60, cell_timeout_s=20)

# A student who tries to leave something behind for the next one: files in the home
# folder and /tmp, a background process and a thread that keep running, patched
# modules, environment variables and globals.
LITTERING = {
    **tiny.ANSWERS,
    "add_answer": (
        "import os, subprocess, threading, time, numpy, builtins\n"
        "open(os.path.expanduser('~/left.txt'), 'w').write('x')\n"
        "open('/tmp/left.txt', 'w').write('x')\n"
        "subprocess.Popen(['sh', '-c', 'while true; do echo x >> /tmp/loop.txt; sleep 0.1; "
        "done'], start_new_session=True)\n"
        "threading.Thread(target=lambda: time.sleep(3600), daemon=True).start()\n"
        "numpy.sqrt = lambda x: 0.0\n"
        "builtins.LEFT_BEHIND = True\n"
        "os.environ['LEFT_BEHIND'] = '1'\n"
        "def add(a, b):\n    return a + b\n"
    ),
}

# What the next student checks for (each line fails its test if something carried over).
PROBING = {
    **tiny.ANSWERS,
    "norm_answer": (
        "import os, builtins\n"
        "import numpy as np\n"
        "assert not os.path.exists(os.path.expanduser('~/left.txt')), 'home not emptied'\n"
        "assert not os.path.exists('/tmp/left.txt'), '/tmp not emptied'\n"
        "assert not os.path.exists('/tmp/loop.txt'), 'a process of the last student ran on'\n"
        "assert not hasattr(builtins, 'LEFT_BEHIND'), 'globals carried over'\n"
        "assert 'LEFT_BEHIND' not in os.environ, 'the environment carried over'\n"
        "def norm(x):\n    return float(np.sqrt((np.asarray(x) ** 2).sum()))\n"
    ),
}


def _write(folder: Path, name: str, answers: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.ipynb"
    nbformat.write(tiny.build_student(answers), str(path))
    return path


def _verdicts(result) -> list[tuple[str, bool, str]]:
    return [(t.grade_id, t.passed, t.message) for t in result.tests]


def test_one_runner_grades_students_in_turn_and_nothing_carries_over(tmp_path):
    source = tiny.write_source(tmp_path / "source")
    littering = _write(tmp_path / "a", "tiny", LITTERING)
    probing = _write(tmp_path / "b", "tiny", PROBING)
    with TrustedRunner(LIMITS) as runner:
        first = grade_notebook(source, littering, tmp_path / "work-a", LIMITS, runner=runner)
        pid = runner.proc.pid
        second = grade_notebook(source, probing, tmp_path / "work-b", LIMITS, runner=runner)
        assert runner.proc.pid == pid and runner.jobs == 2, "the runner was not reused"
    # The patched numpy.sqrt took effect in the littering student's own kernel...
    assert [t.grade_id for t in first.tests if not t.passed] == ["test_norm"], _verdicts(first)
    alone = grade_notebook(source, probing, tmp_path / "work-c", LIMITS)
    # ... and in none after it.
    assert sum(t.points for t in second.tests) == tiny.MAX_SCORE, _verdicts(second)
    assert _verdicts(second) == _verdicts(alone)


def test_a_runner_killed_between_students_is_replaced(tmp_path):
    source = tiny.write_source(tmp_path / "source")
    student = _write(tmp_path / "s", "tiny", tiny.ANSWERS)
    with TrustedRunner(LIMITS) as runner:
        grade_notebook(source, student, tmp_path / "w1", LIMITS, runner=runner)
        old = runner.proc.pid
        os.killpg(old, signal.SIGKILL)
        runner.proc.wait(timeout=10)
        again = grade_notebook(source, student, tmp_path / "w2", LIMITS, runner=runner)
        assert runner.proc.pid != old
    assert sum(t.points for t in again.tests) == tiny.MAX_SCORE, _verdicts(again)


def test_a_student_past_the_time_limit_costs_their_notebook_and_keeps_the_runner(tmp_path):
    source = tiny.write_source(tmp_path / "source")
    stuck = {**tiny.ANSWERS, "add_answer": "import time\nwhile True:\n    time.sleep(0.1)\n"}
    slow = _write(tmp_path / "slow", "tiny", stuck)
    fine = _write(tmp_path / "fine", "tiny", tiny.ANSWERS)
    limits = Limits(notebook_timeout_s=10, cell_timeout_s=60)
    with TrustedRunner(limits) as runner:
        late = grade_notebook(source, slow, tmp_path / "w1", limits, runner=runner)
        pid = runner.proc.pid
        ok = grade_notebook(source, fine, tmp_path / "w2", limits, runner=runner)
        assert runner.proc.pid == pid
    assert sum(t.points for t in late.tests) == 0
    assert all("time limit" in t.message for t in late.tests), _verdicts(late)
    assert sum(t.points for t in ok.tests) == tiny.MAX_SCORE, _verdicts(ok)


def test_a_runner_that_hangs_is_killed_and_the_next_notebook_gets_a_new_one(tmp_path):
    source = tiny.write_source(tmp_path / "source")
    student = _write(tmp_path / "s", "tiny", tiny.ANSWERS)
    limits = Limits(notebook_timeout_s=20, cell_timeout_s=20)
    with TrustedRunner(limits) as runner:
        grade_notebook(source, student, tmp_path / "w0", limits, runner=runner)  # started
        runner.grace_s = 1.0
        frozen = runner.proc.pid
        os.kill(frozen, signal.SIGSTOP)  # a runner stuck where its own alarms cannot help
        hung = grade_notebook(source, student, tmp_path / "w1", limits, runner=runner)
        assert runner.proc is None, "the hung runner must be stopped"
        runner.grace_s = 60.0
        ok = grade_notebook(source, student, tmp_path / "w2", limits, runner=runner)
        assert runner.proc.pid != frozen
    assert any("time limit" in p for p in hung.problems), hung.problems
    assert sum(t.points for t in hung.tests) == 0
    assert sum(t.points for t in ok.tests) == tiny.MAX_SCORE, _verdicts(ok)


def test_runners_never_share_a_sandbox_uid_and_release_it_when_closed():
    first, second = TrustedRunner(LIMITS), TrustedRunner(LIMITS)
    try:
        assert first.uid != second.uid
        uid = first.uid
        first.close()
        lock = Path(tempfile.gettempdir()) / "course-rnn-uids" / str(uid)

        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again once closed
        finally:
            os.close(fd)
    finally:
        first.close()
        second.close()


def test_grade_student_takes_the_submission_as_bytes_and_returns_the_executed_notebook(
    tmp_path,
):
    source = tiny.write_source(tmp_path / "source")
    student = _write(tmp_path / "s", "tiny", tiny.ANSWERS)
    task = GradeTask(
        "s1",
        "tiny",
        {"tiny": source.read_text(encoding="utf-8")},
        {"tiny": student.read_bytes()},
        LIMITS,
    )
    outcome = grade_student(task)
    notebook = outcome.notebooks["tiny"]
    assert notebook.score == tiny.MAX_SCORE, notebook.problems
    executed = nbformat.reads(notebook.executed, as_version=4)
    nbformat.validate(executed)
    assert all(c.execution_count for c in executed.cells if c.cell_type == "code")
    missing = grade_student(GradeTask("s2", "tiny", task.sources, {}, LIMITS))
    assert missing.notebooks["tiny"].problems == ["tiny.ipynb was not submitted"]
    assert not missing.notebooks["tiny"].submitted
