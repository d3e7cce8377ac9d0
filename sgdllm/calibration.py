"""Calibration of next-state laws on the observed transitions of the series they were read from.

Chapter: *Predicting SGD* (section *Why the text-pretrained models fall short*), and *Your own
trajectories*.

A language model's law of the next state, read in context, can be right in where it puts its
peak and wrong in how wide it is. The only data a careful user has to correct the width is the
series itself: row ``t`` of the laws is the model's law of ``s_{t+1}``, and ``s_{t+1}`` was
observed. Temperature scaling (Guo et al. 2017, "On calibration of modern neural networks")
tempers every law,

.. math::

    q_\\tau(s) = \\frac{p(s)^{1/\\tau}}{\\sum_{s'} p(s')^{1/\\tau}} ,

and fits the one number ``tau`` by maximum likelihood on the observed next states,

.. math::

    \\hat\\tau = \\arg\\max_\\tau \\sum_{t=0}^{T-2} \\log q_{\\tau, t}(s_{t+1}) .

``tau < 1`` sharpens the laws, ``tau > 1`` widens them.

A law whose centre is off is not repaired by its width. The second correction mixes the model's
laws with the counted transitions, ``q_t = lam p_t + (1 - lam) c_t``, with ``lam`` fitted by
maximum likelihood on the same observed next states. The counted law must then be
*prequential* (:func:`prequential_count_laws`: ``c_t`` counts only the transitions before
``t``), or the counts would score the very transitions they were counted from and win by
construction.

Nothing here looks at the truth (real SGD runs from other starts, or the exact kernel): only at
the series the model read. Each fit has one degree of freedom for hundreds of transitions.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize_scalar

__all__ = [
    "FLOOR",
    "fit_mixture_weight",
    "fit_temperature",
    "observed_log_likelihood",
    "prequential_count_laws",
    "temper_laws",
]

#: Probabilities are floored here before the logarithm, so that a next state to which a law gave
#: zero mass costs a large, finite penalty instead of minus infinity.
FLOOR = 1e-12
#: Range of the temperatures searched by :func:`fit_temperature`.
TEMPERATURE_BOUNDS = (0.05, 20.0)


def _check(laws: ArrayLike, states: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    p = np.asarray(laws, dtype=np.float64)
    s = np.asarray(states)
    if p.ndim != 2:
        raise ValueError(f"laws must have shape (T, K), got {p.shape}")
    if s.ndim != 1 or s.shape[0] != p.shape[0]:
        raise ValueError(
            f"states must have shape (T,) with T = {p.shape[0]} (one per law), got {s.shape}; "
            f"pass the series the laws were read from"
        )
    if p.shape[0] < 2:
        raise ValueError("need at least 2 steps: row t is scored on the observed state t + 1")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("laws must be finite and non-negative")
    if not np.issubdtype(s.dtype, np.integer) or s.min() < 0 or s.max() >= p.shape[1]:
        raise ValueError(f"states must be integers in 0..{p.shape[1] - 1}")
    return p, s.astype(np.int64)


def temper_laws(laws: ArrayLike, temperature: float) -> NDArray[np.float64]:
    """Temper every law: ``q(s) ∝ p(s) ** (1 / temperature)``, rows renormalized.

    Parameters
    ----------
    laws : array_like, shape (T, K)
        Non-negative rows (each with some positive mass).
    temperature : float
        ``> 0``; 1 returns the laws (renormalized), below 1 sharpens, above 1 widens. States of
        zero mass keep zero mass.

    Returns
    -------
    ndarray, shape (T, K)
    """
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    p = np.asarray(laws, dtype=np.float64)
    if p.ndim != 2 or not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("laws must be a finite, non-negative array of shape (T, K)")
    if np.any(p.sum(axis=1) <= 0):
        raise ValueError("every law must have some positive mass")
    with np.errstate(divide="ignore"):
        logp = np.where(p > 0, np.log(p), -np.inf) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    q = np.exp(logp)
    return q / q.sum(axis=1, keepdims=True)


def observed_log_likelihood(laws: ArrayLike, states: ArrayLike) -> float:
    """Mean log-probability that row ``t`` gives the observed next state ``s_{t+1}``.

    ``mean_t log max(p_t(s_{t+1}), FLOOR)`` over ``t = 0..T-2`` (the last row predicts a state
    that was not observed).
    """
    p, s = _check(laws, states)
    hit = p[np.arange(len(s) - 1), s[1:]] / p[:-1].sum(axis=1)
    return float(np.mean(np.log(np.maximum(hit, FLOOR))))


def fit_temperature(laws: ArrayLike, states: ArrayLike) -> float:
    """Temperature that maximizes the likelihood of the observed next states (see module).

    Parameters
    ----------
    laws : array_like, shape (T, K)
        Row ``t`` is a law of ``s_{t+1}`` (e.g. from :func:`sgdllm.lm.next_state_laws`).
    states : array_like of int, shape (T,)
        The series the laws were read from.

    Returns
    -------
    float
        ``tau`` in :data:`TEMPERATURE_BOUNDS` (bounded scalar search over ``log tau``).
    """
    p, s = _check(laws, states)

    def loss(log_tau: float) -> float:
        return -observed_log_likelihood(temper_laws(p, float(np.exp(log_tau))), s)

    lo, hi = np.log(TEMPERATURE_BOUNDS)
    res = minimize_scalar(loss, bounds=(lo, hi), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(res.x))


def prequential_count_laws(states: ArrayLike, n_states: int, prior: float = 1.0) -> NDArray:
    """Row ``t``: the law of ``s_{t+1}`` from the transitions observed *before* step ``t``.

    .. math::

        c_t(s') = \\frac{N_t(s_t, s') + \\alpha / K}{N_t(s_t) + \\alpha} ,

    with ``N_t(s, s')`` the number of transitions ``s -> s'`` among ``s_0 .. s_t`` (so not the
    one being predicted), ``N_t(s)`` their total from ``s``, and ``alpha = prior`` the weight of
    a uniform prior over the ``K = n_states`` states (a state not yet left has the uniform
    law).

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


def fit_mixture_weight(laws: ArrayLike, other: ArrayLike, states: ArrayLike) -> float:
    """Weight ``lam`` in [0, 1] of ``laws`` in ``lam laws + (1 - lam) other`` that maximizes the
    likelihood of the observed next states (see module; ``other`` should be prequential, e.g.
    :func:`prequential_count_laws`)."""
    p, s = _check(laws, states)
    q, _ = _check(other, states)
    if q.shape != p.shape:
        raise ValueError(f"laws {p.shape} and other {q.shape} must have the same shape")
    idx = np.arange(len(s) - 1)
    hit_p = p[idx, s[1:]] / p[:-1].sum(axis=1)
    hit_q = q[idx, s[1:]] / q[:-1].sum(axis=1)

    def loss(lam: float) -> float:
        return -float(np.mean(np.log(np.maximum(lam * hit_p + (1 - lam) * hit_q, FLOOR))))

    res = minimize_scalar(loss, bounds=(0.0, 1.0), method="bounded", options={"xatol": 1e-4})
    return float(res.x)
