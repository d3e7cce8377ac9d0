"""Claims of the chapter *The model predicting its own training*, checked on its CI-profile run.

A copy of the embedded model is fine-tuned (final LayerNorm, constant-step SGD); the original,
frozen model reads the recorded parameter and loss series, and its kernels, counted kernels and
"stay where you are" predict further training from a restart and a checkpoint. The claims: the
shipped model is untouched, training lowers the loss, the recorded parameters drift beyond their
fluctuations, and counted kernels predict further training far better than staying put. The
embedded model follows the drift but with laws too wide; that shortfall is pinned too: if a
better default model makes those tests fail, the chapter's text about the shortfall must be
revised with them.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def n(ci_chapter):
    return ci_chapter("self_prediction")


def test_the_shipped_model_is_never_modified(n):
    # the weights hash of the loaded model after fine-tuning its copy equals the one before
    assert n["shipped_weights_unchanged"] == 1


def test_training_lowers_the_full_data_loss(n):
    # Deterministic full-data loss (64 series), not the noisy mini-batch loss. Head-only
    # fine-tuning gains ~3% in the CI run (1.062 -> 1.025 nats); requiring a 1% gain and a
    # monotone decrease across the checkpoint fails if SGD does not train (or diverges).
    assert n["loss_full_checkpoint"] < n["loss_full_start"]
    assert n["loss_full_end"] < n["loss_full_checkpoint"]
    assert n["loss_full_end"] < 0.99 * n["loss_full_start"]


def test_recorded_parameters_drift_beyond_their_spread(n):
    # Training moves the recorded entries: the mean of the real continued runs travels further
    # than their spread across runs (CI: 20 bins of drift vs 8 bins of spread from the
    # checkpoint); a spread of at least one bin means the chain fluctuates (a stationary law
    # with a spread, not a Dirac), and at most a tenth of the grid keeps it resolvable.
    for where in ("restart", "checkpoint", "fresh"):
        assert n[f"{where}_real_drift_bins"] > 2 * n[f"{where}_real_spread_bins"]
        assert 1.0 <= n[f"{where}_real_spread_bins"] <= 10.0


def test_counted_kernels_predict_training_better_than_staying(n):
    # At the last horizon "stay" is off by the whole drift (CI: 21, 45 and 25 bins from the
    # checkpoint, the restart and the fresh init) and the counted kernels (raw and smoothed)
    # by 4-11 bins (CI: 10.6, 4.0, 6.9): a factor 0.75 leaves room for Monte Carlo noise of
    # the real runs per start (spread ~8 bins / sqrt(40) ~ 1.3 bins) and still fails if
    # counting did not follow the drift.
    for where in ("restart", "checkpoint", "fresh"):
        stay = np.asarray(n[f"{where}_w1_stay"])
        for key in ("counts", "smoothed"):
            counts = np.asarray(n[f"{where}_w1_{key}"])
            assert counts[-1] < 0.75 * stay[-1]
            assert counts[-1] < 12.0  # within 12 bins of the real law after the last horizon


def test_counted_kernels_predict_the_spread_within_a_factor(n):
    # The predicted spread of the counted kernels after the last horizon, relative to the real
    # one (CI: 1.5 and 1.7): a factor 3 either way. A kernel of one coordinate of a 256-d chain
    # read from one run cannot be exact, but it must not be a Dirac or the whole grid.
    for where in ("restart", "checkpoint", "fresh"):
        assert 1 / 3 <= n[f"{where}_std_ratio_counts"] <= 3.0


def test_embedded_model_falls_short_of_counting(n):
    # Honest shortfall (chapter text): the embedded model's predicted laws are too wide (CI:
    # 2.0-2.2 times the real spread, against 1.3-1.4 for the counts) and further from the real
    # law than the counted kernels' at the last horizon, from all three starts.
    for where in ("restart", "checkpoint", "fresh"):
        assert 1.5 < n[f"{where}_std_ratio_lm"] < 3.0
        assert n[f"{where}_std_ratio_lm"] > n[f"{where}_std_ratio_counts"]
        assert n[f"{where}_w1_lm"][-1] > n[f"{where}_w1_counts"][-1]


def test_embedded_model_follows_the_drift(n):
    # The text: from every start the model ends far closer to the real law than staying put
    # (CI: 11.3 vs 20.8, 7.4 vs 45, 9.4 vs 25 bins) and "within a few bins of the counted
    # kernels" (CI: 0.7, 3.5 and 2.5 bins behind): less than twice their W1.
    for where in ("restart", "checkpoint", "fresh"):
        lm, stay = n[f"{where}_w1_lm"][-1], n[f"{where}_w1_stay"][-1]
        assert lm < 0.75 * stay
        assert lm < 2.0 * n[f"{where}_w1_counts"][-1]


def test_fresh_init_is_a_new_start(n):
    # The fresh LayerNorm init is worse than the model's own parameters, real training from it
    # moves far (CI: 23 bins), and every prediction is far off at the first horizon (CI: 17-27
    # bins, over twice the real spread of ~7 bins).
    assert n["fresh_loss_full"] > n["loss_full_start"]
    assert n["fresh_real_drift_bins"] > 2 * n["fresh_real_spread_bins"]
    for key in ("lm", "counts", "stay"):
        assert n[f"fresh_w1_{key}"][0] > 2 * n["fresh_real_spread_bins"]


def test_loss_law_is_predicted_better_than_a_single_batch_loss(n):
    # The loss series is mini-batch noise around a slowly falling mean: staying at the one
    # batch loss seen at the start is off by ~10-20 bins, both kernels by a few bins after
    # the last horizon.
    for where in ("restart", "checkpoint", "fresh"):
        for key in ("lm", "counts"):
            assert n[f"{where}_w1_loss_{key}"][-1] < n[f"{where}_w1_loss_stay"][-1]
