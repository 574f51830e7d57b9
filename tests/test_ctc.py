"""course_rnn.ctc: shapes, the CTC loss against torch, decoding, error rates, segmenters."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import Levenshtein

from course_rnn import ctc


def _log_probs_from_path(path, n_classes=11):
    """Log-probabilities (1, T, C) that put almost all mass on the classes of ``path``."""
    logits = torch.full((1, len(path), n_classes), -10.0)
    for t, c in enumerate(path):
        logits[0, t, c] = 10.0
    return torch.log_softmax(logits, dim=-1)


def test_model_reads_an_image_as_a_sequence_of_width_over_four_steps():
    model = ctc.ConvGRUCTC(n_symbols=10, channels=4, hidden_size=8)
    x = torch.rand(3, 8, 40)
    assert model.sequence(x).shape == (3, 10, 4 * 2 * 2)
    log_probs, loss = model(x)
    assert log_probs.shape == (3, 10, 11) and loss is None
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(3, 10), atol=1e-5)


def test_model_loss_is_torch_ctc_loss_with_symbols_shifted_past_the_blank():
    torch.manual_seed(0)
    model = ctc.ConvGRUCTC(n_symbols=10, channels=4, hidden_size=8)
    x = torch.rand(2, 8, 40)
    targets = torch.tensor([[3, 1, 4, -1], [0, 0, 9, 2]])
    log_probs, loss = model(x, targets)
    expected = torch.nn.functional.ctc_loss(
        log_probs.transpose(0, 1),
        torch.tensor([4, 2, 5, 1, 1, 10, 3]),  # concatenated, each symbol + 1
        input_lengths=torch.tensor([10, 10]),
        target_lengths=torch.tensor([3, 4]),
        blank=0,
    )
    assert float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)


def test_ctc_loss_is_small_for_an_alignment_of_the_target_and_large_otherwise():
    good = _log_probs_from_path([0, 2, 2, 0, 2, 0, 4])  # "1 1 3": blank between the 1s
    target = torch.tensor([[1, 1, 3]])
    assert float(ctc.ctc_loss(good, target)) < 1e-3
    bad = _log_probs_from_path([0, 2, 2, 2, 2, 0, 4])  # no blank: reads "1 3"
    assert float(ctc.ctc_loss(bad, target)) > 5


def test_greedy_decode_merges_repeats_and_drops_blanks():
    path = [0, 3, 3, 0, 3, 5, 5, 5, 0, 0, 1, 1]
    assert ctc.greedy_decode(_log_probs_from_path(path)) == [[2, 2, 4, 0]]
    assert ctc.greedy_decode(_log_probs_from_path([0, 0, 0])) == [[]]


def test_greedy_decode_accepts_numpy_and_batches():
    lp = torch.cat([_log_probs_from_path([1, 0, 2]), _log_probs_from_path([4, 4, 4])])
    assert ctc.greedy_decode(lp.numpy()) == [[0, 1], [3]]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 4), max_size=9), st.lists(st.integers(0, 4), max_size=9))
def test_edit_distance_matches_rapidfuzz(a, b):
    assert ctc.edit_distance(a, b) == Levenshtein.distance(a, b)


def test_character_error_rate_counts_edits_over_true_length():
    truth = [[1, 2, 3], [4, 5]]
    assert ctc.character_error_rate(truth, truth) == 0.0
    assert ctc.character_error_rate([[], []], truth) == 1.0
    # one substitution in the first string, one insertion in the second: 2 / 5
    assert ctc.character_error_rate([[1, 9, 3], [4, 5, 5]], truth) == pytest.approx(0.4)
    with pytest.raises(ValueError):
        ctc.character_error_rate([[1]], truth)


def test_error_rate_of_numpy_symbols_is_a_plain_float():
    truth = [np.array([1, 2, 3])]
    cer = ctc.character_error_rate([np.array([1, 2])], truth)
    assert type(cer) is float and cer == pytest.approx(1 / 3)  # myst-nb glue formats it


def test_equal_slots_cut_evenly_spaced_digits_back_out():
    rng = np.random.default_rng(0)
    digits = [
        np.pad(rng.random((8, 6)).astype(np.float32) + 0.1, ((0, 0), (1, 1))) for _ in range(3)
    ]
    image = np.zeros((8, 40), dtype=np.float32)
    for k, d in enumerate(digits):  # boxes of 8 columns at 5, 15, 25: a regular gap of 2
        image[:, 5 + 10 * k : 13 + 10 * k] = d
    slots = ctc.equal_slots(image, 3)
    assert slots.shape == (3, 8, 8)
    for slot, d in zip(slots, digits, strict=True):
        np.testing.assert_allclose(slot[:, 1:7], d[:, 1:7])


def test_equal_slots_misplace_digits_when_the_spacing_varies():
    digit = np.pad(np.ones((8, 6), dtype=np.float32), ((0, 0), (1, 1)))
    image = np.zeros((8, 40), dtype=np.float32)
    for start in (0, 8, 30):  # two digits close together, one far away
        image[:, start : start + 8] = digit
    slots = ctc.equal_slots(image, 3)
    # the middle slot falls in the empty space between the second and third digits
    # or straddles the two: it no longer holds one whole digit
    assert not np.allclose(slots[1], digit)


def test_window_model_has_the_same_shapes_and_loss_as_the_gru_model():
    torch.manual_seed(0)
    model = ctc.ConvCTC(n_symbols=10, channels=4, hidden_size=8)
    x = torch.rand(2, 8, 40)
    targets = torch.tensor([[3, 1, 4, -1], [0, 0, 9, 2]])
    log_probs, loss = model(x, targets)
    assert model.sequence(x).shape == (2, 10, 16) and log_probs.shape == (2, 10, 11)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(2, 10), atol=1e-5)
    expected = ctc.ctc_loss(log_probs, targets)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(ValueError):
        ctc.ConvCTC(kernel_size=4)


def test_window_model_sees_a_fixed_window_and_the_gru_model_the_whole_line():
    torch.manual_seed(0)
    window = ctc.ConvCTC(channels=4, hidden_size=8, kernel_size=3)
    gru = ctc.ConvGRUCTC(channels=4, hidden_size=8)
    x = torch.rand(1, 8, 80)
    far = x.clone()
    far[..., 40:] = torch.rand(1, 8, 40)  # change only the right half of the image
    with torch.no_grad():
        # step t sees columns 4t-3 .. 4t+6 through the features; the window adds a step
        # each side: step 0..7 see columns < 40 only
        assert torch.equal(window(x)[0][0, :8], window(far)[0][0, :8])
        assert not torch.allclose(gru(x)[0][0, :8], gru(far)[0][0, :8])


def test_conv_gru_model_keeps_its_parameters_and_their_order():
    model = ctc.ConvGRUCTC(channels=16, hidden_size=48)
    names = [n for n, _ in model.named_parameters()]
    assert names[:4] == [
        "features.0.weight",
        "features.0.bias",
        "features.3.weight",
        "features.3.bias",
    ]
    assert sum(p.numel() for p in model.parameters()) == 38699


def test_ink_runs_finds_half_open_runs():
    assert ctc.ink_runs(np.array([0, 1, 1, 0, 0, 1, 0, 1], bool)) == [(1, 3), (5, 6), (7, 8)]
    assert ctc.ink_runs(np.zeros(4, bool)) == []


def test_normalise_digit_resamples_ink_to_a_fixed_width_and_centres_it():
    part = np.zeros((8, 20), dtype=np.float32)
    part[:, 3:15] = 1.0  # 12 inked columns
    box = ctc.normalise_digit(part)
    assert box.shape == (8, 8)
    np.testing.assert_array_equal(box.max(axis=0), [0, 1, 1, 1, 1, 1, 1, 0])
    assert not ctc.normalise_digit(np.zeros((8, 5), np.float32)).any()


def _blob(width, value=1.0):
    return np.full((8, width), value, dtype=np.float32)


def test_cut_at_gaps_cuts_where_the_ink_stops():
    image = np.zeros((8, 40), dtype=np.float32)
    image[:, 2:8], image[:, 12:16], image[:, 20:34] = _blob(6), _blob(4), _blob(14)
    pieces = ctc.cut_at_gaps(image, 3)
    assert pieces.shape == (3, 8, 8)
    for piece in pieces:  # each run resampled to 6 columns and centred
        np.testing.assert_array_equal(piece.max(axis=0), [0, 1, 1, 1, 1, 1, 1, 0])


def test_cut_at_gaps_merges_a_broken_digit_to_reach_the_known_count():
    image = np.zeros((8, 40), dtype=np.float32)
    image[:, 2:5], image[:, 6:9] = _blob(3), _blob(3)  # one digit broken in two
    image[:, 20:26] = _blob(6)
    pieces = ctc.cut_at_gaps(image, 2)
    expected = [image[:, 2:9], image[:, 20:26]]
    np.testing.assert_array_equal(pieces, np.stack([ctc.normalise_digit(e) for e in expected]))


def test_cut_at_gaps_splits_touching_digits_at_their_faintest_column():
    image = np.zeros((8, 40), dtype=np.float32)
    image[:, 20:26], image[:, 26:32] = _blob(6), _blob(6, 0.9)
    image[:, 26] = 0.1  # the two digits touch at a faint column
    pieces = ctc.cut_at_gaps(image, 2)
    expected = [image[:, 20:26], image[:, 26:32]]
    np.testing.assert_array_equal(pieces, np.stack([ctc.normalise_digit(e) for e in expected]))
    # a broken digit beside two touching ones: three runs for three digits, so the
    # reader cuts nothing and reads the halves as two digits and the pair as one
    image[:, 2:5], image[:, 6:9] = _blob(3), _blob(3)
    pieces = ctc.cut_at_gaps(image, 3)
    np.testing.assert_array_equal(pieces[2], ctc.normalise_digit(image[:, 20:32]))


def test_cut_at_gaps_ignores_pixels_below_the_threshold():
    rng = np.random.default_rng(0)
    image = (rng.random((8, 40)) * 0.2).astype(np.float32)  # faint noise everywhere
    image[:, 5:11], image[:, 25:31] = _blob(6), _blob(6)
    assert len(ctc.ink_runs(image.max(axis=0) > 0)) == 1  # no empty column at all
    clean = ctc.cut_at_gaps(image, 2, threshold=0.25)
    np.testing.assert_array_equal(clean, np.stack([ctc.normalise_digit(_blob(6))] * 2))
    with pytest.raises(ValueError):
        ctc.cut_at_gaps(image, 0)
