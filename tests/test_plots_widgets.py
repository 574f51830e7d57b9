"""The book's figure helpers (course_rnn.plots) and explorers (course_rnn.widgets)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_rnn import plots, widgets  # noqa: E402


def test_setup_gives_figures_a_white_background_for_dark_mode() -> None:
    plots.setup()
    fig = plt.figure()
    assert matplotlib.colors.to_hex(fig.get_facecolor()) == "#ffffff"
    assert matplotlib.rcParams["savefig.facecolor"] == "white"
    plt.close(fig)


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
