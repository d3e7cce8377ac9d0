"""Tests for sgdllm.sgd.runs: running chains and the stationary law of constant-step SGD."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sgdllm.sgd.optimizers import SGD, Adam, RMSProp
from sgdllm.sgd.problems import least_squares, logistic_regression, two_basins
from sgdllm.sgd.runs import least_squares_stationary_covariance, run_sgd, stationary_moments

LS = least_squares(50, 2, noise=0.5, seed=1)  # under-parametrized, d=2, N=50


# ------------------------------------------------------------------------------ run_sgd


def test_shape_and_first_row():
    theta0 = np.array([0.3, -0.2])
    traj = run_sgd(LS, theta0, 7, 0.05, batch_size=3, n_runs=4, seed=0)
    assert traj.shape == (4, 8, 2)
    np.testing.assert_array_equal(traj[:, 0], np.tile(theta0, (4, 1)))
    assert np.all(np.abs(np.diff(traj, axis=1)) > 0)  # every step moves


def test_follows_the_documented_sampling_scheme():
    """Same numbers as a hand-written loop with rng.integers(0, N, (n_runs, b)) per step."""
    theta0 = np.array([1.0, 1.0])
    traj = run_sgd(LS, theta0, 20, 0.05, batch_size=2, n_runs=3, seed=42)
    rng = np.random.default_rng(42)
    theta = np.tile(theta0, (3, 1))
    for k in range(1, 21):
        idx = rng.integers(0, LS.n_samples, size=(3, 2))
        xb = LS.X[idx]
        res = np.einsum("rbd,rd->rb", xb, theta) - LS.y[idx]
        theta = theta - 0.05 * np.einsum("rb,rbd->rd", res, xb) / 2
        np.testing.assert_allclose(traj[:, k], theta, rtol=1e-13)


def test_determinism_and_seeds():
    a = run_sgd(LS, np.zeros(2), 50, 0.05, n_runs=5, seed=3)
    b = run_sgd(LS, np.zeros(2), 50, 0.05, n_runs=5, seed=3)
    c = run_sgd(LS, np.zeros(2), 50, 0.05, n_runs=5, seed=4)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a[:, 1:] - c[:, 1:]).max() > 1e-3
    # runs are independent: they differ from each other
    assert np.abs(a[0, 1:] - a[1, 1:]).max() > 1e-3


def test_theta0_broadcasting():
    theta0 = np.array([0.5, -0.5])
    shared = run_sgd(LS, theta0, 30, 0.05, n_runs=3, seed=1)
    stacked = run_sgd(LS, np.tile(theta0, (3, 1)), 30, 0.05, n_runs=3, seed=1)
    np.testing.assert_array_equal(shared, stacked)
    starts = np.array([[0.0, 0.0], [1.0, 2.0], [-3.0, 1.0]])
    per_run = run_sgd(LS, starts, 30, 0.05, n_runs=3, seed=1)
    np.testing.assert_array_equal(per_run[:, 0], starts)
    with pytest.raises(ValueError, match=r"theta0 has 3 rows but n_runs=1; pass n_runs=3"):
        run_sgd(LS, starts, 5, 0.05)
    with pytest.raises(ValueError, match=r"theta0 must have shape \(2,\) or \(n_runs, 2\)"):
        run_sgd(LS, np.zeros(3), 5, 0.05)


def test_float_optimizer_is_sgd():
    a = run_sgd(LS, np.ones(2), 40, 0.07, batch_size=2, n_runs=3, seed=5)
    b = run_sgd(LS, np.ones(2), 40, SGD(step=0.07), batch_size=2, n_runs=3, seed=5)
    np.testing.assert_array_equal(a, b)


def test_divergence_raises_with_step_and_run():
    with pytest.raises(ValueError, match=r"non-finite at step \d+ in run \d+ .*smaller step"):
        run_sgd(LS, np.ones(2), 2000, 5.0, n_runs=2, seed=0)


def test_argument_validation():
    with pytest.raises(ValueError, match="steps must be an integer >= 0"):
        run_sgd(LS, np.zeros(2), -1, 0.1)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        run_sgd(LS, np.zeros(2), 5, 0.1, batch_size=0)
    with pytest.raises(ValueError, match="optimizer must be a step size"):
        run_sgd(LS, np.zeros(2), 5, "adam")
    with pytest.raises(ValueError, match="NaN or inf"):
        run_sgd(LS, np.array([np.nan, 0.0]), 5, 0.1)
    assert run_sgd(LS, np.zeros(2), 0, 0.1, n_runs=2).shape == (2, 1, 2)


def test_return_state_trajectories():
    opt = Adam(step=0.01)
    traj, states = run_sgd(LS, np.zeros(2), 15, opt, n_runs=3, seed=2, return_state=True)
    assert set(states) == {"m", "s"}
    for value in states.values():
        assert value.shape == (3, 16, 2)
        np.testing.assert_array_equal(value[:, 0], 0.0)
    # replay step 10 -> 11 from the recorded state: same iterate
    rng = np.random.default_rng(2)
    for _ in range(11):
        idx = rng.integers(0, LS.n_samples, size=(3, 1))
    state10 = {key: value[:, 10] for key, value in states.items()}
    theta11, state11 = opt.update(traj[:, 10], LS.grad(traj[:, 10], idx), state10, 11)
    np.testing.assert_allclose(traj[:, 11], theta11, rtol=1e-14)
    np.testing.assert_allclose(states["s"][:, 11], state11["s"], rtol=1e-14)
    _, sgd_states = run_sgd(LS, np.zeros(2), 5, 0.1, return_state=True)
    assert sgd_states == {}


def test_rmsprop_chain_reaches_the_minimizer_region():
    traj = run_sgd(LS, np.array([2.0, 2.0]), 3000, RMSProp(step=0.01), n_runs=20, seed=0)
    mean, _ = stationary_moments(traj, 1000)
    np.testing.assert_allclose(mean, LS.minimizers()[0], atol=0.05)


# ------------------------------------------------------------------------------ theory


def test_under_parametrized_mean_is_the_least_squares_solution():
    theta_star = LS.minimizers()[0]
    traj = run_sgd(LS, np.array([1.5, -1.5]), 600, 0.05, n_runs=1000, seed=7)
    mean, cov = stationary_moments(traj, 300)
    # tolerance: 5 standard errors with an effective sample size ~ samples / 50
    tol = 5 * np.sqrt(np.diag(cov) / (1000 * 300 / 50))
    assert np.all(np.abs(mean - theta_star) < tol)
    assert np.all(tol < 0.01)


def test_empirical_covariance_matches_exact_stationary_covariance():
    """2000 runs x 300 post-burn-in steps; relative Frobenius error below 5%."""
    gamma = 0.04
    exact = least_squares_stationary_covariance(LS, gamma)
    traj = run_sgd(LS, LS.minimizers()[0], 500, gamma, n_runs=2000, seed=11)
    _, cov = stationary_moments(traj, 200)
    rel = np.linalg.norm(cov - exact) / np.linalg.norm(exact)
    assert rel < 0.05, (cov, exact)
    assert np.all(np.linalg.eigvalsh(exact) > 0)


def test_exact_covariance_with_batches_matches_simulation():
    gamma, b = 0.05, 4
    exact = least_squares_stationary_covariance(LS, gamma, batch_size=b)
    assert np.trace(exact) < np.trace(least_squares_stationary_covariance(LS, gamma))
    traj = run_sgd(LS, LS.minimizers()[0], 400, gamma, batch_size=b, n_runs=2000, seed=12)
    _, cov = stationary_moments(traj, 150)
    assert np.linalg.norm(cov - exact) / np.linalg.norm(exact) < 0.05


def test_exact_covariance_is_the_fixed_point_by_enumeration():
    """Check Sigma = E[(I - g A_B) Sigma (I - g A_B)] + g^2 E[c_B c_B^T] over all batches."""
    p = least_squares(5, 2, noise=1.0, seed=3)
    gamma, b = 0.1, 2
    sigma = least_squares_stationary_covariance(p, gamma, batch_size=b)
    theta_star = p.minimizers()[0]
    r = p.y - p.X @ theta_star
    rhs = np.zeros((2, 2))
    batches = list(itertools.product(range(5), repeat=b))  # ordered, with replacement
    for batch in batches:
        xb = p.X[list(batch)]
        a_b = xb.T @ xb / b
        c_b = xb.T @ r[list(batch)] / b
        m = np.eye(2) - gamma * a_b
        rhs += (m @ sigma @ m.T + gamma**2 * np.outer(c_b, c_b)) / len(batches)
    np.testing.assert_allclose(rhs, sigma, rtol=1e-10, atol=1e-14)


def test_variance_grows_linearly_with_step():
    gamma = 0.02
    exact_ratio = np.trace(least_squares_stationary_covariance(LS, 2 * gamma)) / np.trace(
        least_squares_stationary_covariance(LS, gamma)
    )
    # exactly 2 in the small-step limit; the gamma^2 E[A Sigma A] term adds O(gamma), here +4%
    assert 2.0 < exact_ratio < 2.1
    small = np.trace(least_squares_stationary_covariance(LS, 1e-4))
    np.testing.assert_allclose(
        np.trace(least_squares_stationary_covariance(LS, 2e-4)) / small, 2.0, rtol=1e-3
    )
    traces = []
    for step in (gamma, 2 * gamma):
        traj = run_sgd(LS, LS.minimizers()[0], 700, step, n_runs=1000, seed=13)
        traces.append(np.trace(stationary_moments(traj, 200)[1]))
    empirical_ratio = traces[1] / traces[0]
    assert abs(empirical_ratio / exact_ratio - 1) < 0.08  # stated tolerance: 8%
    assert 1.8 < empirical_ratio < 2.3


def test_small_step_lyapunov_limit():
    """For small gamma, H Sigma + Sigma H = gamma C (Lyapunov), C = mean r_i^2 x_i x_i^T."""
    gamma = 1e-4
    sigma = least_squares_stationary_covariance(LS, gamma)
    H = LS.hessian
    r = LS.y - LS.X @ LS.minimizers()[0]
    C = (LS.X.T * r**2) @ LS.X / LS.n_samples
    np.testing.assert_allclose(H @ sigma + sigma @ H, gamma * C, rtol=2e-3)


def test_stationary_covariance_errors():
    with pytest.raises(ValueError, match="too large for a stationary law"):
        least_squares_stationary_covariance(LS, 1.0)
    over = least_squares(10, 20, seed=0)
    with pytest.raises(ValueError, match=r"singular.*over-parametrized"):
        least_squares_stationary_covariance(over, 0.01)
    with pytest.raises(ValueError, match="step must be a finite number > 0"):
        least_squares_stationary_covariance(LS, -0.1)
    with pytest.raises(ValueError, match="must be a LeastSquares"):
        least_squares_stationary_covariance(two_basins(), 0.1)


def test_over_parametrized_converges_to_the_projection_of_theta0():
    p = least_squares(10, 20, noise=0.5, seed=0)  # d > N: interpolation
    theta0 = np.random.default_rng(5).standard_normal(20)
    step = 1.0 / np.max(np.sum(p.X**2, axis=1))
    traj = run_sgd(p, theta0, 3000, step, n_runs=10, seed=0)
    final = traj[:, -1]
    assert final.std(axis=0).max() < 1e-8  # no spread: a Dirac stationary law
    np.testing.assert_allclose(final, np.tile(p.projection(theta0), (10, 1)), atol=1e-7)
    # and not the min-norm solution, which is the limit only from theta0 = 0
    assert np.linalg.norm(final[0] - p.minimizers()[0]) > 1.0


def test_logistic_sgd_mean_is_near_the_minimizer():
    p = logistic_regression(200, 2, l2=1e-2, seed=0)
    traj = run_sgd(p, np.zeros(2), 1500, 0.05, n_runs=400, seed=1)
    mean, cov = stationary_moments(traj, 500)
    # bias O(step) plus Monte Carlo error; the stationary spread itself is ~0.15
    np.testing.assert_allclose(mean, p.theta_star, atol=0.03)
    assert 0.05 < np.sqrt(cov[0, 0]) < 0.5


def test_two_basins_runs_stay_in_their_basin():
    p = two_basins()
    starts = np.array([[0.8, 0.8]] * 100 + [[-0.8, -0.8]] * 100)
    traj = run_sgd(p, starts, 3000, 0.1, n_runs=200, seed=0)
    basins = p.basin(traj[:, 50:])
    assert np.all(basins[:100] == 0)
    assert np.all(basins[100:] == 1)
    mins = p.minimizers()
    top, _ = stationary_moments(traj[:100], 500)
    bottom, _ = stationary_moments(traj[100:], 500)
    np.testing.assert_allclose(top, mins[0], atol=0.03)
    np.testing.assert_allclose(bottom, mins[1], atol=0.03)
    assert np.abs(traj).max() < 1.0  # stays inside [-1, 1]^2


# ------------------------------------------------------------------------------ moments


def test_stationary_moments_by_hand():
    runs = np.array([[[9.0, 9.0], [1.0, 2.0], [3.0, 2.0]], [[9.0, 9.0], [1.0, 4.0], [3.0, 4.0]]])
    mean, cov = stationary_moments(runs, 1)
    np.testing.assert_allclose(mean, [2.0, 3.0])
    # samples (1,2), (3,2), (1,4), (3,4): variances 4/3, covariance 0
    np.testing.assert_allclose(cov, [[4 / 3, 0.0], [0.0, 4 / 3]])
    with pytest.raises(ValueError, match=r"burn_in must be an integer in \[0, 2\]"):
        stationary_moments(runs, 3)
    with pytest.raises(ValueError, match="shape"):
        stationary_moments(runs[0], 0)
    one_d = stationary_moments(np.arange(6.0).reshape(2, 3, 1), 0)[1]
    assert one_d.shape == (1, 1)
