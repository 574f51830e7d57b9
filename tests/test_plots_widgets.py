"""The book's figure helpers (course_rnn.plots) and explorers (course_rnn.widgets)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

from course_rnn import plots, widgets  # noqa: E402


def test_setup_gives_figures_a_white_background_for_dark_mode() -> None:
    plots.setup()
    fig = plt.figure()
    assert matplotlib.colors.to_hex(fig.get_facecolor()) == "#ffffff"
    assert matplotlib.rcParams["savefig.facecolor"] == "white"
    plt.close(fig)


def test_setup_writes_notebook_figures_as_svg_and_images_at_150_dpi() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    plots.setup()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    data, _ = InteractiveShell.instance().display_formatter.format(fig)
    plt.close(fig)
    assert "image/svg+xml" in data and "image/png" not in data
    assert matplotlib.rcParams["savefig.dpi"] >= 150


def test_svg_figures_are_identical_in_two_builds() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    plots.setup()
    svgs = []
    for _ in range(2):
        ax = plots.draw_unrolled(T=2)
        svgs.append(InteractiveShell.instance().display_formatter.format(ax.figure)[0])
        plt.close(ax.figure)
    assert svgs[0]["image/svg+xml"] == svgs[1]["image/svg+xml"]


OKABE_ITO = {"#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"}


def test_setup_draws_lines_in_colour_blind_safe_colours_without_pale_yellow() -> None:
    plots.setup()
    cycle = [c.upper() for c in matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]]
    assert set(cycle) <= OKABE_ITO and "#F0E442" not in cycle
    assert set(c.upper() for c in plots.COLORS.values()) - {"#555555"} <= OKABE_ITO


def test_overlapping_labels_reports_a_label_on_an_arrow_and_on_a_label() -> None:
    fig, ax = plt.subplots(figsize=(4, 2))
    ax.set_axis_off()
    ax.set_xlim(0, 4)
    ax.set_ylim(0, 2)
    plots.arrow(ax, (0.5, 1.0), (3.5, 1.0))
    ax.text(2.0, 1.0, "on the arrow", ha="center", va="center")
    ax.text(2.0, 0.2, "first", ha="center")
    ax.text(2.1, 0.2, "second", ha="center")
    found = plots.overlapping_labels(fig)
    plt.close(fig)
    assert ("on the arrow", "an arrow") in found and ("first", "second") in found


def test_smallest_font_on_page_shrinks_with_a_figure_wider_than_the_page() -> None:
    plots.setup()
    sizes = []
    for width in (plots.PAGE_WIDTH / 2, plots.PAGE_WIDTH * 2):
        fig = plt.figure(figsize=(width, 2))
        fig.text(0.005, 0.5, "x" * 5, fontsize=10)
        fig.text(0.995, 0.5, "y", fontsize=12, ha="right")
        sizes.append(plots.smallest_font_on_page(fig))
        plt.close(fig)
    assert sizes[0] == pytest.approx(10)
    assert sizes[1] == pytest.approx(5, rel=0.05)


def _types_figure() -> matplotlib.figure.Figure:
    """The five RNN types as chapter 3 lays them out: two rows, page wide."""
    fig = plt.figure(figsize=(plots.PAGE_WIDTH, 4.8))
    top, bottom = fig.subfigures(2, 1)
    axes = [
        *top.subplots(1, 3, width_ratios=[1.0, 5.2, 4.5]),
        *bottom.subplots(1, 2, width_ratios=[4.5, 7.0]),
    ]
    for ax, kind in zip(axes, plots._TYPES, strict=True):
        plots.draw_rnn_type(kind, ax, shapes="x (N, T, D)\n-> y (N, T, C)")
    return fig


@pytest.mark.parametrize(
    "draw",
    [
        lambda: plots.draw_unrolled(T=4).figure,
        lambda: plots.draw_feedforward_vs_recurrent(T=3).figure,
        _types_figure,
    ],
    ids=["unrolled", "tied-vs-untied", "rnn-types"],
)
def test_diagrams_have_labels_readable_at_page_width_and_clear_of_arrows(draw) -> None:
    plots.setup()
    fig = draw()
    smallest, overlaps = plots.smallest_font_on_page(fig), plots.overlapping_labels(fig)
    plt.close(fig)
    assert smallest >= 9, f"smallest label {smallest:.1f} pt at page width"
    assert overlaps == []


@pytest.mark.parametrize(
    ("kind", "fed_back"),
    [
        ("one-to-one", 0),
        ("one-to-many", 3),
        ("many-to-one", 0),
        ("many-to-many (aligned)", 0),
        ("many-to-many (encoder-decoder)", 2),
    ],
)
def test_generating_rnn_types_draw_each_output_fed_back_as_the_next_input(kind, fed_back) -> None:
    ax = plots.draw_rnn_type(kind)
    dashed = [
        p
        for p in ax.patches
        if isinstance(p, FancyArrowPatch) and p.get_linestyle() in ("--", "dashed")
    ]
    plt.close(ax.figure)
    assert len(dashed) == fed_back


def test_draw_rnn_type_rejects_an_unknown_kind_and_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="many-to-one"):
        plots.draw_rnn_type("two-to-three")


@pytest.mark.parametrize("T", [1, 4])
def test_draw_unrolled_draws_one_cell_per_step(T: int) -> None:
    ax = plots.draw_unrolled(T=T, folded=False)
    labels = {t.get_text() for t in ax.texts}
    assert {f"$h_{{{t}}}$" for t in range(1, T + 1)} <= labels
    assert f"$h_{{{T + 1}}}$" not in labels
    plt.close(ax.figure)


def test_plot_curves_smooths_with_a_moving_average() -> None:
    ax = plots.plot_curves({"gru": [0.0, 2.0, 4.0, 6.0]}, smooth=2)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [1.0, 3.0, 5.0])
    plt.close(ax.figure)


@pytest.mark.parametrize("rho", [0.9, 1.0, 1.1])
def test_linear_gradient_norm_is_rho_to_the_power_of_the_distance(rho: float) -> None:
    T = 30
    norms = widgets.gradient_norms_through_time(rho, T, nonlinearity="linear", H=16)
    k = np.arange(T)[::-1]  # steps back from h_T
    np.testing.assert_allclose(norms, rho**k, rtol=1e-9)


def test_gradient_norms_reject_an_unknown_nonlinearity() -> None:
    with pytest.raises(ValueError, match="sigmoid"):
        widgets.gradient_norms_through_time(1.0, 10, nonlinearity="sigmoid")


def test_figure_html_keeps_alt_text_escaped() -> None:
    fig, _ = plt.subplots()
    out = widgets.figure_html(fig, 'a "quoted" <title>')
    plt.close(fig)
    assert out.startswith('<img src="data:image/png;base64,')
    assert 'alt="a &quot;quoted&quot; &lt;title&gt;"' in out
    with pytest.raises(ValueError, match="alt"):
        widgets.figure_html(fig, "  ")


def test_gradient_explorer_offers_radius_length_and_nonlinearity() -> None:
    explorer = widgets.gradient_explorer(rho=1.2, T=50, nonlinearity="relu")
    values = [c.value for c in explorer.children[:3]]
    assert values == [1.2, 50, "relu"]
    labels = [c.description for c in explorer.children[:3]]
    assert labels == ["spectral radius", "T", "nonlinearity"]
    plt.close("all")
