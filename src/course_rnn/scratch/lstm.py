"""The LSTM in numpy: the gates of one step, one step, then a whole sequence.

Four gate blocks in PyTorch's order i, f, g, o (rows of ``weight_ih`` (4H, D) and
``weight_hh`` (4H, H)), exactly as ``torch.nn.LSTM``:

    a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh           (N, 4H), split into i, f, g, o
    i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)
"""

from __future__ import annotations

import numpy as np

from ._shapes import check_dout, check_inputs, check_step_inputs


def sigmoid(a: np.ndarray) -> np.ndarray:
    """σ(a) = 1 / (1 + e^{-a}), squashing any number into (0, 1): a gate's opening.

    For a very negative a, e^{-a} overflows to inf and 1 / inf = 0 is the right answer,
    so the overflow warning is silenced.
    """
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-a))


# ---------------------------------------------------------------------------------------
# The gates: forward and backward side by side
# ---------------------------------------------------------------------------------------


def lstm_gates_forward(a: np.ndarray, c_prev: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple]:
    """From the gate pre-activations a (N, 4H) and the cell c_{t-1} (N, H) to h_t and c_t."""
    H = c_prev.shape[1]
    i = sigmoid(a[:, 0 * H : 1 * H])  # input gate: how much of the candidate to write
    f = sigmoid(a[:, 1 * H : 2 * H])  # forget gate: how much of the old cell to keep
    g = np.tanh(a[:, 2 * H : 3 * H])  # candidate values, in (-1, 1)
    o = sigmoid(a[:, 3 * H : 4 * H])  # output gate: how much of the cell to show
    c = f * c_prev + i * g  # the new cell state c_t
    tanh_c = np.tanh(c)
    h = o * tanh_c  # the new hidden state h_t
    return h, c, (i, f, g, o, c_prev, tanh_c)


