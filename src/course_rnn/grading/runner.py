"""The trusted runner: walks the merged notebook, judges each test cell itself.

Started by :class:`course_rnn.grading.executor.TrustedRunner` as
``python -I -m course_rnn.grading.runner --serve`` in its own session, and kept: it imports
numpy, torch and ``course_rnn.testing`` once, then runs one job (one notebook) after
another, each named by a line on its stdin and answered with ``done`` on its stdout. Each
job starts from the same trusted state (:func:`reset_state`); the student's state lives
only in the sandboxed kernel, which is new for every job. Student cells go
to the sandboxed kernel; each autograded test cell's source (always the instructor's)
runs *here*, in a fresh namespace with the real numpy/torch, where the names the
student defined are :class:`~course_rnn.grading.remote.RemoteObject` proxies. A test
passes only when its code ran to completion here, within its time limit.

Progress is appended to the job's events file, one JSON line per cell, so whatever was
decided before a crash or a notebook timeout still counts.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import importlib
import io
import json
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

from course_rnn.grading.remote import (
    BadReply,
    ChannelClosed,
    ChannelTimeout,
    ComplexAnswer,
    ProtocolError,
    RemoteObject,
    ReplyTooLarge,
    StudentCodeError,
    _megabytes,
)
from course_rnn.grading.sandbox import KernelProcess
from course_rnn.grading.zygote import Zygote

MAX_RESTARTS = 3
# A student name bound to one of these modules becomes the runner's own module (a test
# that forgot its import still gets the real numpy). The table is filled once, before
# the first job (bind_modules): the runner never imports a module because a student
# named it; any other module stays a proxy to the student's kernel.
BINDABLE_MODULES = (
    "numpy", "numpy.linalg", "numpy.random", "numpy.fft", "torch", "torch.nn",
    "torch.nn.functional", "torch.linalg", "math", "cmath", "random", "statistics",
    "itertools", "functools", "collections", "time", "string", "re", "operator", "typing",
    "dataclasses", "course_rnn.testing",
)  # fmt: skip
_BOUND: dict[str, Any] | None = None


class TestTimeout(BaseException):
    """The test cell ran past its time limit (BaseException: tests cannot swallow it)."""


class CappedText(io.StringIO):
    """A text buffer that keeps at most ``cap`` characters."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap, self.dropped = cap, False

    def write(self, text: str) -> int:
        room = self.cap - self.tell()
        if room <= 0:
            self.dropped = True
            return len(text)
        if len(text) > room:
            self.dropped = True
        return super().write(text[:room]) and len(text)


