"""Start the student kernel inside a bubblewrap sandbox with resource limits.

The sandbox sees a read-only system (``/usr``, the few files of ``/etc`` that Python and
its libraries read, the Python installation, the virtual environment and the
``course_rnn`` package with ``course_rnn.scratch`` replaced by a stub), a private
``/proc``, ``/dev`` and size-limited ``/tmp``, and one writable folder: the student's
workdir, mounted as ``/home/student``. Nothing else of the host
exists inside: not the course folder, ``solutions/``, the gradebook or other
submissions. It has its own PID, IPC, UTS and (unless ``Limits.network``) network
namespaces, so it can reach no host service, not even on loopback, and every process
it starts dies with it. The kernel drops root to a per-run uid before running any
student code; rlimits cap address space, CPU time, processes, file size and open files.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from course_rnn.grading.remote import Channel, ChannelClosed, ProtocolError, RemoteObject

if TYPE_CHECKING:
    from course_rnn.grading.limits import Limits

SANDBOX_HOME = "/home/student"
FILE_SIZE_LIMIT = 256 << 20
TMP_SIZE = 512 << 20
STUB = '''"""course_rnn.scratch is blocked while grading."""

__path__ = []


def __getattr__(name):
    raise ImportError(
        "course_rnn.scratch (the course's reference implementation) is not available "
        "while grading: write your own implementation"
    )
'''
SANDBOX_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": SANDBOX_HOME,
    "LANG": "C.UTF-8",
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    "MPLCONFIGDIR": "/tmp/matplotlib",
    "IPYTHONDIR": "/tmp/ipython",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONHASHSEED": "0",
    "TQDM_DISABLE": "0",
}


@functools.cache
def bwrap_path() -> str | None:
    """The bubblewrap binary, or None when it is missing or cannot sandbox here.

    A quick probe (new PID and network namespaces around ``true``) catches hosts where
    the binary exists but namespaces are not allowed, e.g. unprivileged containers.
    """
    path = shutil.which("bwrap")
    if path is None:
        return None
    probe = [path, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
             "--unshare-pid", "--unshare-net", "--die-with-parent", "true"]  # fmt: skip
    try:
        ok = subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return path if ok else None


def _package_dir() -> Path:
    import course_rnn

    return Path(course_rnn.__file__).resolve().parent


# The part of the host's /etc that Python and the libraries read: the dynamic loader's
# cache and configuration, the time zone, Debian's alternatives (links into /usr). Not
# the host's users, groups, hosts, network, package or service configuration:
# /etc/passwd, /etc/group and /etc/hosts inside are written for the sandbox (SANDBOX_ETC).
HOST_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "alternatives")


def sandbox_etc(uid: int) -> dict[str, str]:
    """The sandbox's own /etc/passwd, /etc/group and /etc/hosts (the student's uid only)."""
    return {
        "passwd": f"root:x:0:0::/root:/usr/sbin/nologin\n"
        f"student:x:{uid}:{uid}::{SANDBOX_HOME}:/usr/sbin/nologin\n",
        "group": f"root:x:0:\nstudent:x:{uid}:\n",
        "hosts": "127.0.0.1 localhost sandbox\n",
    }


def _read_only_paths() -> list[Path]:
    """Host paths the sandbox needs: the system, Python, the venv, the package."""
    paths = [Path(p) for p in ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32")]
    paths += [Path("/etc") / name for name in HOST_ETC]
    paths += [Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), _package_dir()]
    exe = Path(sys.executable)
    paths.append(exe.resolve().parent.parent)
    return paths


def bwrap_command(workdir: Path, stub_dir: Path, limits: Limits, uid: int) -> list[str]:
    """The ``bwrap ... python -m course_rnn.grading.kernel`` command line."""
    cmd = [bwrap_path() or "bwrap"]
    bound: list[Path] = []
    made: set[Path] = {Path("/")}

    def covered(path: Path) -> bool:
        return any(path == b or b in path.parents for b in bound)

    def make_parents(path: Path) -> None:
        for parent in reversed(path.parents):
            if parent not in made and not covered(parent):
                cmd.extend(["--perms", "0755", "--dir", str(parent)])
                made.add(parent)

    # Private /proc, /dev and /tmp come first: bwrap applies mounts in order, so a later
    # tmpfs on /tmp would hide a course or venv that lives under /tmp (a CI clone).
    cmd += ["--proc", "/proc", "--dev", "/dev"]
    cmd += ["--perms", "1777", "--size", str(TMP_SIZE), "--tmpfs", "/tmp"]
    made.add(Path("/tmp"))
    for path in _read_only_paths():
        if not path.exists() or covered(path):
            continue
        if path.is_symlink() and path.parent == Path("/"):
            cmd.extend(["--symlink", os.readlink(path), str(path)])
            continue
        make_parents(path)
        cmd.extend(["--ro-bind", str(path), str(path)])
        bound.append(path)
    # The reference implementation (a package) is replaced by the stub.
    cmd.extend(["--ro-bind", str(stub_dir / "scratch"), str(_package_dir() / "scratch")])
    for name in sorted(sandbox_etc(uid)):
        cmd.extend(["--ro-bind", str(stub_dir / "etc" / name), f"/etc/{name}"])
    cmd += ["--perms", "1777", "--dir", "/tmp/matplotlib"]
    for fontlist in _font_caches():  # skip matplotlib's font scan at every kernel start
        cmd += ["--ro-bind", str(fontlist), f"/tmp/matplotlib/{fontlist.name}"]
    cmd += ["--perms", "0755", "--dir", "/home"]
    cmd += [
        "--bind",
        str(workdir),
        SANDBOX_HOME,
        "--chdir",
        "/",
    ]  # kernel enters it as the student uid
    cmd += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if not limits.network:
        cmd.append("--unshare-net")
    cmd += ["--die-with-parent", "--new-session", "--hostname", "sandbox"]
    if os.geteuid() == 0:
        cmd += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        cmd.append("--unshare-user")
    cmd.append("--clearenv")
    for key, value in SANDBOX_ENV.items():
        cmd += ["--setenv", key, value]
    return cmd


def make_stub(uid: int, prefix: str = "course-rnn-stub-") -> Path:
    """A new folder with the ``course_rnn.scratch`` stub and the sandbox's /etc files."""
    stub = Path(tempfile.mkdtemp(prefix=prefix))
    stub.chmod(0o755)
    for folder, files in (("scratch", {"__init__.py": STUB}), ("etc", sandbox_etc(uid))):
        (stub / folder).mkdir(mode=0o755)
        for name, text in files.items():
            (stub / folder / name).write_text(text)
            (stub / folder / name).chmod(0o644)
    return stub


