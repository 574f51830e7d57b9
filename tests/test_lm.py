"""course_rnn.lm and course_rnn.data.timemachine: the pieces behind chapter 8.

Each test checks a property a language model must have (probabilities that sum to one,
a loss that ignores padding, a state that carries exactly across batches), against
PyTorch or a brute-force computation.
"""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_rnn import lm
from course_rnn.data import load_sentences, load_timemachine, preprocess_d2l, split_d2l

# ------------------------------------------------------------------ the corpus


@pytest.fixture(scope="module")
def corpus():
    return preprocess_d2l(load_timemachine())


def test_novel_drops_the_gutenberg_header_and_licence_the_file_keeps():
    novel, whole = load_timemachine(), load_timemachine("file")
    assert novel.startswith("The Time Machine")
    assert novel.rstrip().endswith("still lived on in the heart of man.")
    assert "Project Gutenberg" not in novel
    assert "PROJECT GUTENBERG LICENSE" in whole.upper() and "eBook #35" in whole
    with pytest.raises(ValueError, match="part"):
        load_timemachine("story")


def test_d2l_preprocessing_leaves_27_symbols_and_single_spaces(corpus):
    assert preprocess_d2l("The Time-Traveller's  (1895)") == "the time traveller s "
    assert set(corpus) == set(" abcdefghijklmnopqrstuvwxyz")
    assert "  " not in corpus
    # d2l reports 173,428 characters for its edition; ours adds a table of contents
    assert abs(len(corpus) - 173_428) < 2_000


def test_d2l_split_holds_out_5032_characters_of_chapter_one(corpus):
    train, valid = split_d2l(corpus)
    assert len(valid) == 5_032
    assert len(train) + len(valid) == len(corpus)
    start = corpus.index(valid)
    assert corpus[:start] + corpus[start + len(valid) :] == train
    chapter_one = corpus.index("the time traveller for so it")
    assert start - chapter_one == 10_000 - len("the time machine by h g wells i ")
    with pytest.raises(ValueError, match="chapter I"):
        split_d2l("a short text")


def test_sentences_are_preprocessed_in_order_and_filtered_by_length():
    every = load_sentences()
    pale = next(i for i, s in enumerate(every) if s.startswith("his pale grey eyes shone"))
    assert every[pale].endswith("his usually pale face was flushed and animated")
    assert pale < every.index("you must follow me carefully")
    assert all(s == s.strip() and set(s) <= set(" abcdefghijklmnopqrstuvwxyz") for s in every)
    short = load_sentences(min_len=10, max_len=40)
    assert short and all(10 <= len(s) <= 40 for s in short)
    assert short == [s for s in every if 10 <= len(s) <= 40]


# ------------------------------------------------------------------ tokens and vocabulary


def test_tokenize_chars_and_words():
    assert lm.tokenize("ab c") == ["a", "b", " ", "c"]
    assert lm.tokenize(" the  time machine ", "word") == ["the", "time", "machine"]
    with pytest.raises(ValueError, match="level"):
        lm.tokenize("x", "byte")


def test_vocabulary_reserved_first_then_most_frequent_and_unk_for_the_rest():
    v = lm.Vocabulary("the cat the hat the end".split(), min_freq=1, reserved=("<pad>", "<unk>"))
    assert v.itos[:3] == ["<pad>", "<unk>", "the"]
    assert v.itos[3:] == ["cat", "end", "hat"]  # ties alphabetical
    assert (v.pad_index, v.unk_index) == (0, 1)
    assert v.encode(["the", "dog"]).tolist() == [2, 1]
    assert v.decode([2, 3], sep=" ") == "the cat"
    rare_dropped = lm.Vocabulary("a a b".split(), min_freq=2)
    assert rare_dropped.itos == ["<unk>", "a"] and rare_dropped.pad_index is None


def test_vocabulary_without_unk_rejects_unknown_tokens():
    v = lm.Vocabulary("ab", reserved=())
    with pytest.raises(ValueError, match="not in a vocabulary"):
        v.encode("abc")


def test_d2l_character_vocabulary_has_28_symbols(corpus):
    assert len(lm.Vocabulary(lm.tokenize(corpus))) == 28  # <unk>, space, a-z


# ------------------------------------------------------------------ n-gram baselines


@pytest.mark.parametrize("order", [1, 2, 3])
def test_ngram_probabilities_sum_to_one_in_seen_and_unseen_contexts(order):
    ids = [0, 1, 2, 1, 2, 3, 1, 2, 0, 1]
    model = lm.NGramLM(order, vocab_size=6).fit(ids)
    for context in ([], [1], [2, 1], [5, 5], [4]):
        total = sum(model.prob(context, w) for w in range(6))
        assert total == pytest.approx(1.0, abs=1e-12)
    assert model.prob([1], 4) > 0  # never seen, still possible


