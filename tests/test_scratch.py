"""course_rnn.scratch against PyTorch: same outputs, same gradients, clear errors.

PyTorch is the reference (torch.nn.RNN/LSTM/GRU with batch_first=True and autograd), as
in micrograd's tests; finite differences are a second, independent reference.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_rnn import scratch
from course_rnn.gradcheck import check_gradients, relative_error

TOL = 1e-8  # float64 agreement asked of every forward and backward

FORWARD = {"rnn": scratch.rnn_forward, "lstm": scratch.lstm_forward, "gru": scratch.gru_forward}
BACKWARD = {
    "rnn": scratch.rnn_backward,
    "lstm": scratch.lstm_backward,
    "gru": scratch.gru_backward,
}
TORCH_LAYER = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
TORCH_CELL = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}
PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
# (cell, nonlinearity): the four layers the course teaches
KINDS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")]
# (N, T, D, H), including the edge sizes 1
SHAPES = [(1, 1, 1, 1), (1, 6, 3, 4), (5, 1, 2, 3), (3, 7, 1, 5), (2, 4, 5, 1), (4, 9, 3, 6)]


def torch_layer(cell, D, H, nonlinearity="tanh", bidirectional=False, seed=0):
    torch.manual_seed(seed)
    kw = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
    return TORCH_LAYER[cell](
        D, H, batch_first=True, bidirectional=bidirectional, dtype=torch.float64, **kw
    )


def torch_forward_backward(module, x, states, dout):
    """Autograd's out and gradients; states stacked (directions, N, H) as torch wants."""
    xt = torch.tensor(x, requires_grad=True)
    st = [torch.tensor(s, requires_grad=True) for s in states]
    out, _ = module(xt, tuple(st) if len(st) == 2 else st[0])
    out.backward(torch.tensor(dout))
    grads = {"x": xt.grad.numpy()}
    for name, s in zip(("h0", "c0"), st, strict=False):
        grads[name] = s.grad.numpy()
    for name, p in module.named_parameters():  # weight_ih_l0 -> weight_ih
        grads[name.replace("_l0", "")] = p.grad.numpy()
    return out.detach().numpy(), grads


def random_case(cell, N, T, D, H, directions=1, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, T, D)).astype(dtype)
    n_states = 2 if cell == "lstm" else 1
    states = [rng.standard_normal((directions, N, H)).astype(dtype) for _ in range(n_states)]
    dout = rng.standard_normal((N, T, directions * H)).astype(dtype)
    return x, states, dout


def scratch_state(cell, states, direction=0):
    if cell == "lstm":
        return (states[0][direction], states[1][direction])
    return states[0][direction]


def run_scratch(cell, nonlinearity, x, state, params, dout):
    kw = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
    out, cache = FORWARD[cell](x, state, params, **kw)
    return out, BACKWARD[cell](dout, cache)


def assert_matches_torch(cell, nonlinearity, N, T, D, H, seed=0):
    module = torch_layer(cell, D, H, nonlinearity, seed=seed)
    params = scratch.params_from_torch(module)
    x, states, dout = random_case(cell, N, T, D, H, seed=seed)
    ref_out, ref = torch_forward_backward(module, x, states, dout)
    out, grads = run_scratch(cell, nonlinearity, x, scratch_state(cell, states), params, dout)
    assert out.shape == (N, T, H)
    assert relative_error(out, ref_out) <= TOL
    names = ["x", "h0", *PARAMS] + (["c0"] if cell == "lstm" else [])
    assert set(grads) == set(names)
    for name in names:
        expected = ref[name][0] if name in ("h0", "c0") else ref[name]
        assert grads[name].shape == expected.shape, name
        assert relative_error(grads[name], expected) <= TOL, name


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "N{}T{}D{}H{}".format(*s))
@pytest.mark.parametrize("cell,nonlinearity", KINDS, ids=lambda k: k)
def test_forward_and_backward_match_torch_and_autograd(cell, nonlinearity, shape):
    assert_matches_torch(cell, nonlinearity, *shape)


