"""course_rnn.data: shapes, dtypes, determinism, and the property that makes each set teach."""

from collections import Counter, defaultdict

import numpy as np
import pytest
import torch

from course_rnn import data


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


# ------------------------------------------------------------------ adding problem


def test_adding_problem_shapes_and_dtypes():
    x, y = data.adding_problem(5, 12, seed=0)
    assert x.shape == (5, 12, 2) and x.dtype == np.float32
    assert y.shape == (5,) and y.dtype == np.float32


def test_adding_problem_is_deterministic_under_a_seed():
    assert _same(data.adding_problem(8, 20, seed=3), data.adding_problem(8, 20, seed=3))
    assert not np.array_equal(data.adding_problem(8, 20, 3)[0], data.adding_problem(8, 20, 4)[0])


def test_adding_target_is_the_sum_of_the_two_marked_values():
    x, y = data.adding_problem(200, 31, seed=1)
    values, markers = x[..., 0], x[..., 1]
    assert np.all((values >= 0) & (values <= 1))
    assert set(np.unique(markers)) == {0.0, 1.0}
    half = 31 // 2
    for n in range(200):
        marked = np.flatnonzero(markers[n])
        assert len(marked) == 2
        assert marked[0] < half <= marked[1]  # one marker in each half
        assert y[n] == pytest.approx(values[n, marked].sum(), abs=1e-6)


def test_adding_constant_prediction_baseline_is_one_sixth():
    _, y = data.adding_problem(20000, 10, seed=0)
    mse_of_mean = float(np.mean((y - 1.0) ** 2))
    assert mse_of_mean == pytest.approx(1 / 6, abs=0.01)
    assert data.BASELINE_MSE == pytest.approx(1 / 6)


@pytest.mark.parametrize("n, T", [(0, 10), (3, 1), (2.5, 10)])
def test_adding_problem_rejects_bad_sizes(n, T):
    with pytest.raises(ValueError):
        data.adding_problem(n, T)


# ------------------------------------------------------------------ copy and reverse


def test_copy_task_targets_repeat_the_inputs_after_the_delay():
    length, delay, K = 5, 7, 6
    x, y = data.copy_task(50, delay=delay, length=length, n_symbols=K, seed=0)
    T = 2 * length + delay
    assert x.shape == y.shape == (50, T) and x.dtype == y.dtype == np.int64
    np.testing.assert_array_equal(y[:, -length:], x[:, :length])
    assert np.all((x[:, :length] >= 1) & (x[:, :length] <= K))
    assert np.all(y[:, :-length] == 0)
    # the delimiter K + 1 appears once, just before the answer window
    assert np.all((x == K + 1).sum(axis=1) == 1)
    assert np.all(x[:, T - length - 1] == K + 1)
    assert _same(data.copy_task(4, 3, seed=2), data.copy_task(4, 3, seed=2))


def test_copy_baseline_matches_the_formula():
    assert data.copy_baseline(delay=100, length=10, n_symbols=8) == pytest.approx(
        10 * np.log(8) / 120
    )


def test_reverse_task_target_is_the_reversed_source_then_eos():
    src, tgt = data.reverse_task(100, min_len=2, max_len=6, n_symbols=5, seed=0)
    assert src.shape == (100, 6) and tgt.shape == (100, 7)
    for s, t in zip(src, tgt, strict=True):
        seq = s[s != data.PAD]
        assert 2 <= len(seq) <= 6 and np.all(seq >= 3)
        np.testing.assert_array_equal(t[: len(seq)], seq[::-1])
        assert t[len(seq)] == data.EOS
        assert np.all(t[len(seq) + 1 :] == data.IGNORE_INDEX)
    assert _same(data.reverse_task(5, seed=1), data.reverse_task(5, seed=1))


# ------------------------------------------------------------------ order task


def test_order_task_shapes_and_determinism():
    sentences, labels = data.order_task(40, seed=0)
    assert len(sentences) == 40 and labels.shape == (40,) and labels.dtype == np.int64
    assert set(labels.tolist()) == {0, 1}
    again = data.order_task(40, seed=0)
    assert again[0] == sentences and np.array_equal(again[1], labels)
    assert data.order_task(40, seed=1)[0] != sentences


def test_every_bag_of_words_occurs_equally_often_with_both_labels():
    sentences, labels = data.order_task(400, seed=0)
    per_bag = defaultdict(Counter)
    for s, label in zip(sentences, labels, strict=True):
        per_bag[frozenset(Counter(s.split()).items())][int(label)] += 1
    assert len(per_bag) > 20  # many different bags, not one
    for counts in per_bag.values():
        assert counts[0] == counts[1] > 0


