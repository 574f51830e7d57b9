"""Execute every chapter on the CPU, whatever accelerator the building machine has.

The chapters are seeded, so a CPU build gives the same numbers on every machine; a GPU
would change the last digits (and which kernels run). ``course_rnn.device`` reads
``COURSE_RNN_DEVICE``; the kernels that execute the chapters inherit this environment.
The exercises, not the book, are where the course shows that its code runs on CUDA.
"""

from __future__ import annotations

import os
from typing import Any

from sphinx.application import Sphinx


def setup(app: Sphinx) -> dict[str, Any]:
    os.environ["COURSE_RNN_DEVICE"] = "cpu"
    return {"parallel_read_safe": True, "parallel_write_safe": True}
