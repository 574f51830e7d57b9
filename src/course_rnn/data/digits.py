"""A small real image set read row by row: 8x8 handwritten digits.

Each image is read as a sequence of its 8 rows, top to bottom: ``T = 8`` steps of
``D = 8`` pixels, and the label (0-9) is predicted after the last row (many-to-one).

Provenance: the test set of the UCI "Optical Recognition of Handwritten Digits" data
(E. Alpaydin and C. Kaynak, 1998), as shipped with scikit-learn
(``sklearn.datasets.load_digits``, BSD-3-Clause package): 1,797 images written by 13
people (of the 43 who filled in the forms, 30 wrote the UCI training set and 13 this test
set), 32x32 bitmaps reduced to 8x8 counts 0..16. The UCI repository licenses the data
under CC BY 4.0. Read from the installed package: nothing is downloaded.

The split below is random over these 1,797 images, so the same 13 writers appear in
training and test: a test accuracy measures new digits by familiar hands, not new writers.
"""

from __future__ import annotations

import numpy as np


def load_digit_rows(
    test_fraction: float = 0.25, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The digits as row sequences, scaled to [0, 1], split at random with ``seed``.

    Returns:
        ``x_train`` float32 (N_train, 8, 8), ``y_train`` int64 (N_train,),
        ``x_test`` float32 (N_test, 8, 8), ``y_test`` int64 (N_test,), where
        ``x[i, t]`` is row ``t`` of image ``i`` and N_train + N_test = 1797.
    """
    from sklearn.datasets import load_digits

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction: expected a number in (0, 1), got {test_fraction!r}")
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)  # (1797, 8, 8), pixels 0..16 -> [0, 1]
    y = digits.target.astype(np.int64)  # (1797,)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]
