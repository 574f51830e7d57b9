"""The vanilla (Elman) RNN in numpy: one step, then a whole sequence, forward and backward.

One step reads the input x_t and the previous hidden state h_{t-1}:

    h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),    act = tanh or relu

exactly as ``torch.nn.RNN`` (``act`` is its ``nonlinearity``). Arrays are batch first:
x (N, T, D), h (N, H).

- ``rnn_step_forward/backward``: one step, the idea alone, with no checks.
- ``rnn_cell_forward/backward``: the same step behind shape checks (``torch.nn.RNNCell``).
- ``rnn_forward``: checks once, then the step T times; ``rnn_backward``: BPTT.
"""

from __future__ import annotations

import numpy as np

from ._shapes import check_dout, check_inputs, check_step_inputs


def _check_nonlinearity(nonlinearity: str) -> None:
    if nonlinearity not in ("tanh", "relu"):  # torch.nn.RNN's two choices
        raise ValueError(f"nonlinearity is {nonlinearity!r}; expected 'tanh' or 'relu'")


def _nonlinearity_grad(h: np.ndarray, nonlinearity: str) -> np.ndarray:
    """d act(a) / da, written with the output h = act(a) (all the backward pass keeps)."""
    if nonlinearity == "tanh":
        return 1 - h * h  # tanh'(a) = 1 - tanh(a)^2
    return (h > 0).astype(h.dtype)  # relu'(a) = 1 where a > 0, else 0


# ---------------------------------------------------------------------------------------
# One step, the idea alone: forward and backward side by side
# ---------------------------------------------------------------------------------------


def rnn_step_forward(
    x_t: np.ndarray, h_prev: np.ndarray, p: dict, nonlinearity: str = "tanh"
) -> tuple[np.ndarray, tuple]:
    """Take the input at the current step x_t (N, D) and the hidden state h_{t-1} (N, H).

    Returns the new hidden state h_t (N, H) and a cache for ``rnn_step_backward``.
    Nothing is checked here: ``rnn_cell_forward`` and ``rnn_forward`` check the arguments.
    """
    a = x_t @ p["weight_ih"].T + p["bias_ih"] + h_prev @ p["weight_hh"].T + p["bias_hh"]  # (N, H)
    h = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0)  # the new memory h_t
    return h, (x_t, h_prev, h, p, nonlinearity)


def rnn_step_backward(dh: np.ndarray, cache: tuple) -> dict[str, np.ndarray]:
    """Given dLoss/dh_t (N, H), return the gradients of one step.

    Keys: ``x`` (N, D), ``h_prev`` (N, H) and the four parameters.
    """
    x_t, h_prev, h, p, nonlinearity = cache
    da = dh * _nonlinearity_grad(h, nonlinearity)  # backprop through tanh (or relu)
    return {
        "x": da @ p["weight_ih"],  # backprop through W_ih x_t: (N, H) @ (H, D) -> (N, D)
        "h_prev": da @ p["weight_hh"],  # backprop through W_hh h_{t-1}: (N, H)
        "weight_ih": da.T @ x_t,  # (H, N) @ (N, D) -> (H, D), summed over the batch
        "weight_hh": da.T @ h_prev,  # (H, N) @ (N, H) -> (H, H)
        "bias_ih": da.sum(axis=0),  # (H,)
        "bias_hh": da.sum(axis=0),  # (H,): both biases are added the same way
    }


# ---------------------------------------------------------------------------------------
# One step with its arguments checked, as torch.nn.RNNCell
# ---------------------------------------------------------------------------------------


def rnn_cell_forward(
    x_t: np.ndarray, h_prev: np.ndarray, params: dict, nonlinearity: str = "tanh"
) -> tuple[np.ndarray, tuple]:
    """``rnn_step_forward`` after checking the shapes; runs in x_t's float dtype.

    x_t (N, D), h_prev (N, H); returns h_t (N, H) and a cache for ``rnn_cell_backward``.
    """
    _check_nonlinearity(nonlinearity)
    x_t, states, p = check_step_inputs(x_t, {"h_prev": h_prev}, params, G=1)
    return rnn_step_forward(x_t, states["h_prev"], p, nonlinearity)


def rnn_cell_backward(dh: np.ndarray, cache: tuple) -> dict[str, np.ndarray]:
    """``rnn_step_backward`` after checking that dh is shaped like h_t (N, H)."""
    h = cache[2]
    return rnn_step_backward(check_dout(dh, h.shape, h.dtype, "(N, H)"), cache)


# ---------------------------------------------------------------------------------------
# A whole sequence: the same step T times, then backpropagation through time
# ---------------------------------------------------------------------------------------


def rnn_forward(
    x: np.ndarray, h0: np.ndarray, params: dict, nonlinearity: str = "tanh"
) -> tuple[np.ndarray, dict]:
    """Run the RNN over a batch of sequences.

    x (N, T, D) inputs, h0 (N, H) initial hidden state, params with ``weight_ih`` (H, D),
    ``weight_hh`` (H, H), ``bias_ih`` (H,), ``bias_hh`` (H,). Returns ``out`` (N, T, H),
    the hidden states h_1..h_T, and a cache for ``rnn_backward``. Runs in x's float dtype.
    """
    _check_nonlinearity(nonlinearity)
    x, states, p, s = check_inputs(x, {"h0": h0}, params, G=1)
    out = np.empty((s.N, s.T, s.H), dtype=x.dtype)
    h = states["h0"]
    for t in range(s.T):
        h, _ = rnn_step_forward(x[:, t], h, p, nonlinearity)  # (N, H)
        out[:, t] = h
    cache = {"x": x, "h0": states["h0"], "params": p, "out": out, "nonlinearity": nonlinearity}
    return out, cache


def rnn_backward(dout: np.ndarray, cache: dict) -> dict[str, np.ndarray]:
    """Backpropagation through time.

    dout (N, T, H) is dLoss/d out. Returns gradients ``x`` (N, T, D), ``h0`` (N, H) and
    one per parameter, each shaped like its parameter.
    """
    x, h0, p, out = cache["x"], cache["h0"], cache["params"], cache["out"]
    N, T, H = out.shape
    dout = check_dout(dout, out.shape, out.dtype)
    da = np.empty_like(out)  # dLoss/da_t for every step, a_t the pre-activation
    dh = np.zeros_like(h0)  # the gradient arriving at h_t from step t+1 (none after T)
    for t in reversed(range(T)):
        dh = dh + dout[:, t]  # h_t feeds the loss at step t and the step t+1
        da[:, t] = dh * _nonlinearity_grad(out[:, t], cache["nonlinearity"])  # through tanh
        dh = da[:, t] @ p["weight_hh"]  # through W_hh h_{t-1}: now dLoss/dh_{t-1}
    # The weights are shared by all steps, so their gradient is a sum over steps (and
    # over the batch): flatten (N, T) into one axis and do it in one matmul each.
    h_prev = np.concatenate([h0[:, None], out[:, :-1]], axis=1)  # (N, T, H): h_0..h_{T-1}
    da2 = da.reshape(N * T, H)
    return {
        "x": da @ p["weight_ih"],  # (N, T, H) @ (H, D) -> (N, T, D)
        "h0": dh,  # (N, H)
        "weight_ih": da2.T @ x.reshape(N * T, -1),  # (H, N*T) @ (N*T, D) -> (H, D)
        "weight_hh": da2.T @ h_prev.reshape(N * T, H),  # (H, H)
        "bias_ih": da2.sum(axis=0),  # (H,)
        "bias_hh": da2.sum(axis=0),  # (H,)
    }
