"""The built book as the browser tests see it: pages, local server, guards, checks in JS.

Plain helpers shared by ``conftest.py`` (the fixtures) and the test modules. Nothing here
starts a browser; see ``conftest.py`` for the session fixtures.

Environment:
    COURSE_RNN_SITE            the built book to test (default _build/html).
    COURSE_RNN_CHROMIUM        path of the Chromium binary (default /usr/bin/chromium).

A missing build or browser fails the tests: it is never a reason to skip them.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    Response,
    Route,
)

REPO = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("COURSE_RNN_SITE", REPO / "_build" / "html")).resolve()
SCREENSHOTS = REPO / "_build" / "screenshots"
VENDOR = Path(__file__).resolve().parent / "vendor"

CHROMIUM = Path(os.environ.get("COURSE_RNN_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]

# axe-core, the accessibility engine, from the npm registry (fetched once, git-ignored).
AXE_VERSION = "4.10.3"
AXE_SHA256 = "880970c081707360e64f34cea25ff91892f5bc95675b0776925b9709dd8a68bb"

# Pages Sphinx writes for itself: they are checked like any page, but are not chapters.
GENERATED_PAGES = {"genindex.html", "search.html", "py-modindex.html"}

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


# --------------------------------------------------------------------------- discovery


_REFRESH = re.compile(
    r"""<meta[^>]+http-equiv=["']?refresh["']?[^>]+content=["'][^"']*url=([^"'>]+)""", re.I
)


def redirect_target(path: Path) -> str | None:
    """The URL a meta-refresh page sends the reader to (relative to it), or None."""
    head = path.read_text(encoding="utf-8", errors="replace")[:2000]
    match = _REFRESH.search(head)
    return match.group(1).strip() if match else None


def _is_redirect(path: Path) -> bool:
    return redirect_target(path) is not None


def discover_pages(site: Path = SITE) -> list[str]:
    """Every HTML page of the build, as paths relative to ``site`` ('book/intro.html').

    Folders starting with '_' (_static, _sources, _images, ...) hold assets, not pages.
    """
    if not site.is_dir():
        return []
    pages = []
    for path in site.rglob("*.html"):
        rel = path.relative_to(site)
        if any(part.startswith("_") for part in rel.parts[:-1]):
            continue
        pages.append(rel.as_posix())
    return sorted(pages)


def content_pages(site: Path = SITE) -> list[str]:
    """The pages a reader reads: chapters, notation, exercises (no redirects, no indexes)."""
    return [
        p for p in discover_pages(site) if p not in GENERATED_PAGES and not _is_redirect(site / p)
    ]


NO_BUILD = "no-build"  # placeholder parameter when there is no build to discover


# ----------------------------------------------------------------------- static parsing


