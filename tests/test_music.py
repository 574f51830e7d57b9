"""course_rnn.music: the note LSTM, its baselines and measures, the piano roll, the synthesiser."""

import base64
import io
import wave

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_rnn import music
from course_rnn.lm import NGramLM

matplotlib.use("Agg")


def _grid(rows):
    """pitch and onset arrays from rows of (pitch, starts?) pairs, one pair per voice."""
    pitch = np.array([[p for p, _ in row] for row in rows], dtype=np.int64)
    onset = np.array([[o for _, o in row] for row in rows], dtype=bool)
    return pitch, onset


# ------------------------------------------------------------------------- the model


def test_note_lstm_shapes_and_loss_is_mean_cross_entropy():
    torch.manual_seed(0)
    model = music.NoteLSTM(vocab_size=12, embed_size=8, hidden_size=16)
    x = torch.randint(0, 12, (3, 10))
    y = torch.randint(0, 12, (3, 10))
    y[0, 7:] = music.IGNORE_INDEX
    logits, loss = model(x, y)
    assert logits.shape == (3, 10, 12)
    expected = F.cross_entropy(logits.reshape(-1, 12), y.reshape(-1), ignore_index=-100)
    assert float(loss.detach()) == pytest.approx(float(expected.detach()))
    assert model(x)[1] is None


def test_note_lstm_is_told_the_voice_of_the_next_token():
    torch.manual_seed(0)
    model = music.NoteLSTM(vocab_size=5, embed_size=4, hidden_size=8)
    x = torch.zeros((1, 8), dtype=torch.long)  # the same token everywhere
    inputs = model._inputs(x)
    # positions 0..7 hold voices 0..3, 0..3: the input carries the voice (t + 1) mod 4
    for t in range(8):
        expected = model.embed.weight[0] + model.voice.weight[(t + 1) % 4]
        assert torch.allclose(inputs[0, t], expected)
    assert not torch.allclose(inputs[0, 0], inputs[0, 1])


def test_generate_continues_the_prefix_as_forward_would_predict():
    torch.manual_seed(1)
    model = music.NoteLSTM(vocab_size=9, embed_size=8, hidden_size=16)
    prefix = torch.randint(0, 9, (2, 6))
    out = model.generate(prefix, steps=10, temperature=1e-4, seed=0)  # almost greedy
    assert out.shape == (2, 16) and torch.equal(out[:, :6], prefix)
    logits, _ = model(out[:, :-1])  # one pass over the whole sequence
    greedy = logits.argmax(-1)  # (2, 15): the most likely token after each position
    assert torch.equal(out[:, 6:], greedy[:, 5:])


def test_generate_is_seeded_and_temperature_spreads_the_samples():
    torch.manual_seed(2)
    model = music.NoteLSTM(vocab_size=9, embed_size=8, hidden_size=16)
    prefix = torch.zeros((64, 1), dtype=torch.long)
    a = model.generate(prefix, steps=20, seed=5)
    assert torch.equal(a, model.generate(prefix, steps=20, seed=5))
    cold = model.generate(prefix, steps=20, temperature=0.05, seed=5)
    hot = model.generate(prefix, steps=20, temperature=5.0, seed=5)
    assert len(torch.unique(hot[:, 1:])) > len(torch.unique(cold[:, 1:]))
    with pytest.raises(ValueError):
        model.generate(prefix, steps=2, temperature=0.0)


# ------------------------------------------------------------------ data and measures


def test_token_windows_are_shifted_by_one_and_start_at_a_soprano_token():
    sequences = [np.arange(40) * 10 + k for k in range(3)]  # token value encodes position
    x, y = music.token_windows(sequences, length=12, n=50, seed=0)
    assert x.shape == y.shape == (50, 12)
    np.testing.assert_array_equal(y[:, :-1], x[:, 1:])
    np.testing.assert_array_equal(y[:, -1], x[:, -1] + 10)
    positions = x[:, 0] // 10
    assert np.all(positions % 4 == 0)
    x2, _ = music.token_windows(sequences, length=12, n=50, seed=0)
    np.testing.assert_array_equal(x, x2)
    with pytest.raises(ValueError):
        music.token_windows(sequences, length=40, n=1)


