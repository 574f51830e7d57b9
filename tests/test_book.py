"""The built book in _build/html: every chapter executed cleanly, figures exist, offline.

These tests read what `make book` wrote (`make test` builds it first); they do not build
the book themselves. Run `make book` before `pytest -m book` on its own.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
CACHE = ROOT / "_build" / ".jupyter_cache"
CHAPTERS = [
    "00_intro",
    "01_order_matters",
    "02_rnn_forward",
    "03_rnn_types",
    "04_bptt",
    "05_gradients",
    "06_lstm_gru",
    "07_applications",
]
# Chapters 1-7 teach with evidence: at least this many figures each.
MIN_FIGURES = 2


@pytest.fixture(scope="module")
def html_dir() -> Path:
    if not (HTML / "book" / "00_intro.html").is_file():
        pytest.fail(
            f"the built book is missing: {HTML / 'book' / '00_intro.html'} does not exist. "
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


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_page_was_built(html_dir: Path, chapter: str) -> None:
    page = html_dir / "book" / f"{chapter}.html"
    assert page.is_file(), f"chapter page {page} is missing from the build"
    assert "This chapter is being written" not in page.read_text(encoding="utf-8"), (
        f"{chapter} is still a placeholder"
    )


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


@pytest.mark.parametrize("chapter", CHAPTERS[1:])
def test_every_chapter_has_figures_with_alt_text(html_dir: Path, chapter: str) -> None:
    page = _parse(html_dir / "book" / f"{chapter}.html")
    figures = [img for img in page.images if "_images/" in (img.get("src") or "")]
    assert len(figures) >= MIN_FIGURES, (
        f"{chapter}: expected at least {MIN_FIGURES} figures, found {len(figures)}"
    )
    for img in figures:
        alt = (img.get("alt") or "").strip()
        assert len(alt) > 20, f"{chapter}: figure {img.get('src')} has no useful alt text"


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


@pytest.mark.parametrize("chapter", CHAPTERS[1:])
def test_every_chapter_links_the_notation_page(html_dir: Path, chapter: str) -> None:
    text = (html_dir / "book" / f"{chapter}.html").read_text(encoding="utf-8")
    start = text.find('<article class="bd-article"')
    end = text.find("</article>", start)
    assert start >= 0 and end > start, f"{chapter}: no article body found in the page"
    body = _Collector()
    body.feed(text[start:end])  # the chapter's own text, not the sidebar or the footer
    links = [href for href in body.links if href.split("#")[0] == "notation.html"]
    assert links, f"{chapter} does not link the notation page in its text"


@pytest.mark.parametrize("chapter", CHAPTERS[1:])
def test_every_chapter_has_the_skeleton(html_dir: Path, chapter: str) -> None:
    text = (html_dir / "book" / f"{chapter}.html").read_text(encoding="utf-8")
    for part in ("Learning objectives", "Common misconceptions", "Summary", "Exercise"):
        assert part in text, f"{chapter} lacks its '{part}' part"


_NUMBER = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?")


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
    before = _NUMBER.findall("\n".join(_text_outputs_of(nb)))
    NotebookClient(nb, timeout=120, resources={"metadata": {"path": str(ROOT / "book")}}).execute()
    after = _NUMBER.findall("\n".join(_text_outputs_of(nb)))
    assert before, f"{chapter} printed no decimal number to compare"
    diffs = [(a, b) for a, b in zip(before, after, strict=False) if a != b][:5]
    assert before == after, f"{chapter}: numbers changed on a second run, e.g. {diffs}"
