"""Figures of the chapter *Predicting SGD* (``notebooks/predicting_sgd.md``).

One function per figure the chapter records, each named after what it shows. They draw the
arrays the chapter computed and compute nothing: predicted runs and laws, scores and basin
tables come from :mod:`sgdllm.predict`, loss surfaces from :func:`sgdllm.sgd.problems.loss_surface`.
Dictionaries keyed by estimator (a model id or ``"counts"``) are drawn in their order, with the
chapter's ``titles`` and ``colors`` (:func:`sgdllm.book.chapter.setup_chapter`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from sgdllm.plotting.style import PALETTE, draw_contours, draw_runs, figure_function

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "plot_basin_probabilities",
    "plot_convex_errors",
    "plot_convex_prediction",
    "plot_nonconvex_prediction",
    "plot_runs_needed",
]

#: The three outcomes of a two-basin run, in the columns' order of a basin table.
OUTCOMES = ("top-right minimum", "bottom-left minimum", "near no minimum")


@figure_function
def plot_convex_prediction(
    train: ArrayLike,
    predicted: Mapping[str, ArrayLike],
    titles: Mapping[str, str],
    theta_star: ArrayLike,
    surface: tuple[ArrayLike, ArrayLike, ArrayLike],
    xlim: tuple[float, float],
    ylim: tuple[float, float],
) -> Figure:
    """The SGD run the kernels are read from, then the predicted runs of each estimator.

    Parameters
    ----------
    train : array, shape (steps + 1, 2)
        The one least-squares run.
    predicted : dict of str to array, shape (n_runs, horizon + 1, 2)
        ``{estimator: predicted runs}``, one panel each, in this order.
    titles : dict of str to str
        Each estimator's name (the panels' titles).
    theta_star : array, shape (2,)
        The minimizer, drawn as a cross.
    surface : tuple of arrays, each of shape (n, n)
        ``(xx, yy, loss)`` on a grid covering ``xlim`` x ``ylim`` (the contours).
    xlim, ylim : tuple of float
        The axes' ranges (the state grids of the two coordinates).
    """
    import matplotlib.pyplot as plt

    panels = [("the SGD run the kernels are read from", np.asarray(train)[None])]
    panels += [(f"predicted: {titles[k]}", runs) for k, runs in predicted.items()]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(3.6 * len(panels), 4.0), sharex=True, sharey=True
    )
    for ax, (title, runs) in zip(axes, panels, strict=True):
        draw_contours(ax, *surface)
        draw_runs(ax, runs, lw=0.8)
        ax.plot(*theta_star, "+", color="black", ms=12, mew=1.5)
        ax.set(title=title, xlabel=r"$\theta_0$", xlim=xlim, ylim=ylim)
    axes[0].set_ylabel(r"$\theta_1$")
    return fig


@figure_function
def plot_convex_errors(
    horizons: ArrayLike,
    w1_by_horizon: Mapping[str, ArrayLike],
    bin_width: float,
    grid: ArrayLike,
    real_values: ArrayLike,
    laws: Mapping[str, ArrayLike],
    minimum: float,
    start: int,
    titles: Mapping[str, str],
    colors: Mapping[str, str],
) -> Figure:
    """Left: the error of the predicted laws against the horizon. Right: one predicted law at
    the last horizon against the histogram of real SGD.

    Parameters
    ----------
    horizons : array of int, shape (n_horizons,)
    w1_by_horizon : dict of str to array, shape (n_horizons,)
        ``{estimator: W1 to the real laws}`` (log-log, one line each).
    bin_width : float
        Width of one state bin of the first coordinate (a dotted line, and the laws' density).
    grid : array, shape (K,)
        Bin centres of the first coordinate's states.
    real_values : array, shape (n_real,)
        The first coordinate of the real runs at the last horizon, from the start shown.
    laws : dict of str to array, shape (K,)
        ``{estimator: predicted law of the first coordinate there}``.
    minimum : float
        The first coordinate of the minimizer (a dashed line).
    start : int
        Index of the start shown (titled from 1).
    titles, colors : dict of str to str
        Each estimator's name and colour.
    """
    import matplotlib.pyplot as plt

    horizons = np.asarray(horizons)
    grid = np.asarray(grid)
    real_values = np.asarray(real_values)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    ax = axes[0]
    for name, w in w1_by_horizon.items():
        ax.loglog(horizons, w, "o-", color=colors[name], label=titles[name])
    ax.axhline(bin_width, color="0.5", ls=":", label="one bin")
    ax.set(
        xlabel="horizon $t$ (steps after the new start)",
        ylabel=r"$W_1$(predicted, real) in $\theta$ units",
        title="Error of the predicted laws",
    )
    ax.legend()
    ax = axes[1]
    ax.hist(
        real_values,
        bins=grid[:-1] + bin_width / 2,
        density=True,
        color="0.8",
        label=f"{len(real_values)} real SGD runs",
    )
    for name, law in laws.items():
        ax.plot(
            grid,
            np.asarray(law) / bin_width,
            color=colors[name],
            label=f"predicted, {titles[name]}",
        )
    ax.axvline(minimum, color="black", lw=0.8, ls="--")
    ax.set(
        xlabel=r"$\theta_0$",
        ylabel="density",
        title=f"Law of $\\theta_0$ at $t = {horizons[-1]}$, start {start + 1}",
    )
    ax.legend(fontsize=8)
    return fig


@figure_function
def plot_nonconvex_prediction(
    train: ArrayLike,
    predicted: Mapping[str, ArrayLike],
    titles: Mapping[str, str],
    minimizers: ArrayLike,
    radius: float,
    surface: tuple[ArrayLike, ArrayLike, ArrayLike],
    lim: float = 1.2,
) -> Figure:
    """The two-basin runs the kernels are read from, then the predicted runs of each estimator,
    at most three panels a row.

    Parameters
    ----------
    train : array, shape (n_runs, steps + 1, 2)
        The two-basin runs the kernels are read from.
    predicted : dict of str to array, shape (n_paths, horizon + 1, 2)
        ``{estimator: predicted runs}``, one panel each, in this order.
    titles : dict of str to str
        Each estimator's name (the panels' titles).
    minimizers : array, shape (n_basins, 2)
        The minima, drawn as crosses with a dotted disc of radius ``radius``.
    radius : float
        Radius of "near a minimum".
    surface : tuple of arrays, each of shape (n, n)
        ``(xx, yy, loss)`` on a grid covering ``[-lim, lim]^2`` (the contours).
    lim : float
        Half-width of the square drawn; the dashed ridge runs from ``(-lim, lim)`` to
        ``(lim, -lim)``.
    """
    import matplotlib.pyplot as plt

    panels = [("two SGD runs", train)]
    panels += [(f"predicted: {titles[k]}", runs) for k, runs in predicted.items()]
    cols = min(3, len(panels))  # at most three panels a row: each stays readable on a page
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(3.7 * cols, 3.8 * rows),
        sharex=True,
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for i, (ax, (title, runs)) in enumerate(zip(axes.flat, panels, strict=False)):
        draw_contours(ax, *surface)
        ax.plot([-lim, lim], [lim, -lim], color="0.4", lw=0.8, ls="--")
        # predicted runs jump between levels: thin, light paths keep their ends (stars) visible
        draw_runs(ax, runs, lw=0.8 if i == 0 else 0.6, alpha=0.85 if i == 0 else 0.45)
        for m in np.asarray(minimizers):
            ax.add_patch(plt.Circle(m, radius, fill=False, color="black", lw=0.8, ls=":"))
            ax.plot(*m, "+", color="black", ms=12, mew=1.5)
        ax.set(title=title, xlabel=r"$\theta_0$", xlim=(-lim, lim), ylim=(-lim, lim))
        ax.tick_params(labelbottom=True)  # a panel above an empty slot keeps its axis labels
    for ax in axes[:, 0]:
        ax.set_ylabel(r"$\theta_1$")
    return fig


@figure_function
def plot_basin_probabilities(
    real: ArrayLike,
    tables: Mapping[str, ArrayLike],
    titles: Mapping[str, str],
    starts: ArrayLike,
    same_sign: Sequence[bool],
    outcomes: Sequence[str] = OUTCOMES,
) -> Figure:
    """Where runs end from each start: one row of stacked bars per estimator, starts side by
    side, so that each row reads like the real one above it.

    Parameters
    ----------
    real : array, shape (n_starts, 3)
        Frequencies of the outcomes of real SGD from each start (the first row).
    tables : dict of str to array, shape (n_starts, 3)
        ``{estimator: predicted probabilities of the outcomes from each start}``, one row
        each below real SGD's, in this order.
    titles : dict of str to str
        Each estimator's name (the rows' labels).
    starts : array, shape (n_starts, 2)
        The starts, written under the bars.
    same_sign : sequence of bool, length n_starts
        Whether a start's coordinates have the same sign (the others are starred).
    outcomes : sequence of str, length 3
        The outcomes' names (legend), drawn blue, vermillion and grey.
    """
    import matplotlib.pyplot as plt

    starts = np.asarray(starts)
    bars = [("real SGD", real)] + [(titles[k], table) for k, table in tables.items()]
    fig, axes = plt.subplots(
        len(bars), 1, figsize=(10, 1.15 * len(bars) + 1.2), sharex=True, layout="constrained"
    )
    x = np.arange(len(starts))
    for ax, (name, table) in zip(axes, bars, strict=True):
        table = np.asarray(table)
        bottom = np.zeros(len(starts))
        for b, (outcome, color) in enumerate(
            zip(outcomes, [PALETTE[0], PALETTE[1], "0.75"], strict=True)
        ):
            ax.bar(
                x,
                table[:, b],
                width=0.7,
                bottom=bottom,
                color=color,
                edgecolor="white",
                lw=0.5,
                label=outcome,
            )
            bottom += table[:, b]
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
        ax.set(ylim=(0, 1), yticks=[0, 1])
    labels = [
        f"({a:g}, {b:g})" + ("" if ok else "*")
        for (a, b), ok in zip(starts, same_sign, strict=True)
    ]
    axes[-1].set_xticks(x, labels, fontsize=9)
    axes[-1].set_xlabel("start ($*$: coordinates of opposite signs)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=3)
    return fig


@figure_function
def plot_runs_needed(
    seen: ArrayLike,
    reached: Mapping[str, ArrayLike],
    tv: Mapping[str, ArrayLike],
    n_basins: int,
    titles: Mapping[str, str],
    colors: Mapping[str, str],
) -> Figure:
    """Left: minima reached by the first n runs and by the predictions from kernels read from
    them. Right: the predictions' mean total variation to real SGD, against n.

    Parameters
    ----------
    seen : array of int, shape (n_runs,)
        Minima reached by the first n runs themselves, n = 1 .. n_runs (a grey step line).
    reached : dict of str to array of int, shape (n_runs,)
        ``{estimator: minima its predictions reach with kernels read from n runs}`` (at most
        five estimators, one marker each, shifted apart).
    tv : dict of str to array, shape (n_runs,)
        ``{estimator: mean total variation to real SGD}``.
    n_basins : int
        The number of minima (the left panel's range).
    titles, colors : dict of str to str
        Each estimator's name and colour.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    n = np.arange(1, len(seen) + 1)
    ax = axes[0]
    ax.step(n, seen, where="mid", color="0.5", lw=3, alpha=0.6, label="reached by the runs")
    for k, (name, marker) in enumerate(zip(reached, "osDv^", strict=False)):
        ax.plot(
            n + 0.08 * (k - len(reached) / 2),
            reached[name],
            marker,
            mfc="none",
            color=colors[name],
            ms=8,
            label=f"predicted, {titles[name]}",
        )
    ax.set(
        xlabel="runs the kernels are read from",
        ylabel="minima reached",
        xticks=n,
        yticks=range(n_basins + 1),
        title="Basins reached",
    )
    ax.legend(loc="lower right")
    ax = axes[1]
    for name, values in tv.items():
        ax.plot(n, values, "o-", color=colors[name], label=titles[name])
    ax.set(
        xlabel="runs the kernels are read from",
        ylabel="mean TV to real SGD",
        xticks=n,
        ylim=(0, 1),
        title="Error of the predicted outcomes",
    )
    ax.legend()
    return fig
