"""Parameters of the scratch layers: PyTorch's initialisation, and copies to and from torch.

A parameter dict uses PyTorch's names and shapes: ``weight_ih`` (G*H, D), ``weight_hh``
(G*H, H), ``bias_ih`` and ``bias_hh`` (G*H,), with G = 1 (RNN), 4 (LSTM: i, f, g, o) or
3 (GRU: r, z, n). A bidirectional layer adds the same four names with ``_reverse``.
"""

from __future__ import annotations

import re

import numpy as np

from ._shapes import GATES_OF_CELL, check_shape


def init_params(
    cell: str, D: int, H: int, seed: int | None = 0, dtype: type = np.float64
) -> dict[str, np.ndarray]:
    """Random parameters as PyTorch draws them: every entry from U(-1/√H, 1/√H).

    cell is ``"rnn"``, ``"lstm"`` or ``"gru"``; D input size, H hidden size. Same seed,
    same numbers (they are not the numbers torch draws: copy with ``params_to_torch``).
    """
    if cell not in GATES_OF_CELL:
        raise ValueError(f"cell is {cell!r}; expected one of {', '.join(map(repr, GATES_OF_CELL))}")
    if D < 1 or H < 1:
        raise ValueError(f"sizes are D={D}, H={H}; expected D >= 1 and H >= 1")
    G = GATES_OF_CELL[cell]
    rng = np.random.default_rng(seed)
    k = 1 / np.sqrt(H)
    shapes = {"weight_ih": (G * H, D), "weight_hh": (G * H, H), "bias_ih": (G * H,)}
    shapes["bias_hh"] = (G * H,)
    return {name: rng.uniform(-k, k, size=shape).astype(dtype) for name, shape in shapes.items()}


def rnn_params(D: int, H: int, seed: int | None = 0, dtype: type = np.float64) -> dict:
    """Vanilla RNN parameters: ``weight_ih`` (H, D), ``weight_hh`` (H, H), biases (H,)."""
    return init_params("rnn", D, H, seed, dtype)


def lstm_params(D: int, H: int, seed: int | None = 0, dtype: type = np.float64) -> dict:
    """LSTM parameters: ``weight_ih`` (4H, D), ``weight_hh`` (4H, H), biases (4H,)."""
    return init_params("lstm", D, H, seed, dtype)


def gru_params(D: int, H: int, seed: int | None = 0, dtype: type = np.float64) -> dict:
    """GRU parameters: ``weight_ih`` (3H, D), ``weight_hh`` (3H, H), biases (3H,)."""
    return init_params("gru", D, H, seed, dtype)


# Torch names a one-layer module's parameters weight_ih_l0, ..., weight_ih_l0_reverse.
_TORCH_NAME = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?$")


def _our_name(torch_name: str) -> str:
    m = _TORCH_NAME.match(torch_name)
    if m is None:
        raise ValueError(f"parameter {torch_name!r} is not one of an RNN/LSTM/GRU layer")
    if m.group(2) != "0":
        raise ValueError(
            f"the module has parameter {torch_name!r}; expected one layer (num_layers=1)"
        )
    return m.group(1) + (m.group(3) or "")


def params_from_torch(module, dtype: type | None = None) -> dict[str, np.ndarray]:
    """Copy the weights of a one-layer ``torch.nn.RNN``, ``LSTM`` or ``GRU`` into numpy.

    Names lose torch's ``_l0``: ``weight_ih_l0`` -> ``weight_ih`` (and
    ``weight_ih_l0_reverse`` -> ``weight_ih_reverse`` for a bidirectional module).
    dtype: None keeps the module's dtype.
    """
    if getattr(module, "bias", True) is False:
        raise ValueError("the module has bias=False; expected bias=True (scratch uses biases)")
    if getattr(module, "proj_size", 0):
        raise ValueError(f"the module has proj_size={module.proj_size}; expected 0")
    out = {}
    for name, p in module.named_parameters():
        a = p.detach().cpu().numpy().copy()
        out[_our_name(name)] = a if dtype is None else a.astype(dtype)
    return out


def params_to_torch(params: dict[str, np.ndarray], module):
    """Copy numpy parameters into a one-layer torch module in place; return the module.

    Every parameter of the module must be in ``params`` with the module's shape.
    """
    import torch  # only here: the rest of course_rnn.scratch needs numpy alone

    with torch.no_grad():
        for name, p in module.named_parameters():
            ours = _our_name(name)
            if ours not in params:
                raise ValueError(f"params is missing {ours!r}, needed for the module's {name}")
            value = np.asarray(params[ours])
            check_shape(ours, value, tuple(p.shape), "the module's " + name)
            p.copy_(torch.as_tensor(value, dtype=p.dtype, device=p.device))
    return module