def referenced_names(source: str) -> set[str]:
    """Names a test cell reads that it does not import itself, builtins excluded."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    used, imported = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            used.add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                imported.add((alias.asname or alias.name).split(".")[0])
    return used - imported - set(dir(builtins))


# A frame of student code in a traceback: ``File "<ipython-input-4-ab12>", line 3, in f``
# (Python's own format) or ``Cell In[4], line 3, in f(x)`` (IPython's). The number is
# the kernel's execution count of the cell that defined the code.
_STUDENT_FRAME = re.compile(
    r'File "<ipython-input-(\d+)-[0-9a-f]*>", line (\d+), in (\S+)'
    r"|Cell In\[(\d+)\], line (\d+)(?:, in ([A-Za-z_][\w.]*))?"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def student_frame(traceback_text: str) -> tuple[int, int, str] | None:
    """The innermost frame of student code in a traceback: (execution count, line, function).

    ``function`` is empty when the error happened at the top level of a cell.
    """
    found = None
    for match in _STUDENT_FRAME.finditer(_ANSI.sub("", traceback_text)):
        if match.group(1):
            found = (int(match.group(1)), int(match.group(2)), match.group(3))
        else:
            found = (int(match.group(4)), int(match.group(5)), match.group(6) or "")
    if found and found[2] in ("<module>", "<lambda>"):
        found = (found[0], found[1], "")
    return found


def describe_place(cell: dict[str, Any], line: int, function: str) -> str:
    """``line 6 of your answer cell 'rnn_forward' (in rnn_forward): out[:, t+1] = h``."""
    lines = str(cell.get("source", "")).splitlines()
    if not 1 <= line <= len(lines):
        return ""
    gid = cell.get("grade_id")
    if gid:
        name = f"your answer cell '{gid}'"
    else:
        first = next((x.strip() for x in lines if x.strip()), "")
        name = f"the cell starting `{first[:60]}`"
    inside = f" (in {function})" if function else ""
    return f"line {line} of {name}{inside}: {lines[line - 1].strip()[:200]}"


def failure_message(exc: BaseException, cell_timeout: float, place: Any = None) -> str:
    """What the student reads when a test fails: never the test's source.

    ``place(traceback_text)`` names the line of the student's notebook an error of
    student code came from ("" when it cannot tell).
    """
    if isinstance(exc, TestTimeout | ChannelTimeout):
        return (
            f"the test did not finish within the {cell_timeout:g} s time limit "
            "(your code is too slow or never returns)"
        )
    if isinstance(exc, ChannelClosed):
        return (
            "your kernel stopped while this test was calling your code "
            "(it crashed, exited or ran out of memory or CPU time)"
        )
    if isinstance(exc, ComplexAnswer | ReplyTooLarge):
        return str(exc)
    if isinstance(exc, ProtocolError):
        return f"your code returned something the grader cannot read ({exc})"
    if isinstance(exc, StudentCodeError):
        if not exc.remote_message and exc.type_name == "NotImplementedError":
            return "your code raised NotImplementedError (is the answer cell filled in?)"
        detail = f": {exc.remote_message}" if exc.remote_message else ""
        where = place(exc.remote_traceback) if place is not None else ""
        where = f"\n  at {where}" if where else ""
        return f"your code raised {exc.type_name}{detail}"[:4000] + where
    text = str(exc)
    if isinstance(exc, AssertionError):
        return f"AssertionError: {text}"[:4000] if text else "AssertionError: a check failed"
    return f"{type(exc).__name__}: {text}"[:4000]


class Runner:
    """Runs one merged notebook: student cells in the kernel, tests here."""

    def __init__(self, job: dict[str, Any], zygote: Zygote | None = None) -> None:
        self.job = job
        self.zygote = zygote
        self.cells: list[dict[str, Any]] = job["cells"]
        self.limits = _limits(job["limits"])
        self.workdir = Path(job["workdir"])
        self.events = open(job["events"], "a", buffering=1)  # noqa: SIM115
        self.deadline = time.monotonic() + float(self.limits.notebook_timeout_s)
        self.last = time.monotonic()
        self.kernel: KernelProcess | None = None
        self.replay: list[int] = []
        self.restarts = 0
        self.broken = ""  # why the kernel cannot be used any more
        self.count = 0
        # the kernel's execution count of each student cell it ran -> the cell's index,
        # to name the line of the notebook an error came from (new kernel, new table)
        self.by_count: dict[int, int] = {}
        self.uid = int(job.get("uid", 0))
        # The notebook's output budget lives HERE: the kernel's own cap is the student's
        # to change, so everything it sends is cut again before it is kept.
        self.output = OutputBudget(int(self.limits.max_output_bytes))

    def emit(self, event: dict[str, Any]) -> None:
        now = time.monotonic()
        event["seconds"] = round(now - self.last, 3)  # wall time since the previous event
        self.last = now
        self.events.write(json.dumps(event) + "\n")

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def cell_budget(self) -> float:
        return max(0.0, min(float(self.limits.cell_timeout_s), self.remaining()))

    # -- kernel life cycle ----------------------------------------------------------
    def new_kernel(self) -> KernelProcess:
        forbid = list(self.job.get("forbid", []))
        if self.zygote is not None:  # forked from the warm runner's pre-imported zygote
            return self.zygote.kernel(self.workdir, forbid, self.limits)
        return KernelProcess(self.workdir, self.limits, forbid, self.uid)

    def ensure_kernel(self) -> bool:
        """A live kernel with the student's earlier cells re-run, or False (see broken)."""
        while True:
            if self.kernel is not None and self.kernel.channel is not None and self.kernel.alive():
                return True
            if self.broken:
                return False
            if self.kernel is not None:
                self.kernel.kill()
                self.restarts += 1
                if self.restarts > MAX_RESTARTS:
                    self.broken = f"the kernel was restarted {MAX_RESTARTS} times; giving up"
                    return False
            else:
                self.kernel = self.new_kernel()
            if self.remaining() <= 0:
                self.broken = "the notebook time limit was reached"
                return False
            try:
                self.kernel.start(timeout=min(120.0, max(1.0, self.remaining())))
            except (ChannelClosed, ChannelTimeout, ProtocolError, OSError) as exc:
                self.kernel.kill()
                self.broken = f"the sandboxed kernel could not start ({exc})"
                return False
            self.by_count = {}
            for i in list(self.replay):
                try:
                    reply = self.kernel.execute(self.cells[i]["source"], self.cell_budget())
                except (ChannelClosed, ChannelTimeout, ProtocolError):
                    self.replay.remove(i)  # behaved differently this time: leave it out
                    self.kernel.kill()
                    break
                else:
                    self.remember(reply, i)
            else:
                return True

    def remember(self, reply: Any, i: int) -> None:
        """Note which cell the kernel ran under the execution count it reports."""
        count = reply.get("count") if isinstance(reply, dict) else None
        if isinstance(count, int) and not isinstance(count, bool):
            self.by_count[count] = i

    def place(self, traceback_text: Any) -> str:
        """The line of the student's notebook a traceback's innermost student frame names."""
        if isinstance(traceback_text, list):  # IPython's: one string per frame
            traceback_text = "\n".join(str(t) for t in traceback_text)
        frame = student_frame(str(traceback_text or "")[-20_000:])
        if frame is None or frame[0] not in self.by_count:
            return ""
        return describe_place(self.cells[self.by_count[frame[0]]], frame[1], frame[2])

    # -- cells ------------------------------------------------------------------------
    def use_forbid_list(self) -> None:
        """Give ``course_rnn.testing`` the notebook's forbid list, when a test uses it.

        Test cells write ``with forbid():``; the kernel enforces the list, this side
        needs it only so that those blocks run. Done once, before the first test (the warm
        runner imported ``course_rnn.testing`` at its start, outside any time limit).
        """
        if any("forbid" in c["source"] for c in self.cells if c["role"] == "test"):
            from course_rnn.testing import use_forbid_list

            use_forbid_list(self.job.get("forbid", []))

    def use_hidden_seed(self) -> None:
        """Give ``course_rnn.testing`` this student's hidden-input seed, as the forbid list.

        The seed stays on this side: the kernel (the student's code) never receives it.
        """
        seed = self.job.get("hidden_seed")
        if isinstance(seed, int) and any(
            "hidden_" in c["source"] for c in self.cells if c["role"] == "test"
        ):
            from course_rnn.testing import use_hidden_seed

            use_hidden_seed(seed)

    def run(self) -> None:
        """Run every cell of the job."""
        self.use_forbid_list()
        self.use_hidden_seed()
        try:
            for i, cell in enumerate(self.cells):
                if cell["cell_type"] != "code":
                    continue
                try:
                    if cell["role"] == "test":
                        self.run_test(i, cell)
                    elif cell["source"].strip():
                        self.run_student(i, cell)
                except Exception as exc:  # noqa: BLE001 - costs this cell only
                    if self.kernel is not None:
                        self.kernel.kill()
                    message = f"the grader could not run this cell ({type(exc).__name__})"
                    event = {"cell": i, "outputs": [_error(message)]}
                    if cell["role"] == "test":
                        event["test"] = {"passed": False, "message": message}
                    self.emit(event)
        finally:
            if self.kernel is not None:
                self.kernel.close()
            self.events.close()

    def run_student(self, i: int, cell: dict[str, Any]) -> None:
        if self.remaining() <= 0:
            self.emit({"cell": i, "outputs": [_error("notebook time limit reached; not run")]})
            return
        if not self.ensure_kernel():
            self.emit({"cell": i, "outputs": [_error(f"not run: {self.broken}")]})
            return
        budget = self.cell_budget()
        try:
            reply = self.kernel.execute(cell["source"], budget)
        except ChannelTimeout:
            self.kernel.kill()
            self.emit(
                {"cell": i, "outputs": [_error(f"this cell ran past the {budget:g} s time limit")]}
            )
            return
        except BadReply as exc:
            # The cell ran; its reply (the outputs) was read whole and refused: the
            # channel is in step, so the kernel and what the cell defined are kept.
            self.replay.append(i)
            self.count += 1
            message = f"this cell's output could not be kept: {exc}"
            if isinstance(exc, ReplyTooLarge) and not exc.parts_limit:
                message = (
                    f"this cell's output ({_megabytes(exc.size)}) is larger than the "
                    f"grader reads ({_megabytes(exc.limit)}); it was not kept"
                )
            self.emit({"cell": i, "outputs": [_error(message)], "count": self.count})
            return
        except (ChannelClosed, ProtocolError, StudentCodeError) as exc:
            reason = self.kernel.exit_reason(wait=2.0)
            self.kernel.kill()
            self.emit(
                {
                    "cell": i,
                    "outputs": [_error(f"the kernel stopped during this cell ({reason})")],
                    "note": str(exc)[:200],
                }
            )
            return
        self.replay.append(i)
        self.remember(reply, i)
        self.count += 1
        outputs = _clean_outputs(reply.get("outputs"), self.output, self.count)
        for out in outputs:  # an error says which line of the notebook raised it
            if out.get("output_type") == "error" and (where := self.place(out["traceback"])):
                out["evalue"] = self.output.take(f"{out['evalue']}\n  at {where}")
        self.emit({"cell": i, "outputs": outputs, "count": self.count})

    def run_test(self, i: int, cell: dict[str, Any]) -> None:
        out = CappedText(max(1000, int(self.limits.max_output_bytes) // 10))
        passed, message = False, ""
        budget = self.cell_budget()
        if budget <= 0:
            message = "not run: the notebook time limit was reached"
        elif not self.ensure_kernel():
            message = f"not run: {self.broken}"
        else:
            passed, message = self._judge(cell, out, budget)
        self.count += 1
        outputs = []
        if out.getvalue():
            text = self.output.take(out.getvalue())
            if self.output.cut:
                text += TRUNCATED
            outputs.append({"output_type": "stream", "name": "stdout", "text": text})
        if not passed:
            outputs.append(_error(message, ename="TestFailed"))
        self.emit(
            {
                "cell": i,
                "count": self.count,
                "outputs": outputs,
                "test": {"passed": passed, "message": message},
            }
        )

    def _judge(self, cell: dict[str, Any], out: CappedText, budget: float) -> tuple[bool, str]:
        kernel = self.kernel
        kernel.callbacks.clear()
        kernel.on_output = out.write
        kernel.channel.deadline = time.monotonic() + budget
        ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}

        def on_alarm(signum, frame):
            raise TestTimeout()

        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, budget + 0.5)
        try:
            names = sorted(referenced_names(cell["source"]))
            values = kernel.channel.request("names", names) if names else {}
            if not isinstance(values, dict):
                raise ProtocolError("bad names reply")
            for name, value in values.items():
                if isinstance(name, str) and name in names:
                    ns[name] = _bind(value)
            code = compile(cell["source"], f"<test {cell.get('grade_id')}>", "exec")
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                exec(code, ns)  # noqa: S102 - the instructor's test cell, in the trusted process
            return True, ""
        except BaseException as exc:  # noqa: BLE001 - every failure is a verdict
            broken = isinstance(exc, ProtocolError) and not isinstance(exc, BadReply)
            if broken or isinstance(exc, TestTimeout | ChannelTimeout | ChannelClosed):
                kernel.kill()  # its state is unknown now: restart before the next cell
            return False, failure_message(exc, float(self.limits.cell_timeout_s), self.place)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
            kernel.on_output = None


