"""Distances between laws on the state grid, and properties of a chain.

Chapters: *Extracting transition probabilities* and *Imputation* (distances between a kernel and
the true one), *SGD as a Markov chain* and *In-context scaling laws* (the spectral gap), *Predicting
SGD* and *The model predicting its own training* (moments and stationary law of predicted laws).

The distances compare two laws over the ``K`` states of one coordinate, the way Liu et al.
(2024), "LLMs learn governing principles of dynamical systems, revealing an in-context neural
scaling law", score in-context next-state laws against the true ones (Bhattacharyya distance,
KL divergence). Every distance acts on the last axis and broadcasts over the leading ones, so
``tv(P, Q)`` of two ``K x K`` kernels is the vector of per-row distances;
:func:`row_distance` averages them over rows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike, NDArray
from scipy.special import rel_entr

from sgdllm.kernel import Kernel

__all__ = [
    "METRICS",
    "bhattacharyya",
    "centre_error_over_persistence",
    "kl",
    "law_moments",
    "row_distance",
    "spectral_gap",
    "stationary_law",
    "tv",
    "w1",
]

Metric = Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]]


def _laws(p: ArrayLike, q: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Validate two arrays of laws on the last axis: same shape, finite, non-negative."""
    a, b = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(
            f"p and q must have the same shape (laws on the last axis), got {a.shape} and "
            f"{b.shape}; compare kernels of the same number of digits"
        )
    if a.ndim == 0 or a.shape[-1] == 0:
        raise ValueError(f"p and q must hold laws over at least one state, got shape {a.shape}")
    for name, arr in (("p", a), ("q", b)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or Inf; laws must be finite")
        if (arr < 0).any():
            raise ValueError(
                f"{name} has negative entries (min {arr.min():.3g}); laws must be non-negative"
            )
    return a, b


def tv(p: ArrayLike, q: ArrayLike) -> NDArray[np.float64] | float:
    """Total variation distance, ``TV(p, q) = 1/2 sum_s |p_s - q_s|``, in ``[0, 1]`` for laws."""
    a, b = _laws(p, q)
    return _scalar(0.5 * np.abs(a - b).sum(axis=-1))


def bhattacharyya(p: ArrayLike, q: ArrayLike) -> NDArray[np.float64] | float:
    """Bhattacharyya distance ``D_B(p, q) = -log sum_s sqrt(p_s q_s)`` (Bhattacharyya 1943).

    Zero for identical laws and ``+inf`` when the supports are disjoint (the Bhattacharyya
    coefficient is 0); clipped at 0 against rounding. The metric of Liu et al. (2024).
    """
    a, b = _laws(p, q)
    coefficient = np.sqrt(a * b).sum(axis=-1)
    with np.errstate(divide="ignore"):
        return _scalar(np.maximum(-np.log(coefficient), 0.0))


def kl(p: ArrayLike, q: ArrayLike, eps: float = 0.0) -> NDArray[np.float64] | float:
    """Kullback-Leibler divergence ``KL(p || q) = sum_{s : p_s > 0} p_s log(p_s / q_s)``.

    Terms with ``p_s = 0`` are 0 (``0 log 0 = 0``), and the divergence is ``+inf`` where
    ``q_s = 0 < p_s``. With ``eps > 0``, ``q`` is first mixed with the uniform law,
    ``q_eps = (1 - eps) q + eps / K``, which makes it finite (at most ``log(K / eps)`` for
    laws). Never NaN. Uses :func:`scipy.special.rel_entr`.

    Parameters
    ----------
    p, q : array_like, shape (..., K)
        ``p`` is the reference (e.g. the true kernel's row), ``q`` the estimate.
    eps : float
        Uniform mass in ``[0, 1]`` mixed into ``q``.
    """
    a, b = _laws(p, q)
    eps = float(eps)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"eps must be in [0, 1], got {eps}")
    if eps > 0:
        b = (1.0 - eps) * b + eps / b.shape[-1]
    # KL >= 0 (Gibbs); summing rel_entr terms can round to a tiny negative, e.g. -1e-306.
    return _scalar(np.maximum(rel_entr(a, b).sum(axis=-1), 0.0))


