"""Truncated backpropagation through time: backpropagate k steps at a time.

Full BPTT stores all T steps and sends every gradient back to step 1. Truncated BPTT cuts
the sequence into chunks of k steps. It runs the chunks in order, carrying the hidden
state forward (so the forward values are those of the full pass), but treats the state that
enters a chunk as a constant: the chunk's backward pass stops there ("detached").

What that costs: the loss at step t reaches the weights only through the steps of its
own chunk. A dependency of y_t on x_s with s in an earlier chunk is invisible to the
gradient, so the model cannot learn it, however long the sequence. Memory falls from T
steps of cache to k. With k >= T nothing is cut: the result is full BPTT.
"""

from __future__ import annotations

import numpy as np

from ._layers import final_state, layer_functions, state_names
from ._shapes import PARAM_NAMES, check_dout


def truncated_bptt(
    x: np.ndarray,
    state0,
    params: dict,
    dout: np.ndarray,
    k: int,
    cell: str = "rnn",
    nonlinearity: str = "tanh",
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Forward and backward over x (N, T, D) in chunks of k steps (the last may be shorter).

    state0: h0 (N, H), or (h0, c0) for the LSTM; dout (N, T, H) is dLoss/d out. The
    parameters stay fixed across chunks (this computes the truncated gradient; a
    training loop would also update between chunks).

    Returns ``out`` (N, T, H), the full forward pass's values (equal up to float rounding:
    the input matmul runs chunk by chunk, which may change the last bit), and the gradients:
    each parameter's is the sum of the chunks' gradients; ``x`` (N, T, D) holds for
    each step the gradient of the losses in its own chunk only; ``h0`` (``c0``) comes
    from the first chunk only.
    """
    if not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k is {k!r}; expected a chunk length, an integer k >= 1")
    forward, backward = layer_functions(cell, nonlinearity)
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"x has shape {x.shape}; expected (N, T, D) (3 axes, batch first)")
    T = x.shape[1]
    outs, dxs, grads = [], [], {}
    state = state0
    for start in range(0, max(T, 1), k):
        chunk = slice(start, start + k)
        out_c, cache = forward(x[:, chunk], state, params)  # checks x and state
        if start == 0:
            N, _, H = out_c.shape
            dout = check_dout(dout, (N, T, H), out_c.dtype)
        g = backward(dout[:, chunk], cache)  # stops at the chunk's first step
        if start == 0:
            grads = {name: g[name] for name in state_names(cell)}  # d/dh0 (and d/dc0)
            grads.update({name: g[name].copy() for name in PARAM_NAMES})
        else:
            for name in PARAM_NAMES:
                grads[name] += g[name]  # shared weights: add every chunk's share
        outs.append(out_c)
        dxs.append(g["x"])
        # Carry the state into the next chunk as a plain value: no gradient goes back.
        state = final_state(cell, out_c, cache)
    grads["x"] = np.concatenate(dxs, axis=1)  # (N, T, D)
    return np.concatenate(outs, axis=1), grads
