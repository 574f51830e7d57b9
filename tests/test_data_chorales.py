"""course_rnn.data.chorales: the shipped grid, the token language, and the offline parser."""

import socket

import numpy as np
import pytest

from course_rnn.data import chorales as ch


@pytest.fixture(scope="module")
def corpus():
    return ch.load_chorales()


def test_the_cache_holds_the_four_voice_chorales_of_music21(corpus):
    assert len(corpus) == 407
    names = [c.name for c in corpus]
    assert len(set(names)) == len(names) and "bwv1.6" in names
    for c in corpus:
        assert c.pitch.shape == c.onset.shape == (len(c), 4) and len(c) >= 32
        assert c.steps_per_quarter == 2
        sounding = c.pitch[c.pitch > 0]
        assert sounding.min() >= ch.LOWEST and sounding.max() <= ch.HIGHEST
        assert not np.any(c.onset & (c.pitch == 0)), "a rest cannot start a note"


def test_voices_are_in_soprano_alto_tenor_bass_order(corpus):
    pitch = np.concatenate([c.pitch for c in corpus]).astype(float)
    pitch[pitch == 0] = np.nan
    means = np.nanmean(pitch, axis=0)
    assert np.all(np.diff(means) < 0), f"mean pitch per voice {means} should fall S > A > T > B"


def test_tokens_round_trip_through_the_grid(corpus):
    for c in corpus[:20]:
        tokens = ch.to_tokens(c.pitch, c.onset)
        assert tokens.shape == (4 * len(c),) and tokens.min() >= 0
        assert tokens.max() < ch.VOCAB_SIZE
        pitch, onset = ch.from_tokens(tokens)
        np.testing.assert_array_equal(pitch, c.pitch)
        np.testing.assert_array_equal(onset, c.onset)


def test_token_order_is_step_by_step_then_voice_by_voice():
    pitch = np.array([[72, 67, 64, 48], [72, 65, 0, 48]])
    onset = np.array([[True, True, True, True], [False, True, False, True]])
    tokens = ch.to_tokens(pitch, onset)
    names = [ch.token_name(t) for t in tokens]
    assert names == ["C5", "G4", "E4", "C3", "hold", "F4", "rest", "C3"]


def test_a_hold_with_nothing_to_hold_reads_as_a_rest():
    tokens = np.array([ch.HOLD, ch.REST, 2, ch.HOLD, 2, ch.HOLD, ch.HOLD, ch.HOLD])
    pitch, onset = ch.from_tokens(tokens)
    # voice 0 holds nothing; voice 3 holds nothing twice; voice 2 holds its note on
    assert pitch.tolist() == [[0, 0, ch.LOWEST, 0], [ch.LOWEST, 0, ch.LOWEST, 0]]
    assert onset.tolist() == [[False, False, True, False], [True, False, False, False]]


def test_coarsen_keeps_onsets_of_notes_inside_the_coarse_step():
    c = ch.Chorale(
        "toy",
        np.array([[60, 55, 52, 48], [62, 55, 52, 48], [62, 55, 52, 0], [64, 57, 52, 0]]),
        np.array([[1, 1, 1, 1], [1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0]], dtype=bool),
    )
    q = ch.coarsen(c, 2)
    assert q.steps_per_quarter == 1 and q.pitch.tolist() == [[60, 55, 52, 48], [62, 55, 52, 0]]
    # the eighth note 62 starts inside step 0 but step 1 shows 62 held from it: the onset
    # of 64 at fine step 3 makes coarse step 1 an onset in the soprano and the alto
    assert q.onset.tolist() == [[True, True, True, True], [True, True, False, False]]
    assert len(ch.load_chorales(steps_per_quarter=1)[0]) == len(ch.load_chorales()[0]) // 2


def test_split_keeps_whole_chorales_apart(corpus):
    train, test = ch.split_chorales(corpus, test_fraction=0.1, seed=0)
    assert len(test) == 41 and len(train) + len(test) == len(corpus)
    assert not {c.name for c in train} & {c.name for c in test}
    again, _ = ch.split_chorales(corpus, test_fraction=0.1, seed=0)
    assert [c.name for c in again] == [c.name for c in train]


def test_bad_arguments_raise():
    with pytest.raises(ValueError):
        ch.to_tokens(np.zeros((3, 3)), np.zeros((3, 3), dtype=bool))
    with pytest.raises(ValueError):
        ch.to_tokens(np.full((1, 4), 20), np.ones((1, 4), dtype=bool))  # below LOWEST
    with pytest.raises(ValueError):
        ch.token_name(ch.VOCAB_SIZE)
    with pytest.raises(ValueError):
        ch.load_chorales(steps_per_quarter=4)


