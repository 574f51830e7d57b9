"""``course-rnn grade --scheduler``: grading on a Dask cluster, on loopback only.

The module starts a ``dask scheduler`` and two ``dask worker --nthreads 1`` processes
(and stops them), grades the tiny class of tests/test_grading_pipeline.py on them and
compares with the local pool. Other tests add a worker to SIGKILL mid-batch and one
without bubblewrap on its PATH.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("distributed")
import psutil  # noqa: E402
from distributed import Client  # noqa: E402
from distributed.scheduler import KilledWorker  # noqa: E402
from test_grading_pipeline import TINY_SOURCE, grade, tiny_class  # noqa: E402

from course_rnn.grading import cluster  # noqa: E402
from course_rnn.grading.cluster import DaskBackend  # noqa: E402
from course_rnn.grading.results import GradeTask, StudentOutcome  # noqa: E402
from course_rnn.grading.sandbox import bwrap_path  # noqa: E402
from course_rnn.grading.worker import SandboxUnavailable  # noqa: E402

pytestmark = [
    pytest.mark.grading,
    pytest.mark.skipif(bwrap_path() is None, reason="needs bubblewrap: workers must sandbox"),
]

DASK = Path(sys.executable).parent / "dask"
STUDENTS = {"correct", "blank", "wrong_add", "hardcoded", "malformed"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(args: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    """A ``dask`` command in its own process group (so a kill takes all of it)."""
    return subprocess.Popen(
        [str(DASK), *args],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


def _worker(address: str, name: str, folder: Path, env: dict | None = None):
    args = ["worker", address, "--name", name, "--nthreads", "1", "--no-nanny"]
    args += ["--no-dashboard", "--host", "127.0.0.1", "--local-directory", str(folder / name)]
    return _start(args, folder / f"{name}.log", env)


def _address_of(client: Client, name: str, timeout: float = 90) -> str:
    """The address of the worker called ``name``, once it has joined."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for address, info in client.scheduler_info(n_workers=-1)["workers"].items():
            if info.get("name") == name:
                return address
        time.sleep(0.2)
    raise AssertionError(f"worker {name} did not join within {timeout} s")


