"""Figures of the chapter *SGD as a Markov chain* (``notebooks/sgd_markov_chain.md``).

One function per recorded figure; each draws the arrays the chapter computed (runs, spreads,
moments, spectral gaps) and returns the figure. Nothing here computes a result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from sgdllm.plotting.style import (
    PALETTE,
    draw_contours,
    draw_ellipse,
    draw_runs,
    figure_function,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "plot_kernel_and_gap",
    "plot_runs_over_contours",
    "plot_spread_over_time",
    "plot_stationary_law",
    "plot_variance_vs_step",
]


@figure_function
def plot_runs_over_contours(
    surfaces: Mapping[str, tuple[ArrayLike, ArrayLike, ArrayLike]],
    runs: Mapping[str, ArrayLike],
    minimizers: Mapping[str, ArrayLike],
) -> Figure:
    """SGD runs over the loss contours of 2-D problems, one panel per problem.

    Parameters
    ----------
    surfaces : mapping of str to (xx, yy, zz)
        Per problem (the panel's title), the loss on a grid, each array of shape ``(n, n)``
        (:func:`sgdllm.sgd.problems.loss_surface`).
    runs : mapping of str to array, shape (n_runs, steps + 1, 2)
        The runs drawn on each panel (circle: start, star: last iterate).
    minimizers : mapping of str to array, shape (2,)
        The minimizer marked with a cross on each panel.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(surfaces), figsize=(8, 4))
    for ax, (name, surface) in zip(np.atleast_1d(axes), surfaces.items(), strict=True):
        draw_contours(ax, *surface)
        draw_runs(ax, runs[name])
        ax.plot(
            *minimizers[name], "+", color="black", ms=12, mew=1.5, label=r"minimizer $\theta^\star$"
        )
        ax.set(title=name, xlabel=r"$\theta_0$", ylabel=r"$\theta_1$")
    np.atleast_1d(axes)[0].legend(loc="lower left")
    return fig


@figure_function
def plot_spread_over_time(spread_over: ArrayLike, spread_under: ArrayLike) -> Figure:
    """Spread across chains against the iteration, over- and under-parametrized, log scale.

    Parameters
    ----------
    spread_over, spread_under : array, shape (steps + 1,)
        Spread across chains at iterations ``0..steps`` (over-parametrized ``d = 20 > N = 10``,
        under-parametrized ``d = 2 < N``). Iteration 0, where every chain is at its start and
        the spread is zero, is left out of the log axis.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    spread_over, spread_under = np.asarray(spread_over), np.asarray(spread_under)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    t = np.arange(1, len(spread_over))  # at t = 0 every chain is at the start: no spread
    ax.semilogy(t, spread_over[1:], label=r"over-parametrized ($d=20 > N=10$)")
    ax.semilogy(t, spread_under[1:], label=r"under-parametrized ($d=2 < N$)")
    top = max(spread_over.max(), spread_under.max())
    ax.set_ylim(1e-16 * top, 3 * top)  # float64 keeps about 16 significant digits
    ax.set(xlabel="iteration $t$", ylabel="spread across chains")
    ax.legend()
    return fig


@figure_function
def plot_stationary_law(
    cloud: ArrayLike,
    steps: int,
    mean_emp: ArrayLike,
    cov_emp: ArrayLike,
    theta_star: ArrayLike,
    cov_theory: ArrayLike,
) -> Figure:
    """The chains' last iterates with the empirical and the exact 2-sigma ellipses.

    Parameters
    ----------
    cloud : array, shape (n_runs, 2)
        The chains at iteration ``steps``.
    steps : int
        The iteration they are at (for the legend).
    mean_emp : array, shape (2,)
        Empirical stationary mean.
    cov_emp : array, shape (2, 2)
        Empirical stationary covariance (solid ellipse).
    theta_star : array, shape (2,)
        The minimizer, the exact stationary mean.
    cov_theory : array, shape (2, 2)
        Exact stationary covariance (dashed ellipse).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    cloud = np.asarray(cloud)
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.scatter(
        cloud[:, 0],
        cloud[:, 1],
        s=3,
        alpha=0.35,
        color=PALETTE[5],
        label=f"{len(cloud)} chains at $t={steps}$",
    )
    draw_ellipse(ax, mean_emp, cov_emp, color=PALETTE[0], lw=2, label="empirical 2σ")
    draw_ellipse(ax, theta_star, cov_theory, color=PALETTE[1], lw=2, ls="--", label="theory 2σ")
    ax.plot(*theta_star, "+", color="black", ms=12, mew=1.5, label=r"$\theta^\star$")
    ax.set(xlabel=r"$\theta_0$", ylabel=r"$\theta_1$", title="Stationary law, noisy targets")
    ax.set_aspect("equal")
    ax.legend(loc="upper left", fontsize=8)
    return fig


