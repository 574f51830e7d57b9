"""A small training loop: Adam, gradient clipping by norm, history, early stop.

One step is: take a batch ``(x, targets)``, compute ``outputs, loss = model(x, targets)``,
backpropagate, measure the gradient norm, clip it (optional), update the weights. The
:class:`History` keeps the loss and the gradient norm (before clipping) of every step,
which is what the book plots.

Clipping by norm (Pascanu, Mikolov & Bengio 2013): if ||g|| > clip then g <- clip * g / ||g||,
where g is all parameter gradients taken together.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .device import get_device


@dataclass
class History:
    """What happened during :func:`train`.

    Attributes:
        loss: training loss of each step (float per step).
        grad_norm: total gradient norm of each step, measured before clipping.
        metric: ``(step, value)`` pairs from the ``evaluate`` callback.
        stopped_early: True when the target loss was reached before ``steps``.
        seconds: wall-clock time of the loop.
    """

    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    metric: list[tuple[int, float]] = field(default_factory=list)
    stopped_early: bool = False
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        """How many optimisation steps were taken."""
        return len(self.loss)

    def smoothed_loss(self, window: int = 20) -> np.ndarray:
        """Running mean of the loss over the last ``window`` steps, shape (steps,)."""
        loss = np.asarray(self.loss, dtype=np.float64)
        if loss.size == 0:
            return loss
        cums = np.cumsum(np.insert(loss, 0, 0.0))
        idx = np.arange(1, loss.size + 1)
        start = np.maximum(idx - window, 0)
        return (cums[idx] - cums[start]) / (idx - start)


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's random generators (call before building a model)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _to_device(batch, device: torch.device):
    """Move a batch (tuple/list of tensors or arrays) to ``device``."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise ValueError(
            f"batches: expected each batch to be a pair (x, targets), got {type(batch).__name__}"
            + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else "")
        )
    return tuple(torch.as_tensor(b).to(device) for b in batch)


def train(
    model: nn.Module,
    batches: Iterable,
    *,
    steps: int = 1000,
    lr: float = 1e-3,
    optimizer: torch.optim.Optimizer | None = None,
    clip: float | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    target_loss: float | None = None,
    target_window: int = 20,
    evaluate: Callable[[nn.Module], float] | None = None,
    eval_every: int = 100,
    progress: bool = False,
) -> History:
    """Train ``model`` for ``steps`` steps on ``batches``; return the :class:`History`.

    Args:
        model: any module whose ``forward(x, targets)`` returns ``(outputs, loss)``.
        batches: an iterable of ``(x, targets)`` pairs; a finite one (a list, a
            DataLoader) is restarted when it runs out.
        steps: maximum number of optimisation steps.
        lr: learning rate of the default optimizer, ``torch.optim.Adam``.
        optimizer: use this optimizer instead of Adam (``lr`` is then ignored).
        clip: clip the total gradient norm to this value (None: no clipping).
        seed: seeds torch, numpy and Python before training (dropout, sampling).
        device: where to train (see :func:`course_rnn.device.get_device`); the model and
            every batch are moved there.
        target_loss: stop once the mean loss of the last ``target_window`` steps is at or
            below this value.
        evaluate: called as ``evaluate(model)`` every ``eval_every`` steps and at the end,
            with the model in eval mode and gradients off; its number goes to
            ``History.metric``.
        progress: show a ``tqdm.auto`` progress bar (off by default, so that built books
            and graded notebooks stay quiet: tqdm writes to stderr).
    """
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps: expected a positive integer, got {steps!r}")
    if clip is not None and clip <= 0:
        raise ValueError(f"clip: expected a positive number or None, got {clip!r}")
    seed_everything(seed)
    device = get_device(device)
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer is None:
        optimizer = torch.optim.Adam(params, lr=lr)
    history = History()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=int(steps), desc="train")

    def run_evaluate(step: int) -> None:
        model.eval()
        with torch.no_grad():
            history.metric.append((step, float(evaluate(model))))
        model.train()

    start = time.perf_counter()
    iterator = iter(batches)
    model.train()
    for step in range(1, int(steps) + 1):
        try:
            batch = next(iterator)
        except StopIteration:
            iterator = iter(batches)  # a finite iterable: start another epoch
            try:
                batch = next(iterator)
            except StopIteration:
                raise ValueError("batches: expected at least one batch, got none") from None
        x, targets = _to_device(batch, device)
        _, loss = model(x, targets)
        if loss is None:
            raise ValueError("model returned no loss: forward(x, targets) must return a loss")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = float("inf") if clip is None else clip
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm)  # norm before clipping
        optimizer.step()
        history.loss.append(float(loss.detach()))
        history.grad_norm.append(float(norm))
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{history.loss[-1]:.4f}")
        if evaluate is not None and step % eval_every == 0:
            run_evaluate(step)
        if target_loss is not None and len(history.loss) >= target_window:
            if np.mean(history.loss[-target_window:]) <= target_loss:
                history.stopped_early = step < steps
                break
    if evaluate is not None and (not history.metric or history.metric[-1][0] != history.steps):
        run_evaluate(history.steps)
    if bar is not None:
        bar.close()
    history.seconds = time.perf_counter() - start
    return history
