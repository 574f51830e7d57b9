"""A zygote: one sandbox that imports numpy, torch and IPython once and forks a fresh
student kernel for every student (and every kernel restart).

A :class:`~course_rnn.grading.sandbox.KernelProcess` starts a new bubblewrap sandbox per
kernel, whose Python then imports numpy, IPython and (in most notebooks) torch: about
1.5 s of CPU before the student's first cell. A long-lived trusted runner owns one
:class:`Zygote` instead. It starts ONE sandbox (the same :func:`bwrap_command` view of the
host, namespaces and cgroup), where ``python -m course_rnn.grading.zygote`` imports what
a kernel needs and then waits on a control socket. For each kernel it forks a child that
takes its own protocol socket, starts a new session, closes the control socket, sets the
kernel's rlimits, drops root to the student uid (no groups, no capabilities, no new
privileges), blocks the forbidden names and serves the protocol of
:mod:`course_rnn.grading.kernel`.

No student's state reaches the next student: before every kernel the trusted side kills
every process of the sandbox uid (daemons and threads included) and checks that none is
left, a child of the zygote running as that uid empties ``/home/student``, ``/tmp``,
``/dev/shm`` and the uid's System V IPC objects and keyrings, and the kernel is forked
from the zygote, which never runs student code (its modules, globals and environment are
as they were after the imports). The zygote is root inside the sandbox: the student
(another uid, no capabilities) can neither signal nor trace it, nor open its descriptors.

Two halves live here: :class:`Zygote` and :class:`ZygoteKernel` run in the trusted
runner; :func:`main` (and what it calls) runs inside the sandbox, before any student code.
Where the grader is not root or bubblewrap cannot sandbox, :meth:`Zygote.kernel` hands
out a plain :class:`KernelProcess` (a fresh sandbox per kernel) and says so in
:attr:`Zygote.mode` and :attr:`Zygote.reason`.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from course_rnn.grading.limits import Limits
from course_rnn.grading.remote import Channel, ChannelTimeout, ProtocolError
from course_rnn.grading.sandbox import (
    SANDBOX_HOME,
    CGroups,
    KernelProcess,
    bwrap_command,
    bwrap_path,
    make_stub,
)

ZYGOTE_SLACK_MB = 64  # on top of the zygote's measured size in the sandbox's memory cap
ZYGOTE_START_MB = 1024  # the cap's extra room while the zygote imports
ZYGOTE_PROCESSES = 4  # bwrap, its init, the zygote, a cleaner: on top of max_processes
MAX_FAILURES = 3  # consecutive zygote failures before kernels get sandboxes of their own
CONTROL_FD = "control_fd"
DIR_PREFIX = "course-rnn-zygote-"  # + the owning runner's pid: see sweep_stale_dirs


class ZygoteError(Exception):
    """The zygote died, did not answer or could not make a clean kernel."""


class ZygoteStarting(Exception):
    """The caller's time ran out while the zygote still imports: not a failure (it goes
    on importing for the next kernel)."""


def unavailable_reason() -> str:
    """Why the zygote cannot be used here ('' when it can)."""
    if os.environ.get("COURSE_RNN_ZYGOTE", "1") == "0":
        return "turned off with COURSE_RNN_ZYGOTE=0"
    if os.geteuid() != 0:
        return "the grader does not run as root (kernels must drop to the sandbox uid)"
    if bwrap_path() is None:
        return "bubblewrap is missing or cannot create namespaces here"
    if not hasattr(socket, "send_fds"):
        return "this Python cannot pass file descriptors (socket.send_fds)"
    return ""


# --------------------------------------------------------------------- trusted side
def uid_processes(uid: int) -> list[int]:
    """Host pids of the live processes whose real, effective or saved uid is ``uid``."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except (OSError, ValueError):
            continue  # gone meanwhile
        try:
            uids = {int(u) for u in fields["Uid"].split()[:3]}
            state = fields["State"].split()[0]
            threads = int(fields["Threads"])
        except (KeyError, ValueError, IndexError):
            continue
        if uid in uids and not (state in ("Z", "X") and threads <= 1):
            found.append(int(entry.name))
    return found


def kill_uid(uid: int, timeout: float = 5.0) -> list[int]:
    """SIGKILL every process of ``uid`` until none is left; the survivors after ``timeout``.

    The sandbox uid belongs to one runner (see ``executor._claim_uid``), so these are the
    processes of the student graded last: their kernel, its children, daemons, threads.
    """
    if uid <= 0:
        raise ValueError("refusing to kill the processes of root")
    deadline = time.monotonic() + timeout
    pause = 0.002
    while True:
        pids = uid_processes(uid)
        if not pids or time.monotonic() > deadline:
            return pids
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(pause)
        pause = min(0.05, pause * 2)