def _font_caches() -> list[Path]:
    """The host's matplotlib font list cache (read-only in the sandbox), if any."""
    dirs = [os.environ.get("MPLCONFIGDIR", ""), Path.home() / ".cache" / "matplotlib"]
    found = []
    for folder in dirs:
        if folder and Path(folder).is_dir():
            found += sorted(Path(folder).glob("fontlist-v*.json"))
    return found[:1]


class CGroups:
    """Per-sandbox cgroups capping the memory and processes of the sandbox as a whole.

    rlimits cap each process; a cgroup caps their sum, so many processes cannot add up
    past ``memory_mb``. Best effort: used where the cgroup v1 ``memory``/``pids``
    hierarchies or cgroup v2 with those controllers are writable (root on most hosts),
    silently skipped elsewhere (the rlimits still apply).
    """

    ROOT = Path("/sys/fs/cgroup")

    def __init__(self, name: str, memory_bytes: int, max_pids: int) -> None:
        self.dirs: list[Path] = []
        self._memory = memory_bytes
        v2 = self.ROOT / "cgroup.controllers"
        try:
            if v2.exists() and {"memory", "pids"} <= set(v2.read_text().split()):
                self._make(self.ROOT / name, {"memory.max": memory_bytes, "pids.max": max_pids})
            else:
                self._make(self.ROOT / "memory" / name, {
                    "memory.limit_in_bytes": memory_bytes,
                    "memory.memsw.limit_in_bytes": memory_bytes,
                })  # fmt: skip
                self._make(self.ROOT / "pids" / name, {"pids.max": max_pids})
        except OSError:
            pass

    def _make(self, path: Path, settings: dict[str, int]) -> None:
        if not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
            return
        try:
            path.mkdir()
        except FileExistsError:
            pass
        except OSError:
            return
        self.dirs.append(path)
        for key, value in settings.items():
            try:
                (path / key).write_text(str(value))
            except OSError:
                pass  # e.g. swap accounting off: memsw is missing

    def set_memory(self, memory_bytes: int) -> None:
        """Change the memory cap (e.g. once the zygote's own size is known)."""
        for path in self.dirs:
            names = ["memory.max", "memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
            if memory_bytes > self._memory:  # memsw must stay >= the memory limit
                names.reverse()
            for name in names:
                try:
                    if (path / name).exists():
                        (path / name).write_text(str(memory_bytes))
                except OSError:
                    pass
        self._memory = memory_bytes

    def enter(self) -> None:
        """Move the calling process (the child, before exec) into every cgroup."""
        pid = str(os.getpid()).encode()
        for path in self.dirs:
            try:
                fd = os.open(path / "cgroup.procs", os.O_WRONLY)
                os.write(fd, pid)
                os.close(fd)
            except OSError:
                pass

    def kill_all(self) -> None:
        """SIGKILL every process still in the cgroups."""
        for path in self.dirs:
            try:
                pids = (path / "cgroup.procs").read_text().split()
            except OSError:
                continue
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError, PermissionError):
                    pass

    def remove(self) -> None:
        """Remove the (emptied) cgroups; retries while the last processes exit."""
        for _ in range(50):
            left = []
            for path in self.dirs:
                try:
                    path.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    left.append(path)
            self.dirs = left
            if not left:
                return
            self.kill_all()
            time.sleep(0.02)


