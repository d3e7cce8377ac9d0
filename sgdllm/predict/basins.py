"""Basins of attraction: which minimum predicted and real runs end near.

Chapter: *Predicting SGD* (non-convex problems, where several runs are needed to see every
basin). A ``basin_fn`` maps points ``theta`` of shape ``(..., d)`` to integer basin indices;
the probability of basin ``b`` is the mass the law at the horizon puts on its points, computed
from the product of the predicted marginal laws (channel independence, see
:mod:`sgdllm.predict.propagate`) or counted over real runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sgdllm.discretize import Scaler
from sgdllm.kernel import Kernel
from sgdllm.predict.propagate import (
    _check_int,
    _check_kernels,
    _check_start_laws,
    coordinate_kernels,
    initial_law,
    laws_at,
)

__all__ = [
    "MAX_PRODUCT_STATES",
    "basin_frequencies",
    "basin_probabilities",
    "basin_table",
    "basin_tables_by_runs",
    "basins_reached",
    "near_minimum",
    "predicted_basin_probabilities",
    "runs_needed",
]


#: Largest product grid :func:`predicted_basin_probabilities` enumerates.
MAX_PRODUCT_STATES = 4_000_000

#: Maps points of shape ``(..., d)`` to integer basin indices of shape ``(...)``.
BasinFn = Callable[[NDArray[np.float64]], ArrayLike]


# ----------------------------------------------------------------------------- basins


def _basin_labels(
    points: NDArray[np.float64], basin_fn: BasinFn, n_basins: int | None
) -> tuple[NDArray[np.int64], int]:
    labels = np.asarray(basin_fn(points))
    if labels.shape != points.shape[:-1] or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"basin_fn must map points of shape (..., d) to integer basin indices of shape "
            f"(...), got {labels.dtype} of shape {labels.shape} for points {points.shape}"
        )
    if labels.size and labels.min() < 0:
        raise ValueError(f"basin_fn returned a negative basin index ({labels.min()})")
    inferred = int(labels.max()) + 1 if labels.size else 1
    if n_basins is None:
        n_basins = inferred
    elif _check_int(n_basins, "n_basins", 1) < inferred:
        raise ValueError(f"basin_fn returned index {inferred - 1} but n_basins={n_basins}")
    return labels.astype(np.int64), int(n_basins)


def basin_probabilities(
    final_thetas: ArrayLike, basin_fn: BasinFn, n_basins: int | None = None
) -> NDArray[np.float64]:
    """Fraction of points in each basin, ``pi_b = #{j : basin(theta_j) = b} / n``.

    Parameters
    ----------
    final_thetas : array_like, shape (n, d)
        E.g. the last values of :func:`sample_trajectories` (predicted) or of real runs.
    basin_fn : callable
        Maps ``(..., d)`` points to integer basin indices ``(...)`` (``problem.basin``).
    n_basins : int, optional
        Number of basins (default: largest index seen + 1; pass ``len(problem.minimizers())``
        so that empty basins count).

    Returns
    -------
    ndarray, shape (n_basins,)
    """
    pts = np.asarray(final_thetas, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] == 0:
        raise ValueError(f"final_thetas must have shape (n, d) with n >= 1, got {pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise ValueError("final_thetas contains NaN or Inf")
    labels, n_basins = _basin_labels(pts, basin_fn, n_basins)
    return np.bincount(labels, minlength=n_basins) / labels.size


def basin_frequencies(
    runs: ArrayLike, basin_fn: BasinFn, n_basins: int | None = None
) -> NDArray[np.float64]:
    """Basin-hit frequencies of real runs: :func:`basin_probabilities` of their last values.

    Parameters
    ----------
    runs : array_like, shape (n_runs, steps + 1, d) or (n_runs, d)
        Runs (their last step is used) or final values.
    basin_fn, n_basins
        As in :func:`basin_probabilities`.
    """
    r = np.asarray(runs, dtype=np.float64)
    if r.ndim == 3:
        r = r[:, -1]
    return basin_probabilities(r, basin_fn, n_basins)


def predicted_basin_probabilities(
    laws: Sequence[ArrayLike],
    kernels: Sequence[Kernel],
    basin_fn: BasinFn,
    n_basins: int | None = None,
) -> NDArray[np.float64]:
    """Basin probabilities of the product of predicted marginal laws, without sampling.

    Under channel independence the predicted joint law is ``prod_i p^(i)``, so

    .. math::

        \\pi_b = \\sum_{s_1, \\dots, s_d} \\prod_i p^{(i)}(s_i) \\,
        \\mathbf 1[\\mathrm{basin}(x_1(s_1), \\dots, x_d(s_d)) = b],

    with ``x_i(s)`` the bin centres; the sum runs over the product of the marginals' supports
    (at most :data:`MAX_PRODUCT_STATES` points; otherwise sample with
    :func:`sample_trajectories` and use :func:`basin_probabilities`).

    Parameters
    ----------
    laws : sequence of array_like, shapes (K_i,)
        One law per coordinate (e.g. ``predict_laws(...)[i][-1]``).
    kernels : sequence of Kernel
        Their scalers give the bin centres.
    basin_fn, n_basins
        As in :func:`basin_probabilities`.

    Returns
    -------
    ndarray, shape (n_basins,)
    """
    if len(laws) != len(kernels) or len(laws) == 0:
        raise ValueError(f"pass one law per kernel, got {len(laws)} laws and {len(kernels)}")
    supports, masses, values = [], [], []
    for i, (law, ker) in enumerate(zip(laws, kernels, strict=True)):
        p = _check_start_laws(law, ker.n_states)
        if p.ndim != 1 or ker.scaler is None:
            raise ValueError(
                f"laws[{i}] must be one law of shape ({ker.n_states},) and "
                f"kernels[{i}] must have a scaler"
            )
        s = np.flatnonzero(p)
        supports.append(s)
        masses.append(p[s])
        values.append(np.asarray(ker.scaler.to_values(s)))
    size = int(np.prod([s.size for s in supports], dtype=np.float64))
    if size > MAX_PRODUCT_STATES:
        raise ValueError(
            f"the product of the marginals' supports has {size} points (more than "
            f"{MAX_PRODUCT_STATES}); sample with sample_trajectories and use basin_probabilities"
        )
    grids = np.meshgrid(*values, indexing="ij")
    points = np.stack(grids, axis=-1).reshape(-1, len(laws))
    weight = masses[0]
    for m in masses[1:]:
        weight = np.multiply.outer(weight, m)
    labels, n_basins = _basin_labels(points, basin_fn, n_basins)
    probs = np.bincount(labels, weights=weight.ravel(), minlength=n_basins)
    return probs / probs.sum()


def near_minimum(minimizers: ArrayLike, radius: float) -> BasinFn:
    """A ``basin_fn`` that says which minimizer a point is close to, if any.

    .. math::

        b(\\theta) = \\begin{cases} \\arg\\min_j \\|\\theta - \\theta^\\star_j\\|
        & \\text{if } \\min_j \\|\\theta - \\theta^\\star_j\\| \\le r, \\\\
        m & \\text{otherwise ("elsewhere")}, \\end{cases}

    with ``m`` the number of minimizers. Passed to :func:`basin_probabilities` or
    :func:`predicted_basin_probabilities` with ``n_basins = m + 1``, it measures how much
    (predicted) mass sits near a minimum rather than merely on its side of a ridge: under
    channel independence a predicted law can put mass on points that are no minimum at all.

    Parameters
    ----------
    minimizers : array_like, shape (m, d)
        E.g. ``problem.minimizers()``.
    radius : float
        ``r > 0``, in value units.

    Returns
    -------
    callable
        Maps points ``(..., d)`` to integer labels ``(...)`` in ``0..m``.
    """
    centres = np.asarray(minimizers, dtype=np.float64)
    if centres.ndim != 2 or centres.shape[0] == 0 or not np.all(np.isfinite(centres)):
        raise ValueError(
            f"minimizers must be a finite array of shape (m, d) with m >= 1, got {centres.shape}"
        )
    r = float(radius)
    if not (np.isfinite(r) and r > 0):
        raise ValueError(f"radius must be a positive distance in value units, got {radius!r}")
    m, d = centres.shape

    def labels(points: NDArray[np.float64]) -> NDArray[np.int64]:
        pts = np.asarray(points, dtype=np.float64)
        if pts.shape[-1:] != (d,):
            raise ValueError(f"points must have shape (..., {d}), got {pts.shape}")
        dist = np.linalg.norm(pts[..., None, :] - centres, axis=-1)  # (..., m)
        nearest = np.argmin(dist, axis=-1)
        close = np.take_along_axis(dist, nearest[..., None], axis=-1)[..., 0] <= r
        return np.where(close, nearest, m).astype(np.int64)

    return labels


def basin_table(
    kernels: Sequence[Kernel],
    starts: ArrayLike,
    steps: int,
    basin_fn: BasinFn,
    n_basins: int | None = None,
) -> NDArray[np.float64]:
    """Predicted basin probabilities after ``steps`` steps from several starts.

    Row ``j`` is :func:`predicted_basin_probabilities` of the marginal laws
    ``delta_{s_i(x_j)} (P^(ii))^steps``, i.e. ``pi_b(x_j) = sum over the product law of
    1[basin = b]`` -- the matrix-product prediction, without sampling.

    Parameters
    ----------
    kernels : sequence of Kernel, length d
        Complete, with scalers.
    starts : array_like, shape (n, d)
        Start points in value units.
    steps : int
        Horizon ``>= 0``.
    basin_fn, n_basins
        As in :func:`basin_probabilities` (pass ``n_basins`` so that every row has the
        same length).

    Returns
    -------
    ndarray, shape (n, n_basins)
    """
    x = np.asarray(starts, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"starts must have shape (n, d) with n >= 1, got {x.shape}")
    for row in x:
        _check_kernels(kernels, row)
    steps = _check_int(steps, "steps", 0)
    laws = [
        laws_at(ker, initial_law(ker, x[:, i]), np.array([steps]))[:, -1]
        for i, ker in enumerate(kernels)
    ]
    rows = [
        predicted_basin_probabilities([law[j] for law in laws], kernels, basin_fn, n_basins)
        for j in range(x.shape[0])
    ]
    width = max(r.size for r in rows)
    return np.stack([np.pad(r, (0, width - r.size)) for r in rows])


def basin_tables_by_runs(
    states: ArrayLike,
    scalers: Sequence[Scaler],
    starts: ArrayLike,
    steps: int,
    basin_fn: BasinFn,
    n_basins: int,
    laws: Sequence[ArrayLike] | None = None,
    **kernel_options: object,
) -> NDArray[np.float64]:
    """Predicted basin tables from kernels estimated on the first ``n`` runs, ``n = 1..R``.

    For each ``n``, :func:`coordinate_kernels` of ``states[:n]`` (and ``laws[i][:n]``), then
    :func:`basin_table` from ``starts``. A kernel only knows the states its runs visited (its
    other rows are imputed from them), so a basin that none of the first ``n`` runs reached
    is usually missing from the predictions: this is how many runs it takes to predict
    every basin (Zekri et al. 2024: one run sees one basin).

    Parameters
    ----------
    states : array_like of int, shape (R, T, d)
        ``R`` runs on shared grids (one scaler per coordinate).
    scalers : sequence of Scaler, length d
    starts, steps, basin_fn
        As in :func:`basin_table`.
    n_basins : int
    laws : sequence of array_like, length d, optional
        ``laws[i]`` of shape ``(R, T or T - 1, K)``; None: count the transitions.
    **kernel_options
        Passed to :func:`coordinate_kernels` (``smoothing``, ``method``, ...).

    Returns
    -------
    ndarray, shape (R, n_starts, n_basins)
        Entry ``[n - 1, j, b]``: predicted probability of basin ``b`` from ``starts[j]``
        with the kernels of the first ``n`` runs.
    """
    s = np.asarray(states)
    if s.ndim != 3:
        raise ValueError(f"states must have shape (runs, T, d), got {s.shape}")
    n_basins = _check_int(n_basins, "n_basins", 1)
    tables = []
    for n in range(1, s.shape[0] + 1):
        sub = None if laws is None else [np.asarray(law)[:n] for law in laws]
        kernels = coordinate_kernels(s[:n], scalers, sub, **kernel_options)  # type: ignore[arg-type]
        tables.append(basin_table(kernels, starts, steps, basin_fn, n_basins))
    return np.stack(tables)


def basins_reached(table: ArrayLike, n_basins: int, threshold: float) -> int:
    """How many minima some start reaches with probability at least ``threshold``.

    Parameters
    ----------
    table : array_like, shape (n_starts, n_basins + extra)
        A basin table (:func:`basin_table` or stacked :func:`basin_frequencies`); columns
        past the first ``n_basins`` (such as "near no minimum") are not minima.
    n_basins : int
        The number of minima: the first ``n_basins`` columns.
    threshold : float
        The probability from which a minimum counts as reached.

    Returns
    -------
    int
        The number of the first ``n_basins`` columns with an entry ``>= threshold``.
    """
    t = np.asarray(table, dtype=np.float64)
    if t.ndim != 2:
        raise ValueError(f"table must have shape (n_starts, n_basins), got {t.shape}")
    n_basins = _check_int(n_basins, "n_basins", 1)
    return int((t[:, :n_basins] >= threshold).any(axis=0).sum())


def runs_needed(reached: ArrayLike, n_basins: int) -> int:
    """The first number of runs ``n`` from which every one of ``n_basins`` minima is reached.

    Parameters
    ----------
    reached : array_like of int, shape (R,)
        ``reached[n - 1]``: the minima reached with ``n`` runs, ``n = 1 .. R`` (by the runs
        themselves, or by :func:`basins_reached` of :func:`basin_tables_by_runs`).
    n_basins : int

    Returns
    -------
    int
        The first ``n`` with ``reached[n - 1] == n_basins``; ``R + 1`` if there is none (not
        within the ``R`` runs).
    """
    r = np.asarray(reached)
    if r.ndim != 1:
        raise ValueError(f"reached must have shape (runs,), got {r.shape}")
    hit = r == n_basins
    return int(np.argmax(hit)) + 1 if hit.any() else r.size + 1
