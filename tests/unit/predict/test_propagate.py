"""Tests of sgdllm.predict.propagate: start laws, propagation, sampling, d-dimensional predictions,
end to end from one SGD run to real runs from a new start, and per-coordinate kernels."""

from __future__ import annotations

import numpy as np
import pytest

from sgdllm.discretize import Scaler, discretize, discretize_trajectory
from sgdllm.impute import impute
from sgdllm.kernel import Kernel, count_kernel, one_hot_laws
from sgdllm.predict import (
    compare_with_runs,
    coordinate_kernels,
    dirac,
    initial_law,
    laws_at,
    predict_laws,
    propagate,
    sample_paths,
    sample_trajectories,
)
from sgdllm.sgd.problems import least_squares
from sgdllm.sgd.runs import run_sgd
from sgdllm.truth import random_chain, two_state_chain
from tests.unit.predict.predict_fixtures import (
    as_kernel,
    banded_kernel,
    two_basin_runs,
    two_kernels,
)

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


# ----------------------------------------------------------------------------- coordinate_kernels


def test_coordinate_kernels_counts_are_the_per_coordinate_pipeline():
    run = np.cumsum(np.random.default_rng(0).standard_normal((300, 2)), axis=0)
    states, scalers = discretize_trajectory(run, 2)
    kernels = coordinate_kernels(states, scalers)
    assert len(kernels) == 2
    for i, ker in enumerate(kernels):
        expected = impute(count_kernel(states[:, i], 2, scaler=scalers[i]), "ot")
        np.testing.assert_array_equal(ker.matrix, expected.matrix)
        assert ker.is_complete and ker.scaler is scalers[i]
    smooth = coordinate_kernels(states, scalers, smoothing="laplace", method="nearest")
    np.testing.assert_array_equal(
        smooth[1].matrix, count_kernel(states[:, 1], 2, "laplace", scaler=scalers[1]).matrix
    )


def test_coordinate_kernels_from_dirac_laws_equal_the_counts():
    """Dirac laws of the observed next states give back the counts (kernel_from_laws)."""
    _, _, states, scalers = two_basin_runs([[0.9, 0.2], [-0.9, -0.2]])
    laws = [one_hot_laws(states[:, 1:, i], 2) for i in range(2)]  # (runs, T - 1, K)
    from_laws = coordinate_kernels(states, scalers, laws, method="ot-exact")
    counted = coordinate_kernels(states, scalers, method="ot-exact")
    for a, b in zip(from_laws, counted, strict=True):
        np.testing.assert_allclose(a.matrix, b.matrix, atol=1e-12)


def test_coordinate_kernels_rejects_bad_input():
    states = np.zeros((10, 2), dtype=np.int64) + 50
    scalers = [Scaler(0.0, 1.0, 2)] * 2
    with pytest.raises(ValueError, match=r"\(T, d\) or \(runs, T, d\)"):
        coordinate_kernels(states[:, 0], scalers)
    with pytest.raises(ValueError, match="one scaler per coordinate"):
        coordinate_kernels(states, scalers[:1])
    with pytest.raises(ValueError, match="one array of laws per coordinate"):
        coordinate_kernels(states, scalers, [np.full((10, 100), 0.01)])
    with pytest.raises(ValueError, match="Scaler"):
        coordinate_kernels(states, [scalers[0], "not a scaler"])
