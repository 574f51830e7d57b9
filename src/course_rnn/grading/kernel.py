"""The student kernel: runs inside the sandbox, executes student cells, serves calls.

Started by :mod:`course_rnn.grading.sandbox` as
``python -s -m course_rnn.grading.kernel CONFIG_JSON`` with the protocol pipe on stdin
and stdout, or forked by :mod:`course_rnn.grading.zygote` (which ran :func:`preload`
once) with a protocol socket. It first moves the pipe to private descriptors, points
fds 0-2 at /dev/null, drops root (new uid, no groups, no capabilities, no new
privileges), blocks the names the notebook forbids, then (:func:`serve`) serves
requests from the trusted grader:

- ``exec(source)`` runs a cell with IPython and returns its outputs as plain data;
- ``names(list)`` returns the values bound to those names in the student namespace;
- ``getattr``/``setattr``/``call``/``getitem``/``setitem``/``len``/``bool``/
  ``contains``/``list`` act on student objects through handles.

Nothing here is trusted: the student can change any of it from a cell. The grader
relies on it only to carry plain data.
"""

from __future__ import annotations

import ctypes
import importlib
import io
import json
import os
import sys
from typing import Any

from course_rnn.errors import ForbiddenError
from course_rnn.grading.remote import Channel, ProtocolError, pin_modules

KEEP_MIME = ("text/plain", "image/png", "image/jpeg")  # no HTML/JS from students
HIDDEN_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "_ih", "_oh", "_dh", "_", "__"}


class OutputLog:
    """Ordered notebook outputs with a byte budget shared by the whole notebook."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.items: list[dict[str, Any]] = []
        self.truncated = False

    def _take(self, text: str) -> str:
        if self.budget <= 0:
            self.truncated = True
            return ""
        if len(text) > self.budget:
            text = text[: self.budget]
            self.truncated = True
        self.budget -= len(text)
        return text

    def stream(self, name: str, text: str) -> None:
        text = self._take(text)
        if not text:
            return
        if self.items and self.items[-1].get("name") == name:
            self.items[-1]["text"] += text
        else:
            self.items.append({"output_type": "stream", "name": name, "text": text})

    def rich(self, kind: str, data: dict[str, Any]) -> None:
        kept = {}
        for mime in KEEP_MIME:
            value = data.get(mime) if isinstance(data, dict) else None
            if isinstance(value, str):
                value = self._take(value)
                if value:
                    kept[mime] = value
        if kept:
            self.items.append({"output_type": kind, "data": kept})

    def pop(self) -> list[dict[str, Any]]:
        items, self.items = self.items, []
        if self.truncated:
            items.append(
                {"output_type": "stream", "name": "stderr", "text": "\n[output truncated]\n"}
            )
            self.truncated = False
        return items


class LogStream(io.TextIOBase):
    """A ``sys.stdout``/``sys.stderr`` replacement writing into an :class:`OutputLog`."""

    def __init__(self, log: OutputLog, name: str) -> None:
        self.log, self.name_ = log, name

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.log.stream(self.name_, str(text))
        return len(text)


def _private_pipe() -> tuple[int, int]:
    """Move the protocol pipe off fds 0/1 and silence fds 0-2."""
    rfd, wfd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    return rfd, wfd


def _drop_privileges(uid: int) -> None:
    if os.geteuid() == 0 and uid > 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)  # clears every capability
    try:
        ctypes.CDLL(None, use_errno=True).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    except (OSError, AttributeError):
        pass


class _ModuleBlocker:
    """A meta path finder that refuses to import forbidden modules."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        for name in self.names:
            if fullname == name or fullname.startswith(name + "."):
                raise ImportError(
                    f"{name} is not allowed in this exercise: write this part yourself"
                )
        return None


BLOCKER = _ModuleBlocker()


