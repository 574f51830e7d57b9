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


execute = _load("course_execute")

WIDGET_CELLS = (
    "import ipywidgets as w\nfrom IPython.display import HTML, display\n"
    "def show(x):\n    display(HTML('<b>%d</b>' % x))\n",
    "w.interactive(show, x=w.IntSlider(value=3))",
)


def _widget_cell_seconds(mimic: type, timeout: int) -> tuple[float, list]:
    """The longest time the client spent on one of three cells that draw into an Output
    widget, when it takes 0.3 s to handle each output shown in one (as on a busy machine,
    where the cell's execute_reply arrives meanwhile); and the widgets' recorded outputs."""
    from nbclient import NotebookClient

    class Slow(mimic):
        def output(self, *args, **kwargs):
            time.sleep(0.3)
            return super().output(*args, **kwargs)

    times: dict[int, float] = {}
    client = NotebookClient(
        _notebook(WIDGET_CELLS[0], *[WIDGET_CELLS[1]] * 3),
        timeout=timeout,
        on_cell_execute=lambda cell, cell_index: times.__setitem__(cell_index, time.monotonic()),
        on_cell_executed=lambda cell, cell_index, execute_reply: times.__setitem__(
            cell_index, time.monotonic() - times[cell_index]
        ),
    )
    client.widget_registry = {"@jupyter-widgets/output": {"OutputModel": Slow}}
    client.execute()
    outputs = [s.get("outputs") for s in client.widget_state.values() if "outputs" in s]
    return max(times[i] for i in (1, 2, 3)), outputs


def test_nbclients_output_widget_mimic_stalls_until_the_cell_timeout():
    """The stall of the book build, made deterministic: nbclient's own mimic echoes the
    widget's state on the shell socket while the client polls it for the reply; the reply
    is noticed only when the poll times out, and the cell then passes as if nothing
    happened."""
    from nbclient.output_widget import OutputWidget

    seconds, outputs = _widget_cell_seconds(OutputWidget, timeout=5)
    assert seconds >= 4.5, f"expected a stall of about 5 s, the cells took {seconds:.1f} s"
    assert outputs and outputs[0][0]["data"]["text/html"] == "<b>3</b>"


def test_the_books_output_widget_mimic_does_not_stall_and_keeps_the_outputs():
    seconds, outputs = _widget_cell_seconds(execute._static_output_widget(), timeout=5)
    assert seconds < 3, f"a widget cell took {seconds:.1f} s"
    assert outputs and outputs[0][0]["data"]["text/html"] == "<b>3</b>"


def test_a_chapter_with_widgets_keeps_their_state_for_the_page(tmp_path):
    executed, outcome = parallel.run_chapter(tmp_path / "ch.md", _notebook(*WIDGET_CELLS), 60, 30)
    assert outcome["error"] is None, outcome
    state = executed.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    recorded = [m["state"].get("outputs") for m in state.values() if m["state"].get("outputs")]
    assert recorded and recorded[0][0]["data"]["text/html"] == "<b>3</b>"


def test_an_executed_chapter_keeps_the_cache_key_of_its_source(tmp_path):
    """myst-nb finds a chapter in the execution cache by a hash of its code cells and
    their metadata: the executed notebook must hash as its source does, or every chapter
    would run twice (once here, once more by myst-nb)."""
    from jupyter_cache import get_cache

    nb = _notebook("x = 1", "print(x)")
    nb.cells[1].metadata["tags"] = ["remove-input"]
    executed, outcome = parallel.run_chapter(tmp_path / "ch.md", nb, 60, 30)
    assert outcome["error"] is None, outcome
    cache = get_cache(tmp_path / "cache")
    assert cache.create_hashed_notebook(executed)[1] == cache.create_hashed_notebook(nb)[1]


def test_chapter_kernels_skip_the_iri_grammar_and_gain_no_name(tmp_path):
    nb = _notebook(
        "import sys\nprint(sys.modules.get('rfc3987_syntax', 'imported') is None)",
        "print(sorted(n for n in dir() if not n.startswith('_') and n not in "
        "('In', 'Out', 'exit', 'quit', 'get_ipython', 'open', 'sys')))",
    )
    executed, outcome = parallel.run_chapter(tmp_path / "ch.md", nb, 60, 30)
    assert outcome["error"] is None, outcome
    assert executed.cells[0].outputs[0]["text"] == "True\n"
    assert executed.cells[1].outputs[0]["text"] == "[]\n"
