"""course_rnn.testing: the checks the exercise test cells import.

Messages must say what was expected, what was got and give a hint; checks must not be
fooled by a notebook that replaces numpy/torch functions after import; forbid() must
disable what it names (also copies taken earlier) and restore everything afterwards.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from course_rnn.testing import (
    LIBRARY_RNNS,
    ForbiddenError,
    assert_all_close,
    assert_close,
    assert_equal,
    assert_shape,
    builds_on,
    check,
    forbid,
    hint_problems,
    relative_error,
    to_numpy,
    use_forbid_list,
)


def test_assert_shape_says_expected_and_got_and_spots_a_transpose():
    with pytest.raises(AssertionError) as info:
        assert_shape("h_t", np.zeros((5, 3)), (3, 5), "h_t is (N, H).")
    message = str(info.value)
    assert "(5, 3)" in message and "(3, 5)" in message
    assert "wrong order" in message and "h_t is (N, H)." in message


def test_assert_close_names_the_worst_element_and_its_values():
    expected = np.array([[1.0, 2.0], [3.0, 4.0]])
    got = expected.copy()
    got[1, 0] = 3.5
    with pytest.raises(AssertionError) as info:
        assert_close("out", got, expected, hint="check the bias.")
    message = str(info.value)
    assert "(1, 0)" in message and "expected 3" in message and "got 3.5" in message
    assert "check the bias." in message


def test_assert_close_picks_the_hint_of_the_matching_mistake():
    expected = np.array([1.0, 2.0])
    without_bias = np.array([0.5, 1.5])
    with pytest.raises(AssertionError, match="did you add b_hh"):
        assert_close(
            "h", without_bias, expected, hints={"did you add b_hh?": without_bias}, hint="generic"
        )


def test_assert_close_accepts_tensors_and_rejects_nan_and_none():
    assert_close("x", torch.ones(3), np.ones(3))
    with pytest.raises(AssertionError, match="NaN"):
        assert_close("x", np.array([np.nan]), np.array([1.0]))
    with pytest.raises(AssertionError, match="return"):
        assert_close("x", None, np.array([1.0]))


def test_assert_equal_compares_plain_values_and_arrays():
    assert_equal("vocab", {"a": 0}, {"a": 0})
    with pytest.raises(AssertionError, match="expected 4"):
        assert_equal("count", 3, 4)
    with pytest.raises(AssertionError):
        assert_equal("idx", np.array([1, 2]), np.array([1, 3]))


def test_check_raises_with_the_message():
    check(True, "unused")
    with pytest.raises(AssertionError, match="the reason"):
        check(False, "the reason")


def test_relative_error_is_zero_for_equal_arrays_and_symmetric():
    assert relative_error(np.ones(3), np.ones(3)) == 0.0
    a, b = np.array([1.0, 2.0]), np.array([1.1, 2.0])
    assert relative_error(a, b) == pytest.approx(relative_error(b, a))
    assert relative_error(a, b) == pytest.approx(0.1 / 2.0)  # max |a - b| / max |a|, |b|


def test_checks_ignore_monkeypatched_numpy_and_torch(monkeypatch):
    monkeypatch.setattr(np, "abs", lambda x: np.zeros_like(x))
    monkeypatch.setattr(np, "all", lambda x: True)
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    monkeypatch.setattr(torch.Tensor, "numpy", lambda self: np.zeros(3))
    with pytest.raises(AssertionError):
        assert_close("x", np.zeros(3), np.ones(3))
    with pytest.raises(AssertionError):
        assert_close("x", torch.zeros(3), np.ones(3))
    assert to_numpy(torch.ones(2)).tolist() == [1.0, 1.0]


def test_forbid_blocks_library_classes_and_restores_them():
    from torch.nn import LSTM  # a copy taken before the check

    with forbid(LIBRARY_RNNS):
        with pytest.raises(ForbiddenError, match="torch.nn.LSTM"):
            LSTM(3, 4)
        with pytest.raises(ForbiddenError):
            torch.nn.GRUCell(2, 2)
        with pytest.raises(ForbiddenError):
            torch.lstm_cell(None, None, None, None)
    out, _ = LSTM(3, 4, batch_first=True)(torch.zeros(1, 2, 3))
    assert out.shape == (1, 2, 4)


def test_forbid_blocks_a_whole_module_including_earlier_imports(monkeypatch):
    module = types.ModuleType("fake_reference")

    def solve(x):
        return x * 2

    solve.__module__ = "fake_reference"
    module.solve = solve
    monkeypatch.setitem(sys.modules, "fake_reference", module)
    alias = module.solve
    with forbid(["fake_reference"]):
        with pytest.raises(ForbiddenError, match="fake_reference.solve"):
            alias(1)
    assert alias(2) == 4


def test_forbid_blocks_the_course_reference_implementation():
    from course_rnn.scratch import rnn_forward

    with forbid(["course_rnn.scratch"]), pytest.raises(ForbiddenError):
        rnn_forward(np.zeros((1, 2, 3)), np.zeros((1, 4)), {})


def test_forbid_rejects_names_that_do_not_exist():
    with pytest.raises(ValueError, match="LSTMM"):
        with forbid(["torch.nn.LSTMM"]):
            pass


def test_a_hint_is_shown_only_for_the_mistake_it_names():
    expected = np.array([1.0, 2.0])
    hints = {"did you forget b?": np.array([0.0, 1.0]), "is it squared?": np.array([1.0, 4.0])}
    with pytest.raises(AssertionError) as info:
        assert_close("y", np.array([0.0, 1.0]), expected, hint="y = x + b", hints=hints)
    assert "Hint: did you forget b?" in str(info.value) and "squared" not in str(info.value)
    with pytest.raises(AssertionError) as info:
        assert_close("y", np.array([5.0, 5.0]), expected, hint="y = x + b", hints=hints)
    assert "Hint:" not in str(info.value) and "Reminder: y = x + b" in str(info.value)


def test_two_hints_that_match_the_same_output_name_no_mistake():
    expected = np.array([1.0, 2.0])
    same = np.array([0.0, 0.0])
    hints = {"mistake one": same, "mistake two": same.copy()}
    with pytest.raises(AssertionError) as info:
        assert_close("y", same, expected, hints=hints)
    assert "Hint:" not in str(info.value)
    assert len(hint_problems(expected, hints)) == 2


def test_hint_problems_ignores_a_mistake_that_gives_the_right_answer_here():
    expected = np.array([1.0, 2.0])
    assert hint_problems(expected, {"ok": np.array([3.0, 3.0])}) == []
    assert hint_problems(expected, {"harmless here": expected.copy()}) == []


def test_assert_all_close_reports_every_wrong_entry_at_once():
    expected = {"x": np.ones(2), "h0": np.zeros(2), "weight_hh": np.eye(2)}
    got = {"x": np.zeros(2), "h0": np.zeros(2)}
    with pytest.raises(AssertionError) as info:
        assert_all_close("grads", got, expected)
    message = str(info.value)
    assert message.startswith("2 of 3 entries of grads are wrong")
    assert "grads['x']" in message and "grads['weight_hh'] is missing" in message
    assert "grads['h0']" not in message
    assert_all_close("grads", expected, expected)


def test_builds_on_blames_the_earlier_part_only_when_it_is_wrong():
    def broken():
        raise AssertionError("h_1 is wrong")

    def blank():
        raise NotImplementedError()

    def later_fails():
        raise AssertionError("out is wrong")

    with pytest.raises(AssertionError, match=r"fix part 1 first \(h_1 is wrong\)"):
        with builds_on("part 1", broken):
            later_fails()
    with pytest.raises(AssertionError, match="fix part 2 first.*not answered yet"):
        with builds_on("part 2", blank):
            raise NotImplementedError()
    with pytest.raises(AssertionError, match="^out is wrong$"):
        with builds_on("part 1", lambda: None):
            later_fails()
    with builds_on("part 1", broken):  # the later part is right: nothing to blame
        pass


def test_forbid_without_names_uses_the_assignment_list(monkeypatch):
    from course_rnn import testing

    monkeypatch.setattr(testing, "_assignment_forbid", None)
    with pytest.raises(RuntimeError, match="forbid list is not set"):
        with forbid():
            pass
    use_forbid_list(["torch.nn.GRU"])
    with forbid():
        with pytest.raises(ForbiddenError):
            torch.nn.GRU(2, 3)
    torch.nn.GRU(2, 3)


def test_one_forbidden_error_for_the_checks_and_the_sandboxed_kernel():
    from course_rnn.grading import kernel

    assert kernel.ForbiddenError is ForbiddenError
    with forbid(["torch.nn.GRU"]):
        with pytest.raises(kernel.ForbiddenError):
            torch.nn.GRU(2, 3)
