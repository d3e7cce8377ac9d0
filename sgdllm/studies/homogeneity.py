"""Is an optimizer a homogeneous Markov chain on theta? A test, and a remedy when it is not.

Chapter: *Adaptive optimizers as Markov chains*.

**The test.** A chain ``theta_t`` is time-homogeneous when the law of the displacement
``Delta_t = theta_{t+1} - theta_t`` given ``theta_t = x`` does not depend on ``t``. With many
independent runs (``runs[r, t]``) we estimate that law near a point ``c`` by pooling the
displacements of every run and time of a window ``W`` whose iterate lies within ``rho`` of
``c``,

.. math::

    D_W = \\{\\, \\theta_{r,t+1} - \\theta_{r,t} : t \\in W,\\ \\|\\theta_{r,t} - c\\| \\le
    \\rho \\,\\},

and compare an early window ``W_e`` with a late one ``W_l`` by the sum over coordinates of
the one-dimensional Wasserstein-1 distances between the two empirical laws,

.. math::

    T(D_e, D_l) = \\sum_{i=1}^d W_1\\big(\\hat\\mu^{(i)}_e, \\hat\\mu^{(i)}_l\\big), \\qquad
    W_1(\\mu, \\nu) = \\int_{\\mathbb R} |F_\\mu(u) - F_\\nu(u)|\\, du ,

``F`` the empirical distribution functions. Even for a homogeneous chain ``T > 0`` (finite
samples, and the iterates inside the ball are not placed alike in the two windows), so ``T``
is read against a **permutation reference** (Good 2005, *Permutation, Parametric and Bootstrap
Tests of Hypotheses*): the two samples are pooled, relabelled at random ``n_perm`` times, and
``T`` recomputed; under homogeneity (exchangeable labels) ``T`` is a draw of that null law.
Displacements of one run at nearby times are dependent, so a sample-by-sample relabelling would
make the reference too narrow; we relabel **by run** instead (each run's early and late
displacements swap sides together with probability 1/2, a paired block permutation), which
keeps the within-run dependence in the reference. The
p-value is ``(1 + #{T_perm >= T}) / (1 + n_perm)``, and ``T / mean(T_perm)`` (the *drift ratio*)
is about 1 at the noise floor and large when the kernel has drifted. The same statistic between
two groups of one window (e.g. split by the optimizer's state) measures how much the law of the
next iterate depends on something other than ``theta``.

For constant-step SGD (Dieuleveut, Durmus & Bach 2020) and for RMSProp and Adam with fixed
hyperparameters once their state has reached its stationary regime, the law of ``Delta_t`` near
``c`` is the same at all times; for AdaGrad (Duchi, Hazan & Singer 2011) the accumulated squares
``s_t`` grow like ``t`` and the displacements shrink like ``1/sqrt(t)``.

**The remedy.** RMSProp, Adam and AdaGrad are homogeneous chains on the augmented state
``(theta, s)`` (K. Yuan, lecture notes *Adaptive SGD*; :mod:`sgdllm.sgd.optimizers`). Per coordinate
we serialize the state ``s_i`` as an extra discrete coordinate: ``log s_i`` is cut into ``B``
quantile bins (:func:`state_edges`, :func:`state_bins`), and the joint chain on
``(theta-state, s-bin)`` (``K B`` states) is counted (:func:`augmented_count_kernel`). Its
unvisited rows are filled by the theta-only kernel with the bin held fixed,

.. math::

    \\hat Q[(a, b), (a', b')] = \\begin{cases}
    N[(a, b), (a', b')] / N[(a, b), \\cdot] & \\text{if } N[(a, b), \\cdot] > 0, \\\\
    P[a, a'] \\, 1\\{b' = b\\} & \\text{otherwise,}
    \\end{cases}

and the law of ``theta_i`` at time ``t`` is the marginal of ``delta_{(a_0, b_0)} Q^t``
(:func:`augmented_theta_laws`), the start carrying the optimizer's initial state ``s_0 = 0``.
:func:`state_remedy_w1` runs the remedy on every coordinate of a set of training runs and
scores it against real runs.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import scipy.sparse
from numpy.typing import ArrayLike, NDArray

from sgdllm.discretize import Scaler
from sgdllm.metrics import w1

__all__ = [
    "HomogeneityTest",
    "augmented_count_kernel",
    "augmented_theta_laws",
    "homogeneity_test",
    "neighbourhood_displacements",
    "permutation_test",
    "sample_w1",
    "state_bins",
    "state_dependence_test",
    "state_edges",
    "state_remedy_w1",
    "two_sample_statistic",
    "w1_to_samples",
]

FloatArray = NDArray[np.float64]
#: Floor under the optimizer state before taking logs (``s_0 = 0``).
_LOG_FLOOR = 1e-300


def _check_int(value: int, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def _samples(x: ArrayLike, name: str) -> FloatArray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] == 0:
        raise ValueError(f"{name} must have shape (n,) or (n, d) with n >= 1; got {a.shape}.")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or inf; pass finite samples.")
    return a


# ----------------------------------------------------------------------------- statistics


def sample_w1(a: ArrayLike, b: ArrayLike) -> float:
    """Wasserstein-1 distance between two one-dimensional empirical laws.

    .. math::

        W_1(\\hat\\mu_a, \\hat\\mu_b) = \\int |F_a(u) - F_b(u)|\\, du ,

    computed exactly on the merged sorted sample (the integrand is piecewise constant).

    Parameters
    ----------
    a, b : array_like, shape (n,), (m,)

    Returns
    -------
    float
    """
    x = _samples(a, "a")
    y = _samples(b, "b")
    if x.shape[1] != 1 or y.shape[1] != 1:
        raise ValueError("sample_w1: pass one-dimensional samples; use two_sample_statistic.")
    x, y = np.sort(x[:, 0]), np.sort(y[:, 0])
    u = np.sort(np.concatenate([x, y]))
    fx = np.searchsorted(x, u[:-1], side="right") / x.size
    fy = np.searchsorted(y, u[:-1], side="right") / y.size
    return float(np.sum(np.abs(fx - fy) * np.diff(u)))


def two_sample_statistic(a: ArrayLike, b: ArrayLike) -> float:
    """``T(a, b) = sum_i W_1(a[:, i], b[:, i])``, the coordinate-wise W1 (see module docstring).

    Parameters
    ----------
    a, b : array_like, shape (n, d), (m, d)

    Returns
    -------
    float
    """
    x, y = _samples(a, "a"), _samples(b, "b")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"a and b must have the same dimension; got {x.shape} and {y.shape}.")
    return float(sum(sample_w1(x[:, i], y[:, i]) for i in range(x.shape[1])))


@dataclass(frozen=True)
class HomogeneityTest:
    """Result of :func:`permutation_test` / :func:`homogeneity_test`.

    Attributes
    ----------
    statistic : float
        ``T`` between the two samples.
    null_mean, null_q95 : float
        Mean and 95% quantile of ``T`` over the relabelled samples (the noise floor).
    p_value : float
        ``(1 + #{T_perm >= T}) / (1 + n_perm)``.
    ratio : float
        ``statistic / null_mean``: about 1 at the noise floor.
    n_a, n_b : int
        Sample sizes used.
    """

    statistic: float
    null_mean: float
    null_q95: float
    p_value: float
    ratio: float
    n_a: int
    n_b: int


def permutation_test(
    a: ArrayLike,
    b: ArrayLike,
    *,
    groups_a: ArrayLike | None = None,
    groups_b: ArrayLike | None = None,
    n_perm: int = 200,
    max_samples: int | None = 4000,
    seed: int = 0,
) -> HomogeneityTest:
    """Two-sample permutation test of ``T`` (:func:`two_sample_statistic`).

    Without groups, each relabelling is a uniform random split of the pooled sample into
    sizes ``n`` and ``m``. With groups (e.g. the run each sample comes from), each relabelling
    flips a fair coin per group and, for the groups that come up heads, moves that group's
    samples of ``a`` to ``b`` and those of ``b`` to ``a`` (a paired block permutation: exact
    under exchangeability of each group's two blocks, and robust to dependence within a group).

    Parameters
    ----------
    a, b : array_like, shape (n, d), (m, d)
        Samples of the two laws (e.g. displacements early and late).
    groups_a, groups_b : array_like of int, shape (n,), (m,), optional
        Group label of every sample; pass both or neither.
    n_perm : int, default 200
        Random relabellings of the pooled sample.
    max_samples : int or None, default 4000
        Each sample is first subsampled (without replacement) to at most this many points, to
        bound the cost; None keeps all.
    seed : int, default 0
        Seeds ``numpy.random.default_rng`` (subsampling and relabelling).

    Returns
    -------
    HomogeneityTest
    """
    x, y = _samples(a, "a"), _samples(b, "b")
    n_perm = _check_int(n_perm, "n_perm", 1)
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise ValueError(
            f"permutation_test: need at least 2 samples on each side, got {x.shape[0]} and "
            f"{y.shape[0]}; widen the neighbourhood (radius) or the windows, or add runs."
        )
    if (groups_a is None) != (groups_b is None):
        raise ValueError("permutation_test: pass both groups_a and groups_b, or neither.")
    grouped = groups_a is not None
    if grouped:
        ga, gb = np.asarray(groups_a), np.asarray(groups_b)
        if ga.shape != (x.shape[0],) or gb.shape != (y.shape[0],):
            raise ValueError(
                f"permutation_test: groups_a and groups_b must have shapes ({x.shape[0]},) and "
                f"({y.shape[0]},), one label per sample; got {ga.shape} and {gb.shape}."
            )
    else:
        ga, gb = np.zeros(x.shape[0], dtype=np.int64), np.zeros(y.shape[0], dtype=np.int64)
    rng = np.random.default_rng(seed)
    if max_samples is not None:
        max_samples = _check_int(max_samples, "max_samples", 2)
        if x.shape[0] > max_samples:
            keep = rng.choice(x.shape[0], max_samples, replace=False)
            x, ga = x[keep], ga[keep]
        if y.shape[0] > max_samples:
            keep = rng.choice(y.shape[0], max_samples, replace=False)
            y, gb = y[keep], gb[keep]
    stat = two_sample_statistic(x, y)
    pooled = np.concatenate([x, y])
    side = np.concatenate([np.zeros(x.shape[0], bool), np.ones(y.shape[0], bool)])
    labels, group = np.unique(np.concatenate([ga, gb]), return_inverse=True)
    null = np.empty(n_perm)
    for j in range(n_perm):
        if grouped:
            new_side = side ^ (rng.random(labels.size) < 0.5)[group]
            if new_side.all() or not new_side.any():
                new_side = side
        else:
            new_side = np.zeros(side.size, bool)
            new_side[rng.permutation(side.size)[x.shape[0] :]] = True
        null[j] = two_sample_statistic(pooled[~new_side], pooled[new_side])
    mean = float(null.mean())
    return HomogeneityTest(
        statistic=stat,
        null_mean=mean,
        null_q95=float(np.quantile(null, 0.95)),
        p_value=float((1 + np.sum(null >= stat)) / (1 + n_perm)),
        ratio=stat / mean if mean > 0 else float("inf"),
        n_a=int(x.shape[0]),
        n_b=int(y.shape[0]),
    )


def _window(window: tuple[int, int], length: int, name: str) -> tuple[int, int]:
    try:
        start, stop = (int(w) for w in window)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (start, stop) of ints; got {window!r}.") from None
    if not 0 <= start < stop <= length - 1:
        raise ValueError(
            f"{name} = {window!r} must satisfy 0 <= start < stop <= {length - 1} (the last "
            f"displacement of runs with {length} iterates starts at {length - 2})."
        )
    return start, stop


def neighbourhood_displacements(
    runs: ArrayLike,
    window: tuple[int, int],
    centre: ArrayLike,
    radius: float,
    *,
    return_runs: bool = False,
) -> FloatArray | tuple[FloatArray, NDArray[np.int64]]:
    """Displacements ``theta_{t+1} - theta_t`` of all runs, ``start <= t < stop``, near ``c``.

    Keeps the pairs with ``||theta_t - centre||_2 <= radius`` (the set ``D_W`` of the module
    docstring).

    Parameters
    ----------
    runs : array_like, shape (R, T + 1, d)
        Trajectories, e.g. from :func:`sgdllm.sgd.runs.run_sgd`.
    window : (int, int)
        ``(start, stop)``, times of the current iterate.
    centre : array_like, shape (d,)
    radius : float
        ``> 0``.
    return_runs : bool, default False
        Also return the run index of every displacement.

    Returns
    -------
    displacements : ndarray, shape (n, d)
    run_index : ndarray of int, shape (n,)
        Only with ``return_runs=True``.
    """
    r = np.asarray(runs, dtype=np.float64)
    if r.ndim != 3 or r.shape[1] < 2:
        raise ValueError(f"runs must have shape (R, T + 1, d) with T >= 1; got {r.shape}.")
    c = np.asarray(centre, dtype=np.float64)
    if c.shape != (r.shape[2],):
        raise ValueError(f"centre must have shape ({r.shape[2]},); got {c.shape}.")
    if not (np.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be a finite number > 0; got {radius!r}.")
    start, stop = _window(window, r.shape[1], "window")
    here, nxt = r[:, start:stop], r[:, start + 1 : stop + 1]
    near = np.linalg.norm(here - c, axis=2) <= radius
    disp = (nxt - here)[near]
    if return_runs:
        return disp, np.nonzero(near)[0].astype(np.int64)
    return disp


def homogeneity_test(
    runs: ArrayLike,
    early: tuple[int, int],
    late: tuple[int, int],
    centre: ArrayLike,
    radius: float,
    *,
    n_perm: int = 200,
    max_samples: int | None = 4000,
    seed: int = 0,
) -> HomogeneityTest:
    """Compare the one-step displacement laws near ``centre`` in two time windows.

    ``permutation_test(D_early, D_late)`` with the sets of :func:`neighbourhood_displacements`,
    relabelled by run (paired block permutation); see the module docstring for the statistic
    and its reference law.

    Parameters
    ----------
    runs : array_like, shape (R, T + 1, d)
    early, late : (int, int)
        Windows ``(start, stop)`` of the current iterate's time.
    centre : array_like, shape (d,)
    radius : float
    n_perm, max_samples, seed
        As in :func:`permutation_test`.

    Returns
    -------
    HomogeneityTest
    """
    a, ga = neighbourhood_displacements(runs, early, centre, radius, return_runs=True)
    b, gb = neighbourhood_displacements(runs, late, centre, radius, return_runs=True)
    return permutation_test(
        a, b, groups_a=ga, groups_b=gb, n_perm=n_perm, max_samples=max_samples, seed=seed
    )


# ----------------------------------------------------------------------------- remedy


def state_edges(values: ArrayLike, n_bins: int) -> FloatArray:
    """Inner edges of ``n_bins`` quantile bins of ``log(max(s, 1e-300))``.

    Parameters
    ----------
    values : array_like
        Optimizer-state values ``s >= 0`` seen in training (any shape).
    n_bins : int
        ``B >= 1``.

    Returns
    -------
    ndarray, shape (B - 1,)
        Increasing edges in log units, for :func:`state_bins`.
    """
    n_bins = _check_int(n_bins, "n_bins", 1)
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0 or not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ValueError("state_edges: values must be a non-empty array of finite numbers >= 0.")
    logs = np.log(np.maximum(v, _LOG_FLOOR))
    return np.quantile(logs, np.arange(1, n_bins) / n_bins)


def state_bins(values: ArrayLike, edges: ArrayLike) -> NDArray[np.int64]:
    """Bin index in ``0..B-1`` of each state value (``searchsorted`` of its log on ``edges``)."""
    v = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ValueError("state_bins: values must be finite numbers >= 0.")
    return np.searchsorted(np.asarray(edges), np.log(np.maximum(v, _LOG_FLOOR)), side="right")


def augmented_count_kernel(
    theta_states: ArrayLike, bins: ArrayLike, n_bins: int, fallback: ArrayLike
) -> FloatArray:
    """Counted kernel of the chain on ``(theta-state, state-bin)``, gaps filled by ``fallback``.

    The joint state ``(a, b)`` is indexed ``b K + a``. See the module docstring for the
    estimator (empirical frequencies; unvisited rows ``P[a, .]`` with the bin held fixed).

    Parameters
    ----------
    theta_states : array_like of int, shape (T,) or (R, T)
        States ``0..K-1`` of one coordinate.
    bins : array_like of int, same shape
        Bin ``0..B-1`` of the optimizer state of that coordinate at the same times.
    n_bins : int
        ``B``.
    fallback : array_like, shape (K, K)
        A complete row-stochastic theta-only kernel (e.g. ``coordinate_kernels(...)[i].matrix``).

    Returns
    -------
    ndarray, shape (K B, K B)
        Row-stochastic.
    """
    n_bins = _check_int(n_bins, "n_bins", 1)
    p = np.asarray(fallback, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != p.shape[1] or not np.allclose(p.sum(axis=1), 1.0):
        raise ValueError("fallback must be a complete (K, K) row-stochastic matrix.")
    k = p.shape[0]
    a, b = np.asarray(theta_states), np.asarray(bins)
    if a.shape != b.shape or a.ndim not in (1, 2) or a.shape[-1] < 2:
        raise ValueError(
            f"theta_states and bins must share a shape (T,) or (R, T) with T >= 2; got "
            f"{a.shape} and {b.shape}."
        )
    if a.min() < 0 or a.max() >= k or b.min() < 0 or b.max() >= n_bins:
        raise ValueError(f"states must lie in 0..{k - 1} and bins in 0..{n_bins - 1}.")
    joint = np.atleast_2d(b * k + a).astype(np.int64)
    n = k * n_bins
    counts = np.zeros((n, n))
    np.add.at(counts, (joint[:, :-1].ravel(), joint[:, 1:].ravel()), 1.0)
    total = counts.sum(axis=1)
    out = np.zeros((n, n))
    seen = total > 0
    out[seen] = counts[seen] / total[seen, None]
    for j in np.flatnonzero(~seen):
        bj, aj = divmod(int(j), k)
        out[j, bj * k : (bj + 1) * k] = p[aj]
    return out


def augmented_theta_laws(
    matrix: ArrayLike, theta_state: int, bin_index: int, n_bins: int, horizons: ArrayLike
) -> FloatArray:
    """Marginal laws of the theta-state at ``horizons`` from ``delta_{(a0, b0)}``.

    Parameters
    ----------
    matrix : array_like, shape (K B, K B)
        From :func:`augmented_count_kernel`.
    theta_state, bin_index : int
        Start ``(a0, b0)``.
    n_bins : int
        ``B``.
    horizons : array_like of int, shape (h,)
        Non-decreasing times ``>= 0``.

    Returns
    -------
    ndarray, shape (h, K)
        ``sum_b (delta Q^t)[(., b)]`` at each horizon.
    """
    q = np.asarray(matrix, dtype=np.float64)
    n_bins = _check_int(n_bins, "n_bins", 1)
    if q.ndim != 2 or q.shape[0] != q.shape[1] or q.shape[0] % n_bins:
        raise ValueError(f"matrix must be square with a multiple of n_bins rows; got {q.shape}.")
    k = q.shape[0] // n_bins
    if not (0 <= theta_state < k and 0 <= bin_index < n_bins):
        raise ValueError(
            f"start ({theta_state}, {bin_index}) outside 0..{k - 1} x 0..{n_bins - 1}."
        )
    h = np.asarray(horizons)
    if h.ndim != 1 or h.size == 0 or h.min() < 0 or np.any(np.diff(h) < 0):
        raise ValueError(f"horizons must be non-decreasing integers >= 0; got {horizons!r}.")
    qt = scipy.sparse.csr_matrix(q.T)  # counted rows are sparse: one product is cheap
    law = np.zeros(q.shape[0])
    law[bin_index * k + theta_state] = 1.0
    out, t = np.empty((h.size, k)), 0
    for j, target in enumerate(h):
        for _ in range(int(target) - t):
            law = qt @ law
        t = int(target)
        out[j] = law.reshape(n_bins, k).sum(axis=0)
    return out


def w1_to_samples(laws: ArrayLike, scaler: Scaler, samples: ArrayLike) -> FloatArray:
    """W1 (value units) between predicted laws on a grid and histograms of real values.

    Row ``j`` of ``laws`` is compared with the histogram of ``samples[:, j]`` on the grid of
    ``scaler`` (values beyond the grid count on the edge states), as in
    :func:`sgdllm.predict.compare_with_runs`.

    Parameters
    ----------
    laws : array_like, shape (h, K)
    scaler : Scaler
    samples : array_like, shape (n, h)
        Real values of the coordinate at the same horizons.

    Returns
    -------
    ndarray, shape (h,)
    """
    p = np.asarray(laws, dtype=np.float64)
    x = np.asarray(samples, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != scaler.n_states or x.ndim != 2 or x.shape[1] != p.shape[0]:
        raise ValueError(
            f"laws must be (h, {scaler.n_states}) and samples (n, h); got {p.shape}, {x.shape}."
        )
    states = scaler.to_states(x, warn=False)
    hist = np.stack(
        [np.bincount(states[:, j], minlength=scaler.n_states) for j in range(x.shape[1])]
    )
    return np.asarray(w1(p, hist / x.shape[0], scaler.bin_width))


def state_remedy_w1(
    theta_states: ArrayLike,
    state: ArrayLike,
    scalers: list[Scaler],
    fallbacks: list[ArrayLike],
    x0: ArrayLike,
    real: ArrayLike,
    horizons: ArrayLike,
    n_bins: int,
) -> FloatArray:
    """W1 by horizon of the remedy's predictions against real runs, mean over coordinates.

    For each coordinate ``i``: ``B = n_bins`` quantile bins of the training state
    (:func:`state_edges`, :func:`state_bins`), the joint kernel counted on
    ``(theta-state, s-bin)`` with the theta-only kernel as fallback
    (:func:`augmented_count_kernel`), the marginal laws of theta from the start's state and the
    bin of ``s_0 = 0`` (:func:`augmented_theta_laws`), scored against the real values at each
    horizon (:func:`w1_to_samples`).

    Parameters
    ----------
    theta_states : array_like of int, shape (R, T + 1, d)
        The training runs, discretized per coordinate on ``scalers``.
    state : array_like, shape (R, T + 1, d)
        The optimizer state ``s`` along the same runs.
    scalers : list of Scaler, length d
    fallbacks : list of array_like, each of shape (K_i, K_i)
        The theta-only kernel of each coordinate (complete rows).
    x0 : array_like, shape (d,)
        Start of the predictions and of the real runs.
    real : array_like, shape (n, max(horizons) + 1, d)
        Real runs from ``x0``.
    horizons : array_like of int, shape (h,)
    n_bins : int

    Returns
    -------
    ndarray, shape (h,)
        W1 in value units at each horizon, averaged over the coordinates.
    """
    a, s, x = np.asarray(theta_states), np.asarray(state), np.asarray(real)
    start, h = np.asarray(x0, dtype=np.float64), np.asarray(horizons)
    d = len(scalers)
    if a.shape != s.shape or a.ndim != 3 or a.shape[-1] != d or len(fallbacks) != d:
        raise ValueError(
            f"pass theta_states and state of one shape (R, T + 1, d) with one scaler and one "
            f"fallback kernel per coordinate; got {a.shape}, {s.shape}, {d} scalers and "
            f"{len(fallbacks)} kernels"
        )
    per_coord = []
    for i, sc in enumerate(scalers):
        edges = state_edges(s[..., i], n_bins)
        bins = state_bins(s[..., i], edges)
        joint = augmented_count_kernel(a[..., i], bins, n_bins, fallbacks[i])
        laws = augmented_theta_laws(
            joint, int(sc.to_states(start[i])), int(state_bins(0.0, edges)), n_bins, h
        )
        per_coord.append(w1_to_samples(laws, sc, x[:, h, i]))
    return np.mean(per_coord, axis=0)


def state_dependence_test(
    runs: ArrayLike,
    state: ArrayLike,
    window: tuple[int, int],
    centre: ArrayLike,
    radius: float,
    *,
    n_perm: int = 200,
    max_samples: int | None = 4000,
    seed: int = 0,
) -> HomogeneityTest:
    """Does the next iterate depend on the optimizer state, given ``theta``?

    Within one window and one neighbourhood (as in :func:`neighbourhood_displacements`), the
    displacements are split by whether ``sum_i log s_{t,i}`` (the optimizer state at the same
    time) is below or above its median, and the two halves are compared by
    :func:`permutation_test`, relabelled by run. A ratio near 1 means the state carries no
    information beyond ``theta`` (``theta`` alone is Markov there); a large ratio means
    ``theta`` alone is not.

    Parameters
    ----------
    runs : array_like, shape (R, T + 1, d)
    state : array_like, shape (R, T + 1, d)
        The optimizer state ``s`` at the same times (``run_sgd(..., return_state=True)``).
    window, centre, radius
        As in :func:`neighbourhood_displacements`.
    n_perm, max_samples, seed
        As in :func:`permutation_test`.

    Returns
    -------
    HomogeneityTest
        ``a``: low-state half, ``b``: high-state half.
    """
    r = np.asarray(runs, dtype=np.float64)
    s = np.asarray(state, dtype=np.float64)
    if s.shape != r.shape:
        raise ValueError(f"state must have the shape of runs {r.shape}; got {s.shape}.")
    if not np.all(np.isfinite(s)) or np.any(s < 0):
        raise ValueError("state must be finite and >= 0 (the accumulated squares s).")
    disp, run = neighbourhood_displacements(r, window, centre, radius, return_runs=True)
    start, stop = _window(window, r.shape[1], "window")
    here = r[:, start:stop]
    near = np.linalg.norm(here - np.asarray(centre, dtype=np.float64), axis=2) <= radius
    key = np.log(np.maximum(s[:, start:stop], _LOG_FLOOR)).sum(axis=2)[near]
    low = key <= np.median(key)
    return permutation_test(
        disp[low],
        disp[~low],
        groups_a=run[low],
        groups_b=run[~low],
        n_perm=n_perm,
        max_samples=max_samples,
        seed=seed,
    )
