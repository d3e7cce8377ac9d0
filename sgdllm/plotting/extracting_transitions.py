"""Figures of the chapter *Extracting transition probabilities*
(``notebooks/extracting_transitions.md``).

One function per figure the chapter records; each draws the arrays the chapter computed and
returns the figure (:func:`~sgdllm.plotting.style.figure_function`).
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
    "plot_cost",
    "plot_digit_tree",
    "plot_kernel_rows",
    "plot_late_distances",
    "plot_spike_vs_histogram",
]


@figure_function
def plot_digit_tree(
    first: ArrayLike,
    second: ArrayLike,
    likely: Sequence[int],
    law_full: ArrayLike,
    law_neighbours: ArrayLike,
    current: int,
) -> Figure:
    """One step of Hierarchy-PDF: first-digit law, second-digit laws, and their product.

    Parameters
    ----------
    first : array_like, shape (10,)
        The law of the first digit, ``P(a_0)``.
    second : array_like, shape (10, 10)
        Row ``a_0``: the law of the second digit below it, ``P(a_1 | a_0)``.
    likely : sequence of int
        The first digits to highlight (the three most likely), most likely first.
    law_full, law_neighbours : array_like, shape (K,)
        The law over all states at full refinement (bars) and refining only the neighbours
        of the most likely first digit (line).
    current : int
        The current state ``s_t`` (dotted line).
    """
    import matplotlib.pyplot as plt

    first, second = np.asarray(first), np.asarray(second)
    k = len(law_full)
    fig, axes = plt.subplots(
        1, 3, figsize=(11, 3.3), layout="constrained", gridspec_kw={"width_ratios": [1, 1.3, 1.8]}
    )
    ax = axes[0]
    ax.bar(np.arange(10), first, color=[PALETTE[0] if a in likely else "0.7" for a in range(10)])
    ax.set(
        xticks=range(10),
        xlabel="first digit $a_0$",
        ylabel="probability",
        title=r"$P(a_0)$, read at the separator",
    )
    ax = axes[1]
    width = 0.8 / len(likely)
    for j, a0 in enumerate(likely):
        ax.bar(
            np.arange(10) + (j - 1) * width,
            second[a0],
            width=width,
            color=PALETTE[j],
            label=f"$a_0 = {a0}$",
        )
    ax.set(
        xticks=range(10),
        xlabel="second digit $a_1$",
        ylabel="probability",
        title=r"$P(a_1 \mid a_0)$, one pass per branch",
    )
    ax.legend()
    ax = axes[2]
    ax.bar(np.arange(k), law_full, width=1.0, color=PALETTE[0], alpha=0.8, label="full refinement")
    ax.step(
        np.arange(k), law_neighbours, where="mid", color=PALETTE[1], lw=1.2, label="neighbours only"
    )
    ax.axvline(current, color="black", ls=":", lw=1, label=r"current state $s_t$")
    ax.set(
        xlabel="next state $s_{t+1}$",
        ylabel="probability",
        title=r"product: $P(a_0)\,P(a_1 \mid a_0)$",
        xlim=(0, k),
    )
    ax.legend(fontsize=8)
    return fig


def _laws_panel(
    ax: Axes, grid: np.ndarray, laws: Mapping[str, ArrayLike], alpha: float | None
) -> None:
    """The first law of ``laws`` as bars, the others as lines (their colours after the
    truth's and the smoother's)."""
    (label, law), *others = laws.items()
    ax.bar(grid, law, width=1 / len(grid), color=PALETTE[0], alpha=alpha, label=label)
    for (label, law), colour in zip(others, PALETTE[3:], strict=False):
        ax.step(grid, law, where="mid", color=colour, lw=1.2, label=label)


@figure_function
def plot_spike_vs_histogram(
    grid: ArrayLike,
    over_laws: Mapping[str, ArrayLike],
    over_truth: ArrayLike,
    under_laws: Mapping[str, ArrayLike],
    under_truth: ArrayLike,
    under_cv: ArrayLike,
    current: float,
    over_shape: tuple[int, int],
    under_shape: tuple[int, int],
) -> Figure:
    """Each model's law of the next state after a whole series, against the true row: a spike
    on the over-parametrized series (left), a histogram on the under-parametrized one (right).

    Parameters
    ----------
    grid : array_like, shape (K,)
        The rescaled value of each state, ``s / K``.
    over_laws, under_laws : mapping of str to array_like, shape (K,)
        ``{legend label: law}`` per model, the reference model first (bars), the others
        drawn as lines.
    over_truth, under_truth : array_like, shape (K,)
        The true transition row of the current state; on the left only its atoms (mass
        above 0.001) are marked.
    under_cv : array_like, shape (K,)
        Counts smoothed with a cross-validated bandwidth on the same context (dashed).
    current : float
        The under-parametrized series' current state, rescaled (dotted line).
    over_shape, under_shape : (int, int)
        ``(d, N)`` of each least-squares problem, for the panel titles.
    """
    import matplotlib.pyplot as plt

    grid, over_truth = np.asarray(grid), np.asarray(over_truth)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    ax = axes[0]
    _laws_panel(ax, grid, over_laws, alpha=None)
    mass = over_truth > 1e-3  # the true row is (nearly) a Dirac: mark its atoms
    ax.plot(grid[mass], over_truth[mass], "o", ms=6, mfc="none", color=PALETTE[1], label="true row")
    d, n = over_shape
    ax.set(
        xlabel=r"rescaled $\theta_0$",
        ylabel="probability",
        xlim=(0.1, 0.9),
        title=f"over-parametrized ($d={d} > N={n}$)",
    )
    ax.legend()
    ax = axes[1]
    _laws_panel(ax, grid, under_laws, alpha=0.8)
    ax.plot(grid, under_truth, color=PALETTE[1], lw=1.6, label="true row")
    ax.plot(grid, under_cv, "--", color=PALETTE[2], lw=1.2, label="smoothed counts (cv)")
    ax.axvline(current, color="black", ls=":", lw=1, label="current state")
    d, n = under_shape
    ax.set(
        xlabel=r"rescaled $\theta_0$",
        ylabel="probability",
        xlim=(0.1, 0.9),
        title=f"under-parametrized ($d={d} < N={n}$)",
    )
    ax.legend(fontsize=8)
    return fig


@figure_function
def plot_late_distances(distances: Mapping[str, ArrayLike], late: int) -> Figure:
    """Box plots of each estimator's distance to the true rows over the last steps.

    Parameters
    ----------
    distances : mapping of str to array_like, shape (late,)
        ``{estimator label: Bhattacharyya distance of each late row to the truth}``.
    late : int
        The number of last steps, for the title.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    # the median's colour is matplotlib's "C1", which would be read from the style in force
    # when the figure is saved, after this function: name it, the book style's second colour
    ax.boxplot(
        list(distances.values()),
        showfliers=False,
        widths=0.5,
        medianprops={"color": PALETTE[1]},
    )
    ax.set_xticks(range(1, len(distances) + 1), labels=list(distances))
    ax.set(
        ylabel="Bhattacharyya distance to the true row",
        title=f"under-parametrized, last {late} steps",
    )
    return fig


