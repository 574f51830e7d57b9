"""Interactive explorers for the book (ipywidgets), each with a static twin for the HTML.

A widget needs a running kernel to redraw, so every explorer comes as two functions: one
that draws the figure for given settings (used for the static figure in the book) and one
that wires that drawing to sliders.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .analysis import NONLINEARITIES, matrix_with_spectral_radius, recurrence_gradient_norms
from .plots import COLORS, CYCLE

__all__ = [
    "gradient_norms_through_time",
    "plot_gradient_flow",
    "figure_html",
    "gradient_explorer",
]

_LINESTYLES = ("-", "--", "-.", (0, (1, 1)))


def gradient_norms_through_time(
    rho: float, T: int, nonlinearity: str = "tanh", H: int = 64, seed: int = 0
) -> np.ndarray:
    """||dL/dh_t|| for t = 1..T, shape (T,), for a recurrence with spectral radius ``rho``.

    W_hh is ``rho`` times a random orthogonal (H, H) matrix; the loss reads h_T only (see
    :func:`course_rnn.analysis.recurrence_gradient_norms`).
    """
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity: expected one of {NONLINEARITIES}, got {nonlinearity!r}")
    if int(T) != T or T < 2:
        raise ValueError(f"T: expected an integer >= 2, got {T!r}")
    W = matrix_with_spectral_radius(H, rho, kind="orthogonal", seed=seed)
    return recurrence_gradient_norms(W, int(T), nonlinearity=nonlinearity, seed=seed)


def plot_gradient_flow(
    rhos: Sequence[float] = (0.9, 1.0, 1.1),
    T: int = 100,
    nonlinearity: str = "tanh",
    ax: Axes | None = None,
    H: int = 64,
) -> Axes:
    """Plot ||dL/dh_t|| against the distance T - t for each spectral radius in ``rhos``."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for i, rho in enumerate(rhos):
        norms = gradient_norms_through_time(rho, T, nonlinearity, H)
        k = np.arange(T)[::-1]  # steps back from T
        ax.semilogy(
            k,
            np.maximum(norms, 1e-300),
            label=rf"$\rho$ = {rho:g}",
            color=CYCLE[i % len(CYCLE)],  # colour-blind safe, no pale yellow
            ls=_LINESTYLES[i % len(_LINESTYLES)],  # and told apart without colour
            lw=1.6,
        )
    ax.axhline(1.0, color=COLORS["baseline"], lw=0.6)  # norm 1: kept
    ax.set_xlabel("steps back from the loss, T - t")
    ax.set_ylabel(r"$\|\partial L / \partial h_t\|$")
    ax.set_title(f"{nonlinearity}, H = {H}, T = {T}")
    ax.legend(fontsize=8)
    return ax


def figure_html(fig: Figure, alt: str) -> str:
    """The figure as an HTML ``<img>`` (PNG inlined) with ``alt`` text for screen readers.

    Widget outputs are saved into the page as they are; a plain Matplotlib output there
    would have no alt text.
    """
    if not alt.strip():
        raise ValueError("alt: expected a description of the figure, got an empty string")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", facecolor="white")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt, quote=True)}">'


def gradient_explorer(rho: float = 1.0, T: int = 100, nonlinearity: str = "tanh"):
    """Sliders for the spectral radius, the sequence length and the nonlinearity.

    Returns an ``ipywidgets`` interactive whose output redraws :func:`plot_gradient_flow`
    with the chosen radius (and 0.9 and 1.1 times it, for comparison).
    """
    import ipywidgets as w
    from IPython.display import HTML, display

    def show(rho: float, T: int, nonlinearity: str) -> None:
        rhos = (round(0.9 * rho, 3), rho, round(1.1 * rho, 3))
        fig, ax = plt.subplots(figsize=(6, 3.5))
        plot_gradient_flow(rhos, T, nonlinearity, ax)
        alt = (
            f"Gradient norm against steps back, log scale, for a {nonlinearity} recurrence "
            f"with T = {T} and spectral radii {rhos[0]:g}, {rhos[1]:g} and {rhos[2]:g}."
        )
        display(HTML(figure_html(fig, alt)))  # an <img> with alt text, kept in the page
        plt.close(fig)

    wide = {"description_width": "initial"}  # show whole labels
    return w.interactive(
        show,
        rho=w.FloatSlider(
            value=rho, min=0.5, max=2.0, step=0.05, description="spectral radius", style=wide
        ),
        T=w.IntSlider(value=T, min=10, max=300, step=10, description="T"),
        nonlinearity=w.Dropdown(
            options=list(NONLINEARITIES), value=nonlinearity, description="nonlinearity"
        ),
    )
