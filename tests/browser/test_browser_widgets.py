"""The vanishing-gradient explorer shows something useful without a running kernel.

In the HTML book there is no kernel: either the widget state saved at build time is
rendered by the (locally served) widget manager, or the chapter shows a static figure of
the explorer in the explorer's section. One of the two must be on screen.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from book_site import DESKTOP, Guard, Site, content_pages, read_static
from playwright.sync_api import Page

pytestmark = pytest.mark.browser

OpenPage = Callable[..., tuple[Page, Guard]]

CHAPTER_TITLE = re.compile(r"vanishing|exploding", re.I)

_WIDGETS = r"""
async () => {
  const views = [...document.querySelectorAll(
    'script[type="application/vnd.jupyter.widget-view+json"]')];
  const visible = el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden';
  };
  // Give the widget manager time to render the saved state (it loads asynchronously).
  for (let i = 0; i < 100 && views.length; i++) {
    const done = views.every(v => {
      const area = v.previousElementSibling;
      return area && area.classList.contains('widget-subarea') && area.querySelector(
        '.jupyter-widgets');
    });
    if (done) break;
    await new Promise(r => setTimeout(r, 100));
  }
  const rendered = views.map(v => {
    const area = v.previousElementSibling;
    const ok = !!area && area.classList.contains('widget-subarea');
    const text = ok ? area.textContent : '';
    return {
      rendered: ok && !!area.querySelector('.jupyter-widgets') && visible(area)
                && !/Error displaying widget|Could not create/.test(text),
      controls: ok ? area.querySelectorAll(
        'input, select, button, .widget-slider, .widget-dropdown').length : 0,
      error: ok ? text.slice(0, 120) : 'not rendered (no widget-subarea)',
    };
  });
  // A static figure in a section about the explorer (heading mentions explorer/interactive).
  const sections = [...document.querySelectorAll('article section')].filter(s => {
    const h = s.querySelector('h1, h2, h3, h4');
    return h && /explor|interactive/i.test(h.textContent);
  });
  const figures = sections.flatMap(s => [...s.querySelectorAll('img')])
    .filter(img => img.naturalWidth > 0 && visible(img))
    .map(img => img.getAttribute('src'));
  return {views: rendered, figures, sections: sections.length};
}
"""


def _explorer_chapter(site: Site) -> str | None:
    for rel in content_pages(site.root):
        if CHAPTER_TITLE.search(read_static(rel, site.root).h1):
            return rel
    return None


def test_gradient_explorer_renders_without_a_kernel(open_page: OpenPage, site: Site) -> None:
    chapter = _explorer_chapter(site)
    assert chapter, "no chapter of the build is titled with 'vanishing'/'exploding' gradients"
    page, guard = open_page(chapter, viewport=DESKTOP)
    try:
        seen = page.evaluate(_WIDGETS)
    finally:
        page.context.close()
    views, figures = seen["views"], seen["figures"]
    widgets_ok = bool(views) and all(v["rendered"] and v["controls"] > 0 for v in views)
    assert widgets_ok or figures, (
        f"{chapter}: the explorer shows neither its saved widget state nor a static figure. "
        f"Widget views: {views or 'none'}; explorer sections: {seen['sections']}, "
        f"loaded figures in them: {figures or 'none'}"
    )
    assert guard.external == [], f"{chapter}: widget assets requested from {guard.external}"
