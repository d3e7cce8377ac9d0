"""Tests of the classical kernel estimators and of kernel_from_laws (sgdllm.kernel)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from sgdllm.discretize import Scaler, discretize
from sgdllm.kernel import (
    CV_FLOOR,
    Kernel,
    count_kernel,
    cv_bandwidth,
    kernel_from_laws,
    loo_log_likelihood,
    one_hot_laws,
    rule_bandwidth,
    transition_counts,
)
from sgdllm.metrics import row_distance, stationary_law
from sgdllm.truth import ar1_kernel


def ar1_path(n: int, phi: float = 0.9, sigma: float = 1.0, seed: int = 0) -> np.ndarray:
    """A stationary AR(1) path x' = phi x + sigma eps."""
    rng = np.random.default_rng(seed)
    x = np.empty(n)
    x[0] = rng.standard_normal() * sigma / np.sqrt(1 - phi**2)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + sigma * rng.standard_normal()
    return x


def discrete_path(n: int, seed: int = 0) -> np.ndarray:
    """A 3-state chain that never stays put, living on the exact states 100, 300 and 700.

    (With every transition possible, CV may shrink rows slightly towards each other, e.g.
    h_x ~ 65 states, a 1% weight across the 200-state gaps, which lowers the KL to the truth.)
    """
    p = np.array([[0.0, 0.8, 0.2], [0.3, 0.0, 0.7], [0.6, 0.4, 0.0]])
    values = np.array([100, 300, 700])
    rng = np.random.default_rng(seed)
    i, out = 0, np.empty(n, dtype=np.int64)
    for t in range(n):
        out[t] = values[i]
        i = rng.choice(3, p=p[i])
    return out


# ----------------------------------------------------------------------------- counts


def test_counts_by_hand():
    states = np.array([0, 1, 1, 2, 1])
    k = count_kernel(states, 1)
    assert isinstance(k, Kernel) and k.method == "counts"
    np.testing.assert_array_equal(k.matrix[0, :3], [0, 1, 0])
    np.testing.assert_array_equal(k.matrix[1, :3], [0, 0.5, 0.5])
    np.testing.assert_array_equal(k.matrix[2, :3], [0, 1, 0])
    np.testing.assert_array_equal(k.visited, np.arange(10) < 3)
    np.testing.assert_array_equal(k.counts[:3], [1, 2, 1])
    assert not k.matrix[3:].any()


def test_runs_do_not_connect():
    k = count_kernel(np.array([[0, 1], [5, 6]]), 1)
    assert k.matrix[1].sum() == 0  # no 1 -> 5 transition across runs
    assert k.matrix[0, 1] == 1 and k.matrix[5, 6] == 1
    assert transition_counts([[0, 1], [5, 6]], 1).sum() == 2


def test_laplace_every_row_a_law():
    states = discrete_path(200, seed=1) // 100  # states 1, 3, 7 at 1 digit
    k = count_kernel(states, 1, "laplace")
    np.testing.assert_allclose(k.matrix.sum(axis=1), 1.0)
    for s in np.flatnonzero(~k.visited):
        np.testing.assert_allclose(k.matrix[s], 0.1)
    c = transition_counts(states, 1)
    np.testing.assert_allclose(k.matrix[3], (c[3] + 1) / (c[3].sum() + 10))
    np.testing.assert_array_equal(k.visited, count_kernel(states, 1).visited)
    np.testing.assert_array_equal(k.counts, count_kernel(states, 1).counts)


def test_gaussian_rows_are_laws_and_empirical_visits():
    states, scaler = discretize(ar1_path(300), 2)
    k = count_kernel(states, 2, "gaussian", bandwidth=(2.0, 3.0), scaler=scaler)
    assert k.method == "gaussian(hx=2,hy=3)" and k.scaler is scaler
    np.testing.assert_allclose(k.matrix.sum(axis=1), 1.0)  # every row defined here
    counts = count_kernel(states, 2)
    np.testing.assert_array_equal(k.visited, counts.visited)
    np.testing.assert_array_equal(k.counts, counts.counts)


