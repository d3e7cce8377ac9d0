"""Tests for the functions the *Imputation* chapter adds to sgdllm.impute: empty_rows and the
baselines of impute_baseline."""

from __future__ import annotations

import numpy as np
import pytest

from sgdllm.discretize import Scaler
from sgdllm.impute import (
    empty_rows,
    filled_row_errors,
    impute,
    impute_baseline,
    quantile_barycenter,
)
from sgdllm.kernel import Kernel
from sgdllm.metrics import tv, w1

ROWS = [20, 21, 30, 45, 47, 70]


def sparse_kernel(k: int, rows: list[int], seed: int, scaler: Scaler | None = None) -> Kernel:
    """A kernel whose only defined rows are ``rows``, each a random law near the diagonal."""
    rng = np.random.default_rng(seed)
    m = np.zeros((k, k))
    for r in rows:
        lo = max(r - 5, 0)
        m[r, lo : r + 6] = rng.random(min(r + 6, k) - lo) ** 3
        m[r] /= m[r].sum()
    visited = m.sum(axis=1) > 0
    return Kernel(m, visited, visited * 3.0, scaler, "counts")


def dirac_kernel(k: int, jumps: dict[int, int]) -> Kernel:
    """Defined rows ``r -> delta_{jumps[r]}`` only."""
    m = np.zeros((k, k))
    for r, s in jumps.items():
        m[r, s] = 1.0
    return Kernel(m, m.sum(1) > 0, m.sum(1), None, "counts")


# ----------------------------------------------------------------------------- empty_rows


def test_empty_rows_splits_the_undefined_rows():
    kernel = sparse_kernel(100, ROWS, seed=0)
    between, outside = empty_rows(kernel)
    assert not (between & outside).any()
    np.testing.assert_array_equal(between | outside, ~kernel.defined)
    assert np.flatnonzero(outside).tolist() == [*range(20), *range(71, 100)]
    assert between.sum() == 51 - len(ROWS)  # rows 21..69 that are not defined
    assert not between[[20, 21, 30, 45, 47, 70]].any()


def test_empty_rows_of_complete_and_edge_kernels():
    full = Kernel(np.eye(5), np.ones(5, bool), np.ones(5))
    between, outside = empty_rows(full)
    assert not between.any() and not outside.any()
    one = dirac_kernel(8, {3: 4})
    between, outside = empty_rows(one)
    assert not between.any()
    assert np.flatnonzero(outside).tolist() == [0, 1, 2, 4, 5, 6, 7]


def test_empty_rows_errors():
    with pytest.raises(ValueError, match="no defined row"):
        empty_rows(Kernel(np.zeros((4, 4)), np.zeros(4, bool), np.zeros(4)))
    with pytest.raises(ValueError, match="expects a Kernel"):
        empty_rows(np.eye(3))


# ----------------------------------------------------------------------------- impute_baseline


@pytest.mark.parametrize("rule", ["mixture", "uniform", "identity"])
@pytest.mark.parametrize("outside", ["shift", "copy"])
def test_impute_baseline_completes_and_keeps_defined_rows(rule, outside):
    scaler = Scaler(-1.0, 1.0, 2)
    kernel = sparse_kernel(100, ROWS, seed=1, scaler=scaler)
    filled = impute_baseline(kernel, rule, outside=outside)
    assert filled.is_complete
    np.testing.assert_allclose(filled.matrix.sum(axis=1), 1.0, atol=1e-12)
    assert (filled.matrix >= 0).all()
    np.testing.assert_array_equal(filled.matrix[ROWS], kernel.matrix[ROWS])
    assert filled.method == f"counts+baseline({rule})"
    assert filled.scaler is scaler
    np.testing.assert_array_equal(filled.visited, kernel.visited)
    assert not kernel.is_complete


def test_impute_baseline_rules_between_defined_rows():
    k = 100
    kernel = sparse_kernel(k, ROWS, seed=2)
    p = kernel.matrix
    mixture = impute_baseline(kernel, "mixture").matrix
    for r, lo, hi in [(25, 21, 30), (33, 30, 45), (46, 45, 47), (60, 47, 70)]:
        w = (r - lo) / (hi - lo)
        np.testing.assert_allclose(mixture[r], (1 - w) * p[lo] + w * p[hi], atol=1e-15)
    np.testing.assert_allclose(impute_baseline(kernel, "uniform").matrix[33], np.full(k, 0.01))
    np.testing.assert_array_equal(impute_baseline(kernel, "identity").matrix[33], np.eye(k)[33])


def test_mixture_has_the_barycenter_mean_but_not_its_shape():
    """On the line the W2 barycenter and the mixture share their mean; between two Diracs the
    mixture is bimodal, the barycenter a Dirac at the interpolated position."""
    k = 100
    kernel = dirac_kernel(k, {20: 30, 40: 70})
    mixture = impute_baseline(kernel, "mixture").matrix[30]
    exact = impute(kernel, "ot-exact").matrix[30]
    x = np.arange(k)
    assert mixture @ x == pytest.approx(exact @ x) == pytest.approx(50.0)
    np.testing.assert_allclose(mixture[[30, 70]], [0.5, 0.5])
    np.testing.assert_allclose(exact, np.eye(k)[50])


