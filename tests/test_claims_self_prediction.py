"""Claims of the chapter *The model predicting its own training*, checked on its CI-profile run.

A copy of the embedded model is fine-tuned (final LayerNorm, constant-step SGD); the original,
frozen model reads the recorded parameter and loss series, and its kernels, counted kernels and
"stay where you are" predict further training from a restart and a checkpoint. The claims: the
shipped model is untouched, training lowers the loss, the recorded parameters drift beyond their
fluctuations, and counted kernels predict further training far better than staying put. The
embedded model's shortfall is pinned too: if a better default model makes those tests fail, the
chapter's text about the shortfall must be revised with them.
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
    # than their spread across runs (CI: 17 bins of drift vs 3 bins of spread from the
    # checkpoint); a spread of at least one bin means the chain fluctuates (a stationary law
    # with a spread, not a Dirac), and at most a tenth of the grid keeps it resolvable.
    for where in ("restart", "checkpoint", "fresh"):
        assert n[f"{where}_real_drift_bins"] > 2 * n[f"{where}_real_spread_bins"]
        assert 1.0 <= n[f"{where}_real_spread_bins"] <= 10.0


def test_counted_kernels_predict_training_better_than_staying(n):
    # At the last horizon the counted kernels (raw and smoothed) are within a few bins (CI: ~3)
    # while "stay" is off by the whole drift (17 and 62 bins): a factor 2 leaves room for Monte
    # Carlo noise of the 40 real runs per start (spread 3 bins / sqrt(40) ~ 0.5 bin) and still
    # fails if counting did not follow the drift. The fresh LayerNorm init is off the recorded
    # path (CI: counts 2.9 vs stay 73 bins); it is held to the same bounds.
    for where in ("restart", "checkpoint", "fresh"):
        stay = np.asarray(n[f"{where}_w1_stay"])
        for key in ("counts", "smoothed"):
            counts = np.asarray(n[f"{where}_w1_{key}"])
            assert counts[-1] < 0.5 * stay[-1]
            assert counts[-1] < 6.0  # within 6 bins of the real law after the last horizon


def test_counted_kernels_predict_the_spread_within_a_factor(n):
    # The predicted spread of the counted kernels after the last horizon, relative to the real
    # one (CI: 1.5 and 1.7): a factor 3 either way. A kernel of one coordinate of a 256-d chain
    # read from one run cannot be exact, but it must not be a Dirac or the whole grid.
    for where in ("restart", "checkpoint", "fresh"):
        assert 1 / 3 <= n[f"{where}_std_ratio_counts"] <= 3.0


def test_embedded_model_falls_short_of_counting(n):
    # Honest shortfall (chapter text): the embedded model's predicted laws are several times
    # wider than training's (CI: 8.7x and 7.5x) and further from them than the counted kernels'
    # at every horizon, from all three starts.
    for where in ("restart", "checkpoint", "fresh"):
        assert n[f"{where}_std_ratio_lm"] > 3.0
        lm = np.asarray(n[f"{where}_w1_lm"])
        counts = np.asarray(n[f"{where}_w1_counts"])
        assert np.all(lm > counts)


def test_embedded_model_versus_staying_put(n):
    # The text: from the checkpoint (real drift ~17 bins) the model's spread-out laws are worse
    # than not moving at every horizon; from the restart (drift ~60 bins) they beat staying put
    # at the last horizon, as from the fresh init (drift ~80 bins).
    assert np.all(np.asarray(n["checkpoint_w1_lm"]) > np.asarray(n["checkpoint_w1_stay"]))
    assert n["restart_w1_lm"][-1] < n["restart_w1_stay"][-1]
    assert n["fresh_w1_lm"][-1] < n["fresh_w1_stay"][-1]


def test_fresh_init_is_a_new_start(n):
    # The fresh LayerNorm init is worse than the model's own parameters, and at least one of its
    # recorded values lies off the grid read from the run (it is not a visited state).
    assert n["fresh_loss_full"] > n["loss_full_start"]
    assert n["fresh_off_grid"] >= 1


def test_loss_law_is_predicted_better_than_a_single_batch_loss(n):
    # The loss series is mini-batch noise around a slowly falling mean: staying at the one
    # batch loss seen at the start is off by ~10-20 bins, both kernels by a few bins after
    # the last horizon.
    for where in ("restart", "checkpoint", "fresh"):
        for key in ("lm", "counts"):
            assert n[f"{where}_w1_loss_{key}"][-1] < n[f"{where}_w1_loss_stay"][-1]
