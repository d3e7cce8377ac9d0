"""Tests of distances between laws and of chain properties (sgdllm.metrics)."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import scipy.stats
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sgdllm.kernel import Kernel, count_kernel
from sgdllm.metrics import (
    bhattacharyya,
    centre_error_over_persistence,
    kl,
    law_moments,
    row_distance,
    spectral_gap,
    stationary_law,
    tv,
    w1,
)
from sgdllm.truth import random_chain, two_state_chain

weights = st.lists(st.floats(0.0, 1.0), min_size=6, max_size=6).filter(lambda w: sum(w) > 1e-3)


def law(w) -> np.ndarray:
    a = np.asarray(w, dtype=float)
    return a / a.sum()


@settings(max_examples=60, deadline=None)
@given(weights, weights)
# KL once rounded to -1e-306 on subnormal masses (found by hypothesis): KL must stay >= 0.
@example([1.0, 2.225073858507203e-309, 0, 0, 0, 0], [1.0, 1.0575399659439381e-60, 0, 0, 0, 0])
def test_distance_identities(wp, wq):
    p, q = law(wp), law(wq)
    d = tv(p, q)
    assert 0.0 <= d <= 1.0 + 1e-12
    assert d == pytest.approx(tv(q, p))
    assert tv(p, p) == 0.0
    assert bhattacharyya(p, p) == pytest.approx(0.0, abs=1e-12)
    assert bhattacharyya(p, q) == pytest.approx(bhattacharyya(q, p))
    assert bhattacharyya(p, q) >= 0.0
    assert kl(p, p) == pytest.approx(0.0, abs=1e-12)
    for value in (kl(p, q), kl(p, q, eps=0.1), bhattacharyya(p, q), w1(p, q)):
        assert not np.isnan(value)
    assert np.isfinite(kl(p, q, eps=0.1))
    # Pinsker: TV <= sqrt(KL / 2).
    assert d <= np.sqrt(kl(p, q) / 2) + 1e-9
    grid = np.arange(6) * 0.3
    assert w1(p, q, bin_width=0.3) == pytest.approx(
        scipy.stats.wasserstein_distance(grid, grid, p, q), abs=1e-12
    )


def test_disjoint_and_zero_behaviour():
    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.0, 0.0, 1.0])
    assert bhattacharyya(p, q) == np.inf
    assert tv(p, q) == 1.0
    assert kl(p, q) == np.inf
    assert kl(p, q, eps=0.3) == pytest.approx(np.log(0.5 / 0.1))
    # 0 log 0 = 0: zeros of p where q is zero too cost nothing.
    assert kl([0.5, 0.5, 0.0], [0.25, 0.75, 0.0]) == pytest.approx(
        0.5 * np.log(2) + 0.5 * np.log(2 / 3)
    )


@pytest.mark.parametrize(("i", "j"), [(0, 0), (0, 9), (3, 7), (8, 2)])
def test_w1_between_diracs(i, j):
    e = np.eye(10)
    assert w1(e[i], e[j]) == abs(i - j)
    assert w1(e[i], e[j], bin_width=0.25) == pytest.approx(0.25 * abs(i - j))


def test_broadcast_over_rows():
    a, b = random_chain(5, seed=1), random_chain(5, seed=2)
    for fn in (tv, bhattacharyya, kl, w1):
        rows = fn(a, b)
        assert rows.shape == (5,)
        np.testing.assert_allclose(rows, [fn(a[s], b[s]) for s in range(5)])
    assert isinstance(tv(a[0], b[0]), float)


def test_row_distance_rows_and_weights():
    states = np.array([0, 1, 1, 2, 1, 0])
    counts = count_kernel(states, 1)
    truth = np.full((10, 10), 0.1)
    per_row = tv(truth, counts.matrix)
    # Default: rows defined in both (the visited ones).
    assert row_distance(truth, counts, "tv") == pytest.approx(per_row[:3].mean())
    w = np.arange(10.0)
    assert row_distance(truth, counts, "tv", weights=w) == pytest.approx(
        np.sum(w[:3] * per_row[:3]) / w[:3].sum()
    )
    assert row_distance(truth, counts, "tv", rows=[1, 2]) == pytest.approx(per_row[1:3].mean())
    assert row_distance(counts, counts.matrix) == 0.0
    custom = row_distance(truth, counts, partial(w1, bin_width=0.5))
    assert custom == pytest.approx(0.5 * row_distance(truth, counts, "w1"))
    with pytest.raises(ValueError, match="undefined"):
        row_distance(truth, counts, rows=[5])
    with pytest.raises(ValueError, match="unknown metric"):
        row_distance(truth, counts, "hellinger")
    with pytest.raises(ValueError, match="no row"):
        row_distance(truth, counts, weights=np.r_[np.zeros(3), np.ones(7)])


def test_zero_weight_rows_do_not_make_inf():
    a = np.eye(3)
    b = np.eye(3)[[0, 2, 1]]
    assert row_distance(a, b, weights=[1.0, 0.0, 0.0]) == 0.0
    assert row_distance(a, b) == np.inf


def test_stationary_law_of_random_chain():
    p = random_chain(30, seed=4)
    pi = stationary_law(p)
    assert pi.shape == (30,) and (pi >= 0).all()
    assert pi.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(pi @ p, pi, atol=1e-12)
    kernel = Kernel(p, np.ones(30, bool), np.ones(30))
    np.testing.assert_allclose(stationary_law(kernel), pi)


@settings(max_examples=50, deadline=None)
@given(st.floats(0.01, 1.0), st.floats(0.01, 1.0))
def test_two_state_stationary_law(a, b):
    np.testing.assert_allclose(stationary_law(two_state_chain(a, b)), [b / (a + b), a / (a + b)])


def test_stationary_law_of_reducible_chain_is_cesaro_limit_from_uniform():
    p = np.zeros((5, 5))
    p[:2, :2] = two_state_chain(0.3, 0.1)
    p[2:4, 2:4] = two_state_chain(0.2, 0.2)
    p[4] = [0.5, 0, 0, 0, 0.5]  # transient, drains into the first class
    pi = stationary_law(p)
    np.testing.assert_allclose(pi @ p, pi, atol=1e-12)
    # From the uniform start the first class gets 2/5 + 1/5, the second 2/5.
    np.testing.assert_allclose(pi, [0.6 * 0.25, 0.6 * 0.75, 0.2, 0.2, 0.0], atol=1e-12)
    np.testing.assert_allclose(stationary_law(np.eye(4)), 0.25)


@settings(max_examples=100, deadline=None)
@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_two_state_spectral_gap(a, b):
    if a + b > 1.0:
        a, b = 1.0 - a, 1.0 - b
    assert spectral_gap(two_state_chain(a, b)) == pytest.approx(a + b, abs=1e-12)


def test_spectral_gap_special_cases():
    assert spectral_gap(np.eye(3)) == 0.0  # eigenvalue 1 three times
    assert spectral_gap([[0.0, 1.0], [1.0, 0.0]]) == 0.0  # periodic
    assert spectral_gap(np.full((4, 4), 0.25)) == pytest.approx(1.0)
    assert spectral_gap([[1.0]]) == 1.0
    block = np.zeros((4, 4))
    block[:2, :2] = block[2:, 2:] = two_state_chain(0.3, 0.4)
    assert spectral_gap(block) == pytest.approx(0.0, abs=1e-12)
    assert 0.0 < spectral_gap(random_chain(20, seed=0)) <= 1.0


def test_chain_properties_need_complete_kernels():
    incomplete = count_kernel([0, 1, 2, 1], 1)
    with pytest.raises(ValueError, match="impute"):
        stationary_law(incomplete)
    with pytest.raises(ValueError, match="impute"):
        spectral_gap(incomplete.matrix)
    with pytest.raises(ValueError, match="sums to"):
        spectral_gap([[0.5, 0.4], [0.5, 0.5]])
    with pytest.raises(ValueError, match="square"):
        stationary_law(np.ones((2, 3)) / 3)


@pytest.mark.parametrize(
    ("p", "q", "match"),
    [
        ([0.5, 0.5], [1.0, 0.0, 0.0], "same shape"),
        ([np.nan, 1.0], [0.5, 0.5], "NaN"),
        ([-0.5, 1.5], [0.5, 0.5], "negative"),
        (1.0, 1.0, "at least one state"),
    ],
)
def test_bad_laws(p, q, match):
    for fn in (tv, bhattacharyya, kl, w1):
        with pytest.raises(ValueError, match=match):
            fn(p, q)


def test_bad_parameters():
    with pytest.raises(ValueError, match="eps"):
        kl([1.0], [1.0], eps=2.0)
    with pytest.raises(ValueError, match="bin_width"):
        w1([1.0], [1.0], bin_width=0.0)


def test_law_moments_match_numpy_on_states_and_on_a_grid():
    rng = np.random.default_rng(0)
    laws = rng.dirichlet(np.ones(7), size=(3, 4))  # (3, 4, 7): laws on the last axis
    mean, std = law_moments(laws)
    assert mean.shape == std.shape == (3, 4)
    states = np.arange(7)
    np.testing.assert_allclose(mean, (laws * states).sum(-1))
    np.testing.assert_allclose(std, np.sqrt((laws * (states - mean[..., None]) ** 2).sum(-1)))
    grid = np.linspace(-1.0, 2.0, 7)  # an affine grid: mean maps, std scales by the step
    g_mean, g_std = law_moments(laws, grid)
    np.testing.assert_allclose(g_mean, -1.0 + 0.5 * mean)
    np.testing.assert_allclose(g_std, 0.5 * std)
    # a point mass has no spread, exactly (the variance is clipped at 0 against rounding)
    assert law_moments(np.eye(7)[3])[1] == 0.0


def test_law_moments_reject_a_grid_of_the_wrong_size():
    with pytest.raises(ValueError, match="one per state"):
        law_moments(np.full(5, 0.2), np.arange(4))
    with pytest.raises(ValueError, match="at least one state"):
        law_moments(np.zeros((3, 0)))


def test_centre_error_over_persistence_by_hand():
    states = np.array([2, 4, 3, 3, 5])  # steps 2, 1, 0, 2: persistence misses by 5 / 4
    laws = np.eye(6)[[4, 3, 3, 5, 0]]  # point masses on the next state: no error at all
    assert centre_error_over_persistence(laws, states) == 0.0
    assert centre_error_over_persistence(np.eye(6)[states], states) == 1.0  # persistence
    half = 0.5 * np.eye(6)[states] + 0.5 * laws  # centred half-way: half the miss
    assert centre_error_over_persistence(half, states) == pytest.approx(0.5)
    assert centre_error_over_persistence(laws[:-1], states) == 0.0  # no row after the last


def test_centre_error_over_persistence_refuses_a_still_series_or_too_few_laws():
    with pytest.raises(ValueError, match="never moves"):
        centre_error_over_persistence(np.full((3, 4), 0.25), np.array([1, 1, 1]))
    with pytest.raises(ValueError, match="at least 3 rows"):
        centre_error_over_persistence(np.full((2, 4), 0.25), np.array([0, 1, 2, 3]))