def test_best_bag_of_words_classifier_is_at_chance():
    sentences, labels = data.order_task(400, seed=0)
    vocab = data.Vocab.build(sentences)
    bows = data.bag_of_words(sentences, vocab)
    # the best any function of the counts can do: majority label of each distinct row
    groups = defaultdict(list)
    for row, label in zip(map(bytes, bows), labels, strict=True):
        groups[row].append(label)
    best_correct = sum(max(Counter(g).values()) for g in groups.values())
    assert best_correct / len(labels) == pytest.approx(0.5)


def test_order_sentences_all_have_nine_words():
    sentences, _ = data.order_task(100, seed=0)
    assert {len(s.split()) for s in sentences} == {data.order.SENTENCE_LENGTH} == {9}


def test_word_order_does_determine_the_label():
    sentences, labels = data.order_task(400, seed=0)
    for s, label in zip(sentences, labels, strict=True):
        words = s.split()
        verdict = words[-1]  # both families put the verdict last
        assert (verdict in data.order.POSITIVE) == bool(label)


def _bag(sentence: str) -> frozenset:
    return frozenset(Counter(sentence.split()).items())


@pytest.mark.parametrize(("train_seed", "test_seed"), [(0, 1), (1, 0), (5, 5)])
def test_train_and_test_splits_share_no_sentence_and_no_bag_of_words(train_seed, test_seed):
    train_s, _ = data.order_task(600, seed=train_seed, split="train")
    test_s, _ = data.order_task(400, seed=test_seed, split="test")
    assert not set(train_s) & set(test_s)
    assert not {_bag(s) for s in train_s} & {_bag(s) for s in test_s}


def test_both_splits_use_every_word_of_the_grammar():
    words = set(data.order.POSITIVE + data.order.NEGATIVE + data.order.ASPECTS)
    for split in ("train", "test"):
        sentences, _ = data.order_task(400, seed=0, split=split)
        assert words <= {w for s in sentences for w in s.split()}, split


def test_every_bag_stays_balanced_within_a_split():
    sentences, labels = data.order_task(400, seed=2, split="test")
    per_bag = defaultdict(Counter)
    for s, label in zip(sentences, labels, strict=True):
        per_bag[_bag(s)][int(label)] += 1
    assert all(counts[0] == counts[1] > 0 for counts in per_bag.values())


def test_order_task_draws_from_both_splits_by_default():
    default_s, default_y = data.order_task(40, seed=3)
    all_s, all_y = data.order_task(40, seed=3, split="all")
    assert default_s == all_s and np.array_equal(default_y, all_y)
    sentences, _ = data.order_task(2000, seed=0)
    n_held_out = sum(_held_out(s) for s in sentences)
    assert 0.1 * len(sentences) < n_held_out < 0.3 * len(sentences)
    with pytest.raises(ValueError, match="split"):
        data.order_task(10, split="validation")


def _held_out(sentence: str) -> bool:
    """The test-split rule, read back from a sentence's words."""
    order = data.order
    words = sentence.split()
    good = next(order.POSITIVE.index(w) for w in words if w in order.POSITIVE)
    bad = next(order.NEGATIVE.index(w) for w in words if w in order.NEGATIVE)
    aspects = [order.ASPECTS.index(w) for w in words if w in order.ASPECTS]
    return order.is_held_out(good, bad, tuple(aspects) if aspects else None)


def test_split_follows_the_held_out_rule():
    assert not any(_held_out(s) for s in data.order_task(300, seed=0, split="train")[0])
    assert all(_held_out(s) for s in data.order_task(300, seed=0, split="test")[0])


# ------------------------------------------------------------------ vocabularies


def test_vocab_encodes_pads_and_decodes():
    vocab = data.Vocab.build(["a b c", "c d"])
    assert vocab.itos[:2] == ["<pad>", "<unk>"] and len(vocab) == 6
    ids = vocab.encode_batch(["a b c", "d"])
    assert ids.dtype == np.int64 and ids.shape == (2, 3)
    assert ids[1, 1:].tolist() == [0, 0]
    assert vocab.decode(ids[0]) == "a b c"
    assert vocab.encode("zebra") == [vocab.unk_index]


def test_bag_of_words_counts_words():
    vocab = data.Vocab.build(["the dog bit the man"])
    bow = data.bag_of_words(["the dog bit the man", "the man bit the dog"], vocab)
    assert bow.shape == (2, len(vocab)) and bow.dtype == np.float32
    assert bow[0, vocab.stoi["the"]] == 2 and bow[0, vocab.stoi["dog"]] == 1
    np.testing.assert_array_equal(bow[0], bow[1])  # order is gone


