"""Claims of the chapter *The model predicting its own training*, checked on its CI-profile run.

A copy of the embedded model is fine-tuned (final norm, constant-step SGD); the original, frozen
model reads the recorded parameter and loss series, and its kernels, counted kernels and "stay
where you are" predict further training from a restart, a checkpoint and a fresh norm init. The
claims: the shipped model is untouched, training lowers the loss, the recorded parameters drift
beyond their fluctuations, and counted kernels predict further training far better than staying
put. The embedded model falls short: its next-state laws are too wide, its kernels lead to one
wide law with its mean in the interior of the grid whatever the start, so its error is mostly
where that law is centred; it beats staying put at the last horizon only from the starts above
that interior. Those shortfalls are pinned too: if a better default model makes those tests
fail, the chapter's text about the shortfall must be revised with them.

Monte Carlo noise: the CI profile scores each start on 40 real runs, whose mean at the last
horizon is known to about spread / sqrt(40), i.e. 0.3 bins on the two steadily drifting
parameters and 2 bins on the fluctuating one (real spread ~12 bins); the tolerances below are
wider than that.
"""

from __future__ import annotations

import numpy as np
import pytest

from sgdllm.book.claims import PARTLY, evaluate_claims
from sgdllm.book.executor import BookLayout
from tests.conftest import ROOT, load_record

pytestmark = pytest.mark.slow

STARTS = ("restart", "checkpoint", "fresh")


@pytest.fixture(scope="module")
def n(ci_chapter):
    return ci_chapter("self_prediction")


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


def test_every_parameter_drifts_in_small_steps(n):
    # The text: "every recorded parameter drifts by a fraction of a state per step" (CI: 0.74,
    # 0.46, 0.53 states; book: 0.78, 0.40, 0.44).
    assert np.all(np.asarray(n["real_step_std"]) < 1.0)
    assert np.all(np.asarray(n["real_step_std"]) > 0.0)


def test_the_models_next_state_laws_are_too_wide(n):
    # The text: the model's next-state laws are wider than the run's steps, by the recorded
    # factors (CI: 1.43-1.46 states against 0.46-0.74, 1.9-3.2x; book: 1.65-1.71 against
    # 0.40-0.78, 2.1-4.3x; required: 1.5x), and the law read after a single value is "much
    # wider still" (CI: 29 states, the uniform law 29; required: over half the uniform law's
    # and 5x the median).
    lm, real = np.asarray(n["lm_step_std"]), np.asarray(n["real_step_std"])
    assert np.all(lm > 1.5 * real)
    np.testing.assert_allclose(n["lm_over_real_step_std"], lm / real, atol=0.06)
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


def test_counted_kernels_miss_by_a_few_bins_per_parameter(n):
    # Per parameter after the last horizon (CI, checkpoint: 1.0, 2.1, 4.3 bins; restart: 1.2,
    # 3.6, 2.4; fresh: 3.8, 4.6, 6.7; book at most 7.1), within 10 bins from every start (a
    # tenth of the grid), where the real runs move the means by 10-68 bins.
    for where in STARTS:
        miss = np.asarray(n[f"{where}_w1_counts_last_by_coord"])
        assert np.all(miss < 10.0)
        assert np.all(miss < np.asarray(n[f"{where}_real_drift_by_coord"]))


def test_counted_kernels_predict_the_spread_within_a_factor(n):
    # The predicted spread of the counted kernels after the last horizon, relative to the real
    # one (CI: 2.2, 1.6 and 2.1; book: 3.0, 1.7, 2.8): a factor 4 either way. A kernel of one
    # coordinate of a 128-d chain read from one run cannot be exact, but it must not be a
    # Dirac or the whole grid.
    for where in STARTS:
        assert 1 / 4 <= n[f"{where}_std_ratio_counts"] <= 4.0


def test_embedded_model_falls_short_of_counting(n):
    # Honest shortfall (chapter text): the embedded model is behind the counted kernels at the
    # last horizon from every start (CI: 8.5 vs 2.4, 14.4 vs 2.5, 17.5 vs 5.0 bins; required
    # 1.5x) and its predicted laws are too wide (CI: 4.4-5.4 times the real spread, against
    # 1.6-2.2 for the counts; book: 5.5-5.8 against 1.7-3.0; required: over 3 and over 1.5
    # times the counts' ratio).
    for where in STARTS:
        assert n[f"{where}_w1_lm"][-1] > 1.5 * n[f"{where}_w1_counts"][-1]
        assert n[f"{where}_std_ratio_lm"] > 3.0
        assert n[f"{where}_std_ratio_lm"] > 1.5 * n[f"{where}_std_ratio_counts"]


