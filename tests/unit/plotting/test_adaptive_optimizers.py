"""Figure functions of the chapter *Adaptive optimizers as Markov chains*
(sgdllm.plotting.adaptive_optimizers), on small synthetic inputs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from sgdllm.plotting import PALETTE
from sgdllm.plotting.adaptive_optimizers import (
    optimizer_colors,
    plot_homogeneity,
    plot_prediction_w1,
    plot_zigzag,
)
from sgdllm.plotting.style import FIGURE_FUNCTION_ATTR

OPTIMIZERS = ["SGD", "AdaGrad", "RMSProp", "Adam"]
MODULE = "sgdllm.plotting.adaptive_optimizers"


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_optimizer_colors_follow_the_palette_in_order():
    assert optimizer_colors(OPTIMIZERS) == dict(zip(OPTIMIZERS, PALETTE[:4], strict=True))


def test_plot_zigzag_one_path_per_optimizer_on_contours_and_one_curve_each():
    xx, yy = np.meshgrid(np.linspace(-1, 1, 11), np.linspace(-1, 1, 11))
    t = np.linspace(0.0, 1.0, 31)[:, None]
    paths = {n: np.hstack([t - 1.0, (i + 1) * 0.1 * (1 - t)]) for i, n in enumerate(
        ["GD", "AdaGrad", "RMSProp", "Adam"])}  # fmt: skip
    curves = {n: np.geomspace(1.0, 0.01 * (i + 1), 50) for i, n in enumerate(OPTIMIZERS)}
    fig = plot_zigzag((xx, yy, xx**2 + 5 * yy**2), paths, [0.0, 0.0], curves, steps=30, noise=2.0)
    assert getattr(fig, FIGURE_FUNCTION_ATTR) == f"{MODULE}.plot_zigzag"
    left, right = fig.axes
    assert _legend(left) == list(paths)
    assert left.get_title() == "30 deterministic steps"
    assert [line.get_color() for line in right.get_lines()] == PALETTE[:4]
    assert _legend(right) == OPTIMIZERS and right.get_yscale() == "log"
    assert right.get_title() == "stochastic gradients (noise 2.0)"


def test_plot_homogeneity_state_bars_only_for_optimizers_with_a_state():
    steps = {n: np.geomspace(0.1, 0.01 if n == "AdaGrad" else 0.05, 40) for n in OPTIMIZERS}
    drift = {"SGD": 1.0, "AdaGrad": 12.0, "RMSProp": 1.1, "Adam": 0.9}
    state_dep = {"AdaGrad": 3.0, "RMSProp": 4.0, "Adam": 2.5}
    fig = plot_homogeneity(steps, [(5, 10), (30, 39)], drift, state_dep)
    assert getattr(fig, FIGURE_FUNCTION_ATTR) == f"{MODULE}.plot_homogeneity"
    left, right = fig.axes
    assert len(left.get_lines()) == 4 and len(left.patches) == 2  # two shaded windows
    drift_bars, state_bars = right.containers
    assert [b.get_height() for b in drift_bars] == list(drift.values())
    assert [round(b.get_x() + b.get_width() / 2, 6) for b in state_bars] == [1.2, 2.2, 3.2]
    assert [t.get_text() for t in right.get_xticklabels()] == OPTIMIZERS


def test_plot_prediction_w1_theta_and_state_curves_and_bars_per_model():
    horizons = np.array([10, 30, 100])
    w1_theta = {n: np.array([0.01, 0.02, 0.015]) * (i + 1) for i, n in enumerate(OPTIMIZERS)}
    w1_state = {n: 0.8 * w1_theta[n] for n in OPTIMIZERS[1:]}
    counts = {n: 0.1 for n in OPTIMIZERS}
    models = {
        "embedded": {n: 0.3 for n in OPTIMIZERS},
        "smollm2-135m": {n: 0.4 for n in OPTIMIZERS},
    }
    calibrated = {m: {n: v * 1.1 for n, v in w.items()} for m, w in models.items()}
    titles = {"embedded": "embedded (0.8M)", "smollm2-135m": "SmolLM2-135M"}
    fig = plot_prediction_w1(
        horizons, w1_theta, w1_state, counts, models, calibrated, titles, n_train=10, n_values=100
    )
    assert getattr(fig, FIGURE_FUNCTION_ATTR) == f"{MODULE}.plot_prediction_w1"
    left, right = fig.axes
    assert len(left.get_lines()) == 4 + 3  # theta only for all, + state for three
    assert left.get_title() == "counted kernels, 10 training runs"
    assert _legend(right) == [
        "counts",
        "embedded (0.8M)",
        "embedded (0.8M), calibrated",
        "SmolLM2-135M",
        "SmolLM2-135M, calibrated",
    ]
    assert len(right.patches) == 5 * 4  # one bar per series and optimizer
    assert right.get_title() == "language models: coordinate 0, 100 values"
