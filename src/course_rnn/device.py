"""Where tensors live: CPU or CUDA.

Every torch-based function in the package takes a ``device`` argument and passes it
through :func:`get_device`, so one rule decides everywhere:

1. an explicit ``device`` argument wins (``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a
   ``torch.device``);
2. else the environment variable ``COURSE_RNN_DEVICE`` (same spellings);
3. else CUDA when PyTorch sees a GPU;
4. else the CPU.

Asking for CUDA on a machine without one is an error, not a silent fall-back to the
CPU: a course notebook that claims to run on a GPU should really run there.
"""

from __future__ import annotations

import os
import re

import torch

ENV_VAR = "COURSE_RNN_DEVICE"

_SPELLING = re.compile(r"^(cpu|cuda(:\d+)?)$")


def _parse(value: str | torch.device, source: str) -> torch.device:
    """Turn ``value`` into a ``torch.device`` and check it exists on this machine."""
    if isinstance(value, torch.device):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip().lower()
    else:
        raise TypeError(
            f"{source}: expected a str like 'cpu', 'cuda' or 'cuda:0' or a torch.device, "
            f"got {type(value).__name__}"
        )
    if not _SPELLING.match(text):
        raise ValueError(f"{source}: expected 'cpu', 'cuda' or 'cuda:N', got {value!r}")
    device = torch.device(text)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"{source} asks for {text!r} but PyTorch sees no CUDA device on this "
                "machine; use 'cpu' (or unset the request to pick automatically)"
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise RuntimeError(
                f"{source} asks for {text!r} but only {count} CUDA device(s) exist "
                f"(indices 0..{count - 1})"
            )
    return device


def get_device(device: str | torch.device | None = None) -> torch.device:
    """Pick the device to compute on.

    Args:
        device: ``None`` to decide automatically, or ``"cpu"``, ``"cuda"``, ``"cuda:N"``
            or a ``torch.device``.

    Returns:
        The ``torch.device``: the explicit argument if given, else the one named by the
        ``COURSE_RNN_DEVICE`` environment variable, else CUDA when available, else CPU.

    Raises:
        ValueError: an unknown spelling (e.g. ``"gpu"``).
        RuntimeError: CUDA was asked for but is not available.
    """
    if device is not None:
        return _parse(device, "device argument")
    from_env = os.environ.get(ENV_VAR, "").strip()
    if from_env:
        return _parse(from_env, f"environment variable {ENV_VAR}")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def describe_device(device: str | torch.device | None = None) -> str:
    """One line naming the device that :func:`get_device` picks, e.g. for a notebook header."""
    chosen = get_device(device)
    if chosen.type == "cuda":
        return f"{chosen} ({torch.cuda.get_device_name(chosen)})"
    return "cpu"
