"""Tests for sgdllm.impute: 1-D barycenters and the filling of undefined kernel rows."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import ot
import pytest

from sgdllm.discretize import Scaler
from sgdllm.impute import (
    impute,
    quantile_barycenter,
    shift_law,
    sinkhorn_barycenter,
)
from sgdllm.kernel import Kernel
from sgdllm.metrics import w1

# the module, not the function of the same name that sgdllm exports at its top level
impute_module = importlib.import_module("sgdllm.impute")


def gauss(k: int, mean: float, sd: float) -> np.ndarray:
    x = np.arange(k)
    p = np.exp(-0.5 * ((x - mean) / sd) ** 2)
    return p / p.sum()


def moments(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(p.shape[-1])
    mean = p @ x
    return mean, np.sqrt(p @ x**2 - mean**2)


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


# ----------------------------------------------------------------------------- exact barycenter


def test_quantile_barycenter_of_diracs_is_the_dirac_in_between():
    e = np.eye(1000)
    np.testing.assert_array_equal(quantile_barycenter(e[300], e[500], 0.5), e[400])
    np.testing.assert_array_equal(quantile_barycenter(e[300], e[500], 0.25), e[350])
    np.testing.assert_array_equal(quantile_barycenter(e[300], e[500], [0.0, 1.0]), e[[300, 500]])


def test_quantile_barycenter_splits_off_grid_atoms_keeping_the_mean():
    e = np.eye(10)
    q = quantile_barycenter(e[1], e[4], 1 / 3)  # atom at 2 exactly
    np.testing.assert_allclose(q, e[2], atol=1e-12)
    q = quantile_barycenter(e[1], e[2], 0.25)  # atom at 1.25
    np.testing.assert_allclose(q[[1, 2]], [0.75, 0.25])
    assert q.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(5))
def test_quantile_barycenter_interpolates_means_and_quantiles(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.random(60) ** 4, rng.random(60) ** 4
    a, b = a / a.sum(), b / b.sum()
    ws = np.linspace(0, 1, 7)
    q = quantile_barycenter(a, b, ws)
    assert q.shape == (7, 60)
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    assert (q >= 0).all()
    np.testing.assert_allclose(moments(q)[0], (1 - ws) * moments(a)[0] + ws * moments(b)[0])
    # W2 geodesic: W1 is linear along it on the line, W1(a, q_w) = w W1(a, b) up to the grid
    np.testing.assert_allclose(w1(np.broadcast_to(a, q.shape), q), ws * w1(a, b), atol=0.5)
    # vectorized weights = one call per weight
    for j, w in enumerate(ws):
        np.testing.assert_allclose(quantile_barycenter(a, b, w), q[j], atol=1e-12)


def test_quantile_barycenter_rejects_bad_input():
    with pytest.raises(ValueError, match="same grid"):
        quantile_barycenter(np.ones(3), np.ones(4), 0.5)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        quantile_barycenter(np.ones(3), np.ones(3), 1.5)
    with pytest.raises(ValueError, match="no mass"):
        quantile_barycenter(np.zeros(3), np.ones(3), 0.5)
    with pytest.raises(ValueError, match="non-negative"):
        quantile_barycenter(np.array([1.0, -1.0, 1.0]), np.ones(3), 0.5)


# ----------------------------------------------------------------------------- Sinkhorn barycenter


@pytest.mark.parametrize("reg", [5e-3, 1e-3])
def test_debiased_iteration_matches_pot(reg):
    """Same start and stopping rule as POT -> the same barycenter, to rounding."""
    k = 150
    a, b = gauss(k, 40, 4), gauss(k, 90, 9)
    x = np.arange(k)
    cost = (x[:, None] - x[None, :]) ** 2 / (k - 1) ** 2
    ref = ot.bregman.barycenter_debiased(
        np.stack([a, b], 1), cost, reg, np.array([0.7, 0.3]), stopThr=1e-6, numItermax=5000
    )
    mine, converged = impute_module._debiased_barycenters(
        np.stack([a, b], 1), np.exp(-cost / reg), np.array([[0.7, 0.3]]), None, 1e-6, 5000
    )
    assert converged
    np.testing.assert_allclose(mine[:, 0], ref, atol=1e-12)


def test_sinkhorn_barycenter_tends_to_the_exact_one_as_reg_decreases():
    """Converged debiased barycenters of Gaussians of sd 2 and 6 (K = 100): the error in W1
    and in sd shrinks with reg (the means are exact by symmetry of the iteration)."""
    k = 100
    a, b = gauss(k, 30, 2), gauss(k, 60, 6)
    ws = np.array([0.25, 0.5, 0.75])
    exact = quantile_barycenter(a, b, ws)
    w1_err, sd_err = [], []
    for reg in (1e-2, 5e-3, 1e-3):
        q = sinkhorn_barycenter(a, b, ws, reg, init="uniform", tol=1e-11, max_iter=20000)
        np.testing.assert_allclose(q.sum(axis=1), 1.0)
        np.testing.assert_allclose(moments(q)[0], moments(exact)[0], atol=1e-6)
        w1_err.append(w1(q, exact).mean())
        sd_err.append(np.abs(moments(q)[1] - moments(exact)[1]).max())
    assert w1_err[0] > w1_err[1] > w1_err[2]
    assert sd_err[0] > sd_err[1] > sd_err[2]
    assert w1_err[2] < 0.15 and sd_err[2] < 0.1  # states


def test_sinkhorn_barycenter_of_translates_is_exact_at_k1000():
    """Equal-width Gaussians and Diracs: the debiasing is exact (Janati et al. 2020) and the
    warm start sits at the fixed point; the windowed solve is fast at K = 1000."""
    k = 1000
    ws = np.arange(1, 20) / 20
    for a, b in [(gauss(k, 300, 5), gauss(k, 340, 5)), (np.eye(k)[300], np.eye(k)[500])]:
        q = sinkhorn_barycenter(a, b, ws)
        assert w1(q, quantile_barycenter(a, b, ws)).max() < 1e-3
    np.testing.assert_allclose(
        sinkhorn_barycenter(np.eye(k)[300], np.eye(k)[500], 0.5), np.eye(k)[400], atol=1e-6
    )


def test_sinkhorn_window_gives_the_full_grid_answer(monkeypatch):
    k = 300
    a, b = gauss(k, 100, 3), gauss(k, 140, 8)
    ws = np.array([0.3, 0.6])
    windowed = sinkhorn_barycenter(a, b, ws, init="uniform", tol=1e-9, max_iter=3000)
    assert (windowed[:, :20] == 0).all()  # the window cut the far states
    monkeypatch.setattr(impute_module, "WINDOW_BLURS", 100.0)
    full = sinkhorn_barycenter(a, b, ws, init="uniform", tol=1e-9, max_iter=3000)
    assert w1(windowed, full).max() < 2e-3


def test_sinkhorn_barycenter_output_is_a_law_and_warm_start_stays_near_exact():
    k = 100
    rng = np.random.default_rng(0)
    a = np.bincount(rng.integers(20, 26, 5), minlength=k) / 5.0
    b = np.bincount(rng.integers(40, 49, 3), minlength=k) / 3.0
    ws = np.linspace(0.1, 0.9, 9)
    q = sinkhorn_barycenter(a, b, ws)
    assert np.all(np.isfinite(q)) and (q >= 0).all()
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    assert w1(q, quantile_barycenter(a, b, ws)).max() < 0.5


def test_sinkhorn_barycenter_uniform_start_warns_when_not_converged():
    k = 200
    with pytest.warns(RuntimeWarning, match="blurred"):
        sinkhorn_barycenter(np.eye(k)[50], np.eye(k)[90], 0.5, init="uniform", max_iter=30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sinkhorn_barycenter(np.eye(k)[50], np.eye(k)[90], 0.5, max_iter=30)


def test_sinkhorn_barycenter_errors():
    e = np.eye(100)
    with pytest.raises(ValueError, match="increase reg"):
        sinkhorn_barycenter(e[0], e[99], 0.5, reg=1e-4)
    with pytest.raises(ValueError, match="reg must be a positive"):
        sinkhorn_barycenter(e[0], e[9], 0.5, reg=0.0)
    with pytest.raises(ValueError, match="init"):
        sinkhorn_barycenter(e[0], e[9], 0.5, init="zeros")
    with pytest.raises(ValueError, match="max_iter"):
        sinkhorn_barycenter(e[0], e[9], 0.5, max_iter=0)


# ----------------------------------------------------------------------------- shift_law


def test_shift_law_translates_and_piles_overflow_on_the_edges():
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.0])
    np.testing.assert_allclose(shift_law(p, 1), [0.0, 0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(shift_law(p, -2), [0.6, 0.4, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(shift_law(p, [0, 3]), [p, [0, 0, 0, 0.1, 0.9]])
    with pytest.raises(ValueError, match="integer"):
        shift_law(p, 0.5)


# ----------------------------------------------------------------------------- impute


ROWS = [20, 21, 30, 45, 47, 70]


@pytest.mark.parametrize("method", ["ot", "ot-exact", "nearest"])
@pytest.mark.parametrize("outside", ["shift", "copy"])
def test_impute_completes_and_keeps_defined_rows(method, outside):
    scaler = Scaler(-1.0, 1.0, 2)
    kernel = sparse_kernel(100, ROWS, seed=1, scaler=scaler)
    filled = impute(kernel, method, outside=outside)
    assert filled.is_complete
    np.testing.assert_allclose(filled.matrix.sum(axis=1), 1.0, atol=1e-12)
    assert (filled.matrix >= 0).all()
    np.testing.assert_array_equal(filled.matrix[ROWS], kernel.matrix[ROWS])
    assert filled.method == f"counts+impute({method})"
    assert filled.scaler is scaler
    np.testing.assert_array_equal(filled.visited, kernel.visited)
    np.testing.assert_array_equal(filled.counts, kernel.counts)
    assert not kernel.is_complete  # the input is untouched


def test_impute_exact_rows_are_quantile_barycenters_of_their_neighbours():
    kernel = sparse_kernel(100, ROWS, seed=2)
    p, filled = kernel.matrix, impute(kernel, "ot-exact").matrix
    for r, lo, hi in [(25, 21, 30), (33, 30, 45), (46, 45, 47), (60, 47, 70)]:
        w = (r - lo) / (hi - lo)
        np.testing.assert_allclose(filled[r], quantile_barycenter(p[lo], p[hi], w), atol=1e-14)


def test_impute_exact_on_dirac_rows_moves_the_dirac_linearly():
    k = 100
    m = np.zeros((k, k))
    m[20, 30] = m[40, 70] = 1.0
    kernel = Kernel(m, m.sum(1) > 0, m.sum(1), None, "counts")
    filled = impute(kernel, "ot-exact").matrix
    np.testing.assert_allclose(filled[30], np.eye(k)[50])  # halfway: 30 -> 50 <- 70
    np.testing.assert_allclose(filled[25], np.eye(k)[40])


def test_impute_ot_is_close_to_exact_on_count_rows():
    kernel = sparse_kernel(100, ROWS, seed=3)
    ot_rows = impute(kernel, "ot").matrix
    exact_rows = impute(kernel, "ot-exact").matrix
    assert w1(ot_rows, exact_rows).max() < 0.5  # states


def test_impute_nearest_copies_and_breaks_ties_downwards():
    kernel = sparse_kernel(100, ROWS, seed=4)
    p, filled = kernel.matrix, impute(kernel, "nearest").matrix
    for r, src in [(22, 21), (25, 21), (26, 30), (37, 30), (38, 45), (46, 45), (58, 47)]:
        np.testing.assert_array_equal(filled[r], p[src], err_msg=f"row {r}")
    np.testing.assert_array_equal(filled[37], p[30])  # 37 is 7 from 30 and 8 from 45
    np.testing.assert_array_equal(filled[58], p[47])  # 58 is 11 from 47 and 12 from 70
    m = np.zeros((10, 10))
    m[2, 2] = m[6, 6] = 1.0
    tie = impute(Kernel(m, m.sum(1) > 0, m.sum(1)), "nearest").matrix
    np.testing.assert_array_equal(tie[4], m[2])  # halfway between 2 and 6: the lower row


def test_impute_outside_rows_shift_keeps_the_increment_law():
    kernel = sparse_kernel(100, ROWS, seed=5)
    p = kernel.matrix
    shifted = impute(kernel, "ot-exact", outside="shift").matrix
    copied = impute(kernel, "ot-exact", outside="copy").matrix
    for r in (0, 5, 19):
        np.testing.assert_array_equal(copied[r], p[20])
    for r in (71, 99):
        np.testing.assert_array_equal(copied[r], p[70])
    # row 10 = row 20 moved down by 10 states: same increments s' - s
    np.testing.assert_allclose(shifted[10, : 100 - 10], p[20, 10:])
    np.testing.assert_allclose(shifted[80, 10:], p[70, : 100 - 10])
    # row 0: the mass that would fall below state 0 is piled on state 0
    assert shifted[0, 0] == pytest.approx(p[20, :21].sum())
    np.testing.assert_allclose(shifted[0, 1:80], p[20, 21:])
    assert (shifted[0, 80:] == 0).all()
    # row 99: mass above the grid piled on state 99
    assert shifted[99, 99] == pytest.approx(p[70, 70:].sum())


def test_impute_complete_kernel_is_unchanged():
    k = 10
    m = np.full((k, k), 1.0 / k)
    kernel = Kernel(m, np.zeros(k, bool), np.zeros(k), None, "laplace")
    for method in ("ot", "ot-exact", "nearest"):
        filled = impute(kernel, method)
        np.testing.assert_array_equal(filled.matrix, m)
        assert filled.method == f"laplace+impute({method})"


def test_impute_single_defined_row_uses_the_outside_rule():
    m = np.zeros((10, 10))
    m[4, [4, 5]] = 0.5
    kernel = Kernel(m, m.sum(1) > 0, m.sum(1))
    filled = impute(kernel, "ot").matrix
    np.testing.assert_allclose(filled[0, [0, 1]], [0.5, 0.5])
    np.testing.assert_allclose(filled[9, 9], 1.0)


def test_impute_errors():
    k = 10
    empty = Kernel(np.zeros((k, k)), np.zeros(k, bool), np.zeros(k))
    with pytest.raises(ValueError, match="no defined row"):
        impute(empty)
    kernel = sparse_kernel(100, ROWS, seed=0)
    with pytest.raises(ValueError, match="method must be one of"):
        impute(kernel, "linear")
    with pytest.raises(ValueError, match="outside must be one of"):
        impute(kernel, "ot", outside="zero")
    with pytest.raises(ValueError, match="reg must be"):
        impute(kernel, "ot", reg=-1.0)
    with pytest.raises(ValueError, match="expects a Kernel"):
        impute(np.eye(3))
