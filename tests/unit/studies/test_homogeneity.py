"""Unit tests of sgdllm.studies.homogeneity (chapter: Adaptive optimizers as Markov chains)."""

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from sgdllm.discretize import fit_scaler
from sgdllm.sgd.optimizers import SGD, AdaGrad, RMSProp
from sgdllm.sgd.problems import ill_conditioned_quadratic
from sgdllm.sgd.runs import run_sgd
from sgdllm.studies.homogeneity import (
    augmented_count_kernel,
    augmented_theta_laws,
    homogeneity_test,
    neighbourhood_displacements,
    permutation_test,
    sample_w1,
    state_bins,
    state_dependence_test,
    state_edges,
    state_remedy_w1,
    two_sample_statistic,
    w1_to_samples,
)


def test_sample_w1_matches_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=37), rng.normal(0.5, 2.0, size=53)
    assert sample_w1(a, b) == pytest.approx(wasserstein_distance(a, b), rel=1e-12)
    assert sample_w1(a, a) == 0.0
    assert sample_w1([0.0], [3.0]) == pytest.approx(3.0)


def test_two_sample_statistic_sums_coordinates():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(40, 2)), rng.normal(size=(30, 2))
    expected = sample_w1(a[:, 0], b[:, 0]) + sample_w1(a[:, 1], b[:, 1])
    assert two_sample_statistic(a, b) == pytest.approx(expected)
    with pytest.raises(ValueError, match="same dimension"):
        two_sample_statistic(a, b[:, :1])


def test_permutation_test_detects_shift_and_not_noise():
    rng = np.random.default_rng(2)
    same = permutation_test(rng.normal(size=500), rng.normal(size=500), n_perm=99, seed=0)
    shifted = permutation_test(rng.normal(size=500), rng.normal(1.0, size=500), n_perm=99, seed=0)
    assert same.p_value > 0.01 and same.ratio < 2.0
    assert shifted.p_value == pytest.approx(0.01) and shifted.ratio > 5.0
    assert same.null_q95 >= same.null_mean > 0


def test_permutation_test_groups_and_errors():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(60, 1)), rng.normal(size=(60, 1))
    g = np.repeat(np.arange(6), 10)
    res = permutation_test(a, b, groups_a=g, groups_b=g, n_perm=50, seed=1)
    assert 0 < res.p_value <= 1 and res.n_a == res.n_b == 60
    with pytest.raises(ValueError, match="both groups_a and groups_b"):
        permutation_test(a, b, groups_a=g)
    with pytest.raises(ValueError, match="one label per sample"):
        permutation_test(a, b, groups_a=g[:5], groups_b=g)
    with pytest.raises(ValueError, match="at least 2 samples"):
        permutation_test(a[:1], b)
    with pytest.raises(ValueError, match="NaN"):
        permutation_test(np.array([np.nan, 1.0]), b)


def test_neighbourhood_displacements_selects_ball_and_window():
    runs = np.zeros((2, 5, 1))
    runs[0, :, 0] = [0.0, 1.0, 0.1, 5.0, 0.0]
    runs[1, :, 0] = [3.0, 0.0, 0.2, 0.3, 0.4]
    disp, run = neighbourhood_displacements(runs, (1, 4), [0.0], 0.5, return_runs=True)
    # times 1..3: run 0 at 1.0 (out), 0.1 (in: +4.9), 5.0 (out); run 1 at 0, 0.2, 0.3 (all in)
    np.testing.assert_allclose(np.sort(disp[:, 0]), np.sort([4.9, 0.2, 0.1, 0.1]))
    assert sorted(run.tolist()) == [0, 1, 1, 1]
    with pytest.raises(ValueError, match="window"):
        neighbourhood_displacements(runs, (3, 5), [0.0], 0.5)
    with pytest.raises(ValueError, match="centre"):
        neighbourhood_displacements(runs, (0, 2), [0.0, 1.0], 0.5)
    with pytest.raises(ValueError, match="radius"):
        neighbourhood_displacements(runs, (0, 2), [0.0], 0.0)


def test_homogeneity_sgd_at_floor_adagrad_drifts():
    problem = ill_conditioned_quadratic(5.0, angle=0.0, noise=1.0, seed=0)
    centre = problem.minimizers()[0]
    ratios = {}
    for name, opt in [("sgd", SGD(0.05)), ("adagrad", AdaGrad(0.3))]:
        runs = run_sgd(problem, centre, 400, opt, n_runs=100, seed=1)
        test = homogeneity_test(runs, (50, 150), (300, 399), centre, 0.3, n_perm=50, seed=2)
        ratios[name] = test.ratio
    assert ratios["sgd"] < 2.0
    assert ratios["adagrad"] > 4.0


