"""Figures for the book: one style and the diagrams that several chapters share.

Every function draws on a Matplotlib ``Axes`` it is given (or makes one) and returns it, so a
chapter decides the layout. Figures use a white background so that they stay readable in
the book's dark mode, and the Okabe-Ito colours, which readers with any common form of
colour blindness can tell apart.

A figure is drawn for the page: :data:`PAGE_WIDTH` is the width of the book's text column
in inches. A figure no wider than that is shown at its own size, so a 10-point label reads
as 10-point text; a wider one is shrunk to fit, and its labels with it.
:func:`smallest_font_on_page` and :func:`overlapping_labels` let a chapter (or a test)
check both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path
from matplotlib.text import Text

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
    "smallest_font_on_page",
    "overlapping_labels",
    "COLORS",
    "CYCLE",
    "PAGE_WIDTH",
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

#: The default line colours, in order: Okabe-Ito without its yellow (too pale on white).
CYCLE: tuple[str, ...] = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#000000",
)

#: Width of the book's text column in inches (about 700 CSS pixels, a laptop screen).
PAGE_WIDTH = 7.2

#: Figures are written as SVG (sharp at any zoom); pixels of embedded images use this dpi.
DPI = 150


def setup(dpi: int = DPI) -> None:
    """Set one plotting style for the book: white background, readable fonts, no clutter.

    Call it once at the top of a chapter. Notebook figures are then written as SVG, so
    lines and labels stay sharp at any width; ``dpi`` is the resolution of the raster
    parts (images drawn with ``imshow``) and of PNGs saved with ``savefig``. The white face
    colour matters: the notebook backend otherwise saves transparent figures that vanish
    on the dark theme.
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
            "axes.labelsize": 10,
            "xtick.labelsize": 9,
            "ytick.labelsize": 9,
            "legend.fontsize": 9,
            "axes.prop_cycle": cycler(color=list(CYCLE)),
            "image.cmap": "viridis",
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
            "figure.constrained_layout.use": True,
            "svg.hashsalt": "course-rnn",  # the same SVG in every build
        }
    )
    try:  # the inline backend keeps its own transparent default unless told otherwise
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("svg", metadata={"Date": None})  # no build date in the file
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
    linestyle: str = "-",
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
            linestyle=linestyle,
            alpha=0.9,
        )
    )
    if text:
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
    linestyle: str = "-",
) -> FancyArrowPatch:
    """Draw an arrow from ``start`` to ``end``, optionally labelled above its middle."""
    patch = FancyArrowPatch(
        start,
        end,
        arrowstyle="-|>",
        mutation_scale=12,
        color=color,
        linewidth=1.2,
        linestyle=linestyle,
        connectionstyle=f"arc3,rad={rad}",
        shrinkA=2,
        shrinkB=2,
    )
    ax.add_patch(patch)
    if text:
        mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
        ax.text(mx, my + 0.12, text, ha="center", va="bottom", fontsize=fontsize)
    return patch