def test_pad_sequences_rejects_empty_input():
    with pytest.raises(ValueError, match="at least one"):
        data.pad_sequences([])


def test_char_vocab_shifts_inputs_and_targets_by_one():
    vocab = data.CharVocab.from_words(["ann", "bo"])
    assert vocab.itos == [".", "a", "b", "n", "o"]
    x, y = vocab.encode_batch(["ann", "bo"])
    assert x.tolist() == [[0, 1, 3, 3], [0, 2, 4, 0]]
    assert y.tolist() == [[1, 3, 3, 0], [2, 4, 0, -100]]
    assert vocab.decode(x[0]) == "ann" and vocab.decode([0, 2, 4, 0, 1]) == "bo"
    with pytest.raises(ValueError, match="not in the vocabulary"):
        vocab.encode("z")


# ------------------------------------------------------------------ real data sets


def test_sunspots_are_the_real_noaa_series():
    years, values = data.load_sunspots()
    assert years.shape == values.shape == (309,)
    assert values.dtype == np.float32
    assert years[0] == 1700 and years[-1] == 2008 and np.all(np.diff(years) == 1)
    assert values[:3].tolist() == [5.0, 11.0, 16.0]  # 1700-1702 as published
    assert values.max() == pytest.approx(190.2)  # 1957, the largest yearly mean
    assert years[np.argmax(values)] == 1957


def test_sliding_windows_pair_each_window_with_the_next_value():
    series = np.arange(10, dtype=np.float32)
    x, y = data.sliding_windows(series, 3)
    assert x.shape == (7, 3, 1) and y.shape == (7,)
    assert x[2, :, 0].tolist() == [2, 3, 4] and y[2] == 5
    with pytest.raises(ValueError, match="window"):
        data.sliding_windows(series, 10)


def test_time_split_keeps_time_order():
    train, test = data.time_split(np.arange(100), test_fraction=0.2)
    assert len(train) == 80 and len(test) == 20 and train[-1] < test[0]


def test_names_are_the_census_lists():
    names = data.load_names()
    assert names[:3] == ["james", "john", "robert"]  # most frequent first
    assert len(names) == len(set(names)) > 5000
    assert all(n.isalpha() and n.islower() for n in names)
    assert data.load_names("female")[0] == "mary" and data.load_names("male")[0] == "james"
    assert len(data.load_names("male")) == 1219 and len(data.load_names("female")) == 4275


def test_split_words_is_seeded_and_disjoint():
    words = [f"w{i}" for i in range(100)]
    train, test = data.split_words(words, 0.1, seed=0)
    assert len(test) == 10 and not set(train) & set(test)
    assert data.split_words(words, 0.1, seed=0) == (train, test)


def test_digit_rows_are_scaled_images_with_labels():
    x_tr, y_tr, x_te, y_te = data.load_digit_rows(test_fraction=0.25, seed=0)
    assert x_tr.shape[1:] == (8, 8) and x_tr.dtype == np.float32 and y_tr.dtype == np.int64
    assert len(x_tr) + len(x_te) == 1797 and len(x_te) == 449
    assert x_tr.min() >= 0 and x_tr.max() == 1.0
    assert set(y_tr.tolist()) == set(range(10))
    again = data.load_digit_rows(test_fraction=0.25, seed=0)
    assert np.array_equal(again[0], x_tr) and np.array_equal(again[3], y_te)


# ------------------------------------------------------------------ batching


def test_batches_cover_every_row_once_per_epoch():
    x = np.arange(10)[:, None].astype(np.float32)
    it = data.batches(x, np.arange(10), batch_size=5, seed=0, device="cpu")
    first, second = next(it), next(it)
    assert isinstance(first[0], torch.Tensor) and first[0].shape == (5, 1)
    seen = sorted(first[1].tolist() + second[1].tolist())
    assert seen == list(range(10))
    np.testing.assert_array_equal(first[0][:, 0].numpy(), first[1].numpy())  # rows stay paired


def test_fresh_batches_are_new_each_step_and_seeded():
    a = data.fresh_batches(data.adding_problem, 4, seed=0, device="cpu", T=6)
    b = data.fresh_batches(data.adding_problem, 4, seed=0, device="cpu", T=6)
    first, again = next(a), next(b)
    assert torch.equal(first[0], again[0])
    assert not torch.equal(first[0], next(a)[0])
    assert first[0].dtype == torch.float32 and first[0].shape == (4, 6, 2)
