"""Transition kernels on the state grid, and the estimators that need no language model.

Chapter: *Extracting transition probabilities* (and *Imputation* for empty rows).

A kernel is a row-stochastic ``K x K`` matrix ``P`` with ``P[s, s'] = P(s_{t+1} = s' | s_t = s)``
on the grid of ``K = 10**digits`` states of one coordinate. In the paper's block view of a
``d``-dimensional chain, ``Q = [lambda_ij P^(ij)]``, each such kernel is one diagonal block
``P^(ii)``.

Estimators from one discretized trajectory ``s_0, ..., s_T`` (or several runs of one chain):

* :func:`count_kernel` -- the empirical transition frequencies, their Laplace (add-one)
  smoothing, or the Gaussian-smoothed conditional density estimator of Rosenblatt (1969) and
  Hyndman, Bashtannyk & Grunwald (1996), with bandwidths from :func:`rule_bandwidth` or
  leave-one-out cross-validation (:func:`cv_bandwidth`). These are the classical baselines
  the language model is compared with (Liu et al. 2024, "LLMs learn governing principles of
  dynamical systems, revealing an in-context neural scaling law").
* :func:`kernel_from_laws` -- the entry point of the language-model estimator: it turns the
  next-state laws read off the model, one per step, into the rows of a kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse

from sgdllm.discretize import HIGH, LOW, Scaler, check_digits

__all__ = [
    "H_EXACT",
    "MAX_KERNEL_DIGITS",
    "Kernel",
    "ar1_fit_kernel",
    "count_kernel",
    "cv_bandwidth",
    "kernel_from_laws",
    "loo_log_likelihood",
    "one_hot_laws",
    "rule_bandwidth",
    "transition_counts",
]

#: Dense kernels are ``10**digits`` squared: 3 digits (10^6 entries) is the largest we allow.
MAX_KERNEL_DIGITS = 3


@dataclass(frozen=True, eq=False)
class Kernel:
    """A transition kernel of one coordinate on its state grid.

    Attributes
    ----------
    matrix : ndarray, shape (K, K)
        ``matrix[s]`` is the law of the next state from state ``s``. Rows of states without
        an estimate are all zero (not yet defined); every other row sums to 1.
    visited : ndarray of bool, shape (K,)
        States the data visited as a *current* state (rows backed by observations).
    counts : ndarray of float, shape (K,)
        How many observed transitions (or next-state laws) left each state.
    scaler : Scaler or None
        Maps values of the coordinate to states and back.
    method : str
        How the kernel was made, e.g. ``"counts"``, ``"laplace"``, ``"laws"``, and the
        imputation applied afterwards (``"counts+impute(ot)"``).
    """

    matrix: NDArray[np.float64]
    visited: NDArray[np.bool_]
    counts: NDArray[np.float64]
    scaler: Scaler | None = None
    method: str = ""

    def __post_init__(self) -> None:
        m = np.asarray(self.matrix, dtype=np.float64)
        if m.ndim != 2 or m.shape[0] != m.shape[1]:
            raise ValueError(f"a kernel matrix must be square, got shape {m.shape}")
        k = m.shape[0]
        if not np.all(np.isfinite(m)) or (m < 0).any():
            raise ValueError("a kernel matrix must be finite and non-negative")
        sums = m.sum(axis=1)
        bad = (sums > 0) & (np.abs(sums - 1.0) > 1e-8)
        if bad.any():
            s = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"row {s} of the kernel sums to {sums[s]:.6g}; rows must sum to 1 "
                f"(or be all zero for undefined rows)"
            )
        visited = np.asarray(self.visited, dtype=bool)
        counts = np.asarray(self.counts, dtype=np.float64)
        if visited.shape != (k,) or counts.shape != (k,):
            raise ValueError(
                f"visited and counts must have shape ({k},), got {visited.shape} and {counts.shape}"
            )
        if self.scaler is not None and self.scaler.n_states != k:
            raise ValueError(
                f"scaler has {self.scaler.n_states} states but the matrix is {k} x {k}"
            )
        object.__setattr__(self, "matrix", m)
        object.__setattr__(self, "visited", visited)
        object.__setattr__(self, "counts", counts)

    @property
    def n_states(self) -> int:
        """Number of states ``K``."""
        return self.matrix.shape[0]

    @property
    def digits(self) -> int:
        """Digits per value, ``log10(K)``."""
        return int(round(np.log10(self.n_states)))  # noqa: RUF046

    @property
    def defined(self) -> NDArray[np.bool_]:
        """Rows that hold a probability law (sum to 1), shape ``(K,)``."""
        return self.matrix.sum(axis=1) > 0

    @property
    def is_complete(self) -> bool:
        """True when every row is defined, so that the kernel can be propagated."""
        return bool(self.defined.all())

    def with_matrix(self, matrix: NDArray[np.float64], method: str) -> Kernel:
        """A copy with a new matrix and method tag; ``visited``, ``counts``, ``scaler`` kept."""
        return replace(self, matrix=matrix, method=method)

    def __repr__(self) -> str:
        return (
            f"Kernel(K={self.n_states}, visited={int(self.visited.sum())}, "
            f"defined={int(self.defined.sum())}, method={self.method!r})"
        )


#: Smallest bandwidth searched by :func:`cv_bandwidth`, in states. At ``h = 0.2`` a neighbouring
#: state weighs ``exp(-1 / (2 h^2)) = 3.7e-6``: the Gaussian estimate is then the empirical
#: counts up to ~1e-5, which chains that revisit a few exact states need.
CV_H_MIN = 0.2
#: Below this bandwidth (in states) the Gaussian weight of a neighbouring state,
#: ``exp(-1 / (2 h^2))`` (``exp(-1250)`` at 0.02), is exactly 0 in double precision: the
#: estimate is the same for every smaller ``h``, which is therefore computed with this one
#: (``1 / h^2`` itself would overflow for ``h`` near 1e-300 and fill the kernel with NaN).
H_EXACT = 0.02
#: Uniform mass mixed into each leave-one-out prediction of the CV score (see cv_bandwidth).
CV_FLOOR = 1e-3
#: Points per axis of each refinement grid of :func:`cv_bandwidth`.
_N_FINE = 9
#: Memory budget of one chunk of the leave-one-out computation, in bytes.
_CHUNK_BYTES = 1 << 26

Bandwidth = str | float | tuple[float, float]


# ----------------------------------------------------------------------------- validation


def _check_kernel_digits(digits: int) -> int:
    """Validate ``digits`` for a dense kernel (at most :data:`MAX_KERNEL_DIGITS`)."""
    return check_digits(digits, MAX_KERNEL_DIGITS)


def _check_scaler(scaler: Scaler | None, digits: int) -> None:
    """Raise unless ``scaler`` is None or a :class:`Scaler` with the same ``digits``."""
    if scaler is None:
        return
    if not isinstance(scaler, Scaler):
        raise ValueError(f"scaler must be a sgdllm.discretize.Scaler or None, got {type(scaler)}")
    if scaler.digits != digits:
        raise ValueError(
            f"scaler has digits={scaler.digits} but the kernel is built with digits={digits}; "
            f"pass the scaler that discretized these states"
        )


def _as_runs(states: ArrayLike, digits: int | None, min_steps: int = 2) -> NDArray[np.int64]:
    """Validate one run ``(T,)`` or several ``(runs, T)`` of states; return ``(runs, T)`` int64.

    Integer-valued floats are accepted; ``digits=None`` skips the upper range check.
    """
    arr = np.asarray(states)
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise ValueError(
            f"states must be an array of integers, got dtype {arr.dtype}; map values to states "
            f"with Scaler.to_states (or sgdllm.discretize.discretize) first"
        )
    if arr.ndim not in (1, 2):
        raise ValueError(
            f"states must have shape (steps,) for one run or (runs, steps), got {arr.shape}; "
            f"pass one coordinate at a time"
        )
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise ValueError(
                "states contain NaN or Inf; discretize a finite trajectory (a diverged run "
                "usually means the step size is too large)"
            )
        if np.any(arr != np.rint(arr)):
            raise ValueError(
                "states must be integers, got non-integer values; map values to states with "
                "Scaler.to_states first"
            )
    runs = np.atleast_2d(arr).astype(np.int64)
    if runs.shape[1] < min_steps:
        raise ValueError(
            f"need at least {min_steps} step(s) per run, got {runs.shape[1]}; "
            f"pass a longer trajectory"
        )
    if runs.size and runs.min() < 0:
        raise ValueError(f"states must be non-negative, got a minimum of {runs.min()}")
    if digits is not None and runs.size and runs.max() >= 10**digits:
        raise ValueError(
            f"states must lie in 0..{10**digits - 1} for digits={digits}, got values up to "
            f"{runs.max()}; pass the digits used to discretize them "
            f"(digits={len(str(runs.max()))}?)"
        )
    return runs


def _transitions(runs: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Current and next states of every transition, within runs only: ``(src, dst)``."""
    return runs[:, :-1].ravel(), runs[:, 1:].ravel()


