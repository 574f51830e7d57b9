"""Shape and dtype checks shared by the scratch RNN, LSTM and GRU.

Every check raises ``ValueError`` naming the argument, the shape it was given and the
shape it should have, e.g. ``weight_hh has shape (3, 4); expected (4, 4) = (H, H)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
GATES_OF_CELL = {"rnn": 1, "lstm": 4, "gru": 3}  # gate blocks G stacked in the weights


@dataclass(frozen=True)
class Sizes:
    """The sizes of one recurrent layer: batch N, steps T, input D, hidden H, gates G."""

    N: int
    T: int
    D: int
    H: int
    G: int  # 1 for the vanilla RNN, 4 for the LSTM (i, f, g, o), 3 for the GRU (r, z, n)


def float_dtype(x: np.ndarray) -> np.dtype:
    """The dtype the computation runs in: ``x``'s own if it is floating, else float64."""
    x = np.asarray(x)
    return x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)


def check_shape(name: str, array: np.ndarray, expected: tuple[int, ...], symbols: str) -> None:
    """Raise ``ValueError`` unless ``array.shape == expected``; ``symbols`` like ``(N, H)``."""
    if array.shape != tuple(expected):
        raise ValueError(f"{name} has shape {array.shape}; expected {tuple(expected)} = {symbols}")


def _gate_prefix(G: int) -> str:
    return "" if G == 1 else str(G)


def check_params(params: dict, D: int | None, G: int, dtype: np.dtype) -> tuple[dict, int]:
    """Check one direction's parameters; return them cast to ``dtype`` and the hidden size H.

    H is read from ``weight_hh`` (G*H, H): the hidden-to-hidden matrix defines the layer.
    ``D=None`` skips the check of ``weight_ih`` against the input size.
    """
    missing = [k for k in PARAM_NAMES if k not in params]
    if missing:
        raise ValueError(
            f"params is missing {', '.join(missing)}; expected the keys {', '.join(PARAM_NAMES)}"
        )
    p = {k: np.asarray(params[k], dtype=dtype) for k in PARAM_NAMES}
    gH = f"{_gate_prefix(G)}H"  # "H", "3H" or "4H"
    W_hh = p["weight_hh"]
    if W_hh.ndim != 2:
        raise ValueError(f"weight_hh has shape {W_hh.shape}; expected ({gH}, H) (2 axes)")
    H = W_hh.shape[1]
    check_shape("weight_hh", W_hh, (G * H, H), f"({gH}, H)")
    if D is None:
        D = p["weight_ih"].shape[-1] if p["weight_ih"].ndim == 2 else -1
    check_shape("weight_ih", p["weight_ih"], (G * H, D), f"({gH}, D)")
    check_shape("bias_ih", p["bias_ih"], (G * H,), f"({gH},)")
    check_shape("bias_hh", p["bias_hh"], (G * H,), f"({gH},)")
    return p, H


def check_inputs(
    x: np.ndarray, states: dict[str, np.ndarray], params: dict, G: int
) -> tuple[np.ndarray, dict[str, np.ndarray], dict, Sizes]:
    """Check and cast a layer's inputs.

    x: (N, T, D) batch first; states: {"h0": (N, H)} (and "c0" for the LSTM);
    params: one direction's parameters with G gate blocks. Returns everything cast to
    one floating dtype (``x``'s) and the sizes.
    """
    x = np.asarray(x)
    dtype = float_dtype(x)
    x = x.astype(dtype, copy=False)
    if x.ndim != 3:
        raise ValueError(f"x has shape {x.shape}; expected (N, T, D) (3 axes, batch first)")
    N, T, D = x.shape
    if T == 0:
        raise ValueError(f"x has shape {x.shape}; expected at least one time step (T >= 1)")
    p, H = check_params(params, D, G, dtype)
    cast = {}
    for name, s in states.items():
        s = np.asarray(s, dtype=dtype)
        check_shape(name, s, (N, H), "(N, H)")
        cast[name] = s
    return x, cast, p, Sizes(N=N, T=T, D=D, H=H, G=G)


def check_step_inputs(
    x_t: np.ndarray, states: dict[str, np.ndarray], params: dict, G: int
) -> tuple[np.ndarray, dict[str, np.ndarray], dict]:
    """Like ``check_inputs`` for one time step: x_t (N, D), states (N, H) each."""
    x_t = np.asarray(x_t)
    if x_t.ndim != 2:
        raise ValueError(f"x_t has shape {x_t.shape}; expected (N, D) (one time step)")
    x3, cast, p, _ = check_inputs(x_t[:, None], states, params, G)
    return x3[:, 0], cast, p


def check_dout(
    dout: np.ndarray, expected: tuple[int, ...], dtype: np.dtype, symbols: str = "(N, T, H)"
) -> np.ndarray:
    """Check the upstream gradient dLoss/d out against the shape of ``out``; cast it."""
    dout = np.asarray(dout, dtype=dtype)
    check_shape("dout", dout, expected, symbols)
    return dout
