"""Reader pages fit desktop and phone screens; screenshots are saved for review.

Screenshots (full page) go to _build/screenshots/<page>-{desktop,desktop-dark,phone}.png.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from book_site import DESKTOP, PHONE, PageVisit

pytestmark = pytest.mark.browser

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _check_fits(rel: str, layout: dict, viewport: dict, name: str) -> None:
    assert layout["viewport_width"] == viewport["width"]
    assert layout["scroll_width"] <= viewport["width"] + 1, (
        f"{rel} scrolls sideways on a {name} ({viewport['width']}px wide): page is "
        f"{layout['scroll_width']}px wide; too wide: {layout['too_wide']}"
    )
    assert layout["too_wide"] == [], f"{rel}: content cut off on a {name}: {layout['too_wide']}"
    # The text column must stay readable, not squeezed by the navigation.
    assert layout["article_width"] >= min(viewport["width"] - 60, 600), (
        f"{rel}: text column only {layout['article_width']}px wide on a {name}"
    )


def _check_png(path: object, min_height: int) -> None:
    data = path.read_bytes()  # type: ignore[attr-defined]
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    height = int.from_bytes(data[20:24], "big")
    assert height >= min_height, f"{path}: {height}px high, less than one screen"


def test_page_fits_a_desktop_screen(content_path: str, visit: Callable[[str], PageVisit]) -> None:
    seen = visit(content_path)
    assert seen.layout is not None
    _check_fits(content_path, seen.layout, DESKTOP, "desktop")
    for shot in seen.screenshots:
        _check_png(shot, DESKTOP["height"])


def test_page_fits_a_phone_screen(content_path: str, phone_visit: Callable[[str], dict]) -> None:
    layout = phone_visit(content_path)
    _check_fits(content_path, layout, PHONE, "phone")
    _check_png(layout["screenshot"], PHONE["height"])
