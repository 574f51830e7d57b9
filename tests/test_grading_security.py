"""The grader scores broken and hostile submissions as a careful human grader would.

One batch grades every case of tests/fixtures/hostile/cases.py, each followed by a
correct submission, two at a time (as the pipeline does). The batch must leave every
file outside the sandbox unchanged, accept no network connection and leave no process
behind.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import socket
import sqlite3
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course_rnn.grading import remote
from course_rnn.grading.executor import Limits, NotebookResult, grade_notebook
from course_rnn.grading.sandbox import bwrap_path

HERE = Path(__file__).parent


def _load(name: str, path: Path):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


tiny = _load("hostile_tiny", HERE / "fixtures/hostile/tiny.py")
cases = _load("hostile_cases", HERE / "fixtures/hostile/cases.py")

pytestmark = pytest.mark.grading


def require_sandbox() -> None:
    """Fail (never skip) without bubblewrap and root: a sandbox that silently stopped
    working must not turn this suite into a pass. ``.ci/run`` installs bubblewrap and
    runs as root; the README lists bubblewrap among the packages the tests need."""
    if bwrap_path() is None:
        pytest.fail(
            "bubblewrap is missing or cannot create namespaces here: apt-get install bubblewrap"
        )
    if os.geteuid() != 0:
        pytest.fail("the hostile suite runs as root (per-run uids and cgroups need it)")


def batch_test(fn):
    """A check on the hostile batch (about two minutes on two cores, built once)."""
    return pytest.mark.slow(fn)


LIMITS = Limits(cell_timeout_s=8, notebook_timeout_s=60, memory_mb=1024, cpu_time_s=30,
                max_output_bytes=200_000)  # fmt: skip
MARKER = "4242.125"


def _tree_hash(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        key = str(path.relative_to(root))
        if path.is_file():
            out[key] = hashlib.sha256(path.read_bytes()).hexdigest() + oct(st.st_mode)
        else:
            out[key] = oct(st.st_mode)
    return out


def _marked_processes() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if MARKER.encode() in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


class Listener:
    """A TCP server on the host's loopback that records any connection."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stop = True
        self.thread.join()
        self.sock.close()


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict:
    require_sandbox()
    root = tmp_path_factory.mktemp("hostile")
    course = root / "course"
    source = tiny.write_source(course / "solutions" / "tiny")
    gradebook = course / "gradebook.db"
    con = sqlite3.connect(gradebook)
    con.execute("CREATE TABLE grade (student TEXT, score REAL)")
    con.execute("INSERT INTO grade VALUES ('other', 8)")
    con.commit()
    con.close()
    other = course / "submitted" / "other" / "tiny" / "tiny.ipynb"
    other.parent.mkdir(parents=True)
    nbformat.write(tiny.build_student(), str(other))
    canary = root / "canary"
    canary.mkdir()
    (canary / "keep.txt").write_text("unchanged")
    package = Path(remote.__file__).resolve().parent.parent
    listener = Listener()
    ctx = cases.Context(str(source), str(gradebook), str(other), str(canary), str(package),
                        listener.port, MARKER)  # fmt: skip
    before = {"course": _tree_hash(course), "canary": _tree_hash(canary)}

    subs = root / "subs"
    jobs = []
    for case in cases.CASES:
        for name, text in ((case.name, case.build(ctx)), (f"correct_after_{case.name}", None)):
            path = subs / name / "tiny.ipynb"
            path.parent.mkdir(parents=True)
            if text is None:
                nbformat.write(tiny.build_student(), str(path))
            else:
                path.write_text(text, errors="surrogateescape")
            jobs.append((name, path))

    def grade(job: tuple[str, Path]) -> tuple[str, NotebookResult, float]:
        name, path = job
        start = time.perf_counter()
        result = grade_notebook(source, path, root / "work" / name, LIMITS)
        return name, result, time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        results = {name: (res, secs) for name, res, secs in pool.map(grade, jobs)}
    wall = time.perf_counter() - start
    time.sleep(0.5)
    listener.close()
    after = {"course": _tree_hash(course), "canary": _tree_hash(canary)}
    yield {
        "results": results,
        "before": before,
        "after": after,
        "connections": listener.connections,
        "leftover": _marked_processes(),
        "package_pwned": (package / "PWNED.py").exists(),
        "wall": wall,
    }
    shutil.rmtree(root / "work", ignore_errors=True)


