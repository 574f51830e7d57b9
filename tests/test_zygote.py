"""The zygote forks each student's kernel from a pre-imported, pristine sandbox, and
nothing a student leaves behind reaches the student graded after them.

One zygote serves the whole module (its start imports torch once); the tests that need a
zygote of their own (killed, hung, failing) start one each.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

import pytest

from course_rnn.grading import zygote as zmod
from course_rnn.grading.executor import _claim_uid
from course_rnn.grading.limits import Limits
from course_rnn.grading.remote import ChannelTimeout
from course_rnn.grading.sandbox import KernelProcess, bwrap_path
from course_rnn.grading.zygote import Zygote, ZygoteKernel, uid_processes

pytestmark = pytest.mark.grading

LIMITS = Limits(cell_timeout_s=20, memory_mb=1024, max_processes=16, cpu_time_s=60)


def _claim_uids(count: int) -> tuple[list[int], list[int]]:
    """Sandbox uids held by this test run alone, claimed as the grader claims its own
    (``executor._claim_uid``): the tests kill every process of their uids."""
    claims = [_claim_uid() for _ in range(count)]
    return [uid for uid, _ in claims], [fd for _, fd in claims]


UIDS, _LOCKS = _claim_uids(3)
UID = UIDS[0]


def require_zygote() -> None:
    """Fail (never skip) where the zygote cannot run: CI and this machine run as root
    with bubblewrap, and a zygote that silently fell back must not pass these tests."""
    if bwrap_path() is None or os.geteuid() != 0:
        pytest.fail("the zygote needs root and a working bubblewrap (apt-get install bubblewrap)")


@pytest.fixture(scope="module")
def zygote():
    require_zygote()
    with Zygote(LIMITS, UID) as z:
        assert z.mode == "zygote", z.reason
        yield z


def run(kernel, source: str) -> dict:
    reply = kernel.execute(source, 30)
    errors = [o for o in reply["outputs"] if o.get("output_type") == "error"]
    assert not errors, errors
    return reply


def fetch(kernel, name: str):
    return kernel.channel.request("names", [name])[name]


HOSTILE_A = [
    # globals, patched modules and builtins, the environment
    """
import builtins, os, sys
import numpy, torch
LEFT = 42
torch.tensor = lambda *a, **k: "patched"
numpy.sum = lambda *a, **k: -1
builtins.abs = lambda x: "patched"
os.environ["LEFTOVER"] = "A"
sys.modules["course_rnn_leftover"] = sys
""",
    # files everywhere it can write (/dev/shm is read-only in the sandbox: tried anyway)
    """
import os
for path in ("/home/student/a.txt", "/tmp/a.txt", "/tmp/matplotlib/a.txt", "/dev/shm/a.txt"):
    try:
        with open(path, "w") as fh:
            fh.write("A was here")
    except OSError:
        pass
os.makedirs("/home/student/sub/deeper", exist_ok=True)
open("/home/student/sub/deeper/b.txt", "w").write("A")
os.chmod("/home/student/sub", 0o500)  # hard to delete
os.makedirs("/tmp/hidden", exist_ok=True)
os.chmod("/tmp/hidden", 0)
""",
    # a System V shared memory segment (outlives its processes)
    """
import ctypes
assert ctypes.CDLL(None).shmget(4242, 4096, 0o1000 | 0o666) >= 0
""",
    # a thread and a double-forked daemon that keep writing
    """
import os, threading, time

def scribble(path):
    while True:
        try:
            with open(path, "a") as fh:
                fh.write("x")
        except OSError:
            pass
        time.sleep(0.02)

threading.Thread(target=scribble, args=("/home/student/thread.txt",), daemon=True).start()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for fd in range(3, 1024):
            try:
                os.close(fd)
            except OSError:
                pass
        while True:
            scribble("/tmp/daemon.txt")
    os._exit(0)
for _ in range(500):
    if os.path.exists("/tmp/daemon.txt") and os.path.exists("/home/student/thread.txt"):
        break
    time.sleep(0.01)
else:
    raise AssertionError("the daemon and the thread did not start")
""",
]

CHECK_B = """
import builtins, ctypes, os, sys, threading, time
import numpy, torch
time.sleep(0.3)  # a surviving daemon would write again meanwhile
me = os.getuid()
mine = []
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) != os.getpid():
        try:
            status = open(f"/proc/{pid}/status").read()
        except OSError:
            continue
        uids = [line.split()[1:] for line in status.splitlines() if line.startswith("Uid:")][0]
        if str(me) in uids:
            mine.append(pid)
def files(top):
    found = []
    for root, dirs, names in os.walk(top):
        for name in dirs + names:
            path = os.path.join(root, name)
            if os.lstat(path).st_uid != 0:
                found.append(path)
    return sorted(found)
