"""Calibrating a model's next-state laws on the transitions the series itself shows.

Chapters: *Side by side, and uncertainty* and *Adaptive optimizers as Markov chains*
(notebooks/side_by_side.md, notebooks/adaptive_optimizers.md).

A language model pretrained on text reads a serialized SGD run and gives, after every value, a
law of the next one (:func:`sgdllm.lm.next_state_laws`). Those laws can be too wide (or too
sharp) without being wrong in their location. A one-parameter fix, the temperature scaling of
Guo et al. (2017, *On calibration of modern neural networks*), rescales every law's log
probabilities by ``1 / tau``:

.. math::

    q_\\tau(s) = \\frac{p(s)^{1/\\tau}}{\\sum_{s'} p(s')^{1/\\tau}} ,

and :func:`fit_temperature` chooses ``tau`` by maximum likelihood of the series' **own** next
values, ``tau = argmax sum_t log q_tau(s_{t+1} | laws[t])``: the transitions an estimator is
given anyway (the counts use the same ones), never the exact kernel. ``tau < 1`` sharpens,
``tau > 1`` widens.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize_scalar

__all__ = ["fit_temperature", "law_width", "temper_laws"]

#: Probability floor before taking logs: an exact zero would make tau irrelevant for that state.
_FLOOR = 1e-12


def _check_laws(laws: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(laws, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] < 2:
        raise ValueError(f"laws must have shape (T, K) with T >= 1, K >= 2, got {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError("laws must be finite and non-negative; pass next_state_laws' output")
    return arr


def temper_laws(laws: ArrayLike, temperature: float) -> NDArray[np.float64]:
    """Every law raised to the power ``1 / temperature`` and renormalized.

    Parameters
    ----------
    laws : array_like, shape (T, K)
        Next-state laws (rows summing to 1).
    temperature : float
        ``tau > 0``; 1 leaves the laws unchanged (up to the floor of 1e-12 per entry).

    Returns
    -------
    ndarray, shape (T, K)
        :math:`q_\\tau`, rows summing to 1.
    """
    arr = _check_laws(laws)
    tau = float(temperature)
    if not np.isfinite(tau) or tau <= 0:
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    logp = np.log(np.maximum(arr, _FLOOR)) / tau
    logp -= logp.max(axis=1, keepdims=True)
    q = np.exp(logp)
    return q / q.sum(axis=1, keepdims=True)


def fit_temperature(
    laws: ArrayLike, next_states: ArrayLike, *, bounds: tuple[float, float] = (0.05, 20.0)
) -> float:
    """The temperature that maximizes the likelihood of the observed next states.

    .. math::

        \\hat\\tau = \\arg\\max_{\\tau} \\sum_{t} \\log q_\\tau(s_{t+1})[\\text{laws}[t]]

    (bounded scalar search on :math:`\\log \\tau`; the log-likelihood is concave in
    :math:`1/\\tau`, so the optimum is unique).

    Parameters
    ----------
    laws : array_like, shape (T, K)
        ``laws[t]`` the law of the state after ``states[t]``.
    next_states : array_like of int, shape (T,)
        The states that did follow, ``states[1 : T + 1]`` -- the series' own values.
    bounds : (float, float)
        Search interval of ``tau``.

    Returns
    -------
    float
    """
    arr = _check_laws(laws)
    nxt = np.asarray(next_states)
    if nxt.shape != (arr.shape[0],) or not np.issubdtype(nxt.dtype, np.integer):
        raise ValueError(
            f"next_states must be {arr.shape[0]} integer states (one per law, states[1:]), "
            f"got shape {nxt.shape} and dtype {nxt.dtype}"
        )
    if nxt.min() < 0 or nxt.max() >= arr.shape[1]:
        raise ValueError(f"next_states must lie in 0..{arr.shape[1] - 1}")
    lo, hi = bounds
    if not 0 < lo < hi:
        raise ValueError(f"bounds must satisfy 0 < low < high, got {bounds}")
    logp = np.log(np.maximum(arr, _FLOOR))
    observed = logp[np.arange(nxt.size), nxt]

    def nll(log_tau: float) -> float:
        z = logp / np.exp(log_tau)
        zmax = z.max(axis=1)
        lse = zmax + np.log(np.exp(z - zmax[:, None]).sum(axis=1))
        return float(np.sum(lse - observed / np.exp(log_tau)))

    res = minimize_scalar(nll, bounds=(np.log(lo), np.log(hi)), method="bounded")
    return float(np.exp(res.x))


def law_width(laws: ArrayLike) -> NDArray[np.float64]:
    """Standard deviation of each law, in states: :math:`\\sqrt{\\sum_s p(s) (s - \\bar s)^2}`.

    Compared with the spread of the run's own steps :math:`s_{t+1} - s_t`, it tells laws that
    are too wide from laws that are right.

    Parameters
    ----------
    laws : array_like, shape (T, K)

    Returns
    -------
    ndarray, shape (T,)
    """
    arr = _check_laws(laws)
    arr = arr / arr.sum(axis=1, keepdims=True)
    s = np.arange(arr.shape[1], dtype=np.float64)
    mean = arr @ s
    return np.sqrt(np.maximum(arr @ s**2 - mean**2, 0.0))