def test_music21_parses_the_cached_chorales_again_without_the_network(corpus, monkeypatch):
    """The cache is what the parser gives today, and parsing opens no connection."""
    pytest.importorskip("music21")

    def no_network(*args, **kwargs):
        raise AssertionError("music21 tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    paths = {p.name: p for p in ch.corpus_paths()}
    assert len(paths) == 413  # 408 .mxl, 2 .xml, 3 .krn
    cached = {c.name: c for c in corpus}
    for name in ("bwv1.6", "bwv11.6"):  # a horn part beside the voices; a piece in 3/4
        parsed = ch.parse_chorale(paths[name + ".mxl"])
        np.testing.assert_array_equal(parsed.pitch, cached[name].pitch)
        np.testing.assert_array_equal(parsed.onset, cached[name].onset)
    from music21 import environment

    assert environment.Environment()["autoDownload"] == "deny"


# ------------------------------------------------------------- tunes and fair splits


def _toy(name, soprano, lower=(55, 52, 48)):
    """A chorale whose soprano plays ``soprano`` (one note per step) over held chords."""
    T = len(soprano)
    pitch = np.array([[s, *lower] for s in soprano], dtype=np.int64)
    onset = np.ones((T, 4), dtype=bool)
    return ch.Chorale(name, pitch, onset)


def test_melody_intervals_ignore_transposition_and_holds():
    tune = [60, 62, 64, 65, 67, 65, 64, 62, 60, 59, 60, 62, 64, 62]
    c = _toy("a", tune)
    up = _toy("b", [p + 5 for p in tune], lower=(60, 57, 53))
    assert ch.melody_intervals(c) == ch.melody_intervals(up) == tuple(np.diff(tune[:13]))
    held = ch.Chorale("c", c.pitch.repeat(2, axis=0), c.onset.repeat(2, axis=0))
    held.onset[1::2] = False  # every note lasts two steps
    assert ch.melody_intervals(held) == ch.melody_intervals(c)
    assert ch.melody_intervals(c, n=3) == (2, 2, 1)


def test_near_identical_allows_a_transposition_and_one_percent_of_cells():
    rng = np.random.default_rng(0)
    tune = list(rng.integers(60, 72, size=100))
    a = _toy("a", tune)
    b = _toy("b", [p - 3 for p in tune], lower=(52, 49, 45))  # a minor third lower
    assert ch.near_identical(a, b) and ch.near_identical(b, a)
    b.pitch[:4, 0] += 1  # 4 of 400 cells differ: 99% still agree
    assert ch.near_identical(a, b)
    b.pitch[4, 0] += 1  # 5 of 400 cells
    assert not ch.near_identical(a, b)
    longer = _toy("c", tune + tune[:2])  # 2 extra steps: 8 of 408 cells unmatched
    assert not ch.near_identical(a, longer)
    assert not ch.near_identical(a, _toy("d", list(rng.integers(60, 72, size=100))))


def test_tune_groups_join_the_known_copies_and_harmonisations_of_a_tune(corpus):
    groups = ch.tune_groups(corpus)
    group_of = dict(zip([c.name for c in corpus], groups, strict=True))
    # the same harmonisation under two numbers, bwv414 also transposed
    for a, b in [("bwv62.6", "bwv274"), ("bwv158.4", "bwv279"), ("bwv414", "bwv253")]:
        assert group_of[a] == group_of[b]
    assert 250 < len(set(groups)) < 320  # many tunes were harmonised more than once
    keys = [ch.melody_intervals(c) for c in corpus]
    for i in range(len(corpus)):
        for j in range(i):
            if keys[i] == keys[j]:
                assert groups[i] == groups[j]


def test_split_by_tune_keeps_every_tune_in_one_part(corpus):
    train, val, test = ch.split_by_tune(corpus, (0.8, 0.1, 0.1), seed=0)
    assert len(train) + len(val) + len(test) == len(corpus)
    assert 0.05 < len(val) / len(corpus) < 0.15 and 0.05 < len(test) / len(corpus) < 0.15
    group_of = dict(zip([c.name for c in corpus], ch.tune_groups(corpus), strict=True))
    tunes = [{group_of[c.name] for c in part} for part in (train, val, test)]
    assert not tunes[0] & tunes[1] and not tunes[0] & tunes[2] and not tunes[1] & tunes[2]
    again = ch.split_by_tune(corpus, (0.8, 0.1, 0.1), seed=0)
    assert [c.name for c in again[2]] == [c.name for c in test]
