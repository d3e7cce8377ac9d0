"""The figure functions of the chapter *Tokenization*, on small synthetic inputs."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from sgdllm.plotting import tokenization as figures
from sgdllm.plotting.style import FIGURE_FUNCTION_ATTR


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _tag(fig):
    return getattr(fig, FIGURE_FUNCTION_ATTR)


def test_trajectory_rescaled_two_coordinates_per_panel():
    run = np.cumsum(np.random.default_rng(0).normal(size=(21, 2)), axis=0)
    rescaled = np.linspace(0.15, 0.85, 42).reshape(21, 2)
    fig = figures.plot_trajectory_rescaled(run, np.zeros(2), rescaled, burn_in=5)
    assert _tag(fig) == "sgdllm.plotting.tokenization.plot_trajectory_rescaled"
    left, right = fig.get_axes()
    # two coordinates and their minimizers, and the burn-in line
    assert len(left.get_lines()) == 5
    np.testing.assert_array_equal(right.get_lines()[1].get_ydata(), rescaled[:, 1])
    assert right.get_ylim() == (0, 1)
    assert [t.get_text() for t in right.get_legend().get_texts()] == [
        r"$u(\theta_0)$",
        r"$u(\theta_1)$",
        "[0.15, 0.85]",
    ]


def test_roundtrip_error_panels_share_the_digit_ticks():
    d = [1, 2, 3, 4]
    bound = [0.5 * 10.0**-k for k in d]
    fig = figures.plot_roundtrip_error(d, bound, bound, bound, bound, stationary_std=1e-2)
    assert _tag(fig) == "sgdllm.plotting.tokenization.plot_roundtrip_error"
    left, right = fig.get_axes()
    assert left.get_yscale() == right.get_yscale() == "log"
    assert list(left.get_xticks()) == d and list(right.get_xticks()) == d
    assert len(left.get_lines()) == 2 and len(right.get_lines()) == 3


def test_lookahead_one_curve_and_one_prefix_mark_per_causal_scaler():
    whole = np.linspace(0.85, 0.15, 30)
    causal = {5: whole - 0.2, 10: whole + 0.1}
    fig = figures.plot_lookahead(whole, causal)
    assert _tag(fig) == "sgdllm.plotting.tokenization.plot_lookahead"
    (ax,) = fig.get_axes()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["whole run (the book)", "first 5 values", "first 10 values"]
    # the grid's two edges, the whole run, then a curve and a prefix mark per scaler
    assert len(ax.get_lines()) == 2 + 1 + 2 * len(causal)


def test_token_splits_one_box_per_token_and_one_letter_per_character():
    splits = {"digits": ("12,", ["1", "2", ","]), "spaced": (" 1 2", [" 1", " 2"])}
    fig = figures.plot_token_splits(splits)
    assert _tag(fig) == "sgdllm.plotting.tokenization.plot_token_splits"
    (ax,) = fig.get_axes()
    assert len(ax.patches) == 5
    texts = [t.get_text() for t in ax.texts]
    assert "digits (3 tokens)" in texts and "spaced (2 tokens)" in texts
    assert texts.count("␣") == 2


def test_context_budget_bars_for_the_labelled_kinds_only():
    fits = {"digit": [500, 300], "number": [500, 500], "model": [900, 300]}
    per_value = {kind: [2.0, 3.0] for kind in fits}
    labels = {"digit": "one per digit", "number": "one per number"}
    fig = figures.plot_context_budget([1, 2], fits, per_value, labels, context=1024)
    assert _tag(fig) == "sgdllm.plotting.tokenization.plot_context_budget"
    (ax,) = fig.get_axes()
    assert len(ax.patches) == 4  # two kinds, two numbers of digits
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1 digit", "2 digits"]
    assert ax.get_ylabel() == "values in 1024 tokens"
    assert ax.get_ylim()[1] == pytest.approx(1.3 * 900)  # every kind given sets the height
