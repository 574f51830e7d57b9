"""The book's search page works offline and finds the pages that discuss a term."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from book_site import Guard, Site, content_pages, read_static
from playwright.sync_api import Page

pytestmark = pytest.mark.browser

OpenPage = Callable[..., tuple[Page, Guard]]

_SEARCH_DONE = """
() => {
  const summary = document.querySelector('#search-results .search-summary');
  return !!summary && summary.textContent.trim().length > 0;
}
"""


def search(open_page: OpenPage, site: Site, term: str) -> tuple[list[str], Guard]:
    """Run the search page for ``term``; returns the result pages and the page's guard."""
    page, guard = open_page(f"search.html?q={term}")
    try:
        page.wait_for_function(_SEARCH_DONE, timeout=15000)
        hrefs = page.eval_on_selector_all(
            "#search-results ul.search li a", "links => links.map(a => a.href)"
        )
    finally:
        page.context.close()
    pages = []
    for href in hrefs:
        rel = site.page_of(href)
        assert rel is not None, f"search result {href} points outside the book"
        if rel not in pages:
            pages.append(rel)
    return pages, guard


def test_search_finds_backpropagation(open_page: OpenPage, site: Site) -> None:
    term = "backpropagation"
    pages = content_pages(site.root)
    mentions = [p for p in pages if term in read_static(p, site.root).article_text.lower()]
    assert mentions, f"no page of the book mentions '{term}'"
    titled = [p for p in mentions if term in read_static(p, site.root).h1.lower()]

    found, guard = search(open_page, site, term)

    assert found, f"search for '{term}' found nothing; pages that mention it: {mentions}"
    missing = [p for p in titled if p not in found]
    assert missing == [], f"pages titled with '{term}' not found by search: {missing}"
    for rel in found:
        assert (site.root / rel).is_file(), f"search result {rel} does not exist"
    errors = guard.console_errors
    assert errors == [], f"search page console errors: {errors}"
    assert guard.external == [], f"search page requested other hosts: {guard.external}"


def test_search_for_an_unknown_word_finds_nothing(open_page: OpenPage, site: Site) -> None:
    found, _ = search(open_page, site, "zqxjvwkplmb")
    assert found == []
