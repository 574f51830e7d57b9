"""Resource limits for grading one submission (a light module: no heavy imports)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Limits:
    """Resource limits for one submission (safe defaults).

    Wall time per cell and per notebook, address space (``memory_mb``) and CPU seconds
    per kernel process, processes per sandbox, characters of output kept per notebook
    (counted by the trusted runner), whether the sandbox may use the network (never by
    default), and the address space of the trusted runner itself (``runner_memory_mb``:
    it decodes what student code returns, so it has a cap of its own).
    """

    cell_timeout_s: float = 60
    notebook_timeout_s: float = 600
    memory_mb: int = 2048
    max_processes: int = 64
    cpu_time_s: float = 600
    max_output_bytes: int = 1_000_000
    network: bool = False
    runner_memory_mb: int = 4096

    def __post_init__(self) -> None:
        for name in (
            "cell_timeout_s",
            "notebook_timeout_s",
            "memory_mb",
            "max_processes",
            "cpu_time_s",
            "max_output_bytes",
            "runner_memory_mb",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive number, got {value!r}")
