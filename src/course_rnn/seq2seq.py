"""Sequence to sequence with attention: encoders, a decoder, greedy decoding, beam search.

An *encoder* reads the source tokens x_1..x_S and returns one vector per position (the
*annotations* h_1..h_S, (N, S, C)) and one summary vector (N, C). A *decoder* writes the
target one token at a time: at step t it reads the previous token y_{t-1}, its state
s_{t-1} and a *context* c_t, and gives the scores (logits) of the next token.

- Without attention, the context is the same summary at every step: the whole source
  must fit in one vector of size C.
- With additive attention (Bahdanau, Cho & Bengio 2015, "Neural machine translation by
  jointly learning to align and translate", arXiv:1409.0473), the decoder scores every
  annotation against its state s_{t-1}, turns the scores into weights with a softmax over
  the source positions and reads the weighted average:

      e_{t,s} = v^T tanh(W_q s_{t-1} + W_k h_s)       (N, S)
      alpha_{t,s} = softmax over s of e_{t,s}          (N, S), padding gets weight 0
      c_t = sum_s alpha_{t,s} h_s                      (N, C)

Two encoders share one interface, ``encoder(src) -> Memory``:

- :class:`RNNEncoder`: a bidirectional GRU, so h_s knows the characters on both sides.
- :class:`SelfAttentionEncoder`: a small Transformer encoder (Vaswani et al. 2017):
  every position attends to every other position at once, with no recurrence. Its
  attention matrices are (N, heads, S, S): quadratic in the length S.

:class:`EncoderDecoder` joins an encoder and a :class:`Decoder`. Its ``forward(src,
targets)`` returns ``(logits, loss)`` like every model of the course, with teacher forcing
(the decoder reads the true previous token). :meth:`EncoderDecoder.greedy` and
:meth:`EncoderDecoder.beam_search` write the target without it. Token ids follow
:mod:`course_rnn.data.copying`: ``PAD = 0``, ``BOS = 1``, ``EOS = 2``; targets are padded
with -100.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .data.copying import BOS, EOS, IGNORE_INDEX, PAD
from .device import get_device

__all__ = [
    "AdditiveAttention",
    "Decoder",
    "EncoderDecoder",
    "Memory",
    "RNNEncoder",
    "SelfAttentionEncoder",
    "bucket_batches",
    "exact_match",
    "make_model",
]


@dataclass
class Memory:
    """What an encoder hands to the decoder.

    Attributes:
        states: annotations h_1..h_S, (N, S, C).
        summary: one vector for the whole source, (N, C).
        mask: True at real tokens, False at padding, (N, S).
    """

    states: torch.Tensor
    summary: torch.Tensor
    mask: torch.Tensor

    def repeat(self, k: int) -> Memory:
        """Each sequence ``k`` times in a row, (N * k, ...): one copy per beam."""
        return Memory(
            *(t.repeat_interleave(k, dim=0) for t in (self.states, self.summary, self.mask))
        )


# ---------------------------------------------------------------- encoders


class RNNEncoder(nn.Module):
    """A bidirectional GRU over the source: h_s = [forward h_s ‖ backward h_s].

    ``summary`` is [forward h_S ‖ backward h_1]: the last state of each direction (after
    reading the whole source). ``context_size = hidden_size`` (each direction has half).
    """

    def __init__(self, vocab_size: int, embedding_size: int, hidden_size: int):
        super().__init__()
        if hidden_size % 2:
            raise ValueError(f"hidden_size: expected an even number, got {hidden_size}")
        self.context_size = hidden_size
        self.embed = nn.Embedding(vocab_size, embedding_size, padding_idx=PAD)
        self.rnn = nn.GRU(embedding_size, hidden_size // 2, batch_first=True, bidirectional=True)

    def forward(self, src: torch.Tensor) -> Memory:
        mask = src != PAD  # (N, S)
        x = self.embed(src)  # (N, S, E)
        if bool(mask.all()):  # no padding: no packing needed
            states, last = self.rnn(x)  # (N, S, C), (2, N, C/2)
        else:
            lengths = mask.sum(dim=1).clamp(min=1).cpu()
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            states, last = self.rnn(packed)
            states, _ = pad_packed_sequence(states, batch_first=True, total_length=src.shape[1])
        summary = torch.cat([last[0], last[1]], dim=-1)  # (N, C)
        return Memory(states, summary, mask)


def sinusoidal_positions(length: int, size: int, device=None) -> torch.Tensor:
    """(length, size) position codes of Vaswani et al. 2017: sin and cos at many scales."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]  # (S, 1)
    rate = torch.exp(
        torch.arange(0, size, 2, device=device, dtype=torch.float32) * (-math.log(1e4) / size)
    )  # (size/2,)
    codes = torch.zeros(length, size, device=device)
    codes[:, 0::2] = torch.sin(pos * rate)
    codes[:, 1::2] = torch.cos(pos * rate[: size // 2])
    return codes


class SelfAttentionLayer(nn.Module):
    """One Transformer encoder layer: multi-head self-attention, then a feed-forward net.

    Each sub-layer adds its output to its input (a residual connection) after a layer
    norm of the input: the "pre-norm" arrangement (Xiong et al. 2020), which trains
    without a learning-rate warm-up. Vaswani et al. (2017) normalised after the addition
    instead ("post-norm": ``x = norm(x + sublayer(x))``). The attention weights of the
    last call are kept in ``self.weights`` (N, heads, S, S).
    """

    def __init__(self, size: int, num_heads: int, ff_size: int):
        super().__init__()
        if size % num_heads:
            raise ValueError(f"size {size} is not a multiple of num_heads {num_heads}")
        self.num_heads = num_heads
        self.norm1, self.norm2 = nn.LayerNorm(size), nn.LayerNorm(size)
        self.qkv = nn.Linear(size, 3 * size)
        self.out = nn.Linear(size, size)
        self.ff = nn.Sequential(nn.Linear(size, ff_size), nn.ReLU(), nn.Linear(ff_size, size))
        self.weights: torch.Tensor | None = None

    def attend(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Scaled dot-product self-attention over the positions of ``x`` (N, S, size)."""
        N, S, size = x.shape
        d = size // self.num_heads
        q, k, v = self.qkv(x).view(N, S, 3, self.num_heads, d).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d)  # (N, heads, S, S): every pair
        scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
        self.weights = torch.softmax(scores, dim=-1)  # each row sums to 1
        mixed = self.weights @ v  # (N, heads, S, d)
        return self.out(mixed.transpose(1, 2).reshape(N, S, size))  # (N, S, size)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.attend(self.norm1(x), mask)
        return x + self.ff(self.norm2(x))


class SelfAttentionEncoder(nn.Module):
    """A small Transformer encoder: embeddings + position codes, then self-attention layers.

    No state is carried from one position to the next: all S positions of a layer are
    computed at once. ``summary`` is the mean of the annotations over the real tokens.

    ``neighbours=w`` (an odd number, default 0: off) adds to each embedding a
    convolution of width ``w`` over the embeddings around it (padding counts as zero),
    so every position starts out knowing its ``(w - 1) / 2`` neighbours on each side,
    as a recurrent encoder does; ``positions=False`` leaves out the position codes.
    Both exist to test what the encoder needs.
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int,
        num_heads: int = 4,
        num_layers: int = 2,
        ff_size: int | None = None,
        *,
        neighbours: int = 0,
        positions: bool = True,
    ):
        super().__init__()
        if neighbours < 0 or (neighbours and neighbours % 2 == 0):
            raise ValueError(f"neighbours: expected 0 or an odd width, got {neighbours}")
        self.context_size = hidden_size
        self.positions = positions
        self.embed = nn.Embedding(vocab_size, hidden_size, padding_idx=PAD)
        self.layers = nn.ModuleList(
            SelfAttentionLayer(hidden_size, num_heads, ff_size or 2 * hidden_size)
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(hidden_size)
        self.local = (
            nn.Conv1d(hidden_size, hidden_size, neighbours, padding=neighbours // 2)
            if neighbours
            else None
        )

    def forward(self, src: torch.Tensor) -> Memory:
        mask = src != PAD  # (N, S)
        S, size = src.shape[1], self.context_size
        x = self.embed(src)  # (N, S, C), padding embeds to 0
        if self.local is not None:  # each position + a mix of its neighbours
            near = self.local(x.transpose(1, 2)).transpose(1, 2)  # (N, S, C)
            x = x + near * mask[..., None]
        if self.positions:
            x = x + sinusoidal_positions(S, size, src.device)  # (N, S, C)
        for layer in self.layers:
            x = layer(x, mask)  # (N, S, C)
        states = self.norm(x) * mask[..., None]  # padding positions set to 0
        summary = states.sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp(min=1)  # (N, C)
        return Memory(states, summary, mask)


# ---------------------------------------------------------------- attention and decoder


class AdditiveAttention(nn.Module):
    """Bahdanau attention: score each annotation h_s against the decoder state s_{t-1}.

    ``e_{t,s} = v^T tanh(W_q s_{t-1} + W_k h_s)``; ``alpha_t = softmax(e_t)`` over the
    real positions; ``c_t = sum_s alpha_{t,s} h_s``. ``W_k h_s`` does not depend on t, so
    :meth:`keys` computes it once per source. Luong, Pham & Manning (2015, "Effective
    approaches to attention-based neural machine translation", arXiv:1508.04025) scored
    with products instead: "dot" ``s_t^T h_s`` and "general" ``s_t^T W h_s``; the
    Transformer's score (:class:`SelfAttentionLayer`) is a scaled dot product.
    """

    def __init__(self, query_size: int, context_size: int, attention_size: int):
        super().__init__()
        self.W_q = nn.Linear(query_size, attention_size, bias=False)
        self.W_k = nn.Linear(context_size, attention_size)
        self.v = nn.Linear(attention_size, 1, bias=False)

    def keys(self, states: torch.Tensor) -> torch.Tensor:
        """W_k h_s for every position: (N, S, C) -> (N, S, A)."""
        return self.W_k(states)

    def forward(
        self, query: torch.Tensor, keys: torch.Tensor, memory: Memory
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Context (N, C) and weights alpha (N, S) for the decoder state ``query`` (N, H)."""
        hidden = torch.tanh(self.W_q(query)[:, None, :] + keys)  # (N, S, A)
        e = hidden @ self.v.weight[0]  # v^T tanh(...): (N, S)
        e = e.masked_fill(~memory.mask, float("-inf"))  # padding is never attended to
        alpha = torch.softmax(e, dim=-1)  # (N, S), each row sums to 1
        context = torch.bmm(alpha[:, None, :], memory.states)[:, 0]  # sum_s alpha_s h_s: (N, C)
        return context, alpha


class Decoder(nn.Module):
    """A GRU decoder, one step at a time, with or without attention.

    One step reads y_{t-1} (embedded), s_{t-1} and the context c_t:
    ``s_t = GRU([embed(y_{t-1}) ‖ c_t], s_{t-1})`` and the logits of y_t are
    ``W_out [s_t ‖ c_t] + b_out``. The first state is ``s_0 = tanh(W_0 summary + b_0)``.
    Without attention c_t is the summary at every step; with attention it is the
    weighted average of the annotations, scored against s_{t-1}.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_size: int,
        hidden_size: int,
        context_size: int,
        attention: bool = True,
        attention_size: int | None = None,
    ):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embedding_size)
        self.init = nn.Linear(context_size, hidden_size)
        self.rnn = nn.GRU(embedding_size + context_size, hidden_size, batch_first=True)
        self.attention = (
            AdditiveAttention(hidden_size, context_size, attention_size or hidden_size)
            if attention
            else None
        )
        self.head = nn.Linear(hidden_size + context_size, vocab_size)

    def start(self, memory: Memory) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The first state s_0 (N, H) and the attention keys W_k h_s (or None)."""
        s0 = torch.tanh(self.init(memory.summary))
        keys = None if self.attention is None else self.attention.keys(memory.states)
        return s0, keys

    def step(
        self,
        y_prev: torch.Tensor,
        state: torch.Tensor,
        memory: Memory,
        keys: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """One decoder step: ``y_prev`` (N,) ids and s_{t-1} (N, H).

        Returns:
            logits of y_t (N, V), the new state s_t (N, H), and the attention weights
            alpha_t (N, S) (None without attention).
        """
        if self.attention is None:
            context, alpha = memory.summary, None  # (N, C): the same at every step
        else:
            context, alpha = self.attention(state, keys, memory)  # (N, C), (N, S)
        x = torch.cat([self.embed(y_prev), context], dim=-1)  # (N, E + C)
        state = self.rnn(x[:, None], state[None])[1][0]  # one GRU step: (N, H)
        logits = self.head(torch.cat([state, context], dim=-1))  # (N, V)
        return logits, state, alpha

    def forward_fixed_context(
        self, prev: torch.Tensor, state: torch.Tensor, memory: Memory
    ) -> torch.Tensor:
        """All T steps at once when the context is fixed (no attention): logits (N, T, V).

        Same result as T calls of :meth:`step`; the GRU runs in one call because no
        input depends on an earlier step's output (the true tokens ``prev`` are known).
        """
        T = prev.shape[1]
        context = memory.summary[:, None, :].expand(-1, T, -1)  # (N, T, C)
        states, _ = self.rnn(torch.cat([self.embed(prev), context], dim=-1), state[None])
        return self.head(torch.cat([states, context], dim=-1))  # (N, T, V)


# ---------------------------------------------------------------- the whole model


class EncoderDecoder(nn.Module):
    """An encoder and a :class:`Decoder`: ``forward(src, targets) -> (logits, loss)``.

    Shapes: ``src`` (N, S) ids padded with ``PAD``; ``targets`` (N, T) ids ending with
    ``EOS`` and padded with -100; ``logits`` (N, T, V). The loss is the mean
    cross-entropy over real target tokens.
    """

    def __init__(self, encoder: nn.Module, decoder: Decoder):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(
        self, src: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing: step t reads the true y_{t-1} (``BOS`` at t = 1), not a guess."""
        memory = self.encoder(src)
        state, keys = self.decoder.start(memory)
        prev = targets.masked_fill(targets == IGNORE_INDEX, PAD)  # (N, T)
        prev = torch.cat([torch.full_like(prev[:, :1], BOS), prev[:, :-1]], dim=1)
        if keys is None:  # no attention: the context is known for every step
            logits = self.decoder.forward_fixed_context(prev, state, memory)  # (N, T, V)
        else:  # attention: c_t depends on s_{t-1}, so one step after the other
            logits = []
            for t in range(targets.shape[1]):
                step_logits, state, _ = self.decoder.step(prev[:, t], state, memory, keys)
                logits.append(step_logits)
            logits = torch.stack(logits, dim=1)  # (N, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX)
        return logits, loss

    @torch.no_grad()
    def greedy(self, src: torch.Tensor, max_len: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Feed back the most likely token at every step, for at most ``max_len`` steps.

        Returns:
            tokens int64 (N, max_len), ``PAD`` after each sequence's ``EOS``; attention
            weights (N, max_len, S) (None without attention).
        """
        was_training = self.training
        self.eval()
        memory = self.encoder(src)
        state, keys = self.decoder.start(memory)
        y = torch.full((len(src),), BOS, dtype=torch.long, device=src.device)
        done = torch.zeros(len(src), dtype=torch.bool, device=src.device)
        tokens, alphas = [], []
        for _ in range(max_len):
            logits, state, alpha = self.decoder.step(y, state, memory, keys)
            y = logits.argmax(dim=-1).masked_fill(done, PAD)  # (N,)
            tokens.append(y)
            alphas.append(alpha)
            done = done | (y == EOS)
            if bool(done.all()):
                break
        self.train(was_training)
        tokens = torch.stack(tokens, dim=1)
        tokens = F.pad(tokens, (0, max_len - tokens.shape[1]), value=PAD)
        if alphas[0] is None:
            return tokens, None
        alphas = torch.stack(alphas, dim=1)  # (N, steps, S)
        return tokens, F.pad(alphas, (0, 0, 0, max_len - alphas.shape[1]))

    @torch.no_grad()
    def beam_search(
        self,
        src: torch.Tensor,
        max_len: int,
        beam_size: int = 4,
        length_penalty: float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Keep the ``beam_size`` most likely prefixes at every step; return the best.

        A prefix's score is the sum of the log-probabilities of its tokens. At each step
        every kept prefix is extended by every token, and the ``beam_size`` best of the
        ``beam_size * V`` candidates are kept. A prefix that wrote ``EOS`` is finished: it
        is extended by ``PAD`` at no cost, so it competes with longer ones unchanged.
        ``beam_size=1`` is greedy decoding.

        A sum of log-probabilities favours short outputs (every token adds a negative
        term). With ``length_penalty=a > 0`` the kept prefixes are ranked at the end by
        ``score / lp(L)``, ``lp(L) = ((5 + L) / 6) ** a`` with L the tokens up to and
        including ``EOS`` (Wu et al. 2016, "Google's neural machine translation system",
        arXiv:1609.08144, who used a = 0.6 to 0.7). ``a = 0`` ranks by the sum.

        Returns:
            tokens int64 (N, max_len) of the best finished (or longest) prefix, ``PAD``
            after ``EOS``; its total log-probability (N,).
        """
        if beam_size < 1:
            raise ValueError(f"beam_size: expected a positive integer, got {beam_size}")
        was_training = self.training
        self.eval()
        N, K = len(src), beam_size
        memory = self.encoder(src).repeat(K)  # (N*K, ...)
        state, keys = self.decoder.start(memory)
        scores = torch.full((N, K), float("-inf"), device=src.device)
        scores[:, 0] = 0.0  # at the start only one prefix exists: (BOS)
        y = torch.full((N * K,), BOS, dtype=torch.long, device=src.device)
        done = torch.zeros(N * K, dtype=torch.bool, device=src.device)
        tokens = torch.zeros((N * K, 0), dtype=torch.long, device=src.device)
        for _ in range(max_len):
            logits, state, _ = self.decoder.step(y, state, memory, keys)
            logp = F.log_softmax(logits, dim=-1)  # (N*K, V)
            V = logp.shape[1]
            logp[done] = float("-inf")
            logp[done, PAD] = 0.0  # a finished prefix stays as it is
            cand = (scores.reshape(N * K, 1) + logp).reshape(N, K * V)  # (N, K*V)
            scores, index = cand.topk(K, dim=1)  # (N, K), sorted best first
            parent = (torch.arange(N, device=src.device)[:, None] * K + index // V).flatten()
            y = (index % V).flatten()  # (N*K,)
            state, tokens = state[parent], torch.cat([tokens[parent], y[:, None]], dim=1)
            done = done[parent] | (y == EOS)
            if bool(done.all()):
                break
        self.train(was_training)
        tokens = tokens.view(N, K, -1)  # (N, K, steps), best score first
        pick = torch.zeros(N, dtype=torch.long, device=src.device)
        if length_penalty:
            is_eos = tokens == EOS
            length = torch.where(
                is_eos.any(dim=2), is_eos.int().argmax(dim=2) + 1, tokens.shape[2]
            )  # (N, K): tokens up to and including EOS
            lp = ((5.0 + length) / 6.0) ** length_penalty
            pick = (scores / lp).argmax(dim=1)  # (N,)
        rows = torch.arange(N, device=src.device)
        best = tokens[rows, pick]  # (N, steps)
        best_scores = scores[rows, pick]  # (N,)
        return F.pad(best, (0, max_len - best.shape[1]), value=PAD), best_scores


def make_model(
    src_vocab_size: int,
    tgt_vocab_size: int,
    *,
    encoder: str = "rnn",
    attention: bool = True,
    hidden_size: int = 64,
    embedding_size: int = 32,
    num_heads: int = 4,
    num_layers: int = 2,
    attention_size: int | None = None,
    neighbours: int = 0,
    positions: bool = True,
) -> EncoderDecoder:
    """An :class:`EncoderDecoder` with an ``"rnn"`` or ``"transformer"`` encoder.

    The decoder has ``hidden_size`` units and reads contexts of ``hidden_size``; with
    ``attention=False`` its context is the encoder's summary at every step. The additive
    attention's hidden layer has ``attention_size`` units (default ``hidden_size``).
    ``neighbours`` and ``positions`` go to the :class:`SelfAttentionEncoder`.
    """
    if encoder == "rnn":
        enc = RNNEncoder(src_vocab_size, embedding_size, hidden_size)
    elif encoder == "transformer":
        enc = SelfAttentionEncoder(
            src_vocab_size,
            hidden_size,
            num_heads,
            num_layers,
            neighbours=neighbours,
            positions=positions,
        )
    else:
        raise ValueError(f"encoder: expected 'rnn' or 'transformer', got {encoder!r}")
    dec = Decoder(
        tgt_vocab_size, embedding_size, hidden_size, enc.context_size, attention, attention_size
    )
    return EncoderDecoder(enc, dec)


def exact_match(predicted: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """bool (N,): True where the prediction equals the target up to and including ``EOS``.

    ``predicted`` (N, T') token ids with ``PAD`` after ``EOS`` (as :meth:`greedy` gives);
    ``targets`` (N, T) padded with -100.
    """
    T = max(predicted.shape[1], targets.shape[1])
    pred = F.pad(predicted, (0, T - predicted.shape[1]), value=PAD)
    want = F.pad(targets.masked_fill(targets == IGNORE_INDEX, PAD), (0, T - targets.shape[1]))
    return (pred == want).all(dim=1)


def bucket_batches(
    src: np.ndarray,
    tgt: np.ndarray,
    batch_size: int = 64,
    seed: int = 0,
    device: str | torch.device | None = None,
    pool: int = 16,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches of sources of similar lengths, for ever: less padding, less work.

    Each epoch shuffles the rows, sorts each pool of ``pool * batch_size`` rows by
    source length, cuts the pools into batches, and shuffles the batches. Every batch is
    cut to its longest source, so an RNN encoder runs over fewer padded steps.

    Yields:
        ``(src, tgt)`` tensors on ``device``: (batch_size, S_batch) and (batch_size, T).
    """
    if len(src) != len(tgt):
        raise ValueError(f"tgt: expected {len(src)} rows like src, got {len(tgt)}")
    device = get_device(device)
    lengths = (np.asarray(src) != PAD).sum(axis=1)
    src_t, tgt_t = torch.as_tensor(src), torch.as_tensor(tgt)
    rng = np.random.default_rng(seed)
    size = min(int(batch_size), len(src))
    while True:
        order = rng.permutation(len(src))
        chunks = []
        for start in range(0, len(order), pool * size):
            part = order[start : start + pool * size]
            part = part[np.argsort(lengths[part], kind="stable")]
            chunks += [part[i : i + size] for i in range(0, len(part) - size + 1, size)]
        for k in rng.permutation(len(chunks)):
            idx = torch.as_tensor(chunks[k])
            S = int(lengths[chunks[k]].max())
            yield src_t[idx, :S].to(device), tgt_t[idx].to(device)