@settings(max_examples=25, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    N=st.integers(1, 5),
    T=st.integers(1, 8),
    D=st.integers(1, 5),
    H=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_forward_and_backward_match_torch_over_random_shapes(kind, N, T, D, H, seed):
    assert_matches_torch(kind[0], kind[1], N, T, D, H, seed=seed)


@pytest.mark.parametrize("cell,nonlinearity", KINDS, ids=lambda k: k)
def test_single_step_cells_match_torch_cells(cell, nonlinearity):
    N, D, H = 3, 4, 5
    torch.manual_seed(1)
    kw = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
    module = TORCH_CELL[cell](D, H, dtype=torch.float64, **kw)
    params = {name: p.detach().numpy().copy() for name, p in module.named_parameters()}
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, D))
    h, c = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    dh, dc = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    xt, ht, ct = (torch.tensor(a, requires_grad=True) for a in (x, h, c))
    if cell == "lstm":
        h_new, c_new = module(xt, (ht, ct))
        (h_new * torch.tensor(dh)).sum().add((c_new * torch.tensor(dc)).sum()).backward()
        (h1, c1), cache = scratch.lstm_cell_forward(x, (h, c), params)
        grads = scratch.lstm_cell_backward(dh, dc, cache)
        assert relative_error(c1, c_new.detach().numpy()) <= TOL
        assert relative_error(grads["c_prev"], ct.grad.numpy()) <= TOL
    else:
        h_new = module(xt, ht)
        h_new.backward(torch.tensor(dh))
        if cell == "rnn":
            h1, cache = scratch.rnn_cell_forward(x, h, params, nonlinearity)
            grads = scratch.rnn_cell_backward(dh, cache)
        else:
            h1, cache = scratch.gru_cell_forward(x, h, params)
            grads = scratch.gru_cell_backward(dh, cache)
    assert relative_error(h1, h_new.detach().numpy()) <= TOL
    assert relative_error(grads["x"], xt.grad.numpy()) <= TOL
    assert relative_error(grads["h_prev"], ht.grad.numpy()) <= TOL
    for name, p in module.named_parameters():
        assert relative_error(grads[name], p.grad.numpy()) <= TOL, name


@pytest.mark.parametrize("cell,nonlinearity", KINDS, ids=lambda k: k)
def test_backward_agrees_with_finite_differences(cell, nonlinearity):
    N, T, D, H = 2, 3, 2, 3
    params = scratch.init_params(cell, D, H, seed=3)
    x, states, dout = random_case(cell, N, T, D, H, seed=3)
    if nonlinearity == "relu":
        params["bias_ih"] += 0.5  # keep pre-activations away from relu's kink at 0
    inputs = {"x": x, "h0": states[0][0], **params}
    if cell == "lstm":
        inputs["c0"] = states[1][0]

    def f(inp):
        state = (inp["h0"], inp["c0"]) if cell == "lstm" else inp["h0"]
        kw = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
        return FORWARD[cell](inp["x"], state, {k: inp[k] for k in PARAMS}, **kw)[0]

    _, grads = run_scratch(cell, nonlinearity, x, scratch_state(cell, states), params, dout)
    errors = check_gradients(f, inputs, grads, dout=dout)
    assert set(errors) == set(inputs)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("cell,nonlinearity", KINDS, ids=lambda k: k)
def test_bidirectional_matches_torch_bidirectional(cell, nonlinearity):
    N, T, D, H = 3, 5, 4, 2
    module = torch_layer(cell, D, H, nonlinearity, bidirectional=True, seed=2)
    params = scratch.params_from_torch(module)
    assert "weight_hh_reverse" in params
    x, states, dout = random_case(cell, N, T, D, H, directions=2, seed=2)
    ref_out, ref = torch_forward_backward(module, x, states, dout)
    state0 = tuple(states) if cell == "lstm" else states[0]
    out, cache = scratch.bidirectional_forward(x, state0, params, cell, nonlinearity)
    grads = scratch.bidirectional_backward(dout, cache)
    assert out.shape == (N, T, 2 * H)
    assert relative_error(out, ref_out) <= TOL
    assert set(grads) == set(ref)
    for name, expected in ref.items():
        assert grads[name].shape == expected.shape, name
        assert relative_error(grads[name], expected) <= TOL, name


