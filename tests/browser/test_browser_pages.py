"""Every page of the built book, loaded from localhost in Chromium, works offline.

One test per check and page, so a failure names the page and what is wrong there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import pytest
from book_site import PageVisit, Site, read_static

pytestmark = pytest.mark.browser

Visit = Callable[[str], PageVisit]


def test_page_loads_without_console_errors(page_path: str, visit: Visit) -> None:
    errors = visit(page_path).console_errors
    assert errors == [], f"{page_path}: console errors:\n" + "\n".join(errors)


def test_page_has_no_failed_requests(page_path: str, visit: Visit) -> None:
    failed = visit(page_path).failed_requests
    assert failed == [], f"{page_path}: failed requests:\n" + "\n".join(failed)


def test_page_requests_nothing_outside_localhost(page_path: str, visit: Visit) -> None:
    external = visit(page_path).external_requests
    assert external == [], (
        f"{page_path}: requests to other hosts (blocked; the book must be offline-complete):\n"
        + "\n".join(external)
    )


FILE_NAME_ALT = re.compile(r"(^|/)[^\s/]+\.(png|jpe?g|gif|svg|webp)$", re.I)


def _short(src: str) -> str:
    """An image source for a message: inline data URLs cut to their media type."""
    return src.split(",", 1)[0] + ",... (inline image)" if src.startswith("data:") else src


def test_every_image_loads(page_path: str, visit: Visit) -> None:
    broken = [_short(img["src"]) for img in visit(page_path).images if img["natural_width"] == 0]
    assert broken == [], f"{page_path}: images that did not load:\n" + "\n".join(broken)


def test_every_image_has_alt_text(page_path: str, visit: Visit) -> None:
    # Decorative images may opt out explicitly (aria-hidden / role=presentation). A file
    # name is what Sphinx writes when no alt text was given: it describes nothing.
    missing = []
    for img in visit(page_path).images:
        alt = (img["alt"] or "").strip()
        if img["hidden"]:
            continue
        if not alt:
            missing.append(f"{_short(img['src'])}: no alt text")
        elif FILE_NAME_ALT.search(alt):
            missing.append(f"{_short(img['src'])}: alt text is a file name ('{alt}')")
    assert missing == [], f"{page_path}: images without alt text:\n" + "\n".join(missing)


def test_math_is_typeset_by_mathjax(page_path: str, visit: Visit) -> None:
    seen = visit(page_path)
    if seen.math_count:
        assert seen.mathjax, f"{page_path}: has {seen.math_count} math elements, no MathJax"
    untypeset = seen.untypeset
    assert untypeset == [], f"{page_path}: math elements MathJax did not typeset:\n" + "\n".join(
        untypeset
    )


def test_no_raw_tex_left_in_text(page_path: str, visit: Visit) -> None:
    raw = visit(page_path).raw_tex
    assert raw == [], f"{page_path}: raw TeX delimiters in the text:\n" + "\n".join(raw)


def test_outputs_show_no_object_addresses(page_path: str, visit: Visit) -> None:
    reprs = visit(page_path).reprs
    assert reprs == [], (
        f"{page_path}: code outputs print objects with memory addresses (end the cell "
        "with ';' or assign the value): " + ", ".join(reprs)
    )


def _broken_link(href: str, site: Site) -> str | None:
    """Why a same-site link is broken, or None when it resolves (other sites: None)."""
    target = site.local_file(href)
    if target is None:
        return None
    if not target.is_file():
        return f"missing file {target.relative_to(site.root).as_posix()}"
    fragment = unquote(urlsplit(href).fragment)
    if fragment and target.suffix == ".html":
        rel = target.relative_to(site.root).as_posix()
        if fragment not in read_static(rel, site.root).ids:
            return f"no element with id '{fragment}' in {rel}"
    return None


def test_internal_links_resolve(page_path: str, visit: Visit, site: Site) -> None:
    broken = []
    for link in visit(page_path).links:
        scheme = urlsplit(link["href"]).scheme
        if scheme not in ("http", "https") or link["raw"] in ("#", ""):
            continue  # mailto:, javascript:, and the theme's '#' buttons
        why = _broken_link(link["href"], site)
        if why:
            broken.append(f"'{link['text']}' -> {link['raw']}: {why}")
    assert broken == [], f"{page_path}: broken internal links:\n" + "\n".join(broken)