report = {
    "globals": "LEFT" in globals(),
    "tensor": type(torch.tensor([1.0])).__name__,
    "sum": int(numpy.sum([1, 2])),
    "abs": abs(-2),
    "env": os.environ.get("LEFTOVER"),
    "modules": "course_rnn_leftover" in sys.modules,
    "home": sorted(os.listdir("/home/student")),
    "tmp": files("/tmp"),
    "shm": files("/dev/shm"),
    "threads": threading.active_count(),
    "processes": mine,
    "sysv": ctypes.CDLL(None).shmget(4242, 0, 0),
}
"""

CLEAN = {
    "globals": False,
    "tensor": "Tensor",
    "sum": 3,
    "abs": 2,
    "env": None,
    "modules": False,
    "home": [],
    "tmp": [],
    "shm": [],
    "threads": 1,
    "processes": [],
    "sysv": -1,
}


def test_hostile_student_leaves_nothing_for_the_next(zygote, tmp_path):
    a = zygote.kernel(tmp_path / "a", [])
    assert isinstance(a, ZygoteKernel)
    a.start(60)
    for source in HOSTILE_A:
        run(a, source)
    assert len(uid_processes(UID)) >= 2  # A's kernel and its daemon
    a.close()

    b = zygote.kernel(tmp_path / "b", [])
    b.start(60)
    try:
        first = run(b, CHECK_B)
        assert first["count"] == 1  # a fresh shell: A's cells are not in its history
        assert fetch(b, "report") == CLEAN
        assert len(uid_processes(UID)) == 1  # B's kernel alone
        assert not b.fresh and zygote.restarts == 0
    finally:
        b.close()


def test_student_cannot_reach_the_zygote(zygote, tmp_path):
    k = zygote.kernel(tmp_path, [])
    k.start(60)
    try:
        run(
            k,
            """
import ctypes, os, signal
zygote = os.getppid()
sockets = []
for fd in os.listdir("/proc/self/fd"):
    try:
        if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
            sockets.append(fd)
    except FileNotFoundError:
        pass  # the descriptor listdir itself used
def denied(action):
    try:
        action()
    except PermissionError:
        return True
    return False
libc = ctypes.CDLL(None, use_errno=True)
status = open("/proc/self/status").read()
report = {
    "uid": os.getuid(),
    "zygote_cmd": open(f"/proc/{zygote}/cmdline").read().split("\\0")[3],
    "zygote_uid": open(f"/proc/{zygote}/status").read().split("Uid:")[1].split()[0],
    "sockets": len(sockets),
    "signal": denied(lambda: os.kill(zygote, signal.SIGKILL)),
    "fds": denied(lambda: os.listdir(f"/proc/{zygote}/fd")),
    "mem": denied(lambda: open(f"/proc/{zygote}/mem", "rb")),
    "ptrace": libc.ptrace(16, zygote, None, None) == -1 and ctypes.get_errno() == 1,
    "caps": status.split("CapEff:")[1].split()[0],
    "no_new_privs": status.split("NoNewPrivs:")[1].split()[0],
    "pid": os.getpid(),
}
""",
        )
        report = fetch(k, "report")
    finally:
        k.close()
    assert report == {
        "uid": UID,
        "zygote_cmd": "course_rnn.grading.zygote",
        "zygote_uid": "0",
        "sockets": 1,  # the kernel's own protocol socket: the control socket is closed
        "signal": True,
        "fds": True,
        "mem": True,
        "ptrace": True,
        "caps": "0000000000000000",
        "no_new_privs": "1",
        "pid": report["pid"],
    }
    assert report["pid"] != zygote.pid  # the zygote itself never runs student code


def test_forbidden_names_and_restarts_stay_with_one_student(zygote, tmp_path):
    k = zygote.kernel(tmp_path, ["numpy.linalg.norm"])
    k.start(60)
    try:
        reply = k.execute("import numpy as np\nnp.linalg.norm([3.0, 4.0])", 30)
        assert reply["outputs"][-1]["ename"] == "ForbiddenError"
        run(k, "open('/home/student/kept', 'w').write('1'); open('/tmp/x', 'w').write('1')")
        k.kill()  # a kernel restart within one notebook, as the runner does on a crash
        assert not k.alive()
        k.start(60)
        kept = "import os\nreport = [os.path.exists(p) for p in ('/home/student/kept', '/tmp/x')]"
        run(k, kept)
        assert fetch(k, "report") == [True, False]  # the home stays, /tmp is new
        try:
            k.execute("import os\nos._exit(7)", 30)
        except Exception:  # noqa: BLE001 - the channel closes
            pass
        assert k.exit_reason(wait=5) == "exited with status 7"
    finally:
        k.close()
    other = zygote.kernel(tmp_path, [])
    other.start(60)
    try:
        run(other, "import numpy as np\nvalue = float(np.linalg.norm([3.0, 4.0]))")
        assert fetch(other, "value") == 5.0  # the forbid list was the other notebook's
    finally:
        other.close()


def test_fork_bomb_costs_only_its_own_notebook(zygote, tmp_path):
    k = zygote.kernel(tmp_path, [])
    k.start(60)
    run(
        k,
        """