def sweep_stale_dirs() -> None:
    """Remove the folders (stub, home) of zygotes whose runner is gone (e.g. SIGKILLed)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{DIR_PREFIX}*"):
        owner = folder.name[len(DIR_PREFIX) :].split("-")[0]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            shutil.rmtree(folder, ignore_errors=True)


class Zygote:
    """The trusted side of one zygote sandbox, owned by a long-lived runner.

    ``Zygote(limits, uid)`` starts the sandbox at once (without waiting for its imports);
    :meth:`kernel` returns an object with the :class:`KernelProcess` interface. A zygote
    that dies, stops answering or cannot make a clean kernel is killed with its whole
    sandbox and started again; after :data:`MAX_FAILURES` failures in a row (or where
    :func:`unavailable_reason` says so) kernels get a sandbox of their own, as before,
    and ``mode`` reads ``"fresh"``.
    """

    PING_TIMEOUT = 10.0
    REPLY_TIMEOUT = 30.0
    START_TIMEOUT = 300.0  # its imports on a loaded machine; past this it is stuck

    def __init__(self, limits: Limits | None, uid: int, start: bool = True) -> None:
        self.limits, self.uid = limits or Limits(), int(uid)
        self.reason = unavailable_reason()
        self.mode = "fresh" if self.reason else "zygote"
        self.proc: subprocess.Popen | None = None
        self.control: socket.socket | None = None
        self.cgroups: CGroups | None = None
        self.pid = 0  # the zygote's pid inside its sandbox
        self.size_mb = 0  # its resident size after the imports
        self.launches = 0
        self.failures = 0
        self.forks = 0
        self.clean = False  # True while the sandbox holds nothing of any student
        self._sequence = 0  # numbers the requests; the zygote's replies carry them
        self._ready = False
        self._launched_at = 0.0
        self._dir: Path | None = None
        if self.mode == "zygote":
            sweep_stale_dirs()
            self._dir = make_stub(self.uid, prefix=f"{DIR_PREFIX}{os.getpid()}-")
            self.home.mkdir(mode=0o755)
            os.chown(self.home, self.uid, self.uid)
            if start:
                self._launch()

    @staticmethod
    def available() -> bool:
        """True where kernels can be forked from a zygote (root, working bubblewrap)."""
        return not unavailable_reason()

    @property
    def home(self) -> Path:
        """The host folder bound at /home/student in the zygote's sandbox."""
        assert self._dir is not None
        return self._dir / "home"

    @property
    def restarts(self) -> int:
        return max(0, self.launches - 1)

    def __enter__(self) -> Zygote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the kernels ----------------------------------------------------------------
    def kernel(
        self, workdir: Path, forbid: list[str], limits: Limits | None = None
    ) -> KernelProcess:
        """A kernel for one student: forked from this zygote, or a sandbox of its own.

        ``workdir``'s files (usually none) are copied into the student's empty home at
        the first start. Different ``limits`` restart the zygote with them.
        """
        if limits is not None and limits != self.limits:
            self.stop()
            self.limits = limits
        if self.mode != "zygote":
            return KernelProcess(Path(workdir), self.limits, list(forbid), self.uid)
        return ZygoteKernel(self, Path(workdir), list(forbid))

    def failed(self, exc: BaseException) -> None:
        """Count a failure; start a new sandbox; give up on the zygote after too many.

        The new sandbox starts at once, so its imports run while the runner finishes
        this student, not in the next student's time."""
        self.failures += 1
        self.stop()
        if self.failures >= MAX_FAILURES:
            self.mode = "fresh"
            self.reason = f"the zygote failed {self.failures} times in a row ({exc})"
            return
        try:
            self._launch()
        except (OSError, subprocess.SubprocessError, ZygoteError):
            pass  # ensure() tries again (and counts it) at the next kernel

    # -- the sandbox ----------------------------------------------------------------
    def _launch(self) -> None:
        assert self._dir is not None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        config = {CONTROL_FD: theirs.fileno(), "uid": self.uid}
        kernel_cmd = [sys.executable, "-s", "-m", "course_rnn.grading.zygote", json.dumps(config)]
        cmd = bwrap_command(self.home, self._dir, self.limits, self.uid) + kernel_cmd
        memory = int(self.limits.memory_mb) + ZYGOTE_START_MB
        self.cgroups = CGroups(
            f"course-rnn-{os.getpid()}-{self.uid}-zygote{self.launches}",
            memory << 20,
            int(self.limits.max_processes) + ZYGOTE_PROCESSES,
        )
        cgroups = self.cgroups
        debug = os.environ.get("COURSE_RNN_KERNEL_DEBUG")
        self.launches += 1
        try:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=None if debug else subprocess.DEVNULL,
                cwd="/",
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
                preexec_fn=cgroups.enter,
            )
        finally:
            theirs.close()
        self.control = ours
        self._ready = False
        self._launched_at = time.monotonic()
        self.clean = True  # a new sandbox, an emptied home (see stop)

    def _wait_ready(self, deadline: float) -> None:
        """Take the zygote's "ready" (sent once its imports are done).

        Its imports take 2-15 s on a loaded machine. When ``deadline`` (a kernel's start)
        comes first, the zygote is left importing for the next kernel and
        :class:`ZygoteStarting` is raised: killing it would throw its imports away and
        make the next student wait for them again. It counts as failed only when it
        dies or is still silent :attr:`START_TIMEOUT` s after its launch.
        """
        limit = self._launched_at + self.START_TIMEOUT
        if (
            deadline < limit
            and self.control is not None
            and not select.select([self.control], [], [], max(0.0, deadline - time.monotonic()))[0]
            and self.proc is not None
            and self.proc.poll() is None
        ):
            raise ZygoteStarting("the zygote is still importing")
        message = self._receive(limit)
        if message.get("k") != "ready":
            raise ZygoteError(f"the zygote did not start: {message.get('error', message)}")
        self.pid = int(message.get("pid", 0))
        self.size_mb = int(message.get("rss_kb", 0)) // 1024
        if self.cgroups is not None:
            extra = self.size_mb + ZYGOTE_SLACK_MB
            self.cgroups.set_memory((int(self.limits.memory_mb) + extra) << 20)
        self._ready = True

    def ensure(self, deadline: float) -> None:
        """A started, answering zygote (started again when it died or hangs)."""
        if self.proc is not None and self.proc.poll() is None and self._ready:
            try:
                reply = self.request({"op": "ping"}, timeout=self.PING_TIMEOUT)
                if reply.get("threads") == 1:
                    return
            except ZygoteError:
                pass
            self.stop()  # it hangs or started threads: it cannot fork cleanly
        if self.proc is None or self.proc.poll() is not None:
            self.stop()
            self._launch()
        self._wait_ready(deadline)

    def _receive(self, deadline: float) -> dict[str, Any]:
        if self.control is None:
            raise ZygoteError("the zygote is not running")
        left = max(0.0, deadline - time.monotonic())  # a reply already there is taken
        if not select.select([self.control], [], [], left)[0]:
            raise ZygoteError("the zygote did not answer in time")
        try:
            data = self.control.recv(1 << 16)
        except OSError as exc:
            raise ZygoteError(f"the zygote's socket failed ({exc})") from exc
        if not data:
            raise ZygoteError("the zygote stopped")
        try:
            message = json.loads(data)
        except ValueError as exc:
            raise ZygoteError("the zygote sent a bad message") from exc
        if not isinstance(message, dict):
            raise ZygoteError("the zygote sent a bad message")
        return message

    def request(
        self, message: dict[str, Any], fds: tuple[int, ...] = (), timeout: float | None = None
    ) -> dict[str, Any]:
        """Send one command (with file descriptors) and return the zygote's reply."""
        if self.control is None or not self._ready:
            raise ZygoteError("the zygote is not running")
        self._sequence += 1
        message = {**message, "n": self._sequence}
        try:
            socket.send_fds(self.control, [json.dumps(message).encode()], list(fds))
        except OSError as exc:
            raise ZygoteError(f"the zygote's socket failed ({exc})") from exc
        deadline = time.monotonic() + (timeout or self.REPLY_TIMEOUT)
        reply = self._receive(deadline)
        while reply.get("n") != self._sequence:  # the reply to a request cut short (SIGALRM)
            reply = self._receive(deadline)
        if not reply.get("ok"):
            raise ZygoteError(str(reply.get("error", "the zygote refused"))[:500])
        return reply

    def reset(self, home: bool, workdir: Path | None = None) -> None:
        """Nothing of the last kernel left: no process of the uid, empty /tmp and
        /dev/shm, and (``home``) an empty home holding a copy of ``workdir``'s files."""
        if kill_uid(self.uid):
            raise ZygoteError("processes of the previous kernel could not be killed")
        self.request({"op": "clean", "home": home})
        if kill_uid(self.uid):
            raise ZygoteError("a process of the sandbox uid survived the cleaning")
        if home:
            if any(self.home.iterdir()):
                raise ZygoteError("the home folder could not be emptied")
            self.clean = True
            if workdir is not None:
                _copy_into(workdir, self.home, self.uid)

    def child_status(self, pid: int, wait: float = 0.0) -> int | None:
        """The wait status of a kernel the zygote forked (None while it runs).

        Raises ZygoteError when the zygote is gone (its kernels died with it)."""
        if self.proc is None or self.proc.poll() is not None:
            raise ZygoteError("the zygote stopped")
        reply = self.request({"op": "status", "pid": pid, "wait": wait}, timeout=wait + 10)
        status = reply.get("status")
        return status if isinstance(status, int) else None

    def stop(self) -> None:
        """Kill the sandbox and everything in it (a later kernel starts a new one)."""
        proc, self.proc = self.proc, None
        self._ready = False
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.kill()
            except ProcessLookupError:
                pass
        if self.cgroups is not None:
            self.cgroups.kill_all()
        if proc is not None:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self.mode == "zygote" or self.launches:
            kill_uid(self.uid)
        if self.cgroups is not None:
            self.cgroups.remove()
            self.cgroups = None
        if self.control is not None:
            self.control.close()
            self.control = None
        if self._dir is not None and self.home.exists():
            # The sandbox is gone: nothing can race the host emptying the home folder.
            shutil.rmtree(self.home, ignore_errors=True)
            self.home.mkdir(mode=0o755, exist_ok=True)
            os.chown(self.home, self.uid, self.uid)

    def close(self) -> None:
        """Stop the zygote and remove its folders."""
        self.stop()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def _copy_into(source: Path, target: Path, uid: int) -> None:
    """Copy ``source``'s files into ``target`` (no links followed), owned by ``uid``."""
    if not source.is_dir():
        return
    for entry in source.iterdir():
        dest = target / entry.name
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, dest, symlinks=True)
        else:
            shutil.copy2(entry, dest, follow_symlinks=False)
    for root, dirs, files in os.walk(target):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(root, name), uid, uid)


