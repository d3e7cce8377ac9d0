"""The figure functions of the chapter *SGD as a Markov chain*, on small synthetic inputs."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from sgdllm.plotting import sgd_markov_chain as figures
from sgdllm.plotting.style import FIGURE_FUNCTION_ATTR

STEPS = [0.0125, 0.025, 0.05, 0.1]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _tag(fig):
    return getattr(fig, FIGURE_FUNCTION_ATTR)


def test_runs_over_contours_one_panel_per_problem_with_runs_and_minimizer():
    g = np.linspace(-1, 1, 5)
    xx, yy = np.meshgrid(g, g)
    surfaces = {"interpolation": (xx, yy, xx**2 + yy**2), "noisy targets": (xx, yy, xx**2 + 1)}
    runs = {name: np.random.default_rng(0).normal(size=(4, 11, 2)) for name in surfaces}
    centres = {name: np.zeros(2) for name in surfaces}
    fig = figures.plot_runs_over_contours(surfaces, runs, centres)
    assert _tag(fig) == "sgdllm.plotting.sgd_markov_chain.plot_runs_over_contours"
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == list(surfaces)
    # per run a path, a start and an end marker, then the minimizer's cross
    assert all(len(ax.get_lines()) == 4 * 3 + 1 for ax in axes)
    assert axes[0].get_legend() is not None and axes[1].get_legend() is None


def test_spread_over_time_leaves_out_iteration_zero_on_a_log_axis():
    over, under = np.geomspace(1, 1e-12, 21), np.full(21, 0.3)
    over[0] = under[0] = 0.0
    fig = figures.plot_spread_over_time(over, under)
    assert _tag(fig) == "sgdllm.plotting.sgd_markov_chain.plot_spread_over_time"
    (ax,) = fig.get_axes()
    assert ax.get_yscale() == "log"
    lines = ax.get_lines()
    assert len(lines) == 2
    np.testing.assert_array_equal(lines[0].get_xdata(), np.arange(1, 21))
    np.testing.assert_array_equal(lines[1].get_ydata(), under[1:])
    assert ax.get_ylim() == pytest.approx((0.3e-16, 0.9))  # 1e-16 to 3 times the largest


def test_stationary_law_draws_the_cloud_and_two_ellipses():
    cloud = np.random.default_rng(1).normal(size=(30, 2))
    cov = np.eye(2)
    fig = figures.plot_stationary_law(cloud, 500, np.zeros(2), cov, np.zeros(2), 2 * cov)
    assert _tag(fig) == "sgdllm.plotting.sgd_markov_chain.plot_stationary_law"
    (ax,) = fig.get_axes()
    assert len(ax.patches) == 2
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "30 chains at $t=500$"
    assert "theory 2σ" in labels


def test_variance_vs_step_labels_each_step_size():
    fig = figures.plot_variance_vs_step(STEPS, [0.1, 0.2, 0.4, 0.8], [0.1, 0.2, 0.4, 0.8])
    assert _tag(fig) == "sgdllm.plotting.sgd_markov_chain.plot_variance_vs_step"
    (ax,) = fig.get_axes()
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.0125", "0.025", "0.05", "0.1"]
    assert len(ax.get_lines()) == 2


def test_kernel_and_gap_heat_map_and_three_gap_series():
    kernel = np.full((10, 10), 0.1)
    gaps = [0.01, 0.02, 0.04, 0.08]
    fig = figures.plot_kernel_and_gap(kernel, 0.05, STEPS, gaps, gaps, gaps, 800)
    assert _tag(fig) == "sgdllm.plotting.sgd_markov_chain.plot_kernel_and_gap"
    heat, gap, _colorbar = fig.get_axes()
    assert heat.get_title() == "exact kernel, $\\gamma=0.05$" and len(heat.get_images()) == 1
    assert [t.get_text() for t in gap.get_legend().get_texts()] == [
        r"$\gamma H$",
        "exact kernel (binned)",
        "counted from 800 steps",
    ]
