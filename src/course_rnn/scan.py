"""Linear recurrences and the parallel scan that trains them.

A *linear recurrence* updates its state as ``h_t = a_t * h_{t-1} + b_t`` (element-wise),
where ``a_t`` and ``b_t`` may depend on the input ``x_t`` but not on ``h_{t-1}``. A loop
needs T dependent steps. Because the pair operator

    (a1, b1) o (a2, b2) = (a1 * a2, a2 * b1 + b2)

is associative, a prefix *scan* computes every ``h_t`` in about log2(T) dependent steps
(Hillis & Steele 1986; Blelloch 1990; Martin & Cundy 2018 for RNNs). Element ``t`` of the
scan of the pairs ``(a_1, b_1 + a_1 h_0), (a_2, b_2), ...`` is ``(a_1...a_t, h_t)``.

This module holds, in the order chapter 12 uses them:

- :func:`loop` and :func:`combine`, the recurrence and its operator;
- :func:`hillis_steele` (T log T work, log T depth) and :func:`blelloch` (2T work,
  2 log T depth), in numpy, with their depth and work counted (:class:`Cost`);
- :func:`scan`, the Hillis-Steele scan on torch tensors (differentiable, any device),
  and :func:`log_scan`, the log-space form for positive values (Heinsen 2023) that keeps
  long products of small gates from underflowing;
- the models whose update is such a recurrence: :class:`MinGRU` and :class:`MinLSTM`
  (Feng et al. 2024), a diagonal linear recurrent unit :class:`LRU` (Orvieto et al. 2023)
  and a small selective state space :class:`SelectiveSSM` (Gu & Dao 2023). Each has a
  ``forward`` that trains with the scan and a ``step`` that runs one step at a time, in
  constant memory, as at inference.

Shapes are batch first: ``a`` and ``b`` are (N, T, ...) and ``h0`` is (N, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


# ------------------------------------------------------------------- the recurrence
def loop(a: Any, b: Any, h0: Any = None) -> Any:
    """Every state of ``h_t = a_t * h_{t-1} + b_t``, one step after another.

    ``a``, ``b``: (N, T, ...) numpy arrays or torch tensors; ``h0``: (N, ...) or None
    (zeros). Returns ``h`` shaped like ``b``: T dependent steps.
    """
    _check(a, b, h0)
    torch_in = isinstance(b, torch.Tensor)
    h = (torch.zeros_like(b[:, 0]) if torch_in else np.zeros_like(b[:, 0])) if h0 is None else h0
    out = []
    for t in range(b.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return torch.stack(out, dim=1) if torch_in else np.stack(out, axis=1)


def combine(first: tuple[Any, Any], second: tuple[Any, Any]) -> tuple[Any, Any]:
    """The scan's operator: apply ``first`` then ``second``. Associative, not commutative."""
    a1, b1 = first
    a2, b2 = second
    return a1 * a2, a2 * b1 + b2


def _check(a: Any, b: Any, h0: Any) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"a and b: expected the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if len(b.shape) < 2:
        raise ValueError(f"b: expected (N, T, ...), got shape {tuple(b.shape)}")
    if h0 is not None and tuple(h0.shape) != (b.shape[0], *b.shape[2:]):
        raise ValueError(f"h0: expected shape {(b.shape[0], *b.shape[2:])}, got {tuple(h0.shape)}")


@dataclass
class Cost:
    """What a scan costs: dependent rounds (depth) and operator applications (work)."""

    depth: int = 0
    work: int = 0


def _fold_h0(a: np.ndarray, b: np.ndarray, h0: Any) -> np.ndarray:
    b = b.copy()
    if h0 is not None:
        b[:, 0] = b[:, 0] + a[:, 0] * h0
    return b


# ----------------------------------------------------------------- scans in numpy
def hillis_steele(a: np.ndarray, b: np.ndarray, h0: Any = None, cost: Cost | None = None):
    """Every ``h_t`` by the Hillis-Steele scan: ceil(log2 T) rounds, each combining
    element t with element t - d for every t >= d at once (d = 1, 2, 4, ...)."""
    _check(a, b, h0)
    A, B = a.copy(), _fold_h0(a, b, h0)
    T, d = B.shape[1], 1
    while d < T:
        A_prev, B_prev = A[:, :-d].copy(), B[:, :-d].copy()  # the round reads old values
        A[:, d:], B[:, d:] = combine((A_prev, B_prev), (A[:, d:], B[:, d:]))
        if cost is not None:
            cost.depth += 1
            cost.work += T - d
        d *= 2
    return B


