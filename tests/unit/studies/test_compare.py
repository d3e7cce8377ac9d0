"""Unit tests of sgdllm.studies.compare and sgdllm.kernel.ar1_fit_kernel (chapter *Side by
side*)."""

from __future__ import annotations

import numpy as np
import pytest

from sgdllm.calibration import fit_temperature, temper_laws
from sgdllm.discretize import Scaler, fit_scaler
from sgdllm.kernel import ar1_fit_kernel, count_kernel, one_hot_laws
from sgdllm.metrics import tv
from sgdllm.sgd.problems import least_squares
from sgdllm.sgd.runs import least_squares_stationary_covariance
from sgdllm.studies.compare import (
    ESTIMATORS,
    LadderLaws,
    compare_estimators,
    cost_with_reading,
    crossover,
    estimate_kernels,
    flop_counts,
    kernel_errors,
    kernel_prediction_flops,
    mean_and_se,
    mlp_parameters,
    network_sgd_flops,
    ranking,
    reading_flops,
    time_kernel_prediction,
    time_network_sgd,
    time_prediction_and_sgd,
)
from sgdllm.truth import ar1_kernel, sgd_coordinate_kernel


def _ar1_states(n, phi=0.8, mu=50.0, sigma=3.0, seed=0):
    rng = np.random.default_rng(seed)
    x = [mu]
    for _ in range(n):
        x.append(mu + phi * (x[-1] - mu) + sigma * rng.standard_normal())
    return np.clip(np.rint(x), 0, 99).astype(np.int64)


# ----------------------------------------------------------------------------- ar1_fit_kernel


def test_ar1_fit_recovers_an_ar1_chain():
    states = _ar1_states(20000)
    k = ar1_fit_kernel(states, 2)
    assert k.is_complete and np.allclose(k.matrix.sum(axis=1), 1.0)
    # The exact kernel of the (unrounded) AR(1) in state units; rounding the values to states
    # adds a uniform error of variance 1/12 to sigma^2 = 9, so the fit is close, not exact.
    exact = ar1_kernel(0.8, 50.0, 3.0, Scaler(15.0, 85.0, 2))
    rows = np.arange(35, 66)
    assert np.mean(tv(k.matrix[rows], exact[rows])) < 0.05
    assert k.visited.sum() == np.unique(states[:-1]).size
    assert k.method.startswith("ar1(")


def test_ar1_fit_is_invariant_to_the_runs_layout_and_keeps_the_scaler():
    states = _ar1_states(2000)
    scaler = Scaler(-1.0, 1.0, 2)
    one = ar1_fit_kernel(states, 2, scaler=scaler)
    assert one.scaler is scaler
    two = ar1_fit_kernel(np.stack([states[:1000], states[1000:2000]]), 2)
    # Pooling two halves loses one transition: the fits differ only slightly.
    assert np.max(np.abs(one.matrix - two.matrix)) < 0.05


def test_ar1_fit_of_a_constant_chain_uses_the_sigma_floor():
    k = ar1_fit_kernel(np.full(10, 40), 2)
    assert k.is_complete
    assert k.matrix[40, 40] > 0.5 and k.matrix[40, 40] < 1.0  # sigma = 0.5 states, not a Dirac


def test_ar1_fit_errors():
    with pytest.raises(ValueError, match="at least 3 transitions"):
        ar1_fit_kernel([1, 2, 3], 2)
    with pytest.raises(ValueError, match="min_sigma"):
        ar1_fit_kernel(_ar1_states(50), 2, min_sigma=-1.0)


# ----------------------------------------------------------------------------- estimators


def test_estimate_kernels_names_and_completeness():
    states = _ar1_states(300)
    scaler = Scaler(0.0, 1.0, 2)
    kernels = estimate_kernels(states, scaler)
    assert list(kernels) == [e for e in ESTIMATORS if e != "language model"]
    for k in kernels.values():
        assert k.is_complete and k.scaler is scaler
    with_lm = estimate_kernels(states, scaler, laws=one_hot_laws(states[1:], 2))
    assert list(with_lm) == list(ESTIMATORS)
    # Dirac laws of the observed next states give back the counted kernel exactly.
    assert np.allclose(with_lm["language model"].matrix, kernels["counts"].matrix)


