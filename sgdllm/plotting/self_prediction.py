"""Figures of the chapter *The model predicting its own training*
(``notebooks/self_prediction.md``).

Each function draws one recorded figure from what the chapter computed (the copy's training
run, the Wasserstein-1 errors of every estimator's predictions and the laws they predict, from
:mod:`sgdllm.studies.self_training` and :mod:`sgdllm.predict`) and returns it; none computes a
number of the chapter.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from sgdllm.plotting.style import PALETTE, figure_function, plain_log_ticks

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_predictions_against_training", "plot_training_run"]


@figure_function
def plot_training_run(
    coordinates: ArrayLike,
    names: Sequence[str],
    checkpoint: int,
    batch_loss: ArrayLike,
    checkpoints: ArrayLike,
    full_loss: ArrayLike,
) -> Figure:
    """One SGD run of the copy: its recorded parameters (left) and its losses (right).

    Parameters
    ----------
    coordinates : array_like, shape (steps + 1, d)
        The recorded entries of the parameters at every step.
    names : sequence of str, length d
        Their names (``"gain[i]"``), in the legend.
    checkpoint : int
        The step from which training is continued, marked by a dotted line.
    batch_loss : array_like, shape (steps + 1,)
        The mini-batch loss at every step.
    checkpoints, full_loss : array_like, shape (n_checkpoints,)
        Steps at which the full-data loss was computed, and its values.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    coordinates = np.asarray(coordinates)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for j, (name, color) in enumerate(zip(names, PALETTE, strict=False)):
        axes[0].plot(coordinates[:, j], color=color, lw=0.8, label=name)
    axes[0].axvline(checkpoint, color="0.5", ls=":", label="checkpoint")
    axes[0].set(
        xlabel="SGD step $k$",
        ylabel=r"$\theta_k$ (entry)",
        title="Recorded parameters of the final norm",
    )
    axes[0].legend(fontsize=8)
    axes[1].plot(batch_loss, color="0.6", lw=0.5, label="mini-batch loss")
    axes[1].plot(checkpoints, full_loss, "o-", color=PALETTE[0], label="full-data loss")
    axes[1].set(xlabel="SGD step $k$", ylabel="next-token cross-entropy (nats)", title="Loss")
    axes[1].legend(fontsize=8)
    return fig


@figure_function
def plot_predictions_against_training(
    horizons: ArrayLike,
    w1: Mapping[str, Mapping[str, ArrayLike]],
    start_titles: Mapping[str, str],
    labels: Mapping[str, str],
    dashed: Collection[str],
    real: ArrayLike,
    grid: ArrayLike,
    bin_width: float,
    laws: Mapping[str, ArrayLike],
    xlabel: str,
    law_start: str = "checkpoint",
) -> Figure:
    """Errors of every estimator's predictions against the horizon, from each start, and the
    laws they predict after the last horizon against real training.

    Three panels (one per start) draw the Wasserstein-1 distance to the real runs' laws
    against the horizon on log axes; the fourth, the real values of one parameter after the
    last horizon (grey histogram) and each estimator's predicted law of it, as densities. Its
    x range holds 99% of every predicted law and every real value.

    Parameters
    ----------
    horizons : array_like of int, shape (h,)
    w1 : mapping start -> (mapping estimator -> array_like, shape (h,))
        ``W_1`` in state bins at each horizon (averaged over the parameters), one panel per
        start, one line per estimator in the mapping's order (one colour each).
    start_titles : mapping start -> str
        The panels' titles.
    labels : mapping estimator -> str
        Names in the legend; an estimator not in it is named by its key.
    dashed : collection of str
        Estimators drawn dashed and thinner (the other models of the ladder).
    real : array_like, shape (n_real,)
        The parameter's value in each real run after the last horizon.
    grid : array_like, shape (K,)
        The value of each state of the parameter's grid.
    bin_width : float
        The width of one state, in value.
    laws : mapping estimator -> array_like, shape (K,)
        Each estimator's predicted law of the parameter's state after the last horizon, in
        the order of ``w1``'s estimators.
    xlabel : str
        The parameter's name.
    law_start : str
        The start the predicted laws and the real values are from, in the panel's title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    horizons = np.asarray(horizons)
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.6), gridspec_kw={"hspace": 0.35})
    axes = axes.ravel()
    for ax, (where, by_name) in zip(axes[:3], w1.items(), strict=False):
        for (name, w), color in zip(by_name.items(), PALETTE, strict=False):
            ax.loglog(
                horizons,
                w,
                "o",  # the line style is the keyword's
                color=color,
                label=labels.get(name, name),
                lw=1.2 if name in dashed else 1.6,
                ls="--" if name in dashed else "-",
            )
        ax.set(
            xlabel="horizon $t$ (steps)",
            ylabel="$W_1$ (state bins), parameters",
            title=start_titles[where],
        )
        ax.set_xticks(horizons, [str(h) for h in horizons])
        ax.xaxis.set_minor_locator(NullLocator())
        plain_log_ticks(ax)
    fig.legend(
        *axes[0].get_legend_handles_labels(),
        loc="upper center",
        ncol=3,
        bbox_to_anchor=(0.5, 0.03),
        fontsize=9,
    )
    ax = axes[3]
    real, grid = np.asarray(real), np.asarray(grid)
    real_label = f"{len(real)} real runs"
    heights, _, _ = ax.hist(
        real, bins=grid[:-1] + bin_width / 2, density=True, color="0.8", label=real_label
    )
    span = [real.min(), real.max()]
    for (name, law), color in zip(laws.items(), PALETTE, strict=False):
        law = np.asarray(law)
        ax.plot(
            grid,
            law / bin_width,
            color=color,
            label=labels.get(name, name),
            ls="--" if name in dashed else "-",
        )
        cdf = np.cumsum(law)  # the x range holds 99% of every predicted law
        span += [
            grid[np.searchsorted(cdf, 0.005)],
            grid[min(np.searchsorted(cdf, 0.995), len(grid) - 1)],
        ]
    pad = 3 * bin_width
    t_last = int(horizons[-1])
    ax.set(
        xlabel=xlabel,
        ylabel="density",
        ylim=(0, 1.5 * heights.max()),
        xlim=(min(span) - pad, max(span) + pad),
        title=f"Law after {t_last} steps, {law_start}",
    )
    handles, shown = ax.get_legend_handles_labels()  # the lines' colours: legend below
    ax.legend([handles[shown.index(real_label)]], [real_label], fontsize=8, loc="upper left")
    return fig
