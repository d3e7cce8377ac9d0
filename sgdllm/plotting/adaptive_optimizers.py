"""Figures of the chapter *Adaptive optimizers as Markov chains*
(notebooks/adaptive_optimizers.md).

The zig-zag of gradient descent and the adaptive methods' paths and loss curves
(:func:`plot_zigzag`), the homogeneity tests on the one-step law (:func:`plot_homogeneity`),
and the prediction errors of counted and language-model kernels (:func:`plot_prediction_w1`).
Each optimizer keeps one colour of the palette, in the order of the chapter's optimizers
(:func:`optimizer_colors`). The numbers come from :mod:`sgdllm.studies.homogeneity` and
:mod:`sgdllm.predict`; these functions only draw them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from sgdllm.plotting.style import PALETTE, draw_contours, figure_function, plain_log_ticks

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["optimizer_colors", "plot_homogeneity", "plot_prediction_w1", "plot_zigzag"]

#: Colours of the language models' bars, apart from the optimizers' colours.
MODEL_COLORS = [PALETTE[5], PALETTE[4], PALETTE[7]]


def optimizer_colors(names: Sequence[str]) -> dict[str, str]:
    """``{optimizer: colour}``: the palette in the order of ``names``."""
    return dict(zip(names, PALETTE, strict=False))


@figure_function
def plot_zigzag(
    surface: tuple[ArrayLike, ArrayLike, ArrayLike],
    paths: Mapping[str, ArrayLike],
    minimizer: ArrayLike,
    loss_curves: Mapping[str, ArrayLike],
    *,
    steps: int,
    noise: float,
) -> Figure:
    """Deterministic paths on the loss contours, and the mean excess loss under noise (figure
    ``zigzag``).

    Parameters
    ----------
    surface : (xx, yy, zz), each of shape (n, n)
        The loss on a grid (:func:`sgdllm.sgd.problems.loss_surface`).
    paths : dict
        ``{optimizer: iterates, shape (steps + 1, 2)}``, gradient descent first; drawn from
        wide to narrow lines so that paths that coincide stay visible.
    minimizer : array_like, shape (2,)
    loss_curves : dict
        ``{optimizer: mean excess loss by iteration, shape (k,)}``.
    steps : int
        Steps of the deterministic paths (for the title).
    noise : float
        The gradient noise of the curves (for the title).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    ax = axes[0]
    draw_contours(ax, *surface)
    # the adaptive paths nearly coincide: wide to narrow lines, dashes and markers every
    # tenth step keep each one visible under the next
    looks = [
        dict(lw=1.0),
        dict(lw=5, alpha=0.45),
        dict(lw=2.5, ls="--", marker="s", ms=4),
        dict(lw=1.2, ls=":", marker="^", ms=5),
    ]
    for (name, path), color, look in zip(paths.items(), PALETTE, looks, strict=False):
        path = np.asarray(path)
        ax.plot(path[:, 0], path[:, 1], color=color, label=name, markevery=10, **look)
    ax.plot(*minimizer, "+", color="black", ms=12, mew=1.5)
    ax.set(xlabel=r"$x_0$", ylabel=r"$x_1$", title=f"{steps} deterministic steps")
    ax.legend(loc="upper right", fontsize=8)
    ax = axes[1]
    colors = optimizer_colors(list(loss_curves))
    for name, curve in loss_curves.items():
        ax.semilogy(curve, color=colors[name], label=name)
    ax.set(
        xlabel="iteration $k$",
        ylabel=r"$E\,F(x_k) - F(x^\star)$",
        title=f"stochastic gradients (noise {noise})",
    )
    ax.legend(fontsize=8)
    return fig