def w1(p: ArrayLike, q: ArrayLike, bin_width: float = 1.0) -> NDArray[np.float64] | float:
    """Wasserstein-1 distance between laws on the grid of equally spaced states.

    .. math::

        W_1(p, q) = w \\sum_{s=0}^{K-1} |F_p(s) - F_q(s)|, \\qquad F_p(s) = \\sum_{r \\le s} p_r,

    the closed form of optimal transport on the line (Villani 2009; what
    :func:`scipy.stats.wasserstein_distance` computes on the positions ``w * s``). Laws should
    have the same total mass.

    Parameters
    ----------
    p, q : array_like, shape (..., K)
    bin_width : float
        Distance ``w`` between neighbouring states: 1 (default) measures in states, pass
        ``scaler.bin_width`` for value units.
    """
    a, b = _laws(p, q)
    bin_width = float(bin_width)
    if not (np.isfinite(bin_width) and bin_width > 0):
        raise ValueError(f"bin_width must be positive and finite, got {bin_width}")
    cdf_gap = np.abs(np.cumsum(a, axis=-1) - np.cumsum(b, axis=-1))
    return _scalar(bin_width * cdf_gap.sum(axis=-1))


def _scalar(x: NDArray[np.float64]) -> NDArray[np.float64] | float:
    """A 0-d result as ``float``, other arrays unchanged."""
    return float(x) if np.ndim(x) == 0 else x


#: Metrics by name for :func:`row_distance`.
METRICS: dict[str, Metric] = {"tv": tv, "bhattacharyya": bhattacharyya, "kl": kl, "w1": w1}


