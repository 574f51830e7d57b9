"""Execute the chapters that are not cached yet in parallel, one CPU thread each.

Sphinx reads documents one after another, and myst-nb executes each notebook when it
reads it, so a clean build used to run the chapters in series: on a 2-core machine
most of their training loops (small matrices, one step after another) kept one core
busy and left the other idle. This extension runs first, when the builder starts: it
finds the chapters whose code has no entry in the execution cache, executes them with
jupyter-cache's own executor in up to ``os.cpu_count()`` kernels at once (longest first),
and stores them in the cache exactly as myst-nb's ``cache`` mode would. myst-nb then
finds every chapter cached. A chapter that fails is left out of the cache, so myst-nb
runs it again and reports the error where it always does.

Each kernel gets one intra-op thread (``OMP_NUM_THREADS=1``), which also makes the
printed numbers independent of the machine's core count: a build on 2 cores and one on
64 give the same digits.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging

LOGGER = logging.getLogger(__name__)

# Scheduling hint only (longest first packs the cores best): chapters measured to take
# the longest on a clean build. Chapters not listed follow, in file order.
LONGEST_FIRST = (
    "06_lstm_gru",
    "09_seq2seq_attention",
    "07_applications",
    "10_images",
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


def execute_pending(app: Sphinx) -> None:
    nb_config = app.env.mystnb_config
    if nb_config.execution_mode != "cache":
        return
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.executors.utils import single_nb_execution

    pending = _pending(app)
    if len(pending) < 2:
        return  # nothing to run side by side: myst-nb executes it as usual
    cache = get_cache(nb_config.execution_cache_path or ".jupyter_cache")
    workers = min(len(pending), max(1, os.cpu_count() or 1))
    started = time.perf_counter()

    def run(item: tuple[Path, Any, Any]) -> tuple[Path, Any, Any, Any]:
        path, notebook, read_fmt = item
        result = single_nb_execution(
            notebook,
            cwd=str(path.parent),
            allow_errors=nb_config.execution_allow_errors,
            timeout=nb_config.execution_timeout,
            meta_override=True,
        )
        return path, notebook, read_fmt, result

    LOGGER.info(f"executing {len(pending)} chapters in {workers} kernels side by side")
    with ThreadPoolExecutor(workers) as pool:
        for path, notebook, read_fmt, result in pool.map(run, pending):
            if result.err is not None:
                tail = (result.exc_string or "").strip().splitlines()[-3:]
                LOGGER.info(
                    f"{path.name} failed in parallel execution ({' / '.join(tail)}); "
                    "myst-nb runs it again and reports the error"
                )
                continue
            record = cache.add_nb_to_project(str(path), read_data=read_fmt)
            cache.cache_notebook_bundle(
                CacheBundleIn(notebook, record.uri, data={"execution_seconds": result.time}),
                check_validity=False,
                overwrite=True,
            )
            LOGGER.info(f"executed {path.name} in {result.time:.1f} s")
    LOGGER.info(f"parallel execution took {time.perf_counter() - started:.1f} s")


def setup(app: Sphinx) -> dict[str, Any]:
    # One intra-op thread per kernel: the kernels run side by side, and the numbers do not
    # depend on how many cores the building machine has.
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = "1"
    app.connect("builder-inited", execute_pending, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
