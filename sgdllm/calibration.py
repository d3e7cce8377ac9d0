"""Calibrating next-state laws on the transitions a series shows, never on the truth.

Chapters: *Extracting transition probabilities*, *In-context scaling laws*, *Predicting SGD*,
*Side by side, and uncertainty*, *Adaptive optimizers as Markov chains*, *Your own trajectories*.

A language model's in-context law of the next state may put its peak in the right place and be
too wide (or too sharp), or be worse than counting on some rows and better on others. The only
data a user has to repair it is the series itself: row ``t`` of a series' laws predicts
``s_{t+1}``, which the series shows. Two one-parameter repairs are fitted by **maximum
likelihood on the observed next states**, the mean log-likelihood

.. math::

    \\ell(\\theta) = \\frac{1}{n} \\sum_t \\log q_{\\theta, t}(s_{t+1}),

a proper score computable without the true kernel:

* temperature scaling (Guo et al. 2017, "On calibration of modern neural networks"),
  :func:`temper_laws` and :func:`fit_temperature`:
  ``q_tau(s) = p(s)^{1/tau} / sum_s' p(s')^{1/tau}``, ``tau > 1`` widens, ``tau < 1`` sharpens;
* mixing with another estimator, :func:`mix_laws` and :func:`fit_mixture_weight`:
  ``q_w = w p + (1 - w) r`` (the log-likelihood is concave in ``w``). Mixed with counts, the
  counts must be *prequential* (:func:`prequential_count_laws`: row ``t`` counts only the
  transitions before ``t``), or they would score the very transitions they were counted from
  and win by construction.

The fitting functions take pairs: ``laws`` of shape ``(..., K)`` and the states that followed,
``next_states`` of shape ``(...)``; for one series, ``laws[:-1]`` with ``states[1:]`` (the last
row predicts a state not observed). Fit on one part of the data and score on another (other
series of the same chain, or the earlier steps of a series) to report an honest gain:
:func:`leave_one_out` fits on every series but one, for each series.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize_scalar

__all__ = [
    "FLOOR",
    "TEMPERATURE_BOUNDS",
    "fit_mixture_weight",
    "fit_temperature",
    "leave_one_out",
    "mix_laws",
    "observed_log_likelihood",
    "prequential_count_laws",
    "temper_laws",
]

T = TypeVar("T")

#: Probabilities are floored here inside a logarithm, so that a next state a law gave no mass
#: costs a large, finite penalty instead of minus infinity.
FLOOR = 1e-300
#: Range of the temperatures :func:`fit_temperature` searches by default.
TEMPERATURE_BOUNDS = (0.05, 20.0)


def _check_laws(laws: ArrayLike, name: str = "laws") -> NDArray[np.float64]:
    p = np.asarray(laws, dtype=np.float64)
    if p.ndim < 1 or p.shape[-1] < 2:
        raise ValueError(f"{name} must have shape (..., K) with K >= 2 states, got {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"{name} must be finite and non-negative (laws over the states)")
    if np.any(p.sum(axis=-1) <= 0):
        raise ValueError(f"every row of {name} must have some positive mass")
    return p


def _check_pairs(
    laws: NDArray[np.float64], next_states: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Laws as ``(n, K)`` rows summing to 1 and their observed next states as ``(n,)``."""
    s = np.asarray(next_states)
    if s.shape != laws.shape[:-1]:
        raise ValueError(
            f"next_states must have shape {laws.shape[:-1]} (one observed next state per law), "
            f"got {s.shape}; row t of a series' laws predicts states[t + 1]: pass "
            f"laws[:-1] and states[1:]"
        )
    if s.size == 0:
        raise ValueError("no (law, next state) pairs to fit on")
    if not np.issubdtype(s.dtype, np.integer) or s.min() < 0 or s.max() >= laws.shape[-1]:
        raise ValueError(f"next_states must be integer states in [0, {laws.shape[-1] - 1}]")
    p = laws.reshape(-1, laws.shape[-1])
    return p / p.sum(axis=1, keepdims=True), s.reshape(-1).astype(np.int64)


