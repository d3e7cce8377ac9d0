"""Kernels and runs shared by the tests of ``sgdllm.predict``."""

from __future__ import annotations

import numpy as np

from sgdllm.discretize import Scaler, fit_scaler
from sgdllm.kernel import Kernel
from sgdllm.sgd.problems import two_basins
from sgdllm.sgd.runs import run_sgd


def as_kernel(matrix: np.ndarray, scaler: Scaler | None = None) -> Kernel:
    k = matrix.shape[0]
    return Kernel(matrix, np.ones(k, bool), np.ones(k), scaler, "truth")


def banded_kernel(k: int, width: int, seed: int, scaler: Scaler | None = None) -> Kernel:
    """Random rows supported on ``s - width .. s + width`` (clipped): a sparse kernel."""
    rng = np.random.default_rng(seed)
    m = np.zeros((k, k))
    for s in range(k):
        lo, hi = max(s - width, 0), min(s + width + 1, k)
        m[s, lo:hi] = rng.random(hi - lo)
    return as_kernel(m / m.sum(axis=1, keepdims=True), scaler)


def two_kernels() -> list[Kernel]:
    return [
        banded_kernel(100, 2, seed=0, scaler=Scaler(-1.0, 1.0, 2)),
        banded_kernel(100, 3, seed=1, scaler=Scaler(0.0, 2.0, 2)),
    ]


def two_basin_runs(starts, steps=150, seed=0):
    """Short two-basin runs on the shared grid [-1, 1] -> [0.15, 0.85], with their states."""
    problem = two_basins(seed=0)
    runs = run_sgd(problem, np.asarray(starts, float), steps, 0.1, n_runs=len(starts), seed=seed)
    scalers = [fit_scaler([], 2, bounds=(-1.0, 1.0)) for _ in range(2)]
    states = np.stack([sc.to_states(runs[..., i]) for i, sc in enumerate(scalers)], axis=-1)
    return problem, runs, states, scalers
