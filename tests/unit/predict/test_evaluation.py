"""Tests of sgdllm.predict.evaluation: predicted laws against sampled runs (the end-to-end test
against real SGD runs is in ``test_propagate.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from sgdllm.predict import compare_from_starts, compare_with_runs, sample_trajectories
from tests.unit.predict.predict_fixtures import two_kernels


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
