"""Figures of the *In-context scaling laws* chapter (sgdllm.plotting.scaling_laws), drawn from
small synthetic inputs: what each panel holds, its legend and the function the figure names."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from sgdllm.plotting.scaling_laws import (
    plot_estimators_against_theory,
    plot_ladder_losses,
    plot_scaling_law,
    plot_stay_probability,
)
from sgdllm.plotting.style import FIGURE_FUNCTION_ATTR, PALETTE
from sgdllm.studies.scaling import PowerLawFit, ScalingFit

GAPS = [0.15, 0.35, 0.8]


def fake_fit(alpha: float, n: int = 20, c: float = 0.5) -> ScalingFit:
    """A ScalingFit whose mean is exactly c N^alpha on N = 1..n."""
    contexts = np.arange(1.0, n + 1)
    mean = c * contexts**alpha
    power = PowerLawFit(c, alpha, 0.01, 0.02, "loglog")
    return ScalingFit(
        contexts, mean, 0.1 * mean, power, 0.03, (alpha - 0.1, alpha + 0.1), (3, n), 4
    )


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_stay_probability_draws_one_panel_per_gap_with_the_truth():
    n = np.arange(1, 31)
    stay = {rho: (np.full(30, 0.9), np.full(30, 0.01), np.full(30, 1 - rho / 2)) for rho in GAPS}
    fig = plot_stay_probability(n, stay, label="embedded (0.8M)")
    assert (
        getattr(fig, FIGURE_FUNCTION_ATTR) == "sgdllm.plotting.scaling_laws.plot_stay_probability"
    )
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == [r"$\rho = 0.15$", r"$\rho = 0.35$", r"$\rho = 0.8$"]
    for ax, rho, colour in zip(axes, GAPS, PALETTE, strict=False):
        model, truth = ax.get_lines()
        assert model.get_color() == colour and truth.get_linestyle() == "--"
        np.testing.assert_array_equal(truth.get_ydata(), np.full(30, 1 - rho / 2))  # as given
        assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert labels == ["embedded (0.8M)", "truth"]


def test_scaling_law_draws_each_curve_with_its_fit_and_the_posters_exponent():
    fits = {rho: fake_fit(a) for rho, a in zip(GAPS, [-0.6, -0.5, -0.4], strict=True)}
    fig = plot_scaling_law(fits, {0.15: -0.48, 0.35: -0.26})
    assert getattr(fig, FIGURE_FUNCTION_ATTR) == "sgdllm.plotting.scaling_laws.plot_scaling_law"
    (ax,) = fig.get_axes()
    assert len(ax.get_lines()) == 2 * len(GAPS)  # the mean and the dashed fit per gap
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == r"$\rho = 0.15$: $\alpha = -0.60 \pm 0.03$ (poster -0.48)"
    assert labels[2] == r"$\rho = 0.8$: $\alpha = -0.40 \pm 0.03$"  # no poster value: none
    fit_line = ax.get_lines()[1]
    x = fit_line.get_xdata()
    assert x[0] == pytest.approx(3) and x[-1] == pytest.approx(20)  # over the fitted range
    np.testing.assert_allclose(fit_line.get_ydata(), 0.5 * x**-0.6)
    assert ax.get_xscale() == ax.get_yscale() == "log"


def test_estimators_figure_has_every_estimator_its_exponent_and_the_theory():
    names = {"embedded": "embedded (0.8M)", "laplace": "add-one counts", "cv": "smoothed, CV"}
    fits = {rho: {m: fake_fit(-0.5 - i / 10) for i, m in enumerate(names)} for rho in GAPS}
    n = np.arange(10, 21)
    theory = {rho: (n, 1 / (4 * (n - 1))) for rho in GAPS}
    fig = plot_estimators_against_theory(fits, names, theory)
    name = "sgdllm.plotting.scaling_laws.plot_estimators_against_theory"
    assert getattr(fig, FIGURE_FUNCTION_ATTR) == name
    axes = fig.get_axes()
    assert len(axes) == len(GAPS)
    for ax in axes:
        assert len(ax.get_lines()) == len(names) + 1  # the estimators and the theory
        assert [t.get_text() for t in ax.texts] == [" -0.50", " -0.60", " -0.70"]
        np.testing.assert_array_equal(ax.get_lines()[-1].get_xdata(), n)
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [*names.values(), r"theory $1/(4(N-1))$"]


def test_ladder_figure_labels_every_estimator_with_its_exponent_in_each_panel():
    fits = {"embedded": [fake_fit(-0.7)] * 3, "smollm2": [fake_fit(-0.2, n=12)] * 3}
    fits["cv"] = [fake_fit(-1.0)] * 3
    labels = {"embedded": "embedded (0.8M)", "smollm2": "SmolLM2-135M", "cv": "smoothed, CV"}
    fig = plot_ladder_losses(GAPS, fits, labels)
    assert getattr(fig, FIGURE_FUNCTION_ATTR) == "sgdllm.plotting.scaling_laws.plot_ladder_losses"
    axes = fig.get_axes()
    assert len(axes) == len(GAPS) and axes[0].get_ylabel() == "Bhattacharyya loss"
    for ax in axes:
        texts = [t.get_text() for t in ax.get_legend().get_texts()]
        assert texts == ["embedded (0.8M) (-0.70)", "SmolLM2-135M (-0.20)", "smoothed, CV (-1.00)"]
        assert len(ax.get_lines()[1].get_xdata()) == 12  # a shorter window is drawn as given
