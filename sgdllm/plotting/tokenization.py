"""Figures of the chapter *Tokenization* (``notebooks/tokenization.md``).

One function per recorded figure; each draws what the chapter computed (the run and its
rescaled series, round-trip errors, causal rescalings, token pieces, token budgets) and returns
the figure. Nothing here computes a result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from sgdllm.discretize import HIGH, LOW
from sgdllm.plotting.style import PALETTE, figure_function

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "plot_context_budget",
    "plot_lookahead",
    "plot_roundtrip_error",
    "plot_token_splits",
    "plot_trajectory_rescaled",
]


@figure_function
def plot_trajectory_rescaled(
    run: ArrayLike, theta_star: ArrayLike, rescaled: ArrayLike, burn_in: int
) -> Figure:
    """Left: a 2-D SGD run per coordinate. Right: each coordinate rescaled onto the band.

    Parameters
    ----------
    run : array, shape (steps + 1, 2)
        The run, iterations ``0..steps``.
    theta_star : array, shape (2,)
        The minimizer (dotted lines).
    rescaled : array, shape (steps + 1, 2)
        Each coordinate rescaled by its own scaler (``Scaler.to_unit``), drawn over the band
        ``[LOW, HIGH]`` of :mod:`sgdllm.discretize` (grey).
    burn_in : int
        End of the transient (dashed line on the left).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    run, rescaled = np.asarray(run), np.asarray(rescaled)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), layout="constrained")
    t = np.arange(len(run))
    for i in range(2):
        axes[0].plot(t, run[:, i], lw=0.8, color=PALETTE[i], label=rf"$\theta_{i}$")
        axes[0].axhline(theta_star[i], color=PALETTE[i], ls=":", lw=1)
        axes[1].plot(t, rescaled[:, i], lw=0.8, color=PALETTE[i], label=rf"$u(\theta_{i})$")
    axes[1].axhspan(LOW, HIGH, color="0.9", zorder=0, label="[0.15, 0.85]")
    axes[0].axvline(burn_in, color="0.5", lw=0.8, ls="--")
    axes[0].set(
        xlabel="iteration $t$", ylabel=r"$\theta$", title=r"SGD run (dotted: $\theta^\star$)"
    )
    axes[1].set(
        xlabel="iteration $t$",
        ylabel="rescaled value $u$",
        ylim=(0, 1),
        title="each coordinate rescaled on its own",
    )
    axes[0].legend(loc="upper right")
    axes[1].legend(loc="center right")
    return fig


@figure_function
def plot_roundtrip_error(
    digits: Sequence[int],
    err_unit: ArrayLike,
    bound_unit: ArrayLike,
    err_theta: ArrayLike,
    bound_theta: ArrayLike,
    stationary_std: float,
) -> Figure:
    """Largest round-trip error against its half-bin bound, per number of digits, log scale.

    Parameters
    ----------
    digits : sequence of int, length n
        Numbers of digits per value (x axis).
    err_unit, bound_unit : array, shape (n,)
        Measured maximum error (dots) and bound (line) in rescaled units ``u`` (left panel).
    err_theta, bound_theta : array, shape (n,)
        The same in the parameter's units (right panel).
    stationary_std : float
        Stationary standard deviation of the coordinate, in its units (dashed, right panel).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), layout="constrained")
    axes[0].semilogy(
        digits, bound_unit, "-", color="0.4", label=r"bound $\frac{1}{2}10^{-\mathrm{digits}}$"
    )
    axes[0].semilogy(digits, err_unit, "o", color=PALETTE[0], label="measured max")
    axes[0].set(
        xlabel="digits per value",
        ylabel="error in rescaled units $u$",
        title="Round trip value → digits → value",
    )
    axes[1].semilogy(digits, bound_theta, "-", color="0.4", label="bound (half a bin)")
    axes[1].semilogy(digits, err_theta, "o", color=PALETTE[0], label="measured max")
    axes[1].axhline(
        stationary_std, color=PALETTE[1], ls="--", label=r"stationary std of $\theta_0$"
    )
    axes[1].set(
        xlabel="digits per value",
        ylabel=r"error in $\theta$ units",
        title=r"The same, in $\theta_0$ units",
    )
    for ax in axes:
        ax.set_xticks(digits)
        ax.legend(loc="lower left")
    return fig


@figure_function
def plot_lookahead(whole: ArrayLike, causal: Mapping[int, ArrayLike]) -> Figure:
    """A series rescaled with the whole run's scaler and with scalers fitted on prefixes.

    Parameters
    ----------
    whole : array, shape (steps + 1,)
        The series rescaled with the scaler of the whole run (grey).
    causal : mapping of int to array, shape (steps + 1,)
        ``{n: series rescaled with the scaler fitted on its first n values}`` (one colour
        each; a dotted line marks the end of each prefix).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.4))
    t = np.arange(len(whole))
    ax.axhspan(LOW, HIGH, color="0.92", zorder=0)
    ax.axhline(0, color="black", lw=0.8)
    ax.axhline(1, color="black", lw=0.8)
    ax.plot(t, whole, color="0.3", lw=0.8, label="whole run (the book)")
    for j, (n, u) in enumerate(causal.items()):
        ax.plot(t, u, lw=0.8, color=PALETTE[j + 1], label=f"first {n} values")
        ax.axvline(n, color=PALETTE[j + 1], ls=":", lw=0.8)
    ax.set(
        xlabel="iteration $t$",
        ylabel=r"rescaled $u(\theta_0)$",
        title="Scalers fitted on the whole run or on a prefix",
    )
    ax.legend(loc="upper right", fontsize=8)
    return fig