def test_bidirectional_output_is_forward_then_time_reversed_backward():
    N, T, D, H = 2, 4, 3, 3
    fw, bw = scratch.rnn_params(D, H, seed=0), scratch.rnn_params(D, H, seed=1)
    params = {**fw, **{k + "_reverse": v for k, v in bw.items()}}
    x, (h0,), _ = random_case("rnn", N, T, D, H, directions=2, seed=4)
    out, _ = scratch.bidirectional_forward(x, h0, params)
    out_fw, _ = scratch.rnn_forward(x, h0[0], fw)
    out_bw, _ = scratch.rnn_forward(x[:, ::-1], h0[1], bw)
    np.testing.assert_array_equal(out[..., :H], out_fw)
    np.testing.assert_array_equal(out[..., H:], out_bw[:, ::-1])


@pytest.mark.parametrize("cell,nonlinearity", KINDS, ids=lambda k: k)
def test_float32_inputs_give_float32_results_close_to_float64(cell, nonlinearity):
    N, T, D, H = 4, 6, 3, 5
    params64 = scratch.init_params(cell, D, H, seed=5)
    x, states, dout = random_case(cell, N, T, D, H, seed=5)
    out64, grads64 = run_scratch(cell, nonlinearity, x, scratch_state(cell, states), params64, dout)
    params32 = scratch.init_params(cell, D, H, seed=5, dtype=np.float32)
    x32 = x.astype(np.float32)
    states32 = [s.astype(np.float32) for s in states]
    out32, grads32 = run_scratch(
        cell, nonlinearity, x32, scratch_state(cell, states32), params32, dout.astype(np.float32)
    )
    assert out32.dtype == np.float32
    assert relative_error(out32, out64) < 1e-5
    for name, g in grads32.items():
        assert g.dtype == np.float32, name
        assert relative_error(g, grads64[name]) < 1e-4, name


def test_float32_x_with_float64_params_runs_in_float32():
    params = scratch.rnn_params(2, 3, seed=0)  # float64
    x = np.ones((1, 2, 2), dtype=np.float32)
    out, cache = scratch.rnn_forward(x, np.zeros((1, 3), dtype=np.float32), params)
    assert out.dtype == np.float32
    assert scratch.rnn_backward(np.ones_like(out), cache)["weight_hh"].dtype == np.float32


def test_integer_x_is_computed_in_float64():
    out, _ = scratch.gru_forward(
        np.ones((1, 2, 2), dtype=int), np.zeros((1, 3)), scratch.gru_params(2, 3)
    )
    assert out.dtype == np.float64


# ----------------------------------------------------------------------------------------
# Errors say which argument, which shape it had and which it should have
# ----------------------------------------------------------------------------------------


def _rnn_ok():
    return np.zeros((2, 3, 5)), np.zeros((2, 4)), scratch.rnn_params(5, 4)


def test_wrong_weight_hh_names_it_with_given_and_expected_shape():
    x, h0, p = _rnn_ok()
    p["weight_hh"] = np.zeros((3, 4))
    with pytest.raises(ValueError) as err:
        scratch.rnn_forward(x, h0, p)
    assert str(err.value) == "weight_hh has shape (3, 4); expected (4, 4) = (H, H)"