@batch_test
@pytest.mark.parametrize("case", cases.CASES, ids=lambda c: c.name)
def test_hostile_submission_gets_the_score_a_careful_grader_gives(batch: dict, case) -> None:
    result, _ = batch["results"][case.name]
    assert [t.grade_id for t in result.tests] == list(tiny.POINTS)
    assert [t.max_points for t in result.tests] == list(tiny.POINTS.values())
    got = sum(t.points for t in result.tests)
    detail = {t.grade_id: t.message for t in result.tests if not t.passed}
    assert got == case.score, f"{case.name}: {got} != {case.score}; failures {detail}"


@batch_test
def test_correct_submission_after_each_hostile_one_gets_full_marks(batch: dict) -> None:
    for case in cases.CASES:
        result, _ = batch["results"][f"correct_after_{case.name}"]
        score = sum(t.points for t in result.tests)
        assert score == tiny.MAX_SCORE, (case.name, [t.message for t in result.tests])
        assert result.problems == []


@batch_test
def test_files_outside_the_sandbox_are_unchanged(batch: dict) -> None:
    assert batch["after"] == batch["before"]
    assert not batch["package_pwned"]


@batch_test
def test_no_network_connection_reaches_the_host(batch: dict) -> None:
    assert batch["connections"] == 0


@batch_test
def test_no_process_outlives_the_run(batch: dict) -> None:
    assert batch["leftover"] == []


@batch_test
def test_failure_messages_never_show_hidden_test_source(batch: dict) -> None:
    for result, _ in batch["results"].values():
        for test in result.tests:
            assert "SECRET-HIDDEN-MARKER" not in test.message
            assert "HIDDEN TESTS" not in test.message


@batch_test
def test_executed_notebook_has_test_cells_restored_and_failures_as_errors(batch: dict) -> None:
    result, _ = batch["results"]["gutted_test_cells_wrong_answers"]
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in result.executed.cells}
    assert by_id["test_add"].source == tiny.TESTS["test_add"]
    errors = [o for o in by_id["test_add"].outputs if o.output_type == "error"]
    assert errors and "add(1, 2) should be 3" in errors[0].evalue
    nbformat.validate(result.executed)


@batch_test
def test_broken_files_and_structure_are_reported_as_problems(batch: dict) -> None:
    problems = {name: " ".join(res.problems) for name, (res, _) in batch["results"].items()}
    assert "not valid notebook JSON" in problems["malformed_json"]
    assert "no list of cells" in problems["not_a_notebook"]
    assert "duplicated" in problems["duplicated_test_cells"]
    assert "restored" in problems["deleted_test_cells"]
    assert "forbidden numpy.linalg.norm" in problems["forbidden_alias"]


@batch_test
def test_huge_output_is_capped(batch: dict) -> None:
    result, _ = batch["results"]["huge_output"]
    size = len(nbformat.writes(result.executed))
    assert size < 3 * LIMITS.max_output_bytes
    assert "[output truncated]" in nbformat.writes(result.executed)


@batch_test
def test_timeouts_and_crashes_are_explained_to_the_student(batch: dict) -> None:
    loop, _ = batch["results"]["infinite_loop_in_function"]
    add = loop.tests[0]
    assert not add.passed and "time limit" in add.message
    forbidden, _ = batch["results"]["forbidden_call"]
    assert "numpy.linalg.norm is not allowed" in forbidden.tests[3].message
    scratch, _ = batch["results"]["uses_reference_implementation"]
    text = nbformat.writes(scratch.executed)
    assert "course_rnn.scratch" in text and "not available while grading" in text


