"""Reader pages fit desktop and phone screens; screenshots are saved for review.

Screenshots go to _build/screenshots/: <page>-desktop.png and <page>-phone.png (whole
page), <page>-desktop-dark.png (first screen, dark theme).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from book_site import DESKTOP, PHONE, PageVisit

pytestmark = pytest.mark.browser


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def layout_problems(layout: dict, viewport: dict, name: str) -> list[str]:
    """What does not fit on a screen of the given size (empty when the page fits)."""
    width = viewport["width"]
    problems = []
    # On a phone, content wider than the screen widens the layout (the browser zooms
    # out); on a desktop it makes the page scroll sideways.
    if layout["viewport_width"] > width:
        problems.append(f"lays out {layout['viewport_width']}px wide on a {width}px {name}")
    if layout["scroll_width"] > width + 1:
        problems.append(f"scrolls sideways: page is {layout['scroll_width']}px wide")
    problems += [f"cut off: {element}" for element in layout["too_wide"]]
    # The text column must stay readable, not squeezed by the navigation.
    if layout["article_width"] < min(width - 60, 600):
        problems.append(f"text column only {layout['article_width']}px wide")
    return problems


def _check_png(path: Path, min_height: int) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    height = int.from_bytes(data[20:24], "big")
    assert height >= min_height, f"{path}: {height}px high, less than one screen"


def test_page_fits_a_desktop_screen(content_path: str, visit: Callable[[str], PageVisit]) -> None:
    seen = visit(content_path)
    assert seen.layout is not None
    problems = layout_problems(seen.layout, DESKTOP, "desktop")
    assert problems == [], f"{content_path} on a 1280x800 screen:\n" + "\n".join(problems)
    assert len(seen.screenshots) == 2
    for shot in seen.screenshots:
        _check_png(shot, DESKTOP["height"])


def test_printed_code_does_not_scroll_sideways_on_a_laptop(
    content_path: str, visit: Callable[[str], PageVisit]
) -> None:
    """At 1280 px every printed code cell of a chapter shows its whole width: the
    longest line of each cell that scrolls sideways is named. (Exercise pages show the
    released notebooks, whose cells students edit; they are not held to this.)"""
    if not content_path.startswith("book/"):
        pytest.skip("not a chapter page")
    seen = visit(content_path)
    assert seen.layout is not None
    wide = seen.layout["code_scrolls"]
    assert wide == [], f"{content_path}: {len(wide)} printed code cells scroll sideways:\n" + (
        "\n".join(wide)
    )


def test_page_fits_a_phone_screen(content_path: str, phone_visit: Callable[[str], dict]) -> None:
    layout = phone_visit(content_path)
    problems = layout_problems(layout, PHONE, "phone")
    assert problems == [], f"{content_path} on a 390x844 phone:\n" + "\n".join(problems)
    _check_png(layout["screenshot"], PHONE["height"])