@pytest.mark.parametrize(
    "cell,change,message",
    [
        ("rnn", ("x", (2, 3)), "x has shape (2, 3); expected (N, T, D)"),
        ("rnn", ("h0", (2, 5)), "h0 has shape (2, 5); expected (2, 4) = (N, H)"),
        ("rnn", ("h0", (3, 4)), "h0 has shape (3, 4); expected (2, 4) = (N, H)"),
        ("rnn", ("weight_ih", (4, 6)), "weight_ih has shape (4, 6); expected (4, 5) = (H, D)"),
        ("rnn", ("bias_hh", (5,)), "bias_hh has shape (5,); expected (4,) = (H,)"),
        ("lstm", ("weight_ih", (16, 3)), "weight_ih has shape (16, 3); expected (16, 5) = (4H, D)"),
        ("lstm", ("weight_hh", (12, 4)), "weight_hh has shape (12, 4); expected (16, 4) = (4H, H)"),
        ("lstm", ("c0", (2, 3)), "c0 has shape (2, 3); expected (2, 4) = (N, H)"),
        ("gru", ("bias_ih", (4,)), "bias_ih has shape (4,); expected (12,) = (3H,)"),
        ("gru", ("weight_hh", (12,)), "weight_hh has shape (12,); expected (3H, H)"),
    ],
)
def test_wrong_shapes_raise_value_error_naming_argument_and_shapes(cell, change, message):
    name, shape = change
    inputs = {"x": np.zeros((2, 3, 5)), "h0": np.zeros((2, 4)), "c0": np.zeros((2, 4))}
    params = scratch.init_params(cell, 5, 4)
    (inputs if name in inputs else params)[name] = np.zeros(shape)
    state = (inputs["h0"], inputs["c0"]) if cell == "lstm" else inputs["h0"]
    with pytest.raises(ValueError) as err:
        FORWARD[cell](inputs["x"], state, params)
    assert str(err.value).startswith(message)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_wrong_dout_shape_is_named_in_backward(cell):
    x, h0, _ = _rnn_ok()
    state = (h0, h0) if cell == "lstm" else h0
    _, cache = FORWARD[cell](x, state, scratch.init_params(cell, 5, 4))
    with pytest.raises(ValueError, match=r"dout has shape \(2, 3, 5\); expected \(2, 3, 4\)"):
        BACKWARD[cell](np.zeros((2, 3, 5)), cache)


def test_missing_parameter_and_unknown_nonlinearity_are_reported():
    x, h0, p = _rnn_ok()
    del p["bias_hh"]
    with pytest.raises(ValueError, match="params is missing bias_hh"):
        scratch.rnn_forward(x, h0, p)
    with pytest.raises(ValueError, match="nonlinearity is 'sigmoid'; expected 'tanh' or 'relu'"):
        scratch.rnn_forward(x, h0, scratch.rnn_params(5, 4), nonlinearity="sigmoid")


def test_bidirectional_wants_stacked_initial_states_and_reverse_parameters():
    x, h0, p = _rnn_ok()
    with pytest.raises(ValueError, match="params is missing weight_ih_reverse"):
        scratch.bidirectional_forward(x, np.zeros((2, 2, 4)), p)
    p.update({k + "_reverse": v for k, v in scratch.rnn_params(5, 4, seed=1).items()})
    with pytest.raises(
        ValueError, match=r"h0 has shape \(2, 4\); expected \(2, 2, 4\) = \(2, N, H\)"
    ):
        scratch.bidirectional_forward(x, h0, p)


# ----------------------------------------------------------------------------------------
# Truncated BPTT
# ----------------------------------------------------------------------------------------


def _full(cell, x, state, params, dout):
    out, cache = FORWARD[cell](x, state, params)
    return out, BACKWARD[cell](dout, cache)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("k", [8, 20])
