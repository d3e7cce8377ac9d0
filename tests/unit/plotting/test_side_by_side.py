"""Figure functions of the chapter *Side by side, and uncertainty*
(sgdllm.plotting.side_by_side), on small synthetic scores."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from sgdllm.plotting import PALETTE
from sgdllm.plotting.side_by_side import (
    estimator_colors,
    plot_cost_crossover,
    plot_estimator_comparison,
    plot_logistic_comparison,
    plot_network_cost,
)
from sgdllm.plotting.style import FIGURE_FUNCTION_ATTR

MODELS = ["embedded", "smollm2-135m"]
CLASSICAL = ["counts", "laplace", "gaussian (rule)", "gaussian (cv)", "AR(1)"]
CONTEXTS = [100, 200]
HORIZONS = np.array([5, 20, 100])


def _scores(e: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.1, 1.0, (e, n)), rng.uniform(0.0, 0.05, (e, n))


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _exact_line(ax) -> float:
    (line,) = [line for line in ax.get_lines() if line.get_label() == "exact kernel"]
    return line.get_ydata()[0]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_estimator_colors_models_in_palette_order_counts_black_laplace_grey():
    colors = estimator_colors(MODELS, CLASSICAL)
    assert list(colors) == [*MODELS, *CLASSICAL]
    assert [colors[m] for m in MODELS] == PALETTE[:2]
    assert colors["counts"] == "black" and colors["laplace"] == "0.6"
    assert colors["AR(1)"] == PALETTE[5]


def test_plot_estimator_comparison_bars_per_estimator_and_context_and_a_horizon_panel():
    names = [*MODELS, *CLASSICAL]
    colors = estimator_colors(MODELS, CLASSICAL)
    fig = plot_estimator_comparison(
        CONTEXTS,
        HORIZONS,
        names,
        [colors[n] for n in names],
        _scores(7, 2, 1),
        _scores(7, 2, 2),
        _scores(7, 3, 3),
        np.array([0.02, 0.01, 0.01]),
        0.0133,
    )
    assert getattr(fig, FIGURE_FUNCTION_ATTR) == (
        "sgdllm.plotting.side_by_side.plot_estimator_comparison"
    )
    left, middle, right = fig.axes[:3]
    assert len(left.patches) == len(middle.patches) == 7 * 2  # one bar per estimator and T
    assert _legend(left) == names
    assert [t.get_text() for t in left.get_xticklabels()] == ["T = 100", "T = 200"]
    assert _exact_line(middle) == pytest.approx(0.0133)
    assert right.get_title() == "T = 200" and right.get_xscale() == "log"
    assert len(right.containers) == 7  # one error-bar series per estimator


def test_plot_estimator_comparison_refuses_a_colour_short():
    with pytest.raises(ValueError):
        plot_estimator_comparison(
            CONTEXTS, HORIZONS, ["a", "b"], ["red"], _scores(2, 2), _scores(2, 2),
            _scores(2, 3), np.ones(3), 1.0,
        )  # fmt: skip


def test_plot_logistic_comparison_two_panels_legend_and_exact_line():
    fig = plot_logistic_comparison(
        CONTEXTS, ["a", "b", "c"], PALETTE[:3], _scores(3, 2), _scores(3, 2, 1), 0.05
    )
    assert getattr(fig, FIGURE_FUNCTION_ATTR).endswith("side_by_side.plot_logistic_comparison")
    assert len(fig.axes) == 2
    assert _legend(fig.axes[0]) == ["a", "b", "c"]
    assert len(fig.axes[1].patches) == 3 * 2
    assert _exact_line(fig.axes[1]) == pytest.approx(0.05)


@pytest.mark.parametrize("crossover, lines", [(30.0, 3), (float("nan"), 2)])
def test_plot_cost_crossover_draws_the_crossover_only_when_there_is_one(crossover, lines):
    fig = plot_cost_crossover(
        [10, 100, 1000],
        [0.01, 0.1, 1.0],
        [0.05, 0.05, 0.05],
        [0.2, 2.0, 20.0],
        [0.01, 0.1, 1.0],
        [1, 8],
        [0.5, 0.2],
        crossover,
        n_starts=4,
        n_runs=100,
        n_states=1000,
        steps=50,
        batch_fraction=0.1,
    )
    assert getattr(fig, FIGURE_FUNCTION_ATTR).endswith("side_by_side.plot_cost_crossover")
    left, right = fig.axes
    assert len(left.get_lines()) == lines
    assert _legend(left)[:2] == ["simulate 4 x 100 SGD runs", "predict 4 laws, K = 1000"]
    assert left.get_xlabel() == "data size N (batch = 0.1 N)"
    assert len(_legend(right)) == 3


def test_plot_network_cost_one_curve_per_estimator_and_a_ceiling_above_the_highest():
    starts = np.logspace(0, 4, 20)
    ratio = {
        "counts": np.full(20, 2.0),
        "embedded": np.linspace(0.01, 1.9, 20),
        "smollm2-135m": np.linspace(1e-4, 1.5, 20),
    }
    fig = plot_network_cost(
        [2000, 100_000],
        [1.0, 40.0],
        {"coarse": [0.01, 0.5], "fine": [1.0, 60.0]},
        {"coarse": 100, "fine": 1000},
        starts,
        ratio,
        {"embedded": "embedded", "smollm2-135m": "SmolLM2-135M"},
        n_runs=100,
        steps=50,
    )
    assert getattr(fig, FIGURE_FUNCTION_ATTR).endswith("side_by_side.plot_network_cost")
    left, right = fig.axes
    assert len(left.get_lines()) == 3
    assert left.get_title() == "One start, T = 50 steps"
    assert _legend(right) == ["counts", "read by embedded", "read by SmolLM2-135M"]
    assert right.get_ylim()[1] == pytest.approx(6.0)  # three times the highest curve
    assert right.get_title() == "Flops, reading included, K = 100"