def test_embedded_model_error_is_mostly_its_centre(n):
    # The text: "not only because its laws are too wide": the distance between the model's
    # predicted mean and the real one is "most of its W1" (CI: 5.0 of 8.5, 14.4 of 14.4, 17.4
    # of 17.5 bins from the restart, the checkpoint and the fresh start; book: 13.7 of 14.5,
    # 25.3 of 26.0, 17.3 of 18.0; required: half), and the counted kernels' means are closer
    # (CI: 1.0, 0.9, 4.8 bins; required: the model's over 1.5 times theirs).
    for where in STARTS:
        assert n[f"{where}_mean_err_lm"] > 0.5 * n[f"{where}_w1_lm"][-1]
        assert n[f"{where}_mean_err_lm"] > 1.5 * n[f"{where}_mean_err_counts"]


def test_embedded_model_forgets_its_start(n):
    # The text: the model's kernels lead to one wide law, its mean in the interior of the grid,
    # and the predicted law from every start heads there. The starts lie up to 61 states (CI;
    # book 62) from the stationary means, the predicted means after the last horizon within 14
    # (CI, 200 steps; book, 400 steps: 1.4) and 6.3 bins of each other (book 0.7), where the
    # real means are 10 bins apart (book 12) and the counted kernels' 9 (book 7). Required:
    # under half the start's distance, and under 0.75 times the real and the counted ranges.
    assert n["lm_end_stationary_gap"] < 0.5 * n["lm_start_stationary_gap"]
    assert n["lm_end_mean_range"] < 0.75 * n["real_end_mean_range"]
    assert n["lm_end_mean_range"] < 0.75 * n["counts_end_mean_range"]
    # the stationary law is wide (sd 8-12 states) with its mean inside the grid
    sd, mean = np.asarray(n["lm_stationary_sd"]), np.asarray(n["lm_stationary_mean"])
    assert np.all(sd > 5) and np.all((mean > 15) & (mean < 85))


def test_embedded_model_from_the_checkpoint(n):
    # The text: from the checkpoint the model's predicted mean ends far from the real one (CI:
    # 14 of the 26 bins of the real drift; book: 25 of 27; required: 0.4), its W1 is the
    # recorded fraction of that of "stay" (CI: 0.56 at the end, book 0.95) and several times
    # the counted kernels' (CI: 14.4 vs 2.5; required 3x).
    lm = np.asarray(n["checkpoint_w1_lm"])
    stay = np.asarray(n["checkpoint_w1_stay"])
    assert n["checkpoint_lm_over_stay_min"] == pytest.approx(np.min(lm / stay), rel=0.01)
    assert n["checkpoint_lm_over_stay_last"] == pytest.approx(lm[-1] / stay[-1], rel=0.01)
    assert n["checkpoint_mean_err_lm"] > 0.4 * n["checkpoint_real_drift_bins"]
    assert lm[-1] > 3 * n["checkpoint_w1_counts"][-1]
    # "the real runs move on from there ... while the model's law heads for its stationary means
    # instead": those are states away from where the real means end (CI: 24, 26, 29 against
    # 18, 15, 14; book: 23, 45, 48 against 31, 13, 12), over twice the real spread on average
    real_end = np.asarray(n["checkpoint_real_end_states"])
    away = np.abs(np.asarray(n["lm_stationary_mean"]) - real_end).mean()
    assert away > 2 * n["checkpoint_real_spread_bins"]


def test_embedded_model_beats_staying_where_training_comes_down_from_above(n):
    # The text: from the restart and the fresh start the parameters begin above the model's
    # stationary means (CI: states 85 and 60-77 against 24-29; book: 85 and 60-79 against
    # 23-48), so there the model beats "stay" at the last horizon (CI: 8.5 vs 60.7 and 17.5
    # vs 49.7 bins; required: 0.75).
    centre = np.asarray(n["lm_stationary_mean"])
    for where in ("restart", "fresh"):
        assert np.all(np.asarray(n[f"{where}_start_states"]) > centre)
        assert n[f"{where}_w1_lm"][-1] < 0.75 * n[f"{where}_w1_stay"][-1]


def test_embedded_model_is_behind_staying_at_the_first_horizon_from_the_restart(n):
    # The text: at the first horizon from the restart the model is "far further" from the real
    # law than "stay" (CI: 37.0 vs 7.7 bins; book: 36.7 vs 6.6; required: 2x), and the
    # restart's states are visited at most twice by the run (CI: 1, 1, 1; book 1, 2, 2), so
    # the model's rows there are at least half its wide first law.
    assert n["restart_w1_lm"][0] > 2 * n["restart_w1_stay"][0]
    assert np.all(np.asarray(n["restart_start_visits"]) <= 2)


