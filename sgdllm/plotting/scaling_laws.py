"""Figures of the chapter *In-context scaling laws* (``notebooks/scaling_laws.md``).

Each function draws one recorded figure from what the chapter computed (learning curves
smoothed and fitted by :func:`sgdllm.studies.scaling.fit_scaling_law`, stay probabilities, the
loss of counting) and returns it; none computes a number. Curves are drawn against the context
length ``N`` on log axes, one panel per spectral gap ``rho`` of the two-state chains.
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

    from sgdllm.studies.scaling import ScalingFit

__all__ = [
    "plot_estimators_against_theory",
    "plot_ladder_losses",
    "plot_scaling_law",
    "plot_stay_probability",
]


def _band(ax: Axes, n: ArrayLike, mean: ArrayLike, se: ArrayLike, color: str, alpha: float) -> None:
    """The band mean ± se over n, without an edge."""
    ax.fill_between(n, mean - se, mean + se, color=color, alpha=alpha, lw=0)


@figure_function
def plot_stay_probability(
    contexts: ArrayLike,
    stay: Mapping[float, tuple[ArrayLike, ArrayLike, ArrayLike]],
    label: str,
) -> Figure:
    """The model's probability of staying in the current state against the context, per gap.

    Parameters
    ----------
    contexts : array_like, shape (T,)
        Context lengths ``N`` of the curves' points.
    stay : mapping gap -> (mean, se, truth), each array_like of shape (T,)
        The model's smoothed stay probability, mean and standard error over the series, and
        the truth's smoothed mean, one panel per gap in the mapping's order.
    label : str
        The model's name in the legend.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(stay), figsize=(9, 3.0), sharey=True, layout="constrained")
    axes = np.atleast_1d(axes)
    for ax, (rho, (mean, se, truth)), colour in zip(axes, stay.items(), PALETTE, strict=False):
        _band(ax, contexts, np.asarray(mean), np.asarray(se), colour, 0.25)
        ax.plot(contexts, mean, color=colour, label=label)
        ax.plot(contexts, truth, color="black", ls="--", lw=1, label="truth")
        ax.set(xscale="log", xlabel="context length $N$", title=rf"$\rho = {rho}$")
    axes[0].set_ylabel(r"$\hat P_N(\mathrm{stay})$")
    axes[0].legend(loc="lower left")
    return fig


@figure_function
def plot_scaling_law(
    fits: Mapping[float, ScalingFit], poster_alpha: Mapping[float, float]
) -> Figure:
    """The embedded model's loss against the context for each gap, with its fitted power law.

    Parameters
    ----------
    fits : mapping gap -> ScalingFit
        The model's smoothed mean loss (``contexts``, ``mean``, ``se`` of shape (T,)) and its
        fit ``c N^alpha``, drawn dashed over ``fit_range``.
    poster_alpha : mapping gap -> float
        The poster's exponents, quoted in the legend for the gaps it has.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for (rho, f), colour in zip(fits.items(), PALETTE, strict=False):
        _band(ax, f.contexts, f.mean, f.se, colour, 0.25)
        ax.plot(f.contexts, f.mean, color=colour, lw=1.2)
        fit_n = np.geomspace(*f.fit_range, 50)  # where the fitted line is drawn
        label = rf"$\rho = {rho}$: $\alpha = {f.alpha:.2f} \pm {f.alpha_se:.2f}$"
        if rho in poster_alpha:
            label += f" (poster {poster_alpha[rho]:.2f})"
        ax.plot(fit_n, f.fit(fit_n), "--", color=colour, lw=2, label=label)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="context length $N$ (values)",
        ylabel="Bhattacharyya loss",
        title="Embedded model: in-context loss vs context",
    )
    ax.legend(loc="upper right", fontsize=8)
    return fig


@figure_function
def plot_estimators_against_theory(
    fits: Mapping[float, Mapping[str, ScalingFit]],
    names: Mapping[str, str],
    theory: Mapping[float, tuple[ArrayLike, ArrayLike]],
) -> Figure:
    """Every estimator's loss against the context, per gap, with the loss of counting.

    Parameters
    ----------
    fits : mapping gap -> (mapping estimator -> ScalingFit)
        Smoothed mean loss and standard error (shape (T,)) and fitted exponent of each
        estimator on the gap's series.
    names : mapping estimator -> str
        The estimators drawn, in order (one colour each), and their names in the legend.
    theory : mapping gap -> (contexts, loss), each array_like of shape (n,)
        The asymptotic loss ``1 / (4 (N - 1))`` of the empirical frequencies, drawn dotted.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(fits), figsize=(10, 3.6), sharey=True, layout="constrained")
    axes = np.atleast_1d(axes)
    for ax, (rho, by_name) in zip(axes, fits.items(), strict=True):
        for name, colour in zip(names, PALETTE, strict=False):
            f = by_name[name]
            _band(ax, f.contexts, f.mean, f.se, colour, 0.25)
            ax.plot(f.contexts, f.mean, color=colour, label=names[name])
            ax.text(
                1.0,
                f.mean[-1],
                f" {f.alpha:.2f}",
                color=colour,
                fontsize=7,
                va="center",
                transform=ax.get_yaxis_transform(),
            )
        ax.plot(*theory[rho], ":", color="black", lw=1.5, label=r"theory $1/(4(N-1))$")
        ax.set(xscale="log", yscale="log", xlabel="context length $N$", title=rf"$\rho = {rho}$")
    axes[0].set_ylabel("Bhattacharyya loss")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=8)
    return fig


@figure_function
def plot_ladder_losses(
    gaps: Sequence[float],
    fits: Mapping[str, Sequence[ScalingFit]],
    labels: Mapping[str, str],
) -> Figure:
    """The model ladder's losses against the context, per gap, with their exponents.

    Parameters
    ----------
    gaps : sequence of float
        The spectral gaps, one panel each.
    fits : mapping estimator -> sequence of ScalingFit, one per gap
        Each model's (and the reference smoother's) smoothed mean loss and standard error over
        the ladder's series, shape (w,) up to its own window ``w``, and its fitted exponent.
    labels : mapping estimator -> str
        Names in the legends, for the estimators of ``fits``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(gaps), figsize=(10, 3.4), sharey=True, layout="constrained")
    axes = np.atleast_1d(axes)
    for i, (ax, rho) in enumerate(zip(axes, gaps, strict=True)):
        for name, colour in zip(fits, PALETTE, strict=False):
            f = fits[name][i]
            _band(ax, f.contexts, f.mean, f.se, colour, 0.2)
            ax.plot(f.contexts, f.mean, color=colour, label=f"{labels[name]} ({f.alpha:.2f})")
        ax.set(xscale="log", yscale="log", xlabel="context length $N$", title=rf"$\rho = {rho}$")
        ax.legend(fontsize=7, loc="lower left")
    axes[0].set_ylabel("Bhattacharyya loss")
    return fig
