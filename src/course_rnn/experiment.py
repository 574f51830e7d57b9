"""The book's protocol for comparing models: splits, budgets, selection, one test read.

Every chapter that compares models uses these pieces, so a reader can trust a table:

1. **Splits that are disjoint for real.** :func:`group_near_duplicates` puts items that
   are the same up to a stated similarity (a tune transposed, 99% identical grids) in one
   group; :func:`split_by_group` then sends whole groups to train, validation or test.
2. **The same budget for every model.** :func:`fit` trains for a fixed number of steps,
   evaluates on the validation set every ``eval_every`` steps, records a learning curve
   (steps and wall-clock seconds), and keeps the checkpoint with the best validation
   score. Nothing here looks at the test set.
3. **The test set read once.** :class:`TestSet` hands its data to one evaluation per
   model and refuses a second, so a number cannot be tuned on the test set by accident.
4. **Learning curves side by side.** :func:`plot_learning_curves` draws every compared
   model's validation curve in one figure, so "learns faster" and "learns better" can be
   told apart.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

T = TypeVar("T")


# ---------------------------------------------------------------------------- splits
def group_near_duplicates(
    items: Sequence[T],
    *,
    key: Callable[[T], Hashable] | None = None,
    similar: Callable[[T, T], bool] | None = None,
) -> list[int]:
    """Group ids, shape (len(items),): items in one group are near-duplicates.

    ``key`` maps an item to a normalised form (e.g. a melody's intervals, which a
    transposition does not change): items with equal keys share a group. ``similar``
    is a pairwise test (e.g. "99% of the cells agree"): items it links share a group,
    transitively. Give one or both. Groups are numbered in order of first appearance.
    """
    if key is None and similar is None:
        raise ValueError("group_near_duplicates: expected key=..., similar=... or both")
    n = len(items)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    if key is not None:
        first: dict[Hashable, int] = {}
        for i, item in enumerate(items):
            union(i, first.setdefault(key(item), i))
    if similar is not None:
        for i in range(n):
            for j in range(i + 1, n):
                if find(i) != find(j) and similar(items[i], items[j]):
                    union(i, j)
    ids: dict[int, int] = {}
    return [ids.setdefault(find(i), len(ids)) for i in range(n)]


@dataclass(frozen=True)
class Split:
    """Indices of the train, validation and test items (disjoint, sorted)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def sizes(self) -> tuple[int, int, int]:
        return len(self.train), len(self.val), len(self.test)


def split_by_group(
    groups: Sequence[Hashable],
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    *,
    seed: int = 0,
) -> Split:
    """Split items into train/validation/test so that no group crosses two parts.

    ``groups[i]`` is item i's group (from :func:`group_near_duplicates`, or any label
    such as a speaker or a tune). Whole groups are shuffled with ``seed`` and dealt out
    until each part holds about its fraction of the items.
    """
    if len(fractions) != 3 or min(fractions) < 0 or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions: expected three shares that sum to 1, got {fractions}")
    labels = list(dict.fromkeys(groups))
    if len(labels) < 3:
        raise ValueError(f"groups: expected at least 3 distinct groups, got {len(labels)}")
    members: dict[Hashable, list[int]] = {g: [] for g in labels}
    for i, g in enumerate(groups):
        members[g].append(i)
    order = np.random.default_rng(seed).permutation(len(labels))
    n = len(groups)
    want_test, want_val = fractions[2] * n, fractions[1] * n
    parts: list[list[int]] = [[], [], []]  # train, val, test
    for k in order:
        idx = members[labels[k]]
        if len(parts[2]) < want_test and fractions[2] > 0:
            parts[2].extend(idx)
        elif len(parts[1]) < want_val and fractions[1] > 0:
            parts[1].extend(idx)
        else:
            parts[0].extend(idx)
    return Split(*(np.array(sorted(p), dtype=np.int64) for p in parts))


# --------------------------------------------------------------------------- training
@dataclass
class Run:
    """One model trained under the protocol.

    Attributes:
        name: the row label in tables and the legend in figures.
        steps: the steps at which validation was measured.
        val: the validation score at each of ``steps``.
        seconds: wall-clock seconds of training up to each of ``steps``.
        train_loss: the training loss of every step.
        best_step: the step whose checkpoint was kept (best validation score).
        best_val: the validation score of that checkpoint.
        parameters: how many trainable parameters the model has.
        test: the test score, once :class:`TestSet` has evaluated it (else None).
    """

    name: str
    steps: list[int] = field(default_factory=list)
    val: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    best_step: int = 0
    best_val: float = float("nan")
    parameters: int = 0
    test: float | None = None

    @property
    def total_seconds(self) -> float:
        return self.seconds[-1] if self.seconds else 0.0

    def first_step(self, level: float, *, below: bool = True) -> int | None:
        """The first validation step whose score was below ``level`` (with
        ``below=False``: at or above it), or None if no measured step was."""
        for step, value in zip(self.steps, self.val, strict=True):
            if (value < level) if below else (value >= level):
                return step
        return None


