"""Claims of the chapter *Your own trajectories*, checked on its CI-profile run.

The tool (``sgdllm.studies.trajectories.predict_trajectory_file``, ``sgdllm predict``) must run end
to end on a trajectory logged by a PyTorch training loop, refuse a run too long for the model's
context with a clear error, write its three files per prediction, and, with good kernels (the
counted ones), predict laws that match continued training runs from the new starts. The
embedded language model's shortfall is pinned too: if a better default model makes that test
fail, the chapter's text about the shortfall must be revised with it.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def n(ci_chapter):
    return ci_chapter("your_trajectories")


def test_files_written_and_shapes(n):
    # One prediction per model of the ladder (CI: embedded, SmolLM2) and one counted, three
    # files each (npz, json, png); laws are coordinates (w, b) x 3 starts x horizons x 10**2
    # states.
    assert n["n_predictions"] == 3
    assert n["files_written"] == 3 * n["n_predictions"]
    assert n["laws_shape"] == [2, 3, len(n["horizons_used"]), 100]


def test_too_long_run_is_refused(n):
    # The logged run (>= 400 steps in every profile) exceeds the 340 values of 2 digits that the
    # embedded model's 1024-token context holds, so the default long="error" must refuse it.
    assert n["log_steps_used"] + 1 > 340
    assert n["too_long_error_raised"] is True


def test_counted_prediction_matches_continued_training(n):
    # At the last horizon (200 steps, ~10 relaxation times 1 / lr = 20) the real runs are at
    # stationarity; predicted laws live on bin centres, so discretization alone costs up to about
    # half a bin of W1, and the Monte Carlo error of 200 runs (sd ~0.07 -> ~0.005) is a tenth of
    # a bin: within one bin.
    assert n["w1_counts_last"] < n["bin_width"]
    # The spread of the stationary law: within 30% (the kernel is counted from one run of a few
    # hundred steps at the bottom, ~10 visits per state).
    assert 0.7 < n["std_ratio_counts"] < 1.3
    # On the way down (t = 10) the error is larger than at stationarity: one pass of the run
    # per row, and the coupling of w and b that the diagonal blocks ignore.
    w1 = np.asarray(n["w1_counts_by_horizon"])
    assert w1[-1] < w1[0]


def test_embedded_model_prediction_is_poor(n):
    """Honest pin of the embedded model (0.8M parameters), as the text says: "still poor". The
    peak of its predicted law is in the right place, but thin, far tails (compounded over 200
    matrix powers) make the stationary standard deviation several times too large (measured
    4.0 in CI, 5.5 in the book; the previous default model: ~10) and the W1 error several
    times that of the counted kernels (4.0 times in CI, 23 in the book). 3 leaves room for
    another BLAS or torch version; a model whose tails are right should make this test fail,
    and the chapter's text with it."""
    assert n["std_ratio_lm"] > 3.0
    assert n["w1_lm_last"] > 3 * n["w1_counts_last"]


def test_every_model_of_the_ladder_recorded_beside_the_counts(n):
    # The convention sgdllm.book.claims reads: "<name>@<model id>" and "<name>@counts"; the embedded
    # model's numbers are also under the chapter's older keys, identical.
    for source in ("embedded", "smollm2-135m", "counts"):
        for name in ("w1_last", "std_ratio", "mean_error"):
            assert np.isfinite(n[f"{name}@{source}"])
    assert n["w1_last@embedded"] == n["w1_lm_last"]
    assert n["std_ratio@embedded"] == n["std_ratio_lm"]
    assert n["w1_last@counts"] == n["w1_counts_last"]
    # the text's "within one bin" list is computed from the numbers
    within = [
        s for s in ("counts", "embedded", "smollm2-135m") if n[f"w1_last@{s}"] < n["bin_width"]
    ]
    assert ("counts" in n["within_a_bin"]) == ("counts" in within)
    assert ("SmolLM2" in n["within_a_bin"]) == ("smollm2-135m" in within)


def test_smollm2_context_holds_the_run_and_its_prediction_is_poor(n):
    """SmolLM2-135M (a longer context) reads the whole logged run at once, so only the
    embedded model refuses it. Its prediction is poorer than the embedded model's: in CI the
    stationary spread is 8.5 times the real one, W1 33 times the counted kernels', and the
    predicted mean is off by 0.49 (about 9 bins). The thresholds sit well under these values;
    a text-pretrained model that reads the transition law right should make this test fail,
    and the chapter's text with it."""
    assert n["too_long_error_raised@embedded"] is True
    assert n["too_long_error_raised@smollm2-135m"] is False
    assert n["refused_by"] == "embedded (0.8M)"
    assert n["std_ratio@smollm2-135m"] > 3.0
    assert n["w1_last@smollm2-135m"] > 5 * n["w1_last@counts"]
    assert n["mean_error@smollm2-135m"] > 3 * n["bin_width"]


def test_calibration_on_the_run_fixes_the_embedded_width_not_smollm2(n):
    # A temperature fitted on the logged run's own next states (never on the continued runs)
    # sharpens the embedded model's laws (CI: 0.60) and cuts its W1 error (CI: 0.085 -> 0.040,
    # one bin 0.052); SmolLM2's fitted temperature is about 1 (CI: 1.09) and its error stays
    # (CI: 0.64), since its predicted mean is off by many bins.
    assert n["temperature@embedded"] < 1
    assert n["w1_last_calibrated@embedded"] < n["w1_last@embedded"]
    assert n["temperature@smollm2-135m"] > 0.9
    assert n["w1_last_calibrated@smollm2-135m"] > 3 * n["w1_last@counts"]
    within = [
        t
        for m, t in (("embedded", "embedded (0.8M)"), ("smollm2-135m", "SmolLM2-135M"))
        if n[f"w1_last_calibrated@{m}"] < n["bin_width"]
    ]
    assert n["within_a_bin_calibrated"] == (", ".join(within) or "no model")