def _count_matrix(src: NDArray[np.int64], dst: NDArray[np.int64], k: int) -> NDArray[np.float64]:
    """``C[s, s']`` = number of transitions ``s -> s'``, shape ``(k, k)``."""
    return np.bincount(src * k + dst, minlength=k * k).reshape(k, k).astype(np.float64)


# ----------------------------------------------------------------------------- counts


def transition_counts(states: ArrayLike, digits: int) -> NDArray[np.float64]:
    """Count the transitions of a discretized trajectory.

    Parameters
    ----------
    states : array_like of int, shape (T,) or (runs, T)
        States in ``0..10**digits - 1``; with several runs, only transitions within a run count.
    digits : int

    Returns
    -------
    ndarray, shape (K, K)
        ``C[s, s'] = #{t : s_t = s, s_{t+1} = s'}``.
    """
    digits = _check_kernel_digits(digits)
    src, dst = _transitions(_as_runs(states, digits))
    return _count_matrix(src, dst, 10**digits)


def rule_bandwidth(states: ArrayLike, *, floor: float = 0.5) -> float:
    """Normal-reference (rule-of-thumb) bandwidth for the joint law of ``(s_t, s_{t+1})``.

    .. math::

        h = \\max\\left(\\hat\\sigma \\, n^{-1/6}, \\; h_{floor}\\right), \\qquad
        \\hat\\sigma = \\min\\left(\\mathrm{sd}, \\; \\mathrm{IQR} / 1.349\\right),

    the rule of Silverman (1986, eqs. 3.31 and 4.14) for a ``d = 2`` dimensional Gaussian
    product kernel, whose constant ``(4 / (d + 2))^{1 / (d + 4)}`` is 1 (Scott's rule), with
    Silverman's robust scale (whichever of sd and IQR/1.349 is positive if one is zero) and
    ``n`` the number of transitions. The floor (half a state by default) keeps the estimate a
    smoothing of the grid when the states barely move.

    Parameters
    ----------
    states : array_like of int, shape (T,) or (runs, T)
    floor : float
        Smallest bandwidth returned, in states.

    Returns
    -------
    float
        Bandwidth in states, used for both the current and the next state.
    """
    if not (np.isfinite(floor) and floor > 0):
        raise ValueError(f"floor must be a positive number of states, got {floor}")
    runs = _as_runs(states, None)
    x = runs.ravel().astype(np.float64)
    n = runs.shape[0] * (runs.shape[1] - 1)
    q75, q25 = np.percentile(x, [75, 25])
    scales = [v for v in (x.std(ddof=1) if x.size > 1 else 0.0, (q75 - q25) / 1.349) if v > 0]
    sigma = min(scales) if scales else 0.0
    return float(max(sigma * n ** (-1.0 / 6.0), floor))


