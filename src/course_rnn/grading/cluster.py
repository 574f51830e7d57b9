"""Grade on a Dask cluster: ``course-rnn grade ... --scheduler tcp://HOST:PORT``.

:class:`DaskBackend` is the pipeline's backend for a cluster. Each student is one Dask
task: :func:`course_rnn.grading.worker.grade_student` on one
:class:`~course_rnn.grading.results.GradeTask`, whose bytes (the submission and the
source notebooks) travel with the task, so the workers need no shared file system. The
:class:`~course_rnn.grading.results.StudentOutcome` comes back with the executed
notebooks, and the coordinator alone writes the gradebook and every file, one student at
a time, as results arrive.

Faults:

- *A worker dies* (machine lost, process killed): the scheduler gives its unfinished
  students to another worker. A student whose grading kills workers again and again
  (Dask's ``KilledWorker``, after ``distributed.scheduler.allowed-failures`` deaths)
  gets a failed result for that student alone; the class goes on.
- *The scheduler cannot be reached*: :meth:`DaskBackend.check` raises one
  ``ValueError`` naming the address, before anything is graded or written.
- *A worker cannot sandbox* (no usable bubblewrap): :meth:`DaskBackend.check` refuses
  the cluster; a worker that joins later and cannot sandbox refuses each task it gets
  (:class:`~course_rnn.grading.worker.SandboxUnavailable`), and the run stops with the
  same clear error. Student code never runs unsandboxed.
- *Ctrl-C*: the students not graded yet are cancelled and returned; the pipeline's
  state files make the next run resume.

A worker is started with ``dask worker tcp://HOST:PORT --nthreads N`` in the course's
pinned environment (the same ``course_rnn`` as the coordinator's, bubblewrap installed):
each of its N threads keeps one warm trusted runner and grades one student at a time.
"""

from __future__ import annotations

import hashlib
import platform
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from course_rnn.grading.results import GradeTask, StudentOutcome
from course_rnn.grading.worker import SandboxUnavailable, grade_student

__all__ = ["CONNECT_TIMEOUT_S", "WORKER_WAIT_S", "DaskBackend", "worker_facts"]

CONNECT_TIMEOUT_S = 10.0  # seconds to reach the scheduler before giving up
WORKER_WAIT_S = 30.0  # seconds to wait for a first worker when the cluster has none
SCHEDULER_ENV = "COURSE_RNN_SCHEDULER"


