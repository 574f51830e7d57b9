"""course_rnn.seq2seq: attention, encoders, teacher forcing, greedy decoding, beam search."""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_rnn import seq2seq
from course_rnn.data import reverse_task
from course_rnn.data.copying import BOS, EOS, IGNORE_INDEX, PAD
from course_rnn.seq2seq import (
    AdditiveAttention,
    Memory,
    RNNEncoder,
    SelfAttentionEncoder,
    bucket_batches,
    exact_match,
    make_model,
)

torch.set_num_threads(1)  # small models run fastest on one thread

V_SRC, V_TGT = 9, 6


def _src(lengths, S=None, seed=0):
    """Random source ids 3..V_SRC-1, right-padded with PAD to S."""
    g = torch.Generator().manual_seed(seed)
    S = S or max(lengths)
    src = torch.full((len(lengths), S), PAD, dtype=torch.long)
    for i, L in enumerate(lengths):
        src[i, :L] = torch.randint(3, V_SRC, (L,), generator=g)
    return src


# ---------------------------------------------------------------- attention


def test_additive_attention_matches_the_formula_position_by_position():
    torch.manual_seed(0)
    att = AdditiveAttention(query_size=5, context_size=4, attention_size=3)
    states = torch.randn(2, 6, 4)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    memory = Memory(states, states.mean(1), mask)
    query = torch.randn(2, 5)
    context, alpha = att(query, att.keys(states), memory)
    for n in range(2):
        S = int(mask[n].sum())
        e = torch.stack(
            [
                att.v.weight[0] @ torch.tanh(att.W_q.weight @ query[n] + att.W_k(states[n, s]))
                for s in range(S)
            ]
        )
        a = torch.exp(e) / torch.exp(e).sum()
        torch.testing.assert_close(alpha[n, :S], a)
        torch.testing.assert_close(context[n], (a[:, None] * states[n, :S]).sum(0))
    assert torch.all(alpha[1, 4:] == 0)  # padding gets no weight
    torch.testing.assert_close(alpha.sum(1), torch.ones(2))


# ---------------------------------------------------------------- encoders


def test_rnn_encoder_ignores_padding():
    torch.manual_seed(0)
    enc = RNNEncoder(V_SRC, 8, 6)
    src = _src([5, 3, 4])
    mem = enc(src)
    assert mem.states.shape == (3, 5, 6) and mem.summary.shape == (3, 6)
    alone = enc(src[1:2, :3])  # the same sequence without padding
    torch.testing.assert_close(mem.states[1, :3], alone.states[0])
    torch.testing.assert_close(mem.summary[1], alone.summary[0])
    # summary = [forward state after the last real token || backward state at position 1]
    torch.testing.assert_close(mem.summary[1, :3], alone.states[0, -1, :3])
    torch.testing.assert_close(mem.summary[1, 3:], alone.states[0, 0, 3:])


def test_rnn_encoder_rejects_an_odd_hidden_size():
    with pytest.raises(ValueError, match="even"):
        RNNEncoder(V_SRC, 8, 5)


def test_self_attention_layer_matches_torch_multihead_attention():
    torch.manual_seed(0)
    layer = seq2seq.SelfAttentionLayer(size=8, num_heads=2, ff_size=16)
    mha = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(layer.qkv.weight)
        mha.in_proj_bias.copy_(layer.qkv.bias)
        mha.out_proj.weight.copy_(layer.out.weight)
        mha.out_proj.bias.copy_(layer.out.bias)
    x = torch.randn(3, 5, 8)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2, [True] * 4 + [False]])
    ours = layer.attend(x, mask)
    ref, ref_weights = mha(x, x, x, key_padding_mask=~mask, average_attn_weights=False)
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(layer.weights, ref_weights)
    assert layer.weights.shape == (3, 2, 5, 5)  # (N, heads, S, S): one weight per pair


def test_self_attention_encoder_ignores_padding_and_uses_positions():
    torch.manual_seed(0)
    enc = SelfAttentionEncoder(V_SRC, 8, num_heads=2, num_layers=2).eval()
    src = _src([4, 2], S=6)
    mem = enc(src)
    alone = enc(src[1:2, :2])
    torch.testing.assert_close(mem.states[1, :2], alone.states[0])
    torch.testing.assert_close(mem.summary[1], alone.summary[0])
    assert torch.all(mem.states[1, 2:] == 0)
    # the same token at two positions gets two different annotations (position codes)
    same = torch.full((1, 3), 5)
    states = enc(same).states[0]
    assert not torch.allclose(states[0], states[2], atol=1e-3)


