"""The adding problem: a regression task that needs memory over the whole sequence.

Each sequence has ``T`` steps and two input channels:

- channel 0: a value drawn uniformly from [0, 1] at every step;
- channel 1: a marker that is 1 at exactly two steps and 0 elsewhere, one marked step
  drawn uniformly from the first half ``[0, T // 2)`` and one from the second half
  ``[T // 2, T)``.

The target is the sum of the two marked values. This is the variant of Le, Jaitly and
Hinton (2015, "A simple way to initialize recurrent networks of rectified linear units",
arXiv:1504.00941), itself a simplification of Hochreiter and Schmidhuber (1997), whose
values lie in [-1, 1] and whose first marker sits among the first ten steps.

The sum of two independent U[0, 1] numbers has mean 1 and variance 2/12, so a model that
ignores its input and always predicts 1 reaches MSE 1/6 ~ 0.167: the baseline any
recurrent network must beat to show it remembered anything.

Generated here from a seeded ``numpy.random.Generator``: no download, no licence.
"""

from __future__ import annotations

import numpy as np

#: MSE of the best constant prediction (always 1.0): Var(U1 + U2) = 2/12.
BASELINE_MSE = 1.0 / 6.0


def adding_problem(n: int, T: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` sequences of the adding problem.

    Args:
        n: number of sequences N (>= 1).
        T: sequence length (>= 2, so that each half holds one marker).
        seed: seed of the numpy Generator; same seed, same data.

    Returns:
        ``x`` float32 (N, T, 2): values in channel 0, markers in channel 1;
        ``y`` float32 (N,): the sum of the two marked values.
    """
    if int(n) != n or n < 1:
        raise ValueError(f"n: expected a positive integer, got {n!r}")
    if int(T) != T or T < 2:
        raise ValueError(f"T: expected an integer >= 2 (one marker per half), got {T!r}")
    n, T = int(n), int(T)
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.0, 1.0, size=(n, T))  # (N, T)
    half = T // 2
    first = rng.integers(0, half, size=n)  # (N,) marked step in the first half
    second = rng.integers(half, T, size=n)  # (N,) marked step in the second half
    markers = np.zeros((n, T))
    rows = np.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=-1).astype(np.float32)  # (N, T, 2)
    y = (x[rows, first, 0] + x[rows, second, 0]).astype(np.float32)  # (N,)
    return x, y