def test_mean_nll_averages_over_every_predicted_token_of_whole_sequences():
    torch.manual_seed(3)
    model = music.NoteLSTM(vocab_size=7, embed_size=4, hidden_size=8)
    rng = np.random.default_rng(0)
    sequences = [rng.integers(0, 7, size=n) for n in (9, 5, 13)]
    total, count = 0.0, 0
    for s in sequences:  # one at a time, no padding
        logits, _ = model(torch.as_tensor(s[None, :-1]))
        total += float(F.cross_entropy(logits[0], torch.as_tensor(s[1:]), reduction="sum").detach())
        count += len(s) - 1
    assert music.mean_nll(model, sequences, batch_size=2) == pytest.approx(total / count, rel=1e-5)


def test_unigram_nll_is_the_cross_entropy_of_smoothed_frequencies():
    train = [np.array([0, 0, 1, 2]), np.array([0, 1])]
    test = [np.array([2, 0, 1]), np.array([1, 1])]
    counts = np.array([3, 2, 1, 0]) + 1.0
    p = counts / counts.sum()
    expected = -np.mean(np.log(p[[0, 1, 1]]))  # first token of each test sequence left out
    assert music.unigram_nll(train, test, vocab_size=4) == pytest.approx(expected)
    uniform = [np.arange(4)]
    assert music.unigram_nll(uniform, [np.arange(4)], 4) == pytest.approx(np.log(4))


# ------------------------------------------------------------------ notes, roll, sound


def test_note_list_splits_at_onsets_rests_and_pitch_changes():
    pitch, onset = _grid(
        [
            [(60, True), (48, True)],
            [(60, False), (48, True)],  # voice 0 held, voice 1 repeated
            [(0, False), (50, False)],  # voice 0 rests; voice 1 changes pitch without onset
            [(62, True), (50, False)],
        ]
    )
    notes = music.note_list(pitch, onset)
    assert set(notes) == {(0, 0, 2, 60), (0, 3, 1, 62), (1, 0, 1, 48), (1, 1, 1, 48), (1, 2, 2, 50)}


def test_piano_roll_draws_one_bar_per_note():
    import matplotlib.pyplot as plt

    pitch, onset = _grid([[(72, True), (60, True), (55, True), (48, True)]] * 2)
    onset[1] = [False, True, False, False]
    fig, ax = plt.subplots()
    music.piano_roll(ax, pitch, onset, steps_per_quarter=2)
    assert len(ax.collections) == 5  # 4 voices, one repeated note in the alto
    lo, hi = ax.get_ylim()
    assert lo < 48 and hi > 72
    plt.close(fig)


def test_synthesize_plays_the_right_frequency_for_the_right_time():
    rate = 8000
    pitch, onset = _grid([[(69, True)]] * 4 + [[(0, False)]] * 4)  # A4 for 4 steps, then rest
    audio = music.synthesize(pitch, onset, steps_per_quarter=2, bpm=60, sample_rate=rate)
    assert audio.dtype == np.float32 and len(audio) == 8 * 0.5 * rate
    assert np.abs(audio).max() == pytest.approx(0.9, abs=1e-6)
    note, silence = audio[: 2 * rate], audio[2 * rate :]
    assert np.all(silence == 0)
    spectrum = np.abs(np.fft.rfft(note))
    peak_hz = np.argmax(spectrum) * rate / len(note)
    assert peak_hz == pytest.approx(440, abs=1)
    assert abs(note[0]) < 0.01 and abs(note[-1]) < 0.01  # attack and release: no click


def test_wav_bytes_is_a_16_bit_mono_wav_of_the_samples():
    audio = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 2.0], dtype=np.float32)
    with wave.open(io.BytesIO(music.wav_bytes(audio, 8000))) as f:
        assert (f.getnchannels(), f.getsampwidth(), f.getframerate()) == (1, 2, 8000)
        pcm = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")
    np.testing.assert_array_equal(pcm, [0, 16384, -16384, 32767, -32767, 32767])


def test_audio_html_has_a_visible_label_and_embedded_wav():
    html = music.audio_html(np.zeros(100, dtype=np.float32), 'A "real" chorale & more', 8000)
    assert "<figcaption>A &quot;real&quot; chorale &amp; more</figcaption>" in html
    assert 'aria-label="A &quot;real&quot; chorale &amp; more"' in html
    assert "<audio controls" in html and "http" not in html
    data = html.split("base64,", 1)[1].split('"', 1)[0]
    assert base64.b64decode(data)[:4] == b"RIFF"


# ------------------------------------------------------------------- count baselines


def _sequences(seed=0, n=6, steps=30, vocab=9):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, vocab, size=4 * steps) for _ in range(n)]


