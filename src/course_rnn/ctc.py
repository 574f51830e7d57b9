"""Reading a line of symbols from an image: convolution, a bidirectional GRU, and CTC.

The model (:class:`ConvGRUCTC`) has three parts:

1. a small convolutional network turns the image (N, 1, 8, W) into one feature vector per
   group of 4 columns: a sequence x_1..x_T of T = W / 4 steps (the image is read along W);
2. a bidirectional GRU reads that sequence both ways, so each step sees the whole line;
3. a linear layer gives, at every step, log-probabilities over the symbols plus one extra
   class, the *blank* (index 0): "no new symbol here".

Training uses the connectionist temporal classification loss (CTC; Graves et al. 2006,
``torch.nn.CTCLoss``): it sums the probability of every alignment of the target string to
the T steps (symbols may repeat over several steps, blanks may go anywhere), so no one
has to say where each symbol sits. Decoding (:func:`greedy_decode`) takes the most likely
class at each step, merges repeats and drops blanks. :func:`character_error_rate`
measures the result with the edit distance.

Two readers to compare it with: :class:`ConvCTC` is the same network without recurrence
(a 1-D convolution over the steps in place of the GRU, so each step sees a fixed window
of columns), and :func:`cut_at_gaps` is the classical segment-then-classify reader's
first half (cut at empty columns, merge or split to the known count, normalise each
piece for an ordinary classifier).

Symbols are 0..C-1 in the data; inside the model symbol s is class s + 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BLANK = 0


def conv_features(channels: int) -> nn.Sequential:
    """Two 3x3 convolutions with 2x2 max-pooling: (N, 1, 8, W) -> (N, 2c, 2, W/4)."""
    return nn.Sequential(
        nn.Conv2d(1, channels, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # (N, c, 8, W) -> (N, c, 4, W/2)
        nn.Conv2d(channels, 2 * channels, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # (N, 2c, 4, W/2) -> (N, 2c, 2, W/4)
    )


def _as_sequence(features: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run ``features`` on images (N, 8, W) or (N, 1, 8, W); one vector per step (N, T, D)."""
    if x.dim() == 3:
        x = x.unsqueeze(1)  # (N, 8, W) -> (N, 1, 8, W)
    f = features(x.float())  # (N, 2c, 2, W/4)
    N, C, Hh, T = f.shape
    return f.permute(0, 3, 1, 2).reshape(N, T, C * Hh)  # (N, T, D): one vector per step


