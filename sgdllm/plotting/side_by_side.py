"""Figures of the chapter *Side by side, and uncertainty* (notebooks/side_by_side.md).

Every estimator's kernel and prediction errors over seeds, on least squares
(:func:`plot_estimator_comparison`) and on logistic regression
(:func:`plot_logistic_comparison`), and what prediction costs against simulation
(:func:`plot_cost_crossover`, :func:`plot_network_cost`). The numbers come from
:mod:`sgdllm.studies.compare`; these functions only draw them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from sgdllm.plotting.style import PALETTE, figure_function

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "estimator_colors",
    "plot_cost_crossover",
    "plot_estimator_comparison",
    "plot_logistic_comparison",
    "plot_network_cost",
]

KERNEL_TV_LABEL = "TV to the exact rows, visited rows"
PRED_W1_LABEL = r"$W_1$(predicted, real), mean over horizons"


def estimator_colors(models: Sequence[str], classical: Sequence[str]) -> dict[str, str]:
    """One colour per estimator of the chapter's figures: the models of the ladder in the
    palette's order, the raw counts black, Laplace grey, the smoothers and AR(1) the next
    palette colours.

    Parameters
    ----------
    models : sequence of str, length M
        Model ids of the ladder.
    classical : sequence of str, length E - M
        The classical estimators, counts first (:data:`sgdllm.studies.compare.ESTIMATORS`).
    """
    colors = [*PALETTE[: len(models)], "black", "0.6", *PALETTE[3:6]]
    return dict(zip([*models, *classical], colors, strict=False))


def _score_bars(
    ax: Axes,
    context_lengths: Sequence[int],
    mean: ArrayLike,
    se: ArrayLike,
    labels: Sequence[str],
    colors: Sequence[str],
    ylabel: str,
) -> None:
    """Grouped bars, one group per context length and one bar per estimator, whiskers two
    standard errors; ``mean`` and ``se`` of shape ``(E, C)``."""
    mean, se = np.asarray(mean), np.asarray(se)
    x = np.arange(len(context_lengths))
    width = 0.8 / len(labels)
    for i, (label, color) in enumerate(zip(labels, colors, strict=True)):
        ax.bar(
            x + (i - (len(labels) - 1) / 2) * width,
            mean[i],
            width,
            yerr=2 * se[i],
            color=color,
            label=label,
            capsize=2,
        )
    ax.set_xticks(x, [f"T = {t}" for t in context_lengths])
    ax.set(ylabel=ylabel)


@figure_function
def plot_estimator_comparison(
    context_lengths: Sequence[int],
    horizons: ArrayLike,
    labels: Sequence[str],
    colors: Sequence[str],
    kernel_tv: tuple[ArrayLike, ArrayLike],
    pred_w1: tuple[ArrayLike, ArrayLike],
    w1_by_horizon: tuple[ArrayLike, ArrayLike],
    exact_w1: ArrayLike,
    exact_w1_mean: float,
) -> Figure:
    """Kernel error and prediction error of every estimator, over seeds (figure
    ``side_by_side``).

    Parameters
    ----------
    context_lengths : sequence of int, length C
        Lengths of the training runs (one group of bars each).
    horizons : array_like, shape (H,)
        Prediction horizons (right panel, log axis).
    labels, colors : sequence of str, length E
        Each estimator's legend entry and colour, in the order of the score arrays' rows.
    kernel_tv : (mean, se), each of shape (E, C)
        Total variation to the exact rows over the seeds, and its standard error.
    pred_w1 : (mean, se), each of shape (E, C)
        Wasserstein-1 error of the predicted laws (mean over horizons), and its standard error.
    w1_by_horizon : (mean, se), each of shape (E, H)
        Wasserstein-1 error by horizon at the longest context, and its standard error.
    exact_w1 : array_like, shape (H,)
        The exact kernel's error by horizon (dotted, right).
    exact_w1_mean : float
        Its mean over the horizons (dotted line, middle).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, ((mean, se), ylabel) in zip(
        axes[:2], [(kernel_tv, KERNEL_TV_LABEL), (pred_w1, PRED_W1_LABEL)], strict=True
    ):
        _score_bars(ax, context_lengths, mean, se, labels, colors, ylabel)
    axes[1].axhline(exact_w1_mean, color="0.4", ls=":", label="exact kernel")
    axes[0].legend(fontsize=7)
    ax = axes[2]
    mean, se = (np.asarray(a) for a in w1_by_horizon)
    for i, (label, color) in enumerate(zip(labels, colors, strict=True)):
        ax.errorbar(
            horizons, mean[i], yerr=2 * se[i], marker="o", capsize=2, color=color, label=label
        )
    ax.plot(horizons, exact_w1, ":", color="0.4", marker="s", label="exact kernel")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="horizon $t$",
        ylabel=r"$W_1$(predicted, real)",
        title=f"T = {context_lengths[-1]}",
    )
    return fig


