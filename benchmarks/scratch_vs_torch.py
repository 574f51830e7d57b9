"""Forward + backward time of course_rnn.scratch against torch.nn on the CPU.

Run from the repository root:

    .venv/bin/python benchmarks/scratch_vs_torch.py            # N=32 T=100 D=32 H=128
    .venv/bin/python benchmarks/scratch_vs_torch.py --repeats 31 --threads 1

Both sides do the same work on the same float32 numbers: a forward pass over the whole
sequence and a backward pass giving the gradients of x, h0 (c0) and every parameter.
Runs are interleaved (torch, scratch, torch, ... with the order swapped every repeat) so
that a noisy, shared machine slows both alike; the table shows medians. It prints a
Markdown table for benchmarks/README.md, with the conditions of the run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch

from course_rnn import scratch

TARGETS = {"rnn": 1.5, "lstm": 3.0, "gru": 3.0}  # scratch time / torch time, at most
TORCH = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
SCRATCH = {
    "rnn": (scratch.rnn_forward, scratch.rnn_backward),
    "lstm": (scratch.lstm_forward, scratch.lstm_backward),
    "gru": (scratch.gru_forward, scratch.gru_backward),
}


def make_runners(cell: str, N: int, T: int, D: int, H: int, seed: int = 0):
    """Two zero-argument functions doing forward + backward, torch's and scratch's."""
    torch.manual_seed(seed)
    module = TORCH[cell](D, H, batch_first=True)  # float32
    params = scratch.params_from_torch(module)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, T, D)).astype(np.float32)
    h0 = rng.standard_normal((N, H)).astype(np.float32)
    dout = rng.standard_normal((N, T, H)).astype(np.float32)
    state = (h0, h0.copy()) if cell == "lstm" else h0
    forward, backward = SCRATCH[cell]

    x_t = torch.from_numpy(x).requires_grad_()
    h0_t = torch.from_numpy(h0[None]).requires_grad_()
    c0_t = torch.from_numpy(h0[None].copy()).requires_grad_()
    dout_t = torch.from_numpy(dout)

    def run_torch():
        module.zero_grad(set_to_none=True)
        x_t.grad = h0_t.grad = c0_t.grad = None
        out, _ = module(x_t, (h0_t, c0_t) if cell == "lstm" else h0_t)
        out.backward(dout_t)
        return out

    def run_scratch():
        out, cache = forward(x, state, params)
        backward(dout, cache)
        return out

    # Same numbers on both sides, or the timing compares different work.
    diff = np.abs(run_torch().detach().numpy() - run_scratch()).max()
    assert diff < 1e-4, f"{cell}: scratch and torch outputs differ by {diff}"
    return run_torch, run_scratch


def measure(cell: str, N: int, T: int, D: int, H: int, repeats: int, warmup: int = 3):
    """Median seconds of torch and scratch forward + backward, interleaved."""
    runners = dict(zip(("torch", "scratch"), make_runners(cell, N, T, D, H), strict=True))
    for _ in range(warmup):
        for run in runners.values():
            run()
    times = {name: [] for name in runners}
    for r in range(repeats):
        order = list(runners) if r % 2 == 0 else list(runners)[::-1]
        for name in order:
            start = time.perf_counter()
            runners[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def blas_threads() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return "unknown"
    pools = [f"{p['internal_api']} {p['num_threads']}" for p in threadpool_info()]
    return ", ".join(pools) or "none"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=32)
    parser.add_argument("--T", type=int, default=100)
    parser.add_argument("--D", type=int, default=32)
    parser.add_argument("--H", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for torch (torch.set_num_threads) and numpy's BLAS; "
        "default: what each library picks on this machine",
    )
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(args.threads)
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            print("threadpoolctl missing: numpy's BLAS keeps its own thread count")

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"N={args.N} T={args.T} D={args.D} H={args.H}, float32, forward + backward, "
        f"median of {args.repeats} interleaved repeats"
    )
    print(
        f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads, "
        f"numpy {np.__version__} with BLAS threads: {blas_threads()}; "
        f"load average at start {load:.2f}\n"
    )
    print("| layer | torch (ms) | scratch (ms) | scratch / torch | target | met |")
    print("|---|---:|---:|---:|---:|:---:|")
    for cell in ("rnn", "lstm", "gru"):
        t = measure(cell, args.N, args.T, args.D, args.H, args.repeats)
        ratio = t["scratch"] / t["torch"]
        met = "yes" if ratio <= TARGETS[cell] else "no"
        print(
            f"| {cell.upper()} | {1e3 * t['torch']:.1f} | {1e3 * t['scratch']:.1f} | "
            f"{ratio:.2f}x | <= {TARGETS[cell]:g}x | {met} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