import os, time
children = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(1000)
            os._exit(0)
        children += 1
except OSError:
    pass
""",
    )
    assert fetch(k, "children") >= LIMITS.max_processes // 2
    k.close()
    nxt = zygote.kernel(tmp_path, [])
    nxt.start(60)
    try:
        run(nxt, "import os\npid = os.getpid()")
        assert len(uid_processes(UID)) == 1 and not nxt.fresh
    finally:
        nxt.close()


def _zygote_host_pid(z: Zygote) -> int:
    """The zygote's pid as the host sees it (a descendant of bwrap with its inner pid)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("NSpid", "").split()[-1:] != [str(z.pid)] or fields["Uid"].split()[0] != "0":
            continue
        pid = int(entry)
        while pid > 1:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            if pid == z.proc.pid:
                return int(entry)
    raise AssertionError("zygote process not found")


def test_dead_or_hung_zygote_is_restarted(zygote, tmp_path, monkeypatch):
    monkeypatch.setattr(zygote, "PING_TIMEOUT", 1.0)
    for sig in (signal.SIGKILL, signal.SIGSTOP):  # dies (e.g. in a fork bomb) / hangs
        launches = zygote.launches
        os.kill(_zygote_host_pid(zygote), sig)
        k = zygote.kernel(tmp_path, [])
        k.start(120)
        try:
            run(k, "x = 1")
            assert zygote.launches == launches + 1 and not k.fresh
        finally:
            k.close()


def test_a_kernel_killed_mid_cell_is_followed_by_one_that_starts_at_once(zygote, tmp_path):
    """The runner kills a kernel whose cell runs past its time limit (SIGKILL while
    busy): a restart, and the next student's kernel, are forked from the same zygote
    within seconds and run cells."""
    launches = zygote.launches
    stuck = zygote.kernel(tmp_path, [])
    stuck.start(60)
    for restart in (True, False):  # a restart is kill + start on the same kernel
        with pytest.raises(ChannelTimeout):
            stuck.execute("while True:\n    pass\n", 1)
        stuck.kill()
        if restart:
            stuck.start(5)
    stuck.close()
    nxt = zygote.kernel(tmp_path, [])
    started = time.monotonic()
    nxt.start(5)
    try:
        run(nxt, "x = 1")
        assert time.monotonic() - started < 5
        assert not nxt.fresh and zygote.launches == launches and zygote.failures == 0
    finally:
        nxt.close()


def test_a_start_out_of_time_while_the_zygote_imports_keeps_the_zygote(tmp_path):
    """A notebook whose time runs out while the zygote imports (its first start, or a
    relaunch on a loaded machine) loses its own kernel only. The zygote is neither killed
    nor counted as failed: it goes on importing and the next kernel is forked from it,
    instead of waiting for a new zygote's imports all over again (a correct notebook
    graded after a stuck one lost every mark that way). A zygote that did fail is
    replaced at once, between students, not at the next kernel's start."""
    require_zygote()
    with Zygote(LIMITS, UIDS[1]) as z:
        early = z.kernel(tmp_path, [])
        with pytest.raises(ChannelTimeout):
            early.start(0.2)  # importing torch alone takes longer
        early.close()
        late = z.kernel(tmp_path, [])
        late.start(120)
        try:
            run(late, "x = 1")
            assert not late.fresh and z.launches == 1 and z.failures == 0
        finally:
            late.close()
        z.failed(zmod.ZygoteError("a process survived"))
        assert z.launches == 2 and z.proc is not None and z.proc.poll() is None
        again = z.kernel(tmp_path, [])
        again.start(120)
        try:
            run(again, "x = 2")
            assert not again.fresh and z.launches == 2
        finally:
            again.close()


