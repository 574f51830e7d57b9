"""Execute the chapters that are not cached yet in parallel, each in a process of its own.

Sphinx reads documents one after another, and myst-nb executes each notebook when it
reads it, so a clean build used to run the chapters in series: on a 2-core machine
most of their training loops (small matrices, one step after another) kept one core
busy and left the other idle. This extension runs first, when the builder starts: it
finds the chapters whose code has no entry in the execution cache, executes them in up
to ``os.cpu_count()`` processes at once (longest first), and stores them in the cache
exactly as myst-nb's ``cache`` mode would. myst-nb then finds every chapter cached.

Each chapter runs in its own process (``course_execute.py``): one notebook client and one
kernel per process, talking over IPC sockets, with an Output widget mimic that cannot lose
the cell's reply (nbclient's own one, on a busy machine, left a chapter with a widget
waiting on an idle kernel until the 300 s cell timeout: see ``course_execute.py``). A
single changed chapter goes the same way, not through myst-nb's executor. A watchdog in
each process fails a chapter whose kernel is idle and silent for ``COURSE_BOOK_SILENCE``
seconds (60 by default) while a cell is running, and the build stops with an error that
names the chapter and the cell (the chapters that ran are cached). Any other failing
chapter is left out of the cache, so myst-nb runs it again and reports the error where it
always does.

Each kernel gets one intra-op thread (``OMP_NUM_THREADS=1``), which also makes the
printed numbers independent of the machine's core count: a build on 2 cores and one on
64 give the same digits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

LOGGER = logging.getLogger(__name__)

# Scheduling hint only (longest first packs the cores best): chapters measured to take
# the longest on a clean build. Chapters not listed follow, in file order.
LONGEST_FIRST = (
    "12_linear_recurrences",
    "06_lstm_gru",
    "09_seq2seq_attention",
    "10_images",
    "07_applications",
    "08_language_models",
    "03_rnn_types",
    "11_music",
    "05_gradients",
)


def _pending(app: Sphinx) -> list[tuple[Path, Any, Any]]:
    """(path, notebook, reader format) of every chapter notebook missing from the cache."""
    from jupyter_cache import get_cache
    from myst_nb.core.read import create_nb_reader

    nb_config = app.env.mystnb_config
    cache = get_cache(nb_config.execution_cache_path or ".jupyter_cache")
    excluded = [p for p in nb_config.execution_excludepatterns]
    chapters = sorted(Path(app.srcdir, "book").glob("*.md"))
    order = {name: i for i, name in enumerate(LONGEST_FIRST)}
    chapters.sort(key=lambda p: (order.get(p.stem, len(order)), p.name))
    pending = []
    for path in chapters:
        if any(path.match(pattern) for pattern in excluded):
            continue
        text = path.read_text(encoding="utf-8")
        reader = create_nb_reader(str(path), app.env.myst_config, nb_config, text)
        if reader is None:
            continue  # plain Markdown, nothing to execute
        notebook = reader.read(text)
        try:
            cache.match_cache_notebook(notebook)
        except KeyError:
            pending.append((path, notebook, reader.read_fmt))
    return pending


EXECUTOR = Path(__file__).with_name("course_execute.py")
KERNEL_NOISE = ("Kernel is running over TCP without encryption",)


def run_chapter(
    path: Path, notebook: Any, timeout: int, silence: float
) -> tuple[Any, dict[str, Any]]:
    """Execute one chapter in a child process: (executed notebook or None, result)."""
    import nbformat

    with tempfile.TemporaryDirectory(prefix="course-chapter-") as tmp:
        src, out, result = (Path(tmp, n) for n in ("in.ipynb", "out.ipynb", "result.json"))
        nbformat.write(notebook, src)
        cmd = [sys.executable, str(EXECUTOR), str(src), str(out), str(result)]
        cmd += ["--cwd", str(path.parent), "--timeout", str(timeout)]
        cmd += ["--silence", str(silence)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.exists():
            outcome = json.loads(result.read_text(encoding="utf-8"))
        else:
            stderr = [ln for ln in proc.stderr.splitlines() if ln.strip()][-3:]
            outcome = {
                "seconds": float("nan"),
                "error": {
                    "kind": "crash",
                    "cell": None,
                    "source": "",
                    "message": f"exit code {proc.returncode}: " + " / ".join(stderr),
                },
            }
        executed = nbformat.read(out, as_version=4) if out.exists() else None
    outcome["stderr"] = [
        ln
        for ln in proc.stderr.splitlines()
        if ln.strip() and not any(noise in ln for noise in KERNEL_NOISE)
    ]
    return executed, outcome


def _where(path: Path, error: dict[str, Any]) -> str:
    """'cell 7 (line 120: `train(...)`)': the failing cell, with its line in the source."""
    if error.get("cell") is None:
        return "before the first cell"
    source = error.get("source") or ""
    line = ""
    if source:
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if text.strip() == source:
                line = f"line {number}: "
                break
    return f"cell {error['cell']} ({line}`{source[:60]}`)"


def execute_pending(app: Sphinx) -> None:
    nb_config = app.env.mystnb_config
    if nb_config.execution_mode != "cache":
        return
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    pending = _pending(app)
    if not pending:
        return
    cache = get_cache(nb_config.execution_cache_path or ".jupyter_cache")
    workers = min(len(pending), max(1, os.cpu_count() or 1))
    silence = float(os.environ.get("COURSE_BOOK_SILENCE", "60"))
    started = time.perf_counter()

    def run(item: tuple[Path, Any, Any]) -> tuple[Path, Any, Any, dict[str, Any]]:
        path, notebook, read_fmt = item
        executed, outcome = run_chapter(path, notebook, nb_config.execution_timeout, silence)
        return path, executed, read_fmt, outcome

    LOGGER.info(f"executing {len(pending)} chapter(s), {workers} at a time")
    silent = []
    with ThreadPoolExecutor(workers) as pool:  # threads only wait on child processes
        for path, executed, read_fmt, outcome in pool.map(run, pending):
            error = outcome["error"]
            if error is None and executed is not None:
                record = cache.add_nb_to_project(str(path), read_data=read_fmt)
                cache.cache_notebook_bundle(
                    CacheBundleIn(
                        executed, record.uri, data={"execution_seconds": outcome["seconds"]}
                    ),
                    check_validity=False,
                    overwrite=True,
                )
                LOGGER.info(f"executed {path.name} in {outcome['seconds']:.1f} s")
                continue
            for line in outcome["stderr"][-5:]:
                LOGGER.info(f"  {path.name}: {line}")
            if error["kind"] == "silent":
                silent.append(f"{path.name}: stopped at {_where(path, error)}: {error['message']}")
                LOGGER.info(silent[-1])
            else:
                LOGGER.info(
                    f"{path.name} failed at {_where(path, error)} ({error['message']}); "
                    "myst-nb runs it again and reports the error"
                )
    LOGGER.info(f"parallel execution took {time.perf_counter() - started:.1f} s")
    if silent:
        # Loud and early: the other chapters are cached, so a rebuild runs only these.
        raise ExtensionError("a chapter waited on a silent kernel:\n" + "\n".join(silent))


def setup(app: Sphinx) -> dict[str, Any]:
    # One intra-op thread per kernel: the kernels run side by side, and the numbers do not
    # depend on how many cores the building machine has.
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = "1"
    app.connect("builder-inited", execute_pending, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
