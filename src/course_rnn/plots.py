"""Figures for the book: one style and the diagrams that several chapters share.

Every function draws on a Matplotlib ``Axes`` it is given (or makes one) and returns it, so a
chapter decides the layout. Figures use a white background so that they stay readable in
the book's dark mode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

__all__ = [
    "setup",
    "box",
    "arrow",
    "draw_unrolled",
    "draw_feedforward_vs_recurrent",
    "draw_rnn_type",
    "draw_lstm_cell",
    "draw_gru_cell",
    "plot_curves",
    "COLORS",
]

#: Colours used for the same thing in every chapter (colour-blind safe, Okabe-Ito).
COLORS: dict[str, str] = {
    "rnn": "#0072B2",
    "lstm": "#D55E00",
    "gru": "#009E73",
    "input": "#E69F00",
    "hidden": "#56B4E9",
    "output": "#CC79A7",
    "baseline": "#555555",
}


def setup(dpi: int = 90) -> None:
    """Set one plotting style for the book: white background, readable fonts, no clutter.

    Call it once at the top of a chapter. The white face colour matters: the notebook
    backend otherwise saves transparent PNGs that vanish on the dark theme.
    """
    if dpi <= 0:
        raise ValueError(f"dpi must be positive, got {dpi}")
    mpl.rcParams.update(
        {
            "figure.facecolor": "white",
            "figure.edgecolor": "white",
            "savefig.facecolor": "white",
            "axes.facecolor": "white",
            "figure.dpi": dpi,
            "savefig.dpi": dpi,
            "font.size": 10,
            "axes.titlesize": 11,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
            "figure.constrained_layout.use": True,
        }
    )
    try:  # the inline backend keeps its own transparent default unless told otherwise
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("png")
    except ImportError:  # pragma: no cover - outside Jupyter
        pass


def box(
    ax: Axes,
    xy: tuple[float, float],
    text: str,
    *,
    width: float = 0.8,
    height: float = 0.6,
    color: str = COLORS["hidden"],
    fontsize: float = 10,
) -> None:
    """Draw a rounded box centred at ``xy`` with ``text`` inside."""
    x, y = xy
    ax.add_patch(
        FancyBboxPatch(
            (x - width / 2, y - height / 2),
            width,
            height,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            facecolor=color,
            edgecolor="black",
            linewidth=1.0,
            alpha=0.9,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def arrow(
    ax: Axes,
    start: tuple[float, float],
    end: tuple[float, float],
    *,
    text: str | None = None,
    color: str = "black",
    rad: float = 0.0,
    fontsize: float = 9,
) -> None:
    """Draw an arrow from ``start`` to ``end``, optionally labelled at its middle."""
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>",
            mutation_scale=12,
            color=color,
            linewidth=1.2,
            connectionstyle=f"arc3,rad={rad}",
            shrinkA=2,
            shrinkB=2,
        )
    )
    if text:
        mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
        ax.text(mx, my + 0.12, text, ha="center", va="bottom", fontsize=fontsize)


def _blank(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    ax.set_axis_off()
    ax.set_aspect("equal")
    return ax


def draw_unrolled(T: int = 4, ax: Axes | None = None, *, folded: bool = True) -> Axes:
    """Draw one recurrent layer folded (a loop) and unrolled over ``T`` steps.

    The same weights ``W_ih`` (input to hidden) and ``W_hh`` (hidden to hidden) are used at
    every step; the figure labels them once per step to make the sharing visible.
    """
    if T < 1:
        raise ValueError(f"T must be at least 1, got {T}")
    ax = _blank(ax, (2.0 + 1.6 * T, 3.2))
    x0 = 0.0
    if folded:
        box(ax, (0, 1), "$h$")
        box(ax, (0, 0), "$x_t$", color=COLORS["input"])
        box(ax, (0, 2), "$y_t$", color=COLORS["output"])
        arrow(ax, (0, 0.3), (0, 0.7))
        arrow(ax, (0, 1.3), (0, 1.7))
        ax.add_patch(
            FancyArrowPatch(
                (0.4, 1.2),
                (0.4, 0.8),
                arrowstyle="-|>",
                mutation_scale=12,
                connectionstyle="arc3,rad=-1.6",
                linewidth=1.2,
            )
        )
        ax.text(0.68, 1.0, "$W_{hh}$", va="center", fontsize=9)
        ax.text(1.7, 1.0, "=", fontsize=16, va="center", ha="center")
        x0 = 2.6
    box(ax, (x0 - 0.3, 1), "$h_0$", width=0.6, color="#dddddd")
    x0 += 0.2
    for t in range(1, T + 1):
        x = x0 + 1.5 * (t - 1) + 0.9
        box(ax, (x, 1), f"$h_{{{t}}}$")
        box(ax, (x, 0), f"$x_{{{t}}}$", color=COLORS["input"])
        box(ax, (x, 2), f"$y_{{{t}}}$", color=COLORS["output"])
        arrow(ax, (x, 0.3), (x, 0.7))
        ax.text(x + 0.08, 0.45, "$W_{ih}$", fontsize=8)
        arrow(ax, (x, 1.3), (x, 1.7))
        start = x - 1.1 if t > 1 else x0 - 0.2
        arrow(ax, (start, 1), (x - 0.4, 1))
        ax.text((start + x - 0.4) / 2, 1.08, "$W_{hh}$", fontsize=8, ha="center")
    ax.set_xlim(-0.6, x0 + 1.5 * T + 0.1)
    ax.set_ylim(-0.5, 2.5)
    return ax


def draw_feedforward_vs_recurrent(T: int = 3, ax: Axes | None = None) -> Axes:
    """Left: a feedforward net reading x_1..x_T with its own weights per layer.

    Right: the same picture once the weights are tied, which is a recurrent layer.
    """
    ax = _blank(ax, (9, 3.4))
    for side, tied in ((0.0, False), (1.6 * T + 1.5, True)):
        for t in range(1, T + 1):
            x = side + 1.6 * (t - 1)
            box(ax, (x, 0), f"$x_{{{t}}}$", color=COLORS["input"])
            box(ax, (x, 1.2), f"$h_{{{t}}}$")
            w_in = "$W_{ih}$" if tied else f"$U_{t}$"
            arrow(ax, (x, 0.3), (x, 0.9))
            ax.text(x + 0.08, 0.5, w_in, fontsize=8)
            if t > 1:
                w_h = "$W_{hh}$" if tied else f"$w_{t}, b_{t}$"
                arrow(ax, (x - 1.2, 1.2), (x - 0.4, 1.2))
                ax.text(x - 0.8, 1.32, w_h, fontsize=8, ha="center")
        box(ax, (side + 1.6 * (T - 1), 2.4), "$y$", color=COLORS["output"])
        arrow(ax, (side + 1.6 * (T - 1), 1.5), (side + 1.6 * (T - 1), 2.1))
        title = "tied: one recurrent layer" if tied else "untied: a new layer per step"
        ax.text(side + 0.8 * (T - 1), 3.05, title, ha="center", fontsize=10)
    ax.set_xlim(-0.6, 2 * 1.6 * T + 1.2)
    ax.set_ylim(-0.5, 3.3)
    return ax


_TYPES = {
    "one-to-one": (1, [1], [1]),
    "one-to-many": (4, [1], [1, 2, 3, 4]),
    "many-to-one": (4, [1, 2, 3, 4], [4]),
    "many-to-many (aligned)": (4, [1, 2, 3, 4], [1, 2, 3, 4]),
    "many-to-many (encoder-decoder)": (6, [1, 2, 3], [4, 5, 6]),
}


def draw_rnn_type(kind: str, ax: Axes | None = None, *, shapes: str | None = None) -> Axes:
    """Draw which steps take an input and which give an output for one RNN type.

    ``kind`` is one of ``one-to-one``, ``one-to-many``, ``many-to-one``,
    ``many-to-many (aligned)``, ``many-to-many (encoder-decoder)``. ``shapes`` is printed
    under the drawing (e.g. ``"x (N, T, D) -> y (N, C)"``).
    """
    if kind not in _TYPES:
        raise ValueError(f"kind must be one of {sorted(_TYPES)}, got {kind!r}")
    steps, ins, outs = _TYPES[kind]
    ax = _blank(ax, (1.2 * steps + 0.6, 3.0))
    for t in range(1, steps + 1):
        x = 1.1 * (t - 1)
        box(ax, (x, 1), "", width=0.6, height=0.5)
        if t in ins:
            box(ax, (x, 0), "", width=0.6, height=0.5, color=COLORS["input"])
            arrow(ax, (x, 0.25), (x, 0.75))
        if t in outs:
            box(ax, (x, 2), "", width=0.6, height=0.5, color=COLORS["output"])
            arrow(ax, (x, 1.25), (x, 1.75))
        if t > 1:
            arrow(ax, (x - 0.8, 1), (x - 0.3, 1))
    ax.set_title(kind, fontsize=10)
    if shapes:
        ax.text(1.1 * (steps - 1) / 2, -0.65, shapes, ha="center", fontsize=8, family="monospace")
    ax.set_xlim(-0.6, max(1.1 * (steps - 1) + 0.6, 1.2))
    ax.set_ylim(-0.95, 2.5)
    return ax


def _cell_frame(ax: Axes, title: str) -> None:
    ax.add_patch(
        FancyBboxPatch(
            (-0.2, -0.2),
            6.4,
            3.6,
            boxstyle="round,pad=0.05",
            facecolor="#f4f4f4",
            edgecolor="black",
        )
    )
    ax.text(3.0, 3.55, title, ha="center", fontsize=11)


def draw_lstm_cell(ax: Axes | None = None) -> Axes:
    """Draw an LSTM cell: the cell state c runs along the top, changed only by f and i*g."""
    ax = _blank(ax, (7.5, 4.6))
    _cell_frame(ax, "LSTM cell (gates i, f, g, o)")
    # cell state highway
    arrow(ax, (-0.9, 2.8), (6.9, 2.8), color=COLORS["lstm"])
    ax.text(-0.9, 2.95, "$c_{t-1}$", fontsize=10)
    ax.text(6.5, 2.95, "$c_t$", fontsize=10)
    box(ax, (1.5, 2.8), r"$\times$", width=0.45, height=0.45, color="white")
    box(ax, (3.3, 2.8), "$+$", width=0.45, height=0.45, color="white")
    gates = [
        ("f", 1.5, r"$\sigma$"),
        ("i", 2.7, r"$\sigma$"),
        ("g", 3.5, "tanh"),
        ("o", 4.6, r"$\sigma$"),
    ]
    for name, x, fn in gates:
        box(
            ax,
            (x, 0.9),
            f"{name}: {fn}",
            width=0.75,
            height=0.45,
            color=COLORS["hidden"],
            fontsize=8,
        )
    arrow(ax, (1.5, 1.15), (1.5, 2.55))
    box(ax, (3.1, 1.9), r"$\times$", width=0.45, height=0.45, color="white")
    arrow(ax, (2.7, 1.15), (2.95, 1.7))
    arrow(ax, (3.5, 1.15), (3.25, 1.7))
    arrow(ax, (3.15, 2.13), (3.28, 2.57))
    box(ax, (5.3, 2.1), "tanh", width=0.6, height=0.4, color="white", fontsize=8)
    arrow(ax, (5.3, 2.8), (5.3, 2.32))
    box(ax, (5.3, 1.2), r"$\times$", width=0.45, height=0.45, color="white")
    arrow(ax, (5.3, 1.9), (5.3, 1.45))
    arrow(ax, (4.6, 1.15), (5.08, 1.2))
    arrow(ax, (5.55, 1.2), (6.9, 1.2), color=COLORS["rnn"])
    ax.text(6.45, 1.3, "$h_t$", fontsize=10)
    arrow(ax, (-0.9, 0.2), (4.6, 0.2), color=COLORS["rnn"])
    ax.text(-0.9, 0.32, "$h_{t-1}, x_t$", fontsize=10)
    for _, x, _ in gates:
        arrow(ax, (x, 0.2), (x, 0.66))
    ax.set_xlim(-1.0, 7.2)
    ax.set_ylim(-0.4, 3.9)
    return ax


def draw_gru_cell(ax: Axes | None = None) -> Axes:
    """Draw a GRU cell: h_t mixes h_{t-1} and a candidate n with the update gate z."""
    ax = _blank(ax, (7.5, 4.6))
    _cell_frame(ax, "GRU cell (gates r, z, n)")
    arrow(ax, (-0.9, 2.8), (6.9, 2.8), color=COLORS["gru"])
    ax.text(-0.9, 2.95, "$h_{t-1}$", fontsize=10)
    ax.text(6.5, 2.95, "$h_t$", fontsize=10)
    box(ax, (4.2, 2.8), r"$(1-z)\,n + z\,h$", width=1.6, height=0.45, color="white", fontsize=9)
    for name, x, fn in [("z", 1.0, r"$\sigma$"), ("r", 2.3, r"$\sigma$"), ("n", 3.6, "tanh")]:
        box(
            ax,
            (x, 0.9),
            f"{name}: {fn}",
            width=0.8,
            height=0.45,
            color=COLORS["hidden"],
            fontsize=8,
        )
    arrow(ax, (2.7, 0.9), (3.2, 0.9))
    ax.text(2.95, 1.25, r"$r \odot (W_{hn}h+b_{hn})$", ha="center", fontsize=8)
    arrow(ax, (1.0, 1.15), (3.7, 2.57))
    arrow(ax, (3.6, 1.15), (4.3, 2.57))
    arrow(ax, (-0.9, 0.2), (3.6, 0.2), color=COLORS["rnn"])
    ax.text(-0.9, 0.32, "$h_{t-1}, x_t$", fontsize=10)
    for x in (1.0, 2.3, 3.6):
        arrow(ax, (x, 0.2), (x, 0.66))
    ax.set_xlim(-1.0, 7.2)
    ax.set_ylim(-0.4, 3.9)
    return ax


def plot_curves(
    curves: Mapping[str, Sequence[float] | np.ndarray],
    ax: Axes | None = None,
    *,
    xlabel: str = "step",
    ylabel: str = "",
    logy: bool = False,
    baseline: float | None = None,
    baseline_label: str = "baseline",
    smooth: int = 1,
) -> Axes:
    """Plot one line per entry of ``curves`` (name -> values), optionally smoothed.

    ``smooth`` is the width of a moving average (1 = raw values). Names that are keys of
    :data:`COLORS` get their colour, so "rnn", "lstm" and "gru" look the same everywhere.
    """
    if smooth < 1:
        raise ValueError(f"smooth must be >= 1, got {smooth}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for name, values in curves.items():
        v = np.asarray(values, dtype=float)
        if smooth > 1 and v.size >= smooth:
            v = np.convolve(v, np.ones(smooth) / smooth, mode="valid")
        ax.plot(np.arange(v.size), v, label=name, color=COLORS.get(name.lower().split()[0]))
    if baseline is not None:
        ax.axhline(baseline, color=COLORS["baseline"], linestyle="--", label=baseline_label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    return ax