def _forbid_module(dotted: str) -> bool:
    """Block importing ``dotted`` when it names a module; True if it did."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(dotted)
    except (ImportError, ValueError, AttributeError):
        return False
    if spec is None:
        return False
    BLOCKER.names.add(dotted)
    if BLOCKER not in sys.meta_path:
        sys.meta_path.insert(0, BLOCKER)
    for name in [m for m in sys.modules if m == dotted or m.startswith(dotted + ".")]:
        del sys.modules[name]
    parent, _, leaf = dotted.rpartition(".")
    if parent in sys.modules and hasattr(sys.modules[parent], leaf):
        try:
            delattr(sys.modules[parent], leaf)
        except AttributeError:
            pass
    return True


def _forbid(dotted: str) -> None:
    """Make ``dotted`` unusable: a module refuses to import, a class or function to run.

    Classes (``torch.nn.LSTM``) refuse in ``__init__``, so aliases and subclasses refuse
    too; methods (``torch.Tensor.backward``) are replaced on their class; functions
    (``numpy.linalg.norm``) are replaced in every loaded module that binds them.
    """
    if _forbid_module(dotted):
        return
    parts = dotted.split(".")
    module = None
    for i in range(len(parts) - 1, 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:i]))
            break
        except Exception:  # noqa: BLE001 - try a shorter prefix
            continue
    if module is None:
        return
    parent = module
    for name in parts[i:-1]:
        parent = getattr(parent, name, None)
        if parent is None:
            return
    target = getattr(parent, parts[-1], None)
    if target is None:
        return
    message = f"{dotted} is not allowed in this exercise: write this part yourself"

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ForbiddenError(message)

    if isinstance(target, type):
        try:
            target.__init__ = refuse  # every alias and subclass of the class refuses
            target.__call__ = refuse
            return
        except TypeError:
            pass
    if isinstance(parent, type):
        try:
            setattr(parent, parts[-1], refuse)
        except (TypeError, AttributeError):
            pass
    for mod in list(sys.modules.values()):
        for attr in {parts[-1], getattr(target, "__name__", parts[-1])}:
            try:
                if getattr(mod, attr, None) is target:
                    setattr(mod, attr, refuse)
            except Exception:  # noqa: BLE001 - exotic modules
                continue


def make_shell() -> Any:
    """The IPython shell that runs the cells (made once; a zygote makes it before forking)."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    if InteractiveShell.initialized():
        return InteractiveShell.instance()
    cfg = Config()
    cfg.HistoryManager.enabled = False
    cfg.InteractiveShell.colors = "nocolor"
    return InteractiveShell.instance(config=cfg)