def bind_modules() -> dict[str, Any]:
    """Import :data:`BINDABLE_MODULES` and fix the table :func:`_bind` reads (idempotent).

    Called before the first job; a module that fails to import is left out.
    """
    global _BOUND
    if _BOUND is None:
        table = {}
        for name in BINDABLE_MODULES:
            try:
                table[name] = importlib.import_module(name)
            except Exception:  # noqa: BLE001 - a test that needs it will report it
                pass
        _BOUND = table
    return _BOUND


def _bind(value: Any) -> Any:
    """A student's module named in :data:`BINDABLE_MODULES` becomes the runner's own.

    Nothing is imported here: the name the kernel sent is only looked up in the table
    fixed before grading (any other module stays a proxy).
    """
    if isinstance(value, RemoteObject) and value._module:
        module = bind_modules().get(value._module)
        if module is not None:
            return module
    return value


def _error(message: str, ename: str = "GradingError") -> dict[str, Any]:
    return {"output_type": "error", "ename": ename, "evalue": message, "traceback": [message]}


TRUNCATED = "\n[output truncated]\n"
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")


class OutputBudget:
    """Characters of output the whole notebook may keep (``Limits.max_output_bytes``)."""

    def __init__(self, limit: int) -> None:
        self.left = limit
        self.cut = False  # set when the last take() dropped something

    def take(self, text: str) -> str:
        self.cut = len(text) > self.left
        kept = text[: max(0, self.left)]
        self.left -= len(kept)
        return kept


