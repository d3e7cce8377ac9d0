"""Scoring predictions against real SGD runs: moments, Wasserstein-1 and basins per horizon.

Chapter: *Predicting SGD*. :func:`compare_with_runs` propagates the start's law through each
coordinate's kernel (:mod:`sgdllm.predict.propagate`) and compares it, horizon by horizon, with
the empirical law of real runs from the same start.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sgdllm.kernel import Kernel
from sgdllm.metrics import law_moments, w1
from sgdllm.predict.basins import BasinFn, basin_frequencies, predicted_basin_probabilities
from sgdllm.predict.propagate import (
    _check_kernels,
    initial_law,
    laws_at,
)

__all__ = [
    "compare_from_starts",
    "compare_with_runs",
]


# ----------------------------------------------------------------------------- evaluation


def compare_with_runs(
    kernels: Sequence[Kernel],
    x0: ArrayLike,
    runs: ArrayLike,
    horizons: ArrayLike,
    *,
    basin_fn: BasinFn | None = None,
    n_basins: int | None = None,
) -> dict[str, NDArray[np.float64] | float]:
    """Score predicted laws against real SGD runs from the same start.

    For each coordinate ``i`` and horizon ``t``, the predicted law ``p_t^(i)`` is compared with
    the histogram ``h_t^(i)`` of ``runs[:, t, i]`` on the same state grid
    (``scaler.to_states(..., warn=False)``: values beyond the grid count on the edge states)
    by the Wasserstein-1 distance in value units,

    .. math::

        W_1(p, h) = \\Delta \\sum_s |F_p(s) - F_h(s)|,

    ``Delta`` the bin width (:func:`sgdllm.metrics.w1`). The predicted mean is
    ``sum_s p(s) x(s)`` over bin centres, the empirical mean that of the raw values.

    Parameters
    ----------
    kernels : sequence of Kernel, length d
        Complete, with scalers.
    x0 : array_like, shape (d,)
        The common start of the runs (checked against ``runs[:, 0]``).
    runs : array_like, shape (n_runs, steps + 1, d)
        Real SGD runs, e.g. ``run_sgd(problem, x0, steps, step, n_runs=200)``.
    horizons : array_like of int, shape (h,)
        Strictly increasing times in ``[0, steps]``.
    basin_fn : callable, optional
        ``problem.basin``; adds the basin comparison at the last horizon.
    n_basins : int, optional
        Number of basins (e.g. ``len(problem.minimizers())``).

    Returns
    -------
    dict
        ``"horizons"`` (h,); ``"w1"``, ``"mean_predicted"``, ``"mean_empirical"``,
        ``"std_predicted"``, ``"std_empirical"``: (h, d) in value units. With ``basin_fn``:
        ``"basin_predicted"`` (:func:`predicted_basin_probabilities`, product of the predicted
        marginals), ``"basin_empirical"`` (:func:`basin_frequencies` of the runs at the last
        horizon), both (n_basins,), and their total variation ``"basin_tv"``.
    """
    x = _check_kernels(kernels, x0)
    r = np.asarray(runs, dtype=np.float64)
    if r.ndim != 3 or r.shape[2] != x.size or r.shape[0] == 0:
        raise ValueError(f"runs must have shape (n_runs, steps + 1, {x.size}), got {r.shape}")
    if not np.all(np.isfinite(r)):
        raise ValueError("runs contains NaN or Inf (a diverged run?)")
    if not np.allclose(r[:, 0], x, rtol=1e-9, atol=1e-12):
        raise ValueError("runs must all start at x0 (runs[:, 0] == x0) to be compared with it")
    h = np.asarray(horizons)
    if h.ndim != 1 or h.size == 0 or not np.issubdtype(h.dtype, np.integer):
        raise ValueError(f"horizons must be a non-empty 1-D array of integers, got {horizons!r}")
    if h[0] < 0 or h[-1] >= r.shape[1] or np.any(np.diff(h) <= 0):
        raise ValueError(
            f"horizons must be strictly increasing in [0, {r.shape[1] - 1}] (the runs' steps), "
            f"got {horizons!r}"
        )
    d, n_h = x.size, h.size
    dist, mean_p, mean_e = np.empty((n_h, d)), np.empty((n_h, d)), np.empty((n_h, d))
    std_p, std_e = np.empty((n_h, d)), np.empty((n_h, d))
    last_laws = []
    for i, ker in enumerate(kernels):
        scaler = ker.scaler
        laws = laws_at(ker, initial_law(ker, x[i]), h)
        states = scaler.to_states(r[:, h, i], warn=False)  # (n_runs, h)
        hist = np.stack([np.bincount(states[:, j], minlength=ker.n_states) for j in range(n_h)])
        hist = hist / r.shape[0]
        grid = scaler.grid()
        dist[:, i] = w1(laws, hist, scaler.bin_width)
        mean_p[:, i], std_p[:, i] = law_moments(laws, grid)
        mean_e[:, i] = r[:, h, i].mean(axis=0)
        std_e[:, i] = r[:, h, i].std(axis=0)
        last_laws.append(laws[-1])
    out: dict[str, NDArray[np.float64] | float] = {
        "horizons": h.astype(np.int64),
        "w1": dist,
        "mean_predicted": mean_p,
        "mean_empirical": mean_e,
        "std_predicted": std_p,
        "std_empirical": std_e,
    }
    if basin_fn is not None:
        pred = predicted_basin_probabilities(last_laws, kernels, basin_fn, n_basins)
        emp = basin_frequencies(r[:, h[-1]], basin_fn, n_basins)
        if emp.size != pred.size:
            size = max(emp.size, pred.size)
            pred, emp = np.pad(pred, (0, size - pred.size)), np.pad(emp, (0, size - emp.size))
        out["basin_predicted"] = pred
        out["basin_empirical"] = emp
        out["basin_tv"] = float(0.5 * np.abs(pred - emp).sum())
    return out


def compare_from_starts(
    kernels: Sequence[Kernel],
    starts: ArrayLike,
    runs: Sequence[ArrayLike] | ArrayLike,
    horizons: ArrayLike,
) -> dict[str, Any]:
    """Score predicted laws against real runs from several starts, averaged over the starts.

    :func:`compare_with_runs` from each ``starts[j]`` against ``runs[j]``, then the numbers a
    chapter quotes: the Wasserstein-1 error per horizon, and the spread and mean of the laws at
    the last horizon against the real ones, each averaged over the starts and coordinates.

    Parameters
    ----------
    kernels : sequence of Kernel, length d
        Complete, with scalers.
    starts : array_like, shape (n_starts, d)
    runs : sequence of array_like, length n_starts, each of shape (n_runs, steps + 1, d)
        ``runs[j]``: real runs from ``starts[j]``.
    horizons : array_like of int, shape (h,)
        As in :func:`compare_with_runs`.

    Returns
    -------
    dict
        ``"w1"``: ndarray (h,), mean ``W_1`` per horizon; ``"std_ratio"``: float, mean of
        predicted over empirical standard deviation at the last horizon; ``"mean_error"``:
        float, mean absolute difference of the predicted and empirical means there (value
        units); ``"per_start"``: the list of :func:`compare_with_runs` results.
    """
    x = np.asarray(starts, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"starts must have shape (n_starts, d) with n_starts >= 1, got {x.shape}")
    if len(runs) != x.shape[0]:
        raise ValueError(
            f"runs must hold one array of runs per start ({x.shape[0]}), got {len(runs)}"
        )
    scores = [compare_with_runs(kernels, x0, r, horizons) for x0, r in zip(x, runs, strict=True)]
    return {
        "w1": np.mean([s["w1"] for s in scores], axis=(0, 2)),
        "std_ratio": float(
            np.mean([s["std_predicted"][-1] / s["std_empirical"][-1] for s in scores])
        ),
        "mean_error": float(
            np.mean([np.abs(s["mean_predicted"][-1] - s["mean_empirical"][-1]) for s in scores])
        ),
        "per_start": scores,
    }
