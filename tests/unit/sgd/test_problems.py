"""Tests for sgdllm.sgd.problems: gradients, minimizers, basins, validation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sgdllm.sgd.problems import (
    FiniteSumProblem,
    IllConditionedQuadratic,
    LeastSquares,
    LogisticRegression,
    TwoBasins,
    ill_conditioned_quadratic,
    least_squares,
    logistic_regression,
    loss_surface,
    two_basins,
)

PROBLEMS = {
    "ls_under": least_squares(20, 3, noise=0.5, seed=1),
    "ls_over": least_squares(5, 8, seed=2),
    "logistic": logistic_regression(30, 3, l2=1e-2, seed=3),
    "quadratic": ill_conditioned_quadratic(noise=0.5, n_samples=20, seed=4, minimizer=(0.3, -0.2)),
    "two_basins": two_basins(n_samples=20, seed=5),
}
NAMES = sorted(PROBLEMS)


def _finite_diff(fun, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of a function (R, d) -> (R,), one coordinate at a time."""
    out = np.empty_like(theta)
    for j in range(theta.shape[1]):
        e = np.zeros(theta.shape[1])
        e[j] = h
        out[:, j] = (fun(theta + e) - fun(theta - e)) / (2 * h)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_implements_protocol(name):
    assert isinstance(PROBLEMS[name], FiniteSumProblem)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), batch=st.integers(1, 4))
def test_grad_matches_finite_differences_of_sample_losses(name, seed, batch):
    p = PROBLEMS[name]
    rng = np.random.default_rng(seed)
    theta = rng.uniform(-1.5, 1.5, size=(4, p.dim))
    idx = rng.integers(0, p.n_samples, size=(4, batch))
    g = p.grad(theta, idx)
    fd = _finite_diff(lambda t: p.sample_loss(t, idx), theta)
    assert g.shape == (4, p.dim)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_full_batch_is_the_objective(name):
    """Averaging over all samples gives F and grad F (the noise z_i is exactly centred)."""
    p = PROBLEMS[name]
    theta = np.random.default_rng(0).uniform(-1, 1, size=(3, p.dim))
    idx = np.tile(np.arange(p.n_samples), (3, 1))
    np.testing.assert_allclose(p.sample_loss(theta, idx), p.loss(theta), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        p.grad(theta, idx), _finite_diff(p.loss, theta), rtol=1e-6, atol=1e-7
    )


@pytest.mark.parametrize("name", NAMES)
def test_gradient_vanishes_at_minimizers(name):
    p = PROBLEMS[name]
    mins = p.minimizers()
    idx = np.tile(np.arange(p.n_samples), (mins.shape[0], 1))
    np.testing.assert_allclose(p.grad(mins, idx), 0.0, atol=1e-9)
    # and they are minima: F is larger at nearby points
    for direction in np.eye(p.dim):
        assert np.all(p.loss(mins + 1e-3 * direction) > p.loss(mins))
        assert np.all(p.loss(mins - 1e-3 * direction) > p.loss(mins))
    np.testing.assert_array_equal(p.basin(mins), np.arange(mins.shape[0]))


@pytest.mark.parametrize("name", ["ls_under", "quadratic", "two_basins"])
def test_loss_on_a_grid(name):
    p = PROBLEMS[name]
    if p.dim != 2:
        p = least_squares(20, 2, seed=0)
    xs = np.linspace(-1, 1, 7)
    ys = np.linspace(-1, 1, 5)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1)  # (5, 7, 2)
    values = p.loss(grid)
    assert values.shape == (5, 7)
    np.testing.assert_allclose(values[2, 3], p.loss(np.array([0.0, 0.0])))
    np.testing.assert_allclose(values[4, 6], p.loss(np.array([1.0, 1.0])))
    assert p.basin(grid).shape == (5, 7)


def test_loss_surface():
    p = two_basins()
    xx, yy, zz = loss_surface(p, (-1.0, 1.0), (-1.0, 1.0), num=41)
    assert xx.shape == yy.shape == zz.shape == (41, 41)
    np.testing.assert_allclose(xx[0, [0, -1]], [-1.0, 1.0])
    np.testing.assert_allclose(yy[[0, -1], 0], [-1.0, 1.0])
    np.testing.assert_allclose(zz[30, 30], p.loss(np.array([0.5, 0.5])), atol=1e-15)  # minimum
    np.testing.assert_allclose(zz[20, 20], 1 / 16)  # saddle at the origin
    assert zz.min() == zz[30, 30] == zz[10, 10] == 0.0
    with pytest.raises(ValueError, match="needs a 2-D problem; got dim=3"):
        loss_surface(PROBLEMS["ls_under"], (0, 1), (0, 1))
    with pytest.raises(ValueError, match="xlim must be"):
        loss_surface(p, (1.0, -1.0), (0, 1))


