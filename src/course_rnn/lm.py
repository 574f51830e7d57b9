"""Language models: tokens, a vocabulary, n-gram baselines, perplexity, sampling, an RNN.

A *language model* gives the probability of the next token x_{t+1} given the tokens
before it, x_1..x_t. This module holds the pieces chapter 8 and
``benchmarks/language_model.py`` share:

- :func:`tokenize` splits text into characters or words; :class:`Vocabulary` maps
  tokens to ids (rare tokens to ``<unk>``);
- :class:`NGramLM`: count-based baselines (unigram, bigram, ...) with Witten-Bell
  smoothing, so unseen n-grams keep a non-zero probability;
- :func:`perplexity` = exp(mean negative log-likelihood per token);
- :func:`sample_next` draws the next token with a temperature and an optional top-k cut;
  :func:`generate` continues a prefix one token at a time;
- :class:`RNNLM`: embedding (or one-hot) -> RNN/LSTM/GRU -> linear, with the makemore
  interface ``forward(idx, targets) -> (logits, loss)``;
- :func:`stream_batches` and :func:`train_lm`: truncated backpropagation through time
  over one long text, the hidden state carried from batch to batch; :func:`lm_step`
  takes the same steps one call at a time, for ``course_rnn.experiment.fit``;
  :func:`evaluate_windows` and :func:`evaluate_stream` measure perplexity, and
  :func:`ngram_windows_nll` scores an n-gram model the way :func:`evaluate_windows` does.

Shapes use the course notation: N batch, T steps, V vocabulary size, D embedding size,
H hidden size.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .device import get_device
from .models import CELLS, IGNORE_INDEX

UNK = "<unk>"
PAD = "<pad>"

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


# ---------------------------------------------------------------- tokens and vocabulary
def tokenize(text: str, level: str = "char") -> list[str]:
    """Split ``text`` into tokens: characters (``level="char"``) or words (``"word"``).

    Words are the runs of non-space characters, so preprocess the text first (for
    example with :func:`course_rnn.data.preprocess_d2l`) to drop punctuation.
    """
    if level == "char":
        return list(text)
    if level == "word":
        return text.split()
    raise ValueError(f"level: expected 'char' or 'word', got {level!r}")


class Vocabulary:
    """Tokens <-> integer ids, built from a tokenised corpus.

    The reserved tokens come first (by default only ``<unk>``; add ``<pad>`` for padded
    batches), then every token seen at least ``min_freq`` times, most frequent first
    (ties in alphabetical order, so every machine gets the same ids). Tokens that are
    not kept map to ``<unk>``.
    """

    def __init__(self, tokens: Iterable[str], min_freq: int = 1, reserved: Sequence[str] = (UNK,)):
        if len(set(reserved)) != len(reserved):
            raise ValueError(f"reserved: expected distinct tokens, got {list(reserved)}")
        self.counts: Counter[str] = Counter(tokens)
        kept = [t for t, c in self.counts.items() if c >= min_freq and t not in reserved]
        kept.sort(key=lambda t: (-self.counts[t], t))
        self.itos: list[str] = [*reserved, *kept]
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    @property
    def unk_index(self) -> int | None:
        """Id of ``<unk>``, or None when the vocabulary has none."""
        return self.stoi.get(UNK)

    @property
    def pad_index(self) -> int | None:
        """Id of ``<pad>``, or None when the vocabulary has none."""
        return self.stoi.get(PAD)

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """int64 (L,): the id of each token; tokens not kept map to ``<unk>``."""
        unk = self.unk_index
        ids = [self.stoi.get(t, unk) for t in tokens]
        if unk is None and None in ids:
            missing = sorted({t for t in tokens if t not in self.stoi})[:5]
            raise ValueError(f"tokens {missing} are not in a vocabulary without {UNK}")
        return np.asarray(ids, dtype=np.int64)

    def decode(self, ids: Iterable[int], sep: str = "") -> str:
        """The text of ``ids``, tokens joined with ``sep`` (``" "`` for words)."""
        return sep.join(self.itos[int(i)] for i in ids)

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens)"


# ---------------------------------------------------------------- n-gram baselines
class NGramLM:
    """An n-gram model: P(x_t | the previous n-1 tokens), estimated by counting.

    Witten-Bell interpolation: with a context h seen c(h) times, followed by u(h)
    different tokens,

        P(w | h) = (c(h, w) + u(h) P(w | h')) / (c(h) + u(h)),

    where h' drops the oldest token of h; below the unigram sits the uniform 1/V. An
    n-gram never seen in training keeps some probability from the shorter contexts, so
    the perplexity of new text stays finite. ``order=1`` is the unigram model (token
    frequencies, nothing else).
    """

    def __init__(self, order: int, vocab_size: int):
        if int(order) != order or order < 1:
            raise ValueError(f"order: expected an integer >= 1, got {order!r}")
        self.order, self.vocab_size = int(order), int(vocab_size)
        self.counts: dict[tuple[int, ...], int] = {}  # (h..., w) -> c(h, w)
        self.context_total: dict[tuple[int, ...], int] = {}  # h -> c(h)
        self.context_types: dict[tuple[int, ...], int] = {}  # h -> u(h)

    def fit(self, ids: Sequence[int]) -> NGramLM:
        """Count every k-gram of ``ids`` for k = 1..order. Returns ``self``."""
        ids = [int(i) for i in ids]
        for k in range(1, self.order + 1):
            grams = Counter(zip(*(ids[j:] for j in range(k)), strict=False))
            for gram, c in grams.items():
                self.counts[gram] = c
                h = gram[:-1]
                self.context_total[h] = self.context_total.get(h, 0) + c
                self.context_types[h] = self.context_types.get(h, 0) + 1
        return self

    def prob(self, context: Sequence[int], token: int) -> float:
        """P(token | the last order-1 tokens of ``context``)."""
        h = tuple(int(i) for i in context)[-(self.order - 1) :] if self.order > 1 else ()
        p = 1.0 / self.vocab_size  # below the unigram: uniform
        for k in range(len(h) + 1):  # from the empty context up to the longest
            ctx = h[len(h) - k :]
            total = self.context_total.get(ctx, 0)
            if total:
                types = self.context_types[ctx]
                p = (self.counts.get((*ctx, int(token)), 0) + types * p) / (total + types)
        return p

    def nll(self, ids: Sequence[int], context: int | None = None) -> np.ndarray:
        """float64 (L-1,): -log P(x_t | the tokens before it) for t = 2..L.

        Each prediction uses the previous ``order - 1`` tokens (fewer at the start), or at
        most ``context`` tokens when given.
        """
        ids = [int(i) for i in ids]
        n = self.order - 1 if context is None else min(self.order - 1, int(context))
        return np.array(
            [-math.log(self.prob(ids[max(0, t - n) : t], ids[t])) for t in range(1, len(ids))]
        )


def ngram_windows_nll(
    model: NGramLM, ids: Sequence[int], window: int = 32, context: int | None = None
) -> float:
    """Mean NLL of an n-gram model under d2l's windows protocol (see :func:`evaluate_windows`).

    Every window of ``window`` inputs (stride 1) predicts its ``window`` next tokens; the
    prediction at position j of a window (j = 1..window) has only the j tokens of the
    window as context, so the model uses min(j, order - 1) of them, as a recurrent model
    started from a zero state at the window's start would. With ``context`` it uses at
    most that many (``context=k`` scores the (k+1)-gram model held in ``model``).
    """
    ids = [int(i) for i in ids]
    n = model.order - 1 if context is None else min(model.order - 1, int(context))
    full = model.nll(ids, context=n)  # full[t - 1] predicts ids[t] from up to n tokens
    short = {c: model.nll(ids, context=c) for c in range(1, n)}
    starts = len(ids) - window
    if starts < 1:
        raise ValueError(f"ids: {len(ids)} tokens are too few for windows of {window}")
    total = 0.0
    for j in range(1, window + 1):  # position j of every window: targets ids[s + j]
        nll = short[j] if j < n else full
        total += float(nll[j - 1 : j - 1 + starts].sum())
    return total / (starts * window)


# ---------------------------------------------------------------- perplexity and sampling
def perplexity(mean_nll: float | torch.Tensor) -> float:
    """exp(mean negative log-likelihood per token, in nats).

    A model that spreads its probability evenly over k tokens at every step has
    perplexity k: perplexity is the effective number of choices left at each step.
    """
    return float(math.exp(float(mean_nll)))


def masked_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Mean -log p(target) over the positions where ``mask`` is true.

    Shapes: ``logits`` (N, T, V); ``targets`` (N, T) ids; ``mask`` (N, T) bool. Padded
    positions (mask false) contribute nothing, whatever their logits and targets.
    """
    nll = F.cross_entropy(logits.transpose(1, 2), targets.clamp(min=0), reduction="none")  # (N, T)
    mask = mask.to(nll.dtype)
    return (nll * mask).sum() / mask.sum()


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw one token id per row of ``logits`` (N, V) -> (N,).

    p = softmax(logits / temperature): a temperature below 1 sharpens the distribution
    (towards the most likely token; 0 means argmax), above 1 flattens it (towards
    uniform). ``top_k`` keeps only the k most likely tokens before sampling.
    """
    if temperature < 0:
        raise ValueError(f"temperature: expected >= 0, got {temperature!r}")
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(int(top_k), logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))  # (N, V)
    probs = F.softmax(logits, dim=-1)  # (N, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)  # (N,)


@torch.no_grad()
def generate(
    model: RNNLM,
    prefix: Sequence[int],
    steps: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | None = None,
) -> list[int]:
    """Continue the token ids ``prefix`` by ``steps`` sampled tokens (prefix included).

    The model reads the prefix, then each sampled token is fed back as the next input
    (the model's own output replaces the true text it read in training).
    """
    if len(prefix) == 0:
        raise ValueError("prefix: expected at least one token id")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
    out = [int(i) for i in prefix]
    logits, state = model.run(torch.tensor([out], device=device))  # (1, T0, V)
    for _ in range(steps):
        nxt = sample_next(logits[:, -1], temperature, top_k, generator)  # (1,)
        out.append(int(nxt))
        logits, state = model.run(nxt[:, None], state)  # one step: (1, 1, V)
    model.train(was_training)
    return out


# ---------------------------------------------------------------- the recurrent model
class RNNLM(nn.Module):
    """A recurrent language model: token ids -> next-token logits.

    Each step takes the input token x_t (an embedding, or a one-hot vector when
    ``embedding_size`` is None), updates the hidden state h_t of a ``cell`` ("lstm",
    "gru" or "rnn") with ``num_layers`` stacked layers (dropout between them), and maps
    h_t to logits over the V tokens.
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int,
        cell: str = "lstm",
        embedding_size: int | None = None,
        num_layers: int = 1,
        dropout: float = 0.0,
    ):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell: expected one of {sorted(CELLS)}, got {cell!r}")
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, embedding_size) if embedding_size else None
        self.rnn = CELLS[cell](
            embedding_size or vocab_size,
            hidden_size,
            num_layers=num_layers,
            dropout=dropout if num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.head = nn.Linear(hidden_size, vocab_size)

    def run(self, idx: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Read ``idx`` (N, T) from ``state`` (zeros if None): logits (N, T, V), new state."""
        if self.embedding is not None:
            x = self.embedding(idx)  # (N, T) -> (N, T, D)
        else:
            x = F.one_hot(idx, self.vocab_size).float()  # (N, T) -> (N, T, V)
        hs, state = self.rnn(x, state)  # (N, T, H)
        return self.head(hs), state  # (N, T, V)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (N, T, V) for x_2..x_{T+1} and, with ``targets`` (N, T), the mean
        cross-entropy (targets -100 are ignored)."""
        logits, _ = self.run(idx)
        loss = None if targets is None else lm_loss(logits, targets)
        return logits, loss


def lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of logits (N, T, V) against ids (N, T); -100 is ignored."""
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=IGNORE_INDEX)


def detach_state(state: State) -> State:
    """The same hidden state, cut from the graph that computed it."""
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


# ---------------------------------------------------------------- training over a stream
def stream_batches(
    ids: np.ndarray, batch_size: int, seq_len: int, offset: int = 0
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Consecutive (x, y) batches over one long sequence, for truncated BPTT.

    The text (after dropping ``offset`` tokens) is cut into ``batch_size`` equal
    streams, one per row. Batch b holds steps b*T .. (b+1)*T - 1 of every stream, so row
    i of batch b+1 continues row i of batch b: the hidden state at the end of one batch
    is the right start for the next. ``y`` is ``x`` shifted by one token.

    Yields ``x``, ``y`` int64 (N, T).
    """
    ids = np.asarray(ids, dtype=np.int64)[offset:]
    L = (len(ids) - 1) // batch_size  # steps per stream
    if L < seq_len:
        raise ValueError(f"ids: {len(ids)} tokens are too few for {batch_size} x {seq_len}")
    xs = torch.from_numpy(ids[: batch_size * L].reshape(batch_size, L))  # (N, L)
    ys = torch.from_numpy(ids[1 : batch_size * L + 1].reshape(batch_size, L))  # (N, L)
    for start in range(0, L - seq_len + 1, seq_len):
        yield xs[:, start : start + seq_len], ys[:, start : start + seq_len]


@dataclass
class LMHistory:
    """What :func:`train_lm` did: the loss of every step, and the wall-clock time."""

    loss: list[float] = field(default_factory=list)
    seconds: float = 0.0


def train_lm(
    model: RNNLM,
    ids: np.ndarray,
    *,
    steps: int,
    batch_size: int = 32,
    seq_len: int = 64,
    lr: float = 0.01,
    clip: float = 1.0,
    carry_state: bool = True,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> LMHistory:
    """Train ``model`` on the token ids ``ids`` for ``steps`` Adam steps (truncated BPTT).

    Teacher forcing: at every step the model reads the true token x_t, never its own
    guess, and is scored on x_{t+1}. With ``carry_state`` the state at the end of one
    batch starts the next, detached so that backpropagation stops at the batch edge;
    each pass over the text starts at a new random offset. The learning rate decays
    along a cosine from ``lr`` to 0; gradients are clipped to norm ``clip``.
    """
    step = lm_step(
        model, ids, steps=steps, batch_size=batch_size, seq_len=seq_len, lr=lr, clip=clip,
        carry_state=carry_state, seed=seed, device=device,
    )  # fmt: skip
    history = LMHistory()
    start = time.perf_counter()
    history.loss = [step(i) for i in range(1, steps + 1)]
    history.seconds = time.perf_counter() - start
    return history


def lm_step(
    model: RNNLM,
    ids: np.ndarray,
    *,
    steps: int,
    batch_size: int = 32,
    seq_len: int = 64,
    lr: float = 0.01,
    clip: float = 1.0,
    carry_state: bool = True,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> Callable[[int], float]:
    """The steps of :func:`train_lm`, one per call: ``step(i)`` returns its training loss.

    For :func:`course_rnn.experiment.fit`, which calls ``step`` ``steps`` times and
    measures the validation score in between. The same arguments and seed give the same
    losses as :func:`train_lm` (same batches, offsets, schedule and clipping).
    """
    device = get_device(device)
    model.to(device).train()
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))
    )

    def passes() -> Iterator[tuple[bool, torch.Tensor, torch.Tensor]]:
        while True:  # each pass over the text starts at a new random offset
            offset = int(rng.integers(seq_len))
            for b, (x, y) in enumerate(stream_batches(ids, batch_size, seq_len, offset)):
                yield b == 0, x, y

    batches = passes()
    state: State | None = None

    def step(i: int) -> float:
        nonlocal state
        first, x, y = next(batches)
        x, y = x.to(device), y.to(device)
        if first or not carry_state:
            state = None  # a new pass, or no carrying: start from zeros
        else:
            state = detach_state(state)  # keep the values, cut the graph
        logits, state = model.run(x, state)  # (N, T, V)
        loss = lm_loss(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        sched.step()
        return loss.item()

    return step


@torch.no_grad()
def evaluate_windows(model: RNNLM, ids: np.ndarray, window: int = 32) -> float:
    """Mean NLL (nats per token) over every window of ``window`` tokens (stride 1).

    This is d2l's validation: each window starts from a zero state, and all its
    ``window`` predictions count, the first made with one token of context.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    ids_t = torch.as_tensor(np.asarray(ids, dtype=np.int64))
    starts = torch.arange(len(ids_t) - window)
    total, count = 0.0, 0
    for chunk in starts.split(1024):
        idx = chunk[:, None] + torch.arange(window + 1)  # (N, window + 1)
        seq = ids_t[idx].to(device)
        logits, _ = model.run(seq[:, :-1])  # (N, window, V)
        total += float(lm_loss(logits, seq[:, 1:])) * seq[:, 1:].numel()
        count += seq[:, 1:].numel()
    model.train(was_training)
    return total / count


@torch.no_grad()
def evaluate_stream(model: RNNLM, ids: np.ndarray, seq_len: int = 64, carry_state: bool = True):
    """Mean NLL (nats per token) of predicting ids[1:] from the text before, read in
    chunks of ``seq_len``; ``carry_state=False`` restarts from a zero state each chunk."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    ids_t = torch.as_tensor(np.asarray(ids, dtype=np.int64), device=device)[None]  # (1, L)
    total, state = 0.0, None
    for start in range(0, ids_t.shape[1] - 1, seq_len):
        x = ids_t[:, start : start + seq_len]
        y = ids_t[:, start + 1 : start + seq_len + 1]
        x = x[:, : y.shape[1]]
        logits, state = model.run(x, state if carry_state else None)
        total += float(lm_loss(logits, y)) * y.shape[1]
    model.train(was_training)
    return total / (ids_t.shape[1] - 1)