class Kernel:
    """The student namespace and the handlers for the trusted side's requests."""

    def __init__(self, config: dict[str, Any]) -> None:
        from IPython.core.displaypub import DisplayPublisher

        self.shell = make_shell()
        self.log = OutputLog(int(config.get("max_output_bytes", 1_000_000)))
        self.handles: dict[int, Any] = {}
        self.ids: dict[int, int] = {}
        self.channel: Channel | None = None
        self.errors: list[dict[str, Any]] = []
        shell = self.shell
        log = self.log

        def show_traceback(etype, evalue, stb):
            self.errors.append(
                {
                    "output_type": "error",
                    "ename": getattr(etype, "__name__", "Error"),
                    "evalue": str(evalue)[:4000],
                    "traceback": [str(s)[:20000] for s in stb][-30:],
                }
            )

        shell._showtraceback = show_traceback

        class Publisher(DisplayPublisher):
            def publish(self, data, metadata=None, source=None, **kwargs):
                log.rich("display_data", data)

            def clear_output(self, wait=False):
                pass

        def display_hook(result=None):
            if result is None:
                return
            data, _ = shell.display_formatter.format(result)
            log.rich("execute_result", data)

        shell.display_pub = Publisher(shell=shell)
        shell.display_trap.hook = display_hook
        self.stdout, self.stderr = LogStream(log, "stdout"), LogStream(log, "stderr")

    # -- handles ------------------------------------------------------------------
    def export(self, obj: Any) -> dict[str, Any]:
        key = id(obj)
        ident = self.ids.get(key)
        if ident is None or self.handles.get(ident) is not obj:
            ident = len(self.handles) + 1
            self.handles[ident] = obj
            self.ids[key] = ident
        try:
            text = repr(obj)[:200]
        except Exception:  # noqa: BLE001 - student __repr__ may fail
            text = "?"
        module = obj.__name__ if type(obj).__name__ == "module" else ""
        return {
            "$": "ref",
            "id": ident,
            "type": type(obj).__name__[:100],
            "r": text,
            "m": str(module)[:200],
        }

    def resolve(self, data: dict[str, Any]) -> Any:
        tag, ident = data.get("$"), data.get("id")
        if tag == "ref" and ident in self.handles:
            return self.handles[ident]
        if tag == "cb" and isinstance(ident, int):
            return Callback(self, ident)
        raise ProtocolError(f"unknown reference {data!r}")

    # -- requests -----------------------------------------------------------------
    def handle(self, op: str, args: list[Any]) -> Any:
        if op == "exec":
            return self.run_cell(str(args[0]))
        if op == "names":
            ns = self.shell.user_ns
            return {n: ns[n] for n in args[0] if n in ns and n not in HIDDEN_NAMES}
        old = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = self.stdout, self.stderr
        try:
            return self._object_op(op, args)
        finally:
            sys.stdout, sys.stderr = old
            out = "".join(o.get("text", "") for o in self.log.pop() if "text" in o)
            if self.channel is not None:
                self.channel.extra = {"out": out} if out else {}

    def _object_op(self, op: str, args: list[Any]) -> Any:
        target = args[0]
        if op == "getattr":
            return getattr(target, args[1])
        if op == "setattr":
            setattr(target, args[1], args[2])
            return None
        if op == "call":
            return target(*args[1], **args[2])
        if op == "getitem":
            return target[args[1]]
        if op == "setitem":
            target[args[1]] = args[2]
            return None
        if op == "len":
            return len(target)
        if op == "bool":
            return bool(target)
        if op == "contains":
            return args[1] in target
        if op == "list":
            return list(target)
        raise ProtocolError(f"unknown operation {op!r}")

    def run_cell(self, source: str) -> dict[str, Any]:
        self.errors = []
        old = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = self.stdout, self.stderr
        try:
            result = self.shell.run_cell(source, store_history=True)
        finally:
            sys.stdout, sys.stderr = old
        outputs = self.log.pop() + self.errors
        if self.channel is not None:
            self.channel.extra = {}
        ok = result.success if hasattr(result, "success") else not self.errors
        return {"outputs": outputs, "ok": bool(ok), "count": self.shell.execution_count - 1}


class Callback:
    """A function the trusted test passed to student code; calls go back to the test."""

    def __init__(self, kernel: Kernel, ident: int) -> None:
        self.kernel, self.ident = kernel, ident

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.kernel.channel.request("call", self, list(args), kwargs)


def preload() -> None:
    """What a kernel needs before the first cell, done once by the zygote before it forks:
    numpy, torch and IPython imported, the shell made (no student code has run in it)."""
    import numpy  # noqa: F401
    import torch  # noqa: F401
    from IPython.core.displaypub import DisplayPublisher  # noqa: F401

    make_shell()


def serve(config: dict[str, Any], rfd: int, wfd: int) -> None:
    """Serve the trusted side on ``rfd``/``wfd`` (privileges already dropped)."""
    pin_modules()
    kernel = Kernel(config)

    def export(obj: Any) -> dict[str, Any]:
        if isinstance(obj, Callback):
            return {"$": "cb", "id": obj.ident}
        return kernel.export(obj)

    channel = Channel(rfd, wfd, kernel.handle, export, kernel.resolve)
    kernel.channel = channel
    for name in config.get("forbid", []):
        if isinstance(name, str) and name.replace(".", "").replace("_", "").isalnum():
            _forbid(name)
    channel.send({"k": "ready", "pid": os.getpid()})
    channel.serve_forever()


def main() -> None:
    """Entry point inside the sandbox."""
    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    rfd, wfd = _private_pipe()
    _drop_privileges(int(config.get("uid", 0)))
    os.chdir(os.environ.get("HOME", "/"))
    serve(config, rfd, wfd)
    os._exit(0)


if __name__ == "__main__":
    main()