def test_problems_are_frozen_and_read_only():
    p = PROBLEMS["ls_under"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.X = np.zeros((2, 2))
    with pytest.raises(ValueError, match="read-only"):
        p.X[0, 0] = 1.0


# ------------------------------------------------------------------------------ least squares


def test_least_squares_factory_and_minimizer():
    p = least_squares(50, 2, noise=0.5, seed=7)
    assert (p.n_samples, p.dim) == (50, 2)
    theta_star = p.minimizers()
    assert theta_star.shape == (1, 2)
    np.testing.assert_allclose(theta_star[0], np.linalg.solve(p.X.T @ p.X, p.X.T @ p.y))
    np.testing.assert_allclose(p.hessian, p.X.T @ p.X / 50)
    # noisy under-parametrized: residuals do not vanish
    assert p.loss(theta_star)[0] > 0.05
    # same seed, same data; other seed, other data
    np.testing.assert_array_equal(least_squares(50, 2, seed=7).X, p.X)
    assert not np.allclose(least_squares(50, 2, seed=8).X, p.X)


def test_realizable_least_squares_interpolates_in_2d():
    p = least_squares(30, 2, noise=0.0, seed=0)
    theta_star = p.minimizers()[0]
    assert p.loss(theta_star) < 1e-25
    idx = np.arange(30)[:, None]
    per_sample = p.grad(np.tile(theta_star, (30, 1)), idx)
    np.testing.assert_allclose(per_sample, 0.0, atol=1e-12)


def test_over_parametrized_projection():
    p = least_squares(10, 20, seed=3)
    theta0 = np.random.default_rng(1).standard_normal(20)
    proj = p.projection(theta0)
    np.testing.assert_allclose(p.X @ proj, p.y, atol=1e-10)  # on the solution set
    # theta0 - proj is orthogonal to the solution set ker X, i.e. lies in row(X)
    null = np.linalg.svd(p.X)[2][10:]  # (10, 20) basis of ker X
    np.testing.assert_allclose(null @ (proj - theta0), 0.0, atol=1e-10)
    # min-norm solution is the projection of 0
    np.testing.assert_allclose(p.projection(np.zeros(20)), p.minimizers()[0], atol=1e-12)


def test_least_squares_validation():
    with pytest.raises(ValueError, match="rows but y has"):
        LeastSquares(X=np.ones((3, 2)), y=np.ones(4))
    with pytest.raises(ValueError, match="NaN or inf"):
        LeastSquares(X=np.array([[np.nan, 1.0]]), y=np.ones(1))
    with pytest.raises(ValueError, match="positive integer"):
        least_squares(0, 2)
    with pytest.raises(ValueError, match=">= 0"):
        least_squares(5, 2, noise=-1.0)


def test_batch_validation_messages():
    p = PROBLEMS["ls_under"]
    with pytest.raises(ValueError, match=r"theta must have shape \(n_runs, 3\)"):
        p.grad(np.zeros(3), np.zeros((1, 1), dtype=int))
    with pytest.raises(ValueError, match="idx must have shape"):
        p.grad(np.zeros((2, 3)), np.zeros((3, 1), dtype=int))
    with pytest.raises(ValueError, match=r"idx must lie in \[0, 20\)"):
        p.grad(np.zeros((1, 3)), np.array([[20]]))
    with pytest.raises(ValueError, match=r"idx must lie in \[0, 20\)"):
        p.grad(np.zeros((1, 3)), np.array([[-1]]))
    with pytest.raises(ValueError, match="integers"):
        p.grad(np.zeros((1, 3)), np.array([[0.5]]))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 3\)"):
        p.loss(np.zeros((4, 2)))


# ------------------------------------------------------------------------------ logistic


def test_logistic_minimizer_is_tight_and_stored():
    p = logistic_regression(200, 4, l2=1e-2, seed=11)
    assert set(np.unique(p.y)) == {-1.0, 1.0}
    idx = np.arange(200)[None, :]
    full_grad = p.grad(p.theta_star[None, :], idx)
    assert np.linalg.norm(full_grad) < 1e-10
    np.testing.assert_array_equal(p.minimizers()[0], p.theta_star)
    # rebuilding with the stored minimizer skips the solve and keeps it
    q = LogisticRegression(X=p.X, y=p.y, l2=p.l2, theta_star=p.theta_star)
    np.testing.assert_array_equal(q.theta_star, p.theta_star)


def test_logistic_is_numerically_stable_for_huge_margins():
    p = LogisticRegression(X=np.array([[1.0], [-1.0]]), y=np.array([1.0, 1.0]), l2=1.0)
    theta = np.array([[1e4]])
    idx = np.array([[0, 1]])
    # f_0 ~ 0 + l2/2 theta^2, f_1 ~ 1e4 + l2/2 theta^2; gradient is finite
    np.testing.assert_allclose(p.sample_loss(theta, idx), [0.5e4 + 0.5e8])
    np.testing.assert_allclose(p.grad(theta, idx), [[0.5 + 1e4]])


def test_logistic_validation():
    X = np.ones((3, 2))
    with pytest.raises(ValueError, match="-1 or \\+1"):
        LogisticRegression(X=X, y=np.array([0.0, 1.0, 1.0]), l2=0.1)
    with pytest.raises(ValueError, match="l2 must be > 0"):
        LogisticRegression(X=X, y=np.ones(3), l2=0.0)
    with pytest.raises(ValueError, match="theta_star must have shape"):
        LogisticRegression(X=X, y=np.ones(3), l2=0.1, theta_star=np.zeros(3))