def test_state_dependence_rmsprop():
    problem = ill_conditioned_quadratic(5.0, angle=0.0, noise=1.0, seed=0)
    centre = problem.minimizers()[0]
    runs, state = run_sgd(
        problem, centre, 300, RMSProp(0.05), n_runs=100, seed=3, return_state=True
    )
    test = state_dependence_test(runs, state["s"], (100, 299), centre, 0.3, n_perm=50, seed=4)
    assert test.ratio > 2.0  # big s -> small steps: the state matters beyond theta
    with pytest.raises(ValueError, match="shape of runs"):
        state_dependence_test(runs, state["s"][:, :-1], (100, 200), centre, 0.3)


def test_state_edges_and_bins():
    values = np.concatenate([[0.0], np.logspace(-3, 3, 99)])
    edges = state_edges(values, 4)
    assert edges.shape == (3,) and np.all(np.diff(edges) > 0)
    bins = state_bins(values, edges)
    assert bins.min() == 0 and bins.max() == 3 and np.all(np.diff(bins) >= 0)
    assert np.bincount(bins).tolist() == [25, 25, 25, 25]
    with pytest.raises(ValueError, match=">= 0"):
        state_edges([-1.0], 2)


def test_augmented_kernel_counts_and_fallback():
    fallback = np.full((3, 3), 1 / 3)
    a = np.array([0, 1, 2, 1])
    b = np.array([0, 0, 1, 1])
    q = augmented_count_kernel(a, b, 2, fallback)
    assert q.shape == (6, 6)
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    assert q[0, 1] == 1.0  # (a=0, b=0) -> (1, 0)
    assert q[1, 3 + 2] == 1.0  # (1, 0) -> (2, 1)
    assert q[3 + 2, 3 + 1] == 1.0  # (2, 1) -> (1, 1)
    np.testing.assert_allclose(q[3 + 0], [0, 0, 0, 1 / 3, 1 / 3, 1 / 3])  # unvisited: fallback
    with pytest.raises(ValueError, match="row-stochastic"):
        augmented_count_kernel(a, b, 2, np.ones((3, 3)))
    with pytest.raises(ValueError, match="bins in"):
        augmented_count_kernel(a, b + 5, 2, fallback)


def test_augmented_theta_laws_marginal():
    # bin 0: theta moves 0 -> 1 -> 1; bin never changes; check the marginal and horizons.
    q = np.zeros((4, 4))
    q[0, 1] = 1.0
    q[1, 1] = 1.0
    q[2, 3] = 1.0
    q[3, 3] = 1.0
    laws = augmented_theta_laws(q, 0, 0, 2, [0, 1, 5])
    np.testing.assert_allclose(laws, [[1, 0], [0, 1], [0, 1]])
    with pytest.raises(ValueError, match="non-decreasing"):
        augmented_theta_laws(q, 0, 0, 2, [3, 1])


def test_w1_to_samples_zero_for_matching_histogram():
    scaler = fit_scaler(np.linspace(0.0, 1.0, 50), 1)
    values = scaler.to_values(np.array([[2, 5], [2, 5]]))
    laws = np.zeros((2, 10))
    laws[0, 2] = laws[1, 5] = 1.0
    np.testing.assert_allclose(w1_to_samples(laws, scaler, values), 0.0, atol=1e-12)
    laws2 = np.zeros((2, 10))
    laws2[:, 3] = 1.0
    np.testing.assert_allclose(
        w1_to_samples(laws2, scaler, values), [scaler.bin_width, 2 * scaler.bin_width]
    )


def test_state_remedy_w1_averages_the_remedy_over_coordinates():
    from sgdllm.predict import coordinate_kernels

    problem = ill_conditioned_quadratic(5.0, angle=0.0, noise=1.0, seed=0)
    x0 = problem.minimizers()[0] + np.array([-1.0, 1.0])
    train, state = run_sgd(problem, x0, 150, RMSProp(0.05), n_runs=4, seed=1, return_state=True)
    scalers = [fit_scaler(train[..., i].ravel(), 1) for i in range(2)]
    states = np.stack([sc.to_states(train[..., i]) for i, sc in enumerate(scalers)], axis=-1)
    kernels = [k.matrix for k in coordinate_kernels(states, scalers)]
    real = run_sgd(problem, x0, 20, RMSProp(0.05), n_runs=60, seed=2)
    horizons = np.array([5, 20])
    got = state_remedy_w1(states, state["s"], scalers, kernels, x0, real, horizons, 3)
    by_hand = []
    for i, sc in enumerate(scalers):  # the building blocks, one coordinate at a time
        edges = state_edges(state["s"][..., i], 3)
        joint = augmented_count_kernel(
            states[..., i], state_bins(state["s"][..., i], edges), 3, kernels[i]
        )
        start = (int(sc.to_states(x0[i])), int(state_bins(0.0, edges)))
        laws = augmented_theta_laws(joint, *start, 3, horizons)
        by_hand.append(w1_to_samples(laws, sc, real[:, horizons, i]))
    assert got.shape == (2,) and np.all(got >= 0)
    np.testing.assert_array_equal(got, np.mean(by_hand, axis=0))
    with pytest.raises(ValueError, match="one scaler and one"):
        state_remedy_w1(states, state["s"], scalers[:1], kernels, x0, real, horizons, 3)
