"""A real time series: yearly sunspot numbers, 1700-2008, and windowed forecasting pairs.

Provenance: the yearly mean sunspot numbers of the US National Geophysical Data Center
(NOAA NGDC, http://www.ngdc.noaa.gov/stp/solar/solarda3.html), as shipped with
statsmodels in ``statsmodels.datasets.sunspots`` (309 years, 1700 to 2008). Licence:
statsmodels records it as "This data is public domain." (``sunspots.COPYRIGHT``). Read
from the installed package: nothing is downloaded.

The series has the famous ~11-year solar cycle with peaks of varying height: a one-step
forecaster must remember where in the cycle it is, which a window of past values gives.
"""

from __future__ import annotations

import numpy as np

FIRST_YEAR = 1700
LAST_YEAR = 2008


def load_sunspots() -> tuple[np.ndarray, np.ndarray]:
    """The yearly sunspot series.

    Returns:
        ``years`` int64 (309,): 1700 .. 2008; ``values`` float32 (309,): yearly mean
        sunspot number (the ``SUNACTIVITY`` column).
    """
    from statsmodels.datasets import sunspots

    frame = sunspots.load_pandas().data
    years = frame["YEAR"].to_numpy().astype(np.int64)
    values = frame["SUNACTIVITY"].to_numpy().astype(np.float32)
    return years, values


def sliding_windows(series: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Supervised pairs (``window`` past values -> the next value).

    Args:
        series: (L,) values in time order.
        window: how many past values each input holds (1 <= window < L).

    Returns:
        ``x`` float32 (L - window, window, 1): ``x[i, :, 0] = series[i : i + window]``;
        ``y`` float32 (L - window,): ``y[i] = series[i + window]``.
    """
    series = np.asarray(series, dtype=np.float32)
    if series.ndim != 1:
        raise ValueError(f"series: expected shape (L,), got {series.shape}")
    if int(window) != window or not 1 <= window < len(series):
        raise ValueError(f"window: expected an integer in [1, {len(series) - 1}], got {window!r}")
    window = int(window)
    idx = np.arange(window)[None, :] + np.arange(len(series) - window)[:, None]  # (M, window)
    x = series[idx][..., None]  # (M, window, 1)
    y = series[window:]  # (M,)
    return x, y


def time_split(series: np.ndarray, test_fraction: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Split a series in time order: the first part to train on, the last to test on.

    No shuffling: the test years all come after the training years, as in real
    forecasting. Compute anything taken from the data (a scale, a mean) on ``train``
    only: a statistic of the whole series leaks the test years into the model.
    Returns ``(train, test)`` with ``len(test) = round(test_fraction * L)``.
    """
    series = np.asarray(series)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction: expected a number in (0, 1), got {test_fraction!r}")
    n_test = int(round(test_fraction * len(series)))
    if n_test < 1 or n_test >= len(series):
        raise ValueError(
            f"test_fraction {test_fraction} leaves {n_test} test values of {len(series)}"
        )
    return series[:-n_test], series[-n_test:]