def test_estimate_kernels_errors():
    with pytest.raises(ValueError, match="Scaler"):
        estimate_kernels([1, 2, 3, 4], scaler=None)
    with pytest.raises(ValueError, match="one run"):
        estimate_kernels(np.zeros((2, 5), int), Scaler(0.0, 1.0, 2))


def test_kernel_errors_zero_for_the_truth_and_positive_otherwise():
    states = _ar1_states(400)
    truth = ar1_kernel(0.8, 50.0, 3.0, Scaler(15.0, 85.0, 2))
    visited = np.zeros(100, bool)
    visited[40:60] = True
    zero = kernel_errors(truth, truth, visited)
    assert all(v == pytest.approx(0.0, abs=1e-9) for v in zero.values())
    laplace = count_kernel(states, 2, "laplace")
    errors = kernel_errors(laplace, truth, laplace.visited)
    assert set(errors) == {
        "tv_visited",
        "bhattacharyya_visited",
        "tv_stationary",
        "bhattacharyya_stationary",
    }
    assert 0.3 < errors["tv_visited"] < 1.0
    with pytest.raises(ValueError, match="visited"):
        kernel_errors(truth, truth, np.zeros(100, bool))


def test_mean_and_se_and_ranking():
    mean, se = mean_and_se([[1.0, 2.0], [3.0, 6.0]], axis=0)
    assert np.allclose(mean, [2.0, 4.0])
    assert np.allclose(se, [np.sqrt(2.0) / np.sqrt(2.0), np.sqrt(8.0) / np.sqrt(2.0)])
    mean, se = mean_and_se([[1.0, 2.0]], axis=0)
    assert np.allclose(se, 0.0)
    assert ranking([0.3, 0.1, 0.2], ["a", "b", "c"]) == ["b", "c", "a"]
    with pytest.raises(ValueError, match="one score per name"):
        ranking([0.1], ["a", "b"])


# ----------------------------------------------------------------------------- the loop


def test_compare_estimators_small_run():
    problem = least_squares(100, dim=1, noise=0.5, seed=1)
    step = 0.05
    theta = float(problem.minimizers()[0, 0])
    sd = float(np.sqrt(least_squares_stationary_covariance(problem, step)[0, 0]))
    scaler = fit_scaler(None, 2, bounds=(theta - 5 * sd, theta + 5 * sd))
    truth = sgd_coordinate_kernel(problem, step, scaler, n_samples=2000, seed=0)
    out = compare_estimators(
        problem,
        step,
        scaler,
        truth,
        theta + sd * np.array([3.0, -3.0]),
        [60, 150],
        theta + sd * np.array([-3.0, 3.0]),
        np.array([5, 40]),
        n_real=100,
        seed=2,
    )
    n_e = len(ESTIMATORS) - 1  # no language model
    assert list(out["estimators"]) == list(ESTIMATORS[1:])
    assert out["kernel_tv"].shape == (n_e, 2, 2)
    assert out["pred_w1"].shape == (n_e, 2, 2, 2)
    assert np.all(np.isfinite(out["kernel_tv"])) and np.all(out["kernel_tv"] > 0)
    # The exact kernel predicts better than every estimate (binning + Monte Carlo floor).
    assert out["exact_w1"].mean() < out["pred_w1"].mean(axis=(1, 2, 3)).min()
    assert np.all(out["visited"] > 3)
    # Spread ratios at the last horizon: the exact kernel's is 1 up to binning and the Monte
    # Carlo error of 100 runs per start (~7%); Laplace's uniform rows spread the law far wider.
    assert out["pred_std_ratio"].shape == (n_e, 2, 2)
    assert abs(out["exact_std_ratio"] - 1) < 0.25
    laplace = list(out["estimators"]).index("laplace")
    assert np.all(out["pred_std_ratio"][laplace] > 1.5)


