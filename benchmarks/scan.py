"""Time per training step of a linear recurrence: loop, scan and torch's fused layers.

Run from the repository root:

    .venv/bin/python benchmarks/scan.py                 # T = 64 .. 4096, threads 1, 2
    .venv/bin/python benchmarks/scan.py --lengths 64 256 --threads 1 --repeats 3
    .venv/bin/python benchmarks/scan.py --write         # also update benchmarks/README.md

One training step is a forward pass over the whole sequence and a backward pass (the
gradients of the input and every parameter), on a batch of N = 16 sequences with
D = H = 32 (the sizes of chapter 12's measurement). The rows:

- ``minGRU, loop``: ``course_rnn.scan.MinGRU(mode="loop")``, T dependent steps;
- ``minGRU, scan``: the same layer through the Hillis-Steele scan, ceil(log2 T) rounds;
- ``minGRU, log scan``: the same layer in log space (cumsum and logcumsumexp);
- ``nn.GRU`` and ``nn.LSTM``: PyTorch's layers (on a CPU, nn.LSTM runs oneDNN's fused
  RNN kernel, nn.GRU a loop of small operations).

For each length and thread count the layers run interleaved (the order rotates every
repeat), so that a noisy, shared machine slows them alike; the table shows medians and
the ratio of each median to the scan's, measured side by side. ``--write`` replaces this
script's section of benchmarks/README.md (or appends it), leaving the rest untouched.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

from course_rnn.scan import MinGRU

N, D, H = 16, 32, 32
HEADING = "## scan.py: a linear recurrence by loop and by scan, against nn.GRU and nn.LSTM"
README = Path(__file__).with_name("README.md")


def layers() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {
        "minGRU, loop": MinGRU(D, H, mode="loop"),
        "minGRU, scan": MinGRU(D, H, mode="scan"),
        "minGRU, log scan": MinGRU(D, H, mode="log"),
        "nn.GRU": nn.GRU(D, H, batch_first=True),
        "nn.LSTM": nn.LSTM(D, H, batch_first=True),
    }


def step_seconds(layer: nn.Module, x: torch.Tensor) -> float:
    """One forward and backward pass; returns seconds."""
    layer.zero_grad(set_to_none=True)
    x.grad = None
    start = time.perf_counter()
    out = layer(x)
    out = out[0] if isinstance(out, tuple) else out
    out.sum().backward()
    return time.perf_counter() - start


def measure(lengths: list[int], threads: list[int], repeats: int) -> dict:
    """Median milliseconds per step: results[threads][T][name]."""
    results: dict[int, dict[int, dict[str, float]]] = {}
    models = layers()
    names = list(models)
    for k in threads:
        torch.set_num_threads(k)
        results[k] = {}
        for T in lengths:
            x = torch.randn(N, T, D, generator=torch.Generator().manual_seed(T))
            x.requires_grad_()
            for m in models.values():  # warm-up
                step_seconds(m, x)
            times: dict[str, list[float]] = {n: [] for n in names}
            for r in range(repeats):
                order = names[r % len(names) :] + names[: r % len(names)]
                for n in order:
                    times[n].append(step_seconds(models[n], x))
            results[k][T] = {n: 1000 * statistics.median(v) for n, v in times.items()}
            row = "  ".join(f"{n} {v:8.1f}" for n, v in results[k][T].items())
            print(f"threads {k}  T {T:5d}  {row}", flush=True)
    return results


def table(results: dict, lengths: list[int]) -> str:
    names = list(next(iter(next(iter(results.values())).values())))
    lines = []
    for k, by_T in results.items():
        lines += [
            f"**torch threads: {k}** (median ms per step; in brackets, median / the scan's)",
            "",
            "| T | " + " | ".join(names) + " |",
            "|---:|" + "---:|" * len(names),
        ]
        for T in lengths:
            row = by_T[T]
            scan_ms = row["minGRU, scan"]
            cells = [
                f"{row[n]:.1f}" if n == "minGRU, scan" else f"{row[n]:.1f} ({row[n] / scan_ms:.2f})"
                for n in names
            ]
            lines.append(f"| {T} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def section(results: dict, lengths: list[int], command: str, seconds: float, load: tuple) -> str:
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""{HEADING}

```sh
{command}
```

One training step (forward and backward) of one recurrent layer on a batch of N = {N}
sequences, D = H = {H}, float32, on the CPU. Each cell is the median of the repeats; the
layers ran interleaved, so each row's ratios compare numbers measured side by side. The
chapter's own measurement (chapter 12, section 7) is the one-thread part of this table
at T = 64, 256 and 1024, remeasured in every build.

Measured {date}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores,
torch {torch.__version__}; load average {load[0]:.1f} at the start, {load[1]:.1f} at the
end (the machine was shared); {seconds:.0f} s in all.

{table(results, lengths)}"""


def write_section(text: str) -> None:
    """Replace this script's section of the README (up to the next '## '), or append."""
    old = README.read_text()
    if HEADING in old:
        start = old.index(HEADING)
        end = old.find("\n## ", start + len(HEADING))
        end = len(old) if end == -1 else end + 1
        new = old[:start] + text.rstrip() + "\n" + ("\n" + old[end:] if end < len(old) else "")
    else:
        new = old.rstrip() + "\n\n" + text.rstrip() + "\n"
    README.write_text(new)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--lengths", type=int, nargs="+", default=[64, 128, 256, 512, 1024, 2048, 4096]
    )
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="update benchmarks/README.md")
    args = parser.parse_args()
    command = ".venv/bin/python benchmarks/scan.py " + " ".join(sys.argv[1:])
    start, load0 = time.perf_counter(), os.getloadavg()[0]
    results = measure(args.lengths, args.threads, args.repeats)
    text = section(
        results, args.lengths, command.strip(), time.perf_counter() - start,
        (load0, os.getloadavg()[0]),
    )  # fmt: skip
    print(text)
    if args.write:
        write_section(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
