"""Character language models on *The Time Machine*, side by side with d2l's published figures.

Data and protocol are d2l's (*Dive into Deep Learning* v1.0.3, section 9.5 and 10.1):
the novel lower-cased with every run of non-letters turned into one space, a
vocabulary of 28 symbols (space, a-z, ``<unk>``), and validation perplexity over d2l's
validation windows: every window of 32 characters in d2l's validation span, each read
from a zero state, all 32 predictions of each window counted. d2l reports about 7.2 for
its from-scratch RNN with H=32 and about 6.7 for ``nn.LSTM`` with H=32, trained on its
first 10,000 windows (about 10,000 characters) in batches of 1,024, for 100 epochs
(the RNN, section 9.5) and 50 epochs (the LSTM, section 10.1).

Our models train on the whole novel except the validation span
(``course_rnn.lm.train_lm``: Adam, a cosine learning-rate decay, clipping at norm 1,
batches of 64 windows of 32 characters), for a fixed number of steps chosen to take at
most 30 s on one idle CPU core. As d2l does, each batch starts from a zero state; one
row carries the state from batch to batch instead (truncated BPTT over consecutive
batches), which helps when the text is read as one stream and hurts d2l's protocol.
One row trains on d2l's 10,000 training windows only, to separate the effect of the
data from that of the training. Baselines: Witten-Bell n-gram models counted on the
same training text, scored under the same windows protocol (context cut at the
window's start) and as one stream.

Run from the repository root::

    .venv/bin/python benchmarks/language_model.py                 # 3 repeats, 1 thread
    .venv/bin/python benchmarks/language_model.py --repeats 5 --threads 2

Each model is trained ``--repeats`` times (seeds 0, 1, ...), the models interleaved so
that load changes hit all of them. The script ends with a Markdown table of medians,
ready for benchmarks/README.md. It reports the wall-clock training time and the CPU
time of the process: on a busy machine the wall clock grows with the load, while the
CPU time of a one-thread run stays close to what an idle machine would take.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from course_rnn import lm
from course_rnn.data import load_timemachine, preprocess_d2l, split_d2l
from course_rnn.data.timemachine import D2L_VALID
from course_rnn.models import count_parameters
from course_rnn.train import seed_everything

WINDOW = 32  # d2l's num_steps


@dataclass(frozen=True)
class Config:
    """One model to train: architecture, training text and schedule."""

    name: str
    cell: str
    hidden: int
    embedding: int | None  # None: one-hot inputs, as in d2l
    steps: int
    batch_size: int
    seq_len: int
    lr: float
    carry_state: bool = False  # True: truncated BPTT over consecutive batches
    d2l_text_only: bool = False  # train on d2l's 10,000 training windows only
    d2l_ppl: float | None = None  # d2l's published validation perplexity
    target: float | None = None  # ours must be at most this


CONFIGS = (
    Config("scratch-style RNN (tanh, one-hot inputs)", "rnn", 32, None, 1000, 64, 32, 0.01,
           d2l_ppl=7.2),
    Config("LSTM (one-hot inputs)", "lstm", 32, None, 1000, 64, 32, 0.02, d2l_ppl=6.7,
           target=6.0),
    Config("LSTM (embedding D=64)", "lstm", 256, 64, 340, 64, 32, 0.03, target=3.5),
    Config("LSTM (embedding D=64), state carried", "lstm", 256, 64, 340, 64, 32, 0.03,
           carry_state=True),
    Config("LSTM (one-hot), d2l's 10,000 windows only", "lstm", 32, None, 300, 64, 32, 0.02,
           d2l_text_only=True),
)  # fmt: skip


def load() -> tuple[lm.Vocabulary, np.ndarray, np.ndarray, np.ndarray]:
    """Vocabulary, training ids (whole novel less validation), d2l's training ids, valid ids."""
    corpus = preprocess_d2l(load_timemachine())
    train_text, valid_text = split_d2l(corpus)
    vocab = lm.Vocabulary(lm.tokenize(corpus))  # 28: <unk>, space, a-z
    start = corpus.index(valid_text)
    d2l_train = corpus[start - D2L_VALID[0] : start + WINDOW]  # d2l's windows 0..9,999
    enc = lambda text: vocab.encode(lm.tokenize(text))  # noqa: E731
    return vocab, enc(train_text), enc(d2l_train), enc(valid_text)


def ngram_windows_ppl(model: lm.NGramLM, ids: np.ndarray, window: int = WINDOW) -> float:
    """Perplexity of an n-gram model under d2l's windows protocol.

    A target at position j of a window (j = 1..window) has j tokens of context inside the
    window, so the model may use min(j, n - 1) of them.
    """
    n = model.order - 1
    full = model.nll(ids)  # nll[t-1] predicts ids[t] from up to n tokens
    by_context = {c: model.nll(ids, context=c) for c in range(n)}
    total, count = 0.0, 0
    for s in range(len(ids) - window):  # window s: inputs ids[s:s+window]
        for j in range(1, window + 1):  # predicts ids[s + j] from j tokens of context
            t = s + j
            total += (by_context[j] if j < n else full)[t - 1]
            count += 1
    return lm.perplexity(total / count)


