"""course_rnn.analysis: gradient norms through time follow rho^k, tanh and gates shrink them."""

import numpy as np
import pytest
import torch

from course_rnn import analysis

torch.set_num_threads(1)
H, T = 64, 200


def test_spectral_radius_of_known_matrices():
    assert analysis.spectral_radius(np.diag([0.5, -2.0, 1.0])) == pytest.approx(2.0)
    rotation = np.array([[0.0, -3.0], [3.0, 0.0]])  # eigenvalues +-3i
    assert analysis.spectral_radius(torch.tensor(rotation)) == pytest.approx(3.0)
    with pytest.raises(ValueError, match=r"\(H, H\)"):
        analysis.spectral_radius(np.ones((2, 3)))


@pytest.mark.parametrize("kind", ["orthogonal", "gaussian"])
@pytest.mark.parametrize("rho", [0.5, 1.0, 1.3])
def test_matrix_with_spectral_radius_has_it(kind, rho):
    W = analysis.matrix_with_spectral_radius(16, rho, kind=kind, seed=0)
    assert W.shape == (16, 16)
    assert analysis.spectral_radius(W) == pytest.approx(rho, rel=1e-9)
    assert np.array_equal(W, analysis.matrix_with_spectral_radius(16, rho, kind=kind, seed=0))


def test_orthogonal_kind_is_rho_times_an_orthogonal_matrix():
    W = analysis.matrix_with_spectral_radius(8, 0.7, seed=3)
    np.testing.assert_allclose(W.T @ W, 0.49 * np.eye(8), atol=1e-12)


@pytest.mark.parametrize("rho", [0.9, 1.0, 1.1])
def test_linear_rnn_gradient_is_rho_to_the_k(rho):
    """H=64, T=200: ||dL/dh_{T-k}|| = rho^k exactly for rho times an orthogonal W_hh."""
    W = analysis.matrix_with_spectral_radius(H, rho, seed=0)
    norms = analysis.recurrence_gradient_norms(W, T, "linear")
    assert norms.shape == (T,)
    k = np.arange(T)[::-1]  # entry t-1 is k = T - t steps back
    np.testing.assert_allclose(norms, rho**k, rtol=1e-8)


def test_vanishing_and_exploding_magnitudes_at_100_steps():
    at_100 = {
        rho: analysis.recurrence_gradient_norms(
            analysis.matrix_with_spectral_radius(H, rho, seed=0), T
        )[T - 1 - 100]
        for rho in (0.9, 1.0, 1.1)
    }
    assert 1e-5 < at_100[0.9] < 1e-4  # 0.9^100 = 2.7e-5: vanished
    assert at_100[1.0] == pytest.approx(1.0)  # orthogonal: kept
    assert 1e4 < at_100[1.1] < 1e5  # 1.1^100 = 1.4e4: exploded


def test_gaussian_matrix_decays_at_the_rate_of_its_spectral_radius():
    W = analysis.matrix_with_spectral_radius(H, 0.9, kind="gaussian", seed=0)
    norms = analysis.recurrence_gradient_norms(W, T)
    rate = (norms[0] / norms[T - 101]) ** (1 / 99)  # from k=100 to k=199
    assert rate == pytest.approx(0.9, abs=0.02)


def test_tanh_vanishes_even_with_an_orthogonal_unit_radius_matrix():
    W = analysis.matrix_with_spectral_radius(H, 1.0, seed=0)
    tanh = analysis.recurrence_gradient_norms(W, T, "tanh", input_scale=0.5)
    linear = analysis.recurrence_gradient_norms(W, T, "linear", input_scale=0.5)
    assert linear[T - 101] == pytest.approx(1.0)
    assert tanh[T - 101] < 1e-6
    assert np.all(np.diff(tanh) >= 0)  # shrinks at every step back: tanh' <= 1


