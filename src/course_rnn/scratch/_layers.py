"""Pick a layer's forward and backward functions by name: "rnn", "lstm" or "gru"."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from .gru import gru_backward, gru_forward
from .lstm import lstm_backward, lstm_forward
from .rnn import rnn_backward, rnn_forward

CELLS = ("rnn", "lstm", "gru")


def layer_functions(cell: str, nonlinearity: str = "tanh") -> tuple[Callable, Callable]:
    """Return (forward(x, state0, params), backward(dout, cache)) for one cell type.

    The state is h0 (N, H) for "rnn" and "gru", the pair (h0, c0) for "lstm".
    ``nonlinearity`` ("tanh" or "relu") applies to "rnn" only.
    """
    if cell == "rnn":
        return partial(rnn_forward, nonlinearity=nonlinearity), rnn_backward
    if nonlinearity != "tanh":
        raise ValueError(f"nonlinearity is {nonlinearity!r}; only cell='rnn' takes one")
    if cell == "lstm":
        return lstm_forward, lstm_backward
    if cell == "gru":
        return gru_forward, gru_backward
    raise ValueError(f"cell is {cell!r}; expected one of {', '.join(map(repr, CELLS))}")


def final_state(cell: str, out, cache):
    """The state after the last step: h_T (N, H), or (h_T, c_T) for the LSTM."""
    return cache["final_state"] if cell == "lstm" else out[:, -1]


def state_names(cell: str) -> tuple[str, ...]:
    """The names of the initial state's parts, as in the gradients dict."""
    return ("h0", "c0") if cell == "lstm" else ("h0",)
