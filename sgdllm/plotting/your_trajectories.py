"""Figures of the chapter *Your own trajectories* (``notebooks/your_trajectories.md``).

One function per figure the chapter records, each named after what it shows. They draw what
the chapter computed (:func:`sgdllm.studies.trajectories.predict_trajectory_file`'s results,
scores from :func:`sgdllm.predict.compare_from_starts`) and compute nothing. Dictionaries keyed
by estimator (a model id or ``"counts"``) are drawn in their order, with the chapter's
``titles`` and ``colors`` (:func:`sgdllm.book.chapter.setup_chapter`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from sgdllm.plotting.style import PALETTE, figure_function

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sgdllm.studies.trajectories import PredictionResult

__all__ = ["plot_against_training", "plot_tool_figure"]


@figure_function
def plot_tool_figure(result: PredictionResult, *, max_starts: int = 4) -> Figure:
    """The figure ``sgdllm predict`` writes (``prediction.png``), for one prediction.

    For each coordinate, the logged runs against the step with the predicted mean +- one
    standard deviation at every horizon from each of the first ``max_starts`` starts (top), and
    the predicted laws at the last horizon (bottom). ``sgdllm predict`` saves this very figure
    (:func:`sgdllm.studies.trajectories.predict_trajectory_file`), so the book shows exactly
    what a reader's command writes.

    Parameters
    ----------
    result : PredictionResult
        What :func:`~sgdllm.studies.trajectories.predict_trajectory_file` returned: the logged
        runs ``trajectory`` (runs, steps, d), the predicted ``means`` and ``stds``
        (n_starts, n_horizons, d) and ``laws`` (d, n_starts, n_horizons, K) on ``grids``
        (d, K).
    """
    import matplotlib.pyplot as plt

    d = result.grids.shape[0]
    cols = min(d, 6)
    fig, axes = plt.subplots(2, cols, figsize=(3.6 * cols, 5.6), squeeze=False)
    names = result.summary["trajectory"].get("names") or [f"coordinate {i}" for i in range(d)]
    shown = range(min(result.starts.shape[0], max_starts))
    for i in range(cols):
        top, bottom = axes[0, i], axes[1, i]
        for run in result.trajectory[:, :, i]:
            top.plot(run, color="0.6", lw=0.6)
        for j in shown:
            c = PALETTE[j % len(PALETTE)]
            t = np.concatenate([[0], result.horizons])
            m = np.concatenate([[result.starts[j, i]], result.means[j, :, i]])
            s = np.concatenate([[0.0], result.stds[j, :, i]])
            top.errorbar(
                t, m, yerr=s, color=c, marker="o", ms=3, capsize=2, lw=1, label=f"start {j + 1}"
            )
            width = result.grids[i, 1] - result.grids[i, 0]
            bottom.plot(result.grids[i], result.laws[i, j, -1] / width, color=c)
        top.set(xscale="symlog", xlabel="step", title=str(names[i]))
        bottom.set(
            xlabel=str(names[i]),
            ylabel="density",
            title=f"predicted law at t = {int(result.horizons[-1])}",
        )
    axes[0, 0].set_ylabel("value (grey: logged runs)")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


@figure_function
def plot_against_training(
    horizons: ArrayLike,
    w1: Mapping[str, ArrayLike],
    bin_width: float,
    real: ArrayLike,
    grid: ArrayLike,
    grids: Mapping[str, ArrayLike],
    laws: Mapping[str, ArrayLike],
    names: Sequence[str],
    start: int,
    titles: Mapping[str, str],
    colors: Mapping[str, str],
) -> Figure:
    """Left: the error of the predicted laws against the horizon. Then, one panel per
    parameter: the predicted laws at the last horizon against the histogram of continued
    training runs from one start.

    Parameters
    ----------
    horizons : array of int, shape (n_horizons,)
    w1 : dict of str to array, shape (n_horizons,)
        ``{estimator: W1 to the continued runs}`` (log-log, one line each).
    bin_width : float
        One state bin (a dotted line).
    real : array, shape (n_real, d)
        The continued runs' parameters at the last horizon, from the start shown.
    grid : array, shape (d, K)
        The state grid of each parameter that the histograms are binned on (bins centred on
        its points) and whose spacing turns a law into a density.
    grids : dict of str to array, shape (d, K)
        ``{estimator: the state grid of its laws}``.
    laws : dict of str to array, shape (d, K)
        ``{estimator: predicted law of each parameter at the last horizon}``, from the start
        shown.
    names : sequence of str, length d
        The parameters' names (axis labels, in TeX).
    start : int
        Index of the start shown (titled from 1).
    titles, colors : dict of str to str
        Each estimator's name and colour.

    Each law panel spans the continued runs' central 99% and four bins on either side.
    """
    import matplotlib.pyplot as plt

    horizons = np.asarray(horizons)
    real = np.asarray(real)
    grid = np.asarray(grid)
    fig, axes = plt.subplots(1, 1 + len(names), figsize=(12, 3.6))
    for name, values in w1.items():
        axes[0].loglog(horizons, values, "o-", color=colors[name], label=titles[name])
    axes[0].axhline(bin_width, color="0.5", ls=":", label="one bin")
    axes[0].set(
        xlabel="horizon $t$", ylabel="$W_1$(predicted, real)", title="Error of the predicted laws"
    )
    axes[0].legend()
    for i, (ax, label) in enumerate(zip(axes[1:], names, strict=True)):
        width = grid[i, 1] - grid[i, 0]
        ax.hist(
            real[:, i],
            bins=grid[i, :-1] + width / 2,
            density=True,
            color="0.8",
            label=f"{len(real)} continued runs",
        )
        for name, law in laws.items():
            ax.plot(
                np.asarray(grids[name])[i],
                np.asarray(law)[i] / width,
                color=colors[name],
                label=f"predicted, {titles[name]}",
            )
        lo, hi = np.percentile(real[:, i], [0.5, 99.5])
        ax.set(
            xlabel=label,
            ylabel="density",
            xlim=(lo - 4 * width, hi + 4 * width),
            title=f"law of {label} at $t = {horizons[-1]}$, start {start + 1}",
        )
    axes[1].legend(fontsize=8)
    return fig
