"""Figures of the *The model predicting its own training* chapter
(sgdllm.plotting.self_prediction), drawn from small synthetic inputs: what each panel holds, its
legend and the function the figure names."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from sgdllm.plotting.self_prediction import plot_predictions_against_training, plot_training_run
from sgdllm.plotting.style import FIGURE_FUNCTION_ATTR, PALETTE

MODULE = "sgdllm.plotting.self_prediction"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_training_run_draws_the_parameters_the_checkpoint_and_both_losses():
    coords = np.cumsum(np.full((51, 3), -0.01), axis=0)
    fig = plot_training_run(
        coords,
        ["gain[0]", "gain[7]", "bias[2]"],
        20,
        np.linspace(1, 0.9, 51),
        [0, 20, 50],
        [1.0, 0.95, 0.92],
    )
    assert getattr(fig, FIGURE_FUNCTION_ATTR) == f"{MODULE}.plot_training_run"
    left, right = fig.get_axes()
    assert [left.get_title(), right.get_title()] == [
        "Recorded parameters of the final norm",
        "Loss",
    ]
    labels = [t.get_text() for t in left.get_legend().get_texts()]
    assert labels == ["gain[0]", "gain[7]", "bias[2]", "checkpoint"]
    assert list(left.get_lines()[-1].get_xdata()) == [20, 20]  # the checkpoint's vertical line
    np.testing.assert_array_equal(left.get_lines()[1].get_ydata(), coords[:, 1])
    batch, full = right.get_lines()
    assert len(batch.get_ydata()) == 51 and list(full.get_xdata()) == [0, 20, 50]


def _inputs(names, horizons=(10, 30, 100)):
    h = len(horizons)
    w1 = {
        where: {name: np.geomspace(1, 10, h) * (i + 1) for i, name in enumerate(names)}
        for where in ("restart", "checkpoint", "fresh")
    }
    titles = {"restart": "From a restart", "checkpoint": "From the checkpoint", "fresh": "Fresh"}
    grid = np.linspace(0.0, 1.0, 11)
    laws = {name: np.eye(11)[3 + i] for i, name in enumerate(names)}  # point masses
    real = np.array([0.3, 0.35, 0.4, 0.4, 0.45])
    return horizons, w1, titles, real, grid, laws


def test_predictions_figure_has_three_error_panels_and_the_law_panel():
    names = ["language model", "smollm2-135m", "counts", "stay"]
    horizons, w1, titles, real, grid, laws = _inputs(names)
    labels = {"language model": "embedded, its own training", "smollm2-135m": "SmolLM2, another's"}
    fig = plot_predictions_against_training(
        horizons, w1, titles, labels, ["smollm2-135m"], real, grid, 0.1, laws, xlabel="gain[0]"
    )
    assert getattr(fig, FIGURE_FUNCTION_ATTR) == f"{MODULE}.plot_predictions_against_training"
    axes = fig.get_axes()
    assert len(axes) == 4
    assert [ax.get_title() for ax in axes[:3]] == list(titles.values())
    for ax in axes[:3]:
        lines = ax.get_lines()
        assert len(lines) == len(names)
        assert [line.get_linestyle() for line in lines] == ["-", "--", "-", "-"]  # others dashed
        assert [line.get_color() for line in lines] == PALETTE[: len(names)]
        assert ax.get_xscale() == ax.get_yscale() == "log"
        assert [t.get_text() for t in ax.get_xticklabels()] == ["10", "30", "100"]
    (legend,) = fig.legends
    shown = [t.get_text() for t in legend.get_texts()]
    assert shown == ["embedded, its own training", "SmolLM2, another's", "counts", "stay"]
    law_ax = axes[3]
    assert law_ax.get_title() == "Law after 100 steps, checkpoint"
    assert law_ax.get_xlabel() == "gain[0]"
    assert [t.get_text() for t in law_ax.get_legend().get_texts()] == ["5 real runs"]
    np.testing.assert_allclose(law_ax.get_lines()[0].get_ydata(), laws["language model"] / 0.1)
    lo, hi = law_ax.get_xlim()  # every predicted law and real value, with 3 bins of margin
    assert lo == pytest.approx(0.3 - 0.3) and hi == pytest.approx(0.6 + 0.3)
