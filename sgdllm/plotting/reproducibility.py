"""Figures of the *Reproducibility appendix* (``notebooks/reproducibility.md``).

One function per figure the appendix records; each draws what the chapters' records hold and
returns the figure (:func:`~sgdllm.plotting.style.figure_function`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sgdllm.plotting.style import figure_function

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_wall_time_per_chapter"]


@figure_function
def plot_wall_time_per_chapter(chapters: Sequence[str], seconds: Sequence[float]) -> Figure:
    """Horizontal bars of each chapter's execution time, the first chapter on top.

    Parameters
    ----------
    chapters : sequence of str, shape (n,)
        The chapters' names, in the book's order.
    seconds : sequence of float, shape (n,)
        The wall time of each chapter's last execution.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 0.3 * len(chapters) + 1))
    ax.barh(list(chapters), list(seconds))
    ax.invert_yaxis()
    ax.set(xlabel="wall time (s)")
    return fig
