"""The chapters' source: printed code fits the page and carries no book plumbing.

About 77 characters fit a printed code cell at 1280 px in the book's theme; glue calls
and the asserts that guard the prose belong in cells tagged ``remove-cell`` (or
``remove-input``), which the reader does not see. The browser test
(tests/browser/test_browser_layout.py) checks the rendered pages too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.md"))
WIDTH = 77
CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```", re.S | re.M)


def printed_cells(text: str) -> list[list[str]]:
    """The code lines of every code cell the reader sees (no remove-cell/-input tag)."""
    cells = []
    for body in CELL.findall(text):
        lines = body.split("\n")
        options = [ln for ln in lines if ln.startswith(":")]
        if any(re.search(r"remove-(cell|input)", ln) for ln in options):
            continue
        if lines and lines[0].strip() == "---":  # YAML cell options block
            end = lines.index("---", 1) if "---" in lines[1:] else 0
            header, lines = lines[: end + 1], lines[end + 1 :]
            if any(re.search(r"remove-(cell|input)", ln) for ln in header):
                continue
        cells.append([ln for ln in lines if not ln.startswith(":")])
    return cells


def test_the_cell_reader_skips_hidden_cells():
    text = (
        "```{code-cell} ipython3\nprint(1)\n```\n"
        "```{code-cell} ipython3\n:tags: [remove-cell]\nglue('a', 1)\n```\n"
        "```{code-cell} ipython3\n---\ntags: [remove-input]\n---\nplot()\n```\n"
    )
    assert printed_cells(text) == [["print(1)", ""]]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_printed_code_fits_the_page(chapter: Path):
    wide = [
        f"{len(line)}: {line.strip()[:60]}"
        for cell in printed_cells(chapter.read_text(encoding="utf-8"))
        for line in cell
        if len(line) > WIDTH
    ]
    assert not wide, f"{chapter.name}: printed lines over {WIDTH} characters:\n" + "\n".join(wide)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_printed_code_has_no_book_plumbing(chapter: Path):
    glued = [
        line.strip()
        for cell in printed_cells(chapter.read_text(encoding="utf-8"))
        for line in cell
        if re.match(r"\s*glue\(", line)
    ]
    assert not glued, f"{chapter.name}: glue(...) in printed cells:\n" + "\n".join(glued)
