"""The built book in _build/html: every chapter executed cleanly, figures exist, offline.

Most tests here read what `make book` wrote (`make test` builds it first); they do not
build the book themselves and are marked ``book``. Run `make book` before `pytest -m book`
on its own. The tests of the chapter list and of the code matcher need no built book.
"""

from __future__ import annotations

import ast
import io
import keyword
import re
import textwrap
import tokenize
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

book = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
CACHE = ROOT / "_build" / ".jupyter_cache"
SOLUTIONS = ROOT / "solutions"


def chapters_from_toc(toc: dict) -> list[str]:
    """The numbered chapters (``book/NN_name``) named in a ``_toc.yml``, in reading order.

    The root page comes first, then every ``file:`` entry of every part, chapter and
    section, whatever its caption; the notation page and the exercises are not chapters.
    """
    files = [toc.get("root", "")]

    def walk(entries: list) -> None:
        for entry in entries or []:
            files.append(entry.get("file", ""))
            walk(entry.get("chapters"))
            walk(entry.get("sections"))

    for part in toc.get("parts") or [{"chapters": toc.get("chapters")}]:
        walk(part.get("chapters"))
    names = [m.group(1) for f in files if (m := re.fullmatch(r"book/(\d\d_\w+)", str(f)))]
    return list(dict.fromkeys(names))


