"""Tests of sgdllm.predict.basins: basin probabilities and frequencies, and the basin tables of
the chapter *Predicting SGD*."""

from __future__ import annotations

import numpy as np
import pytest

from sgdllm.discretize import Scaler
from sgdllm.kernel import Kernel, one_hot_laws
from sgdllm.predict import (
    basin_frequencies,
    basin_probabilities,
    basin_table,
    basin_tables_by_runs,
    basins_reached,
    coordinate_kernels,
    near_minimum,
    predict_laws,
    predicted_basin_probabilities,
    runs_needed,
)
from sgdllm.sgd.problems import two_basins
from tests.unit.predict.predict_fixtures import two_basin_runs, two_kernels

# ----------------------------------------------------------------------------- basin laws


def test_basin_probabilities_and_frequencies():
    def basin(theta):
        return (theta[..., 0] + theta[..., 1] < 0).astype(np.int64)

    pts = np.array([[1.0, 1.0], [-1.0, -1.0], [2.0, 0.0], [0.5, -2.0]])
    np.testing.assert_allclose(basin_probabilities(pts, basin), [0.5, 0.5])
    np.testing.assert_allclose(basin_probabilities(pts[:1], basin, n_basins=2), [1.0, 0.0])
    runs = np.stack([np.zeros_like(pts), pts], axis=1)  # (4 runs, 2 steps, 2)
    np.testing.assert_allclose(basin_frequencies(runs, basin), [0.5, 0.5])
    with pytest.raises(ValueError, match="n_basins"):
        basin_probabilities(pts, basin, n_basins=1)
    with pytest.raises(ValueError, match="integer basin"):
        basin_probabilities(pts, lambda t: t[..., 0])


def test_predicted_basin_probabilities_sum_over_the_product_law():
    kernels = two_kernels()
    p0, p1 = np.zeros(100), np.zeros(100)
    p0[[40, 60]] = [0.25, 0.75]  # values -0.27 and +0.31 on [-1, 1]
    p1[[15, 85]] = [0.5, 0.5]  # values 0 and 2 on [0, 2]
    v0 = kernels[0].scaler.to_values([40, 60])
    v1 = kernels[1].scaler.to_values([15, 85])
    assert v0[0] < 0 < v0[1] and v1[0] == pytest.approx(0.0) and v1[1] == pytest.approx(2.0)

    def basin(theta):  # basin 1: both coordinates small
        return ((theta[..., 0] < 0) & (theta[..., 1] < 1)).astype(np.int64)

    probs = predicted_basin_probabilities([p0, p1], kernels, basin, n_basins=2)
    np.testing.assert_allclose(probs, [1 - 0.25 * 0.5, 0.25 * 0.5])


# ----------------------------------------------------------------------------- near_minimum


def test_near_minimum_labels_the_close_minimizer_or_elsewhere():
    label = near_minimum([[0.5, 0.5], [-0.5, -0.5]], radius=0.2)
    pts = np.array([[0.5, 0.6], [-0.4, -0.5], [0.5, -0.5], [0.0, 0.0], [0.5, 0.7]])
    np.testing.assert_array_equal(label(pts), [0, 1, 2, 2, 0])  # 0.2 away counts as near
    grid = np.zeros((3, 4, 2)) + 0.5  # any leading shape
    assert label(grid).shape == (3, 4) and (label(grid) == 0).all()
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        label(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="radius"):
        near_minimum([[0.0, 0.0]], radius=0.0)
    with pytest.raises(ValueError, match=r"\(m, d\)"):
        near_minimum([0.0, 0.0], radius=1.0)


# ----------------------------------------------------------------------------- basin_table


def stay_kernel(scaler: Scaler) -> Kernel:
    k = scaler.n_states
    return Kernel(np.eye(k), np.ones(k, bool), np.ones(k), scaler, "identity")


