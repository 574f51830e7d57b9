"""Round-trip tests of the nbgrader exercises: solutions/ (source) -> exercises/ (release).

Fast tests read the committed notebooks: the release matches the source, leaks nothing,
test cells follow the test-cell rules of the grader. Tests marked ``grading`` run stock
nbgrader: ``course-rnn release`` reproduces exercises/ byte for byte, and for every
assignment one ``nbgrader`` process autogrades three students in a temporary course
(the solution -> full marks, the unchanged release -> 0, one part broken -> exactly that
part's points lost).
"""

from __future__ import annotations

import ast
import builtins
import filecmp
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from course_rnn.check import check_notebook, format_report
from course_rnn.release import (
    FORBID_CELL_ID,
    TEXT_DIR,
    available_assignments,
    build_source,
    notebook_text,
    release,
)
from course_rnn.testing import forbid

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
ASSIGNMENTS = available_assignments(ROOT)


def source_nb(name: str) -> nbformat.NotebookNode:
    return nbformat.read(SOLUTIONS / name / f"{name}.ipynb", as_version=4)


def release_nb(name: str) -> nbformat.NotebookNode:
    return nbformat.read(EXERCISES / name / f"{name}.ipynb", as_version=4)


def nbgrader_meta(cell: nbformat.NotebookNode) -> dict:
    return cell.metadata.get("nbgrader", {})


def is_test(cell: nbformat.NotebookNode) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution")


def is_answer(cell: nbformat.NotebookNode) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta.get("solution")) and cell.cell_type == "code"


def is_written(cell: nbformat.NotebookNode) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta.get("solution")) and bool(meta.get("grade")) and cell.cell_type == "markdown"


def points_of_tests(name: str) -> dict[str, float]:
    return {
        nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c)["points"])
        for c in source_nb(name).cells
        if is_test(c)
    }


def marked_lines(source: str, marker: str) -> list[str]:
    """Non-trivial lines between ### BEGIN <marker> and ### END <marker>."""
    lines, inside = [], False
    for line in source.splitlines():
        if f"### BEGIN {marker}" in line:
            inside = True
        elif f"### END {marker}" in line:
            inside = False
        elif inside and len(line.strip()) > 12:
            lines.append(line.strip())
    return lines


def solution_lines(source: str) -> list[str]:
    return marked_lines(source, "SOLUTION")


def hidden_lines(source: str) -> list[str]:
    return marked_lines(source, "HIDDEN TESTS")


# ---------------------------------------------------------------------------
# Structure of the committed notebooks
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_every_assignment_has_source_and_release(name):
    assert (SOLUTIONS / name / f"{name}.ipynb").is_file()
    assert (EXERCISES / name / f"{name}.ipynb").is_file()


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_points_add_up_to_100_with_a_written_answer(name):
    nb = source_nb(name)
    graded = [c for c in nb.cells if nbgrader_meta(c).get("grade")]
    assert sum(float(nbgrader_meta(c)["points"]) for c in graded) == pytest.approx(100)
    assert any(is_written(c) for c in nb.cells), "at least one manually graded written answer"
    assert all(nbgrader_meta(c)["schema_version"] == 3 for c in nb.cells if nbgrader_meta(c))


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_most_test_cells_have_hidden_tests(name):
    tests = [c for c in source_nb(name).cells if is_test(c)]
    with_hidden = [c for c in tests if "### BEGIN HIDDEN TESTS" in c.source]
    # Only a check of a plain value recorded by the student (a time budget) may lack them.
    assert len(with_hidden) >= len(tests) - 1