def fit(
    name: str,
    model: Any,
    step: Callable[[int], float],
    validate: Callable[[], float],
    *,
    steps: int,
    eval_every: int,
    higher_is_better: bool = False,
    keep_best: bool = True,
) -> Run:
    """Train ``model`` for exactly ``steps`` calls of ``step``; select on validation.

    ``step(i)`` does one optimisation step (i = 1..steps) and returns its training loss.
    ``validate()`` returns the validation score (called with the model in eval mode and
    gradients off when ``model`` is a torch module). The score is measured at step 0,
    every ``eval_every`` steps and at the end. With ``keep_best`` the parameters of the
    best-scoring step are restored when training ends, so what is evaluated later is the
    checkpoint chosen on validation. Every compared model gets the same ``steps``.
    """
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps: expected a positive integer, got {steps!r}")
    if int(eval_every) != eval_every or eval_every < 1:
        raise ValueError(f"eval_every: expected a positive integer, got {eval_every!r}")
    torch_module = hasattr(model, "state_dict") and hasattr(model, "train")
    run = Run(name=name)
    if torch_module:
        run.parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    better = (lambda a, b: a > b) if higher_is_better else (lambda a, b: a < b)
    best_state = None
    clock = 0.0

    def measure(i: int) -> None:
        nonlocal best_state
        if torch_module:
            import torch

            model.eval()
            with torch.no_grad():
                score = float(validate())
            model.train()
        else:
            score = float(validate())
        run.steps.append(i)
        run.val.append(score)
        run.seconds.append(clock)
        if np.isnan(run.best_val) or better(score, run.best_val):
            run.best_step, run.best_val = i, score
            if keep_best and torch_module:
                best_state = copy.deepcopy(model.state_dict())

    measure(0)
    for i in range(1, int(steps) + 1):
        started = time.perf_counter()
        run.train_loss.append(float(step(i)))
        clock += time.perf_counter() - started
        if i % eval_every == 0 or i == steps:
            measure(i)
    if keep_best and best_state is not None:
        model.load_state_dict(best_state)
    return run


class TestSet(Generic[T]):
    """The held-out data, read once per model.

    ``evaluate(run, fn)`` calls ``fn(data)`` and stores the result in ``run.test``. A
    second evaluation of the same run name raises, so the test set cannot be used to
    choose anything.
    """

    __test__ = False  # not a pytest class

    def __init__(self, data: T) -> None:
        self._data = data
        self.read: dict[str, float] = {}

    def evaluate(self, run: Run, fn: Callable[[T], float]) -> float:
        if run.name in self.read:
            raise RuntimeError(
                f"the test set was already read for {run.name!r}: choose on validation, "
                "read the test set once"
            )
        score = float(fn(self._data))
        self.read[run.name] = score
        run.test = score
        return score


# --------------------------------------------------------------------------- figures
def plot_learning_curves(
    runs: Sequence[Run],
    ax: Any = None,
    *,
    ylabel: str = "validation score",
    baseline: float | None = None,
    baseline_label: str = "baseline",
    x: str = "steps",
    logy: bool = False,
) -> Any:
    """Validation curves of every run in one axes (x: ``"steps"`` or ``"seconds"``).

    A dot marks each run's kept checkpoint; a dashed line marks a baseline.
    """
    import matplotlib.pyplot as plt

    from .plots import COLORS

    if x not in ("steps", "seconds"):
        raise ValueError(f"x: expected 'steps' or 'seconds', got {x!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for run in runs:
        xs = run.steps if x == "steps" else run.seconds
        color = COLORS.get(run.name.lower().split()[0]) if run.name else None
        (line,) = ax.plot(xs, run.val, label=run.name, color=color)
        k = run.steps.index(run.best_step)
        ax.plot([xs[k]], [run.val[k]], "o", color=line.get_color(), markersize=4)
    if baseline is not None:
        ax.axhline(baseline, color=COLORS["baseline"], linestyle="--", label=baseline_label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("training step" if x == "steps" else "training time (s)")
    ax.set_ylabel(ylabel)
    ax.legend()
    return ax