def test_truncated_bptt_with_k_at_least_T_is_full_bptt(cell, k):
    N, T, D, H = 3, 8, 2, 4
    params = scratch.init_params(cell, D, H, seed=6)
    x, states, dout = random_case(cell, N, T, D, H, seed=6)
    state = scratch_state(cell, states)
    out_full, full = _full(cell, x, state, params, dout)
    out, grads = scratch.truncated_bptt(x, state, params, dout, k=k, cell=cell)
    np.testing.assert_allclose(out, out_full, rtol=0, atol=1e-14)
    assert set(grads) == set(full)
    for name in full:
        assert relative_error(grads[name], full[name]) <= 1e-14, name


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_truncated_bptt_keeps_forward_values_and_drops_long_gradient_paths(cell):
    N, T, D, H, k = 2, 9, 2, 4, 3
    params = scratch.init_params(cell, D, H, seed=7)
    x, states, _ = random_case(cell, N, T, D, H, seed=7)
    state = scratch_state(cell, states)
    # The loss looks at the last step only: with truncation, only the last chunk's inputs
    # receive any gradient; full BPTT reaches back to step 1.
    dout = np.zeros((N, T, H))
    dout[:, -1] = 1.0
    out_full, full = _full(cell, x, state, params, dout)
    out, grads = scratch.truncated_bptt(x, state, params, dout, k=k, cell=cell)
    np.testing.assert_allclose(out, out_full, rtol=0, atol=1e-14)
    assert np.all(grads["x"][:, : T - k] == 0)
    assert np.all(grads["h0"] == 0)
    assert np.abs(full["x"][:, : T - k]).max() > 0
    assert relative_error(grads["x"][:, T - k :], full["x"][:, T - k :]) <= 1e-14
    assert relative_error(grads["weight_hh"], full["weight_hh"]) > 1e-6


def test_truncated_bptt_is_exact_when_the_loss_sits_in_the_first_chunk():
    N, T, D, H, k = 2, 9, 2, 4, 3
    params = scratch.rnn_params(D, H, seed=8)
    x, (h0,), _ = random_case("rnn", N, T, D, H, seed=8)
    dout = np.zeros((N, T, H))
    dout[:, :k] = 1.0  # nothing downstream of the first chunk matters to the loss
    _, full = _full("rnn", x, h0[0], params, dout)
    _, grads = scratch.truncated_bptt(x, h0[0], params, dout, k=k)
    for name in full:
        assert relative_error(grads[name], full[name]) <= 1e-14, name


def test_truncated_bptt_rejects_a_chunk_length_below_one():
    x, h0, p = _rnn_ok()
    with pytest.raises(ValueError, match="k is 0; expected"):
        scratch.truncated_bptt(x, h0, p, np.zeros((2, 3, 4)), k=0)


# ----------------------------------------------------------------------------------------
# Parameters: PyTorch's initialisation, copies to and from torch
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell,G", [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_init_params_have_torch_shapes_and_range_and_follow_the_seed(cell, G):
    D, H = 3, 16
    p = scratch.init_params(cell, D, H, seed=0)
    shapes = {"weight_ih": (G * H, D), "weight_hh": (G * H, H), "bias_ih": (G * H,)}
    shapes["bias_hh"] = (G * H,)
    assert {k: v.shape for k, v in p.items()} == shapes
    bound = 1 / np.sqrt(H)
    allv = np.concatenate([v.ravel() for v in p.values()])
    assert np.all(np.abs(allv) <= bound)
    assert allv.max() > 0.8 * bound and allv.min() < -0.8 * bound  # fills the range
    again = scratch.init_params(cell, D, H, seed=0)
    other = scratch.init_params(cell, D, H, seed=1)
    assert all(np.array_equal(p[k], again[k]) for k in p)
    assert not np.array_equal(p["weight_hh"], other["weight_hh"])
    assert scratch.init_params(cell, D, H, dtype=np.float32)["bias_ih"].dtype == np.float32


def test_named_init_helpers_match_init_params():
    for helper, cell in [
        (scratch.rnn_params, "rnn"),
        (scratch.lstm_params, "lstm"),
        (scratch.gru_params, "gru"),
    ]:
        a, b = helper(2, 3, seed=4), scratch.init_params(cell, 2, 3, seed=4)
        assert all(np.array_equal(a[k], b[k]) for k in PARAMS)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_params_copied_to_torch_give_torch_the_scratch_outputs(cell):
    N, T, D, H = 2, 5, 3, 4
    params = scratch.init_params(cell, D, H, seed=9)
    module = scratch.params_to_torch(params, torch_layer(cell, D, H))
    x, states, dout = random_case(cell, N, T, D, H, seed=9)
    ref_out, _ = torch_forward_backward(module, x, states, dout)
    out, _ = FORWARD[cell](x, scratch_state(cell, states), params)
    assert relative_error(out, ref_out) <= TOL
    back = scratch.params_from_torch(module)
    assert all(np.array_equal(back[k], params[k]) for k in PARAMS)