def test_unigram_is_smoothed_token_frequency():
    ids = [0, 0, 0, 1]  # c = 4 tokens, u = 2 types, V = 3
    model = lm.NGramLM(1, vocab_size=3).fit(ids)
    assert model.prob([1, 1], 0) == pytest.approx((3 + 2 / 3) / 6)
    assert model.prob([], 2) == pytest.approx((0 + 2 / 3) / 6)


def test_nll_with_a_shorter_context_equals_the_lower_order_model():
    ids = [0, 1, 2, 1, 2, 3, 1, 2, 0, 1, 3, 3, 2]
    trigram = lm.NGramLM(3, vocab_size=5).fit(ids)
    assert np.allclose(trigram.nll(ids, context=0), lm.NGramLM(1, 5).fit(ids).nll(ids))
    assert np.allclose(trigram.nll(ids, context=1), lm.NGramLM(2, 5).fit(ids).nll(ids))
    assert np.allclose(trigram.nll(ids, context=9), trigram.nll(ids))
    assert not np.allclose(trigram.nll(ids, context=1), trigram.nll(ids))


def test_longer_contexts_predict_the_novel_better(corpus):
    train, valid = split_d2l(corpus)
    vocab = lm.Vocabulary(lm.tokenize(corpus))
    tr, va = vocab.encode(lm.tokenize(train)), vocab.encode(lm.tokenize(valid[:1500]))
    ppl = [lm.perplexity(lm.NGramLM(n, len(vocab)).fit(tr).nll(va).mean()) for n in (1, 2, 3)]
    assert 14 < ppl[0] < 20  # letter frequencies alone
    assert ppl[0] > ppl[1] > ppl[2]


# ------------------------------------------------------------------ perplexity and the masked loss


def test_perplexity_of_a_uniform_guess_is_the_vocabulary_size():
    logits = torch.zeros(2, 5, 13)
    targets = torch.randint(0, 13, (2, 5))
    assert lm.perplexity(lm.lm_loss(logits, targets)) == pytest.approx(13.0)
    assert lm.perplexity(0.0) == 1.0


def test_masked_cross_entropy_ignores_whatever_sits_at_padded_steps():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 6, 7, generator=g)
    targets = torch.randint(0, 7, (3, 6), generator=g)
    lengths = torch.tensor([6, 2, 4])
    mask = torch.arange(6)[None, :] < lengths[:, None]  # (N, T)
    loss = lm.masked_cross_entropy(logits, targets, mask)
    ref = F.cross_entropy(logits.reshape(-1, 7), targets.masked_fill(~mask, -100).reshape(-1))
    assert torch.allclose(loss, ref)
    noisy_logits = torch.where(mask[..., None], logits, 100 * torch.randn(3, 6, 7, generator=g))
    noisy_targets = targets.masked_fill(~mask, -100)
    assert torch.allclose(lm.masked_cross_entropy(noisy_logits, noisy_targets, mask), loss)
    # a plain mean over all N*T steps would count the pads and differ
    assert not torch.allclose(F.cross_entropy(logits.reshape(-1, 7), targets.reshape(-1)), loss)


# ------------------------------------------------------------------ sampling


def test_temperature_zero_and_top_k_one_are_argmax():
    logits = torch.tensor([[0.1, 2.0, -1.0, 1.9], [3.0, 0.0, 0.0, 0.0]])
    assert lm.sample_next(logits, temperature=0).tolist() == [1, 0]
    g = torch.Generator().manual_seed(0)
    assert lm.sample_next(logits, top_k=1, generator=g).tolist() == [1, 0]
    with pytest.raises(ValueError, match="temperature"):
        lm.sample_next(logits, temperature=-1)


def test_top_k_never_samples_outside_the_k_most_likely():
    g = torch.Generator().manual_seed(1)
    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0]]).repeat(2000, 1)
    draws = lm.sample_next(logits, temperature=5.0, top_k=2, generator=g)
    assert set(draws.tolist()) == {3, 4}


