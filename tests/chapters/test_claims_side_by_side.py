"""Claims of the chapter *Side by side, and uncertainty*, checked on its CI-profile run.

Every kernel estimator of the package is scored against the exact kernel of a 1-D SGD chain and
by its predictions against real SGD runs, over seeds. The claims: pooling estimators (a Gaussian
AR(1) fit, cross-validated Gaussian smoothing) beat raw counts on short runs; Laplace smoothing
is the worst kernel; counts improve with more context; the exact kernel's predictions are the
floor. The embedded language model's standing is pinned honestly (the best kernel, but
predictions whose error grows with the horizon, from a stationary law far too wide): if another
default model makes those pins fail, the chapter's text must be revised with them. Cost:
only the deterministic flop model is asserted, never a timing -- on least squares and on a
real network, with the language models' reading cost and its break-even.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def n(ci_chapter):
    return ci_chapter("side_by_side")


def test_the_exact_kernel_is_the_prediction_floor(n):
    # Predicting with the exact binned kernel leaves only binning (< one bin in W1) and the
    # Monte Carlo error of 200 real runs (~0.09 / sqrt(200) = 0.006, half a bin): one bin.
    assert n["exact_w1_mean"] <= n["bin_width"]
    longest = {
        k: v[-1]
        for k, v in n.items()
        if k.startswith("pred_w1_") and "_se_" not in k and "@" not in k  # the six estimators
    }
    assert len(longest) == 6
    assert n["exact_w1_mean"] < min(longest.values())


def test_pooling_estimators_beat_raw_counts_on_short_runs(n):
    # With ~100 steps a row has a handful of transitions; the AR(1) fit and the CV smoother pool
    # all of them. In the CI run the gap is ~0.25-0.3 in mean TV with standard errors ~0.03:
    # a margin of 0.1 is over three standard errors and still fails if pooling stops helping.
    assert n["kernel_tv_ar1"][0] < n["kernel_tv_counts"][0] - 0.1
    assert n["kernel_tv_gaussian_cv"][0] < n["kernel_tv_counts"][0] - 0.1
    assert n["best_kernel"] in ("AR(1)", "gaussian (cv)", "language model")
    assert n["best_prediction"] in ("AR(1)", "gaussian (cv)", "counts")


def test_laplace_is_the_worst_kernel(n):
    # K = 100 pseudo-counts against ~10 real transitions per row: most of each row is uniform.
    assert n["ranking_kernel"][-1] == "laplace"
    assert n["kernel_tv_laplace"][-1] > 0.7


def test_counts_improve_with_context(n):
    # Doubling the run (100 -> 200 steps in CI) adds visits to every row: the counted kernel's
    # TV falls (by 0.055 in the CI run, 0.15 from 100 to 400 steps in the book); it must fall.
    assert n["counts_tv_change"] < -0.02
    assert np.all(np.diff(n["pred_w1_counts"]) < 0)


def test_embedded_language_model_standing_is_pinned(n):
    # Honest pins for the embedded 0.8M-parameter model (see the chapter's last section).
    # The kernel: among the closest to the truth at the longer run, second to the AR(1) fit (CI:
    # TV 0.279 against 0.263; book 0.255 against 0.253): ranked first or second, better than
    # the CV smoother and than the raw counts on every seed.
    assert n["lm_rank_kernel"] <= 2
    assert n["ranking_kernel"][0] in ("language model", "AR(1)")
    assert n["lm_beats_gaussian_cv_kernel"] is True and n["lm_beats_counts_kernel"] is True
    assert n["lm_wins_counts_tv_by_context"] == [n["n_seeds_used"]] * 2
    # The predictions: the worst but Laplace's (CI: W1 0.134 against 0.049 for the counts).
    assert n["lm_rank_prediction"] == 5 and n["ranking_prediction"][-1] == "laplace"
    assert n["lm_beats_counts_prediction"] is False and n["lm_beats_ar1_prediction"] is False
    # "as good at first and then growing while the counts' and the smoothers' errors fall and
    # the AR(1) fit's stays low" (CI: LM 0.056, 0.121, 0.189 at t = 5, 20, 100; counts 0.061,
    # 0.060, 0.028; AR(1) 0.040, 0.055, 0.025; book: LM 0.056, 0.088, 0.101, AR(1) 0.024,
    # 0.035, 0.027)
    lm = np.array(n["w1_by_horizon_language_model"])
    assert lm[0] < 1.5 * n["w1_by_horizon_counts"][0]
    assert lm[-1] > 1.5 * lm[0]
    for key in ("counts", "gaussian_cv", "gaussian_rule", "laplace"):
        assert n[f"w1_by_horizon_{key}"][-1] < n[f"w1_by_horizon_{key}"][0]
    ar1 = np.array(n["w1_by_horizon_ar1"])
    assert ar1[-1] < 1.5 * ar1[0] and ar1.max() < lm[-1] / 2
    # "a stationary law far too wide": spread ratio over 2 (CI: 2.75, book 2.07), the others'
    # within 25%
    # of the exact kernel's (CI: counts 0.81, AR(1) 0.83, exact 1.06)
    assert n["pred_std_ratio_language_model"] > 2
    assert abs(n["exact_std_ratio"] - 1) < 0.15
    for key in ("counts", "ar1", "gaussian_cv"):
        assert 0.6 < n[f"pred_std_ratio_{key}"] < 1.4
    # More context changes its kernel less than the counts' (CI: -0.018 against -0.055).
    assert abs(n["lm_tv_change"]) < 0.05
    assert n["lm_tv_change"] > n["counts_tv_change"]


def test_flop_model_of_the_cost(n):
    # Deterministic: 2 m T d K^2 flops to predict, m R T (4 b d + 2 d) to simulate.
    k, r = n["cost_states_used"], n["cost_runs_used"]
    assert n["flop_batch_crossover"] == pytest.approx((k**2 / r - 1) / 2)
    assert n["flop_crossover_n"] == pytest.approx(
        n["flop_batch_crossover"] / n["cost_batch_fraction_used"]
    )
    ratios = np.array(n["flop_ratio_by_size"])
    assert np.all(np.diff(ratios) > 0)  # simulation grows with N, prediction does not
    assert np.allclose(n["flop_ratio_by_dim"], n["flop_ratio_by_dim"][0])  # d moves nothing
    # The recorded crossover is consistent with the recorded ratios: below 1 before it.
    sizes = np.array(n["cost_sizes_used"])
    assert np.all(ratios[sizes < n["flop_crossover_n"]] < 1.0)


def test_second_task_logistic_regression(n):
    # The exact kernel is the floor on this task too (W1 in units of theta; its bin is wider).
    longest = [v[-1] for k, v in n.items() if k.startswith("logit_pred_w1_") and "@" not in k]
    assert len(longest) == 6
    assert n["logit_exact_w1_mean"] < min(longest)
    # Pooling beats raw counts on short runs (CI gap ~0.27, standard errors ~0.02-0.04).
    assert n["logit_kernel_tv_ar1"][0] < n["logit_kernel_tv_counts"][0] - 0.1
    assert n["logit_kernel_tv_gaussian_cv"][0] < n["logit_kernel_tv_counts"][0] - 0.1
    assert n["logit_ranking_kernel"][-1] == "laplace"
    # Honest pins for the embedded model: its kernel is closer to the truth than the raw
    # counts' on short and longer runs (CI: 0.340 against 0.619, 0.339 against 0.506 TV, 3 of
    # 3 seeds), "level with the AR(1) fit" (CI: 0.339 against 0.337: within 0.03), and its
    # predictions lose to the counts' (CI: W1 0.97 against 0.35).
    assert n["logit_lm_beats_counts_kernel_short"] is True
    assert n["logit_lm_beats_counts_kernel_long"] is True
    assert n["logit_lm_wins_counts_tv_by_context"][0] >= 2
    lm, ar1 = n["logit_kernel_tv_language_model"][-1], n["logit_kernel_tv_ar1"][-1]
    assert abs(lm - ar1) < 0.03
    assert n["logit_lm_beats_ar1_kernel"] == bool(lm < ar1)
    assert n["logit_lm_beats_counts_prediction"] is False


def test_smollm2_standing_and_why(n):
    # SmolLM2-135M, pretrained on text, on the same runs (CI: kernel TV 0.341 / 0.299 at
    # T = 100 / 200 against the counts' 0.562 / 0.507, better on 3 of 3 seeds; ranked 3rd of
    # six on the kernel and 5th on the predictions, W1 0.246 against the counts' 0.049).
    m = "@smollm2-135m"
    assert n[f"lm_beats_counts_kernel{m}"] is True
    assert n[f"lm_wins_counts_tv_by_context{m}"][-1] >= 2
    assert n[f"lm_rank_kernel{m}"] <= 4
    assert n[f"lm_beats_counts_prediction{m}"] is False
    assert n[f"pred_w1_language_model{m}"][-1] > 2 * n["pred_w1@counts"][-1]
    # Why: laws wider than the exact rows (CI: 2.25 times; embedded 1.35), compounding into a
    # predicted law far too wide (CI: spread ratio 3.3; the counts' 0.81).
    assert n[f"law_width_ratio{m}"] > 1.5
    assert n[f"law_width_ratio{m}"] > n["law_width_ratio@embedded"]
    assert n[f"pred_std_ratio_language_model{m}"] > 2
    # Off-centre as well (CI: centre error 1.43 times the no-change error; embedded 1.10).
    assert n[f"centre_error_over_persistence{m}"] > 1.0
    # The temperature fitted on the run's own transitions widens SmolLM2's laws (CI: 1.20) and
    # sharpens the embedded model's (CI: 0.73); calibrated, neither model's predictions come
    # near the counts' (CI: W1 0.238 SmolLM2, 0.110 embedded, counts 0.049).
    assert n[f"temperature{m}"] > 1.0
    assert n["temperature@embedded"] < 1.0
    for model in ("embedded", "smollm2-135m"):
        assert n[f"pred_w1_calibrated@{model}"][-1] > 1.5 * n["pred_w1@counts"][-1]
    # The per-model keys of the embedded model are the chapter's "language model" keys.
    assert n["kernel_tv_language_model@embedded"] == n["kernel_tv_language_model"]


def test_smollm2_on_logistic_regression(n):
    # CI: kernel TV 0.408 against the counts' 0.506 on the longer runs; predictions W1 1.34
    # against the counts' 0.35, calibrated 1.33: far off, as the embedded model's (1.02).
    m = "@smollm2-135m"
    assert n[f"logit_lm_beats_counts_kernel_long{m}"] is True
    assert n[f"logit_lm_beats_counts_prediction{m}"] is False
    assert n[f"logit_pred_w1_calibrated{m}"][-1] > 2 * n["logit_pred_w1_counts"][-1]


def test_network_cost_flop_model_and_reading(n):
    # The poster's sentence on a real network. Only the flop model and the recorded
    # consistency are asserted; the timings are checked to be positive, never compared.
    b, r, m = n["net_batch_used"], n["cost_runs_used"], n["cost_starts_used"]
    params = np.array(n["net_params_used"])
    assert np.all(np.diff(params) > 0) and params[0] >= 1000
    assert n["net_largest_params"] == params[-1]
    for grid in ("coarse", "fine"):
        k = n[f"net_states_{grid}"]
        # R (6b + 2) P T / (2 T P K^2): P and T cancel (CI: 0.97 and 0.0097)
        assert n[f"net_flop_ratio_{grid}"] == pytest.approx(r * (6 * b + 2) / (2 * k**2))
        assert n[f"net_runs_to_break_even_{grid}"] == pytest.approx(2 * k**2 / (6 * b + 2))
        assert len(n[f"net_time_ratio_{grid}"]) == len(params)
        assert all(t > 0 for t in n[f"net_time_ratio_{grid}"])
    assert np.all(np.isfinite(n["net_final_loss"]))
    # The paper's grid, dense: a prediction costs far more than a start's runs, by flops
    assert n["net_flop_ratio_fine"] < 0.1
    # The reading, per estimator: 2 P_lm tau n P flops; counting n P
    p, values = params[-1], n["net_values_used"]
    assert n["net_reading_flops@counts"] == pytest.approx(values * p)
    assert n["net_lm_params@smollm2-135m"] == 134_515_008  # the registry's count
    assert 0.5e6 < n["net_lm_params@embedded"] < 1.5e6  # the embedded model, ~0.8M
    ratios = {}
    for e in ("embedded", "smollm2-135m"):
        tau = n[f"net_tokens_per_value@{e}"]
        assert tau == 3  # two digits and a comma
        c = 2 * n[f"net_lm_params@{e}"] * tau * values * p
        assert n[f"net_reading_flops@{e}"] == pytest.approx(c)
        # the ratio with the reading, from the flop model: m s / (m p + C)
        s = r * n["cost_steps_used"] * (6 * b + 2) * p
        pred = 2 * n["cost_steps_used"] * p * n["net_states_coarse"] ** 2
        ratios[e] = m * s / (m * pred + c)
        assert n[f"net_read_ratio@{e}"] == pytest.approx(ratios[e])
        starts = n[f"net_break_even_starts@{e}"]
        if s > pred:
            assert starts == pytest.approx(c / (s - pred))
            assert n[f"net_break_even_runs@{e}"] == pytest.approx(starts * r)
        else:
            assert starts == -1.0  # recorded for "never"
    # Including the reading, matrix products are not cheaper for the chapter's starts (CI:
    # 0.0008 for the embedded model, 4.8e-6 for SmolLM2); the bigger reader costs more.
    assert max(ratios.values()) < 0.01
    assert n["net_read_ratio@smollm2-135m"] < n["net_read_ratio@embedded"]
    assert n["net_overall_verdict"] == "matrix products are not cheaper for any model"
    # Counting reads almost nothing: its ratio is the per-prediction one
    assert n["net_read_ratio@counts"] == pytest.approx(n["net_flop_ratio_coarse"], rel=1e-3)