@figure_function
def plot_kernel_rows(
    kernel: ArrayLike, visited: ArrayLike, truth: ArrayLike, vmax: float
) -> Figure:
    """The kernel built from a model's laws (only visited rows exist) beside the true kernel.

    Parameters
    ----------
    kernel : array_like, shape (K, K)
        The kernel's matrix; rows of unvisited states are left white.
    visited : array_like of bool, shape (K,)
        The rows the laws filled (marked on the left edge).
    truth : array_like, shape (K, K)
        The true kernel on the same grid.
    vmax : float
        Top of the shared colour scale.
    """
    import matplotlib.pyplot as plt

    visited = np.asarray(visited, dtype=bool)
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 4), layout="constrained")
    shown = np.where(visited[:, None], kernel, np.nan)  # empty rows stay white
    for ax, matrix, title in [
        (axes[0], shown, "kernel from the model's laws"),
        (axes[1], truth, "true kernel (binned)"),
    ]:
        ax.grid(False)
        im = ax.imshow(matrix, origin="lower", cmap="viridis", vmin=0, vmax=vmax)
        ax.set(xlabel="next state $s_{t+1}$", ylabel="current state $s_t$", title=title)
    axes[0].plot(
        np.full(visited.sum(), -1.5),
        np.flatnonzero(visited),
        "s",
        ms=2,
        color=PALETTE[1],
        clip_on=False,
    )
    fig.colorbar(im, ax=axes, shrink=0.8)
    return fig


@figure_function
def plot_cost(
    curves: Mapping[int, tuple[ArrayLike, ArrayLike, ArrayLike]],
    measured_at: int,
    measured: tuple[int, int],
    digits: int,
) -> Figure:
    """Input tokens read for the laws of a whole series: naive scoring against Hierarchy-PDF.

    Parameters
    ----------
    curves : mapping of int to (array_like, array_like, array_like), each shape (n,)
        ``{digits: (series lengths T, tokens of naive scoring, tokens of Hierarchy-PDF)}``,
        the lengths within one context window; the first precision solid, the second dashed.
    measured_at : int
        The length of the series measured.
    measured : (int, int)
        The tokens Hierarchy-PDF and naive scoring read on it (circles).
    digits : int
        The digits of the measured series, for the legend.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for (d, (lengths, brute, hierarchy)), ls in zip(curves.items(), ["-", "--"], strict=False):
        ax.loglog(lengths, brute, ls, color=PALETTE[1], label=f"naive scoring, {d} digits")
        ax.loglog(lengths, hierarchy, ls, color=PALETTE[0], label=f"Hierarchy-PDF, {d} digits")
    ax.loglog(
        [measured_at] * 2,
        list(measured),
        "o",
        color="black",
        mfc="none",
        label=f"measured ({digits} digits)",
    )
    ax.set(
        xlabel="values in the series $T$",
        ylabel="input tokens read",
        title="Cost of the laws of a whole series",
    )
    ax.legend(fontsize=8)
    return fig
