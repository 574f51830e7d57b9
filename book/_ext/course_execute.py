"""Execute one chapter notebook in a process of its own, and never wait on a silent kernel.

    python course_execute.py IN.ipynb OUT.ipynb RESULT.json --cwd DIR \
        [--timeout 300] [--silence 60]

Run by ``course_parallel`` once per chapter, so that no two notebook clients share a
process. The client talks to its kernel over IPC sockets in a folder of its own (no TCP
ports to collide, and no "running over TCP without encryption" warning).

Widgets. nbclient mimics the front end of an ``Output`` widget (ipywidgets' ``interactive``
draws into one) and, for every output shown in it, echoes the widget's state back to the
kernel with a synchronous send on the shell socket, from inside its IOPub handler. The
client meanwhile waits for the cell's ``execute_reply`` by polling that same socket's
edge-triggered ZMQ file descriptor. When the reply arrives while the handler runs (a busy
machine: two chapters at once), the send consumes the descriptor's wake-up; the poll
sleeps until the cell timeout, finds the reply then, and the cell "succeeds" 300 s late.
:class:`StaticOutputWidget` records the outputs for the page exactly as before and sends
nothing: a built page is static, and the kernel never needs the echo.

A watchdog fails the chapter, naming the cell, when a cell has been running for
``--silence`` seconds during which the kernel sent no message and used no CPU time (its
child processes included): a kernel that is idle while its client still waits. Such a
wait would otherwise last the whole per-cell ``--timeout``.

RESULT.json: ``{"seconds": float, "error": null | {"kind": "silent" | "cell" | "timeout" |
"crash", "cell": int | null, "source": str, "message": str}}``; OUT.ipynb is the executed
notebook (written when execution finished without a silent kernel).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any


def _cpu_seconds(pid: int) -> float | None:
    """CPU time used so far by process ``pid`` and its living descendants."""
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


#: Run in each kernel before the chapter: the first ``glue`` imports nbformat, whose
#: jsonschema compiles an RFC 3987 grammar at import when the optional ``rfc3987_syntax``
#: is installed (1.5 s of CPU, 3-6 s on a busy machine, in every chapter). Notebook
#: validation never checks IRIs; marked absent, jsonschema skips that checker. Written
#: with ``__import__`` so that the chapter's namespace gains no name.
SKIP_IRI_GRAMMAR = "__import__('sys').modules.setdefault('rfc3987_syntax', None)"


def _static_output_widget() -> type:
    from nbclient.output_widget import OutputWidget

    class StaticOutputWidget(OutputWidget):
        """nbclient's Output widget mimic, minus the state echo to the kernel."""

        def sync_state(self) -> None:
            pass  # the page keeps the outputs (executor.widget_state); the kernel needs none

    return StaticOutputWidget


def _first_line(cell: Any) -> str:
    lines = [ln for ln in str(cell.get("source", "")).splitlines() if ln.strip()]
    return lines[0].strip() if lines else ""


def execute(nb: Any, cwd: str, timeout: int, silence: float, report: Any) -> dict[str, Any] | None:
    """Execute ``nb`` in place; return an error dict, or None when every cell ran."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from traitlets.config import Config

    sockets = tempfile.mkdtemp(prefix="course-nb-")
    config = Config({"KernelManager": {"transport": "ipc", "ip": f"{sockets}/kernel"}})
    state: dict[str, Any] = {"cell": None, "index": None, "last": time.monotonic()}

    class Client(NotebookClient):
        def process_message(self, msg: dict, cell: Any, cell_index: int) -> Any:
            state["last"] = time.monotonic()
            return super().process_message(msg, cell, cell_index)

    def started(cell: Any, cell_index: int) -> None:
        state.update(cell=cell, index=cell_index, last=time.monotonic())

    def finished(cell: Any, cell_index: int, execute_reply: Any) -> None:
        if execute_reply.get("content", {}).get("status") == "error":
            state.update(failed=(cell, cell_index))
        state.update(cell=None, index=None)

    client = Client(
        nb,
        extra_arguments=[f"--IPKernelApp.exec_lines={SKIP_IRI_GRAMMAR}"],
        timeout=timeout,
        allow_errors=False,
        record_timing=False,  # cell metadata is part of jupyter-cache's key: leave it as read
        config=config,
        resources={"metadata": {"path": cwd}},
        on_cell_execute=started,
        on_cell_executed=finished,
    )
    client.widget_registry = {"@jupyter-widgets/output": {"OutputModel": _static_output_widget()}}

    def watchdog() -> None:
        cpu_before: float | None = None
        while True:
            time.sleep(1.0)
            km = client.km
            process = getattr(getattr(km, "provisioner", None), "process", None)
            if process is None or state["cell"] is None:
                cpu_before = None
                continue
            cpu = _cpu_seconds(process.pid)
            if cpu is not None and cpu_before is not None and cpu - cpu_before > 0.05:
                state["last"] = time.monotonic()
            if cpu is not None:
                cpu_before = cpu
            quiet = time.monotonic() - state["last"]
            if quiet >= silence:
                cell, index = state["cell"], state["index"]
                report(
                    {
                        "kind": "silent",
                        "cell": index,
                        "source": _first_line(cell) if cell is not None else "",
                        "message": (
                            f"the kernel was idle and sent nothing for {quiet:.0f} s while "
                            "its client waited for this cell to finish"
                        ),
                    }
                )
                try:
                    os.kill(process.pid, signal.SIGKILL)
                finally:
                    os._exit(3)

    threading.Thread(target=watchdog, daemon=True, name="silence-watchdog").start()
    try:
        client.execute()
    except CellTimeoutError as err:
        return _cell_error("timeout", state, err)
    except CellExecutionError as err:
        return _cell_error("cell", state, err)
    except DeadKernelError as err:
        return _cell_error("crash", state, err)
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
    return None


def _cell_error(kind: str, state: dict[str, Any], err: Exception) -> dict[str, Any]:
    cell, index = state.get("failed") or (state["cell"], state["index"])
    tail = [ln for ln in str(err).strip().splitlines() if ln.strip()][-3:]
    return {
        "kind": kind,
        "cell": index,
        "source": _first_line(cell) if cell is not None else "",
        "message": " / ".join(tail),
    }


def main(argv: list[str] | None = None) -> int:
    import nbformat

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("result", type=Path)
    parser.add_argument("--cwd", required=True)
    parser.add_argument("--timeout", type=int, default=300)
    parser.add_argument("--silence", type=float, default=60.0)
    args = parser.parse_args(argv)
    nb = nbformat.read(args.notebook, as_version=4)
    started = time.perf_counter()

    def report(error: dict[str, Any] | None) -> None:
        result = {"seconds": time.perf_counter() - started, "error": error}
        args.result.write_text(json.dumps(result), encoding="utf-8")

    error = execute(nb, args.cwd, args.timeout, args.silence, report)
    report(error)
    nbformat.write(nb, args.out)
    return 0 if error is None else 1


if __name__ == "__main__":
    sys.exit(main())
