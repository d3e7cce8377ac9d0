"""Plotting for the book: the shared style, and one module of named figure functions per chapter.

Plotting functions draw what they are given; they never compute (the numbers come from the
rest of the package). :mod:`~sgdllm.plotting.style` holds the palette and the drawing helpers
every chapter shares; their names are re-exported here.
"""

from __future__ import annotations

from sgdllm.plotting.style import (
    PALETTE,
    book_style,
    draw_contours,
    draw_ellipse,
    draw_runs,
    plain_log_ticks,
)

__all__ = [
    "PALETTE",
    "book_style",
    "draw_contours",
    "draw_ellipse",
    "draw_runs",
    "plain_log_ticks",
]
