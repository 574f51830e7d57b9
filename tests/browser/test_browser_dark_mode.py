"""In the theme's dark mode, figures stay readable.

A figure with a transparent background draws dark lines and text straight onto the page;
on the dark theme they vanish. Such a figure needs a light backdrop (the figure's own
background or a style that gives it one) or a dark-aware style (an inverting filter).
Opaque figures are readable as they are.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from book_site import PageVisit

pytestmark = pytest.mark.browser

# Share of pixels (mostly) transparent above which a figure counts as transparent.
TRANSPARENT_SHARE = 0.01
# Relative luminance a backdrop needs for dark ink to stay readable on it.
LIGHT_BACKDROP = 0.6


def test_dark_mode_keeps_figures_readable(
    content_path: str,
    visit: Callable[[str], PageVisit],
) -> None:
    dark = visit(content_path).dark
    assert dark is not None
    assert dark["theme"] == "dark", f"{content_path}: the theme did not switch to dark"
    unreadable = []
    for img in dark["images"]:
        assert img["transparent"] >= 0, f"{content_path}: cannot read pixels of {img['src']}"
        if img["transparent"] <= TRANSPARENT_SHARE or "invert" in img["filter"]:
            continue
        if img["backdrop_luminance"] < LIGHT_BACKDROP:
            unreadable.append(
                f"{img['src']}: {img['transparent']:.0%} transparent, drawn on "
                f"{img['backdrop']} (luminance {img['backdrop_luminance']:.2f})"
            )
    assert unreadable == [], f"{content_path}: figures unreadable in dark mode:\n" + "\n".join(
        unreadable
    )