def test_relu_gradient_never_exceeds_the_linear_one():
    W = analysis.matrix_with_spectral_radius(H, 1.0, seed=1)
    relu = analysis.recurrence_gradient_norms(W, 50, "relu")
    assert relu[-1] == pytest.approx(1.0) and np.all(relu <= 1.0 + 1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_relu_keeps_the_gradient_with_the_identity_but_not_a_random_orthogonal(seed):
    """Chapter 5's IRNN point: same rho = sigma_1 = 1, very different gradients."""
    identity = analysis.recurrence_gradient_norms(np.eye(H), T, "relu", seed=seed)
    W = analysis.matrix_with_spectral_radius(H, 1.0, seed=seed)
    orthogonal = analysis.recurrence_gradient_norms(W, T, "relu", seed=seed)
    assert 0.3 < identity[T - 1 - 150] < 1.0
    assert orthogonal[T - 1 - 150] < 1e-15


def test_relu_jacobian_products_of_the_identity_never_grow():
    """With W_hh = I each Jacobian is diag(f'), zeros and ones: every product has
    spectral norm at most 1."""
    J = analysis.recurrence_jacobians(np.eye(H), T, "relu", seed=0)
    assert set(np.unique(J)) <= {0.0, 1.0}
    assert analysis.jacobian_product_norms(J).max() <= 1.0


def test_recurrence_gradient_matches_the_jacobian_product():
    """Independent route: dL/dh_{T-k} = (J_T ... J_{T-k+1})^T v from explicit Jacobians."""
    W = analysis.matrix_with_spectral_radius(8, 1.2, kind="gaussian", seed=2)
    norms = analysis.recurrence_gradient_norms(W, 12, "tanh", seed=5)
    J = analysis.recurrence_jacobians(W, 12, "tanh", seed=5)
    v = np.random.default_rng(6).standard_normal(8)
    v /= np.linalg.norm(v)  # the same unit vector: seeded with seed + 1
    g, expected = v, [1.0]
    for t in range(11, 0, -1):
        g = J[t].T @ g
        expected.append(np.linalg.norm(g))
    np.testing.assert_allclose(norms[::-1], expected, rtol=1e-10)


def test_jacobian_product_norms_of_a_scaled_orthogonal_matrix():
    W = analysis.matrix_with_spectral_radius(16, 0.8, seed=0)
    J = analysis.recurrence_jacobians(W, 30, "linear")
    np.testing.assert_allclose(analysis.jacobian_product_norms(J), 0.8 ** np.arange(31))
    with pytest.raises(ValueError, match=r"\(T, H, H\)"):
        analysis.jacobian_product_norms(np.ones((3, 2, 4)))


def _lstm_with_forget_bias(bias):
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(H, H, batch_first=True)
    if bias is not None:
        with torch.no_grad():
            lstm.bias_ih_l0[H : 2 * H] = bias  # forget gate block (i, f, g, o)
            lstm.bias_hh_l0[H : 2 * H] = 0.0
    return lstm


def test_default_lstm_vanishes_and_forget_bias_keeps_the_gradient():
    x = torch.randn(1, T, H, generator=torch.Generator().manual_seed(0))
    default = analysis.hidden_gradient_norms(_lstm_with_forget_bias(None), x)
    biased = analysis.hidden_gradient_norms(_lstm_with_forget_bias(3.0), x)
    assert default.shape == biased.shape == (T,)
    assert default[-1] == pytest.approx(1.0)  # ||dL/dh_T|| = ||v|| = 1
    assert default[T - 101] < 1e-15  # gating alone does not save the gradient
    assert biased[T - 101] > 1e-3  # a forget gate near 1 does
    assert biased[T - 101] > 1e10 * default[T - 101]


def test_hidden_gradient_norms_match_a_finite_difference():
    torch.manual_seed(1)
    rnn = torch.nn.RNN(3, 4, batch_first=True).double()
    x = torch.randn(1, 6, 3, dtype=torch.float64)
    norms = analysis.hidden_gradient_norms(rnn, x, loss_fn=lambda hs: hs[:, -1].sum())
    # dL/dh_1 by perturbing h_1 and re-running steps 2..6 with nn.RNN itself
    with torch.no_grad():
        _, h1 = rnn(x[:, :1])
    grad = []
    for i in range(4):
        e = torch.zeros_like(h1)
        e[0, 0, i] = 1e-6
        with torch.no_grad():
            up = rnn(x[:, 1:], h1 + e)[1].sum()
            down = rnn(x[:, 1:], h1 - e)[1].sum()
        grad.append(float((up - down) / 2e-6))
    assert norms[0] == pytest.approx(np.linalg.norm(grad), rel=1e-6)


@pytest.mark.parametrize(
    "module",
    [
        torch.nn.GRU(3, 4, num_layers=2, batch_first=True),
        torch.nn.RNNCell(3, 4),
        torch.nn.LSTMCell(3, 4),
    ],
)
def test_hidden_gradient_norms_accept_stacks_and_cells(module):
    norms = analysis.hidden_gradient_norms(module, torch.randn(2, 5, 3))
    assert norms.shape == (5,) and np.all(np.isfinite(norms)) and norms[-1] > 0


def test_hidden_gradient_norms_leave_the_module_unchanged():
    rnn = torch.nn.RNN(3, 4, batch_first=True)
    analysis.hidden_gradient_norms(rnn, torch.randn(1, 5, 3))
    assert rnn.weight_hh_l0.dtype == torch.float32 and rnn.weight_hh_l0.grad is None


def test_rnn_jacobians_match_the_formula_for_tanh():
    torch.manual_seed(0)
    rnn = torch.nn.RNN(3, 5, batch_first=True).double()
    x = torch.randn(4, 3, dtype=torch.float64)
    J = analysis.rnn_jacobians(rnn, x)
    assert J.shape == (4, 5, 5)
    with torch.no_grad():
        out, _ = rnn(x[None])  # (1, 4, 5)
    W = rnn.weight_hh_l0.detach().numpy()
    for t in range(4):
        h = out[0, t].numpy()
        np.testing.assert_allclose(J[t], (1 - h**2)[:, None] * W, atol=1e-10)


def test_analysis_rejects_unsupported_modules():
    with pytest.raises(ValueError, match="expected torch.nn.RNN"):
        analysis.hidden_gradient_norms(torch.nn.Linear(3, 3), torch.randn(1, 2, 3))
    bi = torch.nn.RNN(3, 4, batch_first=True, bidirectional=True)
    with pytest.raises(ValueError, match="unidirectional"):
        analysis.hidden_gradient_norms(bi, torch.randn(1, 2, 3))


def test_largest_singular_value_is_not_the_spectral_radius():
    nilpotent = np.array([[0.0, 2.0], [0.0, 0.0]])  # both eigenvalues 0, but it stretches e_2 by 2
    assert analysis.spectral_radius(nilpotent) == 0.0
    assert analysis.largest_singular_value(nilpotent) == pytest.approx(2.0)
    W = analysis.matrix_with_spectral_radius(16, 0.7, seed=0)  # normal: the two agree
    assert analysis.largest_singular_value(W) == pytest.approx(0.7)


@pytest.mark.parametrize("sigma", [0.9, 4.0])
def test_nonnormal_matrix_has_the_radius_and_the_norm_asked_for(sigma):
    W = analysis.nonnormal_matrix(H, 0.9, sigma, seed=0)
    assert W.shape == (H, H)
    assert analysis.spectral_radius(W) == pytest.approx(0.9, rel=1e-6)
    assert analysis.largest_singular_value(W) == pytest.approx(sigma, rel=1e-9)
    assert np.array_equal(W, analysis.nonnormal_matrix(H, 0.9, sigma, seed=0))
    normal = np.allclose(W @ W.T, W.T @ W, atol=1e-9)
    assert normal == (sigma == 0.9)  # sigma_1 = rho only for the normal (symmetric) one
    with pytest.raises(ValueError, match="sigma"):
        analysis.nonnormal_matrix(8, 0.9, 0.5)


def test_sigma_below_one_bounds_every_tanh_jacobian_product():
    """Pascanu et al.: ||J_T ... J_{T-k+1}|| <= sigma_1^k when |tanh'| <= 1."""
    W = analysis.nonnormal_matrix(32, 0.5, 0.95, seed=1)
    products = analysis.jacobian_product_norms(analysis.recurrence_jacobians(W, 60, "tanh"))
    assert np.all(products <= 0.95 ** np.arange(61) * (1 + 1e-9))
    assert products[60] < 0.95**60


def test_nonnormal_tanh_products_grow_for_dozens_of_steps_although_rho_is_below_one():
    """rho = 0.9 < 1, sigma_1 = 4: with tanh the products stay above 1 for 100 steps."""
    nonnormal = analysis.nonnormal_matrix(H, 0.9, 4.0, seed=0)
    normal = analysis.matrix_with_spectral_radius(H, 0.9, seed=0)
    grow = analysis.jacobian_product_norms(
        analysis.recurrence_jacobians(nonnormal, 100, "tanh", input_scale=0.5)
    )
    shrink = analysis.jacobian_product_norms(
        analysis.recurrence_jacobians(normal, 100, "tanh", input_scale=0.5)
    )
    assert np.all(grow[1:] > 1.0) and grow.max() > 10
    assert np.all(shrink <= 0.9 ** np.arange(101) * (1 + 1e-9))