class _PageParser(HTMLParser):
    """Collect element ids/names, the <h1> text and the <article> text of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.h1 = ""
        self.article_text: list[str] = []
        self._in_h1 = False
        self._article_depth = 0
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key):
                self.ids.add(a[key] or "")
        if tag == "h1" and not self.h1:
            self._in_h1 = True
        if tag == "article":
            self._article_depth += 1
        if tag in ("script", "style"):
            self._skip_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "h1":
            self._in_h1 = False
        if tag == "article" and self._article_depth:
            self._article_depth -= 1
        if tag in ("script", "style") and self._skip_depth:
            self._skip_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._in_h1:
            self.h1 += data
        if self._article_depth and not self._skip_depth:
            self.article_text.append(data)


@dataclass(frozen=True)
class StaticPage:
    """What the HTML file of one page says, read without a browser."""

    ids: frozenset[str]
    h1: str  # text of the first <h1>, without the trailing '#' permalink
    article_text: str  # text inside <article> (the page body, no navigation)


@functools.cache
def read_static(rel: str, site: Path = SITE) -> StaticPage:
    """Parse ``site/rel`` once and remember its ids, title and body text."""
    parser = _PageParser()
    parser.feed((site / rel).read_text(encoding="utf-8", errors="replace"))
    h1 = re.sub(r"\s+", " ", parser.h1).strip().rstrip("#").strip()
    text = re.sub(r"\s+", " ", " ".join(parser.article_text))
    return StaticPage(frozenset(parser.ids), h1, text)


# ------------------------------------------------------------------------------ server


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@dataclass(frozen=True)
class Site:
    """The built book on disk and the local server that serves it."""

    root: Path
    base_url: str  # 'http://127.0.0.1:PORT/'

    def url(self, rel: str) -> str:
        return self.base_url + rel

    def local_file(self, url: str) -> Path | None:
        """The file a same-origin URL maps to, or None for another origin."""
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}/" != self.base_url:
            return None
        path = unquote(parts.path).lstrip("/")
        target = self.root / path
        if path == "" or path.endswith("/") or target.is_dir():
            target = target / "index.html"
        return target

    def page_of(self, url: str) -> str | None:
        """The page path ('book/04_bptt.html') a same-site URL points to, or None."""
        target = self.local_file(url)
        return None if target is None else target.relative_to(self.root).as_posix()

    def is_local(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            return True
        return f"{parts.scheme}://{parts.netloc}/" == self.base_url


@dataclass
class Guard:
    """Blocks and records requests to other hosts; records failures and console errors."""

    site: Site
    external: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def attach_context(self, context: BrowserContext) -> None:
        def route(r: Route) -> None:
            url = r.request.url
            if self.site.is_local(url):
                r.continue_()
            else:
                self.external.append(url)
                r.abort("blockedbyclient")

        context.route("**/*", route)

    def attach_page(self, page: Page) -> None:
        def on_console(msg: ConsoleMessage) -> None:
            if msg.type == "error":
                loc = msg.location or {}
                where = loc.get("url", "")
                self.console_errors.append(f"{msg.text} ({where})")

        def on_failed(req: Request) -> None:
            url = req.url
            if self.site.is_local(url):
                self.failed.append(f"{url}: {req.failure}")

        def on_response(resp: Response) -> None:
            if resp.status >= 400:
                self.failed.append(f"{resp.url}: HTTP {resp.status}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.console_errors.append(f"uncaught: {exc}"))
        page.on("requestfailed", on_failed)
        page.on("response", on_response)


def open_guarded(
    browser: Browser, site: Site, rel: str, *, idle: bool = True, **context_args: Any
) -> tuple[Page, Guard]:
    """Open ``rel`` in a fresh, guarded browser context and wait until it has settled.

    Keyword arguments go to ``browser.new_context`` (viewport, is_mobile, ...). A
    meta-refresh page is followed to where it lands. ``idle=False`` skips waiting for
    the network to be quiet (for looks only, not for request checks). The caller closes
    ``page.context``.
    """
    context = browser.new_context(**context_args)
    guard = Guard(site)
    guard.attach_context(context)
    page = context.new_page()
    guard.attach_page(page)
    file = site.root / urlsplit(rel).path
    target = redirect_target(file) if file.suffix == ".html" and file.is_file() else None
    page.goto(site.url(rel), wait_until="load")
    if target is not None:  # a meta-refresh page: test where it lands
        page.wait_for_url(urljoin(site.url(rel), target), wait_until="load")
    settle(page, idle=idle)
    return page, guard


WAIT_FOR_MATHJAX_JS = """
async () => {
  // window.MathJax starts as a configuration object; wait for MathJax itself to start.
  for (let i = 0; i < 100 && window.MathJax && !window.MathJax.startup; i++) {
    await new Promise(r => setTimeout(r, 100));
  }
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) { await mj.startup.promise; }
}
"""

WAIT_FOR_IMAGES_JS = """
async () => {
  const imgs = [...document.images];
  for (const img of imgs) { img.loading = 'eager'; }
  await Promise.all(imgs.map(img => img.complete ? null : new Promise(done => {
    img.addEventListener('load', done); img.addEventListener('error', done);
    setTimeout(done, 10000);
  })));
}
"""


def settle(page: Page, idle: bool = True) -> None:
    """Wait until MathJax has typeset, images and fonts have loaded, the network is quiet."""
    page.evaluate(WAIT_FOR_MATHJAX_JS)
    page.evaluate(WAIT_FOR_IMAGES_JS)
    page.evaluate("async () => { await document.fonts.ready; }")
    if not idle:
        return
    try:
        page.wait_for_load_state("networkidle", timeout=5000)
    except Exception:  # noqa: BLE001 - a page that keeps polling is reported elsewhere
        pass


# ------------------------------------------------------------------------- page visits

COLLECT_JS = r"""
() => {
  const describe = el => {
    const id = el.id ? '#' + el.id : '';
    const cls = el.classList.length ? '.' + [...el.classList].slice(0, 2).join('.') : '';
    return el.tagName.toLowerCase() + id + cls;
  };
  const images = [...document.images].map(img => ({
    src: img.getAttribute('src'),
    alt: img.getAttribute('alt'),
    hidden: img.getAttribute('aria-hidden') === 'true'
            || ['presentation', 'none'].includes(img.getAttribute('role')),
    natural_width: img.naturalWidth,
  }));
  const maths = [...document.querySelectorAll('.math')];
  const untypeset = maths
    .filter(el => !el.querySelector('mjx-container'))
    .map(el => describe(el) + ': ' + el.textContent.trim().slice(0, 80));
  // Raw TeX left in the reader's text (not in code, code outputs, or typeset math).
  const skip = 'pre, code, script, style, textarea, mjx-container, .highlight, '
             + '.cell_output, .output';
  const raw = [];
  const root = document.querySelector('article') || document.body;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const pattern = /\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{/;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(skip)) continue;
    if (pattern.test(node.textContent)) {
      raw.push(describe(parent) + ': ' + node.textContent.trim().slice(0, 80));
    }
  }
  // Printed objects like <torch._C.Generator at 0x7f...>: noise, and a different
  // address in every build.
  const reprs = [...document.querySelectorAll('.cell_output')]
    .flatMap(el => el.textContent.match(/<[\w.]+(?: object)? at 0x[0-9a-fA-F]+>/g) || []);
  const links = [...document.querySelectorAll('a[href]')].map(a => ({
    href: a.href, raw: a.getAttribute('href'), text: a.textContent.trim().slice(0, 40),
  }));
  return {
    images, links, reprs,
    math_count: maths.length,
    untypeset,
    raw_tex: raw,
    mathjax: typeof window.MathJax === 'object' && !!window.MathJax.version,
  };
}
"""

RUN_AXE_JS = """
async () => {
  const opts = {resultTypes: ['violations'], preload: false};
  // Colour contrast is by far the slowest rule, and code blocks hold thousands of
  // highlighted tokens in a dozen colours: check text outside code in full, and one
  // token of each highlighting class inside code.
  const runs = [
    await axe.run(document, {...opts, rules: {'color-contrast': {enabled: false}}}),
    await axe.run({exclude: [['.highlight pre']]}, {...opts, runOnly: ['color-contrast']}),
  ];
  const seen = new Set();
  for (const span of document.querySelectorAll('.highlight pre span')) {
    const key = span.className + '|' + span.closest('.highlight').parentElement.className;
    if (!seen.has(key) && span.textContent.trim()) {
      seen.add(key);
      span.setAttribute('data-axe-sample', '');
    }
  }
  if (seen.size) {
    runs.push(await axe.run({include: [['[data-axe-sample]']]},
                            {...opts, runOnly: ['color-contrast']}));
  }
  return runs.flatMap(r => r.violations)
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => v.id + ' (' + v.impact + ', ' + v.nodes.length + ' elements): ' + v.help
         + v.nodes.slice(0, 3).map(n => '\\n    ' + n.target.join(' ')
                                        + ' = ' + n.html.slice(0, 140)).join(''));
}
"""

LAYOUT_JS = """
() => {
  // The device's width: on a phone, content wider than it widens the layout itself.
  const width = Math.min(window.innerWidth, screen.width);
  const article = document.querySelector('article');
  // Cut off = sticks out of the screen with no scrolling or clipping box around it
  // (code blocks, tables and wide equations scroll sideways inside their own box).
  const contained = el => {
    for (let e = el.parentElement; e && e !== article; e = e.parentElement) {
      const style = getComputedStyle(e);
      if (style.overflowX !== 'visible' || style.clip !== 'auto') return true;
    }
    return false;
  };
  const wide = [...document.querySelectorAll('article *')]
    .filter(el => {
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.right > width + 1 && !el.closest('mjx-assistive-mml')
             && getComputedStyle(el).position !== 'fixed' && !contained(el);
    });
  const outermost = wide.filter(el => !wide.includes(el.parentElement))
    .slice(0, 10)
    .map(el => el.tagName.toLowerCase() + (el.className ? '.' + String(el.className)
             .trim().split(/\\s+/).slice(0, 2).join('.') : '')
             + ' right edge ' + Math.round(el.getBoundingClientRect().right) + 'px');
  const box = article ? article.getBoundingClientRect() : null;
  // Printed code cells (the code a reader is meant to read) that scroll sideways.
  const code_scrolls = [...document.querySelectorAll('article .cell_input pre')]
    .filter(pre => pre.scrollWidth > pre.clientWidth + 1)
    .map(pre => {
      const lines = pre.textContent.split('\\n');
      const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), '');
      return longest.trim().slice(0, 80) + ' (' + longest.length + ' characters)';
    });
  return {
    viewport_width: window.innerWidth,
    scroll_width: document.documentElement.scrollWidth,
    article_width: box ? Math.round(box.width) : 0,
    too_wide: outermost,
    code_scrolls: code_scrolls,
  };
}
"""

PRINT_JS = """
() => {
  // Run with print media emulated: figures must still show, and fit the printed column;
  // the navigation around the text should not be printed.
  const shown = el => el.getClientRects().length > 0
                      && getComputedStyle(el).visibility !== 'hidden';
  const article = document.querySelector('article');
  const column = article ? article.getBoundingClientRect().width : window.innerWidth;
  const hidden = [], wide = [];
  for (const img of document.querySelectorAll('article img')) {
    if (!img.naturalWidth || img.closest('.widget-subarea')) continue;
    if (!shown(img)) hidden.push(img.getAttribute('src'));
    else if (img.getBoundingClientRect().width > column + 1) wide.push(img.getAttribute('src'));
  }
  const nav = [...document.querySelectorAll('.bd-sidebar-primary, .bd-sidebar-secondary')]
    .filter(shown).map(el => el.className.split(' ')[0]);
  return {hidden_images: hidden, too_wide_images: wide, navigation_printed: nav};
}
"""

DARK_MODE_JS = """
async () => {
  // What the theme's light/dark switch does: set the mode and theme on <html>.
  localStorage.setItem('mode', 'dark');
  localStorage.setItem('theme', 'dark');
  document.documentElement.dataset.mode = 'dark';
  document.documentElement.dataset.theme = 'dark';
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const luminance = css => {
    const m = css.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const [r, g, b, a = 1] = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    const lin = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return {alpha: a, value: 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)};
  };
  const backdrop = el => {
    for (let e = el; e; e = e.parentElement) {
      const bg = getComputedStyle(e).backgroundColor;
      const lum = luminance(bg);
      if (lum && lum.alpha > 0.5) return {color: bg, value: lum.value};
    }
    return {color: 'none', value: luminance(getComputedStyle(document.body).backgroundColor)
                                   ?.value ?? 1};
  };
  const transparency = img => {
    const canvas = document.createElement('canvas');
    const scale = Math.min(1, 128 / Math.max(img.naturalWidth, img.naturalHeight));
    canvas.width = Math.max(1, Math.round(img.naturalWidth * scale));
    canvas.height = Math.max(1, Math.round(img.naturalHeight * scale));
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let clear = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] < 200) clear++;
    return clear / (data.length / 4);
  };
  const images = [...document.querySelectorAll('article img')]
    .filter(img => img.naturalWidth > 0)
    .map(img => {
      let clear = 0;
      try { clear = transparency(img); } catch (e) { clear = -1; }
      const back = backdrop(img);
      return {
        src: img.getAttribute('src'), transparent: clear, backdrop: back.color,
        backdrop_luminance: back.value, filter: getComputedStyle(img).filter,
      };
    });
  return {theme: document.documentElement.dataset.theme, images};
}
"""


@dataclass
class PageVisit:
    """What the browser saw on one page (desktop viewport, light theme, then dark)."""

    rel: str
    url: str
    images: list[dict]  # src, alt, hidden (decorative), natural_width
    links: list[dict]  # href (absolute), raw (as written), text
    math_count: int  # elements Sphinx marked as math
    untypeset: list[str]  # math elements without MathJax output
    raw_tex: list[str]  # text nodes with TeX delimiters left in them
    mathjax: bool
    reprs: list[str] = field(default_factory=list)  # '<... at 0x...>' in cell outputs
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    axe: list[str] | None = None  # serious/critical violations (content pages only)
    layout: dict | None = None  # LAYOUT_JS at desktop width (content pages only)
    dark: dict | None = None  # DARK_MODE_JS results (content pages only)
    printed: dict | None = None  # PRINT_JS results (content pages only)
    screenshots: list[Path] = field(default_factory=list)


def screenshot_path(rel: str, variant: str) -> Path:
    """_build/screenshots/<page path with / as __>-<variant>.png."""
    return SCREENSHOTS / f"{rel.removesuffix('.html').replace('/', '__')}-{variant}.png"


def shoot(page: Page, rel: str, variant: str, full_page: bool = True) -> Path:
    """Save a screenshot of ``page`` (whole page, or the visible screen) for review."""
    path = screenshot_path(rel, variant)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    return path


# --------------------------------------------------------------------------- axe-core


def fetch_axe(dest: Path = VENDOR) -> Path:
    """Return the pinned ``axe.min.js``, fetching it from the npm registry if missing.

    Runs ``npm pack axe-core@AXE_VERSION`` in a temporary folder and keeps only
    ``axe.min.js`` (checked against AXE_SHA256) in ``dest`` (git-ignored).
    """
    target = dest / f"axe-core-{AXE_VERSION}.min.js"
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == AXE_SHA256:
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("axe-core is missing and npm is not installed: install nodejs/npm")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [npm, "pack", f"axe-core@{AXE_VERSION}", "--silent"],
            cwd=tmp,
            check=True,
            capture_output=True,
            timeout=180,
        )
        with tarfile.open(Path(tmp) / f"axe-core-{AXE_VERSION}.tgz") as tar:
            member = tar.extractfile("package/axe.min.js")
            if member is None:
                raise RuntimeError(f"axe-core {AXE_VERSION} tarball has no axe.min.js")
            data = member.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != AXE_SHA256:
        raise RuntimeError(
            f"axe-core {AXE_VERSION}: axe.min.js sha256 is {digest}, expected {AXE_SHA256}"
        )
    target.write_bytes(data)
    return target
