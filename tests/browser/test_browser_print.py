"""Printed chapters keep their figures, within the page, without the navigation."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from book_site import PageVisit

pytestmark = pytest.mark.browser


def test_printed_page_keeps_figures_and_drops_navigation(
    content_path: str,
    visit: Callable[[str], PageVisit],
) -> None:
    printed = visit(content_path).printed
    assert printed is not None
    problems = (
        [f"figure not printed: {src}" for src in printed["hidden_images"]]
        + [f"figure wider than the printed column: {src}" for src in printed["too_wide_images"]]
        + [f"navigation printed: {name}" for name in printed["navigation_printed"]]
    )
    assert problems == [], f"{content_path} as printed:\n" + "\n".join(problems)