class ConvGRUCTC(nn.Module):
    """Conv features -> bidirectional GRU -> per-step log-probabilities, trained with CTC.

    Shapes: ``x`` (N, 8, W) or (N, 1, 8, W) floats with W a multiple of 4; ``targets``
    (N, S) symbol ids 0..C-1, padded with negative values after each string's end;
    ``outputs`` (N, T, C + 1) log-probabilities with T = W / 4, class 0 the blank.
    CTC needs T at least S plus one blank between each pair of repeated symbols.
    """

    def __init__(
        self,
        n_symbols: int = 10,
        height: int = 8,
        channels: int = 32,
        hidden_size: int = 64,
    ):
        super().__init__()
        if height % 4:
            raise ValueError(f"height: expected a multiple of 4, got {height}")
        self.n_symbols = n_symbols
        self.features = conv_features(channels)
        feature_size = 2 * channels * (height // 4)
        self.rnn = nn.GRU(feature_size, hidden_size, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden_size, n_symbols + 1)
        self.ctc = nn.CTCLoss(blank=BLANK, zero_infinity=True)

    def sequence(self, x: torch.Tensor) -> torch.Tensor:
        """The image as a sequence of column features x_1..x_T: (N, T, D)."""
        return _as_sequence(self.features, x)

    def forward(
        self, x: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Read the image left to right and right to left; score each step; CTC loss."""
        seq = self.sequence(x)  # (N, T, D)
        hs, _ = self.rnn(seq)  # (N, T, 2H): [forward ‖ backward]
        log_probs = F.log_softmax(self.head(hs), dim=-1)  # (N, T, C + 1)
        loss = None
        if targets is not None:
            loss = ctc_loss(log_probs, targets, self.ctc)
        return log_probs, loss


class ConvCTC(nn.Module):
    """:class:`ConvGRUCTC` without recurrence: a 1-D convolution over the steps instead.

    The bidirectional GRU is replaced by ``nn.Conv1d(D, 2H, kernel_size)`` and a ReLU, so
    the output at step t depends on the features of steps t - k//2 .. t + k//2 only: a
    fixed window (with the default k = 3 and the convolutional features, 18 columns of
    the image), where the GRU's state can carry anything seen earlier in the line.
    Same shapes and loss as :class:`ConvGRUCTC`.
    """

    def __init__(
        self,
        n_symbols: int = 10,
        height: int = 8,
        channels: int = 32,
        hidden_size: int = 64,
        kernel_size: int = 3,
    ):
        super().__init__()
        if height % 4:
            raise ValueError(f"height: expected a multiple of 4, got {height}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: expected an odd number >= 1, got {kernel_size}")
        self.n_symbols = n_symbols
        self.features = conv_features(channels)
        feature_size = 2 * channels * (height // 4)
        self.context = nn.Sequential(
            nn.Conv1d(feature_size, 2 * hidden_size, kernel_size, padding=kernel_size // 2),
            nn.ReLU(),
        )
        self.head = nn.Linear(2 * hidden_size, n_symbols + 1)
        self.ctc = nn.CTCLoss(blank=BLANK, zero_infinity=True)

    def sequence(self, x: torch.Tensor) -> torch.Tensor:
        """The image as a sequence of column features x_1..x_T: (N, T, D)."""
        return _as_sequence(self.features, x)

    def forward(
        self, x: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Score each step from a window of neighbouring steps; CTC loss."""
        seq = self.sequence(x)  # (N, T, D)
        hs = self.context(seq.transpose(1, 2)).transpose(1, 2)  # (N, T, 2H)
        log_probs = F.log_softmax(self.head(hs), dim=-1)  # (N, T, C + 1)
        loss = None
        if targets is not None:
            loss = ctc_loss(log_probs, targets, self.ctc)
        return log_probs, loss


def ctc_loss(
    log_probs: torch.Tensor, targets: torch.Tensor, loss_fn: nn.CTCLoss | None = None
) -> torch.Tensor:
    """CTC loss of ``log_probs`` (N, T, C + 1) against padded ``targets`` (N, S), symbols 0..C-1.

    Padding is any negative value; each string's length is its count of non-negative
    entries (they must come first). The loss is averaged over the batch after dividing
    each string's negative log-likelihood by its length (``torch.nn.CTCLoss``'s "mean").
    """
    if loss_fn is None:
        loss_fn = nn.CTCLoss(blank=BLANK, zero_infinity=True)
    targets = targets.long()
    target_lengths = (targets >= 0).sum(dim=1)  # (N,)
    classes = torch.where(targets >= 0, targets + 1, torch.zeros_like(targets))  # blank = 0
    N, T, _ = log_probs.shape
    input_lengths = torch.full((N,), T, dtype=torch.long)
    return loss_fn(log_probs.transpose(0, 1), classes, input_lengths, target_lengths)


def greedy_decode(log_probs: torch.Tensor | np.ndarray) -> list[list[int]]:
    """Best class at each step, repeats merged, blanks dropped: one symbol list per image.

    ``log_probs`` (N, T, C + 1) with class 0 the blank; symbols come back as 0..C-1.
    A symbol that really repeats ("11") needs a blank between its two runs of steps.
    """
    best = np.asarray(torch.as_tensor(log_probs).argmax(dim=-1))  # (N, T)
    decoded = []
    for row in best:
        out, previous = [], BLANK
        for c in row:
            if c != previous and c != BLANK:
                out.append(int(c) - 1)
            previous = c
        decoded.append(out)
    return decoded


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance: fewest insertions, deletions and substitutions from a to b."""
    previous = list(range(len(b) + 1))  # distances from a[:0] to each prefix of b
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return int(previous[-1])


def character_error_rate(predicted: Sequence[Sequence], truth: Sequence[Sequence]) -> float:
    """Total edit distance divided by the total length of the true strings.

    0 is perfect; a model that outputs nothing scores 1; extra symbols can push it past 1.
    """
    if len(predicted) != len(truth):
        raise ValueError(
            f"predicted, truth: expected as many predictions as strings, "
            f"got {len(predicted)} and {len(truth)}"
        )
    total = sum(len(t) for t in truth)
    if total == 0:
        raise ValueError("truth: expected at least one symbol in the true strings")
    return sum(edit_distance(p, t) for p, t in zip(predicted, truth, strict=True)) / total


def equal_slots(image: np.ndarray, n: int, size: int = 8) -> np.ndarray:
    """Cut the inked part of ``image`` (8, W) into ``n`` equal slots, each as a size x size image.

    The fixed-segmentation baseline: it is told how many symbols there are and assumes
    they are evenly spaced between the first and the last inked column. Each slot is
    centred on its own inked columns and cropped or padded to ``size`` columns.

    Returns:
        float32 (n, 8, size).
    """
    if n < 1:
        raise ValueError(f"n: expected at least one slot, got {n}")
    inked = np.flatnonzero(image.max(axis=0) > 0)
    first, last = (inked[0], inked[-1] + 1) if inked.size else (0, image.shape[1])
    bounds = np.linspace(first, last, n + 1)
    slots = np.zeros((n, image.shape[0], size), dtype=np.float32)
    for k in range(n):
        a, b = int(round(bounds[k])), int(round(bounds[k + 1]))
        part = image[:, a : max(b, a + 1)]
        cols = np.flatnonzero(part.max(axis=0) > 0)
        if cols.size:
            part = part[:, cols[0] : cols[-1] + 1]  # the slot's own ink
        w = part.shape[1]
        if w > size:  # keep the middle columns
            cut = (w - size) // 2
            part, w = part[:, cut : cut + size], size
        pad = (size - w) // 2
        slots[k, :, pad : pad + w] = part
    return slots


def ink_runs(ink: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True in a 1-D mask as half-open (start, end) pairs, left to right."""
    padded = np.concatenate([[False], np.asarray(ink, bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])  # starts and ends alternate
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def normalise_digit(part: np.ndarray, size: int = 8, ink_width: int = 6) -> np.ndarray:
    """Crop ``part`` (8, w) to its inked columns, resample them to ``ink_width`` columns
    and centre them in a (8, ``size``) box: the input a single-digit classifier expects.

    An empty ``part`` gives an empty box. Applied to the single digits a classifier is
    trained on and to the pieces a reader cuts, it undoes differences in width.
    """
    from .data.digit_strings import stretch

    box = np.zeros((part.shape[0], size), dtype=np.float32)
    cols = np.flatnonzero(part.max(axis=0) > 0)
    if cols.size == 0:
        return box
    ink = stretch(part[:, cols[0] : cols[-1] + 1], ink_width)
    pad = (size - ink_width) // 2
    box[:, pad : pad + ink_width] = ink
    return box


def cut_at_gaps(
    image: np.ndarray, n: int, threshold: float = 0.0, size: int = 8, ink_width: int = 6
) -> np.ndarray:
    """Segment ``image`` (8, W) into ``n`` pieces at its empty columns, as a classical
    reader does, and return each piece normalised (:func:`normalise_digit`).

    Pixels at or below ``threshold`` count as background (set to 0). The runs of inked
    columns are the first guess of the pieces. While there are more than ``n``, the two
    neighbours whose union is narrowest are merged (a digit broken in two, a speck);
    while there are fewer, the widest is split at its faintest column in its middle
    half (two digits that touch). The reader is told ``n``, which real text does not say.

    Returns:
        float32 (n, 8, ``size``).
    """
    if n < 1:
        raise ValueError(f"n: expected at least one piece, got {n}")
    clean = np.where(image > threshold, image, 0.0).astype(np.float32)
    column_ink = clean.sum(axis=0)  # (W,)
    runs = ink_runs(column_ink > 0) or [(0, clean.shape[1])]
    while len(runs) > n:  # merge the narrowest pair of neighbours
        k = min(range(len(runs) - 1), key=lambda k: runs[k + 1][1] - runs[k][0])
        runs[k : k + 2] = [(runs[k][0], runs[k + 1][1])]
    while len(runs) < n:  # split the widest run at its faintest middle column
        k = max(range(len(runs)), key=lambda k: runs[k][1] - runs[k][0])
        a, b = runs[k]
        if b - a < 2:
            runs.insert(k + 1, (b, b))  # nothing left to split: an empty piece
            continue
        lo, hi = a + max(1, (b - a) // 4), b - max(1, (b - a) // 4)
        cut = lo + int(np.argmin(column_ink[lo : max(hi, lo + 1)]))
        runs[k : k + 1] = [(a, cut), (cut, b)]
    return np.stack([normalise_digit(clean[:, a:b], size, ink_width) for a, b in runs])
