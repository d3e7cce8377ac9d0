"""Figures of the chapter *Imputation* (``notebooks/imputation.md``).

One function per recorded figure; each draws what the chapter computed (exact, sparse and
filled kernels, row errors, prediction errors) and returns the figure. Nothing here computes a
result: the functions only choose what part of a kernel to show and mask its empty rows.

The filling rules (:func:`sgdllm.impute.impute` and :func:`sgdllm.impute.impute_baseline`)
have one colour each, :data:`RULE_COLORS`, in every figure of the chapter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from sgdllm.plotting.style import PALETTE, figure_function

if TYPE_CHECKING:
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure

    from sgdllm.kernel import Kernel

__all__ = [
    "RULE_COLORS",
    "plot_filled_rows",
    "plot_imputation_schematic",
    "plot_kernel_heatmaps",
    "plot_prediction_errors",
    "plot_row_errors",
    "plot_row_errors_repeats",
]

#: One colour per filling rule, the three methods then the three baselines (grey for identity).
RULE_COLORS = {
    "ot": PALETTE[0],
    "ot-exact": PALETTE[1],
    "nearest": PALETTE[2],
    "mixture": PALETTE[3],
    "uniform": PALETTE[4],
    "identity": "0.55",
}


def _white_below_cmap() -> Colormap:
    """Viridis with white for probabilities below the colour scale and for empty rows (NaN)."""
    import matplotlib.pyplot as plt

    return plt.get_cmap("viridis").with_extremes(under="white", bad="white")


def _observed(matrix: ArrayLike, visited: ArrayLike) -> np.ndarray:
    """``matrix`` with the rows of unvisited states masked (NaN: drawn white)."""
    return np.where(np.asarray(visited)[:, None], matrix, np.nan)


@figure_function
def plot_imputation_schematic(
    truth: ArrayLike,
    filled: ArrayLike,
    mixture: ArrayLike,
    visited: ArrayLike,
    gap: tuple[int, int],
    middle: int,
) -> Figure:
    """The rows at both ends of a gap, the rows filling it, and the kernel before and after.

    Top: the exact rows ``k_i`` and ``k_j`` at the ends of the gap (bars), the OT barycenters of
    three rows between them (the ``middle`` one dark), the mixture and the true row at
    ``middle``. Bottom: the observed rows of the kernel near the gap and the filled kernel, on a
    log colour scale, with a marker per row: orange for observed, grey (left) or green (right)
    for empty and filled rows.

    Parameters
    ----------
    truth : array, shape (K, K)
        The exact kernel.
    filled : array, shape (K, K)
        The kernel of the observed rows filled with OT barycenters.
    mixture : array, shape (K, K)
        The same, filled with mixtures of the two neighbouring rows.
    visited : array of bool, shape (K,)
        The observed rows.
    gap : (int, int)
        ``(k_i, k_j)``, consecutive observed rows with at least one empty row between them.
    middle : int
        The row between them shown dark, with its mixture and its true row.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    truth, filled, mixture = np.asarray(truth), np.asarray(filled), np.asarray(mixture)
    visited = np.asarray(visited)
    k_i, k_j = gap
    K = truth.shape[0]
    gap_rows = np.arange(k_i + 1, k_j)
    cmap = _white_below_cmap()
    fig, axes = plt.subplot_mosaic(
        [["laws", "laws"], ["sparse", "filled"]],
        figsize=(9, 7.4),
        layout="constrained",
        height_ratios=[1, 1.25],
    )
    ax = axes["laws"]
    lo, hi = max(k_i - 8, 0), min(k_j + 8, K)
    xs = np.arange(lo, hi)
    for r, c in [(k_i, PALETTE[0]), (k_j, PALETTE[1])]:
        ax.bar(xs, truth[r, lo:hi], width=0.9, color=c, alpha=0.55, label=f"observed row {r}")
    shown = [int(gap_rows[len(gap_rows) // 4]), middle, int(gap_rows[(3 * len(gap_rows)) // 4])]
    for r, alpha in zip(shown, [0.45, 1.0, 0.45], strict=True):
        ax.step(
            xs,
            filled[r, lo:hi],
            where="mid",
            color=PALETTE[2],
            lw=1.6,
            alpha=alpha,
            label=f"OT barycenter, row {r}",
        )
    ax.step(
        xs,
        mixture[middle, lo:hi],
        "--",
        where="mid",
        color=PALETTE[3],
        lw=1.4,
        label=f"mixture, row {middle}",
    )
    ax.step(
        xs,
        truth[middle, lo:hi],
        ":",
        where="mid",
        color="black",
        lw=1.6,
        label=f"true row {middle}",
    )
    ax.set(
        xlabel="next state $s'$",
        ylabel="probability",
        title=f"Filling rows {k_i + 1}..{k_j - 1} from rows {k_i} and {k_j}",
    )
    ax.legend(fontsize=8, ncol=2, loc="upper left")
    win = slice(max(k_i - 12, 0), min(k_j + 13, K))
    sparse_view = _observed(truth, visited)[win, win]
    for name, mat, title in [
        ("sparse", sparse_view, "observed rows (white: empty)"),
        ("filled", filled[win, win], "after filling with OT barycenters"),
    ]:
        ax = axes[name]
        ax.grid(False)
        ax.imshow(
            mat,
            origin="lower",
            cmap=cmap,
            norm=LogNorm(1e-3, 1),
            extent=(win.start - 0.5, win.stop - 0.5, win.start - 0.5, win.stop - 0.5),
        )
        ax.set(xlabel="next state $s'$", ylabel="current state $s$", title=title)
        empty_colour = "0.6" if name == "sparse" else PALETTE[2]
        for r in range(win.start, win.stop):
            ax.plot(
                win.start - 1.2,
                r,
                ">",
                color=PALETTE[1] if visited[r] else empty_colour,
                ms=4,
                clip_on=False,
            )
    return fig


@figure_function
def plot_kernel_heatmaps(
    counts: ArrayLike,
    language: ArrayLike,
    truth: ArrayLike,
    filled_counts: ArrayLike,
    filled_language: ArrayLike,
    filled_exact: ArrayLike,
    visited: ArrayLike,
) -> Figure:
    """Six transition matrices on a log colour scale, empty rows white.

    Top: the counted kernel observed and filled, the exact kernel. Bottom: the language
    model's kernel observed and filled, the exact rows filled.

    Parameters
    ----------
    counts, language : array, shape (K, K)
        The counted and the language model's kernels (their unvisited rows are masked).
    truth : array, shape (K, K)
        The exact kernel.
    filled_counts, filled_language, filled_exact : array, shape (K, K)
        The counted kernel, the model's and the exact rows, filled with OT barycenters.
    visited : array of bool, shape (K,)
        The observed rows.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    cmap = _white_below_cmap()
    fig, axes = plt.subplots(2, 3, figsize=(11, 7), layout="constrained")
    panels = [
        (_observed(counts, visited), "counts, observed"),
        (filled_counts, "counts, filled (OT)"),
        (truth, "exact kernel"),
        (_observed(language, visited), "language model, observed"),
        (filled_language, "language model, filled (OT)"),
        (filled_exact, "exact rows, filled (OT)"),
    ]
    for ax, (mat, title) in zip(axes.ravel(), panels, strict=True):
        ax.grid(False)
        im = ax.imshow(mat, origin="lower", cmap=cmap, norm=LogNorm(1e-4, 1))
        ax.set(title=title, xlabel="next state $s'$", ylabel="current state $s$")
    fig.colorbar(im, ax=axes, shrink=0.5, label="transition probability")
    return fig


@figure_function
def plot_filled_rows(
    truth: ArrayLike,
    filled: Mapping[tuple[str, str], Kernel],
    names: Sequence[str],
    gap: tuple[int, int],
    middle: int,
) -> Figure:
    """One row filled by each rule against the true row, one panel per kernel.

    Parameters
    ----------
    truth : array, shape (K, K)
        The exact kernel (its row ``middle`` is drawn grey).
    filled : mapping of (str, str) to Kernel
        ``{(kernel name, rule): filled kernel}``, with at least the rules ``"ot"``,
        ``"ot-exact"``, ``"nearest"`` and ``"mixture"`` for each of ``names``.
    names : sequence of str
        The kernels the rows were read from, one panel each (its title).
    gap : (int, int)
        ``(k_i, k_j)``, the observed rows around ``middle``: they set the window shown.
    middle : int
        The row drawn.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    truth = np.asarray(truth)
    k_i, k_j = gap
    K = truth.shape[0]
    fig, axes = plt.subplots(1, len(names), figsize=(11, 3.4), layout="constrained", sharey=False)
    lo, hi = max(k_i - 6, 0), min(k_j + 7, K)
    xs = np.arange(lo, hi)
    for ax, name in zip(np.atleast_1d(axes), names, strict=True):
        ax.fill_between(xs, truth[middle, lo:hi], step="mid", color="0.8", label="true row")
        for m, ls in [("ot", "-"), ("ot-exact", "--"), ("nearest", "-"), ("mixture", ":")]:
            ax.step(
                xs,
                filled[name, m].matrix[middle, lo:hi],
                where="mid",
                ls=ls,
                color=RULE_COLORS[m],
                lw=1.4,
                label=m,
            )
        ax.set(title=f"{name}: row {middle}", xlabel="next state $s'$")
    np.atleast_1d(axes)[0].set_ylabel("probability")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    return fig


@figure_function
def plot_row_errors(
    row_w1: Mapping[tuple[str, str], float], names: Sequence[str], rules: Sequence[str]
) -> Figure:
    """Mean W1 of the filled rows to the true rows: bars per kernel and rule, log scale.

    Parameters
    ----------
    row_w1 : mapping of (str, str) to float
        ``{(kernel name, rule): mean W1 in states}``.
    names : sequence of str
        The kernels, one group of bars each (at most three for the bar layout).
    rules : sequence of str
        The rules, one bar per group each, in order (at most six).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.4))
    width = 0.13
    for j, m in enumerate(rules):
        ax.bar(
            np.arange(len(names)) + (j - 2.5) * width,
            [row_w1[n, m] for n in names],
            width,
            color=RULE_COLORS[m],
            label=m,
        )
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(names)), labels=list(names))
    ax.set(
        ylabel="mean $W_1$ to the true row (states)",
        title="Error of the filled rows between visited states",
    )
    ax.legend(ncol=3, fontsize=8)
    return fig


@figure_function
def plot_row_errors_repeats(
    repeat_w1: Mapping[tuple[str, str], ArrayLike], names: Sequence[str], rules: Sequence[str]
) -> Figure:
    """Errors of the filled rows over repeated runs: one box per rule, one panel per kernel.

    Parameters
    ----------
    repeat_w1 : mapping of (str, str) to array, shape (n_repeats,)
        ``{(kernel name, rule): mean W1 in states of the filled rows of each run}``.
    names : sequence of str
        The kernels, one panel each.
    rules : sequence of str
        The rules, one box each, in order.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    fig, axes = plt.subplots(1, len(names), figsize=(9, 3.4), layout="constrained")
    for ax, name in zip(np.atleast_1d(axes), names, strict=True):
        parts = ax.boxplot(
            [repeat_w1[name, m] for m in rules],
            patch_artist=True,
            medianprops={"color": "black"},
        )
        for patch, m in zip(parts["boxes"], rules, strict=True):
            patch.set_facecolor(RULE_COLORS[m])
        ax.set_xticks(np.arange(1, len(rules) + 1), labels=rules, fontsize=8)
        n_repeats = len(repeat_w1[name, rules[0]])
        ax.set(yscale="log", title=f"{name}, {n_repeats} runs")
        ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    np.atleast_1d(axes)[0].set_ylabel("mean $W_1$ to the true rows (states)")
    return fig


@figure_function
def plot_prediction_errors(
    horizons: ArrayLike,
    pred_w1: Mapping[tuple[str, str], ArrayLike],
    floor: ArrayLike,
    names: Sequence[str],
    methods: Sequence[str],
    baselines: Sequence[str],
) -> Figure:
    """W1 of predicted laws to real runs against the horizon, one panel per kernel, log-log.

    Parameters
    ----------
    horizons : array of int, shape (h,)
        The horizons.
    pred_w1 : mapping of (str, str) to array, shape (h,)
        ``{(kernel name, rule): mean W1 in states at each horizon}``.
    floor : array, shape (h,)
        The same for the exact kernel (dotted, on every panel).
    names : sequence of str
        The kernels, one panel each.
    methods, baselines : sequence of str
        The imputation methods (solid lines, circles; ``"ot"`` drawn on top, open) and the
        baselines (dashed lines, squares).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(names), figsize=(11, 4.2), layout="constrained", sharey=True)
    axes = np.atleast_1d(axes)
    for ax, name in zip(axes, names, strict=True):
        for m in [*methods, *baselines]:
            # OT and exact OT often coincide: OT is drawn on top, as large open circles
            style: dict[str, Any] = {
                "ms": 9 if m == "ot" else 4,
                "zorder": 3 if m == "ot" else 2,
                "mfc": "none" if m == "ot" else None,
                "lw": 1 if m == "ot" else 1.6,
            }
            ax.plot(
                horizons,
                pred_w1[name, m],
                "o-" if m in methods else "s--",
                color=RULE_COLORS[m],
                mew=1.5,
                label=m,
                **style,
            )
        ax.plot(horizons, floor, "k:", label="exact kernel")
        ax.set(xscale="log", yscale="log", xlabel="horizon $t$", title=name)
    axes[0].set_ylabel("$W_1$ to real SGD runs (states)")
    fig.legend(
        *axes[0].get_legend_handles_labels(),
        loc="outside lower center",
        ncols=len(methods) + len(baselines) + 1,
        fontsize=9,
    )
    return fig
