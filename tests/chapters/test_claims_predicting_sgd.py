"""Claims of the chapter *Predicting SGD*, checked on its CI-profile run.

The paper's poster (Zekri et al. 2024, figures 5 and 6) claims that a kernel read from SGD runs
predicts, by matrix products, where SGD goes from new starts: on a convex problem all predicted
runs reach the one basin; on a non-convex one predictions reach every basin that the runs the
kernel was read from have seen, and one run sees one basin. The chapter checks these with the
classical counted kernels (the prediction machinery) and with every language model of the CI
profile's ladder (the embedded model and SmolLM2-135M), whose shortfalls are pinned here too:
if a better model makes those tests fail, the chapter's text about the shortfall must be revised
with them. The verdicts the text states are checked against the numbers with the stated rules.
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


# ----------------------------------------------------------------------------- the ladder

SOURCES = ("embedded", "smollm2-135m", "counts")  # the CI profile's models, then the counts


def test_every_estimator_recorded_and_older_keys_are_the_embedded_models(n):
    for source in SOURCES:
        for name in ("convex_near_fraction", "convex_w1_last", "convex_std_ratio", "tb_tv_mean"):
            assert np.isfinite(n[f"{name}@{source}"]), (name, source)
    assert n["convex_near_fraction@embedded"] == n["convex_near_fraction_lm"]
    assert n["convex_w1_last@counts"] == n["convex_w1_counts_last"]
    assert n["tb_tv_mean@embedded"] == n["tb_tv_lm_mean"]
    assert n["lm_std_bottom@embedded"] == n["lm_std_bottom"]


def _verdict_words(values, holds, partly):
    return {
        s: "partly" if (not holds(v) and partly(v)) else ("holds" if holds(v) else "not")
        for s, v in values.items()
    }


def _groups(text):
    # "holds for counts; partly holds for embedded (0.8M); does not hold for SmolLM2-135M"
    out = {}
    for part in text.split("; "):
        head, _, names = part.partition(" for ")
        word = {"holds": "holds", "partly holds": "partly", "does not hold": "not"}[head]
        for name in names.split(", "):
            out[name] = word
    return out


TITLES = {"embedded": "embedded (0.8M)", "smollm2-135m": "SmolLM2-135M", "counts": "counts"}


def test_verdicts_in_the_text_agree_with_the_numbers(n):
    # The stated rules: convex, >= 95% of the predicted mass near the minimum (partly: >= 50%);
    # non-convex, TV <= 0.1 from every same-sign start (partly: <= 0.5).
    convex = _verdict_words(
        {s: n[f"convex_near_fraction@{s}"] for s in SOURCES},
        lambda v: v >= 0.95,
        lambda v: v >= 0.5,
    )
    assert _groups(n["convex_verdict"]) == {TITLES[s]: w for s, w in convex.items()}
    two = _verdict_words(
        {s: n[f"tb_tv_same_sign_max@{s}"] for s in SOURCES}, lambda v: v <= 0.1, lambda v: v <= 0.5
    )
    assert _groups(n["tb_verdict"]) == {TITLES[s]: w for s, w in two.items()}
    assert convex["counts"] == "holds" and two["counts"] == "holds"


def test_smollm2_falls_short_on_the_convex_problem(n):
    """SmolLM2-135M under the CI profile (measured: 24% of the mass near the minimum, spread
    5.5x, the mode of the predicted stationary marginal 21 bins from the minimizer, next-state
    laws 4.2 states wide at the bottom where the run's steps are 0.92). Thresholds well under
    these; a text-pretrained model that reads the law right should make this test fail, and
    the text with it."""
    assert n["convex_near_fraction@smollm2-135m"] <= 0.6
    assert n["convex_std_ratio@smollm2-135m"] >= 2.0
    assert n["convex_mode_offset_bins@smollm2-135m"] >= 5
    assert n["lm_std_bottom@smollm2-135m"] > 2 * n["real_step_std_bottom"]


def test_smollm2_two_basin_prediction_forgets_the_start(n):
    # measured: the same outcome law from every start (spread 0.005), mean TV 0.92, and one
    # minimum reached with the two runs; 4 pool runs do not bring the second (runs needed: 5,
    # i.e. none within the pool)
    assert n["tb_start_spread@smollm2-135m"] <= 0.1
    assert n["tb_tv_mean@smollm2-135m"] >= 0.5
    assert n["tb_basins_reached@smollm2-135m"] <= 1
    assert n["runs_needed@smollm2-135m"] > n["runs_needed@counts"]
    assert n["runs_vs_counts_text@smollm2-135m"] == "later than"


def test_calibration_on_the_observed_transitions(n):
    # A temperature fitted on the run's own next states sharpens the embedded model's laws
    # (CI: 0.77) and narrows them at the bottom; for SmolLM2 it does not (CI: 1.07), and the
    # convex claim still fails for it after calibration (CI: 27% near the minimum).
    assert n["temperature@embedded"] < 1
    assert n["lm_std_bottom_calibrated@embedded"] < n["lm_std_bottom@embedded"]
    assert n["temperature@smollm2-135m"] > 0.9
    assert n["convex_near_fraction_calibrated@smollm2-135m"] < 0.95
    # the text says for which models the fitted temperature is below 1
    below = [TITLES[m] for m in ("embedded", "smollm2-135m") if n[f"temperature@{m}"] < 1]
    assert n["sharpened_text"] == (
        "every model" if len(below) == 2 else ", ".join(below) or "no model"
    )


def test_mixing_with_prequential_counts_helps_but_does_not_make_smollm2_hold(n):
    # Weights fitted on the observed next states against prequential counts (CI: embedded
    # 0.87, SmolLM2 0.76): the mass near the minimum rises (CI: 69% -> 83% and 24% -> 42%),
    # because the counts, which hold the claim, take part of the kernel; SmolLM2 still falls
    # short of the 95% rule.
    for m in ("embedded", "smollm2-135m"):
        assert 0 < n[f"mix_weight@{m}"] < 1
        assert n[f"convex_near_fraction_mixed@{m}"] > n[f"convex_near_fraction@{m}"]
    assert n["convex_near_fraction_mixed@smollm2-135m"] < 0.95
    assert "does not hold for SmolLM2-135M" in n["mixed_verdict"]


def test_at_the_papers_three_digits(n):
    # The same run read again on the paper's 3-digit grid (the embedded model and the counts;
    # the text-pretrained models are left out for their cost, which the text states). CI
    # measured: counts 97.3% of the mass near the minimum (100% at 2 digits; ten times as many
    # rows from the same transitions), spread ratio 1.60; the embedded model 75.6% (69.0% at 2
    # digits), spread ratio 3.38 (4.28). The counted kernels must still bring the predictions to
    # the minimum, and the embedded model's shortfall must stay, both by the stated rule.
    assert n["fine_digits_used"] == 3 and n["digits_used"] == 2
    assert n["fine_near_fraction@counts"] >= 0.95
    assert n["fine_w1_last@counts"] <= 2 * n["ls_bin_width"]
    assert n["fine_near_fraction@embedded"] < 0.95
    assert n["fine_std_ratio@embedded"] >= 2.0
    fine = _verdict_words(
        {s: n[f"fine_near_fraction@{s}"] for s in ("embedded", "counts")},
        lambda v: v >= 0.95,
        lambda v: v >= 0.5,
    )
    assert _groups(n["fine_verdict"]) == {TITLES[s]: w for s, w in fine.items()}
    # the states the run visited on each coordinate, out of 10**3
    visited = [int(v) for v in n["fine_visited"].split(" and ")]
    assert len(visited) == 2 and all(0 < v < 1000 for v in visited)