def test_compare_estimators_errors():
    problem = least_squares(50, dim=2, seed=0)
    scaler = Scaler(-1.0, 1.0, 2)
    with pytest.raises(ValueError, match="one-dimensional"):
        compare_estimators(problem, 0.05, scaler, np.eye(100), [0.0], [50], [0.0], [5])
    problem = least_squares(50, dim=1, seed=0)
    with pytest.raises(ValueError, match="truth must be"):
        compare_estimators(problem, 0.05, scaler, np.eye(10), [0.0], [50], [0.0], [5])
    with pytest.raises(ValueError, match="horizons"):
        compare_estimators(problem, 0.05, scaler, np.eye(100), [0.0], [50], [0.0], [5, 5])
    with pytest.raises(ValueError, match="context lengths"):
        compare_estimators(problem, 0.05, scaler, np.eye(100), [0.0], [2], [0.0], [5])


# ----------------------------------------------------------------------------- cost


def test_flop_counts_crossover_and_linearity_in_d():
    k, r = 100, 50
    b_star = flop_counts(1, r, 10, 1, 1, k)["batch_crossover"]
    assert b_star == pytest.approx((k**2 / r - 1) / 2)  # 99.5
    below = flop_counts(3, r, 10, 99, 5, k)["ratio"]
    above = flop_counts(3, r, 10, 100, 5, k)["ratio"]
    assert below < 1.0 < above
    ratios = [flop_counts(2, r, 7, 10, d, k)["ratio"] for d in (1, 3, 30)]
    assert np.allclose(ratios, ratios[0])
    with pytest.raises(ValueError, match="batch_size"):
        flop_counts(1, 1, 1, 0, 1, 10)


def test_crossover_interpolates_in_log_log():
    x = np.array([10.0, 100.0, 1000.0])
    assert crossover(x, x / 300.0) == pytest.approx(300.0)
    assert np.isnan(crossover(x, x / 1e6))
    assert crossover(x, x) == 10.0
    with pytest.raises(ValueError, match="increasing"):
        crossover([10.0, 5.0], [0.5, 2.0])


def test_time_prediction_and_sgd_returns_positive_times():
    out = time_prediction_and_sgd(20, 2, n_starts=2, n_runs=5, steps=5, batch_size=2, repeats=1)
    assert out["predict_s"] > 0 and out["sgd_s"] > 0
    assert out["ratio"] == pytest.approx(out["sgd_s"] / out["predict_s"])
    with pytest.raises(ValueError, match="repeats"):
        time_prediction_and_sgd(20, 2, n_starts=1, n_runs=1, steps=1, batch_size=1, repeats=0)


def test_compare_estimators_runs_a_ladder_of_laws_functions():
    # Two "models" whose laws are the observed next states (T laws for T + 1 states): each is
    # the counted kernel exactly, so their rows equal the counts' row; the classical rows do not
    # depend on the models given.
    problem = least_squares(80, dim=1, noise=0.5, seed=1)
    step = 0.05
    theta = float(problem.minimizers()[0, 0])
    sd = float(np.sqrt(least_squares_stationary_covariance(problem, step)[0, 0]))
    scaler = fit_scaler(None, 2, bounds=(theta - 5 * sd, theta + 5 * sd))
    truth = sgd_coordinate_kernel(problem, step, scaler, n_samples=500, seed=0)
    args = (problem, step, scaler, truth, [theta + 2 * sd], [40, 80], [theta - 2 * sd], [5, 20])
    calls = []

    def oracle(states):
        calls.append(states.size)
        return one_hot_laws(states[1:], 2)

    out = compare_estimators(*args, n_real=60, laws_fn={"a": oracle, "b": oracle}, seed=3)
    names = list(out["estimators"])
    assert names == ["a", "b", *ESTIMATORS[1:]]
    assert calls == [41, 41, 81, 81]  # every model reads the same prefixes
    counts = names.index("counts")
    for key in ("kernel_tv", "pred_w1"):
        assert np.allclose(out[key][0], out[key][counts])
        assert np.allclose(out[key][1], out[key][counts])
    plain = compare_estimators(*args, n_real=60, seed=3)
    assert np.allclose(out["kernel_tv"][2:], plain["kernel_tv"])
    with pytest.raises(ValueError, match="classical"):
        compare_estimators(*args, laws_fn={"counts": oracle})
    with pytest.raises(ValueError, match="classical"):
        compare_estimators(*args, laws_fn={})