def temper_laws(laws: ArrayLike, temperature: float) -> NDArray[np.float64]:
    """Laws at temperature ``tau``: ``q(s) = p(s)^{1/tau} / sum_s' p(s')^{1/tau}``.

    Parameters
    ----------
    laws : array_like, shape (..., K)
        Non-negative rows, each with some mass.
    temperature : float
        ``tau > 0``; 1 returns the laws renormalized, below 1 sharpens, above 1 widens. States
        of zero mass keep zero mass.

    Returns
    -------
    ndarray, shape (..., K)
    """
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    p = _check_laws(laws)
    with np.errstate(divide="ignore"):
        logits = np.log(p) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    q = np.exp(logits)
    return q / q.sum(axis=-1, keepdims=True)


def observed_log_likelihood(laws: ArrayLike, next_states: ArrayLike) -> float:
    """Mean log-probability the laws give the observed next states,
    ``mean_i log max(p_i(s_i), FLOOR)`` (rows renormalized).

    Parameters
    ----------
    laws : array_like, shape (..., K)
    next_states : array_like of int, shape (...)
        For a series: ``laws[:-1]`` with ``states[1:]``.
    """
    p, s = _check_pairs(_check_laws(laws), next_states)
    return float(np.mean(np.log(np.maximum(p[np.arange(s.size), s], FLOOR))))


def fit_temperature(
    laws: ArrayLike, next_states: ArrayLike, *, bounds: tuple[float, float] = TEMPERATURE_BOUNDS
) -> float:
    """The temperature maximizing the mean log-likelihood of the observed next states.

    .. math::

        \\hat\\tau = \\arg\\max_{\\tau} \\frac1n \\sum_i \\log
        \\frac{p_i(s_i)^{1/\\tau}}{\\sum_{s} p_i(s)^{1/\\tau}}

    searched on ``log tau`` within ``bounds`` (bounded Brent; the log-likelihood is concave in
    ``1/tau``, so the optimum is unique).

    Parameters
    ----------
    laws : array_like, shape (..., K)
    next_states : array_like of int, shape (...)
        The states that followed (for a series: ``laws[:-1]`` with ``states[1:]``).
    bounds : (float, float)
        Range of ``tau``.

    Returns
    -------
    float
    """
    lo, hi = bounds
    if not (0 < lo < hi):
        raise ValueError(f"bounds must be 0 < low < high, got {bounds!r}")
    p, s = _check_pairs(_check_laws(laws), next_states)
    with np.errstate(divide="ignore"):
        logp = np.maximum(np.log(p), np.log(FLOOR))
    rows = np.arange(s.size)

    def nll(log_t: float) -> float:
        z = logp / np.exp(log_t)
        m = z.max(axis=1)
        return float(np.mean(m + np.log(np.exp(z - m[:, None]).sum(axis=1)) - z[rows, s]))

    res = minimize_scalar(nll, bounds=(np.log(lo), np.log(hi)), method="bounded")
    return float(np.exp(res.x))


def mix_laws(laws: ArrayLike, other: ArrayLike, weight: float) -> NDArray[np.float64]:
    """The mixture ``weight * laws + (1 - weight) * other``, rows renormalized.

    Parameters
    ----------
    laws, other : array_like, shape (..., K)
    weight : float in [0, 1]
    """
    if not (0.0 <= weight <= 1.0):
        raise ValueError(f"weight must be in [0, 1], got {weight!r}")
    p, r = _check_laws(laws), _check_laws(other, "other")
    if p.shape != r.shape:
        raise ValueError(f"laws and other must have the same shape, got {p.shape}, {r.shape}")
    q = weight * p / p.sum(axis=-1, keepdims=True) + (1.0 - weight) * r / r.sum(
        axis=-1, keepdims=True
    )
    return q / q.sum(axis=-1, keepdims=True)


