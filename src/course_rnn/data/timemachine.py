"""A real text corpus: H. G. Wells, *The Time Machine*, for word and character language models.

Provenance: Project Gutenberg eBook #35, *The Time Machine* by H. G. Wells (release date
October 2, 2004; most recently updated March 30, 2021), the plain-text UTF-8 file, copied
unchanged into ``timemachine.txt`` beside this module, with Project Gutenberg's header
and licence kept in it. Licence: the novel (1895) is in the public domain in the United
States; the file is distributed under the Project Gutenberg License it contains
(https://www.gutenberg.org/policy/license.html). Readers outside the United States should
check the laws of their country, as the header says. Read from the installed package:
nothing is downloaded.

It is the corpus that *Dive into Deep Learning* (d2l, chapters 9 and 10) trains its
language models on, so the course's numbers can be set beside d2l's published ones:

- :func:`load_timemachine` gives the novel's text (the Gutenberg header and licence
  removed) or, with ``part="file"``, the whole file;
- :func:`preprocess_d2l` is d2l's preprocessing: every run of non-letters becomes one
  space, everything lower case (27 symbols: the space and 26 letters);
- :func:`split_d2l` cuts the preprocessed novel into training text and d2l's validation
  characters;
- :func:`load_sentences` gives the novel's sentences, preprocessed the same way, for
  batches of sequences of different lengths.

d2l's file is an older Gutenberg edition (no table of contents, chapter headings as bare
Roman numerals). :func:`split_d2l` therefore finds d2l's validation span by aligning the
first sentence of chapter I; the two editions differ in a few headings, so the span may
be off by a few dozen characters. It is the same stretch of the story, not the same
bytes.
"""

from __future__ import annotations

import re
from pathlib import Path

_FILE = Path(__file__).with_name("timemachine.txt")
_START = "*** START OF THE PROJECT GUTENBERG EBOOK THE TIME MACHINE ***"
_END = "*** END OF THE PROJECT GUTENBERG EBOOK THE TIME MACHINE ***"

# d2l's corpus begins with its title line and the heading "I", then chapter I.
D2L_PREFIX = "the time machine by h g wells i "
CHAPTER_ONE = "the time traveller for so it will be convenient to speak of him"
# d2l's TimeMachine(num_steps=32, num_train=10000, num_val=5000): the validation windows
# are windows 10,000 to 14,999, i.e. characters 10,000 to 15,031 of its corpus.
D2L_VALID = (10_000, 15_032)


def load_timemachine(part: str = "novel") -> str:
    """The text of *The Time Machine* as Project Gutenberg writes it.

    Args:
        part: ``"novel"`` (default): the text between Gutenberg's start and end markers,
            i.e. title, contents and the story, without the header and the licence;
            ``"file"``: the whole file, licence included.
    """
    if part not in ("novel", "file"):
        raise ValueError(f"part: expected 'novel' or 'file', got {part!r}")
    text = _FILE.read_text(encoding="utf-8-sig")
    if part == "file":
        return text
    start = text.index(_START) + len(_START)
    return text[start : text.index(_END)].strip()


def preprocess_d2l(text: str) -> str:
    """d2l's preprocessing: runs of non-letters -> one space, then lower case.

    ``"The Time-Traveller's"`` becomes ``"the time traveller s"``. Only the ASCII letters
    a-z and the space remain.
    """
    return re.sub("[^A-Za-z]+", " ", text).lower()


def split_d2l(corpus: str) -> tuple[str, str]:
    """Training text and d2l's validation characters of the preprocessed novel.

    Args:
        corpus: ``preprocess_d2l(load_timemachine())``.

    Returns:
        ``(train, valid)``: ``valid`` is the stretch that d2l validates on (5,032
        characters of chapters I and II); ``train`` is everything before it followed by
        everything after it, so no validation character is trained on.
    """
    anchor = corpus.find(CHAPTER_ONE)
    if anchor < 0:
        raise ValueError("corpus: expected the preprocessed novel (chapter I not found)")
    offset = anchor - len(D2L_PREFIX)  # our index of d2l's character 0
    start, stop = offset + D2L_VALID[0], offset + D2L_VALID[1]
    if offset < 0 or stop > len(corpus):
        raise ValueError("corpus: too short to hold d2l's validation span")
    return corpus[:start] + corpus[stop:], corpus[start:stop]


def load_sentences(min_len: int = 1, max_len: int | None = None) -> list[str]:
    """The novel's sentences in order, each preprocessed like d2l, without outer spaces.

    Sentences are cut at ".", "!" and "?" (so "Mr. Wells" makes two). Only those of
    ``min_len`` to ``max_len`` characters (after preprocessing) are kept.
    """
    pieces = (preprocess_d2l(s).strip() for s in re.split(r"[.!?]", load_timemachine()))
    return [s for s in pieces if len(s) >= min_len and (max_len is None or len(s) <= max_len)]
