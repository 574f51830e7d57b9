"""A bidirectional layer: one RNN reads the sequence forwards, a second one backwards.

At each step t the output joins both readings, [forward ‖ backward] on the last axis, as
``torch.nn.RNN/LSTM/GRU(bidirectional=True)`` does: h_t of the forward layer has seen
x_1..x_t, h_t of the backward layer has seen x_T..x_t.

Parameters: the four usual names for the forward direction and the same names with
``_reverse`` for the backward one (torch's ``weight_ih_l0_reverse`` without ``_l0``).
Initial states stack the two directions first, as torch: h0 (2, N, H), c0 (2, N, H).
"""

from __future__ import annotations

import numpy as np

from ._layers import layer_functions, state_names
from ._shapes import GATES_OF_CELL, PARAM_NAMES, check_dout, check_params, check_shape, float_dtype


def _split_params(params: dict) -> tuple[dict, dict]:
    missing = [k + "_reverse" for k in PARAM_NAMES if k + "_reverse" not in params]
    if missing:
        raise ValueError(
            f"params is missing {', '.join(missing)}; a bidirectional layer expects the four "
            "parameters of each direction, the backward ones named with '_reverse'"
        )
    forward = {k: params[k] for k in PARAM_NAMES}
    backward = {k: params[k + "_reverse"] for k in PARAM_NAMES}
    return forward, backward


def bidirectional_forward(
    x: np.ndarray, state0, params: dict, cell: str = "rnn", nonlinearity: str = "tanh"
) -> tuple[np.ndarray, dict]:
    """Run ``cell`` ("rnn", "lstm", "gru") over x (N, T, D) in both directions.

    state0: h0 (2, N, H), or (h0, c0) for the LSTM; index 0 is the forward direction.
    Returns ``out`` (N, T, 2H) = [forward ‖ backward] and a cache for
    ``bidirectional_backward``.
    """
    forward, backward = layer_functions(cell, nonlinearity)
    x = np.asarray(x)
    dtype = float_dtype(x)
    if x.ndim != 3:
        raise ValueError(f"x has shape {x.shape}; expected (N, T, D) (3 axes, batch first)")
    N, _, D = x.shape
    p_fw, p_bw = _split_params(params)
    _, H = check_params(p_fw, D, GATES_OF_CELL[cell], dtype)
    names = state_names(cell)
    parts = state0 if cell == "lstm" else (state0,)
    parts = [np.asarray(s, dtype=dtype) for s in parts]
    for name, s in zip(names, parts, strict=True):
        check_shape(name, s, (2, N, H), "(2, N, H)")  # (directions, N, H) as torch
    s_fw = tuple(s[0] for s in parts) if cell == "lstm" else parts[0][0]
    s_bw = tuple(s[1] for s in parts) if cell == "lstm" else parts[0][1]

    out_fw, cache_fw = forward(x, s_fw, p_fw)  # reads x_1 .. x_T
    out_bw, cache_bw = forward(x[:, ::-1], s_bw, p_bw)  # reads x_T .. x_1
    # Put the backward reading back in time order, then join on the feature axis.
    out = np.concatenate([out_fw, out_bw[:, ::-1]], axis=-1)  # (N, T, 2H)
    return out, {"cell": cell, "nonlinearity": nonlinearity, "fw": cache_fw, "bw": cache_bw}


def bidirectional_backward(dout: np.ndarray, cache: dict) -> dict[str, np.ndarray]:
    """Backpropagate dout (N, T, 2H) through both directions.

    Returns ``x`` (N, T, D), ``h0`` (2, N, H) (and ``c0`` for the LSTM), and the gradients
    of both directions' parameters under the same names as the parameters.
    """
    _, backward = layer_functions(cache["cell"], cache["nonlinearity"])
    out_fw = cache["fw"]["out"]
    N, T, H = out_fw.shape
    dout = check_dout(dout, (N, T, 2 * H), out_fw.dtype, "(N, T, 2H)")
    g_fw = backward(dout[..., :H], cache["fw"])  # the forward half of each output
    g_bw = backward(dout[..., H:][:, ::-1], cache["bw"])  # in the order the layer read it
    grads = {"x": g_fw["x"] + g_bw["x"][:, ::-1]}  # x_t feeds both directions: add
    for name in state_names(cache["cell"]):
        grads[name] = np.stack([g_fw[name], g_bw[name]])  # (2, N, H)
    for name in PARAM_NAMES:
        grads[name] = g_fw[name]
        grads[name + "_reverse"] = g_bw[name]
    return grads
