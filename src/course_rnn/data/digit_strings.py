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
images, not in writers: a test string shows new digits by familiar hands.)
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
    """

    images: np.ndarray
    labels: np.ndarray
    lengths: np.ndarray
    starts: np.ndarray

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


def default_width(max_len: int = 8, gap: tuple[int, int] = (-1, 4)) -> int:
    """The narrowest width (a multiple of 4) that fits ``max_len`` digits at the widest gap."""
    widest = max_len * HEIGHT + (max_len - 1) * max(gap[1], 0)
    return int(-(-widest // 4) * 4)


def digit_strings(
    n: int,
    *,
    split: str = "train",
    min_len: int = 3,
    max_len: int = 8,
    gap: tuple[int, int] = (-1, 4),
    width: int | None = None,
    seed: int = 0,
) -> DigitStrings:
    """``n`` images of digit strings, drawn with ``seed`` from one pool of source digits.

    Each string has a length drawn uniformly from ``min_len..max_len``, digits drawn at
    random (with their images) from the pool of ``split``, and a gap in columns drawn
    uniformly from ``gap[0]..gap[1]`` between each pair of neighbouring 8x8 boxes (a
    negative gap makes the boxes overlap; overlapping ink keeps the darker pixel). The
    string starts at a random column, so that it fits in ``width`` columns.
    ``gap=(g, g)`` gives regular spacing.

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
    if width is None:
        width = default_width(max_len, gap)
    needed = max_len * HEIGHT + (max_len - 1) * max(hi, 0)
    if width < needed:
        raise ValueError(f"width: expected at least {needed} columns for {gap=}, got {width}")
    pool_images, pool_labels = digit_pool(split)
    rng = np.random.default_rng(seed)
    images = np.zeros((n, HEIGHT, width), dtype=np.float32)
    labels = np.full((n, max_len), PAD_LABEL, dtype=np.int64)
    starts = np.full((n, max_len), PAD_LABEL, dtype=np.int64)
    lengths = rng.integers(min_len, max_len + 1, size=n).astype(np.int64)
    for i, length in enumerate(lengths):
        picks = rng.integers(0, len(pool_labels), size=length)
        gaps = rng.integers(lo, hi + 1, size=length - 1)
        offsets = np.concatenate([[0], np.cumsum(HEIGHT + gaps)])  # box starts from 0
        extent = offsets[-1] + HEIGHT
        left = rng.integers(0, width - extent + 1)
        for k, pick in enumerate(picks):
            c = left + offsets[k]
            np.maximum(
                images[i, :, c : c + HEIGHT], pool_images[pick], out=images[i, :, c : c + HEIGHT]
            )
        labels[i, :length] = pool_labels[picks]
        starts[i, :length] = left + offsets
    return DigitStrings(images=images, labels=labels, lengths=lengths, starts=starts)
