"""Numerical gradients by centered finite differences, to check backward passes.

For a scalar function f and an array x, nudge one entry at a time:

    df/dx_i ≈ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)

The error of this estimate shrinks like eps², against eps for the one-sided version.
Use float64 arrays: in float32 the rounding of f swamps differences of size eps.

The functions nudge ``x`` *in place* and restore it after each entry, so ``f`` may read
``x`` as its argument or through a closure (e.g. an entry of a parameter dict).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np


def _writable_float(name: str, x: np.ndarray) -> np.ndarray:
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        got = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"{name} is {got}; expected a floating numpy array (float64 is best)")
    if not x.flags.writeable:
        raise ValueError(f"{name} is read-only; expected a writable array (it is nudged in place)")
    return x


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6):
    """The gradient of a scalar function f at x, same shape as x, by centered differences."""
    x = _writable_float("x", x)
    grad = np.zeros_like(x, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        f_plus = float(f(x))
        x[idx] = old - eps
        f_minus = float(f(x))
        x[idx] = old  # restore before the next entry
        grad[idx] = (f_plus - f_minus) / (2 * eps)
    return grad


def numerical_gradient_array(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dout: np.ndarray, eps: float = 1e-6
) -> np.ndarray:
    """The gradient of sum(f(x) * dout) at x, for an array-valued f.

    dout is the upstream gradient dLoss/df(x), shaped like f(x): what a backward pass
    receives. Returns an array shaped like x.
    """
    dout = np.asarray(dout, dtype=np.float64)

    def loss(z: np.ndarray) -> float:
        y = np.asarray(f(z), dtype=np.float64)
        if y.shape != dout.shape:
            raise ValueError(f"dout has shape {dout.shape}; expected {y.shape}, the shape of f(x)")
        return float(np.sum(y * dout))

    return numerical_gradient(loss, x, eps)


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(max |a|, max |b|): the largest difference, relative to the scale.

    0 when both are all zeros. Shapes must match. About 1e-16 means equal up to float64
    rounding; a centered difference with eps=1e-6 usually agrees to 1e-7 or better.

    Why not entry by entry, |a_i - b_i| / (|a_i| + |b_i|)? An entry that is nearly zero in
    both arrays then counts rounding noise as a 100% error; measured against the largest
    entry, it counts as what it is, noise. This is the course's one measure: the exercise
    checks (``course_rnn.testing``) use it too.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"b has shape {b.shape}; expected {a.shape}, the shape of a")
    scale = max(np.max(np.abs(a), initial=0.0), np.max(np.abs(b), initial=0.0))
    if scale == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / scale)


def check_gradients(
    f: Callable[[Mapping[str, np.ndarray]], float | np.ndarray],
    inputs: Mapping[str, np.ndarray],
    analytic: Mapping[str, np.ndarray],
    dout: np.ndarray | None = None,
    eps: float = 1e-6,
) -> dict[str, float]:
    """Compare analytic gradients with numerical ones; return the relative error per name.

    f(inputs) is a scalar loss, or an array when ``dout`` (its upstream gradient) is
    given, then the loss is sum(f(inputs) * dout). ``analytic[name]`` is the claimed
    dLoss/d inputs[name]; every name in ``analytic`` must be in ``inputs``, whose arrays
    are nudged in place and restored.
    """
    errors = {}
    for name, grad in analytic.items():
        if name not in inputs:
            raise ValueError(f"analytic has {name!r}, not among the inputs {sorted(inputs)}")
        x = _writable_float(f"inputs[{name!r}]", inputs[name])
        if np.shape(grad) != x.shape:
            raise ValueError(
                f"analytic[{name!r}] has shape {np.shape(grad)}; expected {x.shape}, "
                f"the shape of inputs[{name!r}]"
            )
        if dout is None:
            numeric = numerical_gradient(lambda _: f(inputs), x, eps)
        else:
            numeric = numerical_gradient_array(lambda _: f(inputs), x, dout, eps)
        errors[name] = relative_error(grad, numeric)
    return errors
