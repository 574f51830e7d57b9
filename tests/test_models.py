"""course_rnn.models: every RNN type x cell gives the documented shapes and losses."""

import pytest
import torch
import torch.nn.functional as F

from course_rnn import models

torch.set_num_threads(1)
CELLS = ["rnn", "lstm", "gru"]
N, T, D, H = 3, 7, 4, 5


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("num_layers, bidirectional", [(1, False), (2, False), (2, True)])
def test_many_to_one_output_shape(cell, num_layers, bidirectional):
    model = models.ManyToOne(D, H, 3, cell=cell, num_layers=num_layers, bidirectional=bidirectional)
    outputs, loss = model(torch.randn(N, T, D))
    assert outputs.shape == (N, 3) and loss is None
    assert isinstance(model.rnn, models.CELLS[cell])
    assert model.rnn.num_layers == num_layers and model.rnn.bidirectional == bidirectional


def test_many_to_one_mse_loss_matches_torch():
    model = models.ManyToOne(D, H, 1, loss="mse")
    x, y = torch.randn(N, T, D), torch.randn(N)
    outputs, loss = model(x, y)
    assert loss.shape == () and torch.allclose(loss, F.mse_loss(outputs[:, 0], y))


def test_many_to_one_cross_entropy_and_tokens():
    model = models.ManyToOne(D, H, 2, vocab_size=10, pad_index=0, loss="cross_entropy")
    x = torch.randint(1, 10, (N, T))
    y = torch.tensor([0, 1, 1])
    outputs, loss = model(x, y)
    assert outputs.shape == (N, 2)
    assert torch.allclose(loss, F.cross_entropy(outputs, y))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_right_padding_does_not_change_the_prediction(cell, bidirectional):
    model = models.ManyToOne(
        D, H, 2, cell=cell, vocab_size=9, pad_index=0, bidirectional=bidirectional
    )
    model.eval()
    short = torch.tensor([[3, 4, 5]])
    padded = torch.tensor([[3, 4, 5, 0, 0]])
    assert torch.allclose(model(short)[0], model(padded)[0], atol=1e-6)


@pytest.mark.parametrize("cell", CELLS)
def test_lengths_make_float_inputs_stop_at_their_own_end(cell):
    model = models.ManyToOne(D, H, 1, cell=cell)
    x = torch.randn(2, T, D)
    lengths = torch.tensor([T, 3])
    batched, _ = model(x, lengths=lengths)
    alone, _ = model(x[1:, :3])
    assert torch.allclose(batched[1], alone[0], atol=1e-6)
    assert torch.allclose(batched[0], model(x[:1])[0][0], atol=1e-6)


def test_many_to_one_reads_the_final_hidden_state_of_nn_modules():
    model = models.ManyToOne(D, H, 1, cell="gru")
    x = torch.randn(N, T, D)
    _, h_n = model.rnn(x)
    assert torch.allclose(model(x)[0], model.head(h_n[-1]))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("num_layers, bidirectional", [(1, False), (2, True)])
def test_many_to_many_output_shape_and_loss(cell, num_layers, bidirectional):
    V = 11
    model = models.ManyToMany(
        D, H, V, cell=cell, num_layers=num_layers, bidirectional=bidirectional, vocab_size=V
    )
    x = torch.randint(0, V, (N, T))
    outputs, loss = model(x)
    assert outputs.shape == (N, T, V) and loss is None
    targets = torch.randint(0, V, (N, T))
    targets[0, -2:] = -100  # padding is ignored
    _, loss = model(x, targets)
    expected = F.cross_entropy(outputs[targets != -100], targets[targets != -100])
    assert torch.allclose(loss, expected, atol=1e-6)


def test_many_to_many_is_causal_when_unidirectional():
    model = models.ManyToMany(D, H, 2, loss="mse")
    x = torch.randn(1, T, D)
    y = x.clone()
    y[0, -1] += 1.0  # change only the last step
    assert torch.allclose(model(x)[0][:, :-1], model(y)[0][:, :-1])


def test_bidirectional_many_to_many_sees_the_future():
    model = models.ManyToMany(D, H, 2, loss="mse", bidirectional=True)
    x = torch.randn(1, T, D)
    y = x.clone()
    y[0, -1] += 1.0
    assert not torch.allclose(model(x)[0][:, 0], model(y)[0][:, 0])


@pytest.mark.parametrize("cell", CELLS)
def test_generate_extends_the_prefix_and_is_seeded(cell):
    V = 6
    model = models.ManyToMany(8, H, V, cell=cell, vocab_size=V)
    prefix = torch.zeros(4, 1, dtype=torch.long)
    a = model.generate(prefix, steps=9, seed=0)
    b = model.generate(prefix, steps=9, seed=0)
    assert a.shape == (4, 10) and a.dtype == torch.long and torch.equal(a, b)
    assert torch.all((a >= 0) & (a < V))
    assert model.training  # generate restores the mode


def test_greedy_generation_follows_the_argmax():
    V = 5
    model = models.ManyToMany(8, H, V, vocab_size=V)
    prefix = torch.tensor([[1, 2]])
    tokens = model.generate(prefix, steps=3, greedy=True)
    for t in range(2, 5):
        logits, _ = model(tokens[:, :t])
        assert tokens[0, t] == logits[0, -1].argmax()


def test_generation_stops_after_the_stop_token():
    model = models.ManyToMany(8, H, 3, vocab_size=3)
    tokens = model.generate(torch.zeros(20, 1, dtype=torch.long), steps=30, seed=1, stop_token=0)
    for row in tokens[:, 1:]:
        hits = (row == 0).nonzero()
        if len(hits):
            assert torch.all(row[hits[0, 0] :] == 0)