def _clean_outputs(outputs: Any, budget: OutputBudget, count: int) -> list[dict[str, Any]]:
    """Valid nbformat outputs from what the kernel sent, within the notebook's budget.

    The kernel is not trusted: only stdout/stderr streams, errors and ``text/plain``,
    ``image/png`` and ``image/jpeg`` data (images must be base64) are kept, every string
    is charged to ``budget``, metadata is the runner's own (empty) and an
    ``execute_result`` carries the cell's execution ``count``.
    """
    clean: list[dict[str, Any]] = []
    cut = False
    for out in outputs if isinstance(outputs, list) else []:
        if budget.left <= 0:
            cut = True
            break
        if not isinstance(out, dict):
            continue
        kind = out.get("output_type")
        if kind == "stream" and out.get("name") in ("stdout", "stderr"):
            text = budget.take(str(out.get("text", "")))
            cut |= budget.cut
            clean.append({"output_type": "stream", "name": out["name"], "text": text})
        elif kind in ("display_data", "execute_result") and isinstance(out.get("data"), dict):
            data = {}
            for mime in ("text/plain", "image/png", "image/jpeg"):
                value = out["data"].get(mime)
                if not isinstance(value, str):
                    continue
                if mime != "text/plain" and not _BASE64.fullmatch(value[:10_000_000]):
                    continue  # not an image: never let it reach an HTML attribute
                if len(value) > budget.left:
                    cut = True
                    continue  # an image cut in half is no image
                data[mime] = budget.take(value)
            if data:
                entry = {"output_type": kind, "data": data, "metadata": {}}
                if kind == "execute_result":
                    entry["execution_count"] = count
                clean.append(entry)
        elif kind == "error":
            tb = out.get("traceback")
            lines = [str(t) for t in tb][-50:] if isinstance(tb, list) else []
            entry = {
                "output_type": "error",
                "ename": budget.take(str(out.get("ename", "Error"))[:200]),
                "evalue": budget.take(str(out.get("evalue", ""))[:4000]),
                "traceback": [budget.take(line[:20_000]) for line in lines],
            }
            cut |= budget.cut
            clean.append(entry)
    if cut:
        clean.append({"output_type": "stream", "name": "stderr", "text": TRUNCATED})
    return clean


