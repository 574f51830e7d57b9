"""course_rnn.data.digit_strings: shapes, seeding, disjoint pools, the spacing it promises."""

import numpy as np
import pytest

from course_rnn.data.digit_strings import (
    PAD_LABEL,
    default_width,
    digit_pool,
    digit_strings,
    pool_indices,
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