def _square(kernel_or_matrix: Kernel | ArrayLike, name: str) -> NDArray[np.float64]:
    """The matrix of a :class:`Kernel`, or a validated square, finite, non-negative array."""
    if isinstance(kernel_or_matrix, Kernel):
        return kernel_or_matrix.matrix
    m = np.asarray(kernel_or_matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        raise ValueError(f"{name} must be a square K x K matrix, got shape {m.shape}")
    if not np.all(np.isfinite(m)) or (m < 0).any():
        raise ValueError(f"{name} must be finite and non-negative")
    return m


def _row_mask(rows: ArrayLike, k: int) -> NDArray[np.bool_]:
    """Rows as a boolean mask of length ``k`` (from a mask or from indices)."""
    r = np.asarray(rows)
    if r.dtype == np.bool_:
        if r.shape != (k,):
            raise ValueError(f"a boolean rows mask must have shape ({k},), got {r.shape}")
        return r
    if not np.issubdtype(r.dtype, np.integer) or r.ndim != 1:
        raise ValueError("rows must be a boolean mask of length K or a 1-D array of row indices")
    if r.size and (r.min() < -k or r.max() >= k):
        raise ValueError(f"row indices must lie in 0..{k - 1}, got [{r.min()}, {r.max()}]")
    mask = np.zeros(k, dtype=bool)
    mask[r] = True
    return mask


def row_distance(
    kernel_a: Kernel | ArrayLike,
    kernel_b: Kernel | ArrayLike,
    metric: str | Metric = "bhattacharyya",
    rows: ArrayLike | None = None,
    weights: ArrayLike | None = None,
) -> float:
    """Average distance between the rows of two kernels.

    .. math::

        D(A, B) = \\frac{\\sum_{s \\in S} \\omega_s \\, d(A[s], B[s])}{\\sum_{s \\in S} \\omega_s},

    over the rows ``S`` (default: rows defined in both kernels) with weights ``omega``
    (default 1; e.g. the stationary law of the true kernel, or the visit counts). Rows of zero
    weight are skipped, so an infinite distance there does not count; one of positive weight
    makes the average infinite.

    Parameters
    ----------
    kernel_a, kernel_b : Kernel or ndarray, shape (K, K)
        For ``"kl"``, ``d(A[s], B[s]) = KL(A[s] || B[s])``: pass the truth first.
    metric : {"bhattacharyya", "tv", "kl", "w1"} or callable
        A name from :data:`METRICS` or a function of two ``(n, K)`` arrays returning ``(n,)``
        (e.g. ``functools.partial(w1, bin_width=scaler.bin_width)``).
    rows : array_like of bool (K,) or of int, optional
        Rows to compare; each must be defined in both kernels.
    weights : array_like, shape (K,), optional
        Non-negative row weights.

    Returns
    -------
    float
    """
    a, b = _square(kernel_a, "kernel_a"), _square(kernel_b, "kernel_b")
    if a.shape != b.shape:
        raise ValueError(f"kernels must have the same shape, got {a.shape} and {b.shape}")
    k = a.shape[0]
    if isinstance(metric, str):
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; use one of {sorted(METRICS)}")
        fn = METRICS[metric]
    elif callable(metric):
        fn = metric
    else:
        raise ValueError(f"metric must be a name or a callable, got {metric!r}")
    defined = (a.sum(axis=1) > 0) & (b.sum(axis=1) > 0)
    if rows is None:
        selected = defined
    else:
        selected = _row_mask(rows, k)
        bad = selected & ~defined
        if bad.any():
            raise ValueError(
                f"row {int(np.argmax(bad))} is undefined (all zero) in one of the kernels; "
                f"impute the empty rows first or leave them out of rows"
            )
    if weights is None:
        w = np.ones(k)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (k,) or not np.all(np.isfinite(w)) or (w < 0).any():
            raise ValueError(
                f"weights must be {k} finite non-negative numbers (one per row), "
                f"got shape {w.shape}"
            )
    w = np.where(selected, w, 0.0)
    keep = w > 0
    if not keep.any():
        raise ValueError(
            "no row to compare: the selected rows are undefined in a kernel or have zero weight"
        )
    values = np.asarray(fn(a[keep], b[keep]), dtype=np.float64)
    return float(np.sum(w[keep] * values) / w[keep].sum())


def _stochastic(kernel_or_matrix: Kernel | ArrayLike) -> NDArray[np.float64]:
    """A validated row-stochastic matrix (rows renormalized against rounding)."""
    m = _square(kernel_or_matrix, "the kernel")
    sums = m.sum(axis=1)
    if (sums == 0).any():
        raise ValueError(
            f"{int((sums == 0).sum())} row(s) of the kernel are undefined (all zero), e.g. "
            f"row {int(np.argmax(sums == 0))}; impute the empty rows first so that the chain "
            f"can move from every state"
        )
    off = np.abs(sums - 1.0) > 1e-8
    if off.any():
        s = int(np.argmax(off))
        raise ValueError(f"row {s} of the kernel sums to {sums[s]:.6g}; rows must sum to 1")
    return m / sums[:, None]


def law_moments(
    laws: ArrayLike, grid: ArrayLike | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean and standard deviation of laws over a grid, on the last axis.

    .. math::

        m = \\sum_s p_s x_s, \\qquad \\sigma = \\sqrt{\\textstyle\\sum_s p_s x_s^2 - m^2}

    (the variance clipped at 0 against rounding).

    Parameters
    ----------
    laws : array_like, shape (..., K)
    grid : array_like, shape (K,), optional
        The value of each state (e.g. ``scaler.grid()``); default the state indices
        ``0..K-1``, so that both moments are in states.

    Returns
    -------
    mean, std : ndarray, shape (...)
    """
    p = np.asarray(laws, dtype=np.float64)
    if p.ndim == 0 or p.shape[-1] == 0:
        raise ValueError(f"laws must hold laws over at least one state, got shape {p.shape}")
    x = np.arange(p.shape[-1], dtype=np.float64) if grid is None else np.asarray(grid, float)
    if x.shape != p.shape[-1:]:
        raise ValueError(f"grid must have {p.shape[-1]} values (one per state), got {x.shape}")
    mean = p @ x
    return mean, np.sqrt(np.maximum(p @ x**2 - mean**2, 0.0))


def centre_error_over_persistence(laws: ArrayLike, states: ArrayLike) -> float:
    """Error of next-state laws' means on the states that followed, over that of "no change".

    .. math::

        \\frac{\\frac1T \\sum_t |\\mathbb{E}_{p_t}[s] - s_{t+1}|}
        {\\frac1T \\sum_t |s_t - s_{t+1}|}

    with ``p_t`` the law read after ``s_t``, means in states. Below 1, the laws' centres
    predict the next state better than persistence (the current state) does. Chapters:
    *Side by side, and uncertainty* and *Adaptive optimizers as Markov chains* (where a
    language model's laws are centred).

    Parameters
    ----------
    laws : array_like, shape (T + 1, K) or (T, K)
        The law read after each state of the series; the row after the last state, if any,
        is not used.
    states : array_like of int, shape (T + 1,)
        The series, in states ``0..K-1``; it must move at least once.

    Returns
    -------
    float
    """
    p = np.asarray(laws, dtype=np.float64)
    s = np.asarray(states)
    if p.ndim != 2 or s.ndim != 1 or len(s) < 2 or p.shape[0] < len(s) - 1:
        raise ValueError(
            f"pass one law (a row of laws) per state but the last: {len(s)} states need at "
            f"least {max(len(s) - 1, 1)} rows of laws, got shape {p.shape}, states {s.shape}"
        )
    steps = np.abs(np.diff(s))
    if not steps.any():
        raise ValueError("the series never moves: persistence has no error to compare with")
    centre = p[: len(s) - 1] @ np.arange(p.shape[1])
    return float(np.mean(np.abs(centre - s[1:])) / np.mean(steps))


def stationary_law(kernel_or_matrix: Kernel | ArrayLike) -> NDArray[np.float64]:
    """A stationary law ``pi = pi P`` of a complete kernel.

    The law is the left eigenvector of ``P`` for eigenvalue 1, unique when the chain has a
    single closed communicating class (in particular when it is irreducible; Levin, Peres &
    Wilmer 2017, section 1.5). In general this function returns the long-run average law
    from the uniform start ``u``,

    .. math::

        \\pi = \\lim_{T \\to \\infty} \\frac1T \\sum_{t < T} u P^t = u \\, \\Pi, \\qquad
        \\Pi = R \\, (L^\\top R)^{-1} L^\\top,

    where ``Pi`` is the spectral projector on the eigenvalue 1 (semisimple for stochastic
    matrices), and ``R``, ``L`` are bases of its right and left eigenvectors, read off the
    singular value decomposition of ``P - I`` (:func:`scipy.linalg.svd`; singular values
    below ``K eps`` count as zero). For a reducible chain that is the mixture of the
    stationary laws of the closed classes weighted by the chance of ending in each from a
    uniformly drawn state; for an irreducible one, the stationary law.

    Parameters
    ----------
    kernel_or_matrix : Kernel or ndarray, shape (K, K)
        Every row must be defined (impute empty rows first).

    Returns
    -------
    ndarray, shape (K,)
        Real, non-negative, summing to 1.
    """
    p = _stochastic(kernel_or_matrix)
    k = p.shape[0]
    u, sv, vh = scipy.linalg.svd(p - np.eye(k))
    tol = k * np.finfo(np.float64).eps * max(sv[0], 1.0)
    m = max(1, int((sv <= tol).sum()))
    right, left = vh[-m:].T, u[:, -m:]
    start = np.full(k, 1.0 / k)
    pi = (start @ right) @ scipy.linalg.solve(left.T @ right, left.T)
    pi = np.clip(np.real(pi), 0.0, None)
    return pi / pi.sum()


def spectral_gap(kernel_or_matrix: Kernel | ArrayLike) -> float:
    """Absolute spectral gap ``gamma* = 1 - max{|lambda| : lambda eigenvalue, lambda != 1}``.

    Levin, Peres & Wilmer (2017, section 12.2): for an irreducible aperiodic reversible chain
    the mixing time is of order ``1 / gamma*``. One eigenvalue 1 (the one closest to 1
    numerically) is set aside; if 1 has multiplicity above one (several closed classes) or
    the chain is periodic (an eigenvalue of modulus 1), the gap is 0. Computed from
    :func:`scipy.linalg.eigvals` and clipped to ``[0, 1]`` against rounding; a one-state chain
    has gap 1.

    Parameters
    ----------
    kernel_or_matrix : Kernel or ndarray, shape (K, K)
        Every row must be defined.

    Returns
    -------
    float
    """
    p = _stochastic(kernel_or_matrix)
    if p.shape[0] == 1:
        return 1.0
    lam = scipy.linalg.eigvals(p)
    others = np.delete(lam, np.argmin(np.abs(lam - 1.0)))
    return float(np.clip(1.0 - np.abs(others).max(), 0.0, 1.0))
