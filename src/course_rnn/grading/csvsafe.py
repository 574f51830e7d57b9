"""One rule for every cell of every CSV the grader writes: no spreadsheet formulas.

A CSV file the grader writes (``grades.csv``, ``seeds.csv``, the LMS import files and
their ``*_unmatched.csv``) is opened by a person in a spreadsheet. A cell that starts
with ``=``, ``+``, ``-`` or ``@`` is read there as a formula (CWE-1236, "CSV
injection"), and such cells can come from a roster or a gradebook that students
influence (names, sections, e-mail addresses). The rule, after OWASP's CSV-injection
guidance:

- a cell that is a plain decimal number (``4.5``, ``-1.5``, ``+2``, ``1e-3``) is
  written as it is, so scores and negative penalties stay numbers;
- any other cell that starts with ``=``, ``+``, ``-``, ``@`` (or their full-width forms),
  with a tab, carriage return or line feed, or with blanks before one of those, gets a
  leading ``'``: the spreadsheet shows the text, not a formula;
- a cell holding a separator that some locale uses (``,``, ``;``, a tab), a quote or a
  line break is quoted, so a spreadsheet that splits on ``;`` cannot cut a formula out
  of the middle of a cell.

Every writer goes through :func:`write_csv` (or :func:`csv_text`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TextIO

__all__ = ["csv_text", "safe_cell", "write_csv"]

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_FORMULA = re.compile(r"[\t\r\n]|\s*[=+\-@\uff1d\uff0b\uff0d\uff20]")
_NEEDS_QUOTES = re.compile(r'[,;\t"\r\n]')


def safe_cell(value: object) -> str:
    """``value`` as a cell no spreadsheet reads as a formula (numbers unchanged)."""
    text = "" if value is None else str(value)
    if _NUMBER.fullmatch(text):
        return text
    if _FORMULA.match(text):
        return "'" + text
    return text


def _field(value: object) -> str:
    cell = safe_cell(value)
    if _NEEDS_QUOTES.search(cell):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def csv_text(rows: Iterable[Iterable[object]]) -> str:
    """The CSV text of ``rows`` (``\\n`` line ends), every cell through :func:`safe_cell`."""
    return "".join(",".join(_field(v) for v in row) + "\n" for row in rows)


def write_csv(out: TextIO, rows: Iterable[Iterable[object]]) -> None:
    """Write ``rows`` to ``out`` as CSV, every cell through :func:`safe_cell`."""
    out.write(csv_text(rows))