# ------------------------------------------------------------------------------ quadratic


def test_ill_conditioned_quadratic_structure():
    p = ill_conditioned_quadratic(condition=20.0, angle=math.pi / 6, noise=0.0, n_samples=10)
    evals, evecs = np.linalg.eigh(p.Q)
    np.testing.assert_allclose(evals, [1.0, 20.0], rtol=1e-12)
    stiff = evecs[:, 1] * np.sign(evecs[1, 1])
    np.testing.assert_allclose(stiff, [-math.sin(math.pi / 6), math.cos(math.pi / 6)])
    np.testing.assert_allclose(p.minimizers(), [[0.0, 0.0]], atol=1e-15)
    np.testing.assert_array_equal(p.z, 0.0)
    # F(x) = x^T Q x + c^T x exactly (no 1/2)
    x = np.array([1.0, 2.0])
    np.testing.assert_allclose(p.loss(x), x @ p.Q @ x)


def test_quadratic_minimizer_and_centred_noise():
    p = ill_conditioned_quadratic(noise=1.0, n_samples=50, seed=2, minimizer=(0.4, -0.3))
    np.testing.assert_allclose(p.minimizers()[0], [0.4, -0.3], atol=1e-14)
    np.testing.assert_allclose(p.z.sum(axis=0), 0.0, atol=1e-12)
    assert p.z.std() > 0.8
    # additive noise: grad_i(x) - grad F(x) = -z_i does not depend on x
    idx = np.arange(50)[:, None]
    x1, x2 = np.full((50, 2), 0.3), np.full((50, 2), -2.0)
    all_idx = np.tile(np.arange(50), (50, 1))
    np.testing.assert_allclose(p.grad(x1, idx) - p.grad(x1, all_idx), -p.z, atol=1e-12)
    np.testing.assert_allclose(p.grad(x2, idx) - p.grad(x2, all_idx), -p.z, atol=1e-12)


def test_gradient_descent_zigzags_on_ill_conditioned_quadratic():
    """GD near the stability bound step < 1/condition flips sign along the stiff direction."""
    p = ill_conditioned_quadratic(condition=20.0, angle=math.pi / 6, noise=0.0, n_samples=1)
    step = 0.9 / 20.0
    stiff = np.linalg.eigh(p.Q)[1][:, 1]
    x = np.array([[0.8, 0.9]])
    along = []
    for _ in range(10):
        along.append(float(x[0] @ stiff))
        x = x - step * p.grad(x, np.zeros((1, 1), dtype=int))
    along = np.array(along)
    assert np.all(np.sign(along[1:]) == -np.sign(along[:-1]))  # zig-zag
    np.testing.assert_allclose(along[1:] / along[:-1], 1 - 2 * step * 20.0)  # factor -0.8


def test_quadratic_validation():
    z = np.zeros((3, 2))
    with pytest.raises(ValueError, match="symmetric"):
        IllConditionedQuadratic(Q=np.array([[1.0, 1.0], [0.0, 1.0]]), c=np.zeros(2), z=z)
    with pytest.raises(ValueError, match="positive definite"):
        IllConditionedQuadratic(Q=np.diag([1.0, -1.0]), c=np.zeros(2), z=z)
    with pytest.raises(ValueError, match=r"z - z.mean\(axis=0\)"):
        IllConditionedQuadratic(Q=np.eye(2), c=np.zeros(2), z=np.ones((3, 2)))
    with pytest.raises(ValueError, match="condition must be"):
        ill_conditioned_quadratic(condition=0.5)


# ------------------------------------------------------------------------------ two basins


def test_two_basins_geometry():
    p = two_basins()
    np.testing.assert_allclose(p.minimizers(), [[0.5, 0.5], [-0.5, -0.5]], rtol=1e-12)
    np.testing.assert_allclose(p.loss(p.minimizers()), 0.0, atol=1e-15)
    np.testing.assert_allclose(p.loss(np.zeros(2)), p.a**4 / 4)  # barrier 1/16 at the saddle
    np.testing.assert_allclose(p.loss(np.zeros(2)), 1 / 16)
    pts = np.array([[0.8, 0.8], [-0.8, -0.8], [0.9, -0.5], [-0.9, 0.5], [0.2, -0.3]])
    np.testing.assert_array_equal(p.basin(pts), [0, 1, 0, 1, 1])
    assert (p.n_samples, p.dim) == (100, 2)
    np.testing.assert_allclose(p.z.mean(axis=0), 0.0, atol=1e-15)
    np.testing.assert_allclose(p.z.std(axis=0), 0.25, rtol=0.2)


def test_two_basins_validation():
    with pytest.raises(ValueError, match="a must be"):
        TwoBasins(a=0.0, kappa=1.0, z=np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        TwoBasins(a=1.0, kappa=1.0, z=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="centred"):
        TwoBasins(a=1.0, kappa=1.0, z=np.ones((2, 2)))
