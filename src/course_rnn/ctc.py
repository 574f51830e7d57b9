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

Symbols are 0..C-1 in the data; inside the model symbol s is class s + 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BLANK = 0


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
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (N, c, 8, W) -> (N, c, 4, W/2)
            nn.Conv2d(channels, 2 * channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (N, 2c, 4, W/2) -> (N, 2c, 2, W/4)
        )
        feature_size = 2 * channels * (height // 4)
        self.rnn = nn.GRU(feature_size, hidden_size, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden_size, n_symbols + 1)
        self.ctc = nn.CTCLoss(blank=BLANK, zero_infinity=True)

    def sequence(self, x: torch.Tensor) -> torch.Tensor:
        """The image as a sequence of column features x_1..x_T: (N, T, D)."""
        if x.dim() == 3:
            x = x.unsqueeze(1)  # (N, 8, W) -> (N, 1, 8, W)
        f = self.features(x.float())  # (N, 2c, 2, W/4)
        N, C, Hh, T = f.shape
        return f.permute(0, 3, 1, 2).reshape(N, T, C * Hh)  # (N, T, D): one vector per step

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