def test_low_temperature_sharpens_and_high_temperature_flattens():
    logits = torch.log(torch.tensor([[0.6, 0.3, 0.1]])).repeat(20000, 1)
    share = {}
    for temp in (0.5, 1.0, 3.0):
        g = torch.Generator().manual_seed(2)
        share[temp] = (lm.sample_next(logits, temp, generator=g) == 0).float().mean().item()
    assert share[1.0] == pytest.approx(0.6, abs=0.02)
    expected_sharp = 0.36 / (0.36 + 0.09 + 0.01)  # p^(1/T) renormalised, T = 0.5
    assert share[0.5] == pytest.approx(expected_sharp, abs=0.02)
    assert share[0.5] > share[1.0] > share[3.0] > 1 / 3


# ------------------------------------------------------------------ the recurrent model


@pytest.mark.parametrize("cell, emb", [("lstm", 8), ("gru", None), ("rnn", None)])
def test_rnnlm_forward_shapes_and_loss_match_torch(cell, emb):
    torch.manual_seed(0)
    model = lm.RNNLM(11, 16, cell=cell, embedding_size=emb, num_layers=2, dropout=0.1).eval()
    idx = torch.randint(0, 11, (4, 9))
    targets = torch.randint(0, 11, (4, 9))
    logits, loss = model(idx, targets)
    assert logits.shape == (4, 9, 11)
    assert torch.allclose(loss, F.cross_entropy(logits.reshape(-1, 11), targets.reshape(-1)))
    assert model(idx)[1] is None


def test_rnnlm_is_causal():
    torch.manual_seed(0)
    model = lm.RNNLM(7, 12).eval()
    idx = torch.randint(0, 7, (2, 10))
    changed = idx.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 7
    with torch.no_grad():
        a, b = model(idx)[0], model(changed)[0]
    assert torch.allclose(a[:, :6], b[:, :6])
    assert not torch.allclose(a[:, 6:], b[:, 6:])


def test_carrying_the_state_equals_one_run_over_the_whole_sequence():
    torch.manual_seed(0)
    model = lm.RNNLM(9, 10, cell="lstm", embedding_size=4).eval()
    idx = torch.randint(0, 9, (3, 12))
    with torch.no_grad():
        whole, _ = model.run(idx)
        first, state = model.run(idx[:, :5])
        second, _ = model.run(idx[:, 5:], lm.detach_state(state))
        fresh, _ = model.run(idx[:, 5:])
    assert torch.allclose(torch.cat([first, second], dim=1), whole, atol=1e-6)
    assert not torch.allclose(fresh, whole[:, 5:], atol=1e-3)


