"""Dates as people write them, and their ISO 8601 form: a small translation task.

A source is a date written in one of many formats and languages, e.g. ``"3 mars 2021"``,
``"Wednesday, March 3rd 2021"``, ``"03.03.21"``; its target is ``"2021-03-03"``. The task
has what machine translation has (a source and a target of different lengths, words that
must be looked up, an order that changes between languages) on inputs short enough to
train on a laptop CPU in seconds. Coursera's *Sequence Models* course popularised the
idea; this generator and its formats are our own.

How the strings are made: a date is drawn uniformly from 1950-01-01 to 2049-12-31 and a
format uniformly from :data:`FORMATS`; Babel writes the date in that format with the
locale's month and weekday names (``babel.dates.format_date``). Most formats are the
locale's own ``short``, ``medium``, ``long`` and ``full`` patterns; a few English ones
with ordinals ("3rd") and lower-case spellings are added by hand. Everything is
generated offline from the data installed with Babel, and seeded.

Two choices keep every source's answer unique (a test checks it over whole years):

- Numeric dates are written day first everywhere ("03/04/21" is 3 April). The US
  month-first short form ("3/4/21" for March 4) is left out: mixed with day-first forms,
  the same string would have two answers.
- Two-digit years belong to the drawn century window: ``50``-``99`` are 1950-1999 and
  ``00``-``49`` are 2000-2049.

Provenance and licence: month and weekday names and the date patterns come from the
Unicode Common Locale Data Repository (CLDR), version 47 as bundled with Babel 2.18
(BSD-3-Clause licence). The CLDR data are Copyright (c) Unicode, Inc., distributed under
the Unicode License v3 (https://www.unicode.org/license.txt), which permits use,
copying and redistribution with the copyright notice. The date strings themselves are
generated, not copied from any corpus.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .copying import EOS, IGNORE_INDEX, PAD

#: First and last date that :func:`date_pairs` draws (a 100-year window, so that a
#: two-digit year has one answer).
FIRST_DATE = dt.date(1950, 1, 1)
LAST_DATE = dt.date(2049, 12, 31)

_ORDINAL = "'{ORD}'"  # a quoted literal in a Babel pattern, replaced by "1st", "2nd", ...


@dataclass(frozen=True)
class DateFormat:
    """One way of writing a date.

    Attributes:
        locale: a CLDR locale name such as ``"fr_FR"``.
        pattern: ``"short"``, ``"medium"``, ``"long"``, ``"full"`` (the locale's own
            patterns) or a CLDR pattern such as ``"d MMM y"``; ``'{ORD}'`` stands for the
            English ordinal day ("3rd").
        lower: write the result in lower case ("mar 3, 2021").
    """

    locale: str
    pattern: str
    lower: bool = False


def _locale_formats(locale: str, *kinds: str) -> list[DateFormat]:
    return [DateFormat(locale, kind) for kind in kinds]


#: The formats :func:`date_pairs` draws from, each with the same probability.
FORMATS: tuple[DateFormat, ...] = (
    # English (United States): words only; its numeric short form is month first (see above)
    *_locale_formats("en_US", "medium", "long", "full"),
    DateFormat("en_US", f"EEEE, MMMM {_ORDINAL} y"),  # Wednesday, March 3rd 2021
    DateFormat("en_US", f"MMMM {_ORDINAL}, y"),  # March 3rd, 2021
    DateFormat("en_US", "MMM d, y", lower=True),  # mar 3, 2021
    # English (United Kingdom)
    *_locale_formats("en_GB", "short", "medium", "long", "full"),
    DateFormat("en_GB", f"{_ORDINAL} MMMM y"),  # 3rd March 2021
    DateFormat("en_GB", "EEE d MMM y"),  # Wed 3 Mar 2021
    # French, German, Spanish, Italian, Portuguese (Brazil), Dutch, Swedish
    *_locale_formats("fr_FR", "short", "medium", "long", "full"),
    *_locale_formats("de_DE", "short", "medium", "long", "full"),
    DateFormat("de_DE", "d.M.y"),  # 3.3.2021
    *_locale_formats("es_ES", "short", "medium", "long", "full"),
    *_locale_formats("it_IT", "short", "medium", "long", "full"),
    *_locale_formats("pt_BR", "short", "medium", "long", "full"),
    *_locale_formats("nl_NL", "short", "medium", "long", "full"),
    *_locale_formats("sv_SE", "medium", "long", "full"),
)


def english_ordinal(day: int) -> str:
    """``1 -> "1st"``, ``2 -> "2nd"``, ``3 -> "3rd"``, ``11 -> "11th"``, ``22 -> "22nd"``."""
    if 10 <= day % 100 <= 20:
        return f"{day}th"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def write_date(date: dt.date, fmt: DateFormat) -> str:
    """``date`` written in the format ``fmt`` (Babel, with CLDR's names of the locale)."""
    from babel.dates import format_date

    text = format_date(date, fmt.pattern, locale=fmt.locale)
    text = text.replace("{ORD}", english_ordinal(date.day))
    text = text.replace("\u00a0", " ").replace("\u202f", " ")  # no-break spaces -> spaces
    return text.lower() if fmt.lower else text


def date_pairs(
    n: int,
    seed: int = 0,
    formats: Sequence[DateFormat] = FORMATS,
    first: dt.date = FIRST_DATE,
    last: dt.date = LAST_DATE,
) -> tuple[list[str], list[str]]:
    """Draw ``n`` dates and write each in a random format.

    Args:
        n: number of pairs.
        seed: seed of the numpy Generator (same seed, same pairs).
        formats: the formats to draw from, uniformly.
        first, last: the range of dates, both included, drawn uniformly.

    Returns:
        ``sources``: the dates as written (``"3 mars 2021"``); ``targets``: the same dates
        in ISO 8601 (``"2021-03-03"``), always 10 characters.

    A day can be drawn more than once, in two formats ("3 mars 2021" and "03.03.21"):
    different strings with one answer. To keep such near-duplicates out of two parts of
    a split, group the pairs by day, e.g.
    ``split_by_group(group_near_duplicates(targets, key=str))`` from
    :mod:`course_rnn.experiment`.
    """
    if int(n) != n or n < 1:
        raise ValueError(f"n: expected a positive integer, got {n!r}")
    if not formats:
        raise ValueError("formats: expected at least one format")
    if last < first:
        raise ValueError(f"last: expected a date on or after {first}, got {last}")
    rng = np.random.default_rng(seed)
    days = rng.integers(0, (last - first).days + 1, size=int(n))
    which = rng.integers(0, len(formats), size=int(n))
    dates = [first + dt.timedelta(days=int(d)) for d in days]
    sources = [write_date(d, formats[int(f)]) for d, f in zip(dates, which, strict=True)]
    return sources, [d.isoformat() for d in dates]


class CharTokens:
    """Characters <-> ids for sequence-to-sequence tasks, with ``PAD``, ``BOS``, ``EOS``.

    Ids 0, 1, 2 are the special tokens (:data:`PAD`, :data:`BOS`, :data:`EOS`, as in
    :func:`course_rnn.data.reverse_task`); characters follow in sorted order, so the same
    characters give the same ids on every machine.
    """

    SPECIALS = ("<pad>", "<bos>", "<eos>")

    def __init__(self, chars: Iterable[str]):
        chars = sorted(set(chars))
        if any(len(c) != 1 for c in chars):
            raise ValueError("chars: expected single characters")
        self.itos: list[str] = [*self.SPECIALS, *chars]
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.itos) if i >= 3}

    def __len__(self) -> int:
        return len(self.itos)

    def __repr__(self) -> str:
        return f"CharTokens({len(self)} tokens: 3 special + {''.join(self.itos[3:])!r})"

    def encode(self, text: str) -> list[int]:
        """Ids of the characters of ``text`` (no special token added)."""
        missing = sorted({c for c in text if c not in self.stoi})
        if missing:
            raise ValueError(f"text {text!r}: characters {missing} are not in the vocabulary")
        return [self.stoi[c] for c in text]

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``: stops at the first ``EOS``, skips ``PAD`` and ``BOS``."""
        out = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i >= 3:
                out.append(self.itos[i])
        return "".join(out)

    def encode_sources(self, texts: Sequence[str]) -> np.ndarray:
        """int64 (N, S): the ids of each text, right-padded with ``PAD`` (0)."""
        ids = [self.encode(t) for t in texts]
        out = np.full((len(ids), max(len(s) for s in ids)), PAD, dtype=np.int64)
        for i, s in enumerate(ids):
            out[i, : len(s)] = s
        return out

    def encode_targets(self, texts: Sequence[str]) -> np.ndarray:
        """int64 (N, T): the ids of each text then ``EOS``, right-padded with -100.

        -100 is ignored by ``torch.nn.functional.cross_entropy``; ``T = 1 + longest text``.
        """
        ids = [[*self.encode(t), EOS] for t in texts]
        out = np.full((len(ids), max(len(s) for s in ids)), IGNORE_INDEX, dtype=np.int64)
        for i, s in enumerate(ids):
            out[i, : len(s)] = s
        return out


@lru_cache(maxsize=8)
def _chars_of(formats: tuple[DateFormat, ...]) -> frozenset[str]:
    # days 1-7 of every month: each month name, each weekday name and each ordinal
    # suffix ("st", "nd", "rd", "th") is written once; the ten digits are added
    days = [dt.date(2024, month, day) for month in range(1, 13) for day in range(1, 8)]
    chars = {c for f in formats for d in days for c in write_date(d, f)}
    return frozenset(chars | set("0123456789"))


def date_vocabularies(
    formats: Sequence[DateFormat] = FORMATS,
) -> tuple[CharTokens, CharTokens]:
    """The source vocabulary (every character the formats can write) and the target one.

    Returns:
        ``(source, target)``: the target vocabulary holds ``0``-``9`` and ``-``.
    """
    return CharTokens(_chars_of(tuple(formats))), CharTokens("0123456789-")


def date_task(
    n: int, seed: int = 0, formats: Sequence[DateFormat] = FORMATS
) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """``n`` date pairs, encoded for a sequence-to-sequence model.

    Returns:
        ``src`` int64 (N, S): source character ids padded with ``PAD``; ``tgt`` int64
        (N, 11): the 10 ISO characters then ``EOS``; and the ``sources`` and ``targets``
        as text. The vocabularies are :func:`date_vocabularies` (``formats``).
    """
    sources, targets = date_pairs(n, seed=seed, formats=formats)
    src_vocab, tgt_vocab = date_vocabularies(formats)
    return (
        src_vocab.encode_sources(sources),
        tgt_vocab.encode_targets(targets),
        sources,
        targets,
    )