def _package_fingerprint() -> str:
    """A hash of the ``course_rnn`` source: every worker must grade with the same code."""
    import course_rnn

    root = Path(course_rnn.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def worker_facts() -> dict[str, Any]:
    """What :meth:`DaskBackend.check` needs to know about the machine it runs on."""
    from importlib.metadata import PackageNotFoundError, version

    import course_rnn.grading.worker  # noqa: F401 - the task's module imports here (nbgrader...)
    from course_rnn.grading.sandbox import bwrap_path

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "missing"

    return {  # versions from the metadata: importing torch here would cost seconds
        "sandbox": bwrap_path() is not None,
        "course_rnn": _package_fingerprint(),
        "python": platform.python_version(),
        "numpy": installed("numpy"),
        "torch": installed("torch"),
    }


def _grade_on_worker(
    task: GradeTask, grade: Callable[[GradeTask], StudentOutcome] = grade_student
) -> StudentOutcome:
    """The Dask task: grade one student here; a refusal to run unsandboxed names us."""
    try:
        return grade(task)
    except SandboxUnavailable as exc:
        from distributed import get_worker

        try:
            where = get_worker().address
        except ValueError:  # not on a worker (a direct call)
            where = platform.node()
        raise SandboxUnavailable(f"Dask worker {where}: {exc}") from None


def _killed_reason(exc: BaseException) -> str:
    """A student's problem line for Dask's ``KilledWorker`` (its args are not words)."""
    args = getattr(exc, "args", ())
    last = getattr(args[1], "address", args[1]) if len(args) > 1 else "unknown"
    tried = f"{args[2] + 1} " if len(args) > 2 and isinstance(args[2], int) else ""
    return (
        f"grading failed: each of the {tried}Dask workers that tried this submission died "
        f"while grading it (the last: {last}); look at the notebook, then regrade it alone "
        "with --student"
    )


class DaskBackend:
    """Grade on the workers of the Dask scheduler at ``address`` (``tcp://HOST:PORT``).

    ``grade`` is the function each task runs (default: :func:`grade_student`); it must
    be importable on the workers. ``connect_timeout`` and ``worker_wait`` default to
    :data:`CONNECT_TIMEOUT_S` and :data:`WORKER_WAIT_S`, read when the backend is made.
    """

    def __init__(
        self,
        address: str,
        grade: Callable[[GradeTask], StudentOutcome] = grade_student,
        connect_timeout: float | None = None,
        worker_wait: float | None = None,
    ) -> None:
        self.address = address.strip()
        self.grade = grade
        self.connect_timeout = CONNECT_TIMEOUT_S if connect_timeout is None else connect_timeout
        self.worker_wait = WORKER_WAIT_S if worker_wait is None else worker_wait
        self.client = None

    # ------------------------------------------------------------------ connecting
    def _connect(self):
        if self.client is not None:
            return self.client
        try:
            from distributed import Client
        except ImportError as exc:
            raise ValueError(
                f"--scheduler {self.address}: Dask is not installed ({exc}); "
                "pip install 'course-rnn[instructor]'"
            ) from None
        if not self.address:
            raise ValueError("--scheduler: empty address; expected tcp://HOST:PORT")
        try:
            self.client = Client(self.address, timeout=self.connect_timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise ValueError(
                f"cannot reach the Dask scheduler at {self.address} within "
                f"{self.connect_timeout:g} s ({type(exc).__name__}: {exc}); is "
                f"`dask scheduler` running there, and is its port open to this machine?"
            ) from None
        return self.client

    def close(self) -> None:
        """Disconnect from the scheduler (the cluster itself keeps running)."""
        client, self.client = self.client, None
        if client is not None:
            client.close()

    def check(self) -> None:
        """Refuse a cluster that cannot grade, before any grading starts.

        Raises ``ValueError`` naming the address when the scheduler cannot be reached or
        no worker joins within ``worker_wait`` seconds, and naming each worker that
        cannot sandbox, cannot import ``course_rnn``, or runs other code or versions.
        """
        client = self._connect()
        try:
            self._check_workers(client)
        except BaseException:
            self.close()
            raise

    def _check_workers(self, client) -> None:
        if not client.scheduler_info(n_workers=-1)["workers"]:
            try:
                client.wait_for_workers(1, timeout=self.worker_wait)
            except TimeoutError:
                raise ValueError(
                    f"no Dask worker joined the scheduler at {self.address} within "
                    f"{self.worker_wait:g} s; start some with `dask worker {self.address}`"
                ) from None
        facts = client.run(worker_facts, on_error="return")
        mine = _package_fingerprint()
        trouble = []
        for worker, fact in sorted(facts.items()):
            if isinstance(fact, BaseException):
                trouble.append(
                    f"{worker} cannot run the grader ({type(fact).__name__}: {fact}); install "
                    "the course's pinned environment and course_rnn there"
                )
            elif not fact["sandbox"]:
                trouble.append(
                    f"{worker} cannot sandbox student code (bubblewrap missing or not "
                    "allowed there: install the Debian package 'bubblewrap' and allow user "
                    "namespaces); no student code runs unsandboxed"
                )
            elif fact["course_rnn"] != mine:
                trouble.append(
                    f"{worker} has another version of course_rnn (source {fact['course_rnn']}, "
                    f"here {mine}); install the same commit on every machine"
                )
        versions = {
            (f["python"], f["numpy"], f["torch"])
            for f in facts.values()
            if not isinstance(f, BaseException)
        }
        if len(versions) > 1:
            listed = "; ".join(
                f"{w}: python {f['python']}, numpy {f['numpy']}, torch {f['torch']}"
                for w, f in sorted(facts.items())
                if not isinstance(f, BaseException)
            )
            trouble.append(f"the workers run different versions, so grades could differ: {listed}")
        if trouble:
            raise ValueError(
                f"the Dask cluster at {self.address} cannot grade: " + "; ".join(trouble)
            )

    # ------------------------------------------------------------------ grading
    def run(
        self, tasks: list[GradeTask], on_result: Callable[[StudentOutcome], None]
    ) -> list[GradeTask]:
        """One Dask task per student; ``on_result`` (this thread) as each finishes.

        Returns the tasks left unfinished by Ctrl-C (they are cancelled on the cluster).
        Raises ``ValueError`` when a worker refuses to grade unsandboxed or the scheduler
        is lost; the students already passed to ``on_result`` stay recorded.
        """
        if not tasks:
            self.close()
            return []
        from distributed import as_completed
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker

        client = self._connect()
        token = uuid.uuid4().hex[:12]  # a new key per run: never an old run's result
        futures = {}
        done: set[str] = set()
        try:
            for task in tasks:
                key = f"course-rnn-grade-{task.assignment}-{task.student_id}-{token}"
                future = client.submit(
                    _grade_on_worker, task, self.grade, key=key, pure=False, retries=0
                )
                futures[future] = task
            for future in as_completed(futures, loop=client.loop):
                task = futures[future]
                if task.student_id in done:
                    continue
                try:
                    outcome = future.result()
                except SandboxUnavailable as exc:
                    raise ValueError(
                        f"grading stopped: {exc}. Fix or stop that worker, then run the same "
                        f"command again ({len(done)} student(s) graded so far are saved)"
                    ) from None
                except KilledWorker as exc:
                    outcome = StudentOutcome.failed(
                        task.student_id, list(task.sources), _killed_reason(exc)
                    )
                except FutureCancelledError as exc:  # the scheduler lost, or a cancel
                    raise ValueError(
                        f"the Dask cluster at {self.address} dropped the grading of "
                        f"{task.student_id} ({exc.reason}); run the same command again to "
                        f"resume ({len(done)} student(s) graded so far are saved)"
                    ) from None
                except Exception as exc:  # noqa: BLE001 - one student's row, not the class
                    outcome = StudentOutcome.failed(
                        task.student_id, list(task.sources), f"grading failed: {exc}"
                    )
                on_result(outcome)
                done.add(task.student_id)
        except KeyboardInterrupt:
            client.cancel([f for f, t in futures.items() if t.student_id not in done])
            return [t for t in tasks if t.student_id not in done]
        except BaseException:
            client.cancel(list(futures))
            raise
        finally:
            self.close()
        return []