# ------------------------------------------------ round two: caps on the trusted side
@batch_test
def test_every_executed_notebook_is_valid_nbformat(batch: dict) -> None:
    for name, (result, _) in batch["results"].items():
        try:
            nbformat.validate(result.executed)
        except nbformat.ValidationError as exc:
            pytest.fail(f"{name}: {exc.message}")


@batch_test
def test_output_is_capped_by_the_runner_not_the_kernel(batch: dict) -> None:
    result, _ = batch["results"]["raises_its_own_output_budget"]
    assert len(nbformat.writes(result.executed)) < 3 * LIMITS.max_output_bytes


@batch_test
def test_decoded_values_are_capped_on_the_trusted_side(batch: dict) -> None:
    result, _ = batch["results"]["amplifies_decoded_size"]
    by_id = {t.grade_id: t.message for t in result.tests}
    assert "larger than the message size limit" in by_id["test_add"]
    assert "wider than its buffer" in by_id["test_scale"]


@batch_test
def test_complex_answers_are_wrong_answers(batch: dict) -> None:
    result, _ = batch["results"]["complex_answers"]
    messages = [t.message for t in result.tests if not t.passed]
    assert len(messages) == 3 and all("complex" in m for m in messages), messages


@batch_test
def test_the_sandbox_shows_no_host_etc(batch: dict) -> None:
    result, _ = batch["results"]["reads_host_etc"]
    assert "host /etc files seen: []" in nbformat.writes(result.executed)


@batch_test
def test_messages_students_read_carry_no_host_paths(batch: dict) -> None:
    result, _ = batch["results"]["leaks_host_paths"]
    message = next(t.message for t in result.tests if t.grade_id == "test_norm")
    assert "prefix=" in message, message
    for host in {sys.prefix, os.path.realpath(sys.prefix), str(Path(np.__file__).parent)}:
        assert host not in message
        assert host not in nbformat.writes(result.executed)
        assert all(host not in p for p in result.problems)


@batch_test
def test_problem_lists_are_summarised(batch: dict) -> None:
    result, _ = batch["results"]["many_malformed_cells_and_long_ids"]
    assert 1 <= len(result.problems) <= 21
    assert sum(len(p) for p in result.problems) < 20_000
    assert "malformed" in " ".join(result.problems)


def test_the_trusted_runner_runs_under_its_own_memory_limit(tmp_path: Path) -> None:
    """A test cell runs in the runner: it reads the runner's own address-space limit."""
    require_sandbox()
    limits = Limits(cell_timeout_s=30, notebook_timeout_s=120, runner_memory_mb=3000)
    source = tiny.build_source()
    check = (
        "import resource\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_AS)\n"
        "assert soft == hard == 3000 << 20, (soft, hard)\n"
    )
    for cell in source.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_counter":
            cell.source = check
    path = tmp_path / "src" / "tiny.ipynb"
    path.parent.mkdir()
    nbformat.write(source, str(path))
    student = tmp_path / "student.ipynb"
    nbformat.write(tiny.build_student(), str(student))
    result = grade_notebook(path, student, tmp_path / "work", limits)
    verdict = next(t for t in result.tests if t.grade_id == "test_counter")
    assert verdict.passed, verdict.message


# ----------------------------------------------------------------------- plain data
def test_plain_data_round_trips_without_pickle() -> None:
    import torch

    value = {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "b": (1, 2.5, "x", None, True, b"raw", 3 + 4j),
        "t": torch.tensor([[1.0, -2.0]], dtype=torch.float64),
        "s": np.float64(1.5),
        1: [slice(1, None, 2), Ellipsis, {3}],
    }
    buffers: list[bytes] = []
    data = remote.encode(value, buffers, export=lambda obj: pytest.fail(f"exported {obj!r}"))
    back = remote.decode(data, buffers, resolve=lambda d: pytest.fail("resolved"))
    np.testing.assert_array_equal(back["a"], value["a"])
    assert back["a"].dtype == np.float32 and back["b"] == value["b"]
    assert torch.equal(back["t"], value["t"]) and back["t"].dtype == torch.float64
    assert back["s"] == 1.5 and back[1][0] == slice(1, None, 2) and back[1][2] == {3}


