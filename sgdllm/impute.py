"""Filling the rows of a kernel that the trajectory never visited.

Chapter: *Imputation*.

A trajectory of a few thousand steps visits few of the ``K = 10**digits`` states, so an
estimated kernel (:mod:`sgdllm.kernel`) has many undefined (all-zero) rows and cannot be
propagated. Following the paper (Zekri et al. 2024), an empty row ``r`` lying strictly
between two consecutive defined rows ``k_i < r < k_j`` is the 2-Wasserstein barycenter of
those two rows,

.. math::

    P_r = \\operatorname*{arg\\,min}_{q} \\;(1 - w) W_2^2(q, P_{k_i}) + w \\, W_2^2(q, P_{k_j}),
    \\qquad w = \\frac{r - k_i}{k_j - k_i},

i.e. the point at fraction ``w`` of the displacement interpolation (McCann 1997) between the
neighbouring transition laws. The ground cost is the squared distance between states. Rows
below the first or above the last defined row are extrapolated from the edge row
(``outside=``, see :func:`impute`).

Three ways to compute the barycenter:

* ``"ot"`` -- the debiased Sinkhorn barycenter (Janati, Cuturi & Gramfort, ICML 2020), what
  the paper's research code computes with :func:`ot.bregman.barycenter_debiased`;
  see :func:`sinkhorn_barycenter`.
* ``"ot-exact"`` -- the exact barycenter on the line, by averaging quantile functions
  (Agueh & Carlier 2011); see :func:`quantile_barycenter`. No regularization.
* ``"nearest"`` -- a copy of the nearest defined row (a baseline).
"""

from __future__ import annotations

import warnings
from itertools import pairwise
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sgdllm.kernel import Kernel

__all__ = [
    "BASELINE_RULES",
    "IMPUTE_METHODS",
    "OUTSIDE_RULES",
    "empty_rows",
    "filled_row_errors",
    "impute",
    "impute_baseline",
    "quantile_barycenter",
    "shift_law",
    "sinkhorn_barycenter",
]

ImputeMethod = Literal["ot", "ot-exact", "nearest"]
OutsideRule = Literal["shift", "copy"]
SinkhornInit = Literal["exact", "uniform"]

#: Methods accepted by :func:`impute`.
IMPUTE_METHODS: tuple[str, ...] = ("ot", "ot-exact", "nearest")
#: Rules for rows outside the defined range, accepted by :func:`impute`.
OUTSIDE_RULES: tuple[str, ...] = ("shift", "copy")

#: Half-width of the index window around the two rows' supports, in entropic blur widths
#: ``sqrt(reg) (K - 1)`` (see :func:`sinkhorn_barycenter`).
WINDOW_BLURS = 2.0
#: Mass a row may lose when its support is cut to the interval that holds the rest.
_TAIL = 1e-12
#: Sinkhorn iterations that fit the scalings to a warm-start barycenter before the main loop.
_WARM_ITERS = 20
#: Floor, relative to the uniform law, mixed into a warm-start barycenter so it has full support.
_WARM_FLOOR = 1e-10


# ----------------------------------------------------------------------------- validation