CHAPTERS = chapters_from_toc(yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8")))
INTRO = CHAPTERS[0]
# The chapters after the introduction teach with evidence: at least this many figures each.
TEACHING_CHAPTERS = CHAPTERS[1:]
MIN_FIGURES = 2


def test_chapter_list_is_read_from_the_toc() -> None:
    toc = {
        "root": "book/00_intro",
        "parts": [
            {"caption": "Reference", "chapters": [{"file": "book/notation"}]},
            {"caption": "Chapters", "chapters": [{"file": "book/01_a"}, {"file": "book/02_b"}]},
            {
                "caption": "More",
                "chapters": [{"file": "book/08_c", "sections": [{"file": "book/09_d"}]}],
            },  # noqa: E501
            {
                "caption": "Exercises",
                "chapters": [{"file": "book/exercises"}, {"file": "exercises/x/x"}],
            },
        ],
    }
    assert chapters_from_toc(toc) == ["00_intro", "01_a", "02_b", "08_c", "09_d"]
    assert INTRO == "00_intro", f"_toc.yml's root should be the introduction, got {INTRO}"
    assert len(TEACHING_CHAPTERS) >= 7, f"too few chapters read from _toc.yml: {CHAPTERS}"


def test_every_chapter_file_is_in_the_toc() -> None:
    """``only_build_toc_files`` skips a chapter missing from _toc.yml: nothing would warn."""
    on_disk = {p.stem for p in (ROOT / "book").glob("[0-9][0-9]_*.md")}
    missing = sorted(on_disk - set(CHAPTERS))
    assert not missing, f"chapters not in _toc.yml, so never built: {missing}"


@pytest.fixture(scope="module")
def html_dir() -> Path:
    intro = HTML / "book" / f"{INTRO}.html"
    if not intro.is_file():
        pytest.fail(
            f"the built book is missing: {intro} does not exist. "
            "Run `make book` first (`make test` does it for you).",
            pytrace=False,
        )
    return HTML


def _executed(chapter: str) -> dict:
    """The chapter's notebook as last executed, with its outputs, from the execution cache.

    (The copies in _build/jupyter_execute lose their outputs when a chapter comes from the
    cache, so the cache itself is the record of what ran.)
    """
    from jupyter_cache import get_cache

    assert CACHE.is_dir(), f"no execution cache at {CACHE}: was the book built?"
    cache = get_cache(str(CACHE))
    records = [r for r in cache.list_cache_records() if r.uri.endswith(f"/book/{chapter}.md")]
    assert records, f"{chapter} was never executed (no record in {CACHE})"
    latest = max(records, key=lambda r: r.created)
    return cache.get_cache_bundle(latest.pk).nb


class _Collector(HTMLParser):
    """Collect the tags the tests look at: scripts, stylesheets, images, links."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.links: list[str] = []
        self.imports: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.scripts.append(a["src"] or "")
        elif tag == "link" and "stylesheet" in (a.get("rel") or "") and a.get("href"):
            self.stylesheets.append(a["href"] or "")
        elif tag == "link" and (a.get("rel") or "") in ("preload", "modulepreload"):
            self.stylesheets.append(a.get("href") or "")
        elif tag == "img":
            self.images.append(a)
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")
        elif tag == "style":
            self._in_style = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.imports += re.findall(r"@import\s+url\(['\"]?([^'\")]+)", data)


def _parse(path: Path) -> _Collector:
    collector = _Collector()
    collector.feed(path.read_text(encoding="utf-8"))
    return collector


def _is_external(url: str) -> bool:
    return bool(re.match(r"^(https?:)?//", url.strip(), flags=re.IGNORECASE))


def _pages(html_dir: Path) -> list[Path]:
    return sorted(p for p in html_dir.rglob("*.html") if "_static" not in p.parts)


@book
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_page_was_built(html_dir: Path, chapter: str) -> None:
    page = html_dir / "book" / f"{chapter}.html"
    assert page.is_file(), f"chapter page {page} is missing from the build"
    assert "This chapter is being written" not in page.read_text(encoding="utf-8"), (
        f"{chapter} is still a placeholder"
    )


@book
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_executed_without_error_outputs(html_dir: Path, chapter: str) -> None:
    nb = _executed(chapter)
    code_cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code_cells, f"{chapter} has no code cell"
    problems = []
    for i, cell in enumerate(code_cells):
        if cell.get("execution_count") is None and cell["source"].strip():
            problems.append(f"code cell {i} was not executed")
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"code cell {i} raised {out.get('ename')}: {out.get('evalue')}")
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                problems.append(f"code cell {i} wrote to stderr: {''.join(out['text'])[:200]}")
    assert not problems, f"{chapter}: " + "; ".join(problems)
    page = (html_dir / "book" / f"{chapter}.html").read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" not in page, f"{chapter} shows a traceback"


@book
@pytest.mark.parametrize("chapter", TEACHING_CHAPTERS)
def test_every_chapter_has_figures_with_alt_text(html_dir: Path, chapter: str) -> None:
    page = _parse(html_dir / "book" / f"{chapter}.html")
    figures = [img for img in page.images if "_images/" in (img.get("src") or "")]
    assert len(figures) >= MIN_FIGURES, (
        f"{chapter}: expected at least {MIN_FIGURES} figures, found {len(figures)}"
    )
    for img in figures:
        alt = (img.get("alt") or "").strip()
        assert len(alt) > 20, f"{chapter}: figure {img.get('src')} has no useful alt text"


@book
def test_every_image_file_exists(html_dir: Path) -> None:
    missing = []
    count = 0
    for page in _pages(html_dir):
        for img in _parse(page).images:
            src = (img.get("src") or "").split("#")[0].split("?")[0]
            if not src or src.startswith("data:") or _is_external(src):
                continue
            count += 1
            if not (page.parent / src).resolve().is_file():
                missing.append(f"{page.relative_to(html_dir)} -> {src}")
    assert count > 0, "no image found in the built book"
    assert not missing, "images referenced but not built: " + ", ".join(missing)


@book
def test_no_page_loads_an_external_script_or_stylesheet(html_dir: Path) -> None:
    offenders = []
    for page in _pages(html_dir):
        parsed = _parse(page)
        for url in parsed.scripts + parsed.stylesheets + parsed.imports:
            if _is_external(url):
                offenders.append(f"{page.relative_to(html_dir)}: {url}")
        text = page.read_text(encoding="utf-8")
        for cdn in ("cdn.jsdelivr.net", "unpkg.com", "cdnjs.cloudflare.com", "fonts.googleapis"):
            if cdn in text:
                offenders.append(f"{page.relative_to(html_dir)}: mentions {cdn}")
    assert not offenders, "the book must read offline; external assets: " + "; ".join(offenders)


@book
def test_mathjax_and_widget_scripts_are_served_locally(html_dir: Path) -> None:
    page = _parse(html_dir / "book" / "02_rnn_forward.html")
    mathjax = [s for s in page.scripts if "mathjax" in s.lower()]
    assert mathjax, "no MathJax script on a chapter with equations"
    for src in mathjax:
        assert (html_dir / "book" / src.split("?")[0]).resolve().is_file(), src
    widgets = _parse(html_dir / "book" / "05_gradients.html").scripts
    for name in ("require", "embed-amd"):
        found = [s for s in widgets if name in s]
        assert found, f"chapter 5 has an explorer but loads no {name} script"
        assert (html_dir / "book" / found[0].split("?")[0]).resolve().is_file(), found[0]


@book
@pytest.mark.parametrize("chapter", TEACHING_CHAPTERS)
def test_every_chapter_links_the_notation_page(html_dir: Path, chapter: str) -> None:
    text = (html_dir / "book" / f"{chapter}.html").read_text(encoding="utf-8")
    start = text.find('<article class="bd-article"')
    end = text.find("</article>", start)
    assert start >= 0 and end > start, f"{chapter}: no article body found in the page"
    body = _Collector()
    body.feed(text[start:end])  # the chapter's own text, not the sidebar or the footer
    links = [href for href in body.links if href.split("#")[0] == "notation.html"]
    assert links, f"{chapter} does not link the notation page in its text"


@book
@pytest.mark.parametrize("chapter", TEACHING_CHAPTERS)
def test_every_chapter_has_the_skeleton(html_dir: Path, chapter: str) -> None:
    text = (html_dir / "book" / f"{chapter}.html").read_text(encoding="utf-8")
    for part in ("Learning objectives", "Common misconceptions", "Summary", "Exercise"):
        assert part in text, f"{chapter} lacks its '{part}' part"


_NUMBER = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?")
#: A decimal number with a unit of time: a measurement of the machine, not of seeded work.
_TIME = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?\s*(?:ms|s)\b")


def _text_outputs_of(nb: dict) -> list[str]:
    """Text printed by a notebook's cells (streams and plain-text results), in order."""
    texts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                texts.append("".join(out["text"]))
            elif "text/plain" in out.get("data", {}):
                texts.append("".join(out["data"]["text/plain"]))
    return texts


def printed_numbers(nb: dict) -> list[str]:
    """The decimal numbers a notebook printed that seeding fixes: times (a number followed
    by s or ms) and every output of a cell tagged ``timing`` (a table of times) are left
    out. benchmarks/book_build.sh compares two clean builds with this too."""
    kept = [
        cell for cell in nb["cells"] if "timing" not in cell.get("metadata", {}).get("tags", [])
    ]
    text = "\n".join(_text_outputs_of({"cells": kept}))
    return _NUMBER.findall(_TIME.sub(" ", text))


@book
@pytest.mark.slow
@pytest.mark.parametrize("chapter", ["01_order_matters", "03_rnn_types"])
def test_a_second_run_prints_the_same_numbers(html_dir: Path, chapter: str) -> None:
    """Seeded chapters: running a chapter again gives exactly the numbers of the build.

    Re-executes the built notebook (a few seconds) and compares every decimal number in its
    text outputs. benchmarks/book_build.sh compares two whole clean builds the same way.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.from_dict(_executed(chapter))
    before = printed_numbers(nb)
    NotebookClient(nb, timeout=120, resources={"metadata": {"path": str(ROOT / "book")}}).execute()
    after = printed_numbers(nb)
    assert before, f"{chapter} printed no decimal number to compare"
    diffs = [(a, b) for a, b in zip(before, after, strict=False) if a != b][:5]
    assert before == after, f"{chapter}: numbers changed on a second run, e.g. {diffs}"


# ---------------------------------------------------------------------------------------
# No answer printed before it is asked for: answer cells of solutions/ against the code
# the chapters show
# ---------------------------------------------------------------------------------------

#: Shared runs of at least this many normalised tokens count as showing an answer. Short
#: enough to catch one line of an answer's equations (`a = x @ W_ih.T + b_ih + ...` is
#: 26 tokens), long enough to let `return np.tanh(pre)` (6) or a loop header pass: with
#: names normalised, 16 tokens matched generic shapes between unrelated chapters and
#: answers (a pair of slices, a call unpacked into two names: 16 to 19 tokens).
MIN_SHARED_TOKENS = 20

#: Code every PyTorch reader writes the same way: the book teaches it, an answer may use it.
#: Each is cut out of both sides before matching, so no run crosses it.
IDIOMS = (
    "optimizer = torch.optim.Adam(model.parameters(), lr=0.01)\n",
    "optimizer.zero_grad()\nloss.backward()\noptimizer.step()\n",
    "with torch.no_grad():\n",
    "nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n",
    "super().__init__()\n",
    "def forward(self, x: torch.Tensor) -> torch.Tensor:\n",
    "for t in range(x.shape[1]):\n",  # the loop over time
    "return self.head(out[:, -1]).squeeze(-1)\n",  # a read-out of the last step
)

_LAYOUT = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENCODING,
    tokenize.ENDMARKER,
}


def _python_tokens(text: str) -> list[tokenize.TokenInfo]:
    """Python tokens of ``text``; text that is not Python (printed output) line by line."""
    try:
        return list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        tokens: list[tokenize.TokenInfo] = []
        for line in text.splitlines():
            try:
                tokens += tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline)
            except (tokenize.TokenError, SyntaxError):
                continue  # a line that is not Python at all
        return tokens


def _normalise(text: str) -> list[tuple[str, str]]:
    """(normalised token, original text) pairs of the code in ``text``.

    Comments, blank lines and indentation are dropped and each statement ends in ";".
    Variable names become ``ID`` (renaming does not make another answer), numbers
    ``NUM``; attribute names (``.tanh``, ``.T``), keywords, operators and the values of
    string literals (``"weight_ih"``) are kept.
    """
    out: list[tuple[str, str]] = []
    previous = ""
    for tok in _python_tokens(text):
        s = tok.string
        if tok.type in _LAYOUT or not s.strip() and tok.type != tokenize.NEWLINE:
            continue
        if tok.type == tokenize.NEWLINE:
            norm = ";"
        elif tok.type == tokenize.NAME and not keyword.iskeyword(s) and previous != ".":
            norm = "ID"
        elif tok.type == tokenize.NUMBER:
            norm = "NUM"
        elif tok.type == tokenize.STRING:
            try:
                norm = "STR:" + repr(ast.literal_eval(s))
            except (ValueError, SyntaxError):  # an f-string
                norm = "FSTR"
        else:
            norm = s
        if norm == ";" and (not out or out[-1][0] == ";"):
            continue
        out.append((norm, s))
        previous = s
    return out


_IDIOM_TOKENS = [[t for t, _ in _normalise(idiom)] for idiom in IDIOMS]


def code_tokens(text: str) -> list[tuple[str, str]]:
    """``_normalise(text)`` with every idiom replaced by a token that matches nothing."""
    tokens = _normalise(text)
    for pattern in _IDIOM_TOKENS:
        i = 0
        while i <= len(tokens) - len(pattern):
            if [t for t, _ in tokens[i : i + len(pattern)]] == pattern:
                tokens[i : i + len(pattern)] = [(f"<idiom at {i}>", "...")]
            i += 1
    return tokens


def shared_code(answer: str, shown: list[str], min_tokens: int = MIN_SHARED_TOKENS) -> list[str]:
    """Runs of at least ``min_tokens`` normalised tokens of ``answer`` found in ``shown``.

    ``shown`` holds separate blocks of code (a run never spans two). Returns each
    maximal shared run as the answer's original tokens joined by spaces; [] when none.
    """
    answer_tokens = code_tokens(answer)
    seen: set[tuple[str, ...]] = set()
    for block in shown:
        norm = [t for t, _ in code_tokens(block)]
        seen.update(tuple(norm[i : i + min_tokens]) for i in range(len(norm) - min_tokens + 1))
    norm = [t for t, _ in answer_tokens]
    hits = [i for i in range(len(norm) - min_tokens + 1) if tuple(norm[i : i + min_tokens]) in seen]
    runs: list[str] = []
    start = end = None
    for i in hits + [None]:
        if i is not None and end is not None and i <= end:
            end = i + min_tokens
            continue
        if start is not None:
            runs.append(" ".join(s for _, s in answer_tokens[start:end] if s.strip()))
        if i is not None:
            start, end = i, i + min_tokens
    return runs


def answer_code(source: str) -> str:
    """The code between an answer cell's solution markers, dedented."""
    lines, inside = [], False
    for line in source.splitlines():
        if "### BEGIN SOLUTION" in line:
            inside = True
        elif "### END SOLUTION" in line:
            inside = False
        elif inside:
            lines.append(line)
    return textwrap.dedent("\n".join(lines))


def answer_cells() -> list[tuple[str, str, str]]:
    """(assignment, grade id, code between the solution markers) of every answer cell."""
    import nbformat

    answers = []
    for path in sorted(SOLUTIONS.glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell.cell_type != "code" or not meta.get("solution"):
                continue
            answers.append((path.stem, meta.get("grade_id", "?"), answer_code(cell.source)))
    return answers


class _PreBlocks(HTMLParser):
    """The text of every <pre> block of a page: code cells, their outputs, listings."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[str] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "pre":
            if self._depth == 0:
                self.blocks.append("")
            self._depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre" and self._depth:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._depth:
            self.blocks[-1] += data


def pre_blocks(html: str) -> list[str]:
    parser = _PreBlocks()
    parser.feed(html)
    return parser.blocks


LSTM_STEP = """
a = (x_t @ params["weight_ih"].T + params["bias_ih"]
     + h_prev @ params["weight_hh"].T + params["bias_hh"])
a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
c_t = f * c_prev + i * g
return o * np.tanh(c_t), c_t
"""


def test_shared_code_finds_an_answer_under_other_names_and_comments() -> None:
    shown = [
        "x = 1\n",
        "def step(xt, hp, p):\n"
        "    pre = (xt @ p['weight_ih'].T + p['bias_ih']  # the input's share\n"
        "           + hp @ p['weight_hh'].T + p['bias_hh'])\n"
        "    return pre\n",
    ]
    runs = shared_code(LSTM_STEP, shown)
    assert len(runs) == 1, runs
    assert runs[0].startswith("a = ( x_t @ params"), runs
    assert runs[0].endswith('params [ "bias_hh" ] )'), runs


def test_shared_code_lets_short_common_code_and_idioms_pass() -> None:
    shown = [
        "return np.tanh(pre)\n",
        "c_t = f * c_prev + i * g\n",  # one short line of the answer: 11 tokens
        "for t in reversed(range(T)):\n    h = step(h)\n",
        "with torch.no_grad():\n    acc = (model(x).argmax(-1) == y).float().mean()\n",
    ]
    assert shared_code(LSTM_STEP, shown) == []
    loop = (
        "for step in range(300):\n    loss = F.mse_loss(model(x), y)\n"
        "    optimizer.zero_grad()\n    loss.backward()\n    optimizer.step()\n"
    )
    other_loop = (
        "for i in range(20):\n    loss = F.cross_entropy(net(xs), ys)\n"
        "    opt.zero_grad()\n    loss.backward()\n    opt.step()\n"
    )
    assert shared_code(loop, [other_loop]) == []
    # Shapes every recurrent model's code has, seen in a chapter and in an unrelated answer.
    time_loop = "outs = []\nfor t in range(x.shape[1]):\n    h, c = cell(x[:, t], h, c, p)\n"
    other_time_loop = "ys = []\nfor t in range(x.shape[1]):\n    y, h = lru.step(x[:, t], h)\n"
    assert shared_code(time_loop, [other_time_loop]) == []
    read_out = "out, _ = self.rnn(x)\nreturn self.head(out[:, -1]).squeeze(-1)\n"
    other_read_out = "h = self.rnn(x)\nreturn self.head(h[:, -1]).squeeze(-1)  # (N,)\n"
    assert shared_code(read_out, [other_read_out]) == []


def test_shared_code_reads_printed_output_that_is_not_python() -> None:
    shown = ["LSTM: max |out - torch| = 9.7e-17, don't worry\n  unindented ''' oops\n"]
    assert shared_code(LSTM_STEP, shown) == []
    assert _normalise("'''never closed\nx = 1\n")  # falls back to line by line


def test_pre_blocks_unescape_the_highlighted_code() -> None:
    html = (
        '<div><pre><span class="n">a</span> <span class="o">=</span> '
        '<span class="n">x</span> <span class="o">&gt;</span> <span class="mi">1</span></pre>'
        "<p>prose</p><pre>out</pre></div>"
    )
    assert pre_blocks(html) == ["a = x > 1", "out"]


@book
def test_no_chapter_shows_the_code_of_an_answer(html_dir: Path) -> None:
    """The book never prints an exercise's answer: no answer cell of solutions/ shares a
    run of MIN_SHARED_TOKENS normalised tokens with a <pre> block of a chapter page."""
    answers = answer_cells()
    assert answers, f"no answer cell found in {SOLUTIONS}/*/*.ipynb"
    pages = sorted((html_dir / "book").glob("*.html"))
    assert pages, "no chapter page in the build"
    found = []
    for page in pages:
        blocks = pre_blocks(page.read_text(encoding="utf-8"))
        for assignment, grade_id, code in answers:
            for run in shared_code(code, blocks):
                found.append(f"{page.name} shows {assignment}/{grade_id}: {run}")
    assert not found, "chapters print answer code:\n" + "\n".join(found)


def test_the_book_executes_its_chapters_on_the_cpu(monkeypatch):
    """Same numbers on every machine: the build's kernels inherit COURSE_RNN_DEVICE=cpu."""
    import importlib.util

    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert "course_cpu" in config["sphinx"]["local_extensions"]
    spec = importlib.util.spec_from_file_location("course_cpu", ROOT / "book/_ext/course_cpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setenv("COURSE_RNN_DEVICE", "cuda")
    module.setup(None)
    import os

    assert os.environ["COURSE_RNN_DEVICE"] == "cpu"