def test_zero_dimensional_arrays_and_tensors_keep_their_shape() -> None:
    """A scalar loss returned as a 0-d tensor must not arrive as shape (1,)."""
    import torch

    value = [np.array(2.5), torch.tensor(1.5, dtype=torch.float64), torch.tensor(True)]
    buffers: list[bytes] = []
    data = remote.encode(value, buffers, export=lambda obj: pytest.fail(f"exported {obj!r}"))
    back = remote.decode(data, buffers, resolve=lambda d: pytest.fail("resolved"))
    assert [tuple(v.shape) for v in back] == [(), (), ()]
    assert float(back[0]) == 2.5 and float(back[1]) == 1.5 and bool(back[2])


def test_a_read_only_array_arrives_read_only_and_a_writeable_one_writeable() -> None:
    """A test passes read-only arrays so that a change in place raises in the student's
    function, as it would in a plain kernel; the copy that crosses keeps the flag."""
    frozen = np.arange(3.0)
    frozen.setflags(write=False)
    buffers: list[bytes] = []
    data = remote.encode(
        [frozen, np.arange(3.0)], buffers, export=lambda obj: pytest.fail("exported")
    )
    back = remote.decode(data, buffers, resolve=lambda d: pytest.fail("resolved"))
    assert not back[0].flags.writeable and back[1].flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        back[0] *= 2


def test_decoder_refuses_object_arrays_and_unknown_tags() -> None:
    buf = [b"\x00" * 8]
    with pytest.raises(remote.ProtocolError):
        remote.decode({"$": "nd", "d": "|O", "s": [1], "b": 0}, buf, resolve=None)
    with pytest.raises(remote.ProtocolError):
        remote.decode({"$": "nd", "d": "<f8", "s": [2], "b": 0}, buf, resolve=None)
    with pytest.raises(remote.ProtocolError):
        remote.decode(
            {"$": "pickle", "v": "gASV"},
            [],
            resolve=lambda d: (_ for _ in ()).throw(remote.ProtocolError("unknown")),
        )


def test_namespaces_travel_as_plain_data_and_never_with_dunder_names() -> None:
    import types

    sent = types.SimpleNamespace(scale=2.5, name="W_q", sizes=[3, 4])
    buffers: list[bytes] = []
    data = remote.encode(sent, buffers, export=None)
    assert remote.decode(data, buffers, resolve=None) == sent
    for name in ("__class__", "not an identifier"):
        with pytest.raises(remote.ProtocolError):
            remote.decode({"$": "ns", "k": [name], "v": [1]}, [], resolve=None)


def test_decoder_charges_every_reference_to_a_buffer() -> None:
    buf = [bytes(1 << 20)]
    item = {"$": "nd", "d": "<f8", "s": [1 << 17], "b": 0}
    message = {"$": "list", "v": [item] * 64}
    budget = remote.DecodeBudget(32 << 20)  # 32 MiB for 64 copies of 1 MiB
    with pytest.raises(remote.ProtocolError, match="larger than"):
        remote.decode(message, buf, resolve=None, budget=budget)
    assert len(remote.decode({"$": "list", "v": [item] * 8}, buf, resolve=None)) == 8


def test_decoder_refuses_tensors_wider_than_their_buffer() -> None:
    buf = [bytes(64)]
    wide = {"$": "torch", "t": "complex128", "d": "|u1", "s": [64], "b": 0}
    with pytest.raises(remote.ProtocolError, match="wider"):
        remote.decode(wide, buf, resolve=None)
    same = {"$": "torch", "t": "uint8", "d": "|u1", "s": [64], "b": 0}
    assert remote.decode(same, buf, resolve=None).numel() == 64