def test_torch_conversion_rejects_what_scratch_cannot_represent():
    with pytest.raises(ValueError, match="expected one layer"):
        scratch.params_from_torch(torch.nn.RNN(2, 3, num_layers=2))
    with pytest.raises(ValueError, match="bias=False"):
        scratch.params_from_torch(torch.nn.GRU(2, 3, bias=False))
    params = scratch.rnn_params(2, 3)
    params["weight_hh"] = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"weight_hh has shape \(3, 4\); expected \(3, 3\)"):
        scratch.params_to_torch(params, torch.nn.RNN(2, 3))


def test_saturated_gates_give_exact_zeros_and_ones_without_warnings():
    a = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow warning would fail the test
        s = scratch.sigmoid(a)
        params = {k: 100 * v for k, v in scratch.lstm_params(2, 3, seed=0).items()}
        out, _ = scratch.lstm_forward(100 * np.ones((1, 4, 2)), (np.zeros((1, 3)),) * 2, params)
    np.testing.assert_allclose(s, [0.0, 1.9287e-22, 0.5, 1.0, 1.0], rtol=1e-4, atol=0)
    assert np.all(np.isfinite(out)) and np.all(np.abs(out) <= 1)


def test_rnn_forward_is_the_one_step_function_repeated():
    x, (h0,), _ = random_case("rnn", 3, 6, 4, 5, seed=7)
    params = scratch.rnn_params(4, 5, seed=7)
    out, _ = scratch.rnn_forward(x, h0[0], params, "relu")
    h = h0[0]
    for t in range(x.shape[1]):
        h, _ = scratch.rnn_step_forward(x[:, t], h, params, "relu")
        assert np.array_equal(out[:, t], h), t  # bit for bit: the same arithmetic


@pytest.mark.parametrize(
    "function",
    [
        scratch.rnn_step_forward,
        scratch.rnn_step_backward,
        scratch.lstm_gates_forward,
        scratch.lstm_gates_backward,
        scratch.gru_gates_forward,
        scratch.gru_gates_backward,
    ],
    ids=lambda f: f.__name__,
)
def test_the_code_that_shows_one_idea_has_no_validation_plumbing(function):
    body = inspect.getsource(function).split('"""')[-1]  # the code after the docstring
    for plumbing in ("check", "raise", "ValueError", "asarray", "astype"):
        assert plumbing not in body, f"{function.__name__} contains {plumbing!r}"


def test_single_step_cells_name_their_own_arguments_in_errors():
    rnn = scratch.rnn_params(3, 2)
    with pytest.raises(ValueError, match=r"h_prev has shape \(4, 3\); expected \(4, 2\)"):
        scratch.rnn_cell_forward(np.zeros((4, 3)), np.zeros((4, 3)), rnn)
    _, cache = scratch.rnn_cell_forward(np.zeros((4, 3)), np.zeros((4, 2)), rnn)
    with pytest.raises(ValueError, match=r"dout has shape \(4, 3\); expected \(4, 2\) = \(N, H\)"):
        scratch.rnn_cell_backward(np.zeros((4, 3)), cache)
    params = scratch.lstm_params(3, 2)
    with pytest.raises(ValueError, match=r"x_t has shape \(4, 1, 3\); expected \(N, D\)"):
        scratch.lstm_cell_forward(np.zeros((4, 1, 3)), (np.zeros((4, 2)),) * 2, params)
    with pytest.raises(
        ValueError, match=r"c_prev has shape \(4, 3\); expected \(4, 2\) = \(N, H\)"
    ):
        scratch.lstm_cell_forward(np.zeros((4, 3)), (np.zeros((4, 2)), np.zeros((4, 3))), params)