def blelloch(a: np.ndarray, b: np.ndarray, h0: Any = None, cost: Cost | None = None):
    """Every ``h_t`` by Blelloch's work-efficient scan: an up-sweep builds a tree of
    partial products, a down-sweep hands each node the product of everything to its
    left. About 2T operator applications in 2 log2 T rounds (T padded to a power of 2)."""
    _check(a, b, h0)
    N, T = b.shape[:2]
    size = 1 << max(0, math.ceil(math.log2(T)))
    pad = [(0, 0), (0, size - T)] + [(0, 0)] * (b.ndim - 2)
    A = np.pad(a, pad, constant_values=1)  # identity pairs (1, 0) after the end
    B = np.pad(_fold_h0(a, b, h0), pad)
    d = 1
    while d < size:  # up-sweep: node i*2d + 2d - 1 holds its block's product
        right = np.arange(2 * d - 1, size, 2 * d)
        A[:, right], B[:, right] = combine(
            (A[:, right - d], B[:, right - d]), (A[:, right], B[:, right])
        )
        if cost is not None:
            cost.depth += 1
            cost.work += len(right)
        d *= 2
    total_b = B[:, -1].copy()  # h_T (before padding: the last real state)
    A[:, -1], B[:, -1] = 1, 0  # exclusive scan: the root gets the identity
    d = size // 2
    while d >= 1:  # down-sweep: left child <- parent; right child <- parent o left
        right = np.arange(2 * d - 1, size, 2 * d)
        left_a, left_b = A[:, right - d].copy(), B[:, right - d].copy()
        A[:, right - d], B[:, right - d] = A[:, right], B[:, right]
        A[:, right], B[:, right] = combine((A[:, right], B[:, right]), (left_a, left_b))
        if cost is not None:
            cost.depth += 1
            cost.work += len(right)
        d //= 2
    # exclusive -> inclusive: shift left and append the total
    out = np.concatenate([B[:, 1:size], total_b[:, None]], axis=1)
    return out[:, :T]


# ----------------------------------------------------------------- scans in torch
def scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """Every ``h_t`` by the Hillis-Steele scan on tensors: log2 T rounds of whole-tensor
    operations, differentiable, on any device, real or complex."""
    _check(a, b, h0)
    if h0 is not None:
        b = torch.cat([(b[:, :1] + a[:, :1] * h0.unsqueeze(1)), b[:, 1:]], dim=1)
    T, d = b.shape[1], 1
    while d < T:
        a_new = torch.cat([a[:, :d], a[:, d:] * a[:, :-d]], dim=1)
        b = torch.cat([b[:, :d], a[:, d:] * b[:, :-d] + b[:, d:]], dim=1)
        a = a_new
        d *= 2
    return b


def log_scan(
    log_a: torch.Tensor, log_b: torch.Tensor, log_h0: torch.Tensor | None = None
) -> torch.Tensor:
    """``log h_t`` for positive ``a_t``, ``b_t`` (and ``h_0``), from their logarithms.

    With ``s_t = log a_1 + ... + log a_t``, ``h_t = exp(s_t) (h_0 + sum_k b_k exp(-s_k))``,
    so ``log h_t = s_t + logcumsumexp(log b_k - s_k)`` (Heinsen 2023): a cumulative sum and
    a cumulative log-sum-exp, no product that underflows.
    """
    _check(log_a, log_b, log_h0)
    s = torch.cumsum(log_a, dim=1)
    terms = log_b - s
    if log_h0 is not None:
        terms = torch.cat([log_h0.unsqueeze(1), terms], dim=1)
        return s + torch.logcumsumexp(terms, dim=1)[:, 1:]
    return s + torch.logcumsumexp(terms, dim=1)