def _limits(data: dict[str, Any]):
    from course_rnn.grading.limits import Limits

    return Limits(**data)


WARM_MODULES = ("numpy", "torch", "torch.nn", "torch.nn.functional", "course_rnn.testing")


def reset_state(torch_seed: int | None) -> None:
    """Put the trusted side back in the state of a fresh runner before each job.

    Test cells are the instructor's code; what they may change in this process and what a
    later test could read is reset: the testing module's forbid list and hidden seed, the
    random generators, torch's default dtype, grad mode and thread count, and the
    warnings filters.
    """
    import random
    import warnings

    import numpy as np

    from course_rnn import testing

    testing.use_forbid_list([])
    testing.use_hidden_seed(None)
    random.seed(0)
    np.random.seed(0)
    warnings.resetwarnings()
    if "torch" in sys.modules:
        import torch

        torch.set_default_dtype(torch.float32)
        torch.set_grad_enabled(True)
        torch.set_num_threads(1)
        if torch_seed is not None:
            torch.manual_seed(torch_seed)


def serve(setup: dict[str, Any]) -> None:
    """Run jobs named on stdin, one per line, answering ``done`` for each, until EOF.

    The pipe is moved off fds 0 and 1 first, so nothing a test prints at the C level can
    corrupt it; stderr stays the runner's log. ``setup`` (the runner's sandbox ``uid``
    and ``limits``) starts the zygote before this process imports torch, so the two
    imports run side by side.
    """
    rfd, wfd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    # One sandbox for the runner's life: each student's kernel is forked from it, already
    # past its imports (a sandbox per kernel where it cannot run). Every job carries the
    # runner's own uid; a job with other limits restarts it (Zygote.kernel).
    zygote = Zygote(_limits(setup["limits"]), int(setup["uid"]))
    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a test that needs it will report it
            pass
    bind_modules()  # the modules a student's name may be bound to, fixed before any job
    torch_seed = sys.modules["torch"].initial_seed() if "torch" in sys.modules else None
    jobs, replies = os.fdopen(rfd, "r"), os.fdopen(wfd, "w", buffering=1)
    replies.write("ready\n")
    try:
        for line in jobs:
            job = json.loads(Path(line.strip()).read_text())
            os.chdir(job.get("cwd", "/"))
            reset_state(torch_seed)
            try:
                Runner(job, zygote).run()
            except Exception as exc:  # noqa: BLE001 - the job's events say what was decided
                print(f"runner: job failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            os.chdir("/")
            replies.write("done\n")
    finally:
        zygote.close()


def main() -> None:
    """Entry point: ``python -I -m course_rnn.grading.runner --serve SETUP_JSON``."""
    if len(sys.argv) != 3 or sys.argv[1] != "--serve":
        sys.exit("usage: python -I -m course_rnn.grading.runner --serve SETUP_JSON")
    serve(json.loads(sys.argv[2]))


if __name__ == "__main__":
    main()