@figure_function
def plot_homogeneity(
    effective_step: Mapping[str, ArrayLike],
    windows: Sequence[tuple[int, int]],
    drift: Mapping[str, float],
    state_dependence: Mapping[str, float],
) -> Figure:
    """The effective step over time, and the two tests on the one-step law (figure
    ``homogeneity``).

    Parameters
    ----------
    effective_step : dict
        ``{optimizer: median effective step at iterations 1..k, shape (k,)}``, every optimizer
        of the chapter, in its order.
    windows : sequence of (start, end)
        The test's early and late windows (shaded).
    drift : dict
        ``{optimizer: drift ratio, early against late window}``, every optimizer.
    state_dependence : dict
        ``{optimizer: ratio, low against high optimizer state}``, the optimizers with a state.
    """
    import matplotlib.pyplot as plt

    names = list(effective_step)
    colors = optimizer_colors(names)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    ax = axes[0]
    for name, curve in effective_step.items():
        ax.loglog(np.arange(1, len(curve) + 1), curve, color=colors[name], label=name)
    for window in windows:
        ax.axvspan(*window, color="0.85", zorder=0)
    ax.set(
        xlabel="iteration $k$",
        ylabel=r"median $\gamma / (\sqrt{s_{k,0}} + \epsilon)$",
        title="effective step, first coordinate",
    )
    ax.legend(fontsize=8)
    ax = axes[1]
    x = np.arange(len(names))
    with_state = np.array([names.index(n) for n in state_dependence])
    ax.bar(x - 0.2, [drift[n] for n in names], 0.4, color=PALETTE[0], label="early vs late")
    ax.bar(
        with_state + 0.2,
        list(state_dependence.values()),
        0.4,
        color=PALETTE[1],
        label="low vs high state",
    )
    ax.axhline(1.0, color="0.3", ls=":", label="noise floor")
    ax.set_xticks(x, names)
    ax.set_yscale("log")
    ax.set(ylabel="statistic / permutation mean", title="one-step law near $x^\\star$")
    ax.legend(fontsize=8)
    return fig


@figure_function
def plot_prediction_w1(
    horizons: ArrayLike,
    w1_theta: Mapping[str, ArrayLike],
    w1_state: Mapping[str, ArrayLike],
    counts_w1: Mapping[str, float],
    model_w1: Mapping[str, Mapping[str, float]],
    calibrated_w1: Mapping[str, Mapping[str, float]],
    titles: Mapping[str, str],
    *,
    n_train: int,
    n_values: int,
) -> Figure:
    """Prediction errors of counted kernels by horizon, and of every language model's kernels
    on one coordinate (figure ``prediction_w1``).

    Parameters
    ----------
    horizons : array_like, shape (h,)
    w1_theta : dict
        ``{optimizer: W1 by horizon, shape (h,)}``: counted kernels on theta alone, every
        optimizer of the chapter, in its order.
    w1_state : dict
        The same with the optimizer state serialized, for the optimizers with a state.
    counts_w1 : dict
        ``{optimizer: mean W1 over the horizons}`` of the kernel counted from one series.
    model_w1, calibrated_w1 : dict
        ``{model: {optimizer: mean W1}}`` of each language model's kernel from the same
        series, raw and with its laws calibrated by a temperature.
    titles : dict
        ``{model: name}`` for the legend.
    n_train, n_values : int
        Training runs of the counted kernels and values the models read (for the titles).
    """
    import matplotlib.pyplot as plt

    names = list(w1_theta)
    colors = optimizer_colors(names)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), layout="constrained")
    ax = axes[0]
    for name in names:
        ax.loglog(horizons, w1_theta[name], "o-", color=colors[name], label=f"{name}, theta only")
        if name in w1_state:
            ax.loglog(
                horizons,
                w1_state[name],
                "s--",
                mfc="none",
                color=colors[name],
                label=f"{name}, + state",
            )
    ax.set(
        xlabel="horizon $t$",
        ylabel=r"$W_1$(predicted, real), $\theta$ units",
        title=f"counted kernels, {n_train} training runs",
    )
    plain_log_ticks(ax)
    ax.legend(fontsize=8, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    ax = axes[1]
    x = np.arange(len(names))
    bars = [("counts", counts_w1, "0.45", None)]
    for i, m in enumerate(model_w1):
        color = MODEL_COLORS[i % len(MODEL_COLORS)]  # not the optimizers' colours
        bars.append((titles[m], model_w1[m], color, None))
        bars.append((f"{titles[m]}, calibrated", calibrated_w1[m], color, "//"))
    width = 0.8 / len(bars)
    for i, (label, vals, color, hatch) in enumerate(bars):
        ax.bar(
            x + (i - (len(bars) - 1) / 2) * width,
            [vals[n] for n in names],
            width,
            color="white" if hatch else color,
            edgecolor=color,
            hatch=hatch,
            label=label,
        )
    ax.set_xticks(x, names)
    ax.set(
        yscale="log",
        ylabel=r"$W_1$, $\theta$ units (mean over horizons)",
        title=f"language models: coordinate 0, {n_values} values",
    )
    plain_log_ticks(ax)
    ax.legend(fontsize=8, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.08))
    return fig
