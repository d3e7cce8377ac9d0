"""Claims of the chapter *Predicting SGD*, checked on its CI-profile run.

The paper's poster (Zekri et al. 2024, figures 5 and 6) claims that a kernel read from SGD runs
predicts, by matrix products, where SGD goes from new starts: on a convex problem all predicted
runs reach the one basin; on a non-convex one predictions reach every basin that the runs the
kernel was read from have seen, and one run sees one basin. The chapter checks these with the
classical counted kernels (the prediction machinery) and with the embedded language model, whose
shortfall is pinned here too: if a better default model makes those tests fail, the chapter's
text about the shortfall must be revised with them.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def n(ci_chapter):
    return ci_chapter("predicting_sgd")


# ----------------------------------------------------------------------------- convex


def test_convex_counted_predictions_all_reach_the_minimum(n):
    # The disc has radius 4 stationary standard deviations: a Gaussian stationary law puts
    # 1 - exp(-8) > 99.9% of its mass inside. Real SGD must be there (>= 0.99 of 200 runs per
    # start), and so must the predicted law from every start; 0.95 leaves room for a kernel whose
    # spread is off by ~20%, and still fails if any prediction wanders off.
    assert n["convex_near_fraction_real"] >= 0.99
    assert n["convex_near_fraction_counts_min"] >= 0.95


def test_convex_counted_laws_match_real_sgd_at_stationarity(n):
    # Predicted laws live on bin centres and the real runs are histogrammed on the same bins;
    # W1 of the discretization alone is below one bin, and the Monte Carlo error of 200 runs
    # (stationary sd ~0.1, so ~0.1 / sqrt(200) = 0.007) is a fifth of a bin: two bins.
    assert n["convex_w1_counts_last"] <= 2 * n["ls_bin_width"]
    # Predicted stationary spread within 30% (binning adds bin^2 / 12 to a variance of
    # ~(3 bins)^2, about 1%; the rest is the kernel's estimation error from one run).
    assert 0.7 <= n["convex_std_ratio_counts"] <= 1.3
    # Predicted stationary mean within half a stationary standard deviation.
    assert n["convex_mean_error_counts"] <= 0.5 * n["stationary_std"]
    # The error shrinks from the transient to the stationary law (by ~7x in the CI run).
    w1 = n["convex_w1_counts_by_horizon"]
    assert w1[-1] < 0.5 * w1[0]


def test_convex_embedded_model_falls_short(n):
    # Pinned shortfall of the 0.8M-parameter embedded model (chapter text, "What the numbers
    # showed"): the propagated law is far too wide (CI 3.8x, book 4.5x), W1 several times the
    # counted kernels' (CI 4.1x, book 8.9x), a fifth or more of the mass away from the minimum
    # (CI 78% near, book 71%). Thresholds well under the measured values, so that run-to-run
    # noise does not flip them but a model that learnt tight laws would.
    assert n["convex_std_ratio_lm"] >= 2.0
    assert n["convex_w1_lm_last"] >= 2.5 * n["convex_w1_counts_last"]
    assert n["convex_near_fraction_lm"] <= 0.85


def test_convex_embedded_model_peaks_at_the_minimum_with_too_wide_steps(n):
    # "the mode of every predicted marginal is within a few bins of theta*" (CI: 1.9 bins)
    assert n["convex_mode_offset_lm_bins"] <= 3
    # "The tails of its next-state laws are not what goes wrong": mass beyond 5 states is of the
    # order of the run's own far moves (CI: 1.4% against 1.1%), a few percent at most
    assert n["lm_far_mass"] < 0.05 and n["lm_far_mass"] < 3 * n["real_far_jumps"] + 0.01
    # "Their width is": near the minimum the model's law of the next state is wider than the
    # run's steps there (CI: 1.49 against 0.92 states; book: 1.95 against 0.91)
    assert n["lm_std_bottom"] > 1.3 * n["real_step_std_bottom"]
    assert 0 < n["descent_steps"] < n["ls_steps_used"]
    # "Waiting longer does not help": after ten times the last horizon the mass near theta* is
    # where it was (CI: 78.4% then 79.3%), still short of real SGD's
    assert abs(n["convex_near_fraction_lm_limit"] - n["convex_near_fraction_lm"]) < 0.05
    assert n["convex_near_fraction_lm_limit"] <= 0.9


# ----------------------------------------------------------------------------- non-convex


def test_two_runs_reach_different_minima(n):
    assert sorted(n["train_basins"]) == [0, 1]


def test_counted_predictions_reach_both_basins_like_real_sgd(n):
    assert n["tb_basins_reached_real"] == 2
    assert n["tb_basins_reached_counts"] == 2


def test_counted_basin_frequencies_match_from_same_sign_starts(n):
    # Where both coordinates point to the same basin, the product of the marginals is right:
    # total variation to the real outcome frequencies (200 runs per start, whose sampling
    # error is ~0.035 at most, and 0 for these starts which real SGD never leaves) within 0.1.
    assert n["tb_tv_counts_same_sign_max"] <= 0.1
    assert n["tb_neither_counts_same_sign"] <= 0.05


def test_channel_independence_misses_the_coupling(n):
    # The documented limit of a block-diagonal Q: from starts whose coordinates have opposite
    # signs each coordinate settles on its own side, at a point that is no minimum. Real SGD
    # ends near a minimum (<= 1% elsewhere); the prediction puts most of its mass elsewhere.
    assert n["tb_neither_real"] <= 0.01
    assert n["tb_neither_counts_opposite"] >= 0.5
    assert n["tb_tv_counts_opposite_mean"] >= 0.5


def test_embedded_model_prediction_depends_little_on_the_start(n):
    # Pinned shortfall: the embedded model's kernels mix so fast that the predicted outcome
    # law depends far less on the start than real SGD's (spread CI 0.17, book 0.29), which goes
    # from 0 to 1.
    real = np.array(n["tb_real_table"])
    assert np.ptp(real[:, 0]) >= 0.9
    assert n["tb_start_spread_lm"] <= 0.4
    assert n["tb_tv_lm_mean"] >= 0.5
    # Its product of marginals puts much of the mass in the top-left quadrant, around
    # (-0.5, 0.5), where real SGD never ends (CI: 56% against 0%).
    assert n["tb_lm_top_left"] >= 0.25
    assert n["tb_real_top_left"] == 0.0


# ----------------------------------------------------------------------------- runs needed


def test_one_run_sees_one_basin(n):
    seen = n["basins_seen_by_runs"]
    reached = n["basins_reached_counts_by_runs"]
    assert seen[0] == 1 and reached[0] == 1
    # counted kernels predict exactly the minima their runs reached, for every n
    assert reached == seen
    assert n["runs_needed_counts"] == n["runs_needed_seen"] >= 2


def test_embedded_model_reaches_both_minima_but_leaves_half_its_mass_off_them(n):
    # The text: the model's predictions reach both minima from as many runs as the counted
    # kernels need (CI and book: 2 and 2; the text says which), and from then on about half of
    # their mass ends near no minimum (CI: 0.60, 0.53, 0.53; book: 0.59, 0.55, 0.54, 0.44).
    lm, counts = n["runs_needed_lm"], n["runs_needed_counts"]
    assert lm >= counts
    assert n["runs_lm_vs_counts_text"] == ("as early as" if lm == counts else "later than")
    assert n["basins_reached_lm_by_runs"][-1] == 2
    after = np.array(n["neither_lm_by_runs"][lm - 1 :])
    assert after.size >= 1 and np.all((after > 0.35) & (after < 0.7))