def test_fresh_init_is_a_new_start(n):
    # The fresh norm init (its full-data loss 0.9879 nats, the model's own 0.9886) is a start
    # the run never visited: real training from it moves far (CI: 49 bins, spread 2),
    # and its recorded values, off the grid or on the run's path (CI and book: 0 off, 3 on),
    # are where the counted kernels end within 10 bins of the real law (CI: 3.8-6.7 bins).
    assert n["fresh_real_drift_bins"] > 2 * n["fresh_real_spread_bins"]
    assert 0 <= n["fresh_off_grid"] <= n["n_coords_used"]
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


# ----------------------------------------------------------------------------- the model ladder
#
# The CI profile also runs SmolLM2-135M, which reads the same recorded series: for it this is
# another model's training. CI numbers after the last horizon (restart, checkpoint, fresh):
# W1 7.2, 10.9, 11.6 bins (embedded 8.5, 14.4, 17.5; counts 2.4, 2.5, 5.0; stay 60.7, 25.9,
# 49.7); predicted spread 4.5, 4.0, 4.4 times the real one; predicted mean 4.4, 10.7, 10.2 bins
# off; next-state laws 3.0-3.8 times as wide as the run's steps.

OTHER = "smollm2-135m"


def test_smollm2_reads_the_same_run_and_predicts_every_start(n):
    for where in STARTS:
        for key in ("w1", "w1_loss"):
            values = np.asarray(n[f"{where}_{key}@{OTHER}"])
            assert values.shape == (len(n["horizons_used"]),) and np.all(values > 0)
    assert n["ladder_others"] == ["SmolLM2-135M"]


def test_smollm2_falls_short_of_counting_as_the_embedded_model_does(n):
    # The same shortfall as the embedded model's: behind the counted kernels from every start
    # (CI: 2.3-4.4 times their W1; required 1.5x), next-state laws too wide (3.0-3.8 times the
    # run's steps; required 1.5x), predicted spread too wide (4.0-4.5x; required 2.5x), most of
    # its W1 the distance between the predicted and the real mean (CI: 0.62, 0.98, 0.88 of it;
    # required half): the embedded model's failure is not that of a model reading itself.
    assert np.all(np.asarray(n[f"lm_step_std@{OTHER}"]) > 1.5 * np.asarray(n["real_step_std"]))
    for where in STARTS:
        w1 = n[f"{where}_w1@{OTHER}"][-1]
        assert w1 > 1.5 * n[f"{where}_w1_counts"][-1]
        assert n[f"{where}_std_ratio@{OTHER}"] > 2.5
        assert n[f"{where}_mean_err@{OTHER}"] > 0.5 * w1
    assert n[f"n_starts_beats_counts@{OTHER}"] == 0


def test_smollm2_beats_staying_put_at_the_last_horizon_but_not_at_the_first(n):
    # From every start it ends closer to the real law than "stay" (CI worst: 0.42 of its W1 at
    # the checkpoint; required 0.75), yet from the restart its first step is far worse (CI:
    # 51.1 vs 7.7 bins; required 2x), like the embedded model's: wide laws spread fast.
    for where in STARTS:
        assert n[f"{where}_w1@{OTHER}"][-1] < 0.75 * n[f"{where}_w1_stay"][-1]
    assert n[f"n_starts_beats_stay@{OTHER}"] == 3
    assert n[f"restart_w1@{OTHER}"][0] > 2 * n["restart_w1_stay"][0]


def test_smollm2_is_closer_than_the_embedded_model_from_most_starts(n):
    # CI: from all three starts (7.2 vs 8.5, 10.9 vs 14.4, 11.6 vs 17.5 bins); the restart's
    # margin is small, so two of three are required; the text states the count it measured.
    beats = sum(n[f"{w}_w1@{OTHER}"][-1] < n[f"{w}_w1_lm"][-1] for w in STARTS)
    assert n[f"n_starts_beats_own@{OTHER}"] == beats >= 2


def test_claims_table_has_a_smollm2_column_for_self_prediction(n):
    # The claim reads "<start>_w1@<model>" and "<start>_std_ratio@<model>": SmolLM2's W1 is at
    # most 0.42 of staying put's (holds at 0.5) and its spread 4.5x (fails beyond 4x): partly,
    # as for the embedded model (n: the chapter's CI run, whose record is read here).
    record = load_record(BookLayout(ROOT), "self_prediction")
    estimators, rows = evaluate_claims({"self_prediction": record})
    assert OTHER in estimators
    row = next(r for r in rows if r.claim.key == "self_prediction")
    assert row.cells[OTHER].verdict == PARTLY
    assert None not in row.cells[OTHER].values
