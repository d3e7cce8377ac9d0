"""Figure style and drawing helpers for the book. They draw what they are given; they never
compute (the numbers come from the rest of the package).

Colours are the Okabe-Ito palette, which stays distinguishable under the common forms of
colour blindness (Okabe & Ito 2008).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
from cycler import cycler
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from collections.abc import Iterator

    from matplotlib.axes import Axes

__all__ = [
    "FIGURE_FUNCTION_ATTR",
    "PALETTE",
    "book_style",
    "draw_contours",
    "draw_ellipse",
    "draw_runs",
    "figure_function",
    "plain_log_ticks",
]

#: Okabe-Ito colours, in the order figures use them.
PALETTE = [
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
]

_STYLE = {
    "figure.figsize": (7.0, 3.4),
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "axes.prop_cycle": cycler(color=PALETTE),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "image.cmap": "viridis",
}


#: Attribute a figure function sets on the figure it returns: its dotted name, which
#: :meth:`sgdllm.book.records.Recorder.figure` writes into the figure's record.
FIGURE_FUNCTION_ATTR = "sgdllm_function"


def figure_function(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark ``fn`` as a named figure function of the book.

    ``fn`` draws one figure from the arrays it is given (it computes nothing) and returns the
    matplotlib ``Figure``; the figure then carries ``fn``'s dotted name
    (``sgdllm.plotting.<chapter>.<function>``), and the figure's record names it, so every
    figure of the book leads to the function that drew it and a test can call that function
    (the showyourwork habit). The figure is drawn in the book's style (:func:`book_style`).
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with book_style():
            fig = fn(*args, **kwargs)
        if not hasattr(fig, "savefig"):
            raise TypeError(
                f"figure function {fn.__qualname__} must return a matplotlib Figure, "
                f"got {type(fig).__name__}"
            )
        setattr(fig, FIGURE_FUNCTION_ATTR, f"{fn.__module__}.{fn.__qualname__}")
        return fig

    return wrapper


@contextmanager
def book_style() -> Iterator[None]:
    """Context manager applying the book's figure style (no global state is changed)."""
    import matplotlib.pyplot as plt

    with plt.style.context(_STYLE):
        yield


def plain_log_ticks(ax: Axes, axis: str = "y") -> None:
    """Label a log axis with plain numbers (0.02, 0.1, 3) instead of powers of ten.

    The ticks labelled are matplotlib's (minor ticks too when the axis spans about a decade or
    less); only their text changes, from ``4 × 10⁻¹`` to ``0.4``, which reads at a glance.
    """
    from matplotlib.ticker import LogFormatterSciNotation

    class PlainLogFormatter(LogFormatterSciNotation):
        def __call__(self, x: float, pos: int | None = None) -> str:
            return f"{x:g}" if super().__call__(x, pos) else ""

    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(PlainLogFormatter(labelOnlyBase=False))
    target.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4)))


def draw_contours(
    ax: Axes, xx: ArrayLike, yy: ArrayLike, zz: ArrayLike, levels: int = 20, log: bool = True
) -> None:
    """Draw loss contours from a grid ``(xx, yy, zz)``, in log levels when ``log``."""
    zz = np.asarray(zz)
    if log:
        lo = max(float(zz.min()), 1e-12)
        shifted = zz - float(zz.min()) + lo
        lv = np.geomspace(lo, float(shifted.max()), levels)
        ax.contour(xx, yy, shifted, levels=lv, colors="0.6", linewidths=0.6)
    else:
        ax.contour(xx, yy, zz, levels=levels, colors="0.6", linewidths=0.6)
    ax.set_aspect("equal")


def draw_runs(
    ax: Axes,
    runs: ArrayLike,
    colors: Sequence[str] | None = None,
    label: str | None = None,
    lw: float = 0.9,
    alpha: float = 0.85,
) -> None:
    """Draw 2-D runs ``(n_runs, steps + 1, 2)``: paths, a circle at the start, a star at the end."""
    runs = np.asarray(runs)
    colors = colors or PALETTE
    for i, run in enumerate(runs):
        c = colors[i % len(colors)]
        ax.plot(run[:, 0], run[:, 1], color=c, lw=lw, alpha=alpha, label=label if i == 0 else None)
        ax.plot(*run[0], "o", color=c, ms=5, mfc="white")
        ax.plot(*run[-1], "*", color=c, ms=9, mec="black", mew=0.5)


def draw_ellipse(
    ax: Axes, mean: ArrayLike, cov: ArrayLike, n_std: float = 2.0, **kwargs: object
) -> None:
    """Draw the ``n_std`` ellipse of a 2-D Gaussian with the given mean and covariance."""
    from matplotlib.patches import Ellipse

    vals, vecs = np.linalg.eigh(np.asarray(cov, dtype=float))
    vals = np.clip(vals, 0.0, None)
    angle = float(np.degrees(np.arctan2(vecs[1, -1], vecs[0, -1])))
    width, height = 2 * n_std * np.sqrt(vals[::-1])
    kwargs.setdefault("fill", False)
    ax.add_patch(Ellipse(tuple(np.asarray(mean)), width, height, angle=angle, **kwargs))