def test_generate_refuses_bidirectional_models():
    model = models.ManyToMany(8, H, 3, vocab_size=3, bidirectional=True)
    with pytest.raises(ValueError, match="unidirectional"):
        model.generate(torch.zeros(1, 1, dtype=torch.long), steps=2)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("num_layers", [1, 2])
def test_one_to_many_generates_steps_outputs(cell, num_layers):
    model = models.OneToMany(10, H, 8, steps=6, cell=cell, num_layers=num_layers)
    v = torch.randn(N, 10)
    outputs, loss = model(v)
    assert outputs.shape == (N, 6, 8) and loss is None
    targets = torch.rand(N, 4, 8)
    outputs, loss = model(v, targets)  # training mode: teacher forcing, T from targets
    assert outputs.shape == (N, 4, 8)
    assert torch.allclose(loss, F.mse_loss(outputs, targets))


def test_one_to_many_free_running_matches_teacher_forcing_on_its_own_outputs():
    model = models.OneToMany(3, H, 2, steps=5).eval()
    v = torch.randn(2, 3)
    free, _ = model(v)
    model.train()
    forced, _ = model(v, free.detach())  # feeding it its own outputs changes nothing
    assert torch.allclose(free, forced, atol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("num_layers, bidirectional", [(1, False), (2, True)])
def test_seq2seq_shapes_and_loss(cell, num_layers, bidirectional):
    V_src, V_tgt = 9, 7
    model = models.Seq2Seq(
        V_src,
        V_tgt,
        6,
        H,
        cell=cell,
        num_layers=num_layers,
        bidirectional=bidirectional,
        max_len=5,
    )
    src = torch.randint(3, V_src, (N, 4))
    tgt = torch.randint(3, V_tgt, (N, 6))
    tgt[:, -1] = -100
    logits, loss = model(src, tgt)
    assert logits.shape == (N, 6, V_tgt)
    expected = F.cross_entropy(logits[tgt != -100], tgt[tgt != -100])
    assert torch.allclose(loss, expected, atol=1e-6)
    logits, loss = model(src)  # no targets: greedy decoding for max_len steps
    assert logits.shape == (N, 5, V_tgt) and loss is None
    tokens = model.greedy_decode(src, max_len=7)
    assert tokens.shape == (N, 7) and tokens.dtype == torch.long


def test_seq2seq_decoder_is_teacher_forced():
    model = models.Seq2Seq(6, 6, 4, H, max_len=4)
    src = torch.randint(3, 6, (1, 3))
    tgt = torch.tensor([[3, 4, 5, 2]])
    logits, _ = model(src, tgt)
    changed = tgt.clone()
    changed[0, 2] = 3  # changing y_3 can only change the prediction of y_4
    logits2, _ = model(src, changed)
    assert torch.allclose(logits[:, :3], logits2[:, :3])
    assert not torch.allclose(logits[:, 3], logits2[:, 3])


def test_greedy_decode_pads_everything_after_the_first_eos():
    model = models.Seq2Seq(6, 6, 4, H, pad_index=0, bos_index=1, eos_index=2)
    with torch.no_grad():
        model.head.bias.zero_()
        model.head.bias[2] = 100.0  # the decoder always says EOS
    tokens = model.greedy_decode(torch.randint(3, 6, (2, 4)), max_len=5)
    assert tokens.tolist() == [[2, 0, 0, 0, 0]] * 2


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="cell"):
        models.ManyToOne(D, H, 1, cell="transformer")
    with pytest.raises(ValueError, match="loss"):
        models.ManyToOne(D, H, 1, loss="hinge")
    model = models.ManyToOne(D, H, 1)
    with pytest.raises(ValueError, match=r"\(N, T, 4\)"):
        model(torch.randn(N, T, D + 1))
    with pytest.raises(ValueError, match="targets"):
        model(torch.randn(N, T, D), torch.randn(N, 2))
    tokens = models.ManyToMany(D, H, 3, vocab_size=3)
    with pytest.raises(ValueError, match="token ids"):
        tokens(torch.randn(N, T, D))


def test_count_parameters_matches_the_lstm_formula():
    model = models.ManyToOne(D, H, 1, cell="lstm")
    lstm = 4 * (H * D + H * H + 2 * H)
    assert models.count_parameters(model) == lstm + H + 1


@pytest.mark.parametrize("bidirectional", [False, True])
def test_set_forget_bias_opens_the_forget_gate(bidirectional):
    lstm = torch.nn.LSTM(D, H, num_layers=2, bidirectional=bidirectional, batch_first=True)
    models.set_forget_bias(lstm, 3.0)
    for name, p in lstm.named_parameters():
        if name.startswith("bias_ih"):
            partner = getattr(lstm, name.replace("bias_ih", "bias_hh"))
            total = p + partner
            assert torch.all(total[H : 2 * H] == 3.0)  # forget block (i, f, g, o)
            assert not torch.all(total[:H] == 3.0)  # input gate untouched
    with pytest.raises(ValueError, match="LSTM"):
        models.set_forget_bias(torch.nn.GRU(D, H), 1.0)


def test_set_forget_bias_makes_the_cell_keep_sigmoid_of_the_value():
    """With x_t = 0 and h_{t-1} = 0 the forget gate is σ(b_if + b_hf), and c_t moves by f
    for each unit that c_{t-1} moves: the cell keeps σ(3) ≈ 0.95 of its state."""
    cell = torch.nn.LSTMCell(D, H)
    models.set_forget_bias(cell, 3.0)
    x, h = torch.zeros(1, D), torch.zeros(1, H)
    with torch.no_grad():
        kept = cell(x, (h, torch.ones(1, H)))[1] - cell(x, (h, torch.zeros(1, H)))[1]
    torch.testing.assert_close(kept, torch.full((1, H), torch.sigmoid(torch.tensor(3.0)).item()))