def _as_law(p: ArrayLike, name: str) -> NDArray[np.float64]:
    """A finite, non-negative 1-D array with positive mass, normalized to sum to 1."""
    a = np.asarray(p, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a 1-D law over the states, got shape {a.shape}")
    if not np.all(np.isfinite(a)) or (a < 0).any():
        raise ValueError(f"{name} must be finite and non-negative (a probability law)")
    total = a.sum()
    if not total > 0:
        raise ValueError(f"{name} has no mass; pass a defined row (a law that sums to 1)")
    return a / total


def _as_pair(a: ArrayLike, b: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    pa, pb = _as_law(a, "a"), _as_law(b, "b")
    if pa.shape != pb.shape:
        raise ValueError(
            f"a and b must be laws on the same grid, got {pa.size} and {pb.size} states"
        )
    return pa, pb


def _as_weights(w: ArrayLike) -> tuple[NDArray[np.float64], bool]:
    """Weights in ``[0, 1]`` as a 1-D array, and whether the input was a scalar."""
    arr = np.asarray(w, dtype=np.float64)
    scalar = arr.ndim == 0
    arr = np.atleast_1d(arr)
    if arr.ndim != 1 or not np.all(np.isfinite(arr)) or (arr < 0).any() or (arr > 1).any():
        raise ValueError(f"w must be a weight or a 1-D array of weights in [0, 1], got {w!r}")
    return arr, scalar


def _check_reg(reg: float) -> float:
    reg = float(reg)
    if not (np.isfinite(reg) and reg > 0):
        raise ValueError(f"reg must be a positive float (e.g. 5e-3, the paper's value), got {reg}")
    return reg


def _check_iterations(tol: float, max_iter: int) -> tuple[float, int]:
    tol = float(tol)
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive float (e.g. 1e-6), got {tol}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1 (e.g. 1000), got {max_iter!r}")
    return tol, int(max_iter)


# ----------------------------------------------------------------------------- exact barycenter


def quantile_barycenter(a: ArrayLike, b: ArrayLike, w: ArrayLike) -> NDArray[np.float64]:
    """Exact 2-Wasserstein barycenter ``(1 - w) a + w b`` of two laws on the integer grid.

    On the line the barycenter's quantile function is the average of the quantile functions
    (Agueh & Carlier 2011, Sec. 6.1; Villani 2003, Thm 2.18),

    .. math::

        F_w^{-1}(u) = (1 - w) F_a^{-1}(u) + w F_b^{-1}(u), \\qquad u \\in (0, 1).

    Both quantile functions are step functions, constant between the merged breakpoints
    ``{F_a(s)} \\cup {F_b(s)}``; each such ``u``-interval of length ``m`` gives an atom of mass
    ``m`` at ``x = (1 - w) x_a + w x_b``. An atom at a non-integer ``x`` is split between
    ``floor(x)`` and ``floor(x) + 1`` with masses ``m (1 - frac(x))`` and ``m frac(x)``,
    which keeps the mean exact (and adds at most 1/4 state^2 of variance).

    Parameters
    ----------
    a, b : array_like, shape (K,)
        Laws on the states ``0..K-1`` (normalized if they do not sum to 1).
    w : float or array_like, shape (m,)
        Weight(s) of ``b`` in ``[0, 1]``.

    Returns
    -------
    ndarray, shape (K,) for a scalar ``w``, else (m, K)

    Examples
    --------
    >>> a, b = np.eye(1000)[300], np.eye(1000)[500]
    >>> int(np.argmax(quantile_barycenter(a, b, 0.5)))
    400
    """
    pa, pb = _as_pair(a, b)
    ws, scalar = _as_weights(w)
    out = _quantile_barycenters(pa, pb, ws)
    return out[0] if scalar else out


def _quantile_barycenters(
    a: NDArray[np.float64], b: NDArray[np.float64], ws: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Vectorized core of :func:`quantile_barycenter`: laws ``a, b`` (K,), weights (m,)."""
    k = a.size
    ca, cb = np.cumsum(a), np.cumsum(b)
    ca[-1] = cb[-1] = 1.0
    upper = np.union1d(ca, cb)
    upper = upper[upper > 0]
    lower = np.concatenate(([0.0], upper[:-1]))
    mass = upper - lower
    mid = 0.5 * (lower + upper)
    xa = np.minimum(np.searchsorted(ca, mid, side="left"), k - 1)
    xb = np.minimum(np.searchsorted(cb, mid, side="left"), k - 1)
    pos = (1.0 - ws)[:, None] * xa + ws[:, None] * xb
    low = np.clip(np.floor(pos).astype(np.int64), 0, k - 1)
    frac = pos - low
    high = np.minimum(low + 1, k - 1)
    offset = (np.arange(ws.size) * k)[:, None]
    out = np.bincount((low + offset).ravel(), (mass * (1.0 - frac)).ravel(), ws.size * k)
    out += np.bincount((high + offset).ravel(), (mass * frac).ravel(), ws.size * k)
    out = out.reshape(ws.size, k)
    return out / out.sum(axis=1, keepdims=True)


# ----------------------------------------------------------------------------- Sinkhorn barycenter


def sinkhorn_barycenter(
    a: ArrayLike,
    b: ArrayLike,
    w: ArrayLike,
    reg: float = 5e-3,
    *,
    init: SinkhornInit = "exact",
    tol: float = 1e-6,
    max_iter: int = 1000,
) -> NDArray[np.float64]:
    """Debiased Sinkhorn barycenter of two laws on the grid (Janati, Cuturi & Gramfort 2020).

    With the ground cost ``M_ij = (i - j)^2 / (K - 1)^2`` (squared index distance, scaled so
    that its maximum on the grid is 1, as in the paper's research code), the entropic
    transport cost ``OT_reg(p, q) = min_{pi in Pi(p, q)} <pi, M> + reg KL(pi | p x q)`` and
    the Sinkhorn divergence ``S_reg(p, q) = OT_reg(p, q) - (OT_reg(p, p) + OT_reg(q, q)) / 2``
    (Feydy et al. 2019), the debiased barycenter is (as documented by POT)

    .. math::

        q_w = \\operatorname*{arg\\,min}_q \\; (1 - w) \\, S_{reg}(q, a) + w \\, S_{reg}(q, b),

    computed by the fixed point of Janati et al. (2020, Algorithm 1) in scaling form, with
    the Gibbs kernel ``G = exp(-M / reg)``, weights ``(w_a, w_b) = (1 - w, w)``:

    .. math::

        v_k = a_k / (G u_k), \\quad
        q = d \\odot \\prod_k (G v_k)^{w_k}, \\quad
        u_k = q / (G v_k), \\quad
        d \\leftarrow \\bigl(d \\odot q / (G d)\\bigr)^{1/2},

    the same updates as :func:`ot.bregman.barycenter_debiased` (POT, Flamary et al. 2021;
    the tests check that both agree to rounding from the same start). The plain entropic
    barycenter (Benamou et al. 2015) is blurred over about ``sqrt(reg) (K - 1)`` states; the
    debiasing term ``d`` removes that blur, exactly for Gaussians of equal variance (Janati
    et al. 2020, Sec. 3), and in general the result tends to the exact barycenter
    (:func:`quantile_barycenter`) as ``reg -> 0``.

    Speed. The problem is solved on the window of states that holds both laws (up to
    ``1e-12`` of mass) plus ``WINDOW_BLURS = 2`` blur widths ``sqrt(reg) (K - 1)`` on each
    side, with ``M`` still scaled by the full grid's ``(K - 1)^2``: the same problem up to
    the Gibbs kernel's tails beyond the margin (``G <= exp(-WINDOW_BLURS^2) ~ 0.02`` there).
    Against the full grid we measured W1 differences below ``2e-3`` states at ``K = 1000``.
    All weights ``w`` share the window and its Gibbs kernel and are solved together, three
    matrix products per iteration for the whole batch.

    Convergence. When the laws are much narrower than the blur, the debiased fixed point is a
    deconvolution and the iteration converges slowly. From POT's uniform start, at
    ``K = 1000`` and ``reg = 5e-3`` (blur about 70 states), POT's default tolerance ``1e-4``
    stops after about 50 iterations at a barycenter of two Gaussians of sd 8 and 12 states
    with sd 19 instead of 9, and even 5000 iterations leave Diracs smeared over several
    states. We therefore start (``init="exact"``, the default) at the exact barycenter, fit
    the scalings ``u_k, d`` to it by ``_WARM_ITERS`` Sinkhorn passes with the barycenter held
    fixed, and then iterate. For translates of one law (rows of equal shape, e.g. Gaussian
    rows of equal width, or Diracs) the exact barycenter is the fixed point and the loop
    stops within a few dozen iterations. Otherwise the iterate drifts from the exact
    barycenter towards the debiased one, whose distance to it is the bias of the method
    (W1 of 0.05-0.2 states for count rows at ``K = 100``, about 2 states for Gaussians of sd
    3 and 20 at ``K = 1000``); after ``max_iter`` iterations it lies between the two, which
    we accept without a warning. From ``init="uniform"`` (POT's start, reproduced exactly)
    an unconverged result is blurred, and a :class:`RuntimeWarning` says so. The loop stops
    when the largest change of an entry of ``q`` in one iteration, checked every ten, is
    below ``tol`` (POT's criterion, after at least 20 iterations), or after ``max_iter``.

    Parameters
    ----------
    a, b : array_like, shape (K,)
        Laws on the states ``0..K-1``.
    w : float or array_like, shape (m,)
        Weight(s) of ``b`` in ``[0, 1]``.
    reg : float
        Entropic regularization (relative to the normalized cost), default ``5e-3`` as in
        the paper's code.
    init : {"exact", "uniform"}
        Warm start at the exact barycenter (default) or POT's uniform start.
    tol : float
        Stopping tolerance on the change of the barycenter.
    max_iter : int
        Maximum number of iterations.

    Returns
    -------
    ndarray, shape (K,) for a scalar ``w``, else (m, K)
        Barycenters, each summing to 1.

    Raises
    ------
    ValueError
        On bad input, or if the iteration under/overflows (``reg`` too small for the grid):
        increase ``reg`` or use :func:`quantile_barycenter`.
    """
    pa, pb = _as_pair(a, b)
    ws, scalar = _as_weights(w)
    reg = _check_reg(reg)
    if init not in ("exact", "uniform"):
        raise ValueError(f"init must be 'exact' or 'uniform', got {init!r}")
    tol, max_iter = _check_iterations(tol, max_iter)
    out, converged = _windowed_sinkhorn(pa, pb, ws, reg, init, tol, max_iter)
    if not converged and init == "uniform":
        warnings.warn(
            f"the debiased Sinkhorn barycenter did not reach tol={tol:g} in {max_iter} "
            f"iterations from the uniform start, so it is blurred; increase max_iter or "
            f"use init='exact'",
            RuntimeWarning,
            stacklevel=2,
        )
    return out[0] if scalar else out


def _support(p: NDArray[np.float64]) -> tuple[int, int]:
    """Smallest index interval ``[lo, hi]`` outside which ``p`` has at most ``_TAIL`` mass."""
    c = np.cumsum(p)
    lo = int(np.searchsorted(c, _TAIL, side="right"))
    hi = int(np.searchsorted(c, c[-1] - _TAIL, side="left"))
    return min(lo, hi), max(lo, hi)


def _window(a: NDArray[np.float64], b: NDArray[np.float64], reg: float) -> tuple[int, int]:
    """Index window ``[lo, hi)`` of the windowed Sinkhorn problem (see sinkhorn_barycenter)."""
    k = a.size
    margin = int(np.ceil(WINDOW_BLURS * np.sqrt(reg) * (k - 1)))
    (lo_a, hi_a), (lo_b, hi_b) = _support(a), _support(b)
    return max(min(lo_a, lo_b) - margin, 0), min(max(hi_a, hi_b) + margin + 1, k)


def _windowed_sinkhorn(
    a: NDArray[np.float64],
    b: NDArray[np.float64],
    ws: NDArray[np.float64],
    reg: float,
    init: SinkhornInit,
    tol: float,
    max_iter: int,
) -> tuple[NDArray[np.float64], bool]:
    """Barycenters (m, K) of laws ``a, b`` for weights ``ws`` on their window, and convergence."""
    k = a.size
    lo, hi = _window(a, b, reg)
    if hi - lo == 1:
        out = np.zeros((ws.size, k))
        out[:, lo] = 1.0
        return out, True
    x = np.arange(hi - lo, dtype=np.float64)
    gibbs = np.exp(-((x[:, None] - x[None, :]) ** 2) / ((k - 1) ** 2 * reg))
    pa, pb = a[lo:hi] / a[lo:hi].sum(), b[lo:hi] / b[lo:hi].sum()
    start = _quantile_barycenters(pa, pb, ws).T if init == "exact" else None
    bars, converged = _debiased_barycenters(
        np.stack([pa, pb], axis=1), gibbs, np.stack([1.0 - ws, ws], axis=1), start, tol, max_iter
    )
    sums = bars.sum(axis=0)
    if not (np.all(np.isfinite(bars)) and np.all(sums > 0)):
        raise ValueError(
            f"the debiased Sinkhorn barycenter under/overflowed at reg={reg:g} on a grid of "
            f"{k} states (the Gibbs kernel exp(-M/reg) vanishes in double precision between "
            f"states more than about {np.sqrt(745 * reg) * (k - 1):.0f} apart, and these laws "
            f"span states {lo}..{hi - 1}); increase reg (the paper uses 5e-3) or use "
            f"method='ot-exact', the exact barycenter that reg -> 0 tends to"
        )
    out = np.zeros((ws.size, k))
    out[:, lo:hi] = (bars / sums).T
    return out, converged


def _debiased_barycenters(
    hists: NDArray[np.float64],
    gibbs: NDArray[np.float64],
    weights: NDArray[np.float64],
    start: NDArray[np.float64] | None,
    tol: float,
    max_iter: int,
) -> tuple[NDArray[np.float64], bool]:
    """Debiased Sinkhorn barycenters of the columns of ``hists``, one per row of ``weights``.

    Janati et al. (2020), Algorithm 1, in the scaling form of POT's ``_barycenter_debiased``,
    vectorized over weights. ``hists`` (n, 2), ``gibbs`` (n, n) symmetric, ``weights`` (m, 2),
    ``start`` (n, m) warm-start barycenters or None (POT's uniform start). Returns the
    barycenters (n, m), unnormalized, and whether every column met ``tol``.
    """
    n, n_hist = hists.shape
    m = weights.shape[0]

    def apply(v: NDArray[np.float64]) -> NDArray[np.float64]:
        return (gibbs @ v.reshape(n, -1)).reshape(v.shape)

    def geometric(ukv: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.exp(np.einsum("nkm,mk->nm", np.log(ukv), weights))

    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        if start is None:
            ukv0 = gibbs @ (hists / gibbs.sum(axis=0)[:, None])
            u = np.repeat((np.exp(np.log(ukv0).mean(axis=1))[:, None] / ukv0)[:, :, None], m, 2)
            c = np.ones((n, m))
            bar = np.ones((n, m))
        else:
            bar = (1.0 - _WARM_FLOOR) * start + _WARM_FLOOR / n
            c = np.ones((n, m))
            u = np.ones((n, n_hist, m))
            for _ in range(_WARM_ITERS):
                c = np.sqrt(c * bar / apply(c))
                u = bar[:, None, :] / apply(hists[:, :, None] / apply(u))
        converged = False
        for it in range(max_iter):
            old = bar
            ukv = apply(hists[:, :, None] / apply(u))
            bar = c * geometric(ukv)
            u = bar[:, None, :] / ukv
            c = np.sqrt(c * bar / apply(c))
            if it % 10 == 9:
                err = np.abs(bar - old).max(axis=0) / np.maximum(bar.max(axis=0), 1.0)
                if not np.all(np.isfinite(err)):
                    break
                if it > 20 and err.max() < tol:
                    converged = True
                    break
    return bar, converged


# ----------------------------------------------------------------------------- rows outside


def shift_law(p: ArrayLike, offsets: ArrayLike) -> NDArray[np.float64]:
    """Translate a law on the states by integer offsets, piling overflow on the edge states.

    ``shift_law(p, o)[s'] = sum_{s : clip(s + o, 0, K - 1) = s'} p[s]``: the law of
    ``clip(S + o)`` for ``S ~ p``.

    Parameters
    ----------
    p : array_like, shape (K,)
    offsets : int or array_like of int, shape (m,)

    Returns
    -------
    ndarray, shape (K,) for a scalar offset, else (m, K)
    """
    law = _as_law(p, "p")
    o = np.asarray(offsets)
    scalar = o.ndim == 0
    o = np.atleast_1d(o)
    if o.ndim != 1 or not np.issubdtype(o.dtype, np.integer):
        raise ValueError(f"offsets must be an integer or a 1-D array of integers, got {offsets!r}")
    k = law.size
    dest = np.clip(np.arange(k)[None, :] + o[:, None], 0, k - 1) + (np.arange(o.size) * k)[:, None]
    weights = np.broadcast_to(law, dest.shape)
    out = np.bincount(dest.ravel(), weights.ravel(), o.size * k).reshape(o.size, k)
    return out[0] if scalar else out


# ----------------------------------------------------------------------------- impute


def impute(
    kernel: Kernel,
    method: ImputeMethod = "ot",
    *,
    reg: float = 5e-3,
    outside: OutsideRule = "shift",
    tol: float = 1e-6,
    max_iter: int = 1000,
) -> Kernel:
    """Fill every undefined row of a kernel, leaving the defined rows exactly as they are.

    Rows between defined rows. An undefined row ``r`` with ``k_i < r < k_j``, ``k_i, k_j``
    consecutive defined rows, gets the barycenter of ``P[k_i]`` and ``P[k_j]`` with weights
    ``(1 - w, w)``, ``w = (r - k_i) / (k_j - k_i)`` (the paper's interpolation):

    * ``"ot"`` -- :func:`sinkhorn_barycenter` (debiased, ``reg``, ``tol``, ``max_iter``; one
      window and one batched solve per gap), as in the paper's research code;
    * ``"ot-exact"`` -- :func:`quantile_barycenter`, the exact W2 barycenter on the line;
    * ``"nearest"`` -- a copy of the nearer of ``P[k_i]``, ``P[k_j]``; at equal distance
      (``r`` halfway) the lower row ``P[k_i]``.

    Rows outside the defined range, ``r < k_first`` or ``r > k_last``:

    * ``"shift"`` (default) -- the edge row translated by the offset ``o = r - k_edge``, i.e.
      the same law of the increment ``s' - s`` (:func:`shift_law`), with the mass that would
      leave the grid piled on the edge state. This keeps the local drift of the observed chain:
      a prediction started outside the visited range moves like the chain at the edge of the
      visited range (towards it, for SGD approaching a minimum), rather than jumping to where
      the edge row goes, which a copy implies (a copied row sends every state below
      ``k_first`` to the same place, in one step);
    * ``"copy"`` -- the edge row itself.

    Parameters
    ----------
    kernel : Kernel
        With at least one defined row (e.g. from :func:`sgdllm.kernel.count_kernel`).
    method : {"ot", "ot-exact", "nearest"}
    reg : float
        Entropic regularization of ``"ot"`` (ignored otherwise); default ``5e-3`` as in the
        paper's code.
    outside : {"shift", "copy"}
    tol, max_iter : float, int
        Stopping rule of ``"ot"`` (see :func:`sinkhorn_barycenter`).

    Returns
    -------
    Kernel
        Every row defined; ``method`` tag ``kernel.method + "+impute(<method>)"``; ``visited``,
        ``counts`` and ``scaler`` unchanged. A kernel with every row defined (e.g. Laplace
        smoothing) comes back with the same matrix.

    Raises
    ------
    ValueError
        If no row is defined, ``method`` / ``outside`` / ``reg`` is invalid, or the
        Sinkhorn iteration under/overflows (``reg`` too small; see :func:`sinkhorn_barycenter`).
    """
    if not isinstance(kernel, Kernel):
        raise ValueError(f"impute expects a Kernel, got {type(kernel).__name__}")
    if method not in IMPUTE_METHODS:
        raise ValueError(f"method must be one of {IMPUTE_METHODS}, got {method!r}")
    if outside not in OUTSIDE_RULES:
        raise ValueError(f"outside must be one of {OUTSIDE_RULES}, got {outside!r}")
    if method == "ot":
        reg = _check_reg(reg)
        tol, max_iter = _check_iterations(tol, max_iter)
    rows = np.flatnonzero(kernel.defined)
    if rows.size == 0:
        raise ValueError(
            "the kernel has no defined row, so there is nothing to impute from; estimate it "
            "from a trajectory with at least one transition"
        )
    p = kernel.matrix
    out = p.copy()
    for lo, hi in pairwise(rows):
        if hi - lo < 2:
            continue
        gap = np.arange(lo + 1, hi)
        if method == "nearest":
            out[gap] = np.where((2 * (gap - lo) <= hi - lo)[:, None], p[lo], p[hi])
            continue
        ws = (gap - lo) / (hi - lo)
        a, b = p[lo] / p[lo].sum(), p[hi] / p[hi].sum()
        if method == "ot-exact":
            out[gap] = _quantile_barycenters(a, b, ws)
        else:
            out[gap] = _windowed_sinkhorn(a, b, ws, reg, "exact", tol, max_iter)[0]
    below, above = np.arange(rows[0]), np.arange(rows[-1] + 1, kernel.n_states)
    for edge, targets in ((rows[0], below), (rows[-1], above)):
        if targets.size:
            out[targets] = shift_law(p[edge], targets - edge) if outside == "shift" else p[edge]
    return kernel.with_matrix(out, f"{kernel.method}+impute({method})")


# ----------------------------------------------------------------------------- baselines

#: Rules accepted by :func:`impute_baseline`.
BASELINE_RULES: tuple[str, ...] = ("mixture", "uniform", "identity")

BaselineRule = Literal["mixture", "uniform", "identity"]


def empty_rows(kernel: Kernel) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """The undefined rows of a kernel, split by where they lie with respect to the defined ones.

    With ``k_first`` and ``k_last`` the first and last defined rows, an undefined row ``r`` is

    * *between* defined rows when ``k_first < r < k_last``: :func:`impute` fills it with a
      barycenter of its two defined neighbours (the interpolation the methods differ in);
    * *outside* when ``r < k_first`` or ``r > k_last``: the ``outside`` rule fills it (the
      same for every method).

    Chapter: *Imputation*.

    Parameters
    ----------
    kernel : Kernel
        With at least one defined row.

    Returns
    -------
    between, outside : ndarray of bool, shape (K,)
        Disjoint masks whose union is ``~kernel.defined``.

    Examples
    --------
    >>> m = np.zeros((6, 6)); m[1, 1] = m[4, 4] = 1.0
    >>> between, outside = empty_rows(Kernel(m, m.sum(1) > 0, m.sum(1)))
    >>> np.flatnonzero(between).tolist(), np.flatnonzero(outside).tolist()
    ([2, 3], [0, 5])
    """
    if not isinstance(kernel, Kernel):
        raise ValueError(f"empty_rows expects a Kernel, got {type(kernel).__name__}")
    defined = kernel.defined
    rows = np.flatnonzero(defined)
    if rows.size == 0:
        raise ValueError(
            "the kernel has no defined row, so no row lies between defined ones; estimate it "
            "from a trajectory with at least one transition"
        )
    index = np.arange(kernel.n_states)
    inside = (index > rows[0]) & (index < rows[-1])
    return ~defined & inside, ~defined & ~inside


def impute_baseline(
    kernel: Kernel, rule: BaselineRule, *, outside: OutsideRule = "shift"
) -> Kernel:
    """Fill the undefined rows by a simple rule: the baselines that :func:`impute` must beat.

    Rows between two consecutive defined rows ``k_i < r < k_j`` (``w = (r - k_i) / (k_j -
    k_i)``, as in :func:`impute`) get

    * ``"mixture"`` -- the linear interpolation of the neighbouring laws,
      ``P_r = (1 - w) P_{k_i} + w P_{k_j}``: the barycenter for the Euclidean (L2) geometry of
      laws instead of the Wasserstein one. It has the same mean as the W2 barycenter on the
      line, but a mixture of two narrow laws is bimodal: from ``r`` the chain jumps to where
      ``k_i`` *or* ``k_j`` goes, never in between;
    * ``"uniform"`` -- the uniform law ``1 / K`` (what add-one smoothing gives an unvisited
      state: the chain can jump anywhere, see :func:`sgdllm.kernel.count_kernel`);
    * ``"identity"`` -- the Dirac ``delta_r`` (the chain stays where it is).

    Rows outside the defined range follow ``outside`` exactly as in :func:`impute`, so that a
    baseline and an imputation method differ only on the rows between defined rows.

    Chapter: *Imputation*.

    Parameters
    ----------
    kernel : Kernel
        With at least one defined row.
    rule : {"mixture", "uniform", "identity"}
    outside : {"shift", "copy"}
        Rule for rows below the first or above the last defined row (see :func:`impute`).

    Returns
    -------
    Kernel
        Every row defined; defined rows unchanged; ``method`` tag
        ``kernel.method + "+baseline(<rule>)"``.
    """
    if not isinstance(kernel, Kernel):
        raise ValueError(f"impute_baseline expects a Kernel, got {type(kernel).__name__}")
    if rule not in BASELINE_RULES:
        raise ValueError(
            f"rule must be one of {BASELINE_RULES}, got {rule!r}; for the optimal-transport "
            f"methods use impute(kernel, method) with method in {IMPUTE_METHODS}"
        )
    if outside not in OUTSIDE_RULES:
        raise ValueError(f"outside must be one of {OUTSIDE_RULES}, got {outside!r}")
    between, _ = empty_rows(kernel)  # raises if no row is defined
    rows = np.flatnonzero(kernel.defined)
    p = kernel.matrix
    k = kernel.n_states
    out = p.copy()
    for lo, hi in pairwise(rows):
        if hi - lo < 2:
            continue
        gap = np.arange(lo + 1, hi)
        if rule == "mixture":
            ws = ((gap - lo) / (hi - lo))[:, None]
            out[gap] = (1.0 - ws) * p[lo] + ws * p[hi]
        elif rule == "uniform":
            out[gap] = 1.0 / k
        else:
            out[gap] = 0.0
            out[gap, gap] = 1.0
    below, above = np.arange(rows[0]), np.arange(rows[-1] + 1, k)
    for edge, targets in ((rows[0], below), (rows[-1], above)):
        if targets.size:
            out[targets] = shift_law(p[edge], targets - edge) if outside == "shift" else p[edge]
    out[between] /= out[between].sum(axis=1, keepdims=True)  # rounding of the mixture
    return kernel.with_matrix(out, f"{kernel.method}+baseline({rule})")


def filled_row_errors(
    kernel: Kernel,
    truth: Kernel | ArrayLike,
    rules: tuple[str, ...] | list[str] = IMPUTE_METHODS + BASELINE_RULES,
    *,
    metric: str = "w1",
    reg: float = 5e-3,
) -> dict[str, float]:
    """Mean distance to the true kernel of the rows each rule fills between defined rows.

    For every rule ``m`` (a method of :func:`impute` or a rule of :func:`impute_baseline`),

    .. math::

        E_m = \\frac{1}{|R|} \\sum_{r \\in R} d\\big(P^\\star_r, \\hat P^{(m)}_r\\big),

    over the rows ``R`` that lie between defined rows of ``kernel`` (:func:`empty_rows`): the
    rows where the rules differ. ``d`` is :func:`sgdllm.metrics.w1` (in states) or another
    metric of :func:`sgdllm.metrics.row_distance`.

    Chapter: *Imputation*.

    Parameters
    ----------
    kernel : Kernel
        The sparse kernel, with at least one defined row.
    truth : Kernel or ndarray, shape (K, K)
        The true kernel on the same grid (e.g. :func:`sgdllm.truth.sgd_coordinate_kernel`).
    rules : sequence of str
        Names from :data:`IMPUTE_METHODS` and :data:`BASELINE_RULES`.
    metric : {"w1", "tv", "bhattacharyya", "kl"}
        Row metric (``"kl"`` is ``KL(truth || filled)``).
    reg : float
        Regularization of ``"ot"``.

    Returns
    -------
    dict
        ``{rule: E_rule}``; ``nan`` for every rule when no row lies between defined rows.
    """
    from sgdllm.metrics import row_distance

    if not isinstance(kernel, Kernel):
        raise ValueError(f"filled_row_errors expects a Kernel, got {type(kernel).__name__}")
    unknown = [r for r in rules if r not in IMPUTE_METHODS + BASELINE_RULES]
    if unknown:
        raise ValueError(
            f"unknown rule(s) {unknown}; use methods {IMPUTE_METHODS} or baselines {BASELINE_RULES}"
        )
    reference = truth.matrix if isinstance(truth, Kernel) else np.asarray(truth, dtype=float)
    if reference.shape != kernel.matrix.shape:
        raise ValueError(
            f"truth must be a {kernel.n_states} x {kernel.n_states} kernel on the same grid, "
            f"got shape {reference.shape}"
        )
    between, _ = empty_rows(kernel)
    out: dict[str, float] = {}
    for rule in rules:
        if not between.any():
            out[rule] = float("nan")
            continue
        filled = (
            impute(kernel, rule, reg=reg)
            if rule in IMPUTE_METHODS
            else impute_baseline(kernel, rule)
        )
        out[rule] = row_distance(reference, filled, metric, rows=between)
    return out
