"""Calibrating next-state laws on the transitions a series shows, never on the truth.

Chapters: *In-context scaling laws*, *Extracting transition probabilities*.

A language model's in-context law of the next state may have the right shape and the wrong
sharpness (too flat or too peaked), or be worse than counting on some rows and better on others.
Two one-parameter repairs are fitted by **maximum likelihood on observed next values**: row
``t`` of a series' laws is a prediction of ``s_{t+1}``, which the series itself shows, so the
mean log-likelihood

.. math::

    \\ell(\\theta) = \\frac{1}{n} \\sum_t \\log q_\\theta(s_{t+1} \\mid t)

is a score computable without the true kernel (it is the cross-entropy a proper scoring rule
minimizes, cf. Guo et al. 2017, "On calibration of modern neural networks", for temperature
scaling).

* :func:`temper` -- ``q_T(s) \\propto p(s)^{1/T}``: ``T > 1`` flattens a law, ``T < 1``
  sharpens it; :func:`fit_temperature` fits ``T``.
* :func:`mix_laws` -- ``q_w = w p + (1 - w) r``, e.g. a model's laws with smoothed counts;
  :func:`fit_mixture_weight` fits ``w`` (the log-likelihood is concave in ``w``).

Fit on one part of the data and evaluate on another (other series of the same chain, or the
earlier steps of a series): the functions take whatever rows they are given.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize_scalar

__all__ = ["fit_mixture_weight", "fit_temperature", "mix_laws", "temper"]

#: Floor on a probability inside a logarithm (a law with an exact zero on an observed value).
_TINY = 1e-300


def _check_laws(laws: ArrayLike, name: str = "laws") -> NDArray[np.float64]:
    p = np.asarray(laws, dtype=np.float64)
    if p.ndim < 1 or p.shape[-1] < 2:
        raise ValueError(f"{name} must have shape (..., K) with K >= 2 states, got {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"{name} must be finite and non-negative (laws over the states)")
    return p


def _check_pairs(
    laws: NDArray[np.float64], targets: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    s = np.asarray(targets)
    if s.shape != laws.shape[:-1]:
        raise ValueError(
            f"targets must have shape {laws.shape[:-1]} (one observed next state per law), "
            f"got {s.shape}; row t of a series' laws predicts states[t + 1]: pass "
            f"laws[..., :-1, :] and states[..., 1:]"
        )
    if s.size == 0:
        raise ValueError("no (law, next state) pairs to fit on")
    if not np.issubdtype(s.dtype, np.integer) or s.min() < 0 or s.max() >= laws.shape[-1]:
        raise ValueError(f"targets must be integer states in [0, {laws.shape[-1] - 1}]")
    return laws.reshape(-1, laws.shape[-1]), s.reshape(-1).astype(np.int64)


def temper(laws: ArrayLike, temperature: float) -> NDArray[np.float64]:
    """Laws at temperature ``T``: ``q(s) = p(s)^{1/T} / sum_s' p(s')^{1/T}``.

    Parameters
    ----------
    laws : array_like, shape (..., K)
    temperature : float
        ``T > 0``; 1 returns the laws (renormalized).

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


def fit_temperature(
    laws: ArrayLike, targets: ArrayLike, *, bounds: tuple[float, float] = (0.05, 20.0)
) -> float:
    """The temperature maximizing the mean log-likelihood of the observed next states.

    .. math::

        \\hat T = \\arg\\max_{T} \\frac1n \\sum_i \\log \\frac{p_i(s_i)^{1/T}}
        {\\sum_{s} p_i(s)^{1/T}}

    searched on ``log T`` within ``bounds`` (bounded Brent).

    Parameters
    ----------
    laws : array_like, shape (..., K)
        Laws of next states.
    targets : array_like of int, shape (...)
        The states that followed (for a series: ``laws[:-1]`` with ``states[1:]``).
    bounds : (float, float)
        Range of ``T``.

    Returns
    -------
    float
    """
    lo, hi = bounds
    if not (0 < lo < hi):
        raise ValueError(f"bounds must be 0 < low < high, got {bounds!r}")
    p, s = _check_pairs(_check_laws(laws), targets)
    with np.errstate(divide="ignore"):
        logp = np.maximum(np.log(p), np.log(_TINY))
    rows = np.arange(s.size)

    def nll(log_t: float) -> float:
        z = logp / np.exp(log_t)
        m = z.max(axis=1)
        return float(np.mean(m + np.log(np.exp(z - m[:, None]).sum(axis=1)) - z[rows, s]))

    res = minimize_scalar(nll, bounds=(np.log(lo), np.log(hi)), method="bounded")
    return float(np.exp(res.x))


def mix_laws(laws: ArrayLike, other: ArrayLike, weight: float) -> NDArray[np.float64]:
    """The mixture ``weight * laws + (1 - weight) * other`` (rows renormalized).

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
    q = weight * p + (1.0 - weight) * r
    return q / q.sum(axis=-1, keepdims=True)


def fit_mixture_weight(laws: ArrayLike, other: ArrayLike, targets: ArrayLike) -> float:
    """The weight ``w`` of ``laws`` in :func:`mix_laws` maximizing the observed likelihood.

    .. math::

        \\hat w = \\arg\\max_{w \\in [0, 1]} \\frac1n \\sum_i \\log\\big(w\\, p_i(s_i) +
        (1 - w)\\, r_i(s_i)\\big),

    a concave problem (bounded Brent on ``[0, 1]``).

    Parameters
    ----------
    laws, other : array_like, shape (..., K)
        Two estimators' laws of the same next states (rows sum to 1).
    targets : array_like of int, shape (...)
        The states that followed.
    """
    p, s = _check_pairs(_check_laws(laws), targets)
    r, _ = _check_pairs(_check_laws(other, "other"), targets)
    rows = np.arange(s.size)
    a = p[rows, s] / p.sum(axis=1)
    b = r[rows, s] / r.sum(axis=1)

    def nll(w: float) -> float:
        return float(-np.mean(np.log(np.maximum(w * a + (1 - w) * b, _TINY))))

    res = minimize_scalar(nll, bounds=(0.0, 1.0), method="bounded")
    # Brent stops inside the interval: compare with the end points, where the optimum often is
    best = min((res.x, 0.0, 1.0), key=nll)
    return float(best)
