"""course_rnn.train: the loop learns, clips, stops early, and repeats itself under a seed."""

import numpy as np
import pytest
import torch
from torch import nn

from course_rnn import data, models
from course_rnn.train import History, seed_everything, train

torch.set_num_threads(1)


def _linear_problem(seed=0):
    """y = x . w for a fixed w: a model that a few Adam steps can fit."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((64, 3, 2)).astype(np.float32)
    y = (x.sum(axis=(1, 2)) * 0.5).astype(np.float32)
    return x, y


def _update(model, before):
    """All parameter changes since ``before``, flattened into one vector."""
    after = list(model.parameters())
    return torch.cat([(p.detach() - b).flatten() for p, b in zip(after, before, strict=True)])


def _small_model(seed=0):
    seed_everything(seed)
    return models.ManyToOne(2, 8, 1, cell="gru")


def test_history_records_loss_and_grad_norm_per_step():
    x, y = _linear_problem()
    history = train(_small_model(), data.batches(x, y, batch_size=16), steps=30, lr=1e-2)
    assert isinstance(history, History)
    assert history.steps == len(history.loss) == len(history.grad_norm) == 30
    assert all(g > 0 for g in history.grad_norm)
    assert np.mean(history.loss[-5:]) < 0.5 * np.mean(history.loss[:5])  # it learns


def test_same_seed_gives_the_same_history():
    x, y = _linear_problem()
    runs = [
        train(_small_model(1), data.batches(x, y, batch_size=16, seed=2), steps=15, seed=3)
        for _ in range(2)
    ]
    assert runs[0].loss == runs[1].loss and runs[0].grad_norm == runs[1].grad_norm


def test_clipping_bounds_the_applied_gradient_norm():
    x, y = _linear_problem()
    y = y * 100  # huge errors, huge gradients
    model = _small_model()
    before = [p.detach().clone() for p in model.parameters()]
    clip, lr = 0.1, 1.0
    sgd = torch.optim.SGD(model.parameters(), lr=lr)  # update = -lr * g: shows g as applied
    history = train(model, [(x, y)], steps=1, optimizer=sgd, clip=clip)
    update = _update(model, before)
    assert history.grad_norm[0] > 10 * clip  # the raw gradient was large...
    assert float(update.norm()) / lr == pytest.approx(clip, rel=1e-4)  # ...the applied one is clip


def test_without_clipping_the_full_gradient_is_applied():
    x, y = _linear_problem()
    model = _small_model()
    before = [p.detach().clone() for p in model.parameters()]
    sgd = torch.optim.SGD(model.parameters(), lr=1.0)
    history = train(model, [(x, y * 100)], steps=1, optimizer=sgd)
    update = _update(model, before)
    assert float(update.norm()) == pytest.approx(history.grad_norm[0], rel=1e-4)


def test_early_stop_at_target_loss():
    x, y = _linear_problem()
    history = train(
        _small_model(),
        data.batches(x, y, batch_size=64),
        steps=2000,
        lr=2e-2,
        target_loss=0.05,
        target_window=5,
    )
    assert history.stopped_early and history.steps < 2000
    assert np.mean(history.loss[-5:]) <= 0.05


def test_evaluate_callback_is_recorded_in_eval_mode():
    x, y = _linear_problem()
    modes = []

    def evaluate(model):
        modes.append(model.training)
        return 42.0

    history = train(_small_model(), [(x, y)], steps=10, evaluate=evaluate, eval_every=4)
    assert [s for s, _ in history.metric] == [4, 8, 10]
    assert all(v == 42.0 for _, v in history.metric) and modes == [False] * 3


def test_finite_batches_are_restarted():
    x, y = _linear_problem()
    history = train(_small_model(), [(x[:8], y[:8]), (x[8:16], y[8:16])], steps=5)
    assert history.steps == 5


def test_progress_bar_writes_to_stderr_only_when_asked(capsys):
    x, y = _linear_problem()
    train(_small_model(), [(x, y)], steps=3)
    assert capsys.readouterr().err == ""
    train(_small_model(), [(x, y)], steps=3, progress=True)
    assert "train" in capsys.readouterr().err


def test_bad_arguments_are_refused():
    x, y = _linear_problem()
    with pytest.raises(ValueError, match="steps"):
        train(_small_model(), [(x, y)], steps=0)
    with pytest.raises(ValueError, match="clip"):
        train(_small_model(), [(x, y)], steps=1, clip=-1.0)
    with pytest.raises(ValueError, match="pair"):
        train(_small_model(), [(x,)], steps=1)


def test_smoothed_loss_is_a_running_mean():
    history = History(loss=[4.0, 2.0, 0.0, 2.0])
    np.testing.assert_allclose(history.smoothed_loss(window=2), [4.0, 3.0, 1.0, 1.0])


def test_gru_learns_the_order_task_that_word_counts_cannot():
    train_s, train_y = data.order_task(600, seed=0, split="train")
    test_s, test_y = data.order_task(200, seed=1, split="test")
    vocab = data.Vocab.build(train_s + test_s)
    seed_everything(0)
    model = models.ManyToOne(16, 32, 2, cell="gru", vocab_size=len(vocab), loss="cross_entropy")
    batches = data.batches(vocab.encode_batch(train_s), train_y, batch_size=32, device="cpu")
    train(model, batches, steps=150, lr=1e-2, target_loss=0.01, target_window=5)
    model.eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(vocab.encode_batch(test_s)))[0].argmax(dim=1)
    assert (predicted.numpy() == test_y).mean() > 0.95  # word counts alone: 0.5


def test_char_model_beats_letter_frequencies_on_names():
    names = data.load_names()
    vocab = data.CharVocab.from_words(names)
    x, y = vocab.encode_batch(names)
    counts = np.bincount(y[y >= 0], minlength=len(vocab))
    p = counts[counts > 0] / counts.sum()
    unigram_entropy = float(-(p * np.log(p)).sum())  # best loss without context: ~2.8 nats
    seed_everything(0)
    model = models.ManyToMany(16, 64, len(vocab), cell="gru", vocab_size=len(vocab))
    history = train(model, data.batches(x, y, batch_size=64, device="cpu"), steps=100, lr=1e-2)
    assert np.mean(history.loss[-10:]) < unigram_entropy - 0.4


@pytest.mark.slow
def test_seq2seq_learns_to_reverse_sequences():
    src, tgt = data.reverse_task(3000, min_len=2, max_len=5, n_symbols=6, seed=0)
    test_src, test_tgt = data.reverse_task(200, min_len=2, max_len=5, n_symbols=6, seed=1)
    seed_everything(0)
    model = models.Seq2Seq(9, 9, 16, 64, cell="gru", max_len=6)
    train(model, data.batches(src, tgt, batch_size=64, device="cpu"), steps=300, lr=1e-2)
    decoded = model.greedy_decode(torch.from_numpy(test_src), max_len=6).numpy()
    expected = np.where(test_tgt == data.IGNORE_INDEX, data.PAD, test_tgt)  # (N, 6)
    exact = (decoded == expected).all(axis=1).mean()
    assert exact > 0.85, f"{exact:.2f} of the test sequences reversed exactly"


class _Constant(nn.Module):
    """Predicts one learned number for every sequence: the baseline."""

    def __init__(self):
        super().__init__()
        self.c = nn.Parameter(torch.zeros(1))

    def forward(self, x, targets=None):
        out = self.c.expand(len(x), 1)
        return out, None if targets is None else ((out[:, 0] - targets) ** 2).mean()


@pytest.mark.slow
def test_lstm_solves_the_adding_problem_where_the_baseline_cannot():
    T = 50
    x_test, y_test = data.adding_problem(1000, T, seed=12345)
    baseline = train(
        _Constant(), data.fresh_batches(data.adding_problem, 64, T=T), steps=300, lr=5e-2
    )
    seed_everything(0)
    model = models.ManyToOne(2, 32, 1, cell="lstm")
    history = train(
        model,
        data.fresh_batches(data.adding_problem, 64, seed=0, T=T),
        steps=1500,
        lr=1e-2,
        clip=1.0,
        target_loss=0.01,
    )
    model.eval()
    with torch.no_grad():
        mse = float(model(torch.from_numpy(x_test), torch.from_numpy(y_test))[1])
    assert np.mean(baseline.loss[-50:]) == pytest.approx(1 / 6, abs=0.03)
    assert mse < 0.05, f"test MSE {mse:.4f} after {history.steps} steps"