def test_decoder_refuses_complex_values_when_told() -> None:
    for value in (3 + 4j, np.array([1j]), np.complex128(1j)):
        buffers: list[bytes] = []
        data = remote.encode(value, buffers, export=None)
        assert remote.decode(data, buffers, resolve=None) is not None
        with pytest.raises(remote.ComplexAnswer):
            remote.decode(data, buffers, resolve=None, allow_complex=False)


def test_student_errors_keep_their_builtin_base_class() -> None:
    err = remote.student_error("ValueError", "ShapeError", "x has shape (2,)")
    assert isinstance(err, ValueError) and isinstance(err, remote.StudentCodeError)
    assert "ShapeError: x has shape (2,)" in str(err)
    assert not isinstance(remote.student_error("SystemExit", "SystemExit", ""), SystemExit)


# ------------------------------------------------------------- through the command line
CLI_CASES = [
    "patches_numpy_builtins_sys_modules",
    "transformers_hooks_fake_prints",
    "reads_solutions_and_other_students",
    "edits_gradebook",
    "kills_parent",
    "malformed_json",
    "duplicated_test_cells",
    "edited_metadata",
]


@pytest.mark.slow
def test_course_rnn_grade_batch_grades_hostile_submissions_correctly(tmp_path: Path) -> None:
    """One `course-rnn grade` batch: hostile submissions, each followed by a correct one."""
    import csv
    import subprocess

    require_sandbox()
    root = tmp_path / "course"
    (root / "solutions").mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.source_directory = 'solutions'\n"
    )
    source = tiny.write_source(root / "solutions" / "tiny")
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "keep.txt").write_text("unchanged")
    ctx = cases.Context(str(source), str(root / "gradebook.db"), str(source), str(canary),
                        str(Path(remote.__file__).resolve().parent.parent), 9, MARKER)  # fmt: skip
    by_name = {c.name: c for c in cases.CASES}
    subs = tmp_path / "subs"
    expected = {}
    for i, name in enumerate(CLI_CASES):
        hostile, correct = f"h{i:02d}", f"ok{i:02d}"
        for student, text in ((hostile, by_name[name].build(ctx)), (correct, None)):
            path = subs / student / "tiny.ipynb"
            path.parent.mkdir(parents=True)
            if text is None:
                nbformat.write(tiny.build_student(), str(path))
            else:
                path.write_text(text)
        expected[hostile], expected[correct] = by_name[name].score, tiny.MAX_SCORE
    before = _tree_hash(canary), source.read_bytes()
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "course_rnn", "grade", "tiny", str(subs), "--out", str(out),
           "--workers", "2", "--timeout", "60", "--course-root", str(root)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(out / "grades.csv", newline="") as f:
        rows = {r["student_id"]: float(r["score"]) for r in csv.DictReader(f)}
    assert rows == pytest.approx(expected), {k: (rows.get(k), v) for k, v in expected.items()}
    assert (_tree_hash(canary), source.read_bytes()) == before
    assert _marked_processes() == []


# ------------------------------------------------------------------ a real assignment
@pytest.mark.slow
def test_real_assignment_source_gets_full_marks_and_release_zero(tmp_path: Path) -> None:
    """06_lstm_gru (with its forbid list) grades as the exercises intend in the sandbox."""
    name = "06_lstm_gru"
    source = HERE.parent / "solutions" / name / f"{name}.ipynb"
    release = HERE.parent / "exercises" / name / f"{name}.ipynb"
    require_sandbox()
    assert source.exists() and release.exists(), f"{name} is missing from solutions/ or exercises/"
    limits = Limits(cell_timeout_s=120, notebook_timeout_s=300)
    full = grade_notebook(source, source, tmp_path / "source", limits)
    assert full.max_score > 0 and full.score == full.max_score, [
        (t.grade_id, t.message) for t in full.tests if not t.passed
    ]
    assert full.problems == []
    empty = grade_notebook(source, release, tmp_path / "release", limits)
    assert empty.score == 0 and len(empty.tests) == len(full.tests)