# ----------------------------------------------------------------------------- a real network


def test_mlp_parameters_by_hand():
    # 2 inputs, 2 hidden layers of 3, 1 output: (2*3 + 3) + (3*3 + 3) + (3*1 + 1) = 25
    assert mlp_parameters(2, 3, depth=2) == 25
    # one hidden layer: (1*4 + 4) + (4*1 + 1) = 13
    assert mlp_parameters(1, 4, depth=1) == 13
    # the network the timing builds has exactly these parameters
    import torch

    net = torch.nn.Sequential(
        torch.nn.Linear(16, 32),
        torch.nn.Tanh(),
        torch.nn.Linear(32, 32),
        torch.nn.Tanh(),
        torch.nn.Linear(32, 1),
    )
    assert mlp_parameters(16, 32) == sum(p.numel() for p in net.parameters()) == 1633
    with pytest.raises(ValueError, match="width"):
        mlp_parameters(2, 0)


def test_network_prediction_and_reading_flops_by_hand():
    # 2 runs x 3 steps x (6*4 + 2) x 10 parameters = 1560
    assert network_sgd_flops(10, 4, 3, 2) == 1560.0
    # 2 m T P K^2 = 2 * 2 * 3 * 5 * 10**2 = 6000
    assert kernel_prediction_flops(5, 10, 2, 3) == 6000.0
    # 2 P_lm tau n P = 2 * 100 * 3 * 7 * 5 = 21000
    assert reading_flops(5, 7, 100, 3) == 21000.0
    # per start, the ratio R (6b + 2) / (2 K^2) does not depend on P
    ratios = [
        network_sgd_flops(p, 32, 50, 200) / kernel_prediction_flops(p, 100, 1, 50)
        for p in (1_000, 1_000_000)
    ]
    assert ratios == pytest.approx([200 * 194 / 20_000] * 2)
    for fn, args in (
        (network_sgd_flops, (10, 0, 3)),
        (kernel_prediction_flops, (5, 10, 2, -1)),
        (reading_flops, (5, 7, 1.5, 3)),
    ):
        with pytest.raises(ValueError, match="positive integer"):
            fn(*args)


def test_cost_with_reading_break_even():
    # s = 10, p = 4, C = 60: m* = 60 / 6 = 10 starts, 10 * 20 runs; at m = 10 the costs are equal
    out = cost_with_reading(10.0, 4.0, 60.0, n_starts=5, runs_per_start=20)
    assert out["per_prediction_ratio"] == pytest.approx(2.5)
    assert out["overall_ratio"] == pytest.approx(50.0 / (20.0 + 60.0))
    assert out["break_even_starts"] == pytest.approx(10.0)
    assert out["break_even_runs"] == pytest.approx(200.0)
    assert out["holds_per_prediction"] is True and out["holds_overall"] is False
    at_break_even = cost_with_reading(10.0, 4.0, 60.0, n_starts=10)
    assert at_break_even["overall_ratio"] == pytest.approx(1.0)
    assert cost_with_reading(10.0, 4.0, 60.0, n_starts=11)["holds_overall"] is True
    # no reading: the overall ratio is the per-prediction one
    free = cost_with_reading(10.0, 4.0, 0.0, n_starts=3)
    assert free["overall_ratio"] == pytest.approx(2.5) and free["break_even_starts"] == 0.0
    # a prediction dearer than a start's runs never pays the reading back
    never = cost_with_reading(3.0, 4.0, 1.0, n_starts=1000)
    assert never["break_even_starts"] == np.inf and never["holds_overall"] is False
    with pytest.raises(ValueError, match="positive"):
        cost_with_reading(0.0, 4.0, 1.0, n_starts=1)
    with pytest.raises(ValueError, match=">= 0"):
        cost_with_reading(1.0, 4.0, -1.0, n_starts=1)
    with pytest.raises(ValueError, match="n_starts"):
        cost_with_reading(1.0, 4.0, 1.0, n_starts=0)