def test_failing_zygote_falls_back_to_a_sandbox_per_kernel(tmp_path, monkeypatch):
    require_zygote()
    monkeypatch.setattr(zmod, "MAX_FAILURES", 2)
    with Zygote(LIMITS, UIDS[2], start=False) as z:
        monkeypatch.setattr(z, "_launch", lambda: (_ for _ in ()).throw(zmod.ZygoteError("no")))
        k = z.kernel(tmp_path, [])
        k.start(120)
        try:
            run(k, "import os\nreport = [os.getuid(), os.path.isdir('/home/student')]")
            assert fetch(k, "report") == [UIDS[2], True]  # still sandboxed, as the student
            assert k.fresh and k.sandboxed
        finally:
            k.close()
        assert z.mode == "fresh" and "failed 2 times" in z.reason
        assert type(z.kernel(tmp_path, [])) is KernelProcess


@pytest.mark.parametrize("problem", ["not root", "no bubblewrap"])
def test_not_available_means_a_sandbox_per_kernel(tmp_path, monkeypatch, problem):
    if problem == "not root":
        monkeypatch.setattr(os, "geteuid", lambda: 1000)
    else:
        monkeypatch.setattr(zmod, "bwrap_path", lambda: None)
    assert not Zygote.available()
    z = Zygote(LIMITS, UIDS[1])
    assert z.mode == "fresh" and z.proc is None
    assert ("root" if problem == "not root" else "bubblewrap") in z.reason
    kernel = z.kernel(tmp_path, [])
    assert type(kernel) is KernelProcess and kernel.uid == UIDS[1]
    kernel.close()
    z.close()


def test_folders_of_a_killed_runner_are_swept(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = 2**22 + 1  # above the kernel's pid_max: no such process
    for owner in (dead, os.getpid()):
        (tmp_path / f"{zmod.DIR_PREFIX}{owner}-abc" / "home").mkdir(parents=True)
    zmod.sweep_stale_dirs()
    assert [p.name for p in tmp_path.iterdir()] == [f"{zmod.DIR_PREFIX}{os.getpid()}-abc"]


def test_kill_uid_refuses_root():
    with pytest.raises(ValueError):
        zmod.kill_uid(0)


def test_sandbox_memory_cap_counts_the_zygote(zygote):
    if zygote.cgroups is None or not zygote.cgroups.dirs:
        pytest.skip("no writable cgroup hierarchy here")
    path = zygote.cgroups.dirs[0]
    name = "memory.max" if (path / "memory.max").exists() else "memory.limit_in_bytes"
    cap = int((path / name).read_text())
    assert zygote.size_mb > 50
    expected = (LIMITS.memory_mb + zygote.size_mb + zmod.ZYGOTE_SLACK_MB) << 20
    assert abs(cap - expected) < 1 << 20


def _tiny():
    import importlib.util
    import sys

    if "hostile_tiny" not in sys.modules:
        path = Path(__file__).parent / "fixtures/hostile/tiny.py"
        spec = importlib.util.spec_from_file_location("hostile_tiny", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["hostile_tiny"] = module
        spec.loader.exec_module(module)
    return sys.modules["hostile_tiny"]


def test_the_runner_uses_zygote_kernels_unchanged(zygote, tmp_path, monkeypatch):
    """The trusted runner, its kernel given by the zygote: a student whose answer cell
    exits the kernel loses that test only (restart, replay); the next gets full marks."""
    import json
    from dataclasses import asdict

    import nbformat

    from course_rnn.grading.merge import load_source, load_submission, merge
    from course_rnn.grading.runner import Runner

    tiny = _tiny()
    source = tiny.write_source(tmp_path)
    monkeypatch.setattr(
        Runner, "new_kernel", lambda self: zygote.kernel(self.workdir, self.job["forbid"])
    )
    scores = []
    for name, norm in (("crash", "import os\nos._exit(0)\n"), ("honest", None)):
        answers = dict(tiny.ANSWERS)
        if norm is not None:
            answers["norm_answer"] = norm
        submitted = tmp_path / f"{name}.ipynb"
        nbformat.write(tiny.build_student(answers), submitted)
        merged = merge(load_source(source), load_submission(submitted)[0])
        events = tmp_path / f"{name}.jsonl"
        job = {
            "cells": [
                {"role": c.role, "cell_type": c.cell_type, "source": c.source,
                 "grade_id": c.grade_id}
                for c in merged.cells
            ],
            "limits": asdict(LIMITS),
            "workdir": str(tmp_path / name),
            "forbid": [],
            "events": str(events),
            "uid": UID,
        }  # fmt: skip
        Runner(job).run()
        verdicts = [json.loads(line) for line in events.read_text().splitlines()]
        scores.append(
            sum(tiny.POINTS[merged.cells[e["cell"]].grade_id] for e in verdicts
                if e.get("test", {}).get("passed"))
        )  # fmt: skip
    assert scores == [tiny.MAX_SCORE - tiny.POINTS["test_norm"], tiny.MAX_SCORE]
    assert zygote.mode == "zygote" and len(uid_processes(UID)) == 0