def _blank(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    ax.set_axis_off()
    ax.set_aspect("equal")
    return ax


# Sizes of the diagrams, in data units: boxes, the distance between steps, label fonts.
_BOX_W, _BOX_H, _STEP = 0.7, 0.55, 1.6
_LABEL = 10  # points: weight labels beside the arrows
_NAME = 11  # points: x_t, h_t, y_t inside the boxes
_INCH_PER_UNIT = 0.6


def _weight_label(ax: Axes, xy: tuple[float, float], text: str, **kwargs) -> None:
    """A weight name beside an arrow, on a white backing so crossing lines stay clear."""
    ax.text(*xy, text, fontsize=_LABEL, **kwargs)


def draw_unrolled(T: int = 4, ax: Axes | None = None, *, folded: bool = True) -> Axes:
    """Draw one recurrent layer folded (a loop) and unrolled over ``T`` steps.

    The same weights ``W_ih`` (input to hidden) and ``W_hh`` (hidden to hidden) are used at
    every step; the figure labels them once per step to make the sharing visible.
    """
    if T < 1:
        raise ValueError(f"T must be at least 1, got {T}")
    width_units = (3.3 if folded else 0.0) + 1.0 + _STEP * T
    ax = _blank(ax, (width_units * _INCH_PER_UNIT, 3.4 * _INCH_PER_UNIT))
    hw, hh = _BOX_W / 2, _BOX_H / 2
    x0 = 0.0
    if folded:
        box(ax, (0, 1.2), "$h$", width=_BOX_W, height=_BOX_H, fontsize=_NAME)
        box(ax, (0, 0), "$x_t$", width=_BOX_W, height=_BOX_H, color=COLORS["input"], fontsize=_NAME)
        box(
            ax,
            (0, 2.4),
            "$y_t$",
            width=_BOX_W,
            height=_BOX_H,
            color=COLORS["output"],
            fontsize=_NAME,
        )
        arrow(ax, (0, hh), (0, 1.2 - hh))
        _weight_label(ax, (0.08, 0.6), "$W_{ih}$", va="center")
        arrow(ax, (0, 1.2 + hh), (0, 2.4 - hh))
        # the loop: out of the right side of h, round, and back into it
        loop = Path(
            [(hw, 1.32), (hw + 0.9, 1.95), (hw + 0.9, 0.45), (hw, 1.08)],
            [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4],
        )
        ax.add_patch(
            FancyArrowPatch(
                path=loop, arrowstyle="-|>", mutation_scale=12, color="black", linewidth=1.2
            )
        )
        _weight_label(ax, (hw + 0.78, 1.2), "$W_{hh}$", va="center")
        ax.text(2.2, 1.2, "=", fontsize=18, va="center", ha="center")
        x0 = 3.0
    box(ax, (x0, 1.2), "$h_0$", width=_BOX_W, height=_BOX_H, color="#dddddd", fontsize=_NAME)
    for t in range(1, T + 1):
        x = x0 + _STEP * t
        box(ax, (x, 1.2), f"$h_{{{t}}}$", width=_BOX_W, height=_BOX_H, fontsize=_NAME)
        box(
            ax,
            (x, 0),
            f"$x_{{{t}}}$",
            width=_BOX_W,
            height=_BOX_H,
            color=COLORS["input"],
            fontsize=_NAME,
        )
        box(
            ax,
            (x, 2.4),
            f"$y_{{{t}}}$",
            width=_BOX_W,
            height=_BOX_H,
            color=COLORS["output"],
            fontsize=_NAME,
        )
        arrow(ax, (x, hh), (x, 1.2 - hh))
        _weight_label(ax, (x + 0.08, 0.6), "$W_{ih}$", va="center")
        arrow(ax, (x, 1.2 + hh), (x, 2.4 - hh))
        arrow(ax, (x - _STEP + hw, 1.2), (x - hw, 1.2))
        _weight_label(ax, (x - _STEP / 2, 1.27), "$W_{hh}$", ha="center", va="bottom")
    ax.set_xlim(-0.5, x0 + _STEP * T + 0.5)
    ax.set_ylim(-0.4, 2.8)
    return ax


def draw_feedforward_vs_recurrent(T: int = 3, ax: Axes | None = None) -> Axes:
    """Left: one layer per step, each with its own weights ("untied").

    Step t computes h_t = tanh(W_ih^(t) x_t + b_ih^(t) + W_hh^(t) h_{t-1} + b_hh^(t)) with
    its own four arrays. Right: the same picture once the weights are tied (one W_ih, W_hh,
    b_ih, b_hh for every step), which is a recurrent layer. Biases are not drawn.
    """
    if T < 1:
        raise ValueError(f"T must be at least 1, got {T}")
    side_units = _STEP * T + 1.0
    gap = 1.0
    ax = _blank(ax, ((2 * side_units + gap) * _INCH_PER_UNIT, 3.9 * _INCH_PER_UNIT))
    hw, hh = _BOX_W / 2, _BOX_H / 2
    for side, tied in ((0.0, False), (side_units + gap, True)):
        box(ax, (side, 1.2), "$h_0$", width=_BOX_W, height=_BOX_H, color="#dddddd", fontsize=_NAME)
        for t in range(1, T + 1):
            x = side + _STEP * t
            box(
                ax,
                (x, 0),
                f"$x_{{{t}}}$",
                width=_BOX_W,
                height=_BOX_H,
                color=COLORS["input"],
                fontsize=_NAME,
            )
            box(ax, (x, 1.2), f"$h_{{{t}}}$", width=_BOX_W, height=_BOX_H, fontsize=_NAME)
            arrow(ax, (x, hh), (x, 1.2 - hh))
            w_in = "$W_{ih}$" if tied else f"$W_{{ih}}^{{({t})}}$"
            _weight_label(ax, (x + 0.08, 0.6), w_in, va="center")
            arrow(ax, (x - _STEP + hw, 1.2), (x - hw, 1.2))
            w_h = "$W_{hh}$" if tied else f"$W_{{hh}}^{{({t})}}$"
            _weight_label(ax, (x - _STEP / 2, 1.27), w_h, ha="center", va="bottom")
        last = side + _STEP * T
        box(
            ax,
            (last, 2.4),
            "$y$",
            width=_BOX_W,
            height=_BOX_H,
            color=COLORS["output"],
            fontsize=_NAME,
        )
        arrow(ax, (last, 1.2 + hh), (last, 2.4 - hh))
        title = "tied: one recurrent layer" if tied else "untied: own weights per step"
        ax.text(side + _STEP * T / 2, 3.0, title, ha="center", fontsize=11)
    ax.set_xlim(-0.5, 2 * side_units + gap - 0.5)
    ax.set_ylim(-0.4, 3.3)
    return ax


# kind -> (steps, steps that read an input x, steps that give an output y, steps that
# read the previous step's output, step that reads a start input, whether a vector v sets
# the first state)
_TYPES: dict[str, tuple[int, list[int], list[int], list[int], int | None, bool]] = {
    "one-to-one": (1, [1], [1], [], None, False),
    "one-to-many": (4, [], [1, 2, 3, 4], [2, 3, 4], 1, True),
    "many-to-one": (4, [1, 2, 3, 4], [4], [], None, False),
    "many-to-many (aligned)": (4, [1, 2, 3, 4], [1, 2, 3, 4], [], None, False),
    "many-to-many (encoder-decoder)": (6, [1, 2, 3], [4, 5, 6], [5, 6], 4, False),
}

#: Colour of a start input (zeros, or a start-of-sequence token) in :func:`draw_rnn_type`.
START_COLOR = "#dddddd"


def draw_rnn_type(kind: str, ax: Axes | None = None, *, shapes: str | None = None) -> Axes:
    """Draw which steps take an input and which give an output for one RNN type.

    ``kind`` is one of ``one-to-one``, ``one-to-many``, ``many-to-one``,
    ``many-to-many (aligned)``, ``many-to-many (encoder-decoder)``. Orange boxes are
    inputs, pink boxes outputs, blue boxes hidden states. Where a model generates (one-to-
    many, and the decoder of an encoder-decoder), each output is fed back as the next
    step's input: a dashed pink arrow into a dashed box; the first of those steps reads a
    start input (grey: zeros or a start token). In one-to-many the vector ``v`` sets the
    initial state. ``shapes`` is printed under the drawing (e.g. ``"x (N, T, D) -> y (N, C)"``).
    """
    if kind not in _TYPES:
        raise ValueError(f"kind must be one of {sorted(_TYPES)}, got {kind!r}")
    steps, ins, outs, fed_back, start, from_vector = _TYPES[kind]
    step, w, h = 1.3, 0.6, 0.5
    left = -1.7 if from_vector else -0.45
    right = max(step * (steps - 1) + 0.45, 0.9)
    ax = _blank(ax, ((right - left) * 0.55, 3.6 * 0.55))
    for t in range(1, steps + 1):
        x = step * (t - 1)
        box(ax, (x, 1), "", width=w, height=h)
        if t in ins or t in fed_back or t == start:
            if t in ins:
                color, style = COLORS["input"], "-"
            elif t in fed_back:
                color, style = COLORS["output"], "--"
            else:
                color, style = START_COLOR, "-"
            box(ax, (x, 0), "", width=w, height=h, color=color, linestyle=style)
            arrow(ax, (x, h / 2), (x, 1 - h / 2))
        if t in outs:
            box(ax, (x, 2), "", width=w, height=h, color=COLORS["output"])
            arrow(ax, (x, 1 + h / 2), (x, 2 - h / 2))
        if t in fed_back:  # y_{t-1} becomes the input of step t
            arrow(
                ax,
                (x - step + w / 2, 2),
                (x - w / 2, 0),
                color=COLORS["output"],
                linestyle="--",
            )
        if t > 1:
            arrow(ax, (x - step + w / 2, 1), (x - w / 2, 1))
    if from_vector:
        box(ax, (-step, 1), "$v$", width=w, height=h, color=COLORS["input"], fontsize=11)
        arrow(ax, (-step + w / 2, 1), (-w / 2, 1))
    ax.set_title(kind, fontsize=10)
    if shapes:
        ax.text(
            (left + right) / 2, -0.45, shapes, ha="center", va="top", fontsize=9, family="monospace"
        )
    ax.set_xlim(left, right)
    ax.set_ylim(-1.45 if shapes else -0.4, 2.4)
    return ax


def _drawn_texts(fig: Figure) -> list[Text]:
    """The texts a reader sees: labels, titles, tick labels of visible axes, legends."""
    texts: list[Text] = []
    for sub in [fig, *fig.subfigs]:
        texts += list(sub.texts)
        if getattr(sub, "_suptitle", None) is not None:
            texts.append(sub._suptitle)
    for ax in fig.findobj(Axes):
        texts += [*ax.texts, ax.title, ax._left_title, ax._right_title]
        if ax.axison:
            for axis in (ax.xaxis, ax.yaxis):
                texts += [axis.label, *axis.get_ticklabels(which="both")]
        if ax.get_legend() is not None:
            texts += list(ax.get_legend().get_texts())
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def smallest_font_on_page(fig: Figure, page_width: float = PAGE_WIDTH) -> float:
    """The smallest text of ``fig`` in points as the book shows it, ``page_width`` wide.

    A figure wider than the column is scaled down to fit it, and so is its text.
    """
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width = fig.get_tightbbox(renderer).width  # inches, as saved with bbox_inches="tight"
    scale = min(1.0, page_width / width)
    return min(t.get_fontsize() for t in _drawn_texts(fig)) * scale


def overlapping_labels(fig: Figure) -> list[tuple[str, str]]:
    """Pairs (label, other) of texts in ``fig`` that overlap another text or an arrow.

    Texts are compared by their drawn boxes; arrows by the box around their drawn path, so
    a label must clear the whole of a curved arrow.
    """
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = _drawn_texts(fig)
    arrows = [p for p in fig.findobj(FancyArrowPatch) if p.get_visible()]
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    found = []
    for i, (name, bbox) in enumerate(boxes):
        for other, obox in boxes[i + 1 :]:
            if bbox.overlaps(obox):
                found.append((name, other))
        for a in arrows:
            if bbox.overlaps(a.get_window_extent(renderer)):
                found.append((name, "an arrow"))
    return found


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