def test_time_network_sgd_returns_positive_finite_seconds():
    out = time_network_sgd(8, n_in=3, batch_size=4, steps=3, n_runs=2, n_data=16, repeats=1)
    assert np.isfinite(out["seconds"]) and out["seconds"] > 0
    assert out["per_run_s"] == pytest.approx(out["seconds"] / 2)
    assert out["params"] == mlp_parameters(3, 8)
    assert out["flops"] == network_sgd_flops(mlp_parameters(3, 8), 4, 3, 2)
    assert np.isfinite(out["final_loss"])
    with pytest.raises(ValueError, match="width"):
        time_network_sgd(0)
    with pytest.raises(ValueError, match="repeats"):
        time_network_sgd(4, repeats=0)
    with pytest.raises(ValueError, match="lr"):
        time_network_sgd(4, lr=float("nan"))


def test_time_kernel_prediction_times_a_subset_and_scales():
    out = time_kernel_prediction(10, 20, n_starts=3, steps=4, n_timed=2, repeats=1)
    assert np.isfinite(out["seconds"]) and out["seconds"] > 0
    assert out["timed_coords"] == 2
    assert out["seconds"] == pytest.approx(out["timed_s"] * 5)
    assert out["flops"] == kernel_prediction_flops(10, 20, 3, 4)
    small = time_kernel_prediction(1, 20, n_starts=3, steps=4, n_timed=8, repeats=1)
    assert small["timed_coords"] == 1 and small["seconds"] == small["timed_s"]
    with pytest.raises(ValueError, match="n_states"):
        time_kernel_prediction(10, 0, n_starts=1, steps=1)
    with pytest.raises(ValueError, match="n_timed"):
        time_kernel_prediction(10, 5, n_starts=1, steps=1, n_timed=0)


def test_ladder_laws_reads_each_series_once_and_calibrates_on_its_own_transitions():
    reads = []

    def read(model, states):  # a model whose laws are too wide: uniform over 5 states
        reads.append((model, len(states)))
        return np.full((len(states), 5), 0.2) + 0.3 * np.eye(5)[np.minimum(states + 1, 4)]

    ladder = LadderLaws(read, ["a", "b"])
    fns = ladder.laws_fns()
    assert list(fns) == ["a", "b", "a + T", "b + T"]
    s = np.array([0, 1, 2, 3, 4, 4], dtype=np.int64)
    raw = fns["a"](s)
    np.testing.assert_array_equal(fns["a"](s.copy()), raw)
    tempered = fns["a + T"](s)
    assert reads == [("a", 6)]  # raw twice and calibrated once: read once
    tau = fit_temperature(raw[:-1], s[1:])
    np.testing.assert_allclose(tempered, temper_laws(raw, tau))
    assert ladder.temperatures == {"a": [tau], "b": []} and tau < 1  # sharper
    fns["b"](s[:4])
    assert [len(r) for r, _ in ladder.series("a", 6)] == [6] and ladder.series("b", 6) == []
    ((states, laws),) = ladder.series("b", 4)
    np.testing.assert_array_equal(states, s[:4])
    assert laws.shape == (4, 5)
