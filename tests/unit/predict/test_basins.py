"""Unit tests of the sgdllm.predict helpers added for the chapter *Predicting SGD*."""

from __future__ import annotations

import numpy as np
import pytest

from sgdllm.discretize import Scaler, discretize_trajectory, fit_scaler
from sgdllm.impute import impute
from sgdllm.kernel import Kernel, count_kernel, one_hot_laws
from sgdllm.predict import (
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
from sgdllm.sgd.runs import run_sgd


def two_basin_runs(starts, steps=150, seed=0):
    """Short two-basin runs on the shared grid [-1, 1] -> [0.15, 0.85], with their states."""
    problem = two_basins(seed=0)
    runs = run_sgd(problem, np.asarray(starts, float), steps, 0.1, n_runs=len(starts), seed=seed)
    scalers = [fit_scaler([], 2, bounds=(-1.0, 1.0)) for _ in range(2)]
    states = np.stack([sc.to_states(runs[..., i]) for i, sc in enumerate(scalers)], axis=-1)
    return problem, runs, states, scalers


# ----------------------------------------------------------------------------- coordinate_kernels


def test_coordinate_kernels_counts_are_the_per_coordinate_pipeline():
    run = np.cumsum(np.random.default_rng(0).standard_normal((300, 2)), axis=0)
    states, scalers = discretize_trajectory(run, 2)
    kernels = coordinate_kernels(states, scalers)
    assert len(kernels) == 2
    for i, ker in enumerate(kernels):
        expected = impute(count_kernel(states[:, i], 2, scaler=scalers[i]), "ot")
        np.testing.assert_array_equal(ker.matrix, expected.matrix)
        assert ker.is_complete and ker.scaler is scalers[i]
    smooth = coordinate_kernels(states, scalers, smoothing="laplace", method="nearest")
    np.testing.assert_array_equal(
        smooth[1].matrix, count_kernel(states[:, 1], 2, "laplace", scaler=scalers[1]).matrix
    )


def test_coordinate_kernels_from_dirac_laws_equal_the_counts():
    """Dirac laws of the observed next states give back the counts (kernel_from_laws)."""
    _, _, states, scalers = two_basin_runs([[0.9, 0.2], [-0.9, -0.2]])
    laws = [one_hot_laws(states[:, 1:, i], 2) for i in range(2)]  # (runs, T - 1, K)
    from_laws = coordinate_kernels(states, scalers, laws, method="ot-exact")
    counted = coordinate_kernels(states, scalers, method="ot-exact")
    for a, b in zip(from_laws, counted, strict=True):
        np.testing.assert_allclose(a.matrix, b.matrix, atol=1e-12)


def test_coordinate_kernels_rejects_bad_input():
    states = np.zeros((10, 2), dtype=np.int64) + 50
    scalers = [Scaler(0.0, 1.0, 2)] * 2
    with pytest.raises(ValueError, match=r"\(T, d\) or \(runs, T, d\)"):
        coordinate_kernels(states[:, 0], scalers)
    with pytest.raises(ValueError, match="one scaler per coordinate"):
        coordinate_kernels(states, scalers[:1])
    with pytest.raises(ValueError, match="one array of laws per coordinate"):
        coordinate_kernels(states, scalers, [np.full((10, 100), 0.01)])
    with pytest.raises(ValueError, match="Scaler"):
        coordinate_kernels(states, [scalers[0], "not a scaler"])


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
