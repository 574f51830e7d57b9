"""The GRU in numpy: the gates of one step, one step, then a whole sequence.

Three gate blocks in PyTorch's order r, z, n (rows of ``weight_ih`` (3H, D) and
``weight_hh`` (3H, H)), exactly as ``torch.nn.GRU``: the reset gate multiplies
(W_hn h_{t-1} + b_hn), *after* the matmul (the first GRU paper's version; some textbooks
reset h_{t-1} before it, which gives different numbers).

    gx = W_ih x_t + b_ih,  gh = W_hh h_{t-1} + b_hh       (N, 3H) each, split into r, z, n
    r = σ(gx_r + gh_r)          reset gate
    z = σ(gx_z + gh_z)          update gate
    n = tanh(gx_n + r * gh_n)   candidate
    h_t = (1 - z) * n + z * h_{t-1}
"""

from __future__ import annotations

import numpy as np

from ._shapes import check_dout, check_inputs, check_step_inputs
from .lstm import sigmoid

# ---------------------------------------------------------------------------------------
# The gates: forward and backward side by side
# ---------------------------------------------------------------------------------------


def gru_gates_forward(
    gx: np.ndarray, gh: np.ndarray, h_prev: np.ndarray
) -> tuple[np.ndarray, tuple]:
    """From the input's part gx (N, 3H), the memory's part gh (N, 3H) and h_{t-1} to h_t."""
    H = h_prev.shape[1]
    r = sigmoid(gx[:, 0 * H : 1 * H] + gh[:, 0 * H : 1 * H])  # reset: how much memory n sees
    z = sigmoid(gx[:, 1 * H : 2 * H] + gh[:, 1 * H : 2 * H])  # update: how much memory to keep
    hn = gh[:, 2 * H : 3 * H]  # W_hn h_{t-1} + b_hn
    n = np.tanh(gx[:, 2 * H : 3 * H] + r * hn)  # the candidate new memory
    h = (1 - z) * n + z * h_prev  # blend candidate and old memory
    return h, (r, z, n, hn, h_prev)