def lstm_gates_backward(
    dh: np.ndarray, dc: np.ndarray, cache: tuple, da: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Given dLoss/dh_t and dLoss/dc_t (from step t+1), return dLoss/da (N, 4H), dLoss/dc_{t-1}.

    ``da``: optional (N, 4H) array to write the result into.
    """
    i, f, g, o, c_prev, tanh_c = cache
    H = c_prev.shape[1]
    do = dh * tanh_c  # backprop through h = o * tanh(c), to o ...
    dc = dc + dh * o * (1 - tanh_c * tanh_c)  # ... and to c, through tanh; c also feeds t+1
    di = dc * g  # backprop through c = f * c_prev + i * g
    df = dc * c_prev
    dg = dc * i
    dc_prev = dc * f  # the cell's own path to c_{t-1}: only the forget gate scales it
    if da is None:
        da = np.empty((dh.shape[0], 4 * H), dtype=dh.dtype)
    da[:, 0 * H : 1 * H] = di * i * (1 - i)  # backprop through the sigmoid: σ' = σ(1 - σ)
    da[:, 1 * H : 2 * H] = df * f * (1 - f)
    da[:, 2 * H : 3 * H] = dg * (1 - g * g)  # backprop through tanh
    da[:, 3 * H : 4 * H] = do * o * (1 - o)
    return da, dc_prev


# ---------------------------------------------------------------------------------------
# One step: the affine map into the gates, then the gates
# ---------------------------------------------------------------------------------------


def lstm_cell_forward(
    x_t: np.ndarray, state: tuple[np.ndarray, np.ndarray], params: dict
) -> tuple[tuple[np.ndarray, np.ndarray], tuple]:
    """Take the input x_t (N, D) and the state (h_{t-1}, c_{t-1}), each (N, H).

    Returns the new state (h_t, c_t) and a cache for ``lstm_cell_backward``.
    """
    h_prev, c_prev = state
    x_t, states, p = check_step_inputs(x_t, {"h_prev": h_prev, "c_prev": c_prev}, params, G=4)
    h_prev, c_prev = states["h_prev"], states["c_prev"]
    a = x_t @ p["weight_ih"].T + p["bias_ih"] + h_prev @ p["weight_hh"].T + p["bias_hh"]  # (N, 4H)
    h, c, gates = lstm_gates_forward(a, c_prev)
    return (h, c), (x_t, h_prev, p, gates)


def lstm_cell_backward(dh: np.ndarray, dc: np.ndarray, cache: tuple) -> dict[str, np.ndarray]:
    """Given dLoss/dh_t and dLoss/dc_t (N, H), return the gradients of one step.

    Keys: ``x`` (N, D), ``h_prev``, ``c_prev`` (N, H) and the four parameters.
    """
    x_t, h_prev, p, gates = cache
    dtype = h_prev.dtype
    da, dc_prev = lstm_gates_backward(
        np.asarray(dh, dtype=dtype), np.asarray(dc, dtype=dtype), gates
    )
    return {
        "x": da @ p["weight_ih"],  # backprop through W_ih x_t: (N, 4H) @ (4H, D) -> (N, D)
        "h_prev": da @ p["weight_hh"],  # (N, 4H) @ (4H, H) -> (N, H)
        "c_prev": dc_prev,
        "weight_ih": da.T @ x_t,  # (4H, D)
        "weight_hh": da.T @ h_prev,  # (4H, H)
        "bias_ih": da.sum(axis=0),  # (4H,)
        "bias_hh": da.sum(axis=0),
    }


# ---------------------------------------------------------------------------------------
# A whole sequence
# ---------------------------------------------------------------------------------------


def lstm_forward(
    x: np.ndarray, state0: tuple[np.ndarray, np.ndarray], params: dict
) -> tuple[np.ndarray, dict]:
    """Run the LSTM over a batch of sequences.

    x (N, T, D), state0 = (h0, c0) each (N, H), params with ``weight_ih`` (4H, D),
    ``weight_hh`` (4H, H), ``bias_ih`` and ``bias_hh`` (4H,), gates i, f, g, o.
    Returns ``out`` (N, T, H), the hidden states h_1..h_T, and a cache for
    ``lstm_backward``; ``cache["final_state"]`` is (h_T, c_T).
    """
    h0, c0 = state0
    x, states, p, s = check_inputs(x, {"h0": h0, "c0": c0}, params, G=4)
    # The input's share of all four gates, for every step at once (it does not depend on h).
    xw = x @ p["weight_ih"].T + p["bias_ih"]  # (N, T, D) @ (D, 4H) -> (N, T, 4H)
    W_hh_T = p["weight_hh"].T  # (H, 4H): all four gates in one matmul per step
    out = np.empty((s.N, s.T, s.H), dtype=x.dtype)
    h, c = states["h0"], states["c0"]
    steps = []
    for t in range(s.T):
        a = xw[:, t] + h @ W_hh_T + p["bias_hh"]  # (N, 4H)
        h, c, gates = lstm_gates_forward(a, c)
        out[:, t] = h
        steps.append(gates)
    cache = {"x": x, "h0": states["h0"], "params": p, "out": out, "steps": steps}
    cache["final_state"] = (h, c)
    return out, cache


def lstm_backward(dout: np.ndarray, cache: dict) -> dict[str, np.ndarray]:
    """Backpropagation through time for the LSTM.

    dout (N, T, H) is dLoss/d out. Returns ``x`` (N, T, D), ``h0``, ``c0`` (N, H) and one
    gradient per parameter.
    """
    x, h0, p, out = cache["x"], cache["h0"], cache["params"], cache["out"]
    N, T, H = out.shape
    dout = check_dout(dout, out.shape, out.dtype)
    da = np.empty((N, T, 4 * H), dtype=out.dtype)  # dLoss/da_t for every step
    dh = np.zeros_like(h0)  # gradients arriving from step t+1 (none after T)
    dc = np.zeros_like(h0)
    for t in reversed(range(T)):
        dh = dh + dout[:, t]  # h_t feeds the loss at step t and the step t+1
        _, dc = lstm_gates_backward(dh, dc, cache["steps"][t], da=da[:, t])
        dh = da[:, t] @ p["weight_hh"]  # backprop through W_hh h_{t-1}: (N, H)
    # Shared weights: their gradient is a sum over steps and batch, one matmul each.
    h_prev = np.concatenate([h0[:, None], out[:, :-1]], axis=1)  # (N, T, H): h_0..h_{T-1}
    da2 = da.reshape(N * T, 4 * H)
    return {
        "x": da @ p["weight_ih"],  # (N, T, 4H) @ (4H, D) -> (N, T, D)
        "h0": dh,
        "c0": dc,
        "weight_ih": da2.T @ x.reshape(N * T, -1),  # (4H, D)
        "weight_hh": da2.T @ h_prev.reshape(N * T, H),  # (4H, H)
        "bias_ih": da2.sum(axis=0),  # (4H,)
        "bias_hh": da2.sum(axis=0),
    }
