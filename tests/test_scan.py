"""course_rnn.scan: every scan equals the step-by-step loop; every model's parallel
forward equals its own one-step-at-a-time recurrence."""

import math

import numpy as np
import pytest
import torch

from course_rnn import scan as S


def _pairs(T, shape=(3,), seed=0, low=0.0, high=1.0):
    rng = np.random.default_rng(seed)
    a = rng.uniform(low, high, size=(2, T, *shape))
    b = rng.normal(size=(2, T, *shape))
    h0 = rng.normal(size=(2, *shape))
    return a, b, h0


def test_combine_is_associative_and_not_commutative():
    rng = np.random.default_rng(1)
    p, q, r = [tuple(rng.normal(size=(2, 4))) for _ in range(3)]
    left = S.combine(S.combine(p, q), r)
    right = S.combine(p, S.combine(q, r))
    np.testing.assert_allclose(left, right, rtol=1e-12)
    assert not np.allclose(S.combine(p, q)[1], S.combine(q, p)[1])


@pytest.mark.parametrize("T", [1, 2, 5, 64, 100, 1000])
def test_numpy_scans_equal_the_loop(T):
    a, b, h0 = _pairs(T)
    expected = S.loop(a, b, h0)
    np.testing.assert_allclose(S.hillis_steele(a, b, h0), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(S.blelloch(a, b, h0), expected, rtol=1e-12, atol=1e-12)


def test_scan_costs_depth_log_t_and_the_work_of_each_algorithm():
    T = 1024
    a, b, _ = _pairs(T, shape=(1,))
    hs, bl = S.Cost(), S.Cost()
    S.hillis_steele(a, b, cost=hs)
    S.blelloch(a, b, cost=bl)
    assert hs.depth == 10 and hs.work == sum(T - 2**k for k in range(10))  # ~ T log T
    assert bl.depth == 20 and bl.work == 2 * (T - 1)  # work-efficient


@pytest.mark.parametrize("T", [1, 7, 128, 3000])
def test_torch_scan_equals_the_loop_and_keeps_gradients(T):
    a, b, h0 = (torch.tensor(v) for v in _pairs(T))
    np.testing.assert_allclose(S.scan(a, b, h0), S.loop(a, b, h0), rtol=1e-10, atol=1e-10)


def test_torch_scan_gradients_match_finite_differences():
    a, b, h0 = (torch.tensor(v, requires_grad=True) for v in _pairs(9, shape=(2,)))
    assert torch.autograd.gradcheck(S.scan, (a, b, h0))


def test_torch_scan_handles_complex_states():
    rng = np.random.default_rng(3)
    a = torch.tensor(0.9 * np.exp(1j * rng.uniform(0, 6, size=(2, 50, 4))))
    b = torch.tensor(rng.normal(size=(2, 50, 4)) + 1j * rng.normal(size=(2, 50, 4)))
    torch.testing.assert_close(S.scan(a, b), S.loop(a, b))


def test_log_scan_equals_the_loop_and_survives_gates_near_zero():
    a, b, h0 = _pairs(200, low=0.5, high=1.0)
    b, h0 = np.abs(b) + 1e-3, np.abs(h0) + 1e-3
    log_h = S.log_scan(*(torch.log(torch.tensor(v)) for v in (a, b, h0)))
    np.testing.assert_allclose(torch.exp(log_h), S.loop(a, b, h0), rtol=1e-10)
    # a product of 4,000 gates of 1e-3 underflows in float32; its logarithm does not
    T = 4000
    log_a = torch.full((1, T, 1), math.log(1e-3))
    log_b = torch.zeros(1, T, 1)
    log_b[0, 0, 0] = 100.0
    out = S.log_scan(log_a, log_b)
    assert torch.isfinite(out).all() and out[0, 0, 0] == pytest.approx(100.0)


def test_shape_errors_name_the_argument():
    with pytest.raises(ValueError, match="same shape"):
        S.loop(np.zeros((1, 3, 2)), np.zeros((1, 4, 2)))
    with pytest.raises(ValueError, match="h0"):
        S.scan(torch.zeros(1, 3, 2), torch.zeros(1, 3, 2), torch.zeros(2, 2))


@pytest.mark.parametrize("mode", ["log", "scan", "loop"])
def test_mingru_forward_equals_its_step_loop(mode):
    torch.manual_seed(0)
    model = S.MinGRU(5, 8, mode=mode).double()
    x = torch.randn(3, 40, 5, dtype=torch.float64)
    h0 = torch.rand(3, 8, dtype=torch.float64) + 0.1  # positive, as log mode needs
    h, states = h0, []
    for t in range(40):
        h = model.step(x[:, t], h)
        states.append(h)
    torch.testing.assert_close(model(x, h0), torch.stack(states, 1), rtol=1e-9, atol=1e-9)


def test_mingru_has_fewer_parameters_than_a_gru():
    D, H = 16, 64
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(S.MinGRU(D, H)) == 2 * H * (D + 1)
    assert count(torch.nn.GRU(D, H)) == 3 * H * (D + H + 2)


def test_minlstm_forward_equals_its_step_loop_and_gates_sum_to_one():
    torch.manual_seed(1)
    model = S.MinLSTM(4, 6).double()
    x = torch.randn(2, 30, 4, dtype=torch.float64)
    h, states = torch.zeros(2, 6, dtype=torch.float64), []
    for t in range(30):
        h = model.step(x[:, t], h)
        states.append(h)
    torch.testing.assert_close(model(x), torch.stack(states, 1))
    a, _ = model._pairs(x)
    assert ((a > 0) & (a < 1)).all()


def test_lru_scan_equals_its_step_loop_and_is_stable():
    model = S.LRU(3, 16, 2, seed=0).double()
    assert (model._lambda().abs() < 1).all()
    x = torch.randn(2, 60, 3, dtype=torch.float64)
    h = torch.zeros(2, 16, dtype=torch.complex128)
    ys = []
    for t in range(60):
        y, h = model.step(x[:, t], h)
        ys.append(y)
    torch.testing.assert_close(model(x), torch.stack(ys, 1))
    torch.testing.assert_close(model(x, mode="loop"), model(x))


@pytest.mark.parametrize("selective", [True, False])
def test_selective_ssm_scan_equals_its_step_loop(selective):
    torch.manual_seed(2)
    model = S.SelectiveSSM(4, state_size=5, selective=selective).double()
    x = torch.randn(2, 33, 4, dtype=torch.float64)
    h = torch.zeros(2, 4, 5, dtype=torch.float64)
    ys = []
    for t in range(33):
        y, h = model.step(x[:, t], h)
        ys.append(y)
    torch.testing.assert_close(model(x), torch.stack(ys, 1))


def test_selection_lets_the_input_decide_what_is_kept():
    """With selection, the step size (hence a_t) depends on x_t; without, it does not."""
    torch.manual_seed(3)
    x = torch.randn(1, 10, 4)
    a_sel, _, _ = S.SelectiveSSM(4, selective=True)._pairs(x)
    a_lti, _, _ = S.SelectiveSSM(4, selective=False)._pairs(x)
    assert a_sel.std(dim=1).max() > 1e-3
    assert a_lti.std(dim=1).max() < 1e-7
