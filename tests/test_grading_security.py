"""The grader scores broken and hostile submissions as a careful human grader would."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

from course_rnn.grading.executor import Limits, grade_notebook

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("hostile_tiny", HERE / "fixtures/hostile/tiny.py")
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)

pytestmark = pytest.mark.grading
LIMITS = Limits(cell_timeout_s=20, notebook_timeout_s=60)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny.write_source(tmp_path_factory.mktemp("source"))


def test_correct_submission_gets_full_marks(source: Path, tmp_path: Path) -> None:
    sub = tmp_path / "sub.ipynb"
    nbformat.write(tiny.build_source(), str(sub))
    result = grade_notebook(source, sub, tmp_path / "work", LIMITS)
    assert [t.grade_id for t in result.tests] == list(tiny.POINTS)
    assert sum(t.points for t in result.tests) == tiny.MAX_SCORE
    assert result.problems == []


def test_malformed_json_scores_zero_with_a_reason(source: Path, tmp_path: Path) -> None:
    sub = tmp_path / "sub.ipynb"
    sub.write_text("{not json")
    result = grade_notebook(source, sub, tmp_path / "work", LIMITS)
    assert sum(t.points for t in result.tests) == 0
    assert len(result.tests) == len(tiny.POINTS)
    assert any("not valid notebook JSON" in p for p in result.problems)