def fit_mixture_weight(laws: ArrayLike, other: ArrayLike, next_states: ArrayLike) -> float:
    """The weight ``w`` of ``laws`` in :func:`mix_laws` maximizing the observed likelihood.

    .. math::

        \\hat w = \\arg\\max_{w \\in [0, 1]} \\frac1n \\sum_i \\log\\big(w\\, p_i(s_i) +
        (1 - w)\\, r_i(s_i)\\big),

    a concave problem (bounded Brent on ``[0, 1]``, then compared with the end points, where
    the optimum often is).

    Parameters
    ----------
    laws, other : array_like, shape (..., K)
        Two estimators' laws of the same next states; ``other`` prequential if it is counted
        from the same series (:func:`prequential_count_laws`).
    next_states : array_like of int, shape (...)
        The states that followed.
    """
    p, s = _check_pairs(_check_laws(laws), next_states)
    r, _ = _check_pairs(_check_laws(other, "other"), next_states)
    if p.shape != r.shape:
        raise ValueError(f"laws and other must have the same shape, got {p.shape}, {r.shape}")
    rows = np.arange(s.size)
    a, b = p[rows, s], r[rows, s]

    def nll(w: float) -> float:
        return float(-np.mean(np.log(np.maximum(w * a + (1 - w) * b, FLOOR))))

    res = minimize_scalar(nll, bounds=(0.0, 1.0), method="bounded")
    return float(min((res.x, 0.0, 1.0), key=nll))


def leave_one_out(fit: Callable[..., T], *arrays: ArrayLike) -> list[T]:
    """``fit`` on every series but ``i``, for each series ``i`` (leave one series out).

    Parameters
    ----------
    fit : callable
        ``fit(*arrays)`` on arrays whose first axis is the series, e.g.
        ``lambda p, s: fit_temperature(p[:, :-1], s[:, 1:])``.
    *arrays : array_like, shape (n_series, ...)
        At least one, all with the same number of series ``n_series >= 2``.

    Returns
    -------
    list, length n_series
        Item ``i``: ``fit`` of the arrays without their series ``i``, to be scored on series
        ``i``, which it never saw.
    """
    a = [np.asarray(x) for x in arrays]
    if not a or any(x.ndim == 0 or len(x) != len(a[0]) for x in a) or len(a[0]) < 2:
        raise ValueError(
            f"pass at least one array, all with the same number (>= 2) of series on their "
            f"first axis, got shapes {[x.shape for x in a]}"
        )
    n = len(a[0])
    return [fit(*(x[np.arange(n) != i] for x in a)) for i in range(n)]


def prequential_count_laws(
    states: ArrayLike, n_states: int, prior: float = 1.0
) -> NDArray[np.float64]:
    """Row ``t``: the law of ``s_{t+1}`` counted from the transitions seen *before* step ``t``.

    .. math::

        c_t(s') = \\frac{N_t(s_t, s') + \\alpha / K}{N_t(s_t) + \\alpha},

    with ``N_t(s, s')`` the number of transitions ``s -> s'`` among ``s_0 .. s_t`` (so not the
    one being predicted), ``N_t(s)`` their total from ``s``, and ``alpha = prior`` the weight of
    a uniform prior over the ``K = n_states`` states (a state not yet left has the uniform law).

    Returns
    -------
    ndarray, shape (T, K)
    """
    s = np.asarray(states)
    if s.ndim != 1 or not np.issubdtype(s.dtype, np.integer) or s.size < 1:
        raise ValueError("states must be a 1-D integer series")
    if s.min() < 0 or s.max() >= n_states:
        raise ValueError(f"states must be in 0..{n_states - 1}")
    if not prior > 0:
        raise ValueError(f"prior must be positive, got {prior!r}")
    counts = np.zeros((n_states, n_states))
    out = np.empty((s.size, n_states))
    for t in range(s.size):
        row = counts[s[t]]
        out[t] = (row + prior / n_states) / (row.sum() + prior)
        if t + 1 < s.size:
            counts[s[t], s[t + 1]] += 1
    return out