def test_impute_baseline_outside_rows_follow_impute():
    kernel = sparse_kernel(100, ROWS, seed=5)
    for outside in ("shift", "copy"):
        ref = impute(kernel, "ot-exact", outside=outside).matrix
        for rule in ("mixture", "uniform", "identity"):
            got = impute_baseline(kernel, rule, outside=outside).matrix
            rows = [*range(20), *range(71, 100)]
            np.testing.assert_array_equal(got[rows], ref[rows])


def test_impute_baseline_mixture_agrees_with_exact_barycenter_for_translates():
    """Two rows that are translates by less than their width: the mixture is wider than the
    barycenter (its variance adds w (1 - w) (mean shift)^2)."""
    k = 60
    law = np.zeros(k)
    law[[10, 11, 12]] = [0.25, 0.5, 0.25]
    m = np.zeros((k, k))
    m[10], m[20] = law, np.roll(law, 10)
    kernel = Kernel(m, m.sum(1) > 0, m.sum(1))
    x = np.arange(k)
    mix = impute_baseline(kernel, "mixture").matrix[15]
    bary = quantile_barycenter(m[10], m[20], 0.5)
    np.testing.assert_allclose(impute(kernel, "ot-exact").matrix[15], bary)
    var = lambda p: p @ x**2 - (p @ x) ** 2  # noqa: E731
    assert var(bary) == pytest.approx(0.5)
    assert var(mix) == pytest.approx(0.5 + 0.25 * 10**2)


def test_impute_baseline_errors():
    kernel = sparse_kernel(100, ROWS, seed=0)
    with pytest.raises(ValueError, match="rule must be one of"):
        impute_baseline(kernel, "ot")
    with pytest.raises(ValueError, match="outside must be one of"):
        impute_baseline(kernel, "uniform", outside="zero")
    with pytest.raises(ValueError, match="expects a Kernel"):
        impute_baseline(np.eye(3), "uniform")
    with pytest.raises(ValueError, match="no defined row"):
        impute_baseline(Kernel(np.zeros((4, 4)), np.zeros(4, bool), np.zeros(4)), "uniform")


# ----------------------------------------------------------------------------- filled_row_errors


def shifted_gaussian_kernel(k: int, drift: float, sd: float) -> np.ndarray:
    """Rows ``N(s + drift, sd^2)`` on the grid: translates of one law, as displacement
    interpolation assumes."""
    x = np.arange(k)
    m = np.exp(-0.5 * ((x[None, :] - x[:, None] - drift) / sd) ** 2)
    return m / m.sum(axis=1, keepdims=True)


def test_filled_row_errors_matches_row_by_row_distances():
    k = 100
    truth = shifted_gaussian_kernel(k, -2.0, 1.5)
    rows = [20, 32, 33, 50, 71]
    m = np.zeros((k, k))
    m[rows] = truth[rows]
    kernel = Kernel(m, m.sum(1) > 0, m.sum(1))
    between, _ = empty_rows(kernel)
    errors = filled_row_errors(kernel, truth)
    assert set(errors) == {"ot", "ot-exact", "nearest", "mixture", "uniform", "identity"}
    for rule, value in errors.items():
        filled = impute(kernel, rule) if rule in ("ot", "ot-exact", "nearest") else None
        if filled is None:
            filled = impute_baseline(kernel, rule)
        assert value == pytest.approx(w1(truth[between], filled.matrix[between]).mean())
    tv_errors = filled_row_errors(
        kernel, Kernel(truth, np.ones(k, bool), np.ones(k)), ["nearest"], metric="tv"
    )
    expected = tv(truth[between], impute(kernel, "nearest").matrix[between]).mean()
    assert tv_errors == {"nearest": pytest.approx(expected)}


def test_filled_row_errors_ranks_displacement_interpolation_first_on_translates():
    """Exact rows that are translates of one law (away from the edges): the W2 barycenter
    recovers the missing rows up to the grid, every other rule is off by about the drift."""
    k = 100
    truth = shifted_gaussian_kernel(k, -3.0, 2.0)
    rows = [30, 41, 55, 62, 80]
    m = np.zeros((k, k))
    m[rows] = truth[rows]
    errors = filled_row_errors(Kernel(m, m.sum(1) > 0, m.sum(1)), truth)
    assert errors["ot-exact"] < 0.05 and errors["ot"] < 0.05  # states
    for rule in ("nearest", "mixture", "identity", "uniform"):
        assert errors[rule] > 1.0, rule
    # W1(delta_r, row r) >= |difference of means| = the drift; the spread adds ~0.1 here
    assert 3.0 - 1e-9 <= errors["identity"] < 3.2


def test_filled_row_errors_without_rows_between_and_errors():
    m = np.zeros((6, 6))
    m[2, 2] = m[3, 3] = 1.0
    kernel = Kernel(m, m.sum(1) > 0, m.sum(1))
    assert all(np.isnan(v) for v in filled_row_errors(kernel, np.eye(6)).values())
    with pytest.raises(ValueError, match="unknown rule"):
        filled_row_errors(kernel, np.eye(6), ["linear"])
    with pytest.raises(ValueError, match="same grid"):
        filled_row_errors(kernel, np.eye(5))
    with pytest.raises(ValueError, match="expects a Kernel"):
        filled_row_errors(m, np.eye(6))
