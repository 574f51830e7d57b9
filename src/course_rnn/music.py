"""Music as a sequence of note tokens: a next-token LSTM, a piano roll, and a small synthesiser.

The tokens are those of :mod:`course_rnn.data.chorales`: four voices (S, A, T, B) read
step by step, each voice at each step a pitch that starts, a hold or a rest.

- :class:`NoteLSTM` predicts the next token from the tokens so far (a language model
  over notes) and samples new music with :meth:`NoteLSTM.generate`.
- :func:`mean_nll` measures it: the negative log-likelihood per token on whole pieces;
  :func:`token_nll` gives the cost of every token, to split it by kind or voice.
- Count baselines to measure it against: :class:`VoiceFrequencies` (each voice's token
  frequencies, optionally given the voice's previous step) and :class:`VoiceNGram` (a
  Witten-Bell n-gram told whose turn it is); :func:`sample_tokens` composes with them.
- :func:`note_list`, :func:`piano_roll` draw a grid of pitches as horizontal bars.
- :func:`synthesize` turns the grid into sound with numpy (a few harmonics per note, no
  sound font), :func:`wav_bytes` into a 16-bit WAV file in memory, and
  :func:`audio_player` into an HTML ``<audio>`` player with a visible label, its sound
  embedded as base64 so that the page plays offline.
"""

from __future__ import annotations

import base64
import html
import io
import wave
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from torch import nn

from course_rnn.data import IGNORE_INDEX

#: One colour per voice S, A, T, B (Okabe-Ito, colour-blind safe).
VOICE_COLORS = ("#D55E00", "#009E73", "#0072B2", "#CC79A7")
VOICE_NAMES = ("soprano", "alto", "tenor", "bass")