@figure_function
def plot_variance_vs_step(
    step_sizes: Sequence[float], variances: ArrayLike, variances_theory: ArrayLike
) -> Figure:
    """Trace of the stationary covariance against the step size, log-log: chains and theory.

    Parameters
    ----------
    step_sizes : sequence of float, length n
        The step sizes, which also label the x axis.
    variances : array, shape (n,)
        Trace of the chains' empirical stationary covariance at each step size (dots).
    variances_theory : array, shape (n,)
        Trace of the exact stationary covariance (line).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.loglog(step_sizes, variances_theory, "-", color=PALETTE[1], label="exact theory")
    ax.loglog(step_sizes, variances, "o", color=PALETTE[0], label="SGD chains")
    ax.set(
        xlabel=r"step size $\gamma$",
        ylabel=r"trace of stationary covariance",
        title="Spread grows linearly with the step",
    )
    ax.set_xticks(step_sizes, labels=[f"{g:g}" for g in step_sizes], minor=False)
    ax.minorticks_off()
    ax.legend()
    return fig


@figure_function
def plot_kernel_and_gap(
    kernel: ArrayLike,
    step: float,
    step_sizes: Sequence[float],
    gaps_theory: ArrayLike,
    gaps_true: ArrayLike,
    gaps_counted: ArrayLike,
    kernel_steps: int,
) -> Figure:
    """Left: an exact binned kernel as a heat map. Right: spectral gaps against the step size.

    Parameters
    ----------
    kernel : array, shape (K, K)
        The exact binned kernel at step size ``step`` (rows: current state). Its colour scale
        stops at its 0.999 quantile, so that the band is not washed out by a few peaks.
    step : float
        The step size of ``kernel`` (for the title).
    step_sizes : sequence of float, length n
        The step sizes of the gaps, which also label the x axis.
    gaps_theory : array, shape (n,)
        ``gamma * H``, the gap of the linear update (line).
    gaps_true : array, shape (n,)
        Spectral gaps of the exact binned kernels (dots).
    gaps_counted : array, shape (n,)
        Spectral gaps of the kernels counted from one run of ``kernel_steps`` steps (squares).
    kernel_steps : int
        Length of that run (for the legend).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    kernel = np.asarray(kernel)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), layout="constrained")
    axes[0].grid(False)
    im = axes[0].imshow(kernel, origin="lower", cmap="viridis", vmax=np.quantile(kernel, 0.999))
    axes[0].set(
        xlabel="next state $s_{t+1}$",
        ylabel="current state $s_t$",
        title=f"exact kernel, $\\gamma={step}$",
    )
    fig.colorbar(im, ax=axes[0], shrink=0.8)
    ax = axes[1]
    ax.loglog(step_sizes, gaps_theory, "-", color="0.4", label=r"$\gamma H$")
    ax.loglog(step_sizes, gaps_true, "o", color=PALETTE[1], label="exact kernel (binned)")
    ax.loglog(
        step_sizes,
        gaps_counted,
        "s",
        mfc="none",
        color=PALETTE[0],
        label=f"counted from {kernel_steps} steps",
    )
    ax.set(
        xlabel=r"step size $\gamma$",
        ylabel="spectral gap",
        title="Mixing speeds up with $\\gamma$",
    )
    ax.set_xticks(step_sizes, labels=[f"{g:g}" for g in step_sizes], minor=False)
    ax.minorticks_off()
    ax.legend(loc="center right")
    return fig