def test_self_attention_encoder_without_positions_is_blind_to_order():
    torch.manual_seed(0)
    enc = SelfAttentionEncoder(V_SRC, 8, num_heads=2, num_layers=2, positions=False).eval()
    src = _src([5])
    order = torch.tensor([3, 0, 4, 1, 2])
    mem, shuffled = enc(src), enc(src[:, order])
    torch.testing.assert_close(shuffled.states[0], mem.states[0, order])  # permuted alike
    torch.testing.assert_close(shuffled.summary, mem.summary)


def test_neighbours_give_each_position_its_neighbours_and_no_further():
    torch.manual_seed(0)
    enc = SelfAttentionEncoder(
        V_SRC, 8, num_heads=2, num_layers=0, neighbours=3, positions=False
    ).eval()
    src = _src([6])
    base = enc(src).states[0]
    for far, near in ((4, 3), (0, 1)):  # positions 2 apart and 1 apart from position 2
        for j, moved in ((far, False), (near, True)):
            other = src.clone()
            other[0, j] = 3 + (int(src[0, j]) - 2) % (V_SRC - 3)  # another symbol
            changed = not torch.allclose(enc(other).states[0, 2], base[2])
            assert changed == moved, (j, changed)
    padded = enc(_src([4, 2], S=6))  # padding counts as zero, like no neighbour
    alone = enc(_src([4, 2], S=6)[1:2, :2])
    torch.testing.assert_close(padded.states[1, :2], alone.states[0])
    with pytest.raises(ValueError, match="neighbours"):
        SelfAttentionEncoder(V_SRC, 8, neighbours=2)


def test_default_self_attention_encoder_is_unchanged_by_the_options():
    torch.manual_seed(0)
    plain = SelfAttentionEncoder(V_SRC, 8, num_heads=2, num_layers=1)
    torch.manual_seed(0)
    same = SelfAttentionEncoder(V_SRC, 8, num_heads=2, num_layers=1, neighbours=0)
    assert plain.local is None and plain.positions
    src = _src([5, 3])
    torch.testing.assert_close(plain.eval()(src).states, same.eval()(src).states)


def test_sinusoidal_positions_follow_vaswani():
    P = seq2seq.sinusoidal_positions(7, 6)
    pos, i = 5, 1
    assert P[pos, 2 * i].item() == pytest.approx(math.sin(pos / 1e4 ** (2 * i / 6)), abs=1e-6)
    assert P[pos, 2 * i + 1].item() == pytest.approx(math.cos(pos / 1e4 ** (2 * i / 6)), abs=1e-6)


# ---------------------------------------------------------------- decoder and model


