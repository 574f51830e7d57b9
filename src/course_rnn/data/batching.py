"""Batches for training: numpy arrays in, torch tensors on the chosen device out.

- :func:`batches` cycles through fixed arrays in shuffled mini-batches, for ever.
- :func:`fresh_batches` draws a new sample from a generator function at every step
  (the adding problem and the copy task are infinite: never show a batch twice).

Both are iterators of tuples, which is what :func:`course_rnn.train.train` consumes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from ..device import get_device


def to_tensor(
    array: np.ndarray | torch.Tensor, device: str | torch.device | None = None
) -> torch.Tensor:
    """``array`` as a torch tensor on ``device`` (float64 numpy becomes float32)."""
    tensor = torch.as_tensor(array)
    if tensor.dtype == torch.float64:
        tensor = tensor.float()
    return tensor.to(get_device(device))


def batches(
    *arrays: np.ndarray,
    batch_size: int = 64,
    seed: int = 0,
    device: str | torch.device | None = None,
    shuffle: bool = True,
) -> Iterator[tuple[torch.Tensor, ...]]:
    """Yield mini-batches of ``arrays`` (all with the same first axis N) for ever.

    Each epoch visits every row once in a seeded random order (or in order when
    ``shuffle=False``); the last, smaller batch of an epoch is dropped when N is not a
    multiple of ``batch_size``, unless N < batch_size.

    Yields:
        a tuple of tensors, one per array, each (batch_size, ...) on ``device``.
    """
    if not arrays:
        raise ValueError("arrays: expected at least one array")
    n = len(arrays[0])
    for i, a in enumerate(arrays):
        if len(a) != n:
            raise ValueError(f"arrays[{i}]: expected first axis {n}, got shape {np.shape(a)}")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    tensors = [to_tensor(a, device) for a in arrays]
    rng = np.random.default_rng(seed)
    size = min(int(batch_size), n)
    while True:
        order = rng.permutation(n) if shuffle else np.arange(n)
        for start in range(0, n - size + 1, size):
            idx = torch.as_tensor(order[start : start + size], device=tensors[0].device)
            yield tuple(t[idx] for t in tensors)


def fresh_batches(
    make: Callable[..., tuple[np.ndarray, ...]],
    batch_size: int = 64,
    seed: int = 0,
    device: str | torch.device | None = None,
    **kwargs,
) -> Iterator[tuple[torch.Tensor, ...]]:
    """Yield ``make(batch_size, seed=s, **kwargs)`` as tensors, with s = seed, seed + 1, ...

    Example: ``fresh_batches(adding_problem, 64, T=50)`` gives a new adding-problem batch
    at every step, and the same stream of batches for the same ``seed``.
    """
    step = 0
    while True:
        sample = make(batch_size, seed=seed * 1_000_003 + step, **kwargs)
        yield tuple(to_tensor(a, device) for a in sample)
        step += 1