def test_gaussian_tiny_bandwidth_is_counts():
    states, _ = discretize(ar1_path(300), 2)
    counts = count_kernel(states, 2)
    k = count_kernel(states, 2, "gaussian", bandwidth=0.01)
    np.testing.assert_allclose(k.matrix[k.visited], counts.matrix[counts.visited], atol=1e-12)
    # Rows far from every visited state underflow and stay undefined.
    assert k.defined.sum() == k.visited.sum()


def test_gaussian_rule_bandwidth():
    states, _ = discretize(ar1_path(300), 2)
    h = rule_bandwidth(states)
    k = count_kernel(states, 2, "gaussian", bandwidth="rule")
    assert k.method == f"gaussian(hx={h:.3g},hy={h:.3g})"
    # Normal reference: robust sd times n^(-1/6).
    x = states.astype(float)
    iqr = np.subtract(*np.percentile(x, [75, 25]))
    assert h == pytest.approx(min(x.std(ddof=1), iqr / 1.349) * 299 ** (-1 / 6))
    assert rule_bandwidth(np.full(50, 7)) == 0.5  # constant chain: the floor


# ----------------------------------------------------------------------------- cross-validation


def test_loo_matches_brute_force():
    states, _ = discretize(ar1_path(41, seed=3), 2)
    pairs = np.stack([states[:-1], states[1:]], axis=1)  # one run per transition
    hx, hy = [0.3, 1.5, 6.0], [0.2, 2.0]
    fast = loo_log_likelihood(states, 2, hx, hy)
    slow = np.zeros((3, 2))
    for i, h1 in enumerate(hx):
        for j, h2 in enumerate(hy):
            logs = []
            for t, (a, b) in enumerate(pairs):
                k = count_kernel(np.delete(pairs, t, axis=0), 2, "gaussian", bandwidth=(h1, h2))
                p = k.matrix[a, b] if k.defined[a] else 1 / 100
                logs.append(np.log((1 - CV_FLOOR) * p + CV_FLOOR / 100))
            slow[i, j] = np.mean(logs)
    np.testing.assert_allclose(fast, slow, rtol=1e-10)


def test_cv_small_bandwidth_on_discrete_chain():
    hx, hy = cv_bandwidth(discrete_path(300), 3)
    assert hx < 1 and hy < 1
    k = count_kernel(discrete_path(300), 3, "gaussian")
    counts = count_kernel(discrete_path(300), 3)
    np.testing.assert_allclose(k.matrix[counts.visited], counts.matrix[counts.visited], atol=1e-4)


def test_cv_large_bandwidth_on_ar1():
    states, _ = discretize(ar1_path(1000), 3)
    hx, hy = cv_bandwidth(states, 3)
    assert hx > 1 and hy > 1


def test_cv_is_fast():
    states, _ = discretize(ar1_path(1001, seed=5), 3)
    start = time.perf_counter()
    cv_bandwidth(states, 3)
    assert time.perf_counter() - start < 5.0  # ~0.5 s; loose for slow CI machines


def test_cv_gaussian_beats_laplace_on_ar1():
    states, scaler = discretize(ar1_path(300, seed=2), 2)
    truth = ar1_kernel(0.9, 0.0, 1.0, scaler)
    pi = stationary_law(truth)
    gauss = count_kernel(states, 2, "gaussian", scaler=scaler)
    laplace = count_kernel(states, 2, "laplace", scaler=scaler)
    rows = gauss.visited
    d_gauss = row_distance(truth, gauss, rows=rows, weights=pi)
    d_laplace = row_distance(truth, laplace, rows=rows, weights=pi)
    assert d_gauss < 0.5 * d_laplace
    assert row_distance(truth, gauss, rows=rows) < row_distance(truth, laplace, rows=rows)


# ----------------------------------------------------------------------------- laws


def test_one_hot_laws_reproduce_counts_exactly():
    states, _ = discretize(ar1_path(200, seed=4), 2)
    from_laws = kernel_from_laws(states, one_hot_laws(states[1:], 2), 2)
    counts = count_kernel(states, 2)
    np.testing.assert_array_equal(from_laws.matrix, counts.matrix)
    np.testing.assert_array_equal(from_laws.visited, counts.visited)
    np.testing.assert_array_equal(from_laws.counts, counts.counts)
    assert from_laws.method == "laws"