def _discrete_gaussian(centres: NDArray[np.int64], k: int, h: float) -> NDArray[np.float64]:
    """Gaussian laws on the grid: row ``i`` is ``exp(-(s - c_i)^2 / 2h^2)`` normalized over s.

    Centres are states, so each row's largest term is ``exp(0) = 1`` and nothing underflows
    to an all-zero row.
    """
    d2 = (np.arange(k)[None, :] - centres[:, None]).astype(np.float64) ** 2
    g = np.exp(-d2 / (2.0 * h * h))
    return g / g.sum(axis=1, keepdims=True)


def _nadaraya_watson(
    src: NDArray[np.int64], dst: NDArray[np.int64], k: int, hx: float, hy: float
) -> NDArray[np.float64]:
    """Gaussian-smoothed conditional law on the grid (see :func:`count_kernel`).

    Transitions are aggregated into distinct pairs ``(a, b)`` with counts ``C[a, b]``, so
    that ``P = W C G / (W C 1)`` with ``W[s, a] = w_hx(s - a)`` and ``G[b, s'] = g_hy(s' | b)``.
    Each row of ``W`` is rescaled by the weight of its nearest source (which cancels in the
    ratio) so that it cannot underflow; the row is undefined when that nearest weight
    ``exp(-d_min^2 / 2 hx^2)`` itself underflows in double precision (``d_min > ~38.6 hx``).
    """
    pairs, c = np.unique(src * k + dst, return_counts=True)
    a_vals, a_idx = np.unique(pairs // k, return_inverse=True)
    b_vals, b_idx = np.unique(pairs % k, return_inverse=True)
    cab = np.zeros((a_vals.size, b_vals.size))
    cab[a_idx, b_idx] = c
    e = (np.arange(k)[:, None] - a_vals[None, :]).astype(np.float64) ** 2 / (2.0 * hx * hx)
    shift = e.min(axis=1)
    w = np.exp(shift[:, None] - e)
    defined = np.exp(-shift) > 0.0
    num = w[defined] @ (cab @ _discrete_gaussian(b_vals, k, hy))
    den = w[defined] @ cab.sum(axis=1)
    matrix = np.zeros((k, k))
    rows = num / den[:, None]
    matrix[defined] = rows / rows.sum(axis=1, keepdims=True)
    return matrix


def _resolve_bandwidth(
    bandwidth: Bandwidth, runs: NDArray[np.int64], digits: int
) -> tuple[float, float]:
    """Turn ``"rule"``, ``"cv"``, a float or a pair into ``(hx, hy)`` in states."""
    if isinstance(bandwidth, str):
        if bandwidth == "rule":
            h = rule_bandwidth(runs)
            return h, h
        if bandwidth == "cv":
            return cv_bandwidth(runs, digits)
        raise ValueError(
            f"bandwidth must be 'rule', 'cv', a positive float or a pair (hx, hy), "
            f"got {bandwidth!r}"
        )
    arr = np.asarray(bandwidth, dtype=np.float64)
    if arr.shape not in ((), (2,)):
        raise ValueError(
            f"bandwidth must be 'rule', 'cv', a positive float or a pair (hx, hy), "
            f"got an array of shape {arr.shape}"
        )
    hx, hy = (float(arr), float(arr)) if arr.ndim == 0 else (float(arr[0]), float(arr[1]))
    if not (np.isfinite(hx) and np.isfinite(hy) and hx > 0 and hy > 0):
        raise ValueError(f"bandwidths must be positive and finite (in states), got {bandwidth!r}")
    return max(hx, H_EXACT), max(hy, H_EXACT)


def count_kernel(
    states: ArrayLike,
    digits: int,
    smoothing: str | None = None,
    *,
    bandwidth: Bandwidth = "cv",
    scaler: Scaler | None = None,
) -> Kernel:
    """Estimate a transition kernel from a discretized trajectory without a language model.

    With ``C[s, s']`` the number of transitions ``s -> s'`` (within runs) and
    ``n_s = sum_{s'} C[s, s']``:

    * ``smoothing=None`` -- empirical frequencies (the maximum-likelihood estimate),
      ``P[s, s'] = C[s, s'] / n_s`` on visited rows; rows of unvisited states stay all zero
      (undefined, to be imputed).
    * ``"laplace"`` -- add-one smoothing, ``P[s, s'] = (C[s, s'] + 1) / (n_s + K)`` on *every*
      row, so unvisited rows are uniform.
    * ``"gaussian"`` -- the kernel conditional density estimator of Rosenblatt (1969) and
      Hyndman, Bashtannyk & Grunwald (1996), a Nadaraya-Watson average of smoothed next
      states, evaluated on the grid:

      .. math::

          P(s' \\mid s) = \\frac{\\sum_t w_{h_x}(s - s_t) \\, g_{h_y}(s' \\mid s_{t+1})}
                               {\\sum_t w_{h_x}(s - s_t)}, \\qquad
          w_h(u) = e^{-u^2 / 2h^2}, \\quad
          g_h(s' \\mid b) = \\frac{e^{-(s' - b)^2 / 2h^2}}{\\sum_{r=0}^{K-1} e^{-(r - b)^2 / 2h^2}},

      a discrete Gaussian law on the ``K`` states (so every defined row is a law; mass that
      would leave the grid is renormalized onto it). As ``h_x, h_y -> 0`` visited rows tend to
      the empirical frequencies. Unvisited rows borrow from visited states nearby; a row is
      left undefined (all zero) when the weight of its nearest visited state,
      ``exp(-d^2 / 2 h_x^2)``, underflows in double precision (``d > ~38.6 h_x`` states).

    This is the classical setting the language model competes with (Liu et al. 2024).

    Parameters
    ----------
    states : array_like of int, shape (T,) or (runs, T)
        States in ``0..10**digits - 1``; with several runs, transitions are pooled within runs.
    digits : int
        ``K = 10**digits`` states, at most :data:`MAX_KERNEL_DIGITS` digits.
    smoothing : {None, "laplace", "gaussian"}
    bandwidth : "cv", "rule", float or (float, float)
        Gaussian smoothing only, in states: ``"cv"`` (default) maximizes the leave-one-out
        likelihood (:func:`cv_bandwidth`), ``"rule"`` is :func:`rule_bandwidth` for both
        axes, a float sets ``h_x = h_y``, a pair sets ``(h_x, h_y)``. Bandwidths below
        :data:`H_EXACT` give the empirical frequencies on visited rows, as ``H_EXACT`` does.
    scaler : Scaler, optional
        Stored on the kernel (maps states back to values).

    Returns
    -------
    Kernel
        ``visited`` and ``counts`` are the empirical ones (``n_s > 0`` and ``n_s``) whatever the
        smoothing; ``method`` is ``"counts"``, ``"laplace"`` or ``"gaussian(hx=..,hy=..)"``.
    """
    digits = _check_kernel_digits(digits)
    _check_scaler(scaler, digits)
    runs = _as_runs(states, digits)
    k = 10**digits
    src, dst = _transitions(runs)
    c = _count_matrix(src, dst, k)
    n = c.sum(axis=1)
    visited = n > 0
    if smoothing is None:
        matrix = np.zeros((k, k))
        matrix[visited] = c[visited] / n[visited, None]
        method = "counts"
    elif smoothing == "laplace":
        matrix = (c + 1.0) / (n[:, None] + k)
        method = "laplace"
    elif smoothing == "gaussian":
        hx, hy = _resolve_bandwidth(bandwidth, runs, digits)
        matrix = _nadaraya_watson(src, dst, k, hx, hy)
        method = f"gaussian(hx={hx:.3g},hy={hy:.3g})"
    else:
        raise ValueError(f"smoothing must be None, 'laplace' or 'gaussian', got {smoothing!r}")
    return Kernel(matrix, visited, n, scaler, method)


# ----------------------------------------------------------------------------- cross-validation


def _gaussian_normalizers(k: int, hy: NDArray[np.float64]) -> NDArray[np.float64]:
    """``Z[j, b] = sum_{s=0}^{K-1} exp(-(s - b)^2 / 2 hy_j^2)``, shape ``(len(hy), K)``."""
    d = np.arange(-(k - 1), k, dtype=np.float64)
    e = np.exp(-(d[None, :] ** 2) / (2.0 * hy[:, None] ** 2))
    cs = np.concatenate([np.zeros((hy.size, 1)), np.cumsum(e, axis=1)], axis=1)
    b = np.arange(k)
    return cs[:, 2 * k - 1 - b] - cs[:, k - 1 - b]


def _loo_scores(
    src: NDArray[np.int64],
    dst: NDArray[np.int64],
    k: int,
    hx: NDArray[np.float64],
    hy: NDArray[np.float64],
    floor: float,
    held_out: NDArray[np.int64],
) -> NDArray[np.float64]:
    """Mean leave-one-out log likelihood of the held-out transitions, shape ``(n_hx, n_hy)``.

    Transitions are aggregated into distinct pairs ``q`` with counts ``c_q``; removing the
    held-out transition ``p`` from the training set subtracts one from its own pair's count,
    which is exact (no cancellation). Weights in the current state are rescaled by that of the
    nearest remaining source, as in :func:`count_kernel`, so ratios never underflow; a
    prediction whose nearest weight underflows is undefined and replaced by the uniform law.
    All bandwidths are scored at once: ``num[p, i, j] = sum_q W_i[p, q] G_j[q, p]`` is one
    batched matrix product per chunk of held-out pairs.
    """
    codes = src * k + dst
    pairs, c = np.unique(codes, return_counts=True)
    a_q, b_q = pairs // k, pairs % k
    ev, mult = np.unique(codes[held_out], return_counts=True)
    pos = np.searchsorted(pairs, ev)
    a_p, b_p = ev // k, ev % k
    inv_x = 1.0 / (2.0 * hx**2)
    inv_y = 1.0 / (2.0 * hy**2)
    g_norm = (1.0 / _gaussian_normalizers(k, hy)[:, b_q]).T  # (P, n_hy)
    n_q = pairs.size
    chunk = max(1, _CHUNK_BYTES // (8 * n_q * (hx.size + hy.size + 4)))
    total = np.zeros((hx.size, hy.size))
    for lo in range(0, ev.size, chunk):
        sl = slice(lo, lo + chunk)
        r = a_p[sl].size
        c_eff = np.tile(c.astype(np.float64), (r, 1))
        c_eff[np.arange(r), pos[sl]] -= 1.0
        dx2 = (a_p[sl, None] - a_q[None, :]).astype(np.float64) ** 2
        dmin2 = np.where(c_eff > 0, dx2, np.inf).min(axis=1)
        excess = np.maximum(dx2 - dmin2[:, None], 0.0)
        wx = np.exp(-excess[:, None, :] * inv_x[None, :, None]) * c_eff[:, None, :]
        dy2 = (b_p[sl, None] - b_q[None, :]).astype(np.float64) ** 2
        gy = np.exp(-dy2[:, :, None] * inv_y[None, None, :]) * g_norm[None, :, :]
        num = wx @ gy  # (r, n_hx, n_hy)
        den = wx.sum(axis=2)  # (r, n_hx)
        defined = (np.exp(-dmin2[:, None] * inv_x[None, :]) > 0.0) & (den > 0.0)
        prob = np.where(defined[:, :, None], num / np.where(defined, den, 1.0)[:, :, None], 1.0 / k)
        with np.errstate(divide="ignore"):
            lik = np.log((1.0 - floor) * prob + floor / k)
        total += np.tensordot(mult[sl].astype(np.float64), lik, axes=(0, 0))
    return total / mult.sum()


def _check_floor(floor: float) -> float:
    floor = float(floor)
    if not 0.0 <= floor < 1.0:
        raise ValueError(f"floor must be a probability mass in [0, 1), got {floor}")
    return floor


def _held_out(n: int, max_eval: int | None, seed: int) -> NDArray[np.int64]:
    """Indices of the transitions scored: all, or ``max_eval`` drawn without replacement."""
    if max_eval is None or n <= max_eval:
        return np.arange(n)
    if max_eval < 1:
        raise ValueError(f"max_eval must be a positive integer or None, got {max_eval}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=int(max_eval), replace=False))


def _check_bandwidths(h: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.atleast_1d(np.asarray(h, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or (arr <= 0).any():
        raise ValueError(f"{name} must be positive finite bandwidths (in states), got {h!r}")
    return np.maximum(arr, H_EXACT)  # the same scores below H_EXACT, without overflow


def loo_log_likelihood(
    states: ArrayLike,
    digits: int,
    hx: float | Sequence[float],
    hy: float | Sequence[float],
    *,
    floor: float = CV_FLOOR,
    max_eval: int | None = None,
    seed: int = 0,
) -> NDArray[np.float64]:
    """Leave-one-out log likelihood of the Gaussian estimator of :func:`count_kernel`.

    .. math::

        \\mathrm{CV}(h_x, h_y) = \\frac{1}{n} \\sum_t \\log\\Big((1 - \\varepsilon)
        \\hat P_{-t}(s_{t+1} \\mid s_t) + \\frac{\\varepsilon}{K}\\Big),

    where ``P_{-t}`` is the estimate from all transitions but the ``t``-th (Hall, Racine & Li
    2004; Hyndman et al. 1996 for the conditional density setting), ``epsilon`` is ``floor``,
    and a prediction whose weights all underflow (see :func:`count_kernel`) is the uniform law.

    Parameters
    ----------
    states : array_like of int, shape (T,) or (runs, T)
    digits : int
    hx, hy : float or sequence of float
        Bandwidths in states; every pair of the two grids is scored.
    floor : float
        Uniform mass ``epsilon`` mixed into each prediction so that a transition the others
        cannot predict costs ``log(epsilon / K)`` instead of ``-inf``.
    max_eval : int, optional
        Score only this many held-out transitions, drawn at random (all are still used to
        predict them); ``None`` scores all.
    seed : int
        Seed of that draw.

    Returns
    -------
    ndarray, shape (len(hx), len(hy))
        Mean log likelihood per scored transition, in nats.
    """
    digits = _check_kernel_digits(digits)
    runs = _as_runs(states, digits)
    src, dst = _transitions(runs)
    if src.size < 2:
        raise ValueError("leave-one-out needs at least 2 transitions; pass a longer trajectory")
    hx_arr, hy_arr = _check_bandwidths(hx, "hx"), _check_bandwidths(hy, "hy")
    held_out = _held_out(src.size, max_eval, seed)
    return _loo_scores(src, dst, 10**digits, hx_arr, hy_arr, _check_floor(floor), held_out)


def _least_smoothing_argmax(
    scores: NDArray[np.float64], hx: NDArray[np.float64], hy: NDArray[np.float64]
) -> tuple[int, int]:
    """Index of the best score; among near-ties (1e-9 relative), the smallest ``hx * hy``."""
    best = scores.max()
    near = scores >= best - 1e-9 * max(1.0, abs(best))
    size = np.log(hx)[:, None] + np.log(hy)[None, :]
    i, j = np.unravel_index(np.argmin(np.where(near, size, np.inf)), scores.shape)
    return int(i), int(j)


def _local_grid(h: float, step: float, h_min: float, h_max: float) -> NDArray[np.float64]:
    """``_N_FINE`` log-spaced points within one ``step`` (in log) of ``h``, clipped."""
    grid = h * np.exp(np.linspace(-step, step, _N_FINE))
    return np.unique(np.clip(grid, h_min, h_max))


def cv_bandwidth(
    states: ArrayLike,
    digits: int,
    *,
    floor: float = CV_FLOOR,
    h_min: float = CV_H_MIN,
    h_max: float | None = None,
    n_grid: int = 16,
    n_refine: int = 2,
    max_eval: int | None = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Bandwidths ``(h_x, h_y)`` of the Gaussian estimator chosen by leave-one-out likelihood.

    Maximizes :func:`loo_log_likelihood` over separate bandwidths for the current state
    (``h_x``) and the next state (``h_y``), the likelihood cross-validation of conditional
    densities (Hall, Racine & Li 2004; Hyndman et al. 1996), here on a grid:

    1. a ``n_grid x n_grid`` log-spaced grid over ``[h_min, h_max]`` (default: from 0.2 state,
       where the estimate is the empirical counts, to the range of the data);
    2. ``n_refine`` rounds of a ``9 x 9`` log-spaced grid spanning one step of the previous
       grid on each side of the best point (each round divides the step by 4), clipped to
       ``[h_min, h_max]``.

    Every grid is scored in one vectorized pass. Among scores within ``1e-9`` (relative) of
    the best, the least smoothing (smallest ``h_x h_y``) wins: a chain that revisits a few
    exact states scores the same for every ``h_x`` below the gap between them, and then the
    counts are the right answer.

    The floor ``epsilon`` (uniform mass ``epsilon / K`` per state) enters the score only: one
    transition that no other predicts would otherwise make the score ``-inf`` for every small
    ``h_y`` and force oversmoothing. It is not added to the estimate of :func:`count_kernel`,
    which stays the plain Rosenblatt estimator (metrics that need full support, like
    ``metrics.kl``, have their own ``eps``).

    Parameters
    ----------
    states : array_like of int, shape (T,) or (runs, T)
    digits : int
    floor : float
        ``epsilon`` above (default 1e-3).
    h_min, h_max : float
        Search range in states; ``h_max`` defaults to ``max(range of the states, 1)``.
    n_grid : int
        Points per axis of the first grid (default 16, a factor ~1.7 apart at 3 digits).
    n_refine : int
        Refinement rounds (default 2: final resolution ~3.5% at 3 digits).
    max_eval : int, optional
        Score at most this many held-out transitions (drawn with ``seed``); all transitions
        still predict them. Bounds the cost for long or pooled trajectories.
    seed : int

    Returns
    -------
    (float, float)
        ``(h_x, h_y)`` in states.

    Notes
    -----
    The cost is ``O(n_eval * n_pairs * (n_grid + 9 n_refine))`` exponentials, where
    ``n_pairs <= n`` is the number of distinct transitions; for ``n = 1000`` transitions it
    takes a fraction of a second.
    """
    digits = _check_kernel_digits(digits)
    runs = _as_runs(states, digits)
    src, dst = _transitions(runs)
    if src.size < 2:
        raise ValueError("cv_bandwidth needs at least 2 transitions; pass a longer trajectory")
    floor = _check_floor(floor)
    if h_max is None:
        h_max = max(float(np.ptp(runs)), 1.0)
    if not (np.isfinite(h_min) and np.isfinite(h_max) and 0 < h_min < h_max):
        raise ValueError(f"need 0 < h_min < h_max, got h_min={h_min}, h_max={h_max}")
    if n_grid < 2 or n_refine < 0:
        raise ValueError(f"need n_grid >= 2 and n_refine >= 0, got {n_grid} and {n_refine}")
    held_out = _held_out(src.size, max_eval, seed)
    k = 10**digits
    hx_grid = hy_grid = np.geomspace(h_min, h_max, n_grid)
    step = float(np.log(hx_grid[1] / hx_grid[0]))
    for round_ in range(n_refine + 1):
        scores = _loo_scores(src, dst, k, hx_grid, hy_grid, floor, held_out)
        i, j = _least_smoothing_argmax(scores, hx_grid, hy_grid)
        hx, hy = float(hx_grid[i]), float(hy_grid[j])
        if round_ < n_refine:
            hx_grid = _local_grid(hx, step, h_min, h_max)
            hy_grid = _local_grid(hy, step, h_min, h_max)
            step = 2.0 * step / (_N_FINE - 1)
    return hx, hy


# ----------------------------------------------------------------------------- laws


def one_hot_laws(states: ArrayLike, digits: int) -> NDArray[np.float64]:
    """Dirac laws of the given states, shape ``states.shape + (K,)``.

    ``kernel_from_laws(s, one_hot_laws(s[1:], digits), digits)`` is ``count_kernel(s, digits)``.
    """
    digits = _check_kernel_digits(digits)
    runs = _as_runs(states, digits, min_steps=0)
    k = 10**digits
    return np.eye(k)[runs.reshape(np.shape(states))]


def _check_laws(flat: NDArray[np.float64], n_steps: int) -> NDArray[np.float64]:
    """Validate laws ``(n, K)`` (finite, non-negative, summing to 1 within 1e-6); renormalize."""

    def where(i: int) -> str:
        run, t = divmod(i, n_steps)
        return f"laws[{t}]" if flat.shape[0] == n_steps else f"laws[{run}, {t}]"

    bad = ~np.isfinite(flat).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{where(int(np.argmax(bad)))} contains NaN or Inf; every law must be finite"
        )
    neg = (flat < 0).any(axis=1)
    if neg.any():
        i = int(np.argmax(neg))
        raise ValueError(
            f"{where(i)} has negative entries (min {flat[i].min():.3g}); pass probabilities, "
            f"not logits (apply a softmax over the K states)"
        )
    sums = flat.sum(axis=1)
    off = np.abs(sums - 1.0) > 1e-6
    if off.any():
        i = int(np.argmax(off))
        raise ValueError(
            f"{where(i)} sums to {sums[i]:.6g}; every law must sum to 1 (within 1e-6): "
            f"normalize it over the K states"
        )
    return flat / sums[:, None]


def kernel_from_laws(
    states: ArrayLike,
    laws: ArrayLike,
    digits: int,
    *,
    scaler: Scaler | None = None,
) -> Kernel:
    """Build a kernel from next-state laws, one per step (the language model's estimate).

    ``laws[t]`` is the law of the state that *follows* ``states[t]``, so it estimates row
    ``states[t]`` (not ``states[t + 1]``):

    .. math::

        \\hat P[s] = \\frac{1}{|\\{t : s_t = s\\}|} \\sum_{t : s_t = s} \\mathrm{laws}[t],

    repeated visits being averaged (Liu et al. 2024). With ``len(laws) == len(states)`` the
    last law, which predicts the unseen next value, still counts for row ``states[-1]``; with
    ``len(laws) == len(states) - 1`` it is absent. Dirac laws of the observed next states give
    back :func:`count_kernel` exactly.

    Parameters
    ----------
    states : array_like of int, shape (T,) or (runs, T)
        States in ``0..10**digits - 1``.
    laws : array_like, shape (T or T - 1, K) or (runs, T or T - 1, K)
        Non-negative laws summing to 1 (within 1e-6; renormalized).
    digits : int
    scaler : Scaler, optional

    Returns
    -------
    Kernel
        Rows of states with at least one law are their average law; ``visited`` marks them
        and ``counts`` says how many laws were averaged; other rows are all zero.
        ``method="laws"``.
    """
    digits = _check_kernel_digits(digits)
    _check_scaler(scaler, digits)
    runs = _as_runs(states, digits, min_steps=1)
    k = 10**digits
    n_runs, t = runs.shape
    arr = np.asarray(laws, dtype=np.float64)
    one_run = np.ndim(states) == 1
    if one_run:
        arr = arr[None]
    if (
        arr.ndim != 3
        or arr.shape[0] != n_runs
        or arr.shape[1] not in (t, t - 1)
        or (arr.shape[2] != k)
    ):
        want = f"({t} or {t - 1}, {k})" if one_run else f"({n_runs}, {t} or {t - 1}, {k})"
        got = np.shape(laws)
        raise ValueError(
            f"laws must have shape {want} for {t} states and digits={digits}, got {got}; "
            f"laws[t] is the law of the state after states[t], over all K = {k} states"
        )
    n_laws = arr.shape[1]
    flat = _check_laws(arr.reshape(-1, k), n_laws)
    src = runs[:, :n_laws].ravel()
    counts = np.bincount(src, minlength=k).astype(np.float64)
    select = sparse.csr_array((np.ones(src.size), (src, np.arange(src.size))), shape=(k, src.size))
    sums = np.asarray(select @ flat)
    visited = counts > 0
    matrix = np.zeros((k, k))
    matrix[visited] = sums[visited] / counts[visited, None]
    return Kernel(matrix, visited, counts, scaler, "laws")


# ----------------------------------------------------------------------------- parametric fit
# Added for the chapter *Side by side, and uncertainty* (notebooks/side_by_side.md).


def ar1_fit_kernel(
    states: ArrayLike,
    digits: int,
    *,
    scaler: Scaler | None = None,
    min_sigma: float = 0.5,
) -> Kernel:
    """A Gaussian AR(1) model fitted by least squares, discretized on the state grid.

    With the transitions ``(s_t, s_{t+1})`` of the trajectory (within runs), ordinary least
    squares fits

    .. math::

        s_{t+1} = a + b \\, s_t + \\sigma \\varepsilon_t, \\qquad
        \\varepsilon_t \\sim \\mathcal N(0, 1),

    ``(a, b)`` minimizing the squared residuals and ``sigma^2`` their mean square (the
    maximum-likelihood estimate of the Gaussian model). The kernel is that Gaussian transition
    binned on the grid, :func:`sgdllm.truth.gaussian_kernel` (mass beyond the grid on the edge
    states). The fit is done in state units: an affine rescaling of the values gives the same
    kernel. For SGD on a quadratic with Gaussian gradient noise this model is exact
    (:func:`sgdllm.truth.ar1_kernel`); for finite sums its noise is a mixture, which the model
    replaces by a Gaussian with the same variance.

    Every row is defined (the model extrapolates), so the kernel needs no imputation.

    Parameters
    ----------
    states : array_like of int, shape (T,) or (runs, T)
        States in ``0..10**digits - 1``, at least 3 transitions in all.
    digits : int
        ``K = 10**digits`` states, at most :data:`MAX_KERNEL_DIGITS` digits.
    scaler : Scaler, optional
        Stored on the kernel.
    min_sigma : float
        Lower bound on ``sigma``, in states (default half a bin): a chain stuck on one state
        would otherwise give a Dirac kernel.

    Returns
    -------
    Kernel
        ``visited`` and ``counts`` are the empirical ones, as for :func:`count_kernel`;
        ``method`` is ``"ar1(a=..,b=..,sigma=..)"``.
    """
    from sgdllm.truth import gaussian_kernel  # truth imports discretize only; no cycle

    digits = _check_kernel_digits(digits)
    _check_scaler(scaler, digits)
    min_sigma = float(min_sigma)
    if not (np.isfinite(min_sigma) and min_sigma >= 0):
        raise ValueError(f"min_sigma must be a finite number >= 0, got {min_sigma}")
    runs = _as_runs(states, digits)
    k = 10**digits
    src, dst = _transitions(runs)
    if src.size < 3:
        raise ValueError(
            f"an AR(1) fit needs at least 3 transitions, got {src.size}; pass a longer trajectory"
        )
    x, y = src.astype(np.float64), dst.astype(np.float64)
    design = np.column_stack([np.ones_like(x), x])
    (a, b), *_ = np.linalg.lstsq(design, y, rcond=None)
    sigma = max(float(np.sqrt(np.mean((y - a - b * x) ** 2))), min_sigma)
    # A scaler whose values are the states themselves: to_unit(s) * K = s.
    in_states = Scaler(k * LOW, k * HIGH, digits)
    matrix = gaussian_kernel(lambda s: a + b * s, sigma, in_states)
    n = np.bincount(src, minlength=k).astype(np.float64)
    method = f"ar1(a={a:.3g},b={b:.3g},sigma={sigma:.3g})"
    return Kernel(matrix, n > 0, n, scaler, method)
