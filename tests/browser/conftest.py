"""Fixtures for the browser tests: the built book, served on localhost, read by Chromium.

The suite tests the book the way readers meet it: as HTML in a browser. It needs
``_build/html`` (``make book``) and Debian's ``chromium`` (``apt-get install chromium``;
Playwright's own browser download is not used). Pages are discovered from the build, so
every page the book gains is covered without editing the tests.

Each page is loaded once per session (``visit``; ``phone_visit`` for the phone width) and
what the browser saw is kept; the individual tests read that record. Requests to any host
other than the local server are blocked and recorded: the book must work offline.
Helpers live in ``book_site.py``; environment variables are listed there.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
from book_site import (
    CHROMIUM,
    COLLECT_JS,
    DARK_MODE_JS,
    DESKTOP,
    LAUNCH_ARGS,
    LAYOUT_JS,
    NO_BUILD,
    PHONE,
    PRINT_JS,
    RUN_AXE_JS,
    SITE,
    Guard,
    PageVisit,
    QuietHandler,
    Site,
    content_pages,
    discover_pages,
    fetch_axe,
    open_guarded,
    shoot,
)
from playwright.sync_api import Browser, Page, sync_playwright


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize `page_path` (every page) and `content_path` (reader pages) from the build.

    With no build, one placeholder runs into a fixture that fails with a clear reason.
    """
    for name, finder in (("page_path", discover_pages), ("content_path", content_pages)):
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, finder() or [NO_BUILD], scope="session")


def _require_build(rel: str) -> None:
    if rel == NO_BUILD:
        pytest.fail(f"no built book at {SITE}: run `make book` first")


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    """Serve the built book on an ephemeral localhost port for the whole session."""
    if not (SITE / "index.html").is_file():
        pytest.fail(f"no built book at {SITE}: run `make book` first")
    handler = functools.partial(QuietHandler, directory=str(SITE))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="book-server", daemon=True)
    thread.start()
    try:
        yield Site(SITE, f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the session (Debian's build, not Playwright's)."""
    if not CHROMIUM.is_file():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `apt-get install chromium`")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def open_page(browser: Browser, site: Site) -> Callable[..., tuple[Page, Guard]]:
    """open_page(rel, idle=True, **context_args) -> (page, guard); caller closes the context."""

    def _open(rel: str, idle: bool = True, **context_args: Any) -> tuple[Page, Guard]:
        return open_guarded(browser, site, rel, idle=idle, **context_args)

    return _open


@pytest.fixture(scope="session")
def axe_source() -> str:
    """The source of axe-core (pinned; fetched from the npm registry once), to inject."""
    return fetch_axe().read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def visit(
    open_page: Callable[..., tuple[Page, Guard]], site: Site, axe_source: str
) -> Callable[[str], PageVisit]:
    """visit(rel) -> PageVisit: the page loaded once at desktop width; cached by path.

    On reader pages (``content_pages``) it also runs axe-core, measures the layout,
    saves a screenshot, checks the page as printed, then switches the theme to dark,
    inspects the figures and saves a dark screenshot of the first screen.
    """
    cache: dict[str, PageVisit] = {}
    readers = set(content_pages(site.root))

    def _visit(rel: str) -> PageVisit:
        _require_build(rel)
        if rel in cache:
            return cache[rel]
        page, guard = open_page(rel, viewport=DESKTOP)
        try:
            seen = PageVisit(rel=rel, url=site.url(rel), **page.evaluate(COLLECT_JS))
            if rel in readers:
                page.add_script_tag(content=axe_source)
                seen.axe = page.evaluate(RUN_AXE_JS)
                seen.layout = page.evaluate(LAYOUT_JS)
                seen.screenshots.append(shoot(page, rel, "desktop"))
                page.emulate_media(media="print")
                seen.printed = page.evaluate(PRINT_JS)
                page.emulate_media(media="screen")
                seen.dark = page.evaluate(DARK_MODE_JS)
                seen.screenshots.append(shoot(page, rel, "desktop-dark", full_page=False))
        finally:
            page.context.close()
        seen.console_errors = list(guard.console_errors)
        seen.failed_requests = list(guard.failed)
        seen.external_requests = list(guard.external)
        cache[rel] = seen
        return seen

    return _visit


@pytest.fixture(scope="session")
def phone_visit(open_page: Callable[..., tuple[Page, Guard]]) -> Callable[[str], dict]:
    """phone_visit(rel) -> layout dict at 390x844 (touch); saves a phone screenshot."""
    cache: dict[str, dict] = {}

    def _phone(rel: str) -> dict:
        _require_build(rel)
        if rel not in cache:
            page, _ = open_page(rel, viewport=PHONE, is_mobile=True, has_touch=True, idle=False)
            try:
                layout = page.evaluate(LAYOUT_JS)
                layout["screenshot"] = shoot(page, rel, "phone")
            finally:
                page.context.close()
            cache[rel] = layout
        return cache[rel]

    return _phone