def test_one_hot_laws_reproduce_counts_with_runs():
    runs = np.stack([discretize(ar1_path(60, seed=s), 2, bounds=(-6, 6))[0] for s in range(3)])
    from_laws = kernel_from_laws(runs, one_hot_laws(runs[:, 1:], 2), 2)
    counts = count_kernel(runs, 2)
    np.testing.assert_array_equal(from_laws.matrix, counts.matrix)
    np.testing.assert_array_equal(from_laws.counts, counts.counts)


def test_law_fills_row_of_current_state_not_next():
    # Cycle 0 -> 1 -> 2 -> 0: the off-by-one (law t filling row s_{t+1}) gives the identity.
    states = np.tile([0, 1, 2], 4)
    k = kernel_from_laws(states, one_hot_laws(states[1:], 1), 1)
    np.testing.assert_array_equal(k.matrix[:3, :3], [[0, 1, 0], [0, 0, 1], [1, 0, 0]])


def test_last_law_counts_and_visits_are_averaged():
    laws = np.zeros((3, 10))
    laws[0, 7] = 1.0
    laws[1, [8, 9]] = 0.5
    laws[2, 9] = 1.0
    k = kernel_from_laws([3, 5, 3], laws, 1)  # the last law predicts the unseen next value
    np.testing.assert_allclose(k.matrix[3], 0.5 * (laws[0] + laws[2]))
    np.testing.assert_allclose(k.matrix[5], laws[1])
    np.testing.assert_array_equal(k.counts[[3, 5]], [2, 1])
    np.testing.assert_array_equal(np.flatnonzero(k.visited), [3, 5])


def test_laws_float_drift_is_renormalized():
    laws = np.full((4, 10), 0.1) * (1 + 1e-9)
    k = kernel_from_laws([1, 2, 3, 4, 5], laws, 1)
    np.testing.assert_allclose(k.matrix[k.visited].sum(axis=1), 1.0, atol=1e-15)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("states", "digits", "match"),
    [
        ([0, 5, 120], 2, "0..99 for digits=2"),
        ([0, -1, 2], 1, "non-negative"),
        ([0.5, 1.0], 1, "integers"),
        ([0.0, np.nan], 1, "NaN"),
        ([3], 1, "at least 2"),
        (np.zeros((2, 2, 2), dtype=int), 1, "shape"),
        ([0, 1], 4, "digits=4"),
        (["a", "b"], 1, "integers"),
    ],
)
def test_bad_states(states, digits, match):
    with pytest.raises(ValueError, match=match):
        count_kernel(states, digits)


def test_bad_options():
    with pytest.raises(ValueError, match="smoothing"):
        count_kernel([0, 1, 2], 1, "kde")
    with pytest.raises(ValueError, match="bandwidth"):
        count_kernel([0, 1, 2], 1, "gaussian", bandwidth="silverman")
    with pytest.raises(ValueError, match="positive"):
        count_kernel([0, 1, 2], 1, "gaussian", bandwidth=(1.0, -1.0))
    with pytest.raises(ValueError, match="scaler has digits=3"):
        count_kernel([0, 1, 2], 1, scaler=Scaler(0.0, 1.0, 3))
    with pytest.raises(ValueError, match="at least 2 transitions"):
        cv_bandwidth([0, 1], 1)
    with pytest.raises(ValueError, match="floor"):
        loo_log_likelihood([0, 1, 2], 1, 1.0, 1.0, floor=1.5)


@pytest.mark.parametrize(
    ("laws", "match"),
    [
        (np.full((1, 10), 0.1), r"shape \(3 or 2, 10\)"),
        (np.full(10, 0.1), r"shape \(3 or 2, 10\)"),
        (np.full((3, 5), 0.2), r"shape \(3 or 2, 10\)"),
        (np.full((3, 10), 0.2), "sums to 2"),
        (np.where(np.arange(10) == 0, np.nan, 0.1)[None].repeat(3, 0), "NaN"),
        (np.tile(np.r_[-0.1, 1.1, np.zeros(8)], (3, 1)), "negative"),
    ],
)
def test_bad_laws(laws, match):
    with pytest.raises(ValueError, match=match):
        kernel_from_laws([1, 2, 3], laws, 1)