def test_pooled_voice_frequencies_are_the_unigram_baseline():
    train, test = _sequences(0), _sequences(1)
    pooled = music.VoiceFrequencies(9, voices=1).fit(train)
    expected = music.unigram_nll(train, test, vocab_size=9)
    assert np.concatenate([pooled.nll(s) for s in test]).mean() == pytest.approx(expected)


@pytest.mark.parametrize("previous", [False, True])
def test_voice_frequencies_nll_is_minus_log_of_probs(previous):
    train = _sequences(2)
    model = music.VoiceFrequencies(9, previous=previous).fit(train)
    s = _sequences(3, n=1, steps=5)[0]
    expected = [-np.log(model.probs(s[:t])[s[t]]) for t in range(1, len(s))]
    np.testing.assert_allclose(model.nll(s), expected)
    for t in range(12):
        assert model.probs(s[:t]).sum() == pytest.approx(1.0)
        assert np.all(model.probs(s[:t]) > 0)


def test_voice_frequencies_keep_each_voice_and_its_previous_step_apart():
    # voice v plays 2v and 2v + 1 in turn: each voice's next token follows from its last
    steps = np.arange(40) % 2
    seq = np.stack([2 * v + steps for v in range(4)], axis=1).reshape(-1)
    per_voice = music.VoiceFrequencies(8).fit([seq])
    per_step = music.VoiceFrequencies(8, previous=True).fit([seq])
    assert per_voice.probs(seq[:5])[[2, 3]].sum() > 0.8  # voice 1 plays 2 or 3
    assert per_step.probs(seq[:5])[3] > 0.9  # after its 2 comes its 3
    assert per_step.nll(seq).mean() < per_voice.nll(seq).mean() < np.log(8)


def test_voice_ngram_scores_tagged_tokens_and_samples_the_next_voice():
    train = _sequences(4, vocab=6)
    model = music.VoiceNGram(3, 6).fit(train)
    s = _sequences(5, n=1, steps=4, vocab=6)[0]
    tagged = s + 6 * (np.arange(len(s)) % 4)
    reference = NGramLM(3, 24).fit(np.concatenate([model.tag(t) for t in train]))
    np.testing.assert_allclose(model.nll(s), reference.nll(tagged))
    np.testing.assert_allclose(model.nll(s, context=1), reference.nll(tagged, context=1))
    for t in (0, 1, 5, 10):
        p = model.probs(s[:t])
        v = t % 4
        raw = [reference.prob(tagged[:t], w + 6 * v) for w in range(6)]
        np.testing.assert_allclose(p, np.array(raw) / sum(raw))
        np.testing.assert_allclose(model.probs(s[:t]), p)  # cached: the same numbers
        short = [reference.prob(tagged[max(0, t - 1) : t], w + 6 * v) for w in range(6)]
        np.testing.assert_allclose(model.probs(s[:t], size=1), np.array(short) / sum(short))


def test_sample_tokens_keeps_the_prefix_and_draws_from_probs():
    certain = music.VoiceFrequencies(5).fit([np.array([1, 2, 3, 4] * 10)])
    out = music.sample_tokens(certain.probs, [1, 2], steps=10, temperature=0.5, seed=0)
    assert out.tolist() == [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]
    rng = np.random.default_rng(0)
    spread = music.VoiceFrequencies(9).fit([rng.integers(0, 9, size=400)])
    a = music.sample_tokens(spread.probs, [0], steps=200, seed=3)
    assert a.tolist() == music.sample_tokens(spread.probs, [0], steps=200, seed=3).tolist()
    cold = music.sample_tokens(spread.probs, [0], steps=200, temperature=0.05, seed=3)
    assert len(set(cold[1:].tolist())) < len(set(a[1:].tolist()))
    with pytest.raises(ValueError):
        music.sample_tokens(spread.probs, [0], steps=1, temperature=0)


def test_token_nll_gives_every_token_of_mean_nll():
    torch.manual_seed(4)
    model = music.NoteLSTM(vocab_size=7, embed_size=4, hidden_size=8)
    rng = np.random.default_rng(1)
    sequences = [rng.integers(0, 7, size=n) for n in (9, 5, 13)]
    per_token = music.token_nll(model, sequences, batch_size=2)
    assert [len(c) for c in per_token] == [8, 4, 12]
    assert np.concatenate(per_token).mean() == pytest.approx(
        music.mean_nll(model, sequences), rel=1e-5
    )
