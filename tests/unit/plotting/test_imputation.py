"""The figure functions of the chapter *Imputation*, on small synthetic inputs."""

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from sgdllm.plotting import imputation as figures
from sgdllm.plotting.style import FIGURE_FUNCTION_ATTR

K = 30
NAMES = ["exact rows", "counts", "language model"]
METHODS = ["ot", "ot-exact", "nearest"]
BASELINES = ["mixture", "uniform", "identity"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _tag(fig):
    return getattr(fig, FIGURE_FUNCTION_ATTR)


def _kernel() -> np.ndarray:
    """A banded kernel: each state moves to one of its neighbours."""
    m = np.zeros((K, K))
    for s in range(K):
        m[s, max(s - 1, 0) : s + 2] = 1.0
    return m / m.sum(axis=1, keepdims=True)


def _visited() -> np.ndarray:
    visited = np.zeros(K, bool)
    visited[[5, 6, 12, 20]] = True
    return visited


def test_imputation_schematic_laws_on_top_and_two_kernel_views():
    truth, visited = _kernel(), _visited()
    fig = figures.plot_imputation_schematic(truth, truth, truth, visited, (6, 12), 9)
    assert _tag(fig) == "sgdllm.plotting.imputation.plot_imputation_schematic"
    laws, sparse, filled = fig.get_axes()
    assert laws.get_title() == "Filling rows 7..11 from rows 6 and 12"
    labels = [t.get_text() for t in laws.get_legend().get_texts()]
    assert {"observed row 6", "observed row 12", "mixture, row 9", "true row 9"} <= set(labels)
    assert [lab for lab in labels if lab.startswith("OT")] == [
        f"OT barycenter, row {r}" for r in (8, 9, 10)
    ]
    assert len(sparse.get_images()) == len(filled.get_images()) == 1
    # the empty rows are masked in the observed view only
    shown_sparse = np.ma.getdata(sparse.get_images()[0].get_array())
    assert np.isnan(shown_sparse[0]).all() and not np.isnan(shown_sparse[5]).any()  # row 5
    assert not np.isnan(np.ma.getdata(filled.get_images()[0].get_array())).any()
    # one row marker per row of the window (rows 0 to 24)
    assert len(sparse.get_lines()) == 25


def test_kernel_heatmaps_six_panels_and_a_colour_bar():
    m = _kernel()
    fig = figures.plot_kernel_heatmaps(m, m, m, m, m, m, _visited())
    assert _tag(fig) == "sgdllm.plotting.imputation.plot_kernel_heatmaps"
    axes = fig.get_axes()
    assert len(axes) == 7
    assert [ax.get_title() for ax in axes[:6]] == [
        "counts, observed",
        "counts, filled (OT)",
        "exact kernel",
        "language model, observed",
        "language model, filled (OT)",
        "exact rows, filled (OT)",
    ]
    assert axes[6].get_ylabel() == "transition probability"


def _filled():
    m = _kernel()
    return {(n, r): SimpleNamespace(matrix=m) for n in NAMES for r in METHODS + BASELINES}


def test_filled_rows_one_panel_per_kernel_four_rules_each():
    fig = figures.plot_filled_rows(_kernel(), _filled(), NAMES, (6, 12), 9)
    assert _tag(fig) == "sgdllm.plotting.imputation.plot_filled_rows"
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == [f"{n}: row 9" for n in NAMES]
    assert all(len(ax.get_lines()) == 4 for ax in axes)
    colours = [line.get_color() for line in axes[0].get_lines()]
    assert colours == [figures.RULE_COLORS[m] for m in ["ot", "ot-exact", "nearest", "mixture"]]


def test_row_errors_one_bar_per_kernel_and_rule():
    rules = METHODS + BASELINES
    row_w1 = {(n, r): 1.0 + i for i, (n, r) in enumerate((n, r) for n in NAMES for r in rules)}
    fig = figures.plot_row_errors(row_w1, NAMES, rules)
    assert _tag(fig) == "sgdllm.plotting.imputation.plot_row_errors"
    (ax,) = fig.get_axes()
    assert len(ax.patches) == len(NAMES) * len(rules)
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == NAMES


def test_row_errors_repeats_one_box_per_rule_and_the_number_of_runs():
    rules = ["ot-exact", "nearest", "identity"]
    rng = np.random.default_rng(0)
    repeat_w1 = {(n, r): rng.uniform(0.1, 3, 7) for n in ["exact rows", "counts"] for r in rules}
    fig = figures.plot_row_errors_repeats(repeat_w1, ["exact rows", "counts"], rules)
    assert _tag(fig) == "sgdllm.plotting.imputation.plot_row_errors_repeats"
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["exact rows, 7 runs", "counts, 7 runs"]
    assert all(len(ax.patches) == len(rules) for ax in axes)
    assert [t.get_text() for t in axes[0].get_xticklabels()] == rules


def test_prediction_errors_methods_solid_baselines_dashed_and_the_floor():
    h = np.array([1, 5, 20])
    pred = {(n, r): np.array([1.0, 2.0, 3.0]) for n in NAMES for r in METHODS + BASELINES}
    fig = figures.plot_prediction_errors(h, pred, np.full(3, 0.5), NAMES, METHODS, BASELINES)
    assert _tag(fig) == "sgdllm.plotting.imputation.plot_prediction_errors"
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == NAMES
    lines = axes[0].get_lines()
    assert len(lines) == len(METHODS) + len(BASELINES) + 1
    assert [line.get_linestyle() for line in lines[:6]] == ["-"] * 3 + ["--"] * 3
    assert lines[-1].get_label() == "exact kernel"
    (legend,) = fig.legends
    assert len(legend.get_texts()) == 7
