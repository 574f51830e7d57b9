"""course_rnn.gradcheck on functions whose derivatives we know by hand."""

from __future__ import annotations

import numpy as np
import pytest

from course_rnn.gradcheck import (
    check_gradients,
    numerical_gradient,
    numerical_gradient_array,
    relative_error,
)


def test_gradient_of_sum_of_sin_is_cos():
    x = np.random.default_rng(0).standard_normal((3, 4))
    grad = numerical_gradient(lambda z: np.sin(z).sum(), x)
    assert grad.shape == x.shape
    np.testing.assert_allclose(grad, np.cos(x), rtol=0, atol=1e-9)


def test_centered_difference_is_exact_for_a_quadratic_up_to_rounding():
    x = np.array([1.0, -2.0, 0.5])
    grad = numerical_gradient(lambda z: (z**2).sum() + 3 * z[0], x, eps=1e-3)
    np.testing.assert_allclose(grad, 2 * x + np.array([3.0, 0, 0]), rtol=0, atol=1e-9)


def test_numerical_gradient_leaves_x_unchanged():
    x = np.linspace(-1, 1, 7)
    before = x.copy()
    numerical_gradient(lambda z: np.exp(z).sum(), x)
    np.testing.assert_array_equal(x, before)


def test_numerical_gradient_sees_x_through_a_closure():
    params = {"w": np.array([2.0, -1.0])}
    x = np.array([3.0, 4.0])
    grad = numerical_gradient(lambda _: float(params["w"] @ x), params["w"])
    np.testing.assert_allclose(grad, x, rtol=0, atol=1e-8)


def test_array_gradient_is_the_transposed_jacobian_times_dout():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((2, 3))
    x = rng.standard_normal((4, 3))
    dout = rng.standard_normal((4, 2))
    grad = numerical_gradient_array(lambda z: z @ W.T, x, dout)
    np.testing.assert_allclose(grad, dout @ W, rtol=0, atol=1e-8)


def test_array_gradient_rejects_a_dout_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"dout has shape \(3,\); expected \(2,\)"):
        numerical_gradient_array(np.tanh, np.zeros(2), np.ones(3))


def test_relative_error_is_scale_free_and_zero_for_equal_or_zero_arrays():
    a = np.array([1.0, 2.0, -4.0])
    assert relative_error(a, a) == 0.0
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    b = a + np.array([0.0, 0.0, 0.004])
    assert relative_error(a, b) == pytest.approx(0.004 / 4.0)
    assert relative_error(1e6 * a, 1e6 * b) == pytest.approx(relative_error(a, b))
    with pytest.raises(ValueError, match="b has shape"):
        relative_error(np.zeros(2), np.zeros(3))


def test_relative_error_ignores_rounding_noise_on_a_near_zero_entry():
    # Entry by entry, the first pair would be a 33% error; against the scale it is noise.
    assert relative_error(np.array([1e-17, 1.0]), np.array([2e-17, 1.0])) < 1e-16


def test_exercise_checks_use_the_same_relative_error():
    """course_rnn.testing delegates to gradcheck's one definition (imported on first use,
    so an assignment that forbids gradcheck in the kernel can still import testing)."""
    import inspect

    from course_rnn import testing

    rng = np.random.default_rng(0)
    for a, b in [(rng.normal(size=5), rng.normal(size=5)), (np.zeros(3), np.zeros(3)),
                 (np.ones(2), np.ones(2) * 1.5), (1e-12, 2e-12)]:  # fmt: skip
        assert testing.relative_error(a, b) == relative_error(a, b)
    assert "gradcheck" in inspect.getsource(testing.relative_error)


def test_check_gradients_accepts_right_and_catches_wrong_gradients():
    rng = np.random.default_rng(2)
    inputs = {"w": rng.standard_normal((3, 2)), "x": rng.standard_normal((5, 2))}

    def loss(inp):
        return float(np.tanh(inp["x"] @ inp["w"].T).sum())

    s = 1 - np.tanh(inputs["x"] @ inputs["w"].T) ** 2  # (5, 3)
    right = {"w": s.T @ inputs["x"], "x": s @ inputs["w"]}
    errors = check_gradients(loss, inputs, right)
    assert set(errors) == {"w", "x"}
    assert max(errors.values()) < 1e-7

    wrong = {"w": right["w"], "x": s @ inputs["w"] * 1.01}  # off by 1 %
    errors = check_gradients(loss, inputs, wrong)
    assert errors["w"] < 1e-7
    assert errors["x"] > 1e-3


def test_check_gradients_with_an_upstream_gradient():
    inputs = {"x": np.array([[0.3, -0.7]])}
    dout = np.array([[2.0, -1.0]])
    errors = check_gradients(
        lambda inp: np.sin(inp["x"]), inputs, {"x": dout * np.cos(inputs["x"])}, dout=dout
    )
    assert errors["x"] < 1e-8


def test_check_gradients_names_bad_arguments():
    inputs = {"x": np.zeros(3)}
    with pytest.raises(ValueError, match="'y', not among the inputs"):
        check_gradients(lambda inp: 0.0, inputs, {"y": np.zeros(3)})
    with pytest.raises(ValueError, match=r"analytic\['x'\] has shape \(2,\); expected \(3,\)"):
        check_gradients(lambda inp: 0.0, inputs, {"x": np.zeros(2)})
    with pytest.raises(TypeError, match="expected a floating numpy array"):
        numerical_gradient(lambda z: 0.0, np.zeros(3, dtype=int))