def _targets(N=3, T=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    tgt = torch.randint(3, V_TGT, (N, T), generator=g)
    tgt[:, -1] = EOS
    tgt[0, 2:] = torch.tensor([EOS, IGNORE_INDEX])  # a shorter target, padded
    return tgt


@pytest.mark.parametrize("encoder", ["rnn", "transformer"])
@pytest.mark.parametrize("attention", [False, True])
def test_teacher_forcing_equals_stepping_with_the_true_previous_token(encoder, attention):
    torch.manual_seed(0)
    model = make_model(V_SRC, V_TGT, encoder=encoder, attention=attention, hidden_size=8,
                       embedding_size=4, num_heads=2, num_layers=1).eval()  # fmt: skip
    src, tgt = _src([5, 3, 4]), _targets()
    logits, loss = model(src, tgt)
    assert logits.shape == (3, 4, V_TGT)
    memory = model.encoder(src)
    state, keys = model.decoder.start(memory)
    y = torch.full((3,), BOS)
    for t in range(4):
        step_logits, state, alpha = model.decoder.step(y, state, memory, keys)
        torch.testing.assert_close(step_logits, logits[:, t])
        assert (alpha is None) == (not attention)
        y = tgt[:, t].clamp(min=0)  # teacher forcing: the true token, not the guess
    want = F.cross_entropy(logits.reshape(-1, V_TGT), tgt.reshape(-1), ignore_index=-100)
    torch.testing.assert_close(loss, want)


def test_logits_at_step_t_do_not_see_targets_from_t_on():
    torch.manual_seed(0)
    model = make_model(V_SRC, V_TGT, hidden_size=8, embedding_size=4)
    src, tgt = _src([5, 3, 4]), _targets()
    changed = tgt.clone()
    changed[:, 2] = 3 + (changed[:, 2] - 2) % (V_TGT - 3)  # another real token at t = 2
    a, _ = model(src, tgt)
    b, _ = model(src, changed)
    torch.testing.assert_close(a[:, :3], b[:, :3])  # steps 0..2 read targets 0..1 only
    assert not torch.allclose(a[:, 3], b[:, 3])


@pytest.mark.parametrize("attention", [False, True])
def test_greedy_feeds_back_the_argmax_and_pads_after_eos(attention):
    torch.manual_seed(3)
    model = make_model(V_SRC, V_TGT, attention=attention, hidden_size=8, embedding_size=4)
    src = _src([5, 3, 4, 2, 5, 1], seed=2)
    tokens, alphas = model.greedy(src, max_len=6)
    assert tokens.shape == (6, 6)
    # teacher-forcing the greedy output reproduces it: each token was the argmax
    as_targets = tokens.masked_fill(tokens == PAD, IGNORE_INDEX)
    logits, _ = model(src, as_targets)
    real = as_targets != IGNORE_INDEX
    assert torch.equal(logits.argmax(-1)[real], tokens[real])
    for row in tokens.tolist():  # nothing but PAD after the first EOS
        if EOS in row:
            assert set(row[row.index(EOS) + 1 :]) <= {PAD}
    if attention:
        assert alphas.shape == (6, 6, 5)
        assert torch.all(alphas[3, :, 2:] == 0)  # a 2-token source: padding never attended
    else:
        assert alphas is None


def _sequence_log_prob(model, src, seq):
    """log p(seq | src) under teacher forcing; seq stops at its first EOS."""
    seq = list(seq)
    if EOS in seq:
        seq = seq[: seq.index(EOS) + 1]
    with torch.no_grad():
        logits, _ = model(src, torch.tensor([seq]))
    logp = F.log_softmax(logits[0], -1)
    return float(sum(logp[t, tok] for t, tok in enumerate(seq)))


def test_beam_search_with_a_wide_beam_finds_the_most_likely_sequence():
    torch.manual_seed(5)
    model = make_model(V_SRC, 5, hidden_size=8, embedding_size=4).eval()
    src = _src([4], seed=4)
    T = 3
    # every sequence of T tokens from {EOS, 3, 4} (PAD and BOS are never written)
    best = max(
        _sequence_log_prob(model, src, seq) for seq in itertools.product([EOS, 3, 4], repeat=T)
    )
    tokens, score = model.beam_search(src, max_len=T, beam_size=5**T)
    assert score.item() == pytest.approx(best, abs=1e-4)
    assert score.item() == pytest.approx(_sequence_log_prob(model, src, tokens[0]), abs=1e-4)


def test_beam_of_one_is_greedy_and_a_wider_beam_scores_at_least_as_well_here():
    torch.manual_seed(6)
    model = make_model(V_SRC, V_TGT, hidden_size=8, embedding_size=4).eval()
    src = _src([5, 3, 4, 2, 5, 4, 3, 1], seed=7)
    greedy, _ = model.greedy(src, max_len=5)
    beam1, score1 = model.beam_search(src, max_len=5, beam_size=1)
    assert torch.equal(greedy, beam1)
    beam4, score4 = model.beam_search(src, max_len=5, beam_size=4)
    for n in range(len(src)):
        assert score1[n].item() == pytest.approx(
            _sequence_log_prob(model, src[n : n + 1], greedy[n]), abs=1e-4
        )
    assert torch.all(score4 >= score1 - 1e-5)
    with pytest.raises(ValueError):
        model.beam_search(src, max_len=5, beam_size=0)


class _FixedEncoder(torch.nn.Module):
    """One source position of zeros: the decoder below ignores it."""

    context_size = 1

    def forward(self, src):
        N = len(src)
        return Memory(torch.zeros(N, 1, 1), torch.zeros(N, 1), torch.ones(N, 1, dtype=bool))


class _CountingDecoder(torch.nn.Module):
    """Next-token probabilities that depend only on the step: the state counts steps.

    First step: EOS 0.42, token 3 0.58. Later steps: EOS 0.7, token 3 0.3. So "<eos>"
    (0.42) is more likely than "3 <eos>" (0.58 * 0.7 = 0.406): the sum of
    log-probabilities prefers the shorter output.
    """

    def start(self, memory):
        return torch.zeros(len(memory.summary), 1), None

    def step(self, y_prev, state, memory, keys):
        first = state[:, 0] == 0
        probs = torch.full((len(state), 5), 1e-12)
        probs[:, EOS] = torch.where(first, 0.42, 0.7)
        probs[:, 3] = torch.where(first, 0.58, 0.3)
        return probs.log(), state + 1, None


def test_length_penalty_lets_a_longer_output_beat_a_shorter_one():
    model = seq2seq.EncoderDecoder(_FixedEncoder(), _CountingDecoder())
    src = torch.full((2, 1), 3)
    short, score = model.beam_search(src, max_len=3, beam_size=2)
    assert short[0].tolist() == [EOS, PAD, PAD]
    assert score[0].item() == pytest.approx(math.log(0.42), abs=1e-6)
    longer, score = model.beam_search(src, max_len=3, beam_size=2, length_penalty=0.6)
    assert longer[0].tolist() == [3, EOS, PAD]  # -0.901 / (7/6)**0.6 > -0.868 / 1
    assert score[0].item() == pytest.approx(math.log(0.58 * 0.7), abs=1e-6)  # not normalised
    # with one beam there is nothing to rank: greedy, whatever the penalty
    one, _ = model.beam_search(src, max_len=3, beam_size=1, length_penalty=0.6)
    assert one[0].tolist() == [3, EOS, PAD]


def test_exact_match_compares_up_to_eos():
    pred = torch.tensor([[4, 5, EOS, PAD, PAD], [4, 5, 5, EOS, PAD], [4, 5, EOS, 4, PAD]])
    tgt = torch.tensor([[4, 5, EOS, IGNORE_INDEX]] * 3)
    assert exact_match(pred, tgt).tolist() == [True, False, False]


def test_make_model_rejects_an_unknown_encoder():
    with pytest.raises(ValueError, match="encoder"):
        make_model(V_SRC, V_TGT, encoder="cnn")


# ---------------------------------------------------------------- batching and learning


def test_bucket_batches_group_similar_lengths_and_cover_every_row():
    lengths = np.random.default_rng(0).integers(2, 30, size=256)
    src = np.zeros((256, 30), dtype=np.int64)
    for i, L in enumerate(lengths):
        src[i, :L] = 3 + i % 5
    tgt = np.arange(256)[:, None].repeat(2, axis=1)
    it = bucket_batches(src, tgt, batch_size=16, seed=0, pool=4)
    seen, padding = [], []
    for _ in range(16):  # one epoch: 256 / 16 batches
        s, t = next(it)
        seen += t[:, 0].tolist()
        L = (s != PAD).sum(1)
        assert s.shape[1] == int(L.max())  # cut to the longest source of the batch
        padding.append(float((s == PAD).float().mean()))
    assert sorted(seen) == list(range(256))
    random_batches = lengths[np.random.default_rng(1).permutation(256)].reshape(16, 16)
    random_padding = 1 - (random_batches / random_batches.max(1, keepdims=True)).mean()
    assert np.mean(padding) < random_padding / 2, (np.mean(padding), random_padding)


@pytest.mark.slow
def test_attention_model_learns_to_reverse_sequences():
    src, tgt = reverse_task(2000, min_len=3, max_len=8, n_symbols=6, seed=0)
    torch.manual_seed(0)
    model = make_model(9, 9, hidden_size=32, embedding_size=16)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    batches = bucket_batches(src, tgt, batch_size=64, seed=0)
    for _ in range(250):
        s, t = next(batches)
        _, loss = model(s, t)
        opt.zero_grad()
        loss.backward()
        opt.step()
    test_src, test_tgt = reverse_task(300, min_len=3, max_len=8, n_symbols=6, seed=1)
    tokens, _ = model.greedy(torch.as_tensor(test_src), max_len=9)
    accuracy = exact_match(tokens, torch.as_tensor(test_tgt)).float().mean().item()
    assert accuracy > 0.9, accuracy
