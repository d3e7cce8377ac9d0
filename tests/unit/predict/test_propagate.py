"""Tests for sgdllm.predict: propagation, sampling, d-dimensional predictions, evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from sgdllm.discretize import Scaler, discretize
from sgdllm.impute import impute
from sgdllm.kernel import Kernel, count_kernel
from sgdllm.predict import (
    basin_frequencies,
    basin_probabilities,
    compare_from_starts,
    compare_with_runs,
    dirac,
    initial_law,
    laws_at,
    predict_laws,
    predicted_basin_probabilities,
    propagate,
    sample_paths,
    sample_trajectories,
)
from sgdllm.sgd.problems import least_squares
from sgdllm.sgd.runs import run_sgd
from sgdllm.truth import random_chain, two_state_chain


def as_kernel(matrix: np.ndarray, scaler: Scaler | None = None) -> Kernel:
    k = matrix.shape[0]
    return Kernel(matrix, np.ones(k, bool), np.ones(k), scaler, "truth")


def banded_kernel(k: int, width: int, seed: int, scaler: Scaler | None = None) -> Kernel:
    """Random rows supported on ``s - width .. s + width`` (clipped): a sparse kernel."""
    rng = np.random.default_rng(seed)
    m = np.zeros((k, k))
    for s in range(k):
        lo, hi = max(s - width, 0), min(s + width + 1, k)
        m[s, lo:hi] = rng.random(hi - lo)
    return as_kernel(m / m.sum(axis=1, keepdims=True), scaler)


# ----------------------------------------------------------------------------- start laws


def test_dirac_and_initial_law():
    np.testing.assert_array_equal(dirac(2, 4), [0, 0, 1, 0])
    np.testing.assert_array_equal(dirac([0, 3], 4), [[1, 0, 0, 0], [0, 0, 0, 1]])
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        dirac(4, 4)
    with pytest.raises(ValueError, match="integer"):
        dirac(1.5, 4)
    scaler = Scaler(0.0, 1.0, 1)  # 10 states, u = 0.15 + 0.7 x
    kernel = as_kernel(np.full((10, 10), 0.1), scaler)
    np.testing.assert_array_equal(initial_law(kernel, 0.5), dirac(5, 10))
    np.testing.assert_array_equal(initial_law(kernel, [0.0, 1.0]), dirac([2, 8], 10))
    with pytest.raises(ValueError, match="no scaler"):
        initial_law(as_kernel(np.full((10, 10), 0.1)), 0.5)


# ----------------------------------------------------------------------------- propagate


def test_propagate_two_state_chain_closed_form():
    a, b = 0.3, 0.1
    kernel = as_kernel(two_state_chain(a, b))
    laws = propagate(kernel, [1.0, 0.0], 50)
    t = np.arange(51)
    # P(state 1 at t | state 0 at 0) = a / (a + b) (1 - (1 - a - b)^t)
    np.testing.assert_allclose(laws[:, 1], a / (a + b) * (1 - (1 - a - b) ** t), atol=1e-14)
    np.testing.assert_allclose(laws.sum(axis=1), 1.0)


@pytest.mark.parametrize("sparse", [None, True, False])
def test_propagate_matches_matrix_powers_for_many_starts(sparse):
    kernel = as_kernel(random_chain(30, seed=0))
    p0 = np.random.default_rng(1).dirichlet(np.ones(30), size=4)
    laws = propagate(kernel, p0, 12, sparse=sparse)
    assert laws.shape == (4, 13, 30)
    for t in (0, 1, 7, 12):
        np.testing.assert_allclose(laws[:, t], p0 @ np.linalg.matrix_power(kernel.matrix, t))
    single = propagate(kernel, p0[2], 12, sparse=sparse)
    assert single.shape == (13, 30)
    np.testing.assert_allclose(single, laws[2], atol=1e-15)


def test_propagate_sparse_and_dense_agree_and_every_subsamples():
    kernel = banded_kernel(200, 3, seed=0)  # density 3.5%: sparse by default
    p0 = dirac([0, 100, 199], 200)
    dense = propagate(kernel, p0, 40, sparse=False)
    np.testing.assert_allclose(propagate(kernel, p0, 40), dense, atol=1e-14)
    np.testing.assert_allclose(propagate(kernel, p0, 40, every=10), dense[:, ::10], atol=1e-14)
    np.testing.assert_allclose(laws_at(kernel, p0, [3, 17, 40]), dense[:, [3, 17, 40]], atol=1e-14)
    with pytest.raises(ValueError, match="multiple"):
        propagate(kernel, p0, 40, every=7)
    with pytest.raises(ValueError, match="strictly increasing"):
        laws_at(kernel, p0, [5, 5])


def test_propagate_rejects_incomplete_kernels_and_non_laws():
    m = np.zeros((5, 5))
    m[1, 2] = 1.0
    with pytest.raises(ValueError, match="impute"):
        propagate(Kernel(m, m.sum(1) > 0, m.sum(1)), dirac(1, 5), 3)
    kernel = as_kernel(random_chain(5, seed=0))
    with pytest.raises(ValueError, match="sum to 1"):
        propagate(kernel, np.full(5, 0.3), 3)
    with pytest.raises(ValueError, match="non-negative"):
        propagate(kernel, [1.5, -0.5, 0, 0, 0], 3)
    with pytest.raises(ValueError, match=r"shape \(5,\)"):
        propagate(kernel, dirac(0, 4), 3)
    with pytest.raises(ValueError, match="steps"):
        propagate(kernel, dirac(0, 5), -1)


# ----------------------------------------------------------------------------- sampling


def test_sample_paths_follow_the_propagated_law():
    kernel = as_kernel(random_chain(8, seed=3, concentration=0.5))
    paths = sample_paths(kernel, 2, 5, 40_000, seed=0)
    assert paths.shape == (40_000, 6) and paths.dtype == np.int64
    assert (paths[:, 0] == 2).all()
    law = propagate(kernel, dirac(2, 8), 5)
    for t in (1, 5):
        freq = np.bincount(paths[:, t], minlength=8) / paths.shape[0]
        # 5 standard errors of a frequency, sqrt(p (1 - p) / n)
        np.testing.assert_array_less(np.abs(freq - law[t]), 5 * np.sqrt(law[t] / 40_000) + 1e-9)
    np.testing.assert_array_equal(
        sample_paths(kernel, 2, 5, 100, seed=7), sample_paths(kernel, 2, 5, 100, seed=7)
    )


def test_sample_paths_never_take_impossible_transitions():
    kernel = banded_kernel(50, 2, seed=1)
    paths = sample_paths(kernel, np.arange(50) % 50, 30, 50, seed=2)
    steps = np.abs(np.diff(paths, axis=1))
    assert steps.max() <= 2
    with pytest.raises(ValueError, match="start states"):
        sample_paths(kernel, 50, 3, 2, seed=0)
    with pytest.raises(ValueError, match="integer"):
        sample_paths(kernel, [1, 2, 3], 3, 2, seed=0)


# ----------------------------------------------------------------------------- d dimensions


def two_kernels() -> list[Kernel]:
    return [
        banded_kernel(100, 2, seed=0, scaler=Scaler(-1.0, 1.0, 2)),
        banded_kernel(100, 3, seed=1, scaler=Scaler(0.0, 2.0, 2)),
    ]


def test_predict_laws_and_sample_trajectories():
    kernels = two_kernels()
    x0 = np.array([0.0, 1.0])
    laws = predict_laws(kernels, x0, 20)
    assert [law.shape for law in laws] == [(21, 100), (21, 100)]
    np.testing.assert_array_equal(laws[0][0], initial_law(kernels[0], 0.0))
    runs = sample_trajectories(kernels, x0, 20, 500, seed=0)
    assert runs.shape == (500, 21, 2)
    np.testing.assert_allclose(
        runs[:, 0], np.broadcast_to(x0, (500, 2)), atol=kernels[1].scaler.bin_width
    )
    for i, ker in enumerate(kernels):  # values are bin centres
        np.testing.assert_allclose(
            ker.scaler.to_values(ker.scaler.to_states(runs[..., i])), runs[..., i]
        )
    np.testing.assert_array_equal(runs, sample_trajectories(kernels, x0, 20, 500, seed=0))
    with pytest.raises(ValueError, match="one value per kernel"):
        predict_laws(kernels, [0.0], 5)


def test_basin_probabilities_and_frequencies():
    def basin(theta):
        return (theta[..., 0] + theta[..., 1] < 0).astype(np.int64)

    pts = np.array([[1.0, 1.0], [-1.0, -1.0], [2.0, 0.0], [0.5, -2.0]])
    np.testing.assert_allclose(basin_probabilities(pts, basin), [0.5, 0.5])
    np.testing.assert_allclose(basin_probabilities(pts[:1], basin, n_basins=2), [1.0, 0.0])
    runs = np.stack([np.zeros_like(pts), pts], axis=1)  # (4 runs, 2 steps, 2)
    np.testing.assert_allclose(basin_frequencies(runs, basin), [0.5, 0.5])
    with pytest.raises(ValueError, match="n_basins"):
        basin_probabilities(pts, basin, n_basins=1)
    with pytest.raises(ValueError, match="integer basin"):
        basin_probabilities(pts, lambda t: t[..., 0])


def test_predicted_basin_probabilities_sum_over_the_product_law():
    kernels = two_kernels()
    p0, p1 = np.zeros(100), np.zeros(100)
    p0[[40, 60]] = [0.25, 0.75]  # values -0.27 and +0.31 on [-1, 1]
    p1[[15, 85]] = [0.5, 0.5]  # values 0 and 2 on [0, 2]
    v0 = kernels[0].scaler.to_values([40, 60])
    v1 = kernels[1].scaler.to_values([15, 85])
    assert v0[0] < 0 < v0[1] and v1[0] == pytest.approx(0.0) and v1[1] == pytest.approx(2.0)

    def basin(theta):  # basin 1: both coordinates small
        return ((theta[..., 0] < 0) & (theta[..., 1] < 1)).astype(np.int64)

    probs = predicted_basin_probabilities([p0, p1], kernels, basin, n_basins=2)
    np.testing.assert_allclose(probs, [1 - 0.25 * 0.5, 0.25 * 0.5])


def test_compare_with_runs_on_the_model_itself():
    """Runs sampled from the kernels are the predicted chain: small W1, matching means."""
    kernels = two_kernels()
    x0 = np.array([kernels[0].scaler.to_values(50), kernels[1].scaler.to_values(50)])
    runs = sample_trajectories(kernels, x0, 30, 4000, seed=1)
    res = compare_with_runs(kernels, x0, runs, np.array([0, 10, 30]))
    assert res["w1"].shape == (3, 2)
    np.testing.assert_allclose(res["w1"][0], 0.0, atol=1e-12)
    widths = np.array([k.scaler.bin_width for k in kernels])
    assert (res["w1"] < 0.5 * widths).all()
    np.testing.assert_allclose(
        res["mean_predicted"], res["mean_empirical"], atol=0.5 * widths.max()
    )
    np.testing.assert_allclose(res["std_predicted"], res["std_empirical"], rtol=0.1, atol=1e-12)

    def basin(theta):
        return (theta[..., 0] > x0[0]).astype(np.int64)

    res = compare_with_runs(kernels, x0, runs, np.array([30]), basin_fn=basin, n_basins=2)
    assert res["basin_tv"] < 0.03
    np.testing.assert_allclose(res["basin_predicted"].sum(), 1.0)
    with pytest.raises(ValueError, match="start at x0"):
        compare_with_runs(kernels, x0 + 0.5, runs, np.array([5]))
    with pytest.raises(ValueError, match="horizons"):
        compare_with_runs(kernels, x0, runs, np.array([31]))


def test_compare_from_starts_averages_compare_with_runs_over_the_starts():
    kernels = two_kernels()
    starts = np.array(
        [[k.scaler.to_values(s) for k in kernels] for s in (30, 50, 70)], dtype=np.float64
    )
    runs = [sample_trajectories(kernels, x0, 20, 300, seed=j) for j, x0 in enumerate(starts)]
    horizons = np.array([0, 5, 20])
    out = compare_from_starts(kernels, starts, runs, horizons)
    each = [compare_with_runs(kernels, x0, r, horizons) for x0, r in zip(starts, runs, strict=True)]
    assert out["w1"].shape == (3,) and len(out["per_start"]) == 3
    np.testing.assert_array_equal(out["w1"], np.mean([s["w1"] for s in each], axis=(0, 2)))
    ratio = np.mean([s["std_predicted"][-1] / s["std_empirical"][-1] for s in each])
    error = np.mean([np.abs(s["mean_predicted"][-1] - s["mean_empirical"][-1]) for s in each])
    assert out["std_ratio"] == ratio and out["mean_error"] == error
    assert 0.5 < out["std_ratio"] < 2.0
    with pytest.raises(ValueError, match="one array of runs per start"):
        compare_from_starts(kernels, starts, runs[:2], horizons)
    with pytest.raises(ValueError, match=r"\(n_starts, d\)"):
        compare_from_starts(kernels, starts[0], runs, horizons)


# ----------------------------------------------------------------------------- end to end


def test_end_to_end_least_squares_stationary_mean_from_a_new_start():
    """Learn per-coordinate kernels from ONE SGD run, predict from a start the run never
    visited, and compare the predicted stationary mean with 200 real SGD runs from there.

    Tolerance: 3 bin widths per coordinate (bins are ~0.013 and ~0.017 here). The error
    budget, in bin widths: Monte Carlo error of the mean of 200 runs (stationary sd ~ 0.1 =
    8 bins, so 8 / sqrt(200) ~ 0.6), the error of the chain's stationary mean learnt from
    20,000 correlated steps (sd sqrt(2 tau / T) with tau ~ 1 / (step lambda_min) ~ 26 steps:
    ~0.4), rounding to bin centres (< 0.5) -- about 1 bin combined, so 3 bins is a
    3-sigma check that still fails if imputation or propagation drifts (a one-bin drift
    per coordinate per 1000 steps would already break it).
    """
    problem = least_squares(n_samples=50, dim=2, noise=0.5, seed=0)
    theta_star = problem.minimizers()[0]
    step, horizon = 0.05, 3000
    run = run_sgd(problem, np.zeros(2), 20_000, step, seed=1)[0]
    kernels = []
    for i in range(2):
        states, scaler = discretize(run[:, i], digits=2)
        kernels.append(impute(count_kernel(states, 2, scaler=scaler), "ot"))
    # beyond the run's own start, on the far side from the minimum: never visited
    x0 = theta_star + 1.15 * (np.zeros(2) - theta_star)
    for ker, x in zip(kernels, x0, strict=True):
        s = ker.scaler.to_states(x)
        assert s <= np.flatnonzero(ker.visited)[0]  # at or below the lowest visited state
    runs = run_sgd(problem, x0, horizon, step, n_runs=200, seed=2)
    res = compare_with_runs(kernels, x0, runs, np.array([0, horizon]))
    widths = np.array([k.scaler.bin_width for k in kernels])
    pred, emp = res["mean_predicted"][-1], res["mean_empirical"][-1]
    np.testing.assert_array_less(np.abs(pred - emp), 3 * widths)
    np.testing.assert_array_less(np.abs(pred - theta_star), 3 * widths)
    # the spread of the stationary law is predicted too (within 15%; 0.92-1.11 over 8 seeds)
    np.testing.assert_allclose(res["std_predicted"][-1], res["std_empirical"][-1], rtol=0.15)
    # and the law as a whole: W1 below 3 bins
    np.testing.assert_array_less(res["w1"][-1], 3 * widths)