@figure_function
def plot_logistic_comparison(
    context_lengths: Sequence[int],
    labels: Sequence[str],
    colors: Sequence[str],
    kernel_tv: tuple[ArrayLike, ArrayLike],
    pred_w1: tuple[ArrayLike, ArrayLike],
    exact_w1_mean: float,
) -> Figure:
    """Kernel error and prediction error of every estimator on logistic regression (figure
    ``side_by_side_logistic``).

    Parameters
    ----------
    context_lengths : sequence of int, length C
    labels, colors : sequence of str, length E
        Each estimator's legend entry and colour, in the order of the score arrays' rows.
    kernel_tv, pred_w1 : (mean, se), each of shape (E, C)
        As in :func:`plot_estimator_comparison`.
    exact_w1_mean : float
        The exact kernel's prediction error, mean over horizons (dotted line, right).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, ((mean, se), ylabel) in zip(
        axes, [(kernel_tv, KERNEL_TV_LABEL), (pred_w1, PRED_W1_LABEL)], strict=True
    ):
        _score_bars(ax, context_lengths, mean, se, labels, colors, ylabel)
    axes[1].axhline(exact_w1_mean, color="0.4", ls=":", label="exact kernel")
    axes[0].legend(fontsize=7)
    return fig


@figure_function
def plot_cost_crossover(
    sizes: Sequence[int],
    sgd_seconds: ArrayLike,
    predict_seconds: ArrayLike,
    time_ratio: ArrayLike,
    flop_ratio: ArrayLike,
    dims: Sequence[int],
    time_ratio_by_dim: ArrayLike,
    measured_crossover: float,
    *,
    n_starts: int,
    n_runs: int,
    n_states: int,
    steps: int,
    batch_fraction: float,
) -> Figure:
    """Wall-clock cost of simulating SGD against predicting by matrix products (figure
    ``cost_crossover``).

    Parameters
    ----------
    sizes : sequence of int, length S
        Data sizes N.
    sgd_seconds, predict_seconds : array_like, shape (S,)
        Seconds of simulating ``n_starts x n_runs`` runs and of predicting ``n_starts`` laws.
    time_ratio, flop_ratio : array_like, shape (S,)
        Simulating over predicting, measured and by the flop model.
    dims : sequence of int, length D
        Dimensions d.
    time_ratio_by_dim : array_like, shape (D,)
        The measured ratio by dimension.
    measured_crossover : float
        The data size where the measured ratio crosses 1 (a dotted line); ``nan`` for none.
    n_starts, n_runs, n_states, steps : int
        m, R, K and T of the study (for the labels).
    batch_fraction : float
        SGD batch over N (for the label).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    ax = axes[0]
    ax.loglog(
        sizes, sgd_seconds, "o-", color=PALETTE[0], label=f"simulate {n_starts} x {n_runs} SGD runs"
    )
    label = f"predict {n_starts} laws, K = {n_states}"
    ax.loglog(sizes, predict_seconds, "s-", color=PALETTE[1], label=label)
    if np.isfinite(measured_crossover):
        ax.axvline(
            measured_crossover,
            color="0.4",
            ls=":",
            label=f"measured crossover N = {measured_crossover:.0f}",
        )
    ax.set(
        xlabel=f"data size N (batch = {batch_fraction:g} N)",
        ylabel="seconds",
        title=f"d = 2, T = {steps}",
    )
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.loglog(sizes, time_ratio, "o-", color=PALETTE[0], label="measured, by N (d = 2)")
    ax.loglog(sizes, flop_ratio, "--", color=PALETTE[0], label="flop model, by N")
    ax.loglog(dims, time_ratio_by_dim, "s-", color=PALETTE[2], label="measured, by d (N = 100)")
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set(
        xlabel="N or d",
        ylabel="cost of simulating / cost of predicting",
        title="Above 1: predicting is cheaper",
    )
    ax.legend(fontsize=8)
    return fig