class ZygoteKernel(KernelProcess):
    """A student kernel forked from a :class:`Zygote`, with the KernelProcess interface.

    When the zygote cannot make a kernel (it died twice in a row, or cannot be cleaned),
    this kernel falls back to a sandbox of its own (``fresh``), as a KernelProcess would.
    """

    def __init__(self, zygote: Zygote, workdir: Path, forbid: list[str]) -> None:
        super().__init__(workdir, zygote.limits, forbid, zygote.uid)
        self.zygote = zygote
        self.fresh = False  # True once it fell back to a sandbox of its own
        self.pid = 0  # the kernel's pid inside the zygote's sandbox
        self.sock: socket.socket | None = None
        self._home_ready = False

    def start(self, timeout: float) -> None:
        """Fork a kernel from the zygote and wait (at most ``timeout`` s) until it is ready."""
        deadline = time.monotonic() + timeout
        if not self.fresh and self.zygote.mode == "zygote":
            for _ in range(2):
                try:
                    self._fork(deadline)
                except ZygoteStarting:
                    # Out of time while the zygote imports (after a relaunch, on a loaded
                    # machine): as a sandbox of its own that is slow to start would be.
                    raise ChannelTimeout("no reply before the time limit") from None
                except ZygoteError as exc:
                    self._drop_channel()
                    self._home_ready = False  # stopping the zygote emptied the home
                    self.zygote.failed(exc)  # the next attempt starts a new zygote
                    if self.zygote.mode != "zygote" or time.monotonic() >= deadline:
                        break
                    continue
                self.zygote.failures = 0
                header, _ = self.channel.receive()
                if header.get("k") != "ready":
                    raise ProtocolError("the kernel did not start")
                return
        self.fresh = True  # never unsandboxed: a sandbox of its own, as before
        kill_uid(self.uid)
        super().start(max(1.0, deadline - time.monotonic()))

    def _fork(self, deadline: float) -> None:
        zygote = self.zygote
        zygote.ensure(deadline)
        first = not self._home_ready
        if first and zygote.clean and not uid_processes(self.uid):
            _copy_into(self.workdir, zygote.home, self.uid)  # emptied when the last closed
        else:
            zygote.reset(home=first, workdir=self.workdir if first else None)
        self._home_ready = True
        zygote.clean = False
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        config = {
            "uid": self.uid,
            "forbid": self.forbid,
            "max_output_bytes": self.limits.max_output_bytes,
            "memory_mb": self.limits.memory_mb,
            "cpu_time_s": self.limits.cpu_time_s,
            "max_processes": self.limits.max_processes,
        }
        try:
            reply = zygote.request({"op": "fork", "config": config}, fds=(theirs.fileno(),))
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        zygote.forks += 1
        self.starts += 1
        self.pid = int(reply.get("pid", 0))
        self.sock = ours
        self.channel = Channel(ours.fileno(), ours.fileno(), self.handle, self.export, self.resolve)
        self.channel.on_reply = self._on_reply
        self.channel.allow_complex = False  # a complex answer is a wrong answer
        self.channel.deadline = deadline

    def alive(self) -> bool:
        if self.fresh:
            return super().alive()
        if not self.pid or self.channel is None:
            return False
        try:
            return self.zygote.child_status(self.pid) is None
        except ZygoteError:
            return False

    def exit_reason(self, wait: float = 0.0) -> str:
        if self.fresh:
            return super().exit_reason(wait)
        if not self.pid:
            return "not started"
        try:
            status = self.zygote.child_status(self.pid, wait)
        except ZygoteError:
            return "killed with its sandbox (the zygote stopped)"
        if status is None:
            return "still running"
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            if sig == signal.SIGXCPU:
                return "killed by SIGXCPU (CPU time limit)"
            return f"killed by signal {signal.Signals(sig).name}"
        return f"exited with status {os.WEXITSTATUS(status)}"

    def _drop_channel(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.channel = None

    def kill(self) -> None:
        """Kill the kernel and every process it started (the zygote stays)."""
        if self.fresh:
            super().kill()
            return
        self._drop_channel()
        if not self.pid:
            return
        if kill_uid(self.uid):
            self.zygote.failed(ZygoteError("a kernel process could not be killed"))

    def close(self) -> None:
        """Kill the kernel and leave the zygote's sandbox empty for the next student."""
        self.kill()
        if not self.fresh and self.pid and self.zygote._ready:
            try:
                self.zygote.reset(home=True)
            except ZygoteError as exc:
                self.zygote.failed(exc)
        if self._stub is not None:  # made only if it fell back to a sandbox of its own
            shutil.rmtree(self._stub, ignore_errors=True)
            self._stub = None


# ------------------------------------------------------------- inside the sandbox
def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _rss_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _become(uid: int) -> None:
    """Drop root for good: the uid, no groups, no capabilities, no new privileges."""
    from course_rnn.grading.kernel import _drop_privileges

    _drop_privileges(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise PermissionError("could not drop root")


def _wipe(folder: str) -> list[str]:
    """Delete everything the current uid owns under ``folder``; what it could not."""
    me, left = os.getuid(), []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return left
    device = os.lstat(folder).st_dev
    for entry in entries:
        try:
            st = os.lstat(entry.path)
            owned = st.st_uid == me
            if entry.is_dir(follow_symlinks=False) and st.st_dev == device:
                if owned:
                    os.chmod(entry.path, 0o700)  # the student may have made it unreadable
                left += _wipe(entry.path)
                if owned:
                    os.rmdir(entry.path)
            elif owned:
                os.unlink(entry.path)
        except OSError:
            left.append(entry.path)
    return left


def _remove_sysv_ipc() -> None:
    """Remove the System V shared memory, semaphores and message queues we own."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    removers = {"shm": libc.shmctl, "msg": libc.msgctl}
    for kind in ("shm", "msg", "sem"):
        try:
            lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            ident = int(line.split()[1])
            if kind == "sem":
                libc.semctl(ident, 0, 0)  # IPC_RMID
            else:
                removers[kind](ident, 0, None)  # fails for objects of other users


def _clear_keyrings() -> None:
    """Empty the uid's user keyrings (they outlive its processes)."""
    import ctypes
    import platform

    number = {"x86_64": 250, "aarch64": 219}.get(platform.machine())
    if number is None:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for keyring in (-4, -5):  # KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING
        libc.syscall(number, 7, keyring)  # KEYCTL_CLEAR


def _clean(uid: int, home: bool) -> int:
    """In a child of the zygote, as the student uid: empty what the last kernel wrote."""
    _become(uid)
    left = []
    for folder in ([SANDBOX_HOME] if home else []) + ["/tmp", "/dev/shm"]:
        left += _wipe(folder)
    _remove_sysv_ipc()
    _clear_keyrings()
    return 3 if left else 0


def _kernel_child(config: dict[str, Any], sock_fd: int, control_fd: int) -> None:
    """In the forked child: become the student's kernel (never returns)."""
    import resource

    from course_rnn.grading import kernel
    from course_rnn.grading.sandbox import _limit_resources

    os.setsid()
    os.close(control_fd)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, sock_fd)  # the control socket and anything else of the zygote
    os.closerange(sock_fd + 1, 1 << 16)
    limits = Limits(
        memory_mb=config["memory_mb"],
        cpu_time_s=config["cpu_time_s"],
        max_processes=config["max_processes"],
    )
    _limit_resources(limits)
    resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, 0))  # no POSIX queue outlives it
    _become(int(config["uid"]))
    os.chdir(SANDBOX_HOME)
    import numpy

    numpy.random.seed()  # a fresh process would draw a new seed
    kernel.serve(config, sock_fd, sock_fd)


