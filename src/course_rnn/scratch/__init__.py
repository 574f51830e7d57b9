"""Recurrent networks from scratch in numpy, forward and backward, matching PyTorch.

Everything is batch first and uses PyTorch's parameter names, shapes and gate orders, so
weights copy to and from ``torch.nn.RNN/LSTM/GRU(batch_first=True)`` unchanged
(``params_from_torch``, ``params_to_torch``). Arrays may be float64 or float32; results
keep x's dtype. Wrong shapes raise ``ValueError`` naming the argument, the shape given
and the shape expected. The functions that show one idea (``rnn_step_*``, ``*_gates_*``)
check nothing; every other public function checks its arguments, then calls them.

Where things live (read them in this order):

- ``rnn``:  the vanilla RNN. ``rnn_step_forward/backward`` (one step, the idea alone),
  ``rnn_cell_forward/backward`` (the same step, arguments checked),
  ``rnn_forward(x, h0, params, nonlinearity)`` and ``rnn_backward(dout, cache)`` (BPTT).
- ``lstm``: ``lstm_gates_forward/backward`` (the gates i, f, g, o, side by side), one step
  ``lstm_cell_forward/backward``, whole sequences ``lstm_forward(x, (h0, c0), params)``
  and ``lstm_backward``.
- ``gru``:  the same for the GRU (gates r, z, n; reset applied to W_hn h + b_hn).
- ``bidirectional``: ``bidirectional_forward/backward``, [forward ‖ backward] outputs.
- ``truncated``: ``truncated_bptt``: backpropagation through time in chunks of k steps.
- ``params``: ``init_params`` and ``rnn_params/lstm_params/gru_params`` (PyTorch's
  U(-1/√H, 1/√H), seeded); ``params_from_torch``, ``params_to_torch``.

Shapes: x (N, T, D), h0 and c0 (N, H), out (N, T, H); ``*_backward(dout, cache)`` returns
a dict with ``x``, ``h0`` (``c0``) and one gradient per parameter, shaped like it.
"""

from .bidirectional import bidirectional_backward, bidirectional_forward
from .gru import (
    gru_backward,
    gru_cell_backward,
    gru_cell_forward,
    gru_forward,
    gru_gates_backward,
    gru_gates_forward,
)
from .lstm import (
    lstm_backward,
    lstm_cell_backward,
    lstm_cell_forward,
    lstm_forward,
    lstm_gates_backward,
    lstm_gates_forward,
    sigmoid,
)
from .params import (
    gru_params,
    init_params,
    lstm_params,
    params_from_torch,
    params_to_torch,
    rnn_params,
)
from .rnn import (
    rnn_backward,
    rnn_cell_backward,
    rnn_cell_forward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
)
from .truncated import truncated_bptt

__all__ = [
    "bidirectional_backward",
    "bidirectional_forward",
    "gru_backward",
    "gru_cell_backward",
    "gru_cell_forward",
    "gru_forward",
    "gru_gates_backward",
    "gru_gates_forward",
    "gru_params",
    "init_params",
    "lstm_backward",
    "lstm_cell_backward",
    "lstm_cell_forward",
    "lstm_forward",
    "lstm_gates_backward",
    "lstm_gates_forward",
    "lstm_params",
    "params_from_torch",
    "params_to_torch",
    "rnn_backward",
    "rnn_cell_backward",
    "rnn_cell_forward",
    "rnn_forward",
    "rnn_params",
    "rnn_step_backward",
    "rnn_step_forward",
    "sigmoid",
    "truncated_bptt",
]