def cleanup_cgroups(owner_pid: int) -> None:
    """Kill and remove the cgroups left by a runner that was itself killed."""
    leftovers = CGroups.__new__(CGroups)
    leftovers.dirs = [
        *CGroups.ROOT.glob(f"course-rnn-{owner_pid}-*"),
        *CGroups.ROOT.glob(f"*/course-rnn-{owner_pid}-*"),
    ]
    leftovers.kill_all()
    leftovers.remove()


def sweep_stale_cgroups() -> None:
    """Remove cgroups of runners that no longer exist (e.g. a killed pipeline worker)."""
    owners = set()
    for path in [*CGroups.ROOT.glob("course-rnn-*"), *CGroups.ROOT.glob("*/course-rnn-*")]:
        owner = path.name.split("-")[2]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            owners.add(int(owner))
    for owner in owners:
        cleanup_cgroups(owner)


def _limit_resources(limits: Limits) -> None:
    """Runs in the child before exec (or in a zygote's child before the uid drop): rlimits
    inherited by everything the student's kernel starts."""
    mem = int(limits.memory_mb) << 20
    cpu = max(1, int(limits.cpu_time_s))
    for res, value in (
        (resource.RLIMIT_AS, mem),
        (resource.RLIMIT_CPU, cpu),
        (resource.RLIMIT_NPROC, int(limits.max_processes)),
        (resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT),
        (resource.RLIMIT_NOFILE, 1024),
        (resource.RLIMIT_CORE, 0),
    ):
        try:
            resource.setrlimit(res, (value, value))
        except (ValueError, OSError):
            pass


