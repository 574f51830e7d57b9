"""How the book build executes its chapters (book/_ext/course_parallel.py and
course_execute.py): each chapter in a process of its own, and never a silent wait."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "book" / "_ext" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


parallel = _load("course_parallel")


def _notebook(*sources: str):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


def test_a_kernel_that_goes_silent_fails_the_chapter_and_names_the_cell(tmp_path):
    """A kernel that is idle and sends nothing while its cell is still awaited (here it
    sleeps, which looks the same to the client) fails after the silence limit, not after
    the 300 s cell timeout, and the error names the cell and its line in the source."""
    chapter = tmp_path / "ch.md"
    chapter.write_text("# A chapter\n\nx = 1\n\nimport time; time.sleep(600)\n", encoding="utf-8")
    nb = _notebook("x = 1", "print('before')", "import time; time.sleep(600)", "print('never')")
    started = time.monotonic()
    executed, outcome = parallel.run_chapter(chapter, nb, timeout=300, silence=4)
    elapsed = time.monotonic() - started
    assert elapsed < 60, f"took {elapsed:.0f} s to notice a silent kernel"
    error = outcome["error"]
    assert error["kind"] == "silent" and error["cell"] == 2
    assert error["source"] == "import time; time.sleep(600)"
    where = parallel._where(chapter, error)
    assert where == "cell 2 (line 5: `import time; time.sleep(600)`)"
    assert executed is None


def test_a_busy_kernel_that_prints_nothing_is_not_silent(tmp_path):
    """Computing without output for longer than the silence limit is work, not silence:
    the kernel's CPU time moves."""
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 6: pass\n"
    nb = _notebook(busy, "print('done')")
    executed, outcome = parallel.run_chapter(tmp_path / "ch.md", nb, timeout=300, silence=3)
    assert outcome["error"] is None, outcome
    assert executed.cells[1].outputs[0]["text"] == "done\n"
    assert outcome["seconds"] >= 6


def test_a_failing_cell_is_reported_with_its_cell_and_no_tcp_warning(tmp_path):
    nb = _notebook("a = 1", "raise ValueError('bad value')")
    executed, outcome = parallel.run_chapter(tmp_path / "ch.md", nb, timeout=60, silence=30)
    error = outcome["error"]
    assert error["kind"] == "cell" and error["cell"] == 1
    assert "bad value" in error["message"]
    assert not any("TCP" in line for line in outcome["stderr"])


def test_every_chapter_runs_in_a_process_of_its_own(tmp_path):
    """Two chapters run side by side get two client processes (not threads of the
    builder), each with its own kernel, and their outputs are kept apart."""
    import os

    nb = _notebook("import os; print(os.getppid())", "import time; time.sleep(1)")
    results = []
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(parallel.run_chapter, tmp_path / f"c{i}.md", nb, 60, 30) for i in range(2)
        ]
        results = [f.result() for f in futures]
    parents = {int(r[0].cells[0].outputs[0]["text"]) for r in results}
    assert len(parents) == 2 and os.getpid() not in parents
