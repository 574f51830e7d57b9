"""axe-core finds no serious or critical accessibility violations on any reader page.

axe-core (pinned, fetched from the npm registry by the `axe_source` fixture) is injected
into each chapter, the introduction, the notation page and the exercise pages.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from book_site import PageVisit

pytestmark = pytest.mark.browser


def test_page_has_no_serious_accessibility_violations(
    content_path: str,
    visit: Callable[[str], PageVisit],
) -> None:
    violations = visit(content_path).axe
    assert violations is not None, f"axe-core did not run on {content_path}"
    assert violations == [], f"{content_path}: axe-core violations:\n" + "\n".join(violations)
