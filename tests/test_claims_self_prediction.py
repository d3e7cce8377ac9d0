"""Claims of the chapter *The model predicting its own training*, checked on its CI-profile run.

A copy of the embedded model is fine-tuned (final norm, constant-step SGD); the original, frozen
model reads the recorded parameter and loss series, and its kernels, counted kernels and "stay
where you are" predict further training from a restart, a checkpoint and a fresh norm init. The
claims: the shipped model is untouched, training lowers the loss, the recorded parameters drift
beyond their fluctuations, and counted kernels predict further training far better than staying
put (least well on the parameter that fluctuates most). The embedded model falls short: its
next-state laws are too wide, its kernels lead to one wide law with its mean in the interior of
the grid whatever the start, so its error is mostly where that law is centred; it is hardly
better than staying put from the checkpoint and beats it only from the starts whose real runs
cross that interior. Those shortfalls are pinned too: if a better default model makes those
tests fail, the chapter's text about the shortfall must be revised with them.

Monte Carlo noise: the CI profile scores each start on 40 real runs, whose mean at the last
horizon is known to about spread / sqrt(40), i.e. 0.3 bins on the two steadily drifting
parameters and 2 bins on the fluctuating one (real spread ~12 bins); the tolerances below are
wider than that.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow

STARTS = ("restart", "checkpoint", "fresh")


@pytest.fixture(scope="module")
def n(ci_chapter):
    return ci_chapter("self_prediction")


def wide_and_steady(n) -> tuple[int, list[int]]:
    """Index of the parameter with the widest steps (states), and those of the others."""
    step = np.asarray(n["real_step_std"])
    wide = int(np.argmax(step))
    return wide, [j for j in range(step.size) if j != wide]


def test_the_shipped_model_is_never_modified(n):
    # the weights hash of the loaded model after fine-tuning its copy equals the one before
    assert n["shipped_weights_unchanged"] == 1


def test_training_lowers_the_full_data_loss(n):
    # Deterministic full-data loss (64 series), not the noisy mini-batch loss. Head-only
    # fine-tuning gains ~2.4% in the CI run (0.983 -> 0.960 nats); requiring a 1% gain and a
    # monotone decrease across the checkpoint fails if SGD does not train (or diverges).
    assert n["loss_full_checkpoint"] < n["loss_full_start"]
    assert n["loss_full_end"] < n["loss_full_checkpoint"]
    assert n["loss_full_end"] < 0.99 * n["loss_full_start"]


def test_recorded_parameters_drift_beyond_their_spread(n):
    # Training moves the recorded entries: the mean of the real continued runs travels further
    # than their spread across runs (CI: 47, 36 and 76 bins of drift vs 5 bins of spread from
    # the restart, the checkpoint and the fresh init); a spread of at least one bin means the
    # chain fluctuates (a stationary law with a spread, not a Dirac), and at most a tenth of
    # the grid keeps it resolvable.
    for where in STARTS:
        assert n[f"{where}_real_drift_bins"] > 2 * n[f"{where}_real_spread_bins"]
        assert 1.0 <= n[f"{where}_real_spread_bins"] <= 10.0


def test_one_parameter_fluctuates_in_wider_steps(n):
    # The text: the steady parameters drift in small steps, the wide one fluctuates in steps
    # "several times wider" (CI: 2.36 states against 0.52 and 0.45), on a narrower grid (one
    # state is 0.003 in value against 0.021 and 0.012). Factor 2 on both.
    wide, steady = wide_and_steady(n)
    step, width = np.asarray(n["real_step_std"]), np.asarray(n["bin_widths"])
    names = n["coordinate_names"].split(", ")
    assert n["wide_name"] == names[wide]
    assert n["steady_names"] == ", ".join(names[j] for j in steady)
    assert np.all(step[wide] > 2 * step[steady])
    assert np.all(width[wide] < width[steady] / 2)


def test_the_models_next_state_laws_are_too_wide(n):
    # The text: the model's next-state laws are "several times wider than the run's steps" on
    # the steady parameters (CI: 1.87 and 1.97 states against 0.52 and 0.45, 3.6x and 4.4x;
    # required: 2x), "closer" on the wide one (CI: 2.38 against 2.36, ratio 1.0, below the
    # steady ratios), and the law read after a single value is "much wider still" (CI: 26
    # states, the uniform law 29; required: over half the uniform law's and 5x the median).
    wide, steady = wide_and_steady(n)
    lm, real = np.asarray(n["lm_step_std"]), np.asarray(n["real_step_std"])
    assert np.all(lm[steady] > 2 * real[steady])
    assert lm[wide] / real[wide] < np.min(lm[steady] / real[steady])
    assert n["lm_first_std"] > 0.5 * n["uniform_std"]
    assert n["lm_first_std"] > 5 * lm.max()


def test_counted_kernels_predict_training_better_than_staying(n):
    # At the last horizon "stay" is off by the whole drift (CI: 47, 36 and 45 bins from the
    # restart, the checkpoint and the fresh init) and the counted kernels (raw and smoothed)
    # by 2.6-16 bins (CI, raw: 2.6, 15.7, 6.7): a factor 0.75 (CI worst: 0.43) leaves room for
    # the Monte Carlo noise of the real runs and still fails if counting did not follow the
    # drift.
    for where in STARTS:
        stay = np.asarray(n[f"{where}_w1_stay"])
        for key in ("counts", "smoothed"):
            counts = np.asarray(n[f"{where}_w1_{key}"])
            assert counts[-1] < 0.75 * stay[-1]


def test_counted_kernels_miss_most_on_the_fluctuating_parameter(n):
    # Per parameter after the last horizon (CI, checkpoint: 0.7, 44.1, 2.2 bins; restart: 0.9,
    # 4.4, 2.6; fresh: 0.6, 13.4, 6.1): the largest miss from the checkpoint and the restart is
    # on the parameter with the widest steps (text), and the steadily drifting ones are
    # predicted within 10 bins from every start (a tenth of the grid, against 18-66 bins of
    # real drift on them; CI worst 6.1).
    wide, steady = wide_and_steady(n)
    for where in ("checkpoint", "restart"):
        assert int(np.argmax(n[f"{where}_w1_counts_last_by_coord"])) == wide
    for where in STARTS:
        assert np.all(np.asarray(n[f"{where}_w1_counts_last_by_coord"])[steady] < 10.0)


def test_counted_kernels_predict_the_spread_within_a_factor(n):
    # The predicted spread of the counted kernels after the last horizon, relative to the real
    # one (CI: 1.6, 1.1 and 1.7): a factor 3 either way. A kernel of one coordinate of a 128-d
    # chain read from one run cannot be exact, but it must not be a Dirac or the whole grid.
    for where in STARTS:
        assert 1 / 3 <= n[f"{where}_std_ratio_counts"] <= 3.0


def test_embedded_model_falls_short_of_counting(n):
    # Honest shortfall (chapter text): the embedded model is behind the counted kernels at the
    # last horizon from every start (CI: 18.5 vs 2.6, 33.1 vs 15.7, 26.9 vs 6.7 bins; required
    # 1.5x) and its predicted laws are too wide (CI: 5.9-6.0 times the real spread, against
    # 1.1-1.7 for the counts; required: over 3 and over twice the counts' ratio).
    for where in STARTS:
        assert n[f"{where}_w1_lm"][-1] > 1.5 * n[f"{where}_w1_counts"][-1]
        assert n[f"{where}_std_ratio_lm"] > 3.0
        assert n[f"{where}_std_ratio_lm"] > 2 * n[f"{where}_std_ratio_counts"]


def test_embedded_model_error_is_mostly_its_centre(n):
    # The text: "not mainly because its laws are too wide": the distance between the model's
    # predicted mean and the real one is "nearly all of its W1" (CI: 17.2 of 18.5, 33.1 of
    # 33.1, 26.8 of 26.9 bins; required: 80%), and the counted kernels' means are closer (CI:
    # 1.7, 15.7, 6.6 bins; required: the model's over 1.5 times theirs, CI worst 2.1). Would
    # fail for a law centred right but too wide (W1 then well above the mean error).
    for where in STARTS:
        assert n[f"{where}_mean_err_lm"] > 0.8 * n[f"{where}_w1_lm"][-1]
        assert n[f"{where}_mean_err_lm"] > 1.5 * n[f"{where}_mean_err_counts"]


def test_embedded_model_forgets_its_start(n):
    # The text: the model's kernels lead to one wide law, its mean in the interior of the grid,
    # away from where the run ended, and the predicted law from every start settles there. CI: the
    # predicted means after the last horizon lie within 3.5 bins of each other (real: 14, counts:
    # 11; required: under half of both), within 4.3 states of the stationary means (under half
    # the stationary sd, 12-16 states); the stationary means (30, 68, 42) are 27 states on
    # average from the run's end (15, 29, 15) (required: over twice the real spread, 5 bins).
    # How wide the law is, is pinned by the spread ratios above.
    assert n["lm_end_mean_range"] < 0.5 * n["real_end_mean_range"]
    assert n["lm_end_mean_range"] < 0.5 * n["counts_end_mean_range"]
    sd = np.asarray(n["lm_stationary_sd"])
    assert n["lm_end_stationary_gap"] < 0.5 * sd.min()
    away = np.abs(np.asarray(n["lm_stationary_mean"]) - n["run_end_states"]).mean()
    for where in STARTS:
        assert away > 2 * n[f"{where}_real_spread_bins"]


def test_embedded_model_is_hardly_better_than_staying_from_the_checkpoint(n):
    # The text: from the checkpoint the model's W1 is at least 0.92 times that of "stay" at
    # every horizon in CI (CI: 4.6/3.9, 8.8/8.0, 21.9/22.8, 33.1/36.1) and its predicted mean
    # ends about as far from the real one as the start (CI: 33 vs 36 bins). Required: 0.75 on
    # both; fails if the model follows the drift from the checkpoint.
    lm = np.asarray(n["checkpoint_w1_lm"])
    stay = np.asarray(n["checkpoint_w1_stay"])
    assert n["checkpoint_lm_over_stay_min"] == pytest.approx(np.min(lm / stay), rel=0.01)
    assert n["checkpoint_lm_over_stay_min"] > 0.75
    assert n["checkpoint_mean_err_lm"] > 0.75 * n["checkpoint_real_drift_bins"]


def test_embedded_model_beats_staying_where_training_crosses_the_interior(n):
    # The text: from the restart and the fresh start the steady parameters begin high on their
    # grids (CI: states 85, 85 and 71, 73), the run ends low (15, 15) and the model's stationary
    # means lie between (30, 42), so there the model beats "stay" at the last horizon (CI: 18.5
    # vs 47.1 and 26.9 vs 44.9 bins; required: 0.75).
    _, steady = wide_and_steady(n)
    centre = np.asarray(n["lm_stationary_mean"])[steady]
    end = np.asarray(n["run_end_states"])[steady]
    assert np.all(end < centre)
    for where in ("restart", "fresh"):
        assert np.all(np.asarray(n[f"{where}_start_states"])[steady] > centre)
        assert n[f"{where}_w1_lm"][-1] < 0.75 * n[f"{where}_w1_stay"][-1]


def test_embedded_model_is_behind_staying_at_the_first_horizon(n):
    # The text: at the first horizon the model is further from the real law than "stay" from
    # the restart and the fresh start (CI: 24.0 vs 11.5 and 11.2 vs 5.2 bins; required: 1.2x),
    # and the restart's states on the steady parameters are visited at most twice by the run
    # (CI: 1 and 2), so the model's rows there are at least half its wide first law.
    _, steady = wide_and_steady(n)
    for where in ("restart", "fresh"):
        assert n[f"{where}_w1_lm"][0] > 1.2 * n[f"{where}_w1_stay"][0]
    assert np.all(np.asarray(n["restart_start_visits"])[steady] <= 2)


def test_fresh_init_is_a_new_start(n):
    # The fresh norm init is worse than the model's own parameters (CI: 0.987 vs 0.983 nats),
    # real training from it moves far (CI: 76 bins, spread 5), at least one recorded value lies
    # off the grid read (CI: 1) and at least one on the run's path (CI: 2), where the counted
    # kernels end within 10 bins of the real law (CI: 0.6 and 6.1 bins; a tenth of the grid).
    assert n["fresh_loss_full"] > n["loss_full_start"]
    assert n["fresh_real_drift_bins"] > 2 * n["fresh_real_spread_bins"]
    assert n["fresh_off_grid"] >= 1
    assert n["fresh_on_path"] >= 1
    names = n["coordinate_names"].split(", ")
    on_path = [names.index(name) for name in n["fresh_on_path_names"].split(", ")]
    assert len(on_path) == n["fresh_on_path"]
    assert np.all(np.asarray(n["fresh_w1_counts_last_by_coord"])[on_path] < 10.0)


def test_loss_law_is_predicted_better_than_a_single_batch_loss(n):
    # The loss series is mini-batch noise around a slowly falling mean: staying at the one
    # batch loss seen at the start is off by ~10-30 bins (CI: 10.8, 26.3, 13.5), both kernels
    # by 2-6 bins after the last horizon.
    for where in STARTS:
        for key in ("lm", "counts"):
            assert n[f"{where}_w1_loss_{key}"][-1] < n[f"{where}_w1_loss_stay"][-1]
