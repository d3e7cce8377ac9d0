"""Figures of the chapter *The embedded language model* (``notebooks/default_model.md``).

One function per figure the chapter records; each draws the arrays the chapter computed and
returns the figure (:func:`~sgdllm.plotting.style.figure_function`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from sgdllm.plotting.style import PALETTE, figure_function, plain_log_ticks

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_digit_arithmetic", "plot_in_context_evaluation", "plot_training_curves"]

#: Mean and standard error of a distance, one value per context length.
Curve = tuple[ArrayLike, ArrayLike]


@figure_function
def plot_training_curves(curves: Mapping[str, ArrayLike]) -> Figure:
    """Next-token cross-entropy during pretraining: training batches and validation texts.

    Parameters
    ----------
    curves : mapping of str to array_like
        :func:`sgdllm.lm.pretrain.training_curves`: ``"tokens"`` and ``"loss_ema"``, shape
        (n_steps,), at every logged step; ``"val_tokens"``, ``"val_loss_2d"`` and
        ``"val_loss_3d"``, shape (n_validations,), at every validation. Tokens are drawn in
        millions.
    """
    import matplotlib.pyplot as plt

    tokens, val_tokens = np.asarray(curves["tokens"]), np.asarray(curves["val_tokens"])
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot(
        tokens / 1e6,
        curves["loss_ema"],
        color="0.6",
        lw=0.8,
        label="training loss (moving average)",
    )
    ax.plot(
        val_tokens / 1e6,
        curves["val_loss_2d"],
        "o-",
        ms=3,
        color=PALETTE[0],
        label="validation, 2 digits",
    )
    ax.plot(
        val_tokens / 1e6,
        curves["val_loss_3d"],
        "s-",
        ms=3,
        color=PALETTE[1],
        label="validation, 3 digits",
    )
    ax.set(
        xlabel="training tokens (millions)",
        ylabel="next-token cross-entropy (nats)",
        ylim=(0.9, 1.6),
        title="Pretraining",
    )
    ax.legend(fontsize=8)
    return fig


@figure_function
def plot_digit_arithmetic(
    law: ArrayLike,
    truth: ArrayLike,
    current: int,
    n_read: int,
    last_digit_laws: Mapping[str, ArrayLike],
) -> Figure:
    """A law read in context on a slow AR(1) series (left), and the law of the last digit
    given the first on a ramp (right).

    Parameters
    ----------
    law, truth : array_like, shape (K,)
        The model's law of the next state and the exact kernel row of the current state;
        drawn on the states within 12 of ``current``.
    current : int
        The current state (dotted line).
    n_read : int
        The values read before the law, for the title.
    last_digit_laws : mapping of str to array_like, shape (10,)
        ``{"current → next": law of the next value's last digit given its first}``, one per
        step of the ramp read (at most three drawn apart; dotted: the flat law, 0.1).
    """
    import matplotlib.pyplot as plt

    law, truth = np.asarray(law), np.asarray(truth)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    window = np.arange(max(current - 12, 0), min(current + 13, len(law)))
    axes[0].bar(window, law[window], width=0.8, color=PALETTE[0], label="model")
    axes[0].step(window, truth[window], where="mid", color="k", label="truth")
    axes[0].axvline(current, color="0.5", ls=":", label="current state")
    axes[0].set(
        xlabel="next state",
        ylabel="probability",
        title=f"AR(1), law of the next value after {n_read} values",
    )
    axes[0].legend(fontsize=8)
    for j, (label, p) in enumerate(last_digit_laws.items()):
        axes[1].plot(np.arange(10) + 0.12 * (j - 1), p, "o-", ms=4, color=PALETTE[j], label=label)
    axes[1].axhline(0.1, color="0.6", ls=":", lw=0.8)
    axes[1].set(
        xlabel="last digit of the next value",
        ylabel="model's probability",
        xticks=range(10),
        title="Ramp: law of the last digit given the first",
    )
    axes[1].legend(fontsize=8, title="current → next")
    return fig


@figure_function
def plot_in_context_evaluation(
    contexts: Sequence[int],
    models: Mapping[str, Mapping[str, Curve]],
    classical: Mapping[str, Mapping[str, Curve]],
    held_out: Collection[str] = (),
) -> Figure:
    """Learning curves in context, one panel per process family: each model of the ladder
    (solid) and each classical estimator (dashed) against the context length.

    Parameters
    ----------
    contexts : sequence of int, shape (n,)
        The context lengths (values read), the x axis (log scale).
    models, classical : mapping of str to mapping of str to (array_like, array_like)
        ``{legend label: {family: (mean, standard error)}}``, each of shape (n,): the
        distance to the true rows. Models take the palette's colours in order, the
        classical estimators its colours from the fourth on; the families are the first
        model's, in order.
    held_out : collection of str
        Families held out of pretraining, marked in their panel's title.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    styles = {
        label: (curves, dict(color=c, lw=2, marker="o", ms=4, label=label))
        for (label, curves), c in zip(models.items(), PALETTE, strict=False)
    }
    styles |= {
        label: (curves, dict(color=c, lw=1.2, ls="--", marker="s", ms=3, label=label))
        for (label, curves), c in zip(classical.items(), PALETTE[3:], strict=False)
    }
    families = list(next(iter(models.values())))
    contexts = np.asarray(contexts)
    cols = min(3, len(families))
    rows = -(-len(families) // cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(3.9 * cols, 3.3 * rows + 0.6),
        squeeze=False,
        sharex=True,
        sharey=True,
        layout="constrained",
    )
    shift = np.exp(0.035 * (np.arange(len(styles)) - (len(styles) - 1) / 2))  # apart in x
    for ax, fam in zip(axes.flat, families, strict=False):
        for (curves, style), dx in zip(styles.values(), shift, strict=True):
            mean, se = curves[fam]
            ax.errorbar(contexts * dx, mean, yerr=se, capsize=2, **style)
        held = " (held out)" if fam in held_out else ""
        ax.set(xscale="log", yscale="log", title=f"{fam}{held}", xticks=list(contexts))
        ax.set_xticklabels([str(n) for n in contexts])
        ax.xaxis.set_minor_locator(NullLocator())
        plain_log_ticks(ax)
    for ax in axes.flat[len(families) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("Bhattacharyya distance")
    for ax in axes[-1]:
        ax.set_xlabel("context $n$ (values)")
    fig.legend(
        *axes.flat[0].get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=8
    )
    return fig
