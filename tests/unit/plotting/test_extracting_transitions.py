"""Figure functions of the chapter *Extracting transition probabilities*, on small inputs."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from sgdllm.plotting import extracting_transitions as figs
from sgdllm.plotting.style import FIGURE_FUNCTION_ATTR

K = 100
rng = np.random.default_rng(0)


def _law(k: int = K) -> np.ndarray:
    return rng.dirichlet(np.ones(k))


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _named(fig, name: str) -> None:
    assert getattr(fig, FIGURE_FUNCTION_ATTR) == f"sgdllm.plotting.extracting_transitions.{name}"


def test_digit_tree_draws_three_panels_one_bar_group_per_likely_digit():
    second = np.stack([_law(10) for _ in range(10)])
    fig = figs.plot_digit_tree(_law(10), second, [4, 5, 3], _law(), _law(), current=42)
    _named(fig, "plot_digit_tree")
    left, middle, right = fig.get_axes()
    assert len(left.patches) == 10 and len(middle.patches) == 30
    assert _legend(middle) == ["$a_0 = 4$", "$a_0 = 5$", "$a_0 = 3$"]
    assert set(_legend(right)) == {"full refinement", "neighbours only", r"current state $s_t$"}
    assert right.get_xlim() == (0, K)


def test_spike_vs_histogram_draws_every_model_and_marks_the_atoms_of_the_truth():
    grid = np.arange(K) / K
    dirac = np.zeros(K)
    dirac[[50, 51]] = [0.9995, 0.0005]  # one atom above the marking threshold
    models = {"embedded (0.8M)": _law(), "SmolLM2-135M": _law()}
    fig = figs.plot_spike_vs_histogram(
        grid, models, dirac, models, _law(), _law(), 0.5, over_shape=(50, 10), under_shape=(1, 50)
    )
    _named(fig, "plot_spike_vs_histogram")
    left, right = fig.get_axes()
    assert left.get_title() == "over-parametrized ($d=50 > N=10$)"
    assert right.get_title() == "under-parametrized ($d=1 < N=50$)"
    assert _legend(left) == ["SmolLM2-135M", "true row", "embedded (0.8M)"]
    assert left.get_lines()[-1].get_xdata().tolist() == [0.5]
    assert set(_legend(right)) == {*models, "true row", "smoothed counts (cv)", "current state"}
    assert len(left.patches) == K  # the reference model's bars


def test_late_distances_one_box_per_estimator():
    names = ["model", "add-one counts", "smoothed (rule)", "smoothed (cv)"]
    fig = figs.plot_late_distances({n: rng.random(20) for n in names}, late=20)
    _named(fig, "plot_late_distances")
    (ax,) = fig.get_axes()
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert ax.get_title() == "under-parametrized, last 20 steps"
    medians = [line for line in ax.get_lines() if line.get_color() == "#D55E00"]
    assert len(medians) == len(names)  # the book's vermillion, whatever style saves the figure


def test_kernel_rows_leave_unvisited_rows_empty():
    visited = np.zeros(K, dtype=bool)
    visited[30:60] = True
    truth = np.stack([_law() for _ in range(K)])
    fig = figs.plot_kernel_rows(truth, visited, truth, vmax=0.05)
    _named(fig, "plot_kernel_rows")
    model_ax, truth_ax, _colorbar = fig.get_axes()
    shown = model_ax.get_images()[0].get_array()
    assert np.ma.getmaskarray(shown)[:30].all() and not np.ma.getmaskarray(shown)[30:60].any()
    assert truth_ax.get_title() == "true kernel (binned)"
    assert len(model_ax.get_lines()[0].get_xdata()) == 30  # one mark per visited row


def test_cost_draws_two_curves_per_precision_and_the_measurement():
    n = np.array([2, 10, 50])
    curves = {2: (n, n**2 * 100, n * 5), 3: (n[:2], n[:2] ** 2 * 1000, n[:2] * 20)}
    fig = figs.plot_cost(curves, measured_at=10, measured=(50, 10_000), digits=2)
    _named(fig, "plot_cost")
    (ax,) = fig.get_axes()
    assert _legend(ax) == [
        "naive scoring, 2 digits",
        "Hierarchy-PDF, 2 digits",
        "naive scoring, 3 digits",
        "Hierarchy-PDF, 3 digits",
        "measured (2 digits)",
    ]
    assert ax.get_lines()[2].get_linestyle() == "--"
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