@pytest.mark.parametrize("folder", [SOLUTIONS, EXERCISES], ids=["solutions", "exercises"])
def test_committed_notebooks_have_no_outputs(folder):
    for path in sorted(folder.glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [], f"{path.name}: a cell has stale outputs"
                assert cell.execution_count is None, f"{path.name}: execution count left"


def public_lines(nb: nbformat.NotebookNode) -> set[str]:
    """Stripped lines of the source notebook that students are meant to see."""
    lines: set[str] = set()
    for cell in nb.cells:
        if is_written(cell):
            continue
        inside = False
        for line in cell.source.splitlines():
            if "### BEGIN" in line:
                inside = True
            elif "### END" in line:
                inside = False
            elif not inside:
                lines.add(line.strip())
    return lines


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_contains_no_solutions_hidden_tests_or_model_answers(name):
    text = (EXERCISES / name / f"{name}.ipynb").read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text, f"{name}: {marker!r} in the release"
    source = source_nb(name)
    public = public_lines(source)
    released_lines = {
        line.strip() for cell in release_nb(name).cells for line in cell.source.splitlines()
    }
    secret = [
        line
        for cell in source.cells
        for line in solution_lines(cell.source) + hidden_lines(cell.source)
        if line not in public
    ]
    assert secret, f"{name}: no solution or hidden-test lines found"
    leaked = [line for line in secret if line in released_lines]
    assert not leaked, f"{name}: leaked lines {leaked[:3]}"
    for cell in source.cells:
        if is_written(cell):
            first_sentence = cell.source.split(".")[0]
            assert first_sentence not in text, f"{name}: model answer leaked"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_released_answer_cells_raise_not_implemented(name):
    answers = [c for c in release_nb(name).cells if is_answer(c)]
    assert answers
    for cell in answers:
        assert "raise NotImplementedError()" in cell.source, nbgrader_meta(cell)["grade_id"]
    for cell in release_nb(name).cells:
        if is_written(cell):
            assert cell.source.strip() == "YOUR ANSWER HERE"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_keeps_every_graded_cell_in_order(name):
    ids = [nbgrader_meta(c).get("grade_id") for c in source_nb(name).cells]
    assert ids == [nbgrader_meta(c).get("grade_id") for c in release_nb(name).cells]


# ---------------------------------------------------------------------------
# Test-cell rules: self-contained, no displayed value, existing forbid names
# ---------------------------------------------------------------------------
def defined_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def top_level_names(source: str) -> set[str]:
    tree = ast.parse(source)
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_test_cells_use_only_their_own_names_and_the_students(name):
    nb = source_nb(name)
    student = set().union(*(top_level_names(c.source) for c in nb.cells if is_answer(c)))
    for cell in nb.cells:
        if not is_test(cell):
            continue
        tree = ast.parse(cell.source)
        used = {
            n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
        }
        unknown = used - defined_names(tree) - student - set(dir(builtins))
        assert not unknown, f"{nbgrader_meta(cell)['grade_id']} relies on {sorted(unknown)}"
        assert "course_rnn.scratch" not in cell.source.replace('"course_rnn.scratch"', "")


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_test_cells_do_not_end_with_a_displayed_value(name):
    for cell in source_nb(name).cells:
        if not is_test(cell):
            continue
        last = ast.parse(cell.source).body[-1]
        if isinstance(last, ast.Expr):
            assert isinstance(last.value, ast.Call), nbgrader_meta(cell)["grade_id"]
            func = last.value.func
            called = func.id if isinstance(func, ast.Name) else func.attr
            assert called in {"check", "assert_close", "assert_shape", "assert_equal"} or (
                called.startswith("_")
            ), f"{nbgrader_meta(cell)['grade_id']} ends with {called}(...), which may display"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_forbidden_names_in_metadata_exist(name):
    names = source_nb(name).metadata.get("course_rnn", {}).get("forbid", [])
    with forbid(names):
        pass


def forbid_calls(source: str) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "forbid"
    ]


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_the_forbid_list_is_written_once_in_the_source(name):
    """Test cells say `with forbid():`; only the front matter names what is forbidden."""
    nb = source_nb(name)
    for cell in nb.cells:
        if is_test(cell):
            for call in forbid_calls(cell.source):
                assert not call.args and not call.keywords, (
                    f"{nbgrader_meta(cell)['grade_id']} passes its own list to forbid(); "
                    "write `with forbid():` and put the names in the front matter"
                )
    rules = [c for c in nb.cells if nbgrader_meta(c).get("grade_id") == FORBID_CELL_ID]
    assert len(rules) == 1 and nbgrader_meta(rules[0])["locked"]
    namespace: dict = {}
    exec(rules[0].source, namespace)  # noqa: S102 - the course's own generated cell
    from course_rnn import testing

    assert testing._assignment_forbid == nb.metadata["course_rnn"]["forbid"]


