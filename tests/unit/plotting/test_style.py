"""Plotting helpers: what the reader sees on an axis."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from sgdllm.plotting.style import plain_log_ticks


def _labels(lo: float, hi: float) -> tuple[list[str], list[str]]:
    fig, ax = plt.subplots()
    ax.set_yscale("log")
    ax.set_ylim(lo, hi)
    plain_log_ticks(ax)
    fig.canvas.draw()
    shown = ([t.get_text() for t in ax.get_yticklabels(minor=m) if t.get_text()] for m in (0, 1))
    major, minor = shown
    plt.close(fig)
    return major, minor


def test_plain_log_ticks_write_plain_numbers_minor_ones_only_on_a_short_axis():
    major, minor = _labels(6e-3, 0.045)
    assert major == ["0.001", "0.01", "0.1"]
    assert minor == ["0.002", "0.003", "0.004", "0.006", "0.02", "0.03", "0.04", "0.06"]
    major, minor = _labels(1e-3, 10)
    assert major == ["0.0001", "0.001", "0.01", "0.1", "1", "10", "100"] and minor == []


def test_plain_log_ticks_names_a_bad_axis():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="axis must be 'x' or 'y'"):
        plain_log_ticks(ax, "z")
    plt.close(fig)