def _serve(control: socket.socket, uid: int) -> None:
    statuses: dict[int, int] = {}
    running: set[int] = set()

    def reap() -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            running.discard(pid)
            statuses[pid] = status
            if len(statuses) > 1000:
                statuses.pop(next(iter(statuses)))

    while True:
        try:
            data, fds, _, _ = socket.recv_fds(control, 1 << 16, 4)
        except OSError:
            return
        if not data:
            return
        reap()
        number = None
        try:
            message = json.loads(data)
            number = message.get("n")
            reply = _command(message, fds, uid, statuses, running, reap, control.fileno())
        except Exception as exc:  # noqa: BLE001 - answered, the zygote carries on
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        finally:
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
        control.send(json.dumps({**reply, "n": number}).encode())


def _command(message, fds, uid, statuses, running, reap, control_fd) -> dict[str, Any]:
    op = message.get("op")
    if op == "ping":
        return {"ok": True, "threads": _threads(), "rss_kb": _rss_kb()}
    if op == "status":
        pid, wait = int(message["pid"]), float(message.get("wait", 0))
        deadline = time.monotonic() + min(wait, 60.0)
        while pid in running and time.monotonic() < deadline:
            time.sleep(0.01)
            reap()
        if pid in running:
            return {"ok": True, "status": None}
        return {"ok": True, "status": statuses.get(pid, 0)}
    if op == "fork":
        if len(fds) != 1:
            raise ValueError("fork needs one socket")
        if _threads() != 1:
            raise RuntimeError("the zygote has threads: it cannot fork cleanly")
        config = message["config"]
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                _kernel_child(config, fds[0], control_fd)
                code = 0
            finally:
                os._exit(code)
        running.add(pid)
        return {"ok": True, "pid": pid}
    if op == "clean":
        pid = os.fork()
        if pid == 0:
            code = 4
            try:
                os.setsid()
                os.closerange(3, 1 << 16)
                code = _clean(uid, bool(message.get("home")))
            finally:
                os._exit(code)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)
                if code:
                    raise RuntimeError(f"the cleaner failed (status {code})")
                return {"ok": True}
            time.sleep(0.002)
        raise RuntimeError("the cleaner did not finish")
    raise ValueError(f"unknown command {op!r}")


def main() -> None:
    """Entry point inside the sandbox: import, then fork kernels on request."""
    import gc

    config = json.loads(sys.argv[1])
    control = socket.socket(fileno=int(config[CONTROL_FD]))
    os.closerange(3, control.fileno())
    try:
        import ctypes  # noqa: F401 - used by the cleaner: imported once, here
        import platform  # noqa: F401

        from course_rnn.grading import kernel

        kernel.preload()
    except Exception as exc:  # noqa: BLE001 - say why, then stop
        control.send(json.dumps({"k": "failed", "error": repr(exc)[:500]}).encode())
        return
    gc.collect()
    gc.freeze()  # fewer pages copied into each child by the collector
    ready = {"k": "ready", "pid": os.getpid(), "rss_kb": _rss_kb(), "threads": _threads()}
    control.send(json.dumps(ready).encode())
    _serve(control, int(config["uid"]))


if __name__ == "__main__":
    main()
