"""Memory tasks on symbol sequences: the copy task and sequence reversal.

Copy task (Hochreiter & Schmidhuber 1997; in this form Arjovsky, Shah & Bengio 2016,
"Unitary evolution recurrent neural networks", arXiv:1511.06464): the network reads
``length`` random symbols, then waits through a delay of blanks, then sees a delimiter
and must output the symbols it read, in order. The answer starts ``delay`` steps after
the last symbol was read, so the task measures how long a network can remember.

Tokens of the copy task: ``0`` blank, ``1..n_symbols`` the symbols, ``n_symbols + 1`` the
delimiter (so ``vocab_size = n_symbols + 2``). For one sequence with ``length = 3``,
``delay = 4``::

    input   a b c _ _ _ : _ _ _        (":" is the delimiter, "_" a blank)
    target  _ _ _ _ _ _ _ a b c

A network that outputs blanks and then guesses uniformly has cross-entropy
``length * log(n_symbols) / (2 * length + delay)`` per step: :func:`copy_baseline`.

Sequence reversal, a classic toy task for encoder-decoders: the output is the input read
backwards. (Sutskever, Vinyals & Le 2014 reversed something else: the word order of each
source sentence fed to their translation encoder, which improved their results.) Source
and target need not be aligned step by step, which is what
:class:`course_rnn.models.Seq2Seq` is for.

Both are generated from a seeded ``numpy.random.Generator``: no download, no licence.
"""

from __future__ import annotations

import math

import numpy as np

#: Padding value of targets: ``torch.nn.functional.cross_entropy`` ignores it by default.
IGNORE_INDEX = -100

#: Special tokens of :func:`reverse_task`.
PAD, BOS, EOS = 0, 1, 2


def _check_positive(name: str, value: int, minimum: int = 1) -> int:
    if int(value) != value or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def copy_task(
    n: int, delay: int, length: int = 10, n_symbols: int = 8, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` sequences of the copy task.

    Args:
        n: number of sequences N.
        delay: steps between the last symbol and the start of the answer (>= 1): the
            input holds ``delay - 1`` blanks, then the delimiter. The sequence length is
            ``T = 2 * length + delay``.
        length: how many symbols to remember.
        n_symbols: alphabet size (symbols are ``1..n_symbols``).
        seed: seed of the numpy Generator.

    Returns:
        ``x`` int64 (N, T) input tokens; ``y`` int64 (N, T) target tokens (blank ``0``
        everywhere except the last ``length`` steps, which hold the symbols).
    """
    n = _check_positive("n", n)
    delay = _check_positive("delay", delay)
    length = _check_positive("length", length)
    n_symbols = _check_positive("n_symbols", n_symbols)
    rng = np.random.default_rng(seed)
    T = 2 * length + delay
    symbols = rng.integers(1, n_symbols + 1, size=(n, length))  # (N, length)
    x = np.zeros((n, T), dtype=np.int64)
    y = np.zeros((n, T), dtype=np.int64)
    x[:, :length] = symbols  # read the symbols first
    x[:, length + delay - 1] = n_symbols + 1  # the delimiter: "now answer"
    y[:, -length:] = symbols  # answer in the last `length` steps
    return x, y


def copy_baseline(delay: int, length: int = 10, n_symbols: int = 8) -> float:
    """Cross-entropy per step of the memoryless strategy: blanks, then uniform guesses."""
    return length * math.log(n_symbols) / (2 * length + delay)


def reverse_task(
    n: int, min_len: int = 3, max_len: int = 8, n_symbols: int = 10, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` source sequences of random lengths and their reversals.

    Tokens: ``PAD = 0``, ``BOS = 1``, ``EOS = 2``, symbols ``3 .. n_symbols + 2``
    (``vocab_size = n_symbols + 3``).

    Returns:
        ``src`` int64 (N, max_len): symbols, right-padded with ``PAD``;
        ``tgt`` int64 (N, max_len + 1): the reversed symbols then ``EOS``, right-padded
        with ``IGNORE_INDEX`` (-100) so a cross-entropy loss skips the padding.
    """
    n = _check_positive("n", n)
    min_len = _check_positive("min_len", min_len)
    max_len = _check_positive("max_len", max_len, min_len)
    n_symbols = _check_positive("n_symbols", n_symbols)
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_len, max_len + 1, size=n)  # (N,)
    src = np.full((n, max_len), PAD, dtype=np.int64)
    tgt = np.full((n, max_len + 1), IGNORE_INDEX, dtype=np.int64)
    for i, L in enumerate(lengths):
        seq = rng.integers(3, n_symbols + 3, size=L)
        src[i, :L] = seq
        tgt[i, :L] = seq[::-1]
        tgt[i, L] = EOS
    return src, tgt
