"""Strings of 3 to 8 handwritten digits, composed from the 8x8 digit images.

Each example is one grey image of height 8 holding a row of digits, side by side with a
random gap between neighbours (so a digit's position cannot be computed from its index),
and the digits it shows, left to right. It is the data of the chapter on reading images
with convolution, recurrence and CTC: the model must read the string without being told
where each digit is.

Source images: the 1,797 8x8 handwritten digits of scikit-learn
(``sklearn.datasets.load_digits``, BSD-3-Clause package), which are the test set of the UCI
"Optical Recognition of Handwritten Digits" data (E. Alpaydin and C. Kaynak, 1998; written
by 13 people; licensed by the UCI repository under CC BY 4.0), as in
:mod:`course_rnn.data.digits`. Read from the installed package: nothing is downloaded.

Train and test strings are built from disjoint source images: a fixed, seeded
permutation puts 75% of the 1,797 images in the train pool and 25% in the test pool, and
every ``split="test"`` string uses only test-pool images, whatever ``seed`` is. (The data
do not say which of the 13 writers drew which digit, so the pools are disjoint in
images, not in writers: a test string shows new digits by familiar hands.) A caller that
needs other pools (a validation pool, say) passes its own single digits as ``source``.

Options make the strings harder to cut apart, all off by default: ``widths`` stretches
or squeezes each digit to a random number of columns, a negative ``gap`` makes
neighbours touch or overlap, and ``noise`` adds grey speckle to the whole image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Label value in the padded part of :attr:`DigitStrings.labels` (and of ``starts``).
PAD_LABEL = -1
#: Height of every image: the source digits are 8x8.
HEIGHT = 8
#: Fraction of the source images kept for test strings; fixed so that pools never mix.
TEST_FRACTION = 0.25
_SPLIT_SEED = 2024  # the one permutation that defines the two pools
SPLITS = ("train", "test")
N_SOURCE = 1797  # images in sklearn's digits


@dataclass
class DigitStrings:
    """A batch of digit-string images and what they say.

    Attributes:
        images: float32 (N, 8, W), ink in [0, 1], background 0; the string is read along W.
        labels: int64 (N, max_len), the digits left to right, padded with ``PAD_LABEL``.
        lengths: int64 (N,), how many digits each image holds.
        starts: int64 (N, max_len), the first column of each digit's 8x8 box
            (``PAD_LABEL`` after the last digit); neighbours overlap when the gap < 0.
        widths: int64 (N, max_len), how many columns each digit's box spans (8 unless
            ``widths`` stretched it; ``PAD_LABEL`` after the last digit), or None.
    """

    images: np.ndarray
    labels: np.ndarray
    lengths: np.ndarray
    starts: np.ndarray
    widths: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.images)

    def text(self, i: int) -> str:
        """The digits of image ``i`` as a string, e.g. ``"40719"``."""
        return "".join(str(d) for d in self.labels[i, : self.lengths[i]])


def pool_indices(split: str = "train") -> np.ndarray:
    """Indices (sorted, int64) into ``load_digits()`` of the source images of one pool."""
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
    order = np.random.default_rng(_SPLIT_SEED).permutation(N_SOURCE)
    n_test = int(round(TEST_FRACTION * N_SOURCE))
    return np.sort(order[:n_test] if split == "test" else order[n_test:]).astype(np.int64)


def digit_pool(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """The single source digits of one pool.

    Returns:
        ``images`` float32 (M, 8, 8) in [0, 1] and ``labels`` int64 (M,); M is 1,348 for
        ``"train"`` and 449 for ``"test"``.
    """
    from sklearn.datasets import load_digits

    chosen = pool_indices(split)
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)  # (1797, 8, 8), 0..16 -> [0, 1]
    return images[chosen], digits.target[chosen].astype(np.int64)


def default_width(
    max_len: int = 8, gap: tuple[int, int] = (-1, 4), widths: tuple[int, int] = (8, 8)
) -> int:
    """The narrowest width (a multiple of 4) that fits ``max_len`` digits at the widest gap.

    ``widths`` is the range of columns one digit may span (see :func:`digit_strings`).
    """
    widest = max_len * widths[1] + (max_len - 1) * max(gap[1], 0)
    return int(-(-widest // 4) * 4)


def stretch(image: np.ndarray, width: int) -> np.ndarray:
    """``image`` (8, w) resampled to (8, ``width``) columns by linear interpolation.

    Ink keeps its place relative to the box: the first and last columns map onto the
    first and last columns. ``width == w`` returns a copy.
    """
    h, w = image.shape
    if width < 1:
        raise ValueError(f"width: expected at least 1 column, got {width}")
    if width == w:
        return image.copy()
    where = np.linspace(0, w - 1, width)  # the source column of each new column
    left = np.floor(where).astype(int)
    right = np.minimum(left + 1, w - 1)
    frac = (where - left).astype(np.float32)
    return image[:, left] * (1 - frac) + image[:, right] * frac  # (8, width)


def digit_strings(
    n: int,
    *,
    split: str = "train",
    min_len: int = 3,
    max_len: int = 8,
    gap: tuple[int, int] = (-1, 4),
    width: int | None = None,
    seed: int = 0,
    widths: tuple[int, int] = (8, 8),
    noise: float = 0.0,
    source: tuple[np.ndarray, np.ndarray] | None = None,
) -> DigitStrings:
    """``n`` images of digit strings, drawn with ``seed`` from one pool of source digits.

    Each string has a length drawn uniformly from ``min_len..max_len``, digits drawn at
    random (with their images) from the pool of ``split``, and a gap in columns drawn
    uniformly from ``gap[0]..gap[1]`` between each pair of neighbouring 8x8 boxes (a
    negative gap makes the boxes overlap; overlapping ink keeps the darker pixel). The
    string starts at a random column, so that it fits in ``width`` columns.
    ``gap=(g, g)`` gives regular spacing.

    Harder strings (the defaults leave them off and give the same strings as before):
    ``widths=(lo, hi)`` resamples each digit to a width drawn from ``lo..hi`` columns
    (:func:`stretch`), so that digits are thin, normal or wide; the gap is measured
    between these boxes. ``noise`` is the standard deviation of Gaussian grey noise added
    to every pixel (then clipped to [0, 1]), so that no column is empty. ``source``, the
    single digits to draw from as images (M, 8, 8) and labels (M,), replaces the pool
    of ``split``: a caller that made its own train, validation and test pools uses it.

    Returns:
        a :class:`DigitStrings` with images (n, 8, width).
    """
    if int(n) != n or n < 1:
        raise ValueError(f"n: expected a positive integer, got {n!r}")
    if not 1 <= min_len <= max_len:
        raise ValueError(
            f"min_len, max_len: expected 1 <= min_len <= max_len, got {min_len}, {max_len}"
        )
    lo, hi = gap
    if lo > hi or lo <= -HEIGHT:
        raise ValueError(f"gap: expected (lo, hi) with -8 < lo <= hi, got {gap!r}")
    w_lo, w_hi = widths
    if not 1 <= w_lo <= w_hi or lo <= -w_lo:
        raise ValueError(
            f"widths: expected (lo, hi) with 1 <= lo <= hi and gap[0] > -lo, got {widths!r}"
        )
    if noise < 0:
        raise ValueError(f"noise: expected a standard deviation >= 0, got {noise!r}")
    if width is None:
        width = default_width(max_len, gap, widths)
    needed = max_len * w_hi + (max_len - 1) * max(hi, 0)
    if width < needed:
        raise ValueError(
            f"width: expected at least {needed} columns for {gap=}, {widths=}, got {width}"
        )
    if source is None:
        pool_images, pool_labels = digit_pool(split)
    else:
        pool_images, pool_labels = np.asarray(source[0], np.float32), np.asarray(source[1])
        if pool_images.ndim != 3 or pool_images.shape[1:] != (HEIGHT, HEIGHT):
            raise ValueError(f"source: expected images (M, 8, 8), got {pool_images.shape}")
        if len(pool_labels) != len(pool_images) or len(pool_images) == 0:
            raise ValueError("source: expected as many labels as images, at least one")
    rng = np.random.default_rng(seed)
    images = np.zeros((n, HEIGHT, width), dtype=np.float32)
    labels = np.full((n, max_len), PAD_LABEL, dtype=np.int64)
    starts = np.full((n, max_len), PAD_LABEL, dtype=np.int64)
    box_widths = np.full((n, max_len), PAD_LABEL, dtype=np.int64)
    lengths = rng.integers(min_len, max_len + 1, size=n).astype(np.int64)
    for i, length in enumerate(lengths):
        picks = rng.integers(0, len(pool_labels), size=length)
        gaps = rng.integers(lo, hi + 1, size=length - 1)
        if (w_lo, w_hi) == (HEIGHT, HEIGHT):  # no draw: the default strings stay the same
            sizes = np.full(length, HEIGHT)
        else:
            sizes = rng.integers(w_lo, w_hi + 1, size=length)
        offsets = np.concatenate([[0], np.cumsum(sizes[:-1] + gaps)])  # box starts from 0
        extent = offsets[-1] + sizes[-1]
        left = rng.integers(0, width - extent + 1)
        for k, pick in enumerate(picks):
            c, w = left + offsets[k], sizes[k]
            digit = stretch(pool_images[pick], int(w))
            np.maximum(images[i, :, c : c + w], digit, out=images[i, :, c : c + w])
        labels[i, :length] = pool_labels[picks]
        starts[i, :length] = left + offsets
        box_widths[i, :length] = sizes
    if noise > 0:
        images += rng.normal(0.0, noise, size=images.shape).astype(np.float32)
        np.clip(images, 0.0, 1.0, out=images)
    return DigitStrings(
        images=images, labels=labels, lengths=lengths, starts=starts, widths=box_widths
    )