def test_book_lists_every_assignment_once_in_order():
    """_toc.yml and the exercises page follow the folders (solutions/_sources/*.md)."""
    import re

    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    (part,) = [p for p in toc["parts"] if p["caption"] == "Exercises"]
    in_toc = [
        c["file"].split("/")[1] for c in part["chapters"] if c["file"].startswith("exercises/")
    ]
    assert in_toc == ASSIGNMENTS, "_toc.yml's Exercises part and solutions/_sources/ disagree"
    page = (ROOT / "book" / "exercises.md").read_text(encoding="utf-8")
    in_table = re.findall(r"^\|[^|]*\| \[(\w+)\]\(\.\./exercises/", page, flags=re.M)
    assert in_table == ASSIGNMENTS, "book/exercises.md's table and solutions/_sources/ disagree"


# ---------------------------------------------------------------------------
# Generated files are what their one source produces
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_source_notebook_is_generated_from_its_myst_source(name):
    committed = (SOLUTIONS / name / f"{name}.ipynb").read_text(encoding="utf-8")
    fresh = notebook_text(build_source(ROOT / TEXT_DIR / f"{name}.md"))
    assert fresh == committed, (
        f"solutions/{name}/{name}.ipynb differs from what {TEXT_DIR}/{name}.md produces: "
        "edit the .md (never the .ipynb), then run `make exercises` and commit the result"
    )


