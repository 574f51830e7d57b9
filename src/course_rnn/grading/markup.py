"""Student text made safe for every place the grader shows it.

Everything a submission controls (cell sources, grade ids, file and folder names,
exception messages, printed output) is data. Before it reaches a person it goes
through one of these functions:

- :func:`one_line` for the terminal: control characters (ANSI escapes, carriage
  returns, bidirectional overrides) and line breaks are shown as ``\\x1b``-style
  escapes, and the text is cut to a length;
- :func:`markdown_text` for ``report.md``: the same, then HTML-escaped (no raw HTML)
  and with Markdown's punctuation backslash-escaped (no links, images or tables made
  by a student);
- :func:`sanitize_html` for HTML that a Markdown renderer produced from student text:
  bleach (a maintained allow-list sanitiser) keeps formatting tags and drops scripts,
  event handlers, styles, SVG, frames and ``javascript:`` links;
- :func:`markdown2html`, an nbconvert filter, renders a notebook's Markdown cells and
  sanitises the result: the course's ``nbgrader_config.py`` installs it for every HTML
  page nbgrader renders (the formgrader, ``nbgrader generate_feedback``);
- :func:`redact_host_paths` replaces the grader's own folders (the Python installation,
  the virtual environment, temporary folders) in messages students read;
- :func:`summarise` keeps a list of problems short, however many a crafted notebook
  produces.
"""

from __future__ import annotations

import html
import os
import re
import sys
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path

__all__ = [
    "MAX_ITEM_CHARS",
    "MAX_LISTED",
    "markdown2html",
    "markdown_text",
    "markdown_to_html",
    "one_line",
    "redact_host_paths",
    "sanitize_html",
    "summarise",
]

MAX_LISTED = 20  # problems listed one by one; the rest are counted
MAX_ITEM_CHARS = 500  # characters kept of one problem or note

# What Markdown (and the course's own pages) may produce. No style, no SVG, no forms,
# no frames, no event handlers; links only to http(s) and mailto.
ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em",
        "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre",
        "s", "span", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr",
        "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": ["href", "title"],
    "img": ["src", "alt", "title"],
    "th": ["align"],
    "td": ["align"],
    "*": ["class"],
}
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"[\x00-\x20]*([^:/?#]*):")


def _allow_attribute(tag: str, name: str, value: str) -> bool:
    """bleach attribute filter: the allow-list, links with an allowed scheme, local images.

    bleach alone lets ``javascript:1`` through (it reads it as a host and a port).
    """
    if name not in ALLOWED_ATTRIBUTES.get(tag, []) and name not in ALLOWED_ATTRIBUTES["*"]:
        return False
    if name in ("href", "src"):
        scheme = _SCHEME.match(value)
        cleaned = "" if scheme is None else re.sub(r"[\x00-\x20]", "", scheme[1]).lower()
        if name == "src":  # no images from other sites: they would track the grader
            return scheme is None
        return scheme is None or cleaned in ALLOWED_PROTOCOLS
    return True


def _escape_char(char: str) -> str:
    code = ord(char)
    if char == "\n":
        return "\\n"
    if char == "\t":
        return "\\t"
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def one_line(text: object, limit: int = 300) -> str:
    """``text`` on one line, every non-printable character escaped, cut to ``limit``."""
    value = str(text)
    if len(value) > 4 * limit:
        value = value[: 4 * limit]
    out = "".join(c if c.isprintable() or c == " " else _escape_char(c) for c in value)
    return out if len(out) <= limit else out[: limit - 1] + "…"


_MARKDOWN_PUNCT = re.compile(r"([\\`*_\[\]|!~])")


def markdown_text(text: object, limit: int = 300) -> str:
    """``text`` safe inside a Markdown paragraph or table cell: no raw HTML, no markup."""
    escaped = html.escape(one_line(text, limit), quote=False)
    return _MARKDOWN_PUNCT.sub(r"\\\1", escaped)


def sanitize_html(fragment: str) -> str:
    """An HTML fragment with everything but plain formatting removed (bleach).

    Tags outside the allow-list are shown as text, so a grader sees what was tried;
    comments, attributes outside the list and non-http(s) links are dropped.
    """
    import bleach  # the instructor extra: `course-rnn check` imports this module without it

    return bleach.clean(
        fragment,
        tags=ALLOWED_TAGS,
        attributes=_allow_attribute,
        protocols=ALLOWED_PROTOCOLS,
        strip=False,
        strip_comments=True,
    )


@cache
def _markdown_it():
    from markdown_it import MarkdownIt

    # "html": False: raw HTML in the Markdown is shown as text, never passed through.
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def markdown_to_html(markdown: str) -> str:
    """Render Markdown (the class report) to sanitised HTML."""
    return sanitize_html(_markdown_it().render(markdown))


def _pass_context(func):
    from jinja2 import pass_context

    return pass_context(func)


@_pass_context
def markdown2html(context, source: str) -> str:
    """nbconvert filter: a Markdown cell as HTML, rendered as nbconvert does, then sanitised.

    Installed by the course's ``nbgrader_config.py`` (``c.HTMLExporter.filters``), so the
    formgrader and nbgrader's feedback never send a student's HTML to a browser as HTML.
    """
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    cell = context.get("cell", {}) if context is not None else {}
    path = ""
    if context is not None:
        path = context.get("resources", {}).get("metadata", {}).get("path", "")
    renderer = IPythonRenderer(escape=False, attachments=cell.get("attachments", {}), path=path)
    return sanitize_html(MarkdownWithMath(renderer=renderer).render(str(source)))


@cache
def _host_prefixes() -> tuple[tuple[str, str], ...]:
    """(host folder, placeholder) pairs, longest first."""
    import course_rnn

    named = [
        (sys.prefix, "<venv>"),
        (sys.exec_prefix, "<venv>"),
        (sys.base_prefix, "<python>"),
        (str(Path(course_rnn.__file__).resolve().parent), "<course_rnn>"),
        (tempfile.gettempdir(), "<tmp>"),
        (str(Path.home()), "<home>"),
    ]
    pairs: dict[str, str] = {}
    for folder, label in named:
        for variant in {folder, os.path.realpath(folder)}:
            if variant and variant.count("/") >= 2 or variant in ("/tmp", "/root"):
                pairs.setdefault(variant.rstrip("/"), label)
    return tuple(sorted(pairs.items(), key=lambda p: -len(p[0])))


def redact_host_paths(text: str, extra: Iterable[tuple[str, str]] = ()) -> str:
    """``text`` with the grader's folders replaced by placeholders such as ``<venv>``.

    ``extra`` adds (folder, placeholder) pairs, e.g. the course root and the run's
    output folder.
    """
    pairs = sorted(
        [*((str(f).rstrip("/"), label) for f, label in extra if str(f).count("/") >= 2),
         *_host_prefixes()],
        key=lambda p: -len(p[0]),
    )  # fmt: skip
    for folder, label in pairs:
        if folder and folder in text:
            text = re.sub(re.escape(folder) + r"(?=[/\s'\":,)\]]|$)", label, text)
    return text


def summarise(items: list[str], limit: int = MAX_LISTED, what: str = "problem(s)") -> list[str]:
    """The first ``limit`` items (each cut to ``MAX_ITEM_CHARS``), then one line counting
    the rest: a crafted notebook cannot make feedback or a report large."""
    kept = [
        item if len(item) <= MAX_ITEM_CHARS else item[: MAX_ITEM_CHARS - 1] + "…"
        for item in items[:limit]
    ]
    if len(items) > limit:
        kept.append(f"… and {len(items) - limit} more {what}, not listed")
    return kept