def _gone(client: Client, address: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while address in client.scheduler_info(n_workers=-1)["workers"]:
        assert time.monotonic() < deadline, f"{address} still registered"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def cluster_and_reference(tmp_path_factory):
    """(scheduler address, inspecting client, folder, subs, the local pool's output).

    The cluster starts while the local pool grades the tiny class (the reference)."""
    base = tmp_path_factory.mktemp("cluster")
    address = f"tcp://127.0.0.1:{_free_port()}"
    port = address.rsplit(":", 1)[1]
    procs = [
        _start(
            ["scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"],
            base / "scheduler.log",
        )
    ]
    procs += [_worker(address, f"w{i}", base) for i in (1, 2)]
    try:
        subs = tiny_class(base / "subs")
        local = base / "local"
        with contextlib.redirect_stdout(io.StringIO()):
            assert grade("tiny", subs, local, "--workers", "2") == 0
        client = Client(address, timeout=60, set_as_default=False)
        for name in ("w1", "w2"):
            _address_of(client, name)
        yield address, client, base, subs, local
        client.close()
    finally:
        for proc in procs[::-1]:
            _stop(proc, signal.SIGKILL)  # the workers' runners die with them


def _grade_on(address: str, subs: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = grade("tiny", subs, out, "--scheduler", address, *extra)
    return code, stdout.getvalue(), stderr.getvalue()


def _runners(client: Client, workers: list[str]) -> dict[str, tuple[int, int]]:
    """Per worker: (warm runners started, jobs their current processes ran)."""

    def count():
        from course_rnn.grading import worker

        return len(worker._runners), sum(r.jobs for r in worker._runners)

    return client.run(count, workers=workers)


def test_two_workers_grade_the_class_to_the_local_pools_grades_csv(cluster_and_reference):
    address, client, base, subs, local = cluster_and_reference
    out = base / "dask"
    code, printed, errors = _grade_on(address, subs, out)
    assert code == 0, errors
    assert f"with the Dask cluster at {address}" in printed
    assert (out / "grades.csv").read_text() == (local / "grades.csv").read_text()
    assert (out / "seeds.csv").read_text() == (local / "seeds.csv").read_text()
    # The executed notebooks came back with the results: the coordinator wrote them.
    for student in STUDENTS:
        assert (out / "autograded" / student / "tiny" / "tiny.ipynb").is_file()
    # Both workers graded, each with one warm runner kept across its students.
    workers = [_address_of(client, "w1"), _address_of(client, "w2")]
    runners = _runners(client, workers)
    assert all(n == 1 and jobs >= 1 for n, jobs in runners.values()), runners
    assert sum(jobs for _, jobs in runners.values()) == len(STUDENTS)


def test_a_worker_killed_mid_batch_loses_no_student(cluster_and_reference):
    address, client, base, subs, local = cluster_and_reference
    victim = _worker(address, "victim", base)
    try:
        victim_address = _address_of(client, "victim")
        out = base / "killed"
        killed: dict = {}
        stop = threading.Event()

        def kill_once_it_grades() -> None:
            # The victim is grading once its trusted runner exists: SIGKILL it then.
            while not stop.is_set():
                with contextlib.suppress(psutil.Error):
                    runners = [
                        p
                        for p in psutil.Process(victim.pid).children(recursive=True)
                        if "course_rnn.grading.runner" in " ".join(p.cmdline())
                    ]
                    if runners:
                        killed["tasks"] = client.processing([victim_address])[victim_address]
                        killed["runners"] = runners
                        os.killpg(victim.pid, signal.SIGKILL)
                        return
                time.sleep(0.05)

        watcher = threading.Thread(target=kill_once_it_grades, daemon=True)
        watcher.start()
        try:
            code, printed, errors = _grade_on(address, subs, out)
        finally:
            stop.set()
            watcher.join()
        assert killed.get("tasks"), "the victim worker was never killed while grading"
        assert code == 0, errors
        # Complete and identical, each student once; the victim's students regraded.
        assert (out / "grades.csv").read_text() == (local / "grades.csv").read_text()
        progress = [line for line in printed.splitlines() if line.startswith("[")]
        assert sorted(line.split()[1] for line in progress) == sorted(STUDENTS)
        _gone(client, victim_address)
        # The victim's runner died with it (no orphan grading on).
        time.sleep(0.5)
        for runner in killed["runners"]:
            assert not runner.is_running() or runner.status() == psutil.STATUS_ZOMBIE
    finally:
        _stop(victim, signal.SIGKILL)


def test_unreachable_scheduler_is_one_clear_error_before_anything_is_written(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1.0)
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    monkeypatch.setenv("COURSE_RNN_SCHEDULER", address)  # the variable, not the option
    subs = tiny_class(tmp_path / "subs")
    out = tmp_path / "out"
    started = time.monotonic()
    assert grade("tiny", subs, out) == 2
    assert time.monotonic() - started < 30
    error = capsys.readouterr().err
    assert f"cannot reach the Dask scheduler at {address}" in error
    assert error.count("\n") == 1  # one line, no traceback
    assert not out.exists() and not Path(f"{out}.gradebook.db").exists()


def test_a_worker_without_bubblewrap_refuses_and_nothing_is_graded(cluster_and_reference, tmp_path):
    address, client, base, subs, _ = cluster_and_reference
    # A PATH with python and dask but without bwrap: bubblewrap is unusable there.
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    unsafe = _worker(address, "nobwrap", base, env)
    try:
        unsafe_address = _address_of(client, "nobwrap")
        out = tmp_path / "out"
        code, printed, errors = _grade_on(address, subs, out)
        assert code == 2
        assert f"{unsafe_address} cannot sandbox student code" in errors
        assert "bubblewrap" in errors
        others = [_address_of(client, "w1"), _address_of(client, "w2")]
        assert not any(worker in errors for worker in others), errors  # they can sandbox
        assert not out.exists()  # refused before any grading or writing
        # A task that reaches it anyway (a worker joining after the check) is refused
        # there, before any runner starts, and the run stops with the same reason.
        task = GradeTask("late", "tiny", {"tiny": TINY_SOURCE.read_text()}, {})
        task.require_sandbox = True
        future = client.submit(cluster._grade_on_worker, task, workers=[unsafe_address])
        with pytest.raises(SandboxUnavailable) as refused:
            future.result(timeout=60)
        assert f"Dask worker {unsafe_address}: bubblewrap cannot sandbox" in str(refused.value)
        assert _runners(client, [unsafe_address])[unsafe_address] == (0, 0)
    finally:
        _stop(unsafe, signal.SIGKILL)
    _gone(client, unsafe_address)


def test_ctrl_c_cancels_and_returns_the_students_not_graded(cluster_and_reference):
    address, client, _, _, _ = cluster_and_reference
    tasks = [GradeTask(f"s{i}", "tiny", {"tiny": "{}"}, {}) for i in range(6)]
    seen: list[str] = []

    def on_result(outcome: StudentOutcome) -> None:
        seen.append(outcome.student_id)
        if len(seen) == 2:
            raise KeyboardInterrupt

    def slow(task):  # pickled by value: the workers need not import this module
        time.sleep(0.5)
        return StudentOutcome(task.student_id)

    left = DaskBackend(address, grade=slow).run(tasks, on_result)
    assert {t.student_id for t in left} == {t.student_id for t in tasks} - set(seen[:1])
    assert len(left) == 5  # the interrupted one's result was not recorded


def test_a_submission_that_keeps_killing_workers_fails_alone(cluster_and_reference):
    address, _, _, _, _ = cluster_and_reference
    tasks = [GradeTask(s, "tiny", {"tiny": "{}"}, {}) for s in ("a", "b", "c")]

    def grade_or_die(task):  # what the scheduler reports after allowed-failures deaths
        if task.student_id == "b":
            raise KilledWorker("key-b", SimpleNamespace(address="tcp://10.0.0.9:1234"), 3)
        return StudentOutcome(task.student_id)

    results: dict[str, StudentOutcome] = {}
    backend = DaskBackend(address, grade=grade_or_die)
    assert backend.run(tasks, lambda o: results.setdefault(o.student_id, o)) == []
    assert sorted(results) == ["a", "b", "c"]
    assert results["a"].problems == results["c"].problems == []
    (problem,) = results["b"].problems
    assert "each of the 4 Dask workers that tried this submission died" in problem
    assert "(the last: tcp://10.0.0.9:1234)" in problem
    assert "--student" in problem