class NoteLSTM(nn.Module):
    """Next note token from the previous ones: embedding -> LSTM -> logits.

    Sequences start with a soprano token, so position t holds voice t mod 4. Each step
    reads token x_t plus an embedding of the voice of the token to predict (t + 1) mod 4:
    the model is told whose turn it is, and learns what that voice does next.

    Shapes: ``x`` (N, T) token ids; ``outputs`` (N, T, V) logits for tokens 1..T;
    ``targets`` (N, T) ids, -100 where padded.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_size: int = 32,
        hidden_size: int = 128,
        num_layers: int = 1,
        voices: int = 4,
    ):
        super().__init__()
        self.voices = voices
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.voice = nn.Embedding(voices, embed_size)
        self.rnn = nn.LSTM(embed_size, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def _inputs(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Token embedding plus the embedding of the next token's voice: (N, T, E)."""
        positions = torch.arange(start, start + x.shape[1], device=x.device)
        next_voice = (positions + 1) % self.voices  # (T,)
        return self.embed(x) + self.voice(next_voice)  # (N, T, E)

    def forward(
        self, x: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Read x_1..x_T; at each step emit logits for the next token; mean NLL per token."""
        hs, _ = self.rnn(self._inputs(x.long()))  # (N, T, H)
        logits = self.head(hs)  # (N, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]),
                targets.reshape(-1).long(),
                ignore_index=IGNORE_INDEX,
            )
        return logits, loss

    @torch.no_grad()
    def generate(
        self,
        prefix: torch.Tensor,
        steps: int,
        temperature: float = 1.0,
        seed: int | None = None,
    ) -> torch.Tensor:
        """Continue each row of ``prefix`` (N, T0) by ``steps`` sampled tokens: (N, T0 + steps).

        The logits are divided by ``temperature`` before the softmax: below 1 the samples
        keep closer to the most likely notes, above 1 they wander.
        """
        if prefix.dim() != 2 or prefix.shape[1] < 1:
            raise ValueError(
                f"prefix: expected token ids (N, T0) with T0 >= 1, got {tuple(prefix.shape)}"
            )
        if temperature <= 0:
            raise ValueError(f"temperature: expected a positive number, got {temperature}")
        was_training = self.training
        self.eval()
        generator = torch.Generator(device=prefix.device)
        if seed is not None:
            generator.manual_seed(seed)
        tokens = prefix.long()
        hs, state = self.rnn(self._inputs(tokens))  # read the prefix: (N, T0, H)
        for _ in range(steps):
            probs = F.softmax(self.head(hs[:, -1]) / temperature, dim=-1)  # (N, V)
            nxt = torch.multinomial(probs, 1, generator=generator)  # (N, 1)
            tokens = torch.cat([tokens, nxt], dim=1)
            hs, state = self.rnn(self._inputs(nxt, start=tokens.shape[1] - 1), state)
        self.train(was_training)
        return tokens


def token_windows(
    sequences: Sequence[np.ndarray], length: int, n: int, seed: int = 0, voices: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random training windows: inputs and the same tokens shifted by one.

    Each window starts at a soprano token (a multiple of ``voices``) inside one sequence.

    Returns:
        ``x`` int64 (n, length) and ``y`` int64 (n, length) with ``y[:, t] = x[:, t + 1]``
        in the sequence the window comes from.
    """
    usable = [s for s in sequences if len(s) > length]
    if not usable:
        raise ValueError(f"sequences: expected at least one longer than length={length}")
    rng = np.random.default_rng(seed)
    weights = np.array([len(s) - length for s in usable], dtype=np.float64)
    picks = rng.choice(len(usable), size=n, p=weights / weights.sum())
    x = np.empty((n, length), dtype=np.int64)
    y = np.empty((n, length), dtype=np.int64)
    for i, k in enumerate(picks):
        s = usable[k]
        start = voices * rng.integers(0, (len(s) - length - 1) // voices + 1)
        x[i] = s[start : start + length]
        y[i] = s[start + 1 : start + length + 1]
    return x, y


@torch.no_grad()
def mean_nll(model: nn.Module, sequences: Sequence[np.ndarray], batch_size: int = 16) -> float:
    """Negative log-likelihood per predicted token (nats), over whole sequences.

    Each sequence is read from its first token, with a fresh state; every later token is
    predicted once. The mean is over all predicted tokens of all sequences.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device  # the batches go where the model is
    total, count = 0.0, 0
    for i in range(0, len(sequences), batch_size):
        chunk = sequences[i : i + batch_size]
        T = max(len(s) for s in chunk) - 1
        x = np.zeros((len(chunk), T), dtype=np.int64)
        y = np.full((len(chunk), T), IGNORE_INDEX, dtype=np.int64)
        for j, s in enumerate(chunk):
            x[j, : len(s) - 1] = s[:-1]
            y[j, : len(s) - 1] = s[1:]
        logits, _ = model(torch.as_tensor(x, device=device))
        nll = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            torch.as_tensor(y, device=device).reshape(-1),
            ignore_index=IGNORE_INDEX,
            reduction="sum",
        )
        total += float(nll)
        count += int((y != IGNORE_INDEX).sum())
    model.train(was_training)
    return total / count


def unigram_nll(train: Sequence[np.ndarray], test: Sequence[np.ndarray], vocab_size: int) -> float:
    """NLL per token (nats) of test tokens under the training tokens' frequencies.

    The note-frequency baseline: it knows how common each token is and nothing else.
    Every token gets a count of at least 1 (add-one smoothing) so that none has
    probability 0. The first token of each test sequence is left out, as in :func:`mean_nll`.
    """
    counts = np.bincount(np.concatenate(list(train)), minlength=vocab_size) + 1.0
    log_p = np.log(counts / counts.sum())
    predicted = np.concatenate([np.asarray(s)[1:] for s in test])
    return float(-log_p[predicted].mean())


def token_nll(
    model: nn.Module, sequences: Sequence[np.ndarray], batch_size: int = 16
) -> list[np.ndarray]:
    """The NLL (nats) of every predicted token: one float64 array (L - 1,) per sequence.

    As :func:`mean_nll` (whole sequences, a fresh state each), but token by token, so the
    cost can be split by kind of token or by voice.
    """
    was_training = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(sequences), batch_size):
            chunk = sequences[i : i + batch_size]
            T = max(len(s) for s in chunk) - 1
            x = np.zeros((len(chunk), T), dtype=np.int64)
            y = np.full((len(chunk), T), IGNORE_INDEX, dtype=np.int64)
            for j, s in enumerate(chunk):
                x[j, : len(s) - 1] = s[:-1]
                y[j, : len(s) - 1] = s[1:]
            logits, _ = model(torch.as_tensor(x))  # (N, T, V)
            nll = F.cross_entropy(
                logits.transpose(1, 2),
                torch.as_tensor(y),
                ignore_index=IGNORE_INDEX,
                reduction="none",
            ).numpy()  # (N, T)
            out += [nll[j, : len(s) - 1].astype(np.float64) for j, s in enumerate(chunk)]
    model.train(was_training)
    return out


class VoiceFrequencies:
    """A cheap baseline: each voice's token frequencies, optionally given its previous step.

    Position t of a token sequence holds voice t mod ``voices`` (S, A, T, B). With
    ``previous=False`` the next token's probability is its frequency among that voice's
    training tokens (add-one smoothing): the model knows each voice's range and rhythm
    and nothing else. With ``previous=True`` it is conditioned on the same voice's token
    one step earlier, x_{t - voices} (Witten-Bell interpolation with the voice's
    frequencies, as in :class:`course_rnn.lm.NGramLM`): it also knows how each voice
    moves from one step to the next, but not what the other voices do.
    """

    def __init__(self, vocab_size: int, previous: bool = False, voices: int = 4):
        self.vocab_size, self.previous, self.voices = int(vocab_size), bool(previous), int(voices)
        self.p_voice = np.full((voices, vocab_size), 1.0 / vocab_size)  # P(x | voice)
        self.p_step = np.tile(self.p_voice[:, None, :], (1, vocab_size, 1))  # P(x | voice, prev)

    def fit(self, sequences: Sequence[np.ndarray]) -> VoiceFrequencies:
        """Count every voice's tokens (and token pairs one step apart). Returns ``self``."""
        V, K = self.vocab_size, self.voices
        unigram = np.ones((K, V))  # add-one
        pairs = np.zeros((K, V, V))  # [voice, previous token, token]
        for s in sequences:
            s = np.asarray(s, dtype=np.int64)
            grid = s[: len(s) // K * K].reshape(-1, K)  # (steps, voices)
            for v in range(K):
                np.add.at(unigram[v], s[v::K], 1)
                np.add.at(pairs[v], (grid[:-1, v], grid[1:, v]), 1)
        self.p_voice = unigram / unigram.sum(axis=1, keepdims=True)
        total = pairs.sum(axis=2, keepdims=True)  # c(h)
        types = (pairs > 0).sum(axis=2, keepdims=True)  # u(h)
        backoff = self.p_voice[:, None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            step = (pairs + types * backoff) / (total + types)
        self.p_step = np.where(total > 0, step, backoff)
        return self

    def probs(self, context: Sequence[int]) -> np.ndarray:
        """float64 (V,): P(next token | the tokens so far); the sequence starts at a soprano."""
        t = len(context)
        v = t % self.voices
        if self.previous and t >= self.voices:
            return self.p_step[v, int(context[t - self.voices])]
        return self.p_voice[v]

    def nll(self, ids: Sequence[int]) -> np.ndarray:
        """float64 (L-1,): -log P(x_t | the tokens before it) for t = 2..L, as NGramLM.nll."""
        ids = np.asarray(ids, dtype=np.int64)
        t = np.arange(1, len(ids))
        v = t % self.voices
        p = self.p_voice[v, ids[t]]
        if self.previous:
            later = t >= self.voices
            tl = t[later]
            p[later] = self.p_step[v[later], ids[tl - self.voices], ids[tl]]
        return -np.log(p)


class VoiceNGram:
    """A Witten-Bell n-gram over note tokens that is told whose turn it is.

    :class:`course_rnn.lm.NGramLM` reads plain tokens and must guess from its context
    which voice comes next; :class:`NoteLSTM` is told. To give the n-gram the same
    information, each token is tagged with its voice (id + V * voice, a vocabulary of
    4V) before counting. :meth:`nll` scores the tagged token, so the little probability
    the smoothing gives to other voices' tokens is lost (in the chorales about 0.03%, a
    negligible cost); :meth:`probs` keeps the next voice's tokens and renormalises.
    """

    def __init__(self, order: int, vocab_size: int, voices: int = 4):
        from course_rnn.lm import NGramLM

        self.order, self.vocab_size, self.voices = int(order), int(vocab_size), int(voices)
        self.lm = NGramLM(order, voices * vocab_size)
        self._counts: dict[tuple[int, ...], np.ndarray] = {}  # (context..., voice) -> (V,)

    def tag(self, ids: Sequence[int]) -> np.ndarray:
        """int64 (L,): token id + V * (its voice), position t holding voice t mod 4."""
        ids = np.asarray(ids, dtype=np.int64)
        return ids + self.vocab_size * (np.arange(len(ids)) % self.voices)

    def fit(self, sequences: Sequence[np.ndarray]) -> VoiceNGram:
        """Count the k-grams (k <= order) of all sequences, end to end. Returns ``self``."""
        self.lm.fit(np.concatenate([self.tag(s) for s in sequences]))
        self._counts.clear()
        return self

    def nll(self, ids: Sequence[int], context: int | None = None) -> np.ndarray:
        """float64 (L-1,): -log P(x_t | at most ``context`` tokens before it), t = 2..L."""
        return self.lm.nll(self.tag(ids), context=context)

    def probs(self, context: Sequence[int], size: int | None = None) -> np.ndarray:
        """float64 (V,): P(next token | the last ``size`` tokens of ``context``).

        ``size`` defaults to order - 1. Only the next voice's tokens are kept, renormalised.
        """
        lm, V = self.lm, self.vocab_size
        size = self.order - 1 if size is None else min(int(size), self.order - 1)
        v = len(context) % self.voices
        h = tuple(int(i) for i in self.tag(context)[len(context) - size :]) if size else ()
        p = np.full(V, 1.0 / lm.vocab_size)  # below the unigram: uniform
        for k in range(len(h) + 1):  # from the empty context up to the longest
            ctx = h[len(h) - k :]
            total = lm.context_total.get(ctx, 0)
            if total:
                counts = self._counts.get((*ctx, v))
                if counts is None:  # c(ctx, w) for the next voice's tagged tokens w
                    ids = range(v * V, (v + 1) * V)
                    counts = np.array([lm.counts.get((*ctx, w), 0) for w in ids])
                    self._counts[(*ctx, v)] = counts
                types = lm.context_types[ctx]
                p = (counts + types * p) / (total + types)
        return p / p.sum()


def sample_tokens(
    probs: Callable[[Sequence[int]], np.ndarray],
    prefix: Sequence[int],
    steps: int,
    temperature: float = 1.0,
    seed: int | None = None,
) -> np.ndarray:
    """Continue ``prefix`` by ``steps`` tokens drawn from a count model: int64 (T0 + steps,).

    ``probs(tokens_so_far)`` gives the next token's distribution (V,), e.g.
    ``VoiceFrequencies.probs`` or ``VoiceNGram.probs``. As in
    :meth:`NoteLSTM.generate`, the temperature divides the log-probabilities.
    """
    if temperature <= 0:
        raise ValueError(f"temperature: expected a positive number, got {temperature}")
    rng = np.random.default_rng(seed)
    tokens = [int(t) for t in prefix]
    for _ in range(int(steps)):
        p = np.asarray(probs(tokens), dtype=np.float64) ** (1.0 / temperature)
        tokens.append(int(rng.choice(len(p), p=p / p.sum())))
    return np.array(tokens, dtype=np.int64)


# --------------------------------------------------------------------------- notes


def note_list(pitch: np.ndarray, onset: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The notes of a grid: ``(voice, start_step, length_in_steps, midi)`` for each note.

    ``pitch`` (T, V) is the MIDI pitch sounding (0: rest); ``onset`` (T, V) marks the
    steps where a note starts. A note lasts until the next onset, rest or pitch change.
    """
    pitch, onset = np.asarray(pitch), np.asarray(onset, dtype=bool)
    if pitch.shape != onset.shape or pitch.ndim != 2:
        raise ValueError(
            f"pitch, onset: expected two arrays of shape (T, V), "
            f"got {pitch.shape} and {onset.shape}"
        )
    notes = []
    T, V = pitch.shape
    for v in range(V):
        start = None
        for t in range(T + 1):
            ends = (
                t == T
                or pitch[t, v] == 0
                or onset[t, v]
                or (start is not None and pitch[t, v] != pitch[start, v])
            )
            if start is not None and ends:
                notes.append((v, start, t - start, int(pitch[start, v])))
                start = None
            if t < T and pitch[t, v] > 0 and start is None:
                start = t
    return sorted(notes, key=lambda n: (n[1], n[0]))


def piano_roll(
    ax: Axes,
    pitch: np.ndarray,
    onset: np.ndarray,
    steps_per_quarter: int = 2,
    title: str | None = None,
    legend: bool = True,
) -> Axes:
    """Draw a grid (T, 4) as a piano roll: time in quarter notes across, pitch up.

    Each note is a bar from its start to its end, coloured by voice (S, A, T, B).
    """
    for v, start, length, midi in note_list(pitch, onset):
        ax.broken_barh(
            [(start / steps_per_quarter, length / steps_per_quarter)],
            (midi - 0.4, 0.8),
            facecolors=VOICE_COLORS[v % len(VOICE_COLORS)],
            edgecolors="white",
            linewidth=0.5,
        )
    sounding = np.asarray(pitch)[np.asarray(pitch) > 0]
    lo, hi = (int(sounding.min()), int(sounding.max())) if sounding.size else (48, 72)
    cs = [m for m in range(lo - lo % 12, hi + 12, 12) if lo - 2 <= m <= hi + 2]
    ax.set_yticks(cs, [f"C{m // 12 - 1}" for m in cs])
    ax.set_ylim(lo - 2, hi + 2)
    ax.set_xlim(0, len(pitch) / steps_per_quarter)
    ax.set_xlabel("time (quarter notes)")
    ax.set_ylabel("pitch")
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    if title:
        ax.set_title(title)
    if legend:
        from matplotlib.patches import Patch

        handles = [Patch(color=c, label=n) for c, n in zip(VOICE_COLORS, VOICE_NAMES, strict=True)]
        ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


# --------------------------------------------------------------------------- sound


def midi_to_hz(midi: float | np.ndarray) -> float | np.ndarray:
    """Equal temperament with A4 = MIDI 69 = 440 Hz."""
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def synthesize(
    pitch: np.ndarray,
    onset: np.ndarray,
    steps_per_quarter: int = 2,
    bpm: float = 80.0,
    sample_rate: int = 11025,
    harmonics: Sequence[float] = (1.0, 0.5, 0.25, 0.125),
) -> np.ndarray:
    """Play a grid (T, V) as mono audio: float32 (samples,) in [-1, 1].

    Each note is a sum of sine waves at the fundamental and its first multiples, weighted
    by ``harmonics``, shaped by a 10 ms attack, a gentle decay and a 30 ms release (no
    clicks). ``bpm`` quarter notes per minute set the speed.
    """
    if sample_rate < 1000 or bpm <= 0:
        raise ValueError(f"sample_rate, bpm: expected >= 1000 and > 0, got {sample_rate}, {bpm}")
    step_seconds = 60.0 / bpm / steps_per_quarter
    n_samples = int(round(len(pitch) * step_seconds * sample_rate))
    audio = np.zeros(n_samples, dtype=np.float64)
    attack, release = int(0.01 * sample_rate), int(0.03 * sample_rate)
    for _, start, length, midi in note_list(pitch, onset):
        a = int(round(start * step_seconds * sample_rate))
        b = min(int(round((start + length) * step_seconds * sample_rate)), n_samples)
        t = np.arange(b - a) / sample_rate
        f0 = float(midi_to_hz(midi))
        wave_ = sum(
            w * np.sin(2 * np.pi * f0 * (k + 1) * t)
            for k, w in enumerate(harmonics)
            if f0 * (k + 1) < sample_rate / 2  # stay below the Nyquist frequency
        )
        envelope = np.exp(-1.5 * t)  # a slow decay, like a reed organ
        envelope[:attack] *= np.linspace(0.0, 1.0, min(attack, len(t)))
        r = min(release, len(t))
        envelope[len(t) - r :] *= np.linspace(1.0, 0.0, r)
        audio[a:b] += wave_ * envelope
    peak = np.abs(audio).max()
    if peak > 0:
        audio *= 0.9 / peak
    return audio.astype(np.float32)


def wav_bytes(audio: np.ndarray, sample_rate: int = 11025) -> bytes:
    """Mono float audio in [-1, 1] as the bytes of a 16-bit PCM WAV file."""
    samples = np.clip(np.asarray(audio, dtype=np.float64), -1.0, 1.0)
    pcm = (samples * 32767).round().astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(sample_rate)
        f.writeframes(pcm.tobytes())
    return buffer.getvalue()


def audio_html(audio: np.ndarray, label: str, sample_rate: int = 11025) -> str:
    """An HTML ``<figure>``: a visible caption ``label`` and an ``<audio>`` player.

    The WAV data is embedded as base64 in the page, so it plays offline.
    """
    data = base64.b64encode(wav_bytes(audio, sample_rate)).decode("ascii")
    text = html.escape(label)
    return (
        '<figure class="audio-player">'
        f"<figcaption>{text}</figcaption>"
        f'<audio controls preload="metadata" aria-label="{text}" '
        f'src="data:audio/wav;base64,{data}"></audio>'
        "</figure>"
    )


def audio_player(audio: np.ndarray, label: str, sample_rate: int = 11025):
    """:func:`audio_html` as an IPython ``HTML`` object, for a notebook cell to display."""
    from IPython.display import HTML

    return HTML(audio_html(audio, label, sample_rate))
