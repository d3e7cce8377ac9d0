"""Tests of the ground-truth kernels (sgdllm.truth)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from sgdllm.discretize import Scaler
from sgdllm.metrics import tv
from sgdllm.truth import (
    ar1_kernel,
    gaussian_kernel,
    monte_carlo_kernel,
    random_chain,
    sgd_coordinate_kernel,
    two_state_chain,
)


@dataclass(frozen=True)
class SeparableLeastSquares:
    """Stub finite-sum problem ``f_i(theta) = ||theta - y_i||^2 / 2``, ``y`` of shape (n, d).

    One SGD step with a batch ``B`` is ``theta' = (1 - step) theta + step * mean_{i in B} y_i``.
    """

    y: np.ndarray

    @property
    def n_samples(self) -> int:
        return self.y.shape[0]

    @property
    def dim(self) -> int:
        return self.y.shape[1]

    def grad(self, theta: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return theta - self.y[idx].mean(axis=1)

    def minimizers(self) -> np.ndarray:
        return self.y.mean(axis=0, keepdims=True)


def exact_sgd_kernel(scaler: Scaler, step: float, targets: np.ndarray, probs: np.ndarray):
    """Kernel of ``x' = x - step (x - target)``, ``target`` drawn from ``probs``.

    Written with the same floating-point operations as the SGD update of the stub, so that a
    value on a bin edge rounds the same way in both.
    """
    k = scaler.n_states
    x = scaler.grid()[:, None]
    nxt = x - step * (x - targets[None, :])
    states = scaler.to_states(nxt, warn=False)
    out = np.zeros((k, k))
    for j, p in enumerate(probs):
        np.add.at(out, (np.arange(k), states[:, j]), p)
    return out


SCALER = Scaler(-1.0, 1.0, 2)


def test_ar1_rows_and_means():
    phi, mu, sigma = 0.8, 0.1, 0.1
    p = ar1_kernel(phi, mu, sigma, SCALER)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    x = SCALER.grid()
    mean = p @ x
    expected = mu + phi * (x - mu)
    interior = (expected - 5 * sigma > x[0]) & (expected + 5 * sigma < x[-1])
    assert interior.sum() > 50
    # The discretized law's mean is exact up to a tiny fraction of a bin (Sheppard).
    np.testing.assert_allclose(mean[interior], expected[interior], atol=0.01 * SCALER.bin_width)
    var = p @ x**2 - mean**2
    np.testing.assert_allclose(var[interior], sigma**2 + SCALER.bin_width**2 / 12, rtol=1e-3)


def test_gaussian_edges_and_dirac():
    p = gaussian_kernel(lambda x: x + 100.0, 0.1, SCALER)
    np.testing.assert_array_equal(p[:, -1], 1.0)  # far above the grid: the top state
    d = gaussian_kernel(lambda x: 0.5 * x, 0.0, SCALER)
    target = SCALER.to_states(0.5 * SCALER.grid(), warn=False)
    np.testing.assert_array_equal(d, np.eye(100)[target])
    # Mixed: zero std on some rows only.
    m = gaussian_kernel(0.0, lambda x: np.where(x > 0, 0.1, 0.0), SCALER)
    np.testing.assert_allclose(m.sum(axis=1), 1.0)
    assert m[0, 50] == 1.0 and m[-1, 50] < 1.0


def test_gaussian_tails_are_accurate():
    p = gaussian_kernel(0.0, 0.05, SCALER)  # ~1.75 bins wide
    assert (p > 0).all()
    # Far right tail: Phi differences would round to 0, the survival function does not.
    assert p[0, 80] > 0 and p[0, 80] == pytest.approx(p[0, 20], rel=1e-6)


def test_gaussian_matches_monte_carlo():
    phi, sigma = 0.9, 0.1

    def update(x, rng):
        return phi * x + sigma * rng.standard_normal(x.shape)

    exact = ar1_kernel(phi, 0.0, sigma, SCALER)
    mc = monte_carlo_kernel(update, SCALER, 20_000, seed=0)
    assert tv(exact, mc).max() < 0.05
    assert tv(exact, mc).mean() < 0.03
    np.testing.assert_allclose(mc.sum(axis=1), 1.0)
    # Chunking changes the draws, not the law.
    small = monte_carlo_kernel(update, SCALER, 20_000, seed=0, max_batch=50_000)
    assert tv(exact, small).max() < 0.05


def test_monte_carlo_is_reproducible_and_checks_update():
    def update(x, rng):
        return x + 0.1 * rng.standard_normal(x.shape)

    a = monte_carlo_kernel(update, SCALER, 100, seed=3)
    np.testing.assert_array_equal(a, monte_carlo_kernel(update, SCALER, 100, seed=3))
    with pytest.raises(ValueError, match="one next value per input"):
        monte_carlo_kernel(lambda x, rng: x[:-1], SCALER, 10, seed=0)
    with pytest.raises(ValueError, match="contains nan"):
        monte_carlo_kernel(lambda x, rng: x * np.nan, SCALER, 10, seed=0)
    with pytest.raises(ValueError, match="n_samples"):
        monte_carlo_kernel(update, SCALER, 0, seed=0)


def test_sgd_kernel_exact_for_1d_least_squares():
    y = np.array([-0.6, -0.2, 0.1, 0.5, 0.7])
    problem = SeparableLeastSquares(y[:, None])
    step = 0.3
    mc = sgd_coordinate_kernel(problem, step, SCALER, n_samples=20_000, seed=1)
    exact = exact_sgd_kernel(SCALER, step, y, np.full(5, 0.2))
    assert tv(exact, mc).max() < 0.03


def test_sgd_kernel_coordinate_and_batch():
    rng = np.random.default_rng(0)
    y = np.c_[rng.standard_normal(2), [0.0, 1.0]]  # coordinate 1 takes targets 0 and 1
    problem = SeparableLeastSquares(y)
    step = 0.2
    scaler = Scaler(-0.5, 1.5, 2)
    mc = sgd_coordinate_kernel(
        problem, step, scaler, coordinate=1, batch_size=2, n_samples=20_000, seed=2
    )
    # Batch mean of two uniform draws from {0, 1}: 0, 1/2, 1 with chances 1/4, 1/2, 1/4.
    exact = exact_sgd_kernel(scaler, step, np.array([0.0, 0.5, 1.0]), np.array([0.25, 0.5, 0.25]))
    assert tv(exact, mc).max() < 0.03


def test_sgd_kernel_errors():
    problem = SeparableLeastSquares(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="step"):
        sgd_coordinate_kernel(problem, 0.0, SCALER)
    with pytest.raises(ValueError, match="coordinate"):
        sgd_coordinate_kernel(problem, 0.1, SCALER, coordinate=2)
    with pytest.raises(ValueError, match="anchor"):
        sgd_coordinate_kernel(problem, 0.1, SCALER, anchor=[0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="grad"):
        sgd_coordinate_kernel(object(), 0.1, SCALER)


def test_gaussian_errors():
    with pytest.raises(ValueError, match="non-negative"):
        gaussian_kernel(0.0, -1.0, SCALER)
    with pytest.raises(ValueError, match="one value per bin"):
        gaussian_kernel(lambda x: x[:3], 1.0, SCALER)
    with pytest.raises(ValueError, match="contains nan"):
        gaussian_kernel(lambda x: x * np.nan, 1.0, SCALER)
    with pytest.raises(ValueError, match="Scaler"):
        gaussian_kernel(0.0, 1.0, "scaler")
    with pytest.raises(ValueError, match="sigma"):
        ar1_kernel(0.5, 0.0, -1.0, SCALER)


def test_small_chains():
    np.testing.assert_array_equal(two_state_chain(0.2, 0.5), [[0.8, 0.2], [0.5, 0.5]])
    with pytest.raises(ValueError, match="probabilities"):
        two_state_chain(1.5, 0.0)
    p = random_chain(7, seed=0)
    assert p.shape == (7, 7) and (p > 0).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_array_equal(p, random_chain(7, seed=0))