class KernelProcess:
    """One sandboxed student kernel and the trusted end of its channel."""

    def __init__(self, workdir: Path, limits: Limits, forbid: list[str], uid: int) -> None:
        self.workdir, self.limits, self.forbid, self.uid = workdir, limits, forbid, uid
        self.proc: subprocess.Popen | None = None
        self.channel: Channel | None = None
        self.callbacks: dict[int, Any] = {}
        self.sandboxed = bwrap_path() is not None
        self._stub: Path | None = None  # made at the first start
        self.on_output = None  # called with student output captured during calls
        self.cgroups: CGroups | None = None
        self.starts = 0

    # -- codec hooks (trusted side) -------------------------------------------------
    def export(self, obj: Any) -> dict[str, Any]:
        if isinstance(obj, RemoteObject):
            return {"$": "ref", "id": obj._id}
        if callable(obj):
            ident = len(self.callbacks) + 1
            self.callbacks[ident] = obj
            return {"$": "cb", "id": ident}
        raise TypeError(f"cannot send a {type(obj).__name__} to student code")

    def resolve(self, data: dict[str, Any]) -> Any:
        tag, ident = data.get("$"), data.get("id")
        if tag == "ref" and isinstance(ident, int) and not isinstance(ident, bool):
            return RemoteObject(
                self.channel,
                ident,
                str(data.get("type", "object"))[:100],
                str(data.get("r", ""))[:200],
                str(data.get("m", ""))[:200],
            )
        if tag == "cb" and ident in self.callbacks:
            return self.callbacks[ident]
        raise ProtocolError(f"unknown value tag {tag!r}")

    def handle(self, op: str, args: list[Any]) -> Any:
        """Requests from the kernel: only calls of callbacks the test passed to it."""
        if op != "call" or len(args) != 3 or not isinstance(args[2], dict):
            raise ProtocolError(f"operation {op!r} is not allowed from student code")
        func = args[0]
        if not any(func is f for f in self.callbacks.values()):
            raise ProtocolError("student code called something it was not given")
        return func(*args[1], **args[2])

    # -- life cycle -------------------------------------------------------------------
    def start(self, timeout: float) -> None:
        """Start the kernel and wait (at most ``timeout`` s) until it is ready."""
        config = {
            # Outside bubblewrap the Python installation may be unreadable to another uid
            # (e.g. under /root), so the fallback keeps the grader's uid.
            "uid": self.uid if self.sandboxed else 0,
            # Outside bubblewrap there is no stub over course_rnn.scratch: block its import.
            "forbid": self.forbid + ([] if self.sandboxed else ["course_rnn.scratch"]),
            "max_output_bytes": self.limits.max_output_bytes,
        }
        kernel_cmd = [sys.executable, "-s", "-m", "course_rnn.grading.kernel", json.dumps(config)]
        if os.geteuid() == 0:
            os.chown(self.workdir, self.uid, self.uid)  # the only folder the student may write
        if self.sandboxed:
            if self._stub is None:
                self._stub = make_stub(self.uid)
            cmd = bwrap_command(self.workdir, self._stub, self.limits, self.uid) + kernel_cmd
            env = None
        else:
            cmd = kernel_cmd
            env = {**os.environ, **SANDBOX_ENV, "HOME": str(self.workdir)}
        limits = self.limits
        self.cgroups = CGroups(
            f"course-rnn-{os.getpid()}-{self.uid}-{self.starts}",
            int(limits.memory_mb) << 20,
            int(limits.max_processes),
        )
        self.starts += 1
        cgroups = self.cgroups

        def prepare() -> None:
            cgroups.enter()
            _limit_resources(limits)

        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None if os.environ.get("COURSE_RNN_KERNEL_DEBUG") else subprocess.DEVNULL,
            cwd=str(self.workdir),
            env=env,
            start_new_session=True,
            preexec_fn=prepare,
        )
        self.channel = Channel(
            self.proc.stdout.fileno(),
            self.proc.stdin.fileno(),
            self.handle,
            self.export,
            self.resolve,
        )
        self.channel.on_reply = self._on_reply
        self.channel.allow_complex = False  # a complex answer is a wrong answer
        self.channel.deadline = time.monotonic() + timeout
        header, _ = self.channel.receive()
        if header.get("k") != "ready":
            raise ProtocolError("the kernel did not start")

    def _on_reply(self, header: dict[str, Any]) -> None:
        out = header.get("out")
        if isinstance(out, str) and out and self.on_output is not None:
            self.on_output(out)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_reason(self, wait: float = 0.0) -> str:
        """Why the kernel stopped, in words (waits up to ``wait`` s for it to end)."""
        if self.proc is None:
            return "not started"
        try:
            code = self.proc.wait(timeout=wait) if wait else self.proc.poll()
        except subprocess.TimeoutExpired:
            code = None
        if code is None:
            return "still running"
        if code < 0:
            return f"killed by signal {signal.Signals(-code).name}"
        if code in (128 + 9, 128 + 24):
            name = "SIGKILL" if code == 137 else "SIGXCPU (CPU time limit)"
            return f"killed by {name}"
        return f"exited with status {code}"

    def kill(self) -> None:
        """Kill the sandbox and everything in it."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass
        if self.cgroups is not None:
            self.cgroups.kill_all()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        if self.cgroups is not None:
            self.cgroups.remove()
            self.cgroups = None
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.channel = None

    def close(self) -> None:
        self.kill()
        if self._stub is not None:
            shutil.rmtree(self._stub, ignore_errors=True)
            self._stub = None

    def execute(self, source: str, timeout: float) -> dict[str, Any]:
        """Run one student cell; raises ChannelTimeout/ChannelClosed on trouble."""
        if self.channel is None:
            raise ChannelClosed("kernel not running")
        self.channel.deadline = time.monotonic() + timeout
        reply = self.channel.request("exec", source)
        if not isinstance(reply, dict):
            raise ProtocolError("bad exec reply")
        return reply