def train_once(cfg: Config, vocab, train_ids, d2l_ids, valid_ids, seed: int) -> dict:
    seed_everything(seed)
    model = lm.RNNLM(len(vocab), cfg.hidden, cell=cfg.cell, embedding_size=cfg.embedding)
    load_before = os.getloadavg()[0]
    cpu_before = time.process_time()
    hist = lm.train_lm(
        model,
        d2l_ids if cfg.d2l_text_only else train_ids,
        steps=cfg.steps,
        batch_size=cfg.batch_size,
        seq_len=cfg.seq_len,
        lr=cfg.lr,
        carry_state=cfg.carry_state,
        seed=seed,
        device="cpu",
    )
    cpu = time.process_time() - cpu_before
    return {
        "seconds": hist.seconds,
        "cpu": cpu,
        "windows": lm.perplexity(lm.evaluate_windows(model, valid_ids, WINDOW)),
        "stream": lm.perplexity(lm.evaluate_stream(model, valid_ids)),
        "params": count_parameters(model),
        "load": (load_before + os.getloadavg()[0]) / 2,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--only", type=int, nargs="*", help="indices of the configs to run (default all)"
    )
    parser.add_argument(
        "--steps-scale", type=float, default=1.0, help="multiply every step count (smoke tests)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    configs = [CONFIGS[i] for i in args.only] if args.only else list(CONFIGS)
    if args.steps_scale != 1.0:
        configs = [replace(c, steps=max(1, round(c.steps * args.steps_scale))) for c in configs]
    started = time.time()
    print(f"load average at start: {os.getloadavg()}", flush=True)

    vocab, train_ids, d2l_ids, valid_ids = load()
    print(
        f"vocabulary {len(vocab)}, training {len(train_ids):,} characters "
        f"(d2l: {len(d2l_ids):,}), validation {len(valid_ids):,} characters",
        flush=True,
    )

    baselines = {}
    for n in (1, 3, 5):
        model = lm.NGramLM(n, len(vocab)).fit(train_ids)
        baselines[n] = (
            ngram_windows_ppl(model, valid_ids),
            lm.perplexity(model.nll(valid_ids).mean()),
        )
        print(f"{n}-gram: windows {baselines[n][0]:.2f}, stream {baselines[n][1]:.2f}", flush=True)

    # Pay the one-time costs (the optimiser's first use imports torch._dynamo) outside the
    # timings.
    lm.train_lm(lm.RNNLM(len(vocab), 8), train_ids[:5000], steps=2, batch_size=4, seq_len=8)

    runs: dict[Config, list[dict]] = {cfg: [] for cfg in configs}
    for seed in range(args.repeats):
        order = configs if seed % 2 == 0 else configs[::-1]
        for cfg in order:
            r = train_once(cfg, vocab, train_ids, d2l_ids, valid_ids, seed)
            runs[cfg].append(r)
            print(
                f"seed {seed} {cfg.name} H={cfg.hidden}: {r['seconds']:.1f} s "
                f"(CPU {r['cpu']:.1f} s), "
                f"windows ppl {r['windows']:.2f}, stream {r['stream']:.2f}, "
                f"load {r['load']:.1f}",
                flush=True,
            )

    med = lambda rs, key: statistics.median(r[key] for r in rs)  # noqa: E731
    loads = [r["load"] for rs in runs.values() for r in rs]
    print()
    print(
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}, "
        f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{args.threads} thread(s), median of {args.repeats} seeds; load average during "
        f"training {min(loads):.1f} to {max(loads):.1f}; "
        f"total {time.time() - started:.0f} s."
    )
    print()
    print(
        "| model | H | parameters | trained on | steps | train s (wall) | train s (CPU) "
        "| valid ppl (d2l windows) | valid ppl (stream) | d2l | target | met |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|:---:|")
    for cfg, rs in runs.items():
        ppl, secs = med(rs, "windows"), med(rs, "seconds")
        if cfg.target is None:
            met = ""
        else:
            yes = lambda ok: "yes" if ok else "no"  # noqa: E731
            met = (
                f"ppl: {yes(ppl <= cfg.target)} (stream: {yes(med(rs, 'stream') <= cfg.target)}); "
                f"time: {yes(secs <= 30)} (CPU: {yes(med(rs, 'cpu') <= 30)})"
            )
        print(
            f"| {cfg.name} | {cfg.hidden} | {rs[0]['params']:,} | "
            f"{'d2l 10k windows' if cfg.d2l_text_only else 'novel less validation'} | "
            f"{cfg.steps} | {secs:.1f} | {med(rs, 'cpu'):.1f} | {ppl:.2f} | "
            f"{med(rs, 'stream'):.2f} | "
            f"{cfg.d2l_ppl if cfg.d2l_ppl else ''} | "
            f"{f'<= {cfg.target} in <= 30 s' if cfg.target else ''} | {met} |"
        )
    for n, (w, s) in baselines.items():
        name = {1: "unigram", 3: "3-gram", 5: "5-gram"}[n]
        print(
            f"| {name} (Witten-Bell counts) | | | novel less validation | | | | "
            f"{w:.2f} | {s:.2f} | | | |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