@figure_function
def plot_token_splits(splits: Mapping[str, tuple[str, Sequence[str]]]) -> Figure:
    """Texts cut into tokens: one row per tokenizer, one coloured box per token.

    Parameters
    ----------
    splits : mapping of str to (str, sequence of str)
        ``{row title: (text, its token pieces)}``; the pieces concatenate to the text. A space
        is drawn as ``␣``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    width = max(len(text) for text, _ in splits.values())
    fig, ax = plt.subplots(figsize=(0.19 * width + 0.5, 0.62 * len(splits) + 0.3))
    ax.grid(False)
    for row, (name, (_text, pieces)) in enumerate(splits.items()):
        y, pos = len(splits) - 1 - row, 0
        ax.text(-0.5, y + 0.42, f"{name} ({len(pieces)} tokens)", fontsize=8.5, va="bottom")
        for j, piece in enumerate(pieces):
            ax.add_patch(
                FancyBboxPatch(
                    (pos + 0.06, y - 0.3),
                    len(piece) - 0.12,
                    0.6,
                    boxstyle="round,pad=0.02,rounding_size=0.15",
                    fc=PALETTE[[0, 4, 2, 5][j % 4]],
                    ec="white",
                    alpha=0.55,
                )
            )
            for c, char in enumerate(piece):
                ax.text(
                    pos + c + 0.5,
                    y,
                    "␣" if char == " " else char,
                    ha="center",
                    va="center",
                    family="monospace",
                    fontsize=10,
                    color="0.45" if char == " " else "black",
                )
            pos += len(piece)
    ax.set(xlim=(-0.6, width + 0.2), ylim=(-0.5, len(splits) - 0.1))
    ax.axis("off")
    return fig


@figure_function
def plot_context_budget(
    digits: Sequence[int],
    values_in_context: Mapping[str, Sequence[int]],
    tokens_per_value: Mapping[str, Sequence[float]],
    labels: Mapping[str, str],
    context: int,
) -> Figure:
    """Values that fit in the context, per tokenizer kind and number of digits (bars).

    Parameters
    ----------
    digits : sequence of int, length n
        Numbers of digits per value (bar groups).
    values_in_context : mapping of str to sequence of int, each of length n
        ``{kind: values that fit in the context at each number of digits}``. Every kind given
        sets the height of the axis; those of ``labels`` are drawn.
    tokens_per_value : mapping of str to sequence of float, each of length n
        ``{kind: mean tokens per value}``, written above each bar.
    labels : mapping of str to str
        ``{kind: legend label}`` of the kinds drawn, in order (at most four bars per group).
    context : int
        Context length in tokens (for the axis label).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.4))
    w = 0.2
    for j, kind in enumerate(labels):
        xs = np.arange(len(digits)) + (j - 1.5) * w
        vals = values_in_context[kind]
        ax.bar(xs, vals, w, color=PALETTE[j], label=labels[kind])
        for xv, v, tpv in zip(xs, vals, tokens_per_value[kind], strict=True):
            ax.text(xv, v + 8, f"{tpv:.3g}", ha="center", fontsize=7)
    ax.set_xticks(np.arange(len(digits)), [f"{d} digit{'s' * (d > 1)}" for d in digits])
    ax.set(ylabel=f"values in {context} tokens", title="How many values fit in the context")
    ax.legend(loc="upper center", ncols=4, fontsize=8)
    ax.set_ylim(0, 1.3 * max(max(v) for v in values_in_context.values()))
    return fig