def gru_gates_backward(
    dh: np.ndarray, cache: tuple, dgx: np.ndarray | None = None, dgh: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Given dLoss/dh_t (N, H), return dLoss/dgx, dLoss/dgh (N, 3H) and the direct dh_{t-1}.

    The direct part is the path h_{t-1} -> z * h_{t-1}; the path through gh is added by
    the caller (dgh @ W_hh). ``dgx``, ``dgh``: optional arrays to write into.
    """
    r, z, n, hn, h_prev = cache
    H = h_prev.shape[1]
    dn = dh * (1 - z)  # backprop through h = (1 - z) * n + z * h_prev, to n ...
    dz = dh * (h_prev - n)  # ... to z ...
    dh_prev = dh * z  # ... and straight to h_{t-1}
    dan = dn * (1 - n * n)  # backprop through tanh
    dr = dan * hn  # backprop through r * hn
    dar = dr * r * (1 - r)  # backprop through the sigmoids
    daz = dz * z * (1 - z)
    if dgx is None:
        dgx = np.empty((dh.shape[0], 3 * H), dtype=dh.dtype)
    if dgh is None:
        dgh = np.empty_like(dgx)
    dgx[:, 0 * H : 1 * H] = dar  # r and z add gx and gh: both get the same gradient
    dgx[:, 1 * H : 2 * H] = daz
    dgx[:, 2 * H : 3 * H] = dan
    dgh[:, 0 * H : 1 * H] = dar
    dgh[:, 1 * H : 2 * H] = daz
    dgh[:, 2 * H : 3 * H] = dan * r  # gh_n reaches n only through the reset gate
    return dgx, dgh, dh_prev


# ---------------------------------------------------------------------------------------
# One step: the two affine maps, then the gates
# ---------------------------------------------------------------------------------------


def gru_cell_forward(x_t: np.ndarray, h_prev: np.ndarray, params: dict) -> tuple[np.ndarray, tuple]:
    """Take the input x_t (N, D) and the hidden state h_{t-1} (N, H); return h_t and a cache."""
    x_t, states, p = check_step_inputs(x_t, {"h_prev": h_prev}, params, G=3)
    h_prev = states["h_prev"]
    gx = x_t @ p["weight_ih"].T + p["bias_ih"]  # (N, D) @ (D, 3H) -> (N, 3H)
    gh = h_prev @ p["weight_hh"].T + p["bias_hh"]  # (N, H) @ (H, 3H) -> (N, 3H)
    h, gates = gru_gates_forward(gx, gh, h_prev)
    return h, (x_t, h_prev, p, gates)


def gru_cell_backward(dh: np.ndarray, cache: tuple) -> dict[str, np.ndarray]:
    """Given dLoss/dh_t (N, H), return ``x`` (N, D), ``h_prev`` (N, H) and the parameters."""
    x_t, h_prev, p, gates = cache
    dgx, dgh, dh_prev = gru_gates_backward(np.asarray(dh, dtype=h_prev.dtype), gates)
    return {
        "x": dgx @ p["weight_ih"],  # (N, 3H) @ (3H, D) -> (N, D)
        "h_prev": dh_prev + dgh @ p["weight_hh"],  # direct path + path through W_hh
        "weight_ih": dgx.T @ x_t,  # (3H, D)
        "weight_hh": dgh.T @ h_prev,  # (3H, H)
        "bias_ih": dgx.sum(axis=0),  # (3H,)
        "bias_hh": dgh.sum(axis=0),  # differs from bias_ih in the n block (times r)
    }


# ---------------------------------------------------------------------------------------
# A whole sequence
# ---------------------------------------------------------------------------------------


def gru_forward(x: np.ndarray, h0: np.ndarray, params: dict) -> tuple[np.ndarray, dict]:
    """Run the GRU over a batch of sequences.

    x (N, T, D), h0 (N, H), params with ``weight_ih`` (3H, D), ``weight_hh`` (3H, H),
    ``bias_ih`` and ``bias_hh`` (3H,), gates r, z, n. Returns ``out`` (N, T, H), the
    hidden states h_1..h_T, and a cache for ``gru_backward``.
    """
    x, states, p, s = check_inputs(x, {"h0": h0}, params, G=3)
    gx_all = x @ p["weight_ih"].T + p["bias_ih"]  # (N, T, 3H): the input's part, all steps
    W_hh_T = p["weight_hh"].T  # (H, 3H): all three gates in one matmul per step
    out = np.empty((s.N, s.T, s.H), dtype=x.dtype)
    h = states["h0"]
    steps = []
    for t in range(s.T):
        gh = h @ W_hh_T + p["bias_hh"]  # (N, 3H): the memory's part
        h, gates = gru_gates_forward(gx_all[:, t], gh, h)
        out[:, t] = h
        steps.append(gates)
    cache = {"x": x, "h0": states["h0"], "params": p, "out": out, "steps": steps}
    return out, cache


def gru_backward(dout: np.ndarray, cache: dict) -> dict[str, np.ndarray]:
    """Backpropagation through time for the GRU.

    dout (N, T, H) is dLoss/d out. Returns ``x`` (N, T, D), ``h0`` (N, H) and one
    gradient per parameter.
    """
    x, h0, p, out = cache["x"], cache["h0"], cache["params"], cache["out"]
    N, T, H = out.shape
    dout = check_dout(dout, out.shape, out.dtype)
    dgx = np.empty((N, T, 3 * H), dtype=out.dtype)  # dLoss/dgx_t for every step
    dgh = np.empty_like(dgx)  # dLoss/dgh_t for every step
    dh = np.zeros_like(h0)  # the gradient arriving at h_t from step t+1
    for t in reversed(range(T)):
        dh = dh + dout[:, t]  # h_t feeds the loss at step t and the step t+1
        _, _, dh_direct = gru_gates_backward(dh, cache["steps"][t], dgx[:, t], dgh[:, t])
        dh = dh_direct + dgh[:, t] @ p["weight_hh"]  # both paths to h_{t-1}: (N, H)
    # Shared weights: their gradient is a sum over steps and batch, one matmul each.
    h_prev = np.concatenate([h0[:, None], out[:, :-1]], axis=1)  # (N, T, H): h_0..h_{T-1}
    dgx2 = dgx.reshape(N * T, 3 * H)
    dgh2 = dgh.reshape(N * T, 3 * H)
    return {
        "x": dgx @ p["weight_ih"],  # (N, T, 3H) @ (3H, D) -> (N, T, D)
        "h0": dh,
        "weight_ih": dgx2.T @ x.reshape(N * T, -1),  # (3H, D)
        "weight_hh": dgh2.T @ h_prev.reshape(N * T, H),  # (3H, H)
        "bias_ih": dgx2.sum(axis=0),  # (3H,)
        "bias_hh": dgh2.sum(axis=0),
    }
