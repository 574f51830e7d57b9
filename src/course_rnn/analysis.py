"""Why gradients vanish or explode through time: measurements to plot.

Backpropagation through time multiplies the gradient by one Jacobian per step:

    dL/dh_t = (dh_{t+1}/dh_t)^T dL/dh_{t+1},   dh_{t+1}/dh_t = diag(f'(a_{t+1})) W_hh

so ||dL/dh_{T-k}|| behaves like a product of k Jacobians. For a linear recurrence the
product is W_hh^k, governed in the long run by the spectral radius rho(W_hh) (largest
|eigenvalue|): it shrinks like rho^k when rho < 1, explodes when rho > 1, and stays put
for an orthogonal W_hh (rho = 1). With a nonlinearity f whose slope is at most gamma
(1 for tanh and relu), each Jacobian stretches a vector by at most gamma * sigma_1(W_hh),
sigma_1 the largest singular value: sigma_1 < 1/gamma is enough for the gradient to
vanish, and sigma_1 > 1/gamma is needed for it to explode (Pascanu, Mikolov & Bengio
2013). rho <= sigma_1, with equality for a normal W_hh (e.g. scaled orthogonal); for a
non-normal one they can be far apart.

This module measures:

- :func:`spectral_radius`, :func:`largest_singular_value`,
  :func:`matrix_with_spectral_radius` and :func:`nonnormal_matrix` (rho and sigma_1
  chosen separately);
- :func:`recurrence_gradient_norms`: ||dL/dh_t|| for t = 1..T of a plain recurrence
  h_t = f(W_hh h_{t-1} + u_t), f linear, tanh or relu, with a W_hh you choose;
- :func:`hidden_gradient_norms`: the same for a ``torch.nn.RNN``/``LSTM``/``GRU`` (or a
  cell) on a given input and loss, unrolled step by step so that every h_t is a tensor;
- :func:`recurrence_jacobians`, :func:`rnn_jacobians` and :func:`jacobian_product_norms`:
  the Jacobians dh_t/dh_{t-1} and the norms of their products.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .device import get_device

NONLINEARITIES = ("linear", "tanh", "relu")


def _as_numpy(W: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(W, torch.Tensor):
        W = W.detach().cpu().double().numpy()
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"W: expected a square matrix (H, H), got shape {W.shape}")
    return W


def spectral_radius(W: np.ndarray | torch.Tensor) -> float:
    """rho(W) = max |eigenvalue| of a square matrix ``W`` (H, H), numpy or torch."""
    return float(np.max(np.abs(np.linalg.eigvals(_as_numpy(W)))))


def largest_singular_value(W: np.ndarray | torch.Tensor) -> float:
    """sigma_1(W) = ||W||_2, the most a square matrix ``W`` (H, H) stretches a vector."""
    return float(np.linalg.norm(_as_numpy(W), 2))


def matrix_with_spectral_radius(
    H: int, rho: float, kind: str = "orthogonal", seed: int = 0
) -> np.ndarray:
    """A random (H, H) float64 matrix whose spectral radius is ``rho``.

    ``kind="orthogonal"``: rho times a random orthogonal matrix (QR of a Gaussian
    matrix), so every eigenvalue has modulus rho and ||W^k v|| = rho^k ||v|| exactly.
    ``kind="gaussian"``: a Gaussian matrix rescaled so its largest |eigenvalue| is rho;
    it is not normal, so ||W^k v|| can grow for a while before it follows rho^k.
    """
    if int(H) != H or H < 1:
        raise ValueError(f"H: expected a positive integer, got {H!r}")
    if rho < 0:
        raise ValueError(f"rho: expected a number >= 0, got {rho!r}")
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((int(H), int(H)))
    if kind == "orthogonal":
        Q, R = np.linalg.qr(A)
        Q = Q * np.sign(np.diag(R))  # fix column signs: uniformly distributed Q
        return rho * Q
    if kind == "gaussian":
        return A * (rho / spectral_radius(A))
    raise ValueError(f"kind: expected 'orthogonal' or 'gaussian', got {kind!r}")


def nonnormal_matrix(H: int, rho: float, sigma: float, seed: int = 0) -> np.ndarray:
    """A random (H, H) float64 matrix with spectral radius ``rho`` and sigma_1 = ``sigma``.

    Built in Schur form, W = Q (Lambda + c U) Q^T: Q a random orthogonal matrix, Lambda a
    diagonal of real eigenvalues drawn from [-rho, rho] (one of them exactly rho), U a
    strictly upper triangular Gaussian matrix. The eigenvalues of a triangular matrix are
    its diagonal, so rho(W) = rho whatever c is; c >= 0 is then found by bisection so that
    sigma_1(W) = sigma (sigma_1 grows with c from rho). ``sigma == rho`` gives a normal
    (symmetric) matrix; ``sigma > rho`` a non-normal one whose powers W^k can grow for a
    while before they decay like rho^k. (The larger sigma / rho, the less accurately
    ``numpy.linalg.eigvals`` finds the eigenvalues: they are ill-conditioned.)
    """
    if int(H) != H or H < 2:
        raise ValueError(f"H: expected an integer >= 2, got {H!r}")
    if rho <= 0:
        raise ValueError(f"rho: expected a number > 0, got {rho!r}")
    if sigma < rho:
        raise ValueError(
            f"sigma: expected a number >= rho = {rho!r} (sigma_1 >= rho), got {sigma!r}"
        )
    H = int(H)
    rng = np.random.default_rng(seed)
    eigenvalues = rng.uniform(-rho, rho, size=H)
    eigenvalues[0] = rho
    Lam = np.diag(eigenvalues)  # (H, H)
    U = np.triu(rng.standard_normal((H, H)), k=1)  # strictly upper triangular

    def sigma_1(c: float) -> float:
        return float(np.linalg.norm(Lam + c * U, 2))

    # sigma_1(c) is convex in c with its minimum, rho, at c = 0: bisect on [lo, hi].
    lo, hi = 0.0, 0.0
    if sigma > rho:  # (at sigma == rho, c = 0: sigma_1 is too flat near 0 to bisect)
        hi = 1.0
        while sigma_1(hi) < sigma:
            lo, hi = hi, 2 * hi
        while hi - lo > 1e-15 * hi:
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if sigma_1(mid) < sigma else (lo, mid)
    c = (lo + hi) / 2
    Q, R = np.linalg.qr(rng.standard_normal((H, H)))
    Q = Q * np.sign(np.diag(R))  # a uniformly distributed orthogonal matrix
    return Q @ (Lam + c * U) @ Q.T  # an orthogonal change of basis keeps rho, sigma_1


def _unit_vector(H: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(H)
    return v / np.linalg.norm(v)


def _nonlinearity(nonlinearity: str):
    if nonlinearity == "linear":
        return lambda a: a
    if nonlinearity == "tanh":
        return torch.tanh
    if nonlinearity == "relu":
        return torch.relu
    raise ValueError(f"nonlinearity: expected one of {NONLINEARITIES}, got {nonlinearity!r}")


def _recurrence_states(
    W: torch.Tensor, T: int, nonlinearity: str, inputs: torch.Tensor, h0: torch.Tensor
) -> list[torch.Tensor]:
    """h_1..h_T of h_t = f(W h_{t-1} + u_t), each h_t a (H,) tensor that keeps its grad."""
    f = _nonlinearity(nonlinearity)
    h, states = h0.clone().requires_grad_(True), []
    for t in range(T):
        h = f(W @ h + inputs[t])  # a_t = W_hh h_{t-1} + u_t, h_t = f(a_t)
        h.retain_grad()
        states.append(h)
    return states


def _recurrence_setup(W_hh, T, inputs, input_scale, h0, seed):
    W = torch.as_tensor(_as_numpy(W_hh))
    H = W.shape[0]
    if int(T) != T or T < 1:
        raise ValueError(f"T: expected a positive integer, got {T!r}")
    T = int(T)
    rng = np.random.default_rng(seed)
    if inputs is None:
        inputs = input_scale * rng.standard_normal((T, H))
    inputs = torch.as_tensor(np.asarray(inputs, dtype=np.float64))
    if inputs.shape != (T, H):
        raise ValueError(f"inputs: expected shape ({T}, {H}), got {tuple(inputs.shape)}")
    h0 = (
        torch.zeros(H, dtype=torch.float64)
        if h0 is None
        else torch.as_tensor(np.asarray(h0, dtype=np.float64))
    )
    return W, T, inputs, h0


def recurrence_gradient_norms(
    W_hh: np.ndarray | torch.Tensor,
    T: int,
    nonlinearity: str = "linear",
    inputs: np.ndarray | None = None,
    input_scale: float = 1.0,
    h0: np.ndarray | None = None,
    seed: int = 0,
) -> np.ndarray:
    """||dL/dh_t|| for t = 1..T of the recurrence h_t = f(W_hh h_{t-1} + u_t).

    The loss reads the last state only, L = v . h_T with a fixed random unit vector v, so
    ||dL/dh_T|| = 1 and entry ``T - 1 - k`` shows how much of the error signal reaches
    k steps back.

    Args:
        W_hh: (H, H) recurrent matrix (numpy or torch); computed in float64.
        T: number of steps.
        nonlinearity: ``"linear"``, ``"tanh"`` or ``"relu"``.
        inputs: (T, H) input drive u_t; default ``input_scale`` times seeded N(0, 1)
            noise (the inputs matter for tanh and relu, which they push into saturation
            or the flat side; for a linear recurrence they do not change the gradient).
        h0: (H,) initial state, default zeros.
        seed: seeds the default inputs and v.

    Returns:
        float64 (T,): entry t - 1 is ||dL/dh_t||.
    """
    W, T, u, h = _recurrence_setup(W_hh, T, inputs, input_scale, h0, seed)
    states = _recurrence_states(W, T, nonlinearity, u, h)
    v = torch.as_tensor(_unit_vector(W.shape[0], seed + 1))
    loss = v @ states[-1]  # L = v . h_T
    loss.backward()
    return np.array([float(s.grad.norm()) for s in states])


def recurrence_jacobians(
    W_hh: np.ndarray | torch.Tensor,
    T: int,
    nonlinearity: str = "linear",
    inputs: np.ndarray | None = None,
    input_scale: float = 1.0,
    h0: np.ndarray | None = None,
    seed: int = 0,
) -> np.ndarray:
    """The step Jacobians dh_t/dh_{t-1} = diag(f'(a_t)) W_hh of the recurrence, t = 1..T.

    Same arguments as :func:`recurrence_gradient_norms`. Returns float64 (T, H, H).
    """
    W, T, u, h = _recurrence_setup(W_hh, T, inputs, input_scale, h0, seed)
    Wn = W.numpy()
    out = np.empty((T, *Wn.shape))
    _nonlinearity(nonlinearity)  # validates the name
    for t in range(T):
        a = Wn @ h.numpy() + u[t].numpy()  # pre-activation a_t
        if nonlinearity == "linear":
            h_new, slope = a, np.ones_like(a)
        elif nonlinearity == "tanh":
            h_new = np.tanh(a)
            slope = 1.0 - h_new**2  # tanh'(a) = 1 - tanh(a)^2
        else:
            h_new, slope = np.maximum(a, 0.0), (a > 0).astype(np.float64)
        out[t] = slope[:, None] * Wn  # diag(f'(a_t)) W_hh
        h = torch.as_tensor(h_new)
    return out


def jacobian_product_norms(jacobians: np.ndarray | torch.Tensor) -> np.ndarray:
    """Spectral norms of the products of the last k Jacobians, k = 0..T.

    Args:
        jacobians: (T, H, H), entry t - 1 is dh_t/dh_{t-1}.

    Returns:
        float64 (T + 1,): entry k is ||dh_T/dh_{T-k}||_2 = ||J_T J_{T-1} ... J_{T-k+1}||_2
        (entry 0 is 1: the identity).
    """
    J = (
        jacobians.detach().cpu().double().numpy()
        if isinstance(jacobians, torch.Tensor)
        else (np.asarray(jacobians, dtype=np.float64))
    )
    if J.ndim != 3 or J.shape[1] != J.shape[2]:
        raise ValueError(f"jacobians: expected shape (T, H, H), got {J.shape}")
    P = np.eye(J.shape[1])
    norms = [1.0]
    for t in range(J.shape[0] - 1, -1, -1):
        P = P @ J[t]  # dh_T/dh_{t} = (dh_T/dh_{t+1}) (dh_{t+1}/dh_t)
        norms.append(float(np.linalg.norm(P, 2)))
    return np.array(norms)


# ---------------------------------------------------------------- torch recurrent modules


def _check_module(module: nn.Module) -> str:
    if isinstance(module, (nn.RNNCell, nn.GRUCell)):
        return "cell"
    if isinstance(module, nn.LSTMCell):
        return "lstm_cell"
    if isinstance(module, (nn.RNN, nn.GRU, nn.LSTM)):
        if module.bidirectional:
            raise ValueError("module: expected a unidirectional RNN (the state flows forward)")
        if not module.batch_first:
            raise ValueError("module: expected batch_first=True")
        return "lstm" if isinstance(module, nn.LSTM) else "rnn"
    raise ValueError(
        "module: expected torch.nn.RNN, LSTM, GRU or one of their cells, "
        f"got {type(module).__name__}"
    )


def _unroll(module: nn.Module, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Run ``module`` one step at a time over x (N, T, D).

    Returns the per-step outputs (N, H) (the top layer's h_t) and the per-step hidden
    states (the tensors that carry h from step to step: (N, H) for a cell, (layers, N, H)
    for a full module), each a non-leaf tensor that retains its gradient. For an LSTM the
    cell state c_t is carried alongside but is not among the returned states.
    """
    kind = _check_module(module)
    T = x.shape[1]
    outputs, states = [], []
    state = None
    for t in range(T):
        xt = x[:, t]  # (N, D)
        if kind == "cell":
            h = module(xt, state)  # (N, H)
            state, h_state, out = h, h, h
        elif kind == "lstm_cell":
            h, c = module(xt, state)  # (N, H), (N, H)
            state, h_state, out = (h, c), h, h
        else:
            _, state = module(xt[:, None], state)  # state: (layers, N, H)
            h_state = state[0] if kind == "lstm" else state
            out = h_state[-1]  # the top layer's h_t (N, H), taken from the state itself
        h_state.retain_grad()
        outputs.append(out)
        states.append(h_state)
    return outputs, states


def hidden_gradient_norms(
    module: nn.Module,
    x: torch.Tensor,
    loss_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float64,
) -> np.ndarray:
    """||dL/dh_t|| for t = 1..T through a torch recurrent module.

    The module is unrolled one step at a time so that each hidden state h_t is a tensor
    of its own, and autograd gives the total derivative of L with respect to it (through
    every later step). For an LSTM, h_t is the hidden state; the cell state c_t is
    another path the gradient can take.

    Args:
        module: ``torch.nn.RNN``/``GRU``/``LSTM`` (unidirectional, ``batch_first=True``,
            any number of layers: the norm then covers every layer's h_t) or an
            ``RNNCell``/``GRUCell``/``LSTMCell``.
        x: (N, T, D) input.
        loss_fn: maps the top layer's hidden states (N, T, H) to a scalar loss. Default:
            L = mean over the batch of v . h_T, with a seeded random unit vector v.
        seed: seeds v of the default loss.
        device: where to compute.
        dtype: precision of the computation, on a copy of ``module`` (the module passed
            in is not changed). float64 by default, so that norms far below 1e-38 (the
            float32 floor) still show as numbers instead of 0.

    Returns:
        float64 (T,): entry t - 1 is the mean over the batch of ||dL/dh_t|| (one norm per
        sequence).
    """
    device = get_device(device)
    if x.dim() != 3:
        raise ValueError(f"x: expected shape (N, T, D), got {tuple(x.shape)}")
    _check_module(module)
    module = copy.deepcopy(module).to(device=device, dtype=dtype)  # leave the caller's alone
    x = x.to(device=device, dtype=dtype)
    outputs, states = _unroll(module, x)
    hs = torch.stack(outputs, dim=1)  # (N, T, H)
    if loss_fn is None:
        v = torch.as_tensor(_unit_vector(hs.shape[-1], seed), dtype=hs.dtype, device=device)
        loss = (hs[:, -1] @ v).mean()  # L = mean_n v . h_T
    else:
        loss = loss_fn(hs)
    if loss.dim() != 0:
        raise ValueError(f"loss_fn: expected a scalar, got shape {tuple(loss.shape)}")
    loss.backward()
    norms = []
    for s in states:
        g = s.grad if s.grad is not None else torch.zeros_like(s)
        per_sequence = g.transpose(0, 1) if g.dim() == 3 else g  # (N, layers, H) or (N, H)
        norms.append(float(per_sequence.reshape(len(x), -1).norm(dim=1).mean()))
    return np.array(norms)


def rnn_jacobians(module: nn.Module, x: torch.Tensor) -> np.ndarray:
    """The step Jacobians dh_t/dh_{t-1} of a one-layer torch RNN/GRU (or cell) on one sequence.

    Args:
        module: ``nn.RNN``/``nn.GRU`` (one layer, unidirectional) or ``nn.RNNCell``/``GRUCell``.
        x: (T, D) one input sequence.

    Returns:
        float64 (T, H, H): entry t - 1 is dh_t/dh_{t-1} at the states the sequence visits
        (from h_0 = 0). Feed it to :func:`jacobian_product_norms`.
    """
    kind = _check_module(module)
    if kind in ("lstm", "lstm_cell"):
        raise ValueError("module: LSTM state is (h, c); use hidden_gradient_norms instead")
    if kind == "rnn" and module.num_layers != 1:
        raise ValueError("module: expected num_layers=1")
    if x.dim() != 2:
        raise ValueError(f"x: expected one sequence of shape (T, D), got {tuple(x.shape)}")
    param = next(module.parameters())
    x = x.to(device=param.device, dtype=param.dtype)
    H = module.hidden_size

    def step(h: torch.Tensor, xt: torch.Tensor) -> torch.Tensor:
        if kind == "cell":
            return module(xt[None], h[None])[0]  # (H,)
        out, _ = module(xt[None, None], h[None, None])  # (1, 1, H)
        return out[0, 0]

    h = torch.zeros(H, dtype=param.dtype, device=param.device)
    jac = []
    for t in range(x.shape[0]):
        J = torch.autograd.functional.jacobian(lambda hh, t=t: step(hh, x[t]), h)  # (H, H)
        jac.append(J.detach().cpu().double().numpy())
        with torch.no_grad():
            h = step(h, x[t])
    return np.stack(jac)
