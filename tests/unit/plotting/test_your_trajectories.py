"""sgdllm.plotting.your_trajectories: each figure of the chapter *Your own trajectories*, drawn
from small synthetic inputs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from sgdllm.plotting import your_trajectories as figs
from sgdllm.plotting.style import FIGURE_FUNCTION_ATTR, PALETTE
from sgdllm.studies.trajectories import PredictionResult

SOURCES = ["embedded", "counts"]
TITLES = {"embedded": "embedded", "counts": "counts"}
COLORS = dict(zip(SOURCES, PALETTE, strict=False))
RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _result(d: int = 2, n_starts: int = 3, k: int = 10) -> PredictionResult:
    horizons = np.array([5, 20])
    grids = np.stack([np.linspace(-1, 1, k) for _ in range(d)])
    laws = np.full((d, n_starts, len(horizons), k), 1 / k)
    return PredictionResult(
        laws=laws,
        grids=grids,
        means=np.zeros((n_starts, len(horizons), d)),
        stds=np.full((n_starts, len(horizons), d), 0.1),
        starts=RNG.uniform(-1, 1, size=(n_starts, d)),
        horizons=horizons,
        trajectory=RNG.normal(size=(1, 30, d)),
        kernels=[],
        summary={"trajectory": {"names": ["w", "b"]}},
    )


def test_tool_figure_is_the_figure_the_tool_writes():
    fig = figs.plot_tool_figure(_result())
    assert getattr(fig, FIGURE_FUNCTION_ATTR) == (
        "sgdllm.plotting.your_trajectories.plot_tool_figure"
    )
    axes = fig.get_axes()
    assert len(axes) == 4  # (runs and means, laws) x two parameters
    assert [ax.get_title() for ax in axes[:2]] == ["w", "b"]
    assert axes[2].get_title() == "predicted law at t = 20"


def test_against_training_draws_the_error_then_one_law_panel_per_parameter():
    k = 10
    grid = np.stack([np.linspace(-1, 1, k)] * 2)
    w1 = {s: RNG.uniform(0.01, 1, size=3) for s in SOURCES}
    laws = {s: np.full((2, k), 1 / k) for s in SOURCES}
    fig = figs.plot_against_training(
        [10, 50, 200],
        w1,
        0.2,
        real=RNG.normal(scale=0.3, size=(40, 2)),
        grid=grid,
        grids={s: grid for s in SOURCES},
        laws=laws,
        names=["$w$", "$b$"],
        start=0,
        titles=TITLES,
        colors=COLORS,
    )
    assert getattr(fig, FIGURE_FUNCTION_ATTR) == (
        "sgdllm.plotting.your_trajectories.plot_against_training"
    )
    left, *panels = fig.get_axes()
    assert len(panels) == 2
    assert len(left.get_lines()) == len(SOURCES) + 1  # + the bin width
    assert [ax.get_title() for ax in panels] == [
        "law of $w$ at $t = 200$, start 1",
        "law of $b$ at $t = 200$, start 1",
    ]
    assert all(len(ax.get_lines()) == len(SOURCES) for ax in panels)
    assert "40 continued runs" in panels[0].get_legend_handles_labels()[1]
