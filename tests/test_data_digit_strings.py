"""course_rnn.data.digit_strings: shapes, seeding, disjoint pools, spacing, widths, noise."""

import numpy as np
import pytest

from course_rnn.data.digit_strings import (
    PAD_LABEL,
    default_width,
    digit_pool,
    digit_strings,
    pool_indices,
    stretch,
)


def test_shapes_dtypes_and_lengths():
    s = digit_strings(50, seed=0)
    W = default_width(8, (-1, 4))
    assert s.images.shape == (50, 8, W) and s.images.dtype == np.float32
    assert s.labels.shape == (50, 8) and s.labels.dtype == np.int64
    assert s.lengths.shape == (50,) and s.starts.shape == (50, 8)
    assert s.lengths.min() >= 3 and s.lengths.max() <= 8
    assert 0.0 <= s.images.min() and s.images.max() <= 1.0
    for i in range(50):
        L = s.lengths[i]
        assert np.all((s.labels[i, :L] >= 0) & (s.labels[i, :L] <= 9))
        assert np.all(s.labels[i, L:] == PAD_LABEL) and np.all(s.starts[i, L:] == PAD_LABEL)
        assert len(s.text(i)) == L


def test_same_seed_same_strings_other_seed_other_strings():
    a, b = digit_strings(20, seed=3), digit_strings(20, seed=3)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, digit_strings(20, seed=4).images)


def test_train_and_test_pools_share_no_source_image():
    train, test = pool_indices("train"), pool_indices("test")
    assert len(train) == 1348 and len(test) == 449
    assert not set(train.tolist()) & set(test.tolist())
    assert sorted(train.tolist() + test.tolist()) == list(range(1797))
    x_test, y_test = digit_pool("test")
    from sklearn.datasets import load_digits

    np.testing.assert_allclose(x_test, load_digits().images[test] / 16.0, rtol=1e-6)
    assert set(y_test.tolist()) == set(range(10))


def test_test_strings_are_made_of_test_pool_images_only():
    pool = {img.tobytes(): label for img, label in zip(*digit_pool("test"), strict=True)}
    s = digit_strings(30, split="test", gap=(2, 2), seed=5)  # no overlap: boxes cut cleanly
    for i in range(30):
        for k in range(s.lengths[i]):
            c = s.starts[i, k]
            box = s.images[i, :, c : c + 8]
            assert pool.get(box.tobytes()) == s.labels[i, k]


def test_gaps_stay_in_range_and_vary():
    s = digit_strings(200, gap=(-1, 4), seed=1)
    gaps = []
    for i in range(200):
        starts = s.starts[i, : s.lengths[i]]
        gaps += list(np.diff(starts) - 8)
    assert min(gaps) == -1 and max(gaps) == 4
    regular = digit_strings(50, gap=(2, 2), width=s.images.shape[2], seed=1)
    for i in range(50):
        assert np.all(np.diff(regular.starts[i, : regular.lengths[i]]) == 10)


def test_the_string_sits_inside_the_image_at_varying_positions():
    s = digit_strings(100, seed=2)
    first = s.starts[:, 0]
    last_end = s.starts[np.arange(100), s.lengths - 1] + 8
    assert first.min() >= 0 and last_end.max() <= s.images.shape[2]
    assert len(set(first.tolist())) > 5


@pytest.mark.parametrize(
    "kwargs",
    [dict(n=0), dict(n=5, min_len=4, max_len=3), dict(n=5, gap=(3, 1)), dict(n=5, width=20)],
)
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        digit_strings(**kwargs)
    with pytest.raises(ValueError):
        digit_pool("validation")


def test_default_strings_have_boxes_of_eight_columns():
    s = digit_strings(20, seed=0)
    for i in range(20):
        assert np.all(s.widths[i, : s.lengths[i]] == 8)
        assert np.all(s.widths[i, s.lengths[i] :] == PAD_LABEL)


def test_stretch_keeps_the_end_columns_and_resamples_between():
    image = np.tile(np.arange(8, dtype=np.float32), (8, 1))  # column c holds c
    wide = stretch(image, 15)
    assert wide.shape == (8, 15)
    np.testing.assert_allclose(wide[:, 0], 0)
    np.testing.assert_allclose(wide[:, -1], 7)
    np.testing.assert_allclose(wide[0], np.linspace(0, 7, 15), rtol=1e-6)
    np.testing.assert_array_equal(stretch(image, 8), image)
    assert stretch(image, 4).shape == (8, 4)


def test_widths_stretch_each_digit_to_its_box():
    s = digit_strings(100, widths=(6, 20), gap=(0, 0), seed=1)
    assert s.images.shape[2] == default_width(8, (0, 0), (6, 20))
    pool = digit_pool("train")[0]
    seen = set()
    for i in range(100):
        n = s.lengths[i]
        widths, starts = s.widths[i, :n], s.starts[i, :n]
        assert widths.min() >= 6 and widths.max() <= 20
        np.testing.assert_array_equal(np.diff(starts), widths[:-1])  # gap 0: boxes abut
        seen |= set(widths.tolist())
        assert starts[-1] + widths[-1] <= s.images.shape[2]
    assert len(seen) == 15  # every width 6..20 occurs
    # with one width and no overlap, each box is a stretched pool digit
    t = digit_strings(10, widths=(12, 12), gap=(1, 1), seed=2)
    stretched = {stretch(d, 12).tobytes() for d in pool}
    for i in range(10):
        for k in range(t.lengths[i]):
            c = t.starts[i, k]
            assert t.images[i, :, c : c + 12].tobytes() in stretched


def test_noise_fills_empty_columns_and_stays_in_range():
    clean = digit_strings(30, seed=3)
    noisy = digit_strings(30, seed=3, noise=0.1)
    np.testing.assert_array_equal(clean.labels, noisy.labels)  # same strings, noise on top
    assert 0.0 <= noisy.images.min() and noisy.images.max() <= 1.0
    empty = clean.images.max(axis=1) == 0  # (N, W) empty columns
    assert empty.mean() > 0.2 and (noisy.images.max(axis=1) == 0).mean() < 0.01
    background = noisy.images[np.broadcast_to(empty[:, None], noisy.images.shape)]
    assert 0.03 < background.mean() < 0.06  # half of N(0, 0.1) is clipped to 0


def test_source_replaces_the_pool_of_split():
    images = np.zeros((2, 8, 8), dtype=np.float32)
    images[0, :, 3] = 1.0  # a "1": one inked column
    images[1, 2:6, 2:6] = 0.5
    s = digit_strings(40, source=(images, np.array([1, 7])), gap=(2, 2), seed=0)
    assert set(s.labels[s.labels >= 0].tolist()) == {1, 7}
    for i in range(40):
        for k in range(s.lengths[i]):
            box = s.images[i, :, s.starts[i, k] : s.starts[i, k] + 8]
            assert np.array_equal(box, images[0 if s.labels[i, k] == 1 else 1])


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(widths=(0, 4)),
        dict(widths=(9, 8)),
        dict(widths=(4, 8), gap=(-4, 0)),
        dict(noise=-0.1),
        dict(source=(np.zeros((3, 8, 7)), np.zeros(3))),
        dict(source=(np.zeros((3, 8, 8)), np.zeros(2))),
    ],
)
def test_bad_options_raise(kwargs):
    with pytest.raises(ValueError):
        digit_strings(5, **kwargs)