# ------------------------------------------------------------------------- models
def _g(x: torch.Tensor) -> torch.Tensor:
    """minGRU's positive activation: x + 1/2 for x >= 0, sigmoid(x) below (continuous)."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def _log_g(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


class MinGRU(nn.Module):
    """minGRU (Feng et al. 2024): a GRU whose gate and candidate read x_t only.

        z_t = sigmoid(W_z x_t + b_z),  h~_t = g(W_h x_t + b_h),
        h_t = (1 - z_t) * h_{t-1} + z_t * h~_t

    a linear recurrence with ``a_t = 1 - z_t`` and ``b_t = z_t * h~_t``. ``forward``
    computes all states with the log-space scan (``mode="log"``, the paper's form) or
    the plain scan (``mode="scan"``); ``step`` runs one step. 2H(D + 1) parameters,
    against a GRU's 3H(D + H + 2).
    """

    def __init__(self, input_size: int, hidden_size: int, mode: str = "log") -> None:
        super().__init__()
        if mode not in ("log", "scan", "loop"):
            raise ValueError(f"mode: expected 'log', 'scan' or 'loop', got {mode!r}")
        self.hidden_size, self.mode = hidden_size, mode
        self.linear = nn.Linear(input_size, 2 * hidden_size)  # [z | h~] blocks

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        """x (N, T, D), h0 (N, H) or None (zeros; g(.) > 0 so h0 must be > 0 in log
        mode) -> h (N, T, H)."""
        k, pre_h = self.linear(x).chunk(2, dim=-1)  # (N, T, H) each
        if self.mode == "log":
            log_z = -F.softplus(-k)  # log sigmoid(k)
            log_a = -F.softplus(k)  # log (1 - sigmoid(k))
            log_h0 = None if h0 is None else torch.log(h0)
            return torch.exp(log_scan(log_a, log_z + _log_g(pre_h), log_h0))
        z = torch.sigmoid(k)
        a, b = 1 - z, z * _g(pre_h)
        return scan(a, b, h0) if self.mode == "scan" else loop(a, b, h0)

    def step(self, x_t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One step: x_t (N, D), h (N, H) -> h_t (N, H)."""
        k, pre_h = self.linear(x_t).chunk(2, dim=-1)
        z = torch.sigmoid(k)
        return (1 - z) * h + z * _g(pre_h)


class MinLSTM(nn.Module):
    """minLSTM (Feng et al. 2024): forget and input gates from x_t only, normalised to
    sum to one, so ``h_t = f'_t * h_{t-1} + i'_t * h~_t`` is a linear recurrence."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.linear = nn.Linear(input_size, 3 * hidden_size)  # [f | i | h~] blocks

    def _pairs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f, i, pre_h = self.linear(x).chunk(3, dim=-1)
        f, i = torch.sigmoid(f), torch.sigmoid(i)
        total = f + i
        return f / total, (i / total) * _g(pre_h)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        a, b = self._pairs(x)  # (N, T, H) each
        return scan(a, b, h0)

    def step(self, x_t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        a, b = self._pairs(x_t)
        return a * h + b


class LRU(nn.Module):
    """A diagonal linear recurrent unit (Orvieto et al. 2023), simplified.

        h_t = lambda * h_{t-1} + gamma * (B x_t),   y_t = Re(C h_t) + D x_t

    with a complex diagonal ``lambda = exp(-exp(nu) + i theta)`` (|lambda| < 1 always,
    initialised in a ring r_min <= |lambda| <= r_max) and ``gamma = sqrt(1 - |lambda|^2)``
    keeping the state's scale. The same ``a_t`` at every step: the recurrence does not
    select by input.
    """

    def __init__(
        self,
        input_size: int,
        state_size: int,
        output_size: int,
        r_min: float = 0.4,
        r_max: float = 0.99,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        u1, u2 = torch.rand(state_size, generator=g), torch.rand(state_size, generator=g)
        radius = torch.sqrt(u1 * (r_max**2 - r_min**2) + r_min**2)
        self.nu = nn.Parameter(torch.log(-torch.log(radius)))
        self.theta = nn.Parameter(2 * math.pi * u2 / 10)
        scale_in, scale_out = 1 / math.sqrt(2 * input_size), 1 / math.sqrt(state_size)
        self.B_re = nn.Parameter(torch.randn(state_size, input_size, generator=g) * scale_in)
        self.B_im = nn.Parameter(torch.randn(state_size, input_size, generator=g) * scale_in)
        self.C_re = nn.Parameter(torch.randn(output_size, state_size, generator=g) * scale_out)
        self.C_im = nn.Parameter(torch.randn(output_size, state_size, generator=g) * scale_out)
        self.D = nn.Parameter(torch.randn(output_size, input_size, generator=g) * scale_in)

    def _lambda(self) -> torch.Tensor:
        return torch.exp(torch.complex(-torch.exp(self.nu), self.theta))

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        lam = self._lambda()
        gamma = torch.sqrt(1 - lam.abs() ** 2)
        B = torch.complex(self.B_re, self.B_im)
        return gamma * (x.to(B.dtype) @ B.T)

    def _output(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        C = torch.complex(self.C_re, self.C_im)
        return (h @ C.T).real + x @ self.D.T

    def forward(self, x: torch.Tensor, mode: str = "scan") -> torch.Tensor:
        """x (N, T, D) -> y (N, T, output_size), from h_0 = 0."""
        b = self._input(x)  # (N, T, state), complex
        a = self._lambda().expand_as(b)
        h = scan(a, b) if mode == "scan" else loop(a, b)
        return self._output(h, x)

    def step(self, x_t: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x_t (N, D), complex h (N, state) -> (y_t, h_t)."""
        h = self._lambda() * h + self._input(x_t)
        return self._output(h, x_t), h


class SelectiveSSM(nn.Module):
    """A small selective state space layer in the manner of Mamba (Gu & Dao 2023),
    without its convolution and gating branch.

    Each of the D input channels keeps a state of size S. From x_t the layer computes a
    step size ``delta_t`` (N, D) and the vectors ``B_t``, ``C_t`` (N, S), then

        a_t = exp(delta_t * A),  b_t = delta_t * B_t * x_t,  h_t = a_t * h_{t-1} + b_t,
        y_t = C_t . h_t + skip * x_t

    with A < 0 (D, S). A large delta lets x_t overwrite the state; a small one keeps it:
    the input decides what is remembered ("selection"). With ``selective=False`` delta,
    B and C are learned constants, as in a time-invariant state space model (S4D-like).
    """

    def __init__(self, channels: int, state_size: int = 8, selective: bool = True) -> None:
        super().__init__()
        self.channels, self.state_size, self.selective = channels, state_size, selective
        A = torch.arange(1, state_size + 1, dtype=torch.float32).repeat(channels, 1)
        self.log_A = nn.Parameter(torch.log(A))  # A = -exp(log_A), S4D-real init
        if selective:
            self.to_delta = nn.Linear(channels, channels)
            self.to_BC = nn.Linear(channels, 2 * state_size, bias=False)
        else:
            self.delta = nn.Parameter(torch.zeros(channels))
            self.BC = nn.Parameter(torch.randn(2 * state_size) / math.sqrt(state_size))
        nn.init.constant_(self.to_delta.bias if selective else self.delta, -2.0)
        self.skip = nn.Parameter(torch.ones(channels))

    def _pairs(self, x: torch.Tensor):
        """x (..., D) -> a, b (..., D, S) and C (..., S)."""
        if self.selective:
            delta = F.softplus(self.to_delta(x))  # (..., D)
            B, C = self.to_BC(x).chunk(2, dim=-1)  # (..., S) each
        else:
            delta = F.softplus(self.delta).expand_as(x)
            B, C = self.BC.chunk(2)
            B, C = B.expand(*x.shape[:-1], -1), C.expand(*x.shape[:-1], -1)
        A = -torch.exp(self.log_A)  # (D, S)
        a = torch.exp(delta.unsqueeze(-1) * A)
        b = (delta * x).unsqueeze(-1) * B.unsqueeze(-2)
        return a, b, C

    def forward(self, x: torch.Tensor, mode: str = "scan") -> torch.Tensor:
        """x (N, T, D) -> y (N, T, D), from h_0 = 0."""
        a, b, C = self._pairs(x)  # (N, T, D, S), (N, T, D, S), (N, T, S)
        h = scan(a, b) if mode == "scan" else loop(a, b)
        return (h * C.unsqueeze(-2)).sum(-1) + self.skip * x

    def step(self, x_t: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x_t (N, D), h (N, D, S) -> (y_t, h_t)."""
        a, b, C = self._pairs(x_t)
        h = a * h + b
        return (h * C.unsqueeze(-2)).sum(-1) + self.skip * x_t, h