def _write_source(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "x.md"
    path.write_text(
        "---\ncourse_rnn:\n  forbid: [torch.nn.RNN]\n---\n\n# Title\n\n" + body,
        encoding="utf-8",
    )
    return path


def _graded_md_cell(grade_id: str, points: float) -> str:
    meta = (
        f"nbgrader: {{grade: true, grade_id: {grade_id}, locked: true, points: {points}, "
        "schema_version: 3, solution: false, task: false}"
    )
    return f"```{{code-cell}}\n---\n{meta}\n---\nassert True\n```\n\n"


def test_build_source_adds_the_forbid_cell_and_stable_ids(tmp_path):
    nb = build_source(
        _write_source(tmp_path, "```{code-cell}\nx = 1\n```\n\n" + _graded_md_cell("t", 100))
    )
    assert [c.id for c in nb.cells] == ["cell-00", FORBID_CELL_ID, "cell-02", "t"]
    assert "'torch.nn.RNN'" in nb.cells[1].source
    assert nb.metadata["course_rnn"] == {"forbid": ["torch.nn.RNN"]}


@pytest.mark.parametrize(
    "body, message",
    [
        (_graded_md_cell("t", 60), "add up to 60"),
        (_graded_md_cell("t", 50) + _graded_md_cell("t", 50), "used twice"),
    ],
    ids=["points", "duplicate"],
)
def test_build_source_rejects_broken_sources(tmp_path, body, message):
    with pytest.raises(ValueError, match=message):
        build_source(_write_source(tmp_path, body))


@pytest.mark.grading
def test_release_reproduces_every_generated_file_byte_for_byte(tmp_path):
    written = release(
        list(ASSIGNMENTS), root=ROOT, output=tmp_path / "exercises", source_output=tmp_path / "src"
    )
    assert len(written) == len(ASSIGNMENTS)
    for generated, committed_root in (
        (tmp_path / "exercises", EXERCISES),
        (tmp_path / "src", SOLUTIONS),
    ):
        for name in ASSIGNMENTS:
            fresh, committed = generated / name, committed_root / name
            comparison = filecmp.dircmp(fresh, committed)
            assert not comparison.left_only and not comparison.right_only, name
            for file in comparison.common_files:
                assert (fresh / file).read_bytes() == (committed / file).read_bytes(), (
                    f"{committed_root.name}/{name}/{file} differs from what `make exercises` "
                    f"generates from {TEXT_DIR}/{name}.md: run it and commit the result"
                )


# ---------------------------------------------------------------------------
# Autograding with stock nbgrader: full marks, zero, exactly one part lost
# ---------------------------------------------------------------------------
# assignment -> (answer cell, text to replace, replacement, test cells that must fail)
MISTAKES = {
    "01_order_matters": (
        "bag_of_words",
        "counts[vocab[word]] += 1",
        "counts[vocab[word]] = 1",
        {"test_bag_of_words"},
    ),
    "02_rnn_forward": (
        "rnn_forward",
        "rnn_cell_forward(x[:, t], h, params)",
        "rnn_cell_forward(x[:, t], h0, params)",
        {"test_rnn_forward"},
    ),
    "03_rnn_types": (
        "seq2seq",
        "self.decoder(inputs, h_enc)",
        "self.decoder(inputs)",
        {"test_seq2seq"},
    ),
    "04_bptt": ("truncated_bptt", "h = out_chunk[:, -1]", "h = h0", {"test_truncated_bptt"}),
    "05_gradients": (
        "backprop_norms",
        "v = weight_hh.T @ v",
        "v = weight_hh @ v",
        {"test_backprop_norms"},
    ),
    "06_lstm_gru": (
        "bidirectional_gru",
        "params_bwd)[:, ::-1]",
        "params_bwd)",
        {"test_bidirectional_gru"},
    ),
    "07_project": (
        "project_model",
        "TRAIN_SECONDS = time.perf_counter() - start",
        "TRAIN_SECONDS = 1000.0",
        {"test_time_budget"},
    ),
    "08_language_model": (
        "sample_next",
        "softmax(logits / temperature, dim=-1)",
        "softmax(logits * temperature, dim=-1)",
        {"test_sample_next"},
    ),
    "09_seq2seq_attention": (
        "greedy_decode",
        "written.append(y.masked_fill(done, PAD))",
        "written.append(y)",
        {"test_greedy_decode"},
    ),
    "10_ctc": (
        "character_error_rate",
        "return float(errors / sum(len(t) for t in truth))",
        "return float(errors / sum(len(p) for p in predicted))",
        {"test_character_error_rate"},
    ),
    "11_music": (
        "per_voice_nll",
        "total -= np.log(probs[t % 4, s[t]]).sum()",
        "total -= np.log2(probs[t % 4, s[t]]).sum()",
        {"test_per_voice_nll"},
    ),
    "12_linear_recurrences": (
        "mingru_layer",
        "return scan(1 - z, z * h_tilde, h0)",
        "return scan(z, (1 - z) * h_tilde, h0)",
        {"test_mingru_layer"},
    ),
}

GRADER_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    root, assignments, students = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
    config = PyFileConfigLoader("nbgrader_config.py", path=root).load_config()
    config.CourseDirectory.root = root
    api = NbGraderAPI(CourseDirectory(config=config), config=config)
    scores = {}
    for assignment in assignments:
        result = api.generate_assignment(assignment)
        assert result["success"], result.get("log", "") + result.get("error", "")
        for student in students:
            result = api.autograde(assignment, student)
            assert result["success"], result.get("log", "") + result.get("error", "")
    with Gradebook(api.coursedir.db_url) as gb:
        for assignment in assignments:
            for student in students:
                nb = gb.find_submission_notebook(assignment, assignment, student)
                scores[f"{assignment}/{student}"] = {
                    g.name: [g.auto_score, g.max_score] for g in nb.grades if g.cell_type == "code"
                }
    print("SCORES" + json.dumps(scores))
    """
)


def with_mistake(name: str) -> nbformat.NotebookNode:
    cell_id, old, new, _ = MISTAKES[name]
    nb = source_nb(name)
    (cell,) = [c for c in nb.cells if nbgrader_meta(c).get("grade_id") == cell_id]
    assert cell.source.count(old) == 1, f"{name}: the mistake no longer applies to {cell_id}"
    cell.source = cell.source.replace(old, new)
    return nb


@pytest.fixture(scope="module")
def autograded(tmp_path_factory) -> dict:
    """Autograde the solution and the blank release of every assignment with stock nbgrader.

    (The one-mistake students and the hint audit go through the course's own executor:
    ``course_graded`` below.)
    """
    course = tmp_path_factory.mktemp("course")
    shutil.copy2(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    for name in ASSIGNMENTS:
        shutil.copytree(SOLUTIONS / name, course / "solutions" / name)
        for student, nb in {"solution": source_nb(name), "blank": release_nb(name)}.items():
            folder = course / "submitted" / student / name
            folder.mkdir(parents=True)
            nbformat.write(nb, folder / f"{name}.ipynb")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("COURSE_RNN_DEVICE", None)
    env.pop("COURSE_RNN_HINT_AUDIT", None)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            GRADER_SCRIPT,
            str(course),
            json.dumps(list(ASSIGNMENTS)),
            json.dumps(["solution", "blank"]),
        ],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    line = [ln for ln in result.stdout.splitlines() if ln.startswith("SCORES")][-1]
    return json.loads(line[len("SCORES") :])


@pytest.fixture(scope="module")
def course_graded(tmp_path_factory) -> tuple[dict, list[dict]]:
    """Solution, blank release and one-mistake notebooks of every assignment through
    course-rnn's own executor (sandbox, forbid list, trusted runner; one warm runner).

    Returns ``{assignment: {student: {grade_id: (points, message)}}}`` and, for every
    ``assert_close`` call with hints that the test cells made, the soundness record of
    those hints (``COURSE_RNN_HINT_AUDIT``, read by the runner that runs the tests).
    """
    from course_rnn.grading.executor import Limits, TrustedRunner, grade_notebook

    work = tmp_path_factory.mktemp("course-graded")
    audit = work / "hints.jsonl"
    saved = os.environ.get("COURSE_RNN_HINT_AUDIT")
    os.environ["COURSE_RNN_HINT_AUDIT"] = str(audit)  # the runner starts with it
    got: dict[str, dict] = {}
    try:
        with TrustedRunner(Limits()) as runner:
            for name in ASSIGNMENTS:
                source = SOLUTIONS / name / f"{name}.ipynb"
                got[name] = {}
                for student, nb in (
                    ("solution", source_nb(name)),
                    ("blank", release_nb(name)),
                    ("mistake", with_mistake(name)),
                ):
                    path = work / name / student / f"{name}.ipynb"
                    path.parent.mkdir(parents=True)
                    nbformat.write(nb, path)
                    result = grade_notebook(
                        source, path, work / name / f"work-{student}", Limits(), runner=runner
                    )
                    got[name][student] = {
                        t.grade_id: (t.points, t.message[:300]) for t in result.tests
                    }
                    got[name][f"{student}/problems"] = result.problems
    finally:
        if saved is None:
            os.environ.pop("COURSE_RNN_HINT_AUDIT", None)
        else:
            os.environ["COURSE_RNN_HINT_AUDIT"] = saved
    records = [json.loads(ln) for ln in audit.read_text().splitlines()] if audit.exists() else []
    return got, records


@pytest.mark.grading
@pytest.mark.slow
def test_every_hint_names_only_its_own_mistake(course_graded):
    """Each typical-mistake hint matches that mistake alone, never the right answer."""
    records = course_graded[1]
    assert len(records) >= 20, f"only {len(records)} hinted checks ran: is the audit wired?"
    problems = sorted({f"{r['name']}: {p}" for r in records for p in r["problems"]})
    assert not problems, "\n".join(problems)


@pytest.mark.grading
@pytest.mark.slow
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_solution_autogrades_to_full_marks(autograded, name):
    """Stock nbgrader: the generated notebooks work with nbgrader's own autograde."""
    scores = autograded[f"{name}/solution"]
    assert set(scores) == set(points_of_tests(name))
    for grade_id, (score, max_score) in scores.items():
        assert score == max_score == points_of_tests(name)[grade_id], grade_id


@pytest.mark.grading
@pytest.mark.slow
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_unchanged_release_autogrades_to_zero(autograded, name):
    scores = autograded[f"{name}/blank"]
    assert set(scores) == set(points_of_tests(name))
    assert all(score == 0 for score, _ in scores.values()), scores


@pytest.mark.grading
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_the_course_grader_round_trip(name, course_graded):
    """Through course-rnn's own executor: full marks for the solution, zero for the blank
    release, and exactly the mistaken part lost. A forbid list that blocks a module the
    course's own helpers import, or a test that passes what the sandbox's protocol cannot
    carry, costs a correct solution its points here."""
    got = course_graded[0][name]
    points = points_of_tests(name)
    for student in ("solution", "blank", "mistake"):
        assert set(got[student]) == set(points), (student, got[f"{student}/problems"])
    assert all(got["solution"][g][0] == points[g] for g in points), got["solution"]
    assert all(score == 0 for score, _ in got["blank"].values()), got["blank"]
    failing = MISTAKES[name][3]
    for grade_id, (score, message) in got["mistake"].items():
        assert score == (0 if grade_id in failing else points[grade_id]), (grade_id, message)


# ---------------------------------------------------------------------------
# The student's self-check
# ---------------------------------------------------------------------------
def test_check_passes_a_solution_and_lists_points():
    report = check_notebook(SOLUTIONS / "01_order_matters" / "01_order_matters.ipynb")
    text = format_report(report)
    assert report.ok
    assert "Visible tests: 5 of 5 passed (80 of 80 points)." in text
    assert "graded by hand" in text


def test_check_reports_unanswered_questions_in_a_blank_notebook(tmp_path):
    path = tmp_path / "01_order_matters.ipynb"
    shutil.copy2(EXERCISES / "01_order_matters" / "01_order_matters.ipynb", path)
    before = path.read_bytes()
    env = {**os.environ}
    result = subprocess.run(
        [sys.executable, "-m", "course_rnn", "check", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 1
    assert "FAILED" in result.stdout and "not answered yet" in result.stdout
    assert "Visible tests: 0 of 5 passed (0 of 80 points)." in result.stdout
    assert "without encryption" not in result.stdout + result.stderr, "kernel chatter shown"
    assert path.read_bytes() == before, "check must not modify the student's notebook"


def test_check_shows_the_hint_for_a_typical_mistake(tmp_path):
    path = tmp_path / "02_rnn_forward.ipynb"
    nbformat.write(with_mistake("02_rnn_forward"), path)
    report = check_notebook(path)
    failed = {q.grade_id: q.message for q in report.tests if not q.passed}
    assert set(failed) == {"test_rnn_forward"}
    assert "pass the new hidden state on to the next step" in failed["test_rnn_forward"]
    assert "expected" in failed["test_rnn_forward"] and "got" in failed["test_rnn_forward"]


def test_check_rejects_a_missing_file(tmp_path, capsys):
    from course_rnn.cli import main

    assert main(["check", str(tmp_path / "nope.ipynb")]) == 2
    assert "does not exist" in capsys.readouterr().out


def test_release_rejects_an_unknown_assignment(monkeypatch, capsys):
    from course_rnn.cli import main

    monkeypatch.chdir(ROOT)
    assert main(["release", "99_nope"]) == 2
    out = capsys.readouterr().out
    assert "unknown assignment(s) 99_nope" in out and "01_order_matters" in out