def test_basin_table_is_predicted_basin_probabilities_per_start():
    _, _, states, scalers = two_basin_runs([[0.9, 0.2], [-0.9, -0.2]])
    kernels = coordinate_kernels(states, scalers)
    problem = two_basins(seed=0)
    starts = np.array([[0.8, 0.3], [-0.5, -0.9], [0.6, -0.7]])
    table = basin_table(kernels, starts, 60, problem.basin, 2)
    assert table.shape == (3, 2)
    np.testing.assert_allclose(table.sum(axis=1), 1.0)
    for j, x0 in enumerate(starts):
        laws = [law[-1] for law in predict_laws(kernels, x0, 60, every=60)]
        expected = predicted_basin_probabilities(laws, kernels, problem.basin, 2)
        np.testing.assert_allclose(table[j], expected, atol=1e-12)
    # same-sign starts go to their own minimum; the kernel of these runs knows both
    label = near_minimum(problem.minimizers(), 0.25)
    near = basin_table(kernels, starts[:2], 150, label, 3)
    assert near[0, 0] > 0.95 and near[1, 1] > 0.95


def test_basin_table_at_step_zero_is_the_basin_of_the_start_bin():
    scaler = Scaler(-1.0, 1.0, 2)
    kernels = [stay_kernel(scaler), stay_kernel(scaler)]
    starts = np.array([[0.5, 0.5], [-0.5, 0.2], [0.1, -0.9]])

    def basin(theta):
        return (theta[..., 0] + theta[..., 1] < 0).astype(np.int64)

    table = basin_table(kernels, starts, 0, basin, 2)
    np.testing.assert_array_equal(table, [[1, 0], [0, 1], [0, 1]])
    np.testing.assert_array_equal(basin_table(kernels, starts, 25, basin, 2), table)
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        basin_table(kernels, starts[0], 5, basin, 2)
    with pytest.raises(ValueError, match="one value per kernel"):
        basin_table(kernels, np.zeros((2, 3)), 5, basin, 2)


# ----------------------------------------------------------------------------- by runs


def test_one_run_sees_one_basin_two_runs_see_both():
    problem, runs, states, scalers = two_basin_runs([[0.9, 0.2], [-0.9, -0.2], [0.7, 0.9]])
    assert problem.basin(runs[:, -1]).tolist() == [0, 1, 0]
    label = near_minimum(problem.minimizers(), 0.25)
    starts = np.array([[0.8, 0.3], [-0.5, -0.9], [0.3, 0.6], [-0.9, -0.6]])
    tables = basin_tables_by_runs(states, scalers, starts, 150, label, 3)
    assert tables.shape == (3, 4, 3)
    reached = (tables[:, :, :2] >= 0.05).any(axis=1)
    np.testing.assert_array_equal(reached, [[True, False], [True, True], [True, True]])
    np.testing.assert_allclose(
        tables[1], basin_table(coordinate_kernels(states[:2], scalers), starts, 150, label, 3)
    )
    laws = [one_hot_laws(states[:, 1:, i], 2) for i in range(2)]
    from_laws = basin_tables_by_runs(
        states, scalers, starts, 150, label, 3, laws, method="ot-exact"
    )
    counted = basin_tables_by_runs(states, scalers, starts, 150, label, 3, method="ot-exact")
    np.testing.assert_allclose(from_laws, counted, atol=1e-9)
    with pytest.raises(ValueError, match=r"\(runs, T, d\)"):
        basin_tables_by_runs(states[0], scalers, starts, 10, label, 3)


def test_basins_reached_counts_the_minima_some_start_reaches():
    table = np.array([[0.97, 0.0, 0.03], [0.5, 0.04, 0.46], [0.0, 0.0, 1.0]])
    assert basins_reached(table, 2, 0.05) == 1  # the second minimum stays under 0.05
    assert basins_reached(table, 2, 0.04) == 2
    assert basins_reached(table, 1, 0.05) == 1  # "neither" (last column) is no minimum
    assert basins_reached(np.zeros((4, 3)), 2, 0.05) == 0
    with pytest.raises(ValueError, match=r"\(n_starts, n_basins\)"):
        basins_reached(table[0], 2, 0.05)


def test_runs_needed_is_the_first_count_of_every_basin():
    assert runs_needed(np.array([1, 1, 2, 2]), 2) == 3
    assert runs_needed(np.array([2, 1, 2]), 2) == 1
    assert runs_needed(np.array([1, 1, 1]), 2) == 4  # never within the runs: R + 1
    with pytest.raises(ValueError, match=r"\(runs,\)"):
        runs_needed(np.ones((2, 2)), 2)
