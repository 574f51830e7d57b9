"""course_rnn.testing's hints for exact values: shown only for the mistake they name."""

import numpy as np
import pytest

from course_rnn.testing import assert_equal

HINTS = {"the indices start at 1.": {"a": 1, "b": 2}, "not sorted.": {"b": 0, "a": 1}}


def test_assert_equal_names_the_mistake_whose_value_it_got():
    with pytest.raises(AssertionError, match="Hint: the indices start at 1") as info:
        assert_equal("vocab", {"a": 1, "b": 2}, {"a": 0, "b": 1}, "a reminder", hints=HINTS)
    assert "not sorted" not in str(info.value) and "Reminder" not in str(info.value)


def test_assert_equal_shows_the_reminder_for_another_mistake():
    with pytest.raises(AssertionError, match="Reminder: a reminder") as info:
        assert_equal("vocab", {"a": 5, "b": 1}, {"a": 0, "b": 1}, "a reminder", hints=HINTS)
    assert "Hint" not in str(info.value)


def test_assert_equal_hints_for_arrays_and_passing_values():
    assert_equal("idx", np.array([1, 2]), np.array([1, 2]), hints={"sorted.": np.array([2, 1])})
    with pytest.raises(AssertionError, match="Hint: sorted"):
        assert_equal("idx", np.array([2, 1]), np.array([1, 2]), hints={"sorted.": [2, 1]})
    with pytest.raises(AssertionError, match="Hint: the booleans"):
        assert_equal("d", {"x": True}, {"x": False}, hints={"the booleans.": {"x": True}})
    # a value of another type is not that mistake
    with pytest.raises(AssertionError) as info:
        assert_equal("n", 1.5, 2, hints={"off.": "1.5"})
    assert "Hint" not in str(info.value)