@figure_function
def plot_network_cost(
    params: ArrayLike,
    sgd_seconds: ArrayLike,
    predict_seconds: Mapping[str, ArrayLike],
    n_states: Mapping[str, int],
    starts: ArrayLike,
    cost_ratio: Mapping[str, ArrayLike],
    titles: Mapping[str, str],
    *,
    n_runs: int,
    steps: int,
) -> Figure:
    """Training a network by SGD against predicting its law, timed and by the flop model with
    the reading included (figure ``network_cost``).

    Parameters
    ----------
    params : array_like, shape (W,)
        Parameters P of each network timed.
    sgd_seconds : array_like, shape (W,)
        Seconds of one start's ``n_runs`` SGD runs of ``steps`` steps.
    predict_seconds : dict
        ``{grid: seconds of one start's prediction, shape (W,)}``, grids ``"coarse"`` and
        ``"fine"``.
    n_states : dict
        ``{grid: K}``, the states of each grid.
    starts : array_like, shape (M,)
        Numbers m of starts predicted (right panel's x axis).
    cost_ratio : dict
        ``{estimator: cost of simulating m starts over that of predicting them plus reading
        the kernels, shape (M,)}``; ``"counts"`` first, then the language models.
    titles : dict
        ``{model id: its name}`` for the legend.
    n_runs, steps : int
        R and T (for the labels).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    ax = axes[0]
    ax.loglog(
        params,
        sgd_seconds,
        "o-",
        color=PALETTE[0],
        label=f"train: {n_runs} SGD runs (forward, backward, update)",
    )
    for g, marker, color in (("coarse", "s", PALETTE[1]), ("fine", "^", PALETTE[2])):
        ax.loglog(
            params,
            predict_seconds[g],
            marker + "--",
            color=color,
            label=f"predict: a {n_states[g]}-state kernel per parameter",
        )
    ax.set(
        xlabel="network parameters P",
        ylabel="seconds per start (measured)",
        title=f"One start, T = {steps} steps",
    )
    ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    ax = axes[1]
    models = [e for e in cost_ratio if e != "counts"]
    styles = {"counts": ("black", "-")}
    styles.update({m: (PALETTE[3 + i % 3], ["--", "-.", ":"][i % 3]) for i, m in enumerate(models)})
    top = 1.0
    for e, ratio in cost_ratio.items():
        top = max(top, np.max(ratio))
        color, ls = styles[e]
        label = "counts" if e == "counts" else f"read by {titles[e]}"
        ax.loglog(starts, ratio, ls, color=color, lw=2, label=label)
    ax.axhline(1.0, color="0.5", lw=1, ls=":")
    ax.text(1.5, 1.6, "above the dotted line: predicting is cheaper", fontsize=9, color="0.3")
    ax.set_ylim(top=3 * top)
    ax.set(
        xlabel="starts m predicted",
        ylabel="cost of simulating / of predicting",
        title=f"Flops, reading included, K = {n_states['coarse']}",
    )
    ax.legend(fontsize=9, loc="lower right")
    fig.tight_layout()
    return fig
