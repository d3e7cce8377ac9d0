"""sgdllm.plotting.predicting_sgd: each figure of the chapter *Predicting SGD*, drawn from small
synthetic inputs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from sgdllm.plotting import predicting_sgd as figs
from sgdllm.plotting.style import FIGURE_FUNCTION_ATTR, PALETTE

SOURCES = ["embedded", "smollm2-135m", "counts"]
TITLES = {"embedded": "embedded", "smollm2-135m": "SmolLM2-135M", "counts": "counts"}
COLORS = dict(zip(SOURCES, PALETTE, strict=False))
RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _tag(fig) -> str:
    return getattr(fig, FIGURE_FUNCTION_ATTR)


def _surface(lo: float, hi: float):
    xx, yy = np.meshgrid(np.linspace(lo, hi, 12), np.linspace(lo, hi, 12))
    return xx, yy, xx**2 + yy**2


def test_convex_prediction_draws_the_run_then_one_panel_per_estimator():
    runs = {k: RNG.normal(size=(4, 11, 2)) for k in SOURCES}
    fig = figs.plot_convex_prediction(
        RNG.normal(size=(21, 2)), runs, TITLES, [0.0, 0.0], _surface(-2, 2), (-2, 2), (-3, 3)
    )
    assert _tag(fig) == "sgdllm.plotting.predicting_sgd.plot_convex_prediction"
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == [
        "the SGD run the kernels are read from",
        "predicted: embedded",
        "predicted: SmolLM2-135M",
        "predicted: counts",
    ]
    assert axes[0].get_xlim() == (-2, 2) and axes[0].get_ylim() == (-3, 3)
    assert axes[0].get_ylabel() == r"$\theta_1$"


def test_convex_errors_draws_one_error_line_and_one_law_per_estimator():
    horizons = np.array([10, 30, 100])
    grid = np.linspace(-1, 1, 20)
    w1 = {k: RNG.uniform(0.01, 1, size=3) for k in SOURCES}
    laws = {k: np.full(20, 1 / 20) for k in SOURCES}
    fig = figs.plot_convex_errors(
        horizons, w1, 0.1, grid, RNG.normal(size=50), laws, 0.0, 0, TITLES, COLORS
    )
    assert _tag(fig) == "sgdllm.plotting.predicting_sgd.plot_convex_errors"
    left, right = fig.get_axes()
    assert len(left.get_lines()) == len(SOURCES) + 1  # + the bin width
    assert left.get_xscale() == "log" and left.get_yscale() == "log"
    labels = right.get_legend_handles_labels()[1]
    assert sorted(labels) == sorted(
        ["50 real SGD runs"] + [f"predicted, {TITLES[k]}" for k in SOURCES]
    )
    assert right.get_title() == r"Law of $\theta_0$ at $t = 100$, start 1"


def test_nonconvex_prediction_wraps_at_three_panels_and_hides_the_empty_slots():
    runs = {k: RNG.uniform(-1, 1, size=(8, 6, 2)) for k in SOURCES}
    fig = figs.plot_nonconvex_prediction(
        RNG.uniform(-1, 1, size=(2, 9, 2)),
        runs,
        TITLES,
        np.array([[0.5, 0.5], [-0.5, -0.5]]),
        0.2,
        _surface(-1.2, 1.2),
    )
    assert _tag(fig) == "sgdllm.plotting.predicting_sgd.plot_nonconvex_prediction"
    axes = fig.get_axes()
    assert len(axes) == 6  # 4 panels on a 2 x 3 grid
    shown = [ax for ax in axes if ax.axison]
    assert [ax.get_title() for ax in shown][:2] == ["two SGD runs", "predicted: embedded"]
    assert len(shown) == 4
    assert len(shown[0].patches) == 2  # the two "near a minimum" discs


def test_basin_probabilities_stacks_real_sgd_then_each_estimator():
    real = np.array([[1.0, 0.0, 0.0], [0.2, 0.7, 0.1]])
    tables = {k: np.array([[0.5, 0.25, 0.25], [0.0, 0.0, 1.0]]) for k in ["counts", "embedded"]}
    fig = figs.plot_basin_probabilities(
        real, tables, TITLES, [[0.9, 0.3], [0.8, -0.6]], [True, False]
    )
    assert _tag(fig) == "sgdllm.plotting.predicting_sgd.plot_basin_probabilities"
    axes = fig.get_axes()
    assert [ax.get_ylabel() for ax in axes] == ["real SGD", "counts", "embedded"]
    assert len(axes[0].patches) == 2 * 3  # starts x outcomes
    assert [t.get_text() for t in axes[-1].get_xticklabels()] == ["(0.9, 0.3)", "(0.8, -0.6)*"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == list(figs.OUTCOMES)


def test_runs_needed_marks_each_estimator_against_the_runs():
    reached = {k: np.array([1, 2, 2]) for k in SOURCES}
    tv = {k: np.array([0.5, 0.3, 0.2]) for k in SOURCES}
    fig = figs.plot_runs_needed(np.array([1, 1, 2]), reached, tv, 2, TITLES, COLORS)
    assert _tag(fig) == "sgdllm.plotting.predicting_sgd.plot_runs_needed"
    left, right = fig.get_axes()
    assert len(left.get_lines()) == 1 + len(SOURCES)
    assert left.get_legend_handles_labels()[1][1] == "predicted, embedded"
    assert len(right.get_lines()) == len(SOURCES)
    assert right.get_title() == "Error of the predicted outcomes"