def test_stream_batches_continue_each_row_from_the_previous_batch():
    ids = np.arange(100)
    batches = list(lm.stream_batches(ids, batch_size=3, seq_len=5))
    assert len(batches) == (99 // 3) // 5
    for (x0, y0), (x1, _) in zip(batches, batches[1:], strict=False):
        assert torch.equal(x1[:, 0], y0[:, -1])  # row i of batch b+1 continues row i
        assert torch.equal(y0, x0 + 1)  # targets are the next tokens
    with pytest.raises(ValueError, match="too few"):
        next(lm.stream_batches(np.arange(10), batch_size=4, seq_len=5))


def test_evaluate_windows_is_the_mean_over_all_windows():
    torch.manual_seed(0)
    model = lm.RNNLM(5, 8).eval()
    ids = np.random.default_rng(0).integers(0, 5, 40)
    got = lm.evaluate_windows(model, ids, window=6)
    losses = []
    with torch.no_grad():
        for s in range(len(ids) - 6):
            seq = torch.tensor(ids[s : s + 7])[None]
            losses.append(float(model(seq[:, :-1], seq[:, 1:])[1]))
    assert got == pytest.approx(np.mean(losses), rel=1e-5)


def test_evaluate_stream_with_state_equals_one_pass():
    torch.manual_seed(0)
    model = lm.RNNLM(5, 8, cell="gru").eval()
    ids = np.random.default_rng(1).integers(0, 5, 50)
    with torch.no_grad():
        t = torch.tensor(ids)[None]
        one_pass = float(model(t[:, :-1], t[:, 1:])[1])
    assert lm.evaluate_stream(model, ids, seq_len=7) == pytest.approx(one_pass, rel=1e-5)
    chunks = []  # without the state: every chunk of 7 starts from zeros
    with torch.no_grad():
        for s in range(0, 49, 7):
            seq = torch.tensor(ids[s : s + 8])[None]
            chunks.append(float(model(seq[:, :-1], seq[:, 1:])[1]) * (seq.shape[1] - 1))
    reset = lm.evaluate_stream(model, ids, seq_len=7, carry_state=False)
    assert reset == pytest.approx(sum(chunks) / 49, rel=1e-5)
    assert reset != pytest.approx(one_pass, rel=1e-5)


def test_generate_keeps_the_prefix_and_is_seeded():
    torch.manual_seed(0)
    model = lm.RNNLM(6, 8)
    a = lm.generate(model, [1, 2], steps=10, temperature=1.0, seed=3)
    assert len(a) == 12 and a[:2] == [1, 2]
    assert a == lm.generate(model, [1, 2], steps=10, temperature=1.0, seed=3)
    assert model.training  # restored
    greedy = lm.generate(model, [1, 2], steps=10, temperature=0)
    assert greedy == lm.generate(model, [1, 2], steps=10, temperature=0, seed=99)


@pytest.fixture
def one_thread():
    """Small models train fastest on one thread (two wait for each other on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_a_short_training_beats_the_unigram_baseline(one_thread):
    text = "the time machine " * 60
    vocab = lm.Vocabulary(lm.tokenize(text))
    ids = vocab.encode(lm.tokenize(text))
    unigram = lm.NGramLM(1, len(vocab)).fit(ids).nll(ids).mean()
    torch.manual_seed(0)
    model = lm.RNNLM(len(vocab), 32, embedding_size=8)
    hist = lm.train_lm(model, ids, steps=60, batch_size=8, seq_len=16, lr=0.02, device="cpu")
    assert len(hist.loss) == 60 and hist.seconds > 0
    assert hist.loss[-1] < hist.loss[0]
    assert lm.evaluate_stream(model, ids) < 0.5 * unigram
    with pytest.raises(ValueError, match="cell"):
        lm.RNNLM(5, 4, cell="transformer")


def test_perplexity_is_exp_of_mean_nll():
    assert lm.perplexity(math.log(7.0)) == pytest.approx(7.0)


def test_lm_step_takes_the_same_steps_as_train_lm(one_thread):
    ids = np.random.default_rng(0).integers(0, 7, 600)
    losses = {}
    for carry in (True, False):
        torch.manual_seed(0)
        a = lm.RNNLM(7, 12, cell="lstm", embedding_size=4)
        b = copy.deepcopy(a)
        kw = dict(steps=25, batch_size=4, seq_len=16, lr=0.02, carry_state=carry, seed=3)
        hist = lm.train_lm(a, ids, device="cpu", **kw)
        step = lm.lm_step(b, ids, device="cpu", **kw)
        losses[carry] = [step(i) for i in range(1, 26)]
        assert losses[carry] == pytest.approx(hist.loss, rel=1e-6)  # 9 batches a pass: 2 passes
        for p, q in zip(a.parameters(), b.parameters(), strict=True):
            assert torch.allclose(p, q, atol=1e-6)
    assert losses[True] != pytest.approx(losses[False], rel=1e-6)


def test_lm_step_trains_under_the_comparison_protocol(one_thread):
    from course_rnn.experiment import fit

    text = "the time machine " * 40
    vocab = lm.Vocabulary(lm.tokenize(text))
    ids = vocab.encode(lm.tokenize(text))
    torch.manual_seed(0)
    model = lm.RNNLM(len(vocab), 16, embedding_size=8)
    step = lm.lm_step(model, ids, steps=40, batch_size=4, seq_len=16, lr=0.02, device="cpu")
    run = fit("lstm", model, step, lambda: lm.evaluate_stream(model, ids), steps=40, eval_every=10)
    assert run.steps == [0, 10, 20, 30, 40] and len(run.train_loss) == 40
    assert run.best_val < run.val[0]
    assert lm.evaluate_stream(model, ids) == pytest.approx(run.best_val, rel=1e-6)  # kept


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_ngram_windows_nll_cuts_the_context_at_each_window_start(order):
    ids = np.random.default_rng(order).integers(0, 4, 60).tolist()
    model = lm.NGramLM(order, vocab_size=4).fit(ids[:40])
    window = 6
    nlls = []
    for s in range(len(ids) - window):
        for j in range(1, window + 1):  # target ids[s + j], context inside the window only
            context = ids[s : s + j][-(order - 1) :] if order > 1 else []
            nlls.append(-math.log(model.prob(context, ids[s + j])))
    assert lm.ngram_windows_nll(model, ids, window) == pytest.approx(np.mean(nlls), rel=1e-12)
    if order > 1:  # a shorter context scores the lower-order model
        lower = lm.NGramLM(order - 1, vocab_size=4).fit(ids[:40])
        shorter = lm.ngram_windows_nll(model, ids, window, context=order - 2)
        assert shorter == pytest.approx(lm.ngram_windows_nll(lower, ids, window), rel=1e-12)
    with pytest.raises(ValueError, match="too few"):
        lm.ngram_windows_nll(model, ids[:6], window)
