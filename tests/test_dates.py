"""course_rnn.data.dates: the date-translation data set (dates as written -> ISO 8601)."""

import datetime as dt

import numpy as np
import pytest

from course_rnn.data import dates
from course_rnn.data.copying import BOS, EOS, IGNORE_INDEX, PAD


def test_examples_from_the_docstring_are_written_as_people_write_them():
    d = dt.date(2021, 3, 3)
    assert dates.write_date(d, dates.DateFormat("fr_FR", "long")) == "3 mars 2021"
    assert (
        dates.write_date(d, dates.DateFormat("en_US", "EEEE, MMMM '{ORD}' y"))
        == "Wednesday, March 3rd 2021"
    )
    assert dates.write_date(d, dates.DateFormat("it_IT", "short")) == "03/03/21"
    assert dates.write_date(d, dates.DateFormat("de_DE", "full")) == "Mittwoch, 3. März 2021"
    assert dates.write_date(d, dates.DateFormat("en_US", "MMM d, y", lower=True)) == "mar 3, 2021"


ORDINALS = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 12: "12th", 13: "13th",
            21: "21st", 22: "22nd", 23: "23rd", 30: "30th", 31: "31st"}  # fmt: skip


@pytest.mark.parametrize("day, text", ORDINALS.items())
def test_english_ordinals(day, text):
    assert dates.english_ordinal(day) == text


def test_pairs_are_seeded_and_targets_are_the_iso_dates():
    sources, targets = dates.date_pairs(300, seed=4)
    assert (sources, targets) == dates.date_pairs(300, seed=4)
    assert dates.date_pairs(300, seed=5)[0] != sources
    for t in targets:
        d = dt.date.fromisoformat(t)  # a valid date, written YYYY-MM-DD
        assert dates.FIRST_DATE <= d <= dates.LAST_DATE and len(t) == 10


def test_a_split_by_day_keeps_every_format_of_a_day_in_one_part():
    from course_rnn.experiment import group_near_duplicates, split_by_group

    sources, targets = dates.date_pairs(3000, seed=0)
    assert len(set(targets)) < len(targets)  # some days are drawn twice
    assert len(set(sources)) > len(set(targets))  # ... in two formats
    split = split_by_group(group_near_duplicates(targets, key=str), seed=0)
    days = [{targets[i] for i in part} for part in (split.train, split.val, split.test)]
    assert not days[0] & days[1] and not days[0] & days[2] and not days[1] & days[2]
    assert sum(split.sizes()) == len(targets)


def test_formats_span_locales_and_sources_vary_in_length():
    sources, _ = dates.date_pairs(4000, seed=0)
    lengths = np.array([len(s) for s in sources])
    assert lengths.min() <= 8 and lengths.max() >= 30  # "3/3/21" .. "quarta-feira, 3 de ..."
    # 2021-03-03 written in every format: many different strings for one date
    written = {dates.write_date(dt.date(2021, 3, 3), f) for f in dates.FORMATS}
    assert len(written) >= 30
    locales = {f.locale for f in dates.FORMATS}
    assert len(locales) >= 8


def test_every_source_has_one_answer_over_whole_years():
    # numeric dates are day first everywhere and two-digit years have one century: a
    # string never stands for two dates (1999: two-digit 19xx years; 2000: a leap year)
    seen: dict[str, dt.date] = {}
    for year in (1999, 2000):
        day = dt.date(year, 1, 1)
        while day.year == year:
            for fmt in dates.FORMATS:
                text = dates.write_date(day, fmt)
                assert seen.setdefault(text, day) == day, f"{text!r}: {seen[text]} and {day}"
            day += dt.timedelta(days=1)


def test_us_month_first_short_form_is_left_out():
    # "3/4/21" would be March 4 in the US and 3 April elsewhere
    assert dates.DateFormat("en_US", "short") not in dates.FORMATS


def test_vocabulary_covers_every_character_the_formats_write():
    src_vocab, tgt_vocab = dates.date_vocabularies()
    sources, targets = dates.date_pairs(3000, seed=1)
    assert set("".join(sources)) <= set(src_vocab.itos[3:])
    assert tgt_vocab.itos == ["<pad>", "<bos>", "<eos>", *"-0123456789"]
    assert "é" in src_vocab.itos and "ä" in src_vocab.itos  # French and German names


def test_char_tokens_round_trip_with_special_tokens():
    vocab = dates.CharTokens("abc-")
    assert vocab.itos[:3] == ["<pad>", "<bos>", "<eos>"] and len(vocab) == 7
    src = vocab.encode_sources(["ab", "c-ba"])
    assert src.shape == (2, 4) and src.dtype == np.int64
    assert list(src[0, 2:]) == [PAD, PAD]
    tgt = vocab.encode_targets(["ab", "c-ba"])
    assert tgt.shape == (2, 5)
    assert tgt[0, 2] == EOS and list(tgt[0, 3:]) == [IGNORE_INDEX] * 2
    assert vocab.decode(tgt[1]) == "c-ba"
    assert vocab.decode([BOS, *vocab.encode("ab"), EOS, *vocab.encode("c")]) == "ab"
    with pytest.raises(ValueError, match="not in the vocabulary"):
        vocab.encode("abz")


def test_date_task_encodes_sources_and_targets():
    src, tgt, sources, targets = dates.date_task(50, seed=2)
    src_vocab, tgt_vocab = dates.date_vocabularies()
    assert src.shape == (50, max(len(s) for s in sources))
    assert tgt.shape == (50, 11) and np.all(tgt[:, -1] == EOS)
    assert [src_vocab.decode(row) for row in src] == sources
    assert [tgt_vocab.decode(row) for row in tgt] == targets


@pytest.mark.parametrize("n", [0, -3, 2.5])
def test_date_pairs_rejects_bad_sizes(n):
    with pytest.raises(ValueError):
        dates.date_pairs(n)
