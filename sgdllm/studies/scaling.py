"""In-context scaling laws: learning curves of next-state estimators and power-law fits.

Chapter: *In-context scaling laws*.

How fast does an in-context estimate of a transition law improve as the context grows? Liu et
al. (2024), "LLMs learn governing principles of dynamical systems, revealing an in-context
neural scaling law", measure it as a **learning curve**: at step ``t`` of a series the
estimator has seen the ``N = t + 1`` values ``s_0..s_t`` and gives a law of ``s_{t+1}``; its
loss is the Bhattacharyya distance to the true transition row of the current state,

.. math::

    L_t = D_B\\big(P[s_t, \\cdot\\,], \\hat P_t\\big), \\qquad
    D_B(p, q) = -\\log \\sum_{s'} \\sqrt{p_{s'} q_{s'}},

averaged over independent series (seeds), smoothed with a moving window and fitted by a power
law ``L(N) = c N^alpha`` on log-log axes. Zekri, Benechehab & Redko (2024) draw it for Markov
chains of spectral gaps 0.15, 0.35 and 0.8 and read ``alpha`` = -0.48, -0.26 and -0.09: the
slower the chain mixes, the steeper the decay.

* :func:`chain_series` -- a series of a finite Markov chain, discretized as the book does,
  with the exact kernel of the discretized chain (:func:`chain_kernel`).
* :func:`classical_laws` -- the classical estimators (counts with add-one smoothing, Gaussian
  smoothing with the rule-of-thumb or cross-validated bandwidths of :mod:`sgdllm.kernel`)
  refitted at every step on the values seen so far.
* :func:`learning_curve`, :func:`learning_curves` -- losses per step, for several seeds and
  estimators (any ``laws_fn(states, digits) -> (T, K)``, e.g. a language model through
  ``sgdllm.lm.next_state_laws``); :func:`series_learning_curves` scores laws already read.
* :func:`leak_cost` -- the part of the loss due to mass left off the true row's atoms.
* :func:`count_risk` -- the asymptotic loss of the empirical transition frequencies, the
  parametric ``1 / N`` rate a consistent estimator can reach.
* :func:`moving_average`, :func:`fit_power_law`, :func:`fit_scaling_law` -- smoothing, the fit
  and its uncertainty (bootstrap over seeds); :func:`stays_below_from` -- where one smoothed
  curve passes below another for good.

This module does not import the language-model corner: the model enters as a ``laws_fn``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import curve_fit

from sgdllm.discretize import Scaler, check_digits, check_states, discretize
from sgdllm.kernel import MAX_KERNEL_DIGITS, cv_bandwidth, rule_bandwidth
from sgdllm.metrics import METRICS, stationary_law

__all__ = [
    "ESTIMATORS",
    "ChainSeries",
    "LearningCurves",
    "PowerLawFit",
    "ScalingFit",
    "chain_kernel",
    "chain_series",
    "classical_laws",
    "count_risk",
    "fit_power_law",
    "fit_scaling_law",
    "leak_cost",
    "learning_curve",
    "learning_curves",
    "moving_average",
    "series_learning_curves",
    "stay_probability",
    "stays_below_from",
]

#: Classical estimators of :func:`classical_laws`.
ESTIMATORS = ("laplace", "rule", "cv")

LawsFn = Callable[[NDArray[np.int64], int], ArrayLike]
Seed = int | Sequence[int]


# ----------------------------------------------------------------------------- chains


def _check_matrix(matrix: ArrayLike) -> NDArray[np.float64]:
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 2:
        raise ValueError(
            f"matrix must be a square n x n transition matrix with n >= 2, got shape {m.shape}; "
            f"e.g. sgdllm.truth.two_state_chain(a, b)"
        )
    if not np.all(np.isfinite(m)) or (m < 0).any():
        raise ValueError("matrix must be finite and non-negative")
    sums = m.sum(axis=1)
    if np.abs(sums - 1.0).max() > 1e-8:
        s = int(np.argmax(np.abs(sums - 1.0)))
        raise ValueError(f"row {s} of matrix sums to {sums[s]:.6g}; rows must sum to 1")
    return m / sums[:, None]


def _check_values(values: ArrayLike | None, n: int) -> NDArray[np.float64]:
    if values is None:
        return np.arange(n, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if v.shape != (n,) or not np.all(np.isfinite(v)):
        raise ValueError(f"values must be {n} finite numbers (one per state of the chain)")
    if np.unique(v).size != n:
        raise ValueError("values must be distinct: two states of the chain would be one value")
    return v


def chain_kernel(
    matrix: ArrayLike, values: ArrayLike | None, scaler: Scaler
) -> NDArray[np.float64]:
    """Exact kernel of a finite chain on values ``v_0..v_{n-1}``, on the grid of ``scaler``.

    With ``sigma(i)`` the state of value ``v_i`` (:meth:`Scaler.to_states`, clipping to the
    grid), row ``sigma(i)`` is the law of the next state,

    .. math::

        P[\\sigma(i), s'] = \\sum_{j : \\sigma(j) = s'} M_{ij}.

    Values sharing a state (only on grids too coarse for them) share the average of their rows
    weighted by the stationary law (the law of the next state given the shared state, in
    stationarity). Rows of states no value occupies -- never current states of the series --
    copy the row of the nearest occupied state, so that the kernel is complete.

    Parameters
    ----------
    matrix : array_like, shape (n, n)
        Row-stochastic transition matrix ``M`` of the chain.
    values : array_like, shape (n,), optional
        Distinct values of the chain's states; default ``0, 1, ..., n - 1``.
    scaler : Scaler
        The grid (e.g. the one :func:`sgdllm.discretize.discretize` fitted on the series).

    Returns
    -------
    ndarray, shape (K, K)
        Row-stochastic.
    """
    m = _check_matrix(matrix)
    v = _check_values(values, m.shape[0])
    if not isinstance(scaler, Scaler):
        raise ValueError(
            f"scaler must be a sgdllm.discretize.Scaler, got {type(scaler).__name__}; "
            f"fit one with sgdllm.discretize.fit_scaler"
        )
    k = scaler.n_states
    where = scaler.to_states(v, warn=False)
    per_value = m @ (where[:, None] == np.arange(k)[None, :])  # (n, K): M summed per state
    occupied, inverse = np.unique(where, return_inverse=True)
    pi = stationary_law(m)
    weight = np.where(pi > 0, pi, 1e-300)  # a transient value still defines its state's row
    rows = np.zeros((occupied.size, k))
    np.add.at(rows, inverse, weight[:, None] * per_value)
    rows /= rows.sum(axis=1, keepdims=True)
    nearest = np.abs(np.arange(k)[:, None] - occupied[None, :]).argmin(axis=1)
    return rows[nearest]


@dataclass(frozen=True)
class ChainSeries:
    """One series of a finite chain, discretized, with its exact kernel.

    Attributes
    ----------
    indices : ndarray of int, shape (T,)
        States ``0..n-1`` of the chain visited.
    values : ndarray, shape (T,)
        Their values.
    states : ndarray of int, shape (T,)
        Grid states after the book's rescaling (whole-series min/max to [0.15, 0.85]).
    scaler : Scaler
    truth : ndarray, shape (K, K)
        Exact kernel of the discretized chain (:func:`chain_kernel`); ``truth[states[t]]`` is
        the law of ``states[t + 1]``.
    """

    indices: NDArray[np.int64]
    values: NDArray[np.float64]
    states: NDArray[np.int64]
    scaler: Scaler
    truth: NDArray[np.float64]


def chain_series(
    matrix: ArrayLike,
    n_steps: int,
    digits: int,
    seed: Seed,
    *,
    values: ArrayLike | None = None,
) -> ChainSeries:
    """Sample ``n_steps`` values of a finite chain from its stationary law and discretize them.

    The first state is drawn from the stationary law ``pi``
    (:func:`sgdllm.metrics.stationary_law`), so every step is in stationarity and the loss at
    step ``t`` depends on the context length only; then ``X_{t+1} ~ M[X_t]``. The series is
    discretized on its own min/max (:func:`sgdllm.discretize.discretize`), as the book and the
    language model do.

    Parameters
    ----------
    matrix : array_like, shape (n, n)
        Transition matrix (e.g. :func:`sgdllm.truth.two_state_chain`).
    n_steps : int
        Length ``T`` of the series (at least 2).
    digits : int
        Digits per value.
    seed : int or sequence of int
        Seed of ``numpy.random.default_rng``.
    values : array_like, shape (n,), optional
        Values of the chain's states; default ``0..n-1``.

    Returns
    -------
    ChainSeries
    """
    m = _check_matrix(matrix)
    v = _check_values(values, m.shape[0])
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 2:
        raise ValueError(f"n_steps must be an integer >= 2, got {n_steps!r}")
    digits = check_digits(digits)
    rng = np.random.default_rng(seed)
    cum = np.cumsum(m, axis=1)
    u = rng.uniform(size=n_steps)
    idx = np.empty(n_steps, dtype=np.int64)
    i = int(min(np.searchsorted(np.cumsum(stationary_law(m)), u[0], side="right"), len(v) - 1))
    for t in range(n_steps):
        idx[t] = i
        if t + 1 < n_steps:
            i = int(min(np.searchsorted(cum[i], u[t + 1], side="right"), len(v) - 1))
    vals = v[idx]
    states, scaler = discretize(vals, digits)
    return ChainSeries(idx, vals, states, scaler, chain_kernel(m, v, scaler))


# ----------------------------------------------------------------------------- estimators


def _gaussian_row(
    src: NDArray[np.int64], dst: NDArray[np.int64], cur: int, k: int, hx: float, hy: float
) -> NDArray[np.float64] | None:
    """Row ``cur`` of ``count_kernel(..., "gaussian", bandwidth=(hx, hy))``; None if undefined.

    Only the row is computed: the weights ``exp(-(cur - a)^2 / 2 hx^2)`` of the distinct
    sources ``a``, rescaled by that of the nearest one (which cancels), times the counts of the
    pairs ``(a, b)``, times the discrete Gaussian laws around the distinct targets ``b``.
    """
    pairs, n_ab = np.unique(src * k + dst, return_counts=True)
    e = (cur - pairs // k).astype(np.float64) ** 2 / (2.0 * hx * hx)
    if np.exp(-e.min()) == 0.0:  # the nearest source's weight underflows: row undefined
        return None
    w = np.exp(e.min() - e) * n_ab
    targets, inverse = np.unique(pairs % k, return_inverse=True)
    wb = np.bincount(inverse, weights=w, minlength=targets.size)
    g = np.exp(-((np.arange(k)[None, :] - targets[:, None]) ** 2) / (2.0 * hy * hy))
    row = wb @ (g / g.sum(axis=1, keepdims=True))
    return row / row.sum()


def _checkpoint(t: int, first: int) -> int | None:
    """Largest ``first * 2^j <= t`` (the last CV refit before step ``t``), or None."""
    if t < first:
        return None
    c = first
    while 2 * c <= t:
        c *= 2
    return c


def classical_laws(
    states: ArrayLike,
    digits: int,
    estimator: str,
    *,
    cv_first: int = 8,
) -> NDArray[np.float64]:
    """Laws of ``s_{t+1}`` from a classical estimator fitted on ``s_0..s_t``, for every ``t``.

    Row ``t`` is row ``s_t`` of :func:`sgdllm.kernel.count_kernel` fitted on the first
    ``t + 1`` values (no look-ahead), computed alone (one row, not the ``K x K`` kernel, per
    step; the tests check it against ``count_kernel``):

    * ``"laplace"`` -- add-one counts, ``(C[s_t, s'] + 1) / (n_{s_t} + K)``, the bigram
      baseline of Liu et al. (2024);
    * ``"rule"`` -- Gaussian-smoothed counts with the rule-of-thumb bandwidth
      (:func:`sgdllm.kernel.rule_bandwidth`) of the values seen;
    * ``"cv"`` -- Gaussian-smoothed counts with the leave-one-out cross-validated bandwidths
      (:func:`sgdllm.kernel.cv_bandwidth`). Selecting them at every step would cost a grid
      search per step, so they are refitted at the doubling checkpoints ``t = c, 2c, 4c, ...``
      (``c = cv_first``) on the values seen at the checkpoint and used until the next one;
      before the first checkpoint the bandwidths are one state.

    A row the estimator leaves undefined (no transition seen yet, or a Gaussian row whose
    weights underflow) is the uniform law.

    Parameters
    ----------
    states : array_like of int, shape (T,)
    digits : int
        ``K = 10**digits`` states, at most 3.
    estimator : {"laplace", "rule", "cv"}
    cv_first : int
        First checkpoint of the CV bandwidths (at least 2 transitions, so ``>= 2``).

    Returns
    -------
    ndarray, shape (T, K)
        Row ``t`` is the law of value ``t + 1``, as in ``sgdllm.lm.next_state_laws``.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if isinstance(cv_first, bool) or not isinstance(cv_first, (int, np.integer)) or cv_first < 2:
        raise ValueError(f"cv_first must be an integer >= 2 (two transitions), got {cv_first!r}")
    s = check_states(states, check_digits(digits, MAX_KERNEL_DIGITS), "classical_laws")
    k = 10**digits
    out = np.full((s.size, k), 1.0 / k)
    bandwidths: dict[int, tuple[float, float]] = {}
    for t in range(1, s.size):
        src, dst, cur = s[:t], s[1 : t + 1], int(s[t])
        if estimator == "laplace":
            counts = np.bincount(dst[src == cur], minlength=k)
            out[t] = (counts + 1.0) / (counts.sum() + k)
            continue
        if estimator == "rule":
            h = rule_bandwidth(s[: t + 1])
            hx = hy = h
        else:
            c = _checkpoint(t, cv_first)
            if c is not None and c not in bandwidths:
                bandwidths[c] = cv_bandwidth(s[: c + 1], digits)
            hx, hy = (1.0, 1.0) if c is None else bandwidths[c]
        row = _gaussian_row(src, dst, cur, k, hx, hy)
        if row is not None:
            out[t] = row
    return out


# ----------------------------------------------------------------------------- learning curves


def learning_curve(
    laws: ArrayLike,
    states: ArrayLike,
    truth: ArrayLike,
    metric: str = "bhattacharyya",
) -> NDArray[np.float64]:
    """Loss of each predicted law against the true row of the current state.

    .. math:: L_t = d\\big(P[s_t, \\cdot\\,], \\hat P_t\\big), \\qquad t = 0, \\dots, T - 1,

    with ``d`` a metric of :data:`sgdllm.metrics.METRICS` (for ``"kl"``, ``KL(truth || law)``).
    Row ``t`` of ``laws`` has seen ``N = t + 1`` values.

    Parameters
    ----------
    laws : array_like, shape (T, K)
        Row ``t``: the predicted law of ``s_{t+1}`` given ``s_0..s_t``.
    states : array_like of int, shape (T,)
    truth : array_like, shape (K, K)
        The true kernel on the same grid.
    metric : {"bhattacharyya", "tv", "kl", "w1"}

    Returns
    -------
    ndarray, shape (T,)
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {sorted(METRICS)}")
    p = np.asarray(laws, dtype=np.float64)
    s = np.asarray(states)
    q = np.asarray(truth, dtype=np.float64)
    if q.ndim != 2 or q.shape[0] != q.shape[1]:
        raise ValueError(f"truth must be a K x K kernel, got shape {q.shape}")
    if s.ndim != 1 or p.shape != (s.size, q.shape[0]):
        raise ValueError(
            f"laws must have shape (T, K) = ({s.size}, {q.shape[0]}) for {s.size} states and a "
            f"{q.shape[0]}-state kernel, got {p.shape}; row t is the law of value t + 1"
        )
    if s.size and (not np.issubdtype(s.dtype, np.integer) or s.min() < 0 or s.max() >= len(q)):
        raise ValueError(f"states must be integers in 0..{len(q) - 1}")
    return np.asarray(METRICS[metric](q[s], p), dtype=np.float64)


def series_learning_curves(
    laws: ArrayLike,
    states: ArrayLike,
    truth: ArrayLike,
    metric: str = "bhattacharyya",
) -> NDArray[np.float64]:
    """:func:`learning_curve` of each of several series whose laws were read already.

    Parameters
    ----------
    laws : array_like, shape (n_series, T, K)
        Row ``t`` of series ``i``: its predicted law of ``s_{t+1}``.
    states : array_like of int, shape (n_series, T)
    truth : array_like, shape (n_series, K, K)
        The true kernel of each series' grid.
    metric : str
        A name of :data:`sgdllm.metrics.METRICS`.

    Returns
    -------
    ndarray, shape (n_series, T)
    """
    p, s, q = np.asarray(laws), np.asarray(states), np.asarray(truth)
    if p.ndim != 3 or s.ndim != 2 or q.ndim != 3 or not len(p) == len(s) == len(q):
        raise ValueError(
            f"laws (n_series, T, K), states (n_series, T) and truth (n_series, K, K) must "
            f"describe the same series, got shapes {p.shape}, {s.shape} and {q.shape}"
        )
    return np.stack([learning_curve(p[i], s[i], q[i], metric) for i in range(len(p))])


def leak_cost(laws: ArrayLike, atoms: ArrayLike) -> NDArray[np.float64]:
    """Bhattacharyya cost of the mass a law leaves off the atoms of the true row.

    When the true row ``p`` lives on the states ``A`` (the atoms) and a law puts
    ``q_a = (1 - eps) r_a`` on them, ``r`` a law on ``A``, its loss splits exactly,

    .. math::

        D_B(p, q) = -\\log \\sum_{a \\in A} \\sqrt{p_a (1 - \\varepsilon) r_a}
        = -\\tfrac12 \\log (1 - \\varepsilon) + D_B(p, r),

    the cost of hedging on states the chain never takes plus the error of the law renormalized
    on those it does. This returns the first term, ``-log(q(A)) / 2``.

    Parameters
    ----------
    laws : array_like, shape (..., K)
    atoms : array_like of int, shape (n_atoms,)
        The states the true rows put mass on (e.g. the two states of a two-state chain).

    Returns
    -------
    ndarray, shape (...)
    """
    p = np.asarray(laws, dtype=np.float64)
    a = np.asarray(atoms)
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer) or a.size == 0:
        raise ValueError(f"atoms must be a non-empty 1-D array of state indices, got {atoms!r}")
    if a.min() < 0 or a.max() >= p.shape[-1]:
        raise ValueError(f"atoms must be states in 0..{p.shape[-1] - 1}, got {a.tolist()}")
    return -0.5 * np.log(p[..., a].sum(-1))


@dataclass(frozen=True)
class LearningCurves:
    """Losses per step of several estimators on the same series of one chain.

    Attributes
    ----------
    curves : dict name -> ndarray, shape (n_seeds, T)
        Column ``t``: the loss after a context of ``N = t + 1`` values.
    states : ndarray of int, shape (n_seeds, T)
        The series read.
    truth : ndarray, shape (n_seeds, K, K)
        The exact kernel of each series' grid (:func:`chain_kernel`).
    laws : dict name -> ndarray, shape (n_seeds, T, K), or None
        The laws of the estimators named in ``keep_laws``.
    """

    curves: dict[str, NDArray[np.float64]]
    states: NDArray[np.int64]
    truth: NDArray[np.float64]
    laws: dict[str, NDArray[np.float64]] | None = None


def learning_curves(
    matrix: ArrayLike,
    estimators: Mapping[str, LawsFn],
    *,
    n_steps: int,
    digits: int,
    seeds: Sequence[Seed],
    values: ArrayLike | None = None,
    metric: str = "bhattacharyya",
    keep_laws: Sequence[str] = (),
) -> LearningCurves:
    """Learning curves of several estimators on independent series of one chain.

    For each seed, one stationary series (:func:`chain_series`) is read by every estimator,
    ``laws = estimators[name](states, digits)``, and scored by :func:`learning_curve`: the
    estimators see the same series, so their differences are not sampling noise of the data.

    Parameters
    ----------
    matrix : array_like, shape (n, n)
    estimators : mapping name -> ``laws_fn(states (T,), digits) -> (T, K)``
        E.g. ``functools.partial(classical_laws, estimator="cv")``, or
        ``lambda s, d: sgdllm.lm.next_state_laws(lm, s, d, progress=False)``.
    n_steps, digits : int
    seeds : sequence of seeds (int or sequence of int), one per series
    values : array_like, shape (n,), optional
    metric : str
        A name of :data:`sgdllm.metrics.METRICS`.
    keep_laws : sequence of str
        Estimators whose laws are returned too (``n_seeds * T * K`` floats each).

    Returns
    -------
    LearningCurves
    """
    if not estimators:
        raise ValueError("estimators is empty: pass at least one name -> laws_fn")
    if len(seeds) == 0:
        raise ValueError("seeds is empty: pass one seed per series")
    unknown = sorted(set(keep_laws) - set(estimators))
    if isinstance(keep_laws, str) or unknown:
        raise ValueError(
            f"keep_laws must be a list of estimator names among {sorted(estimators)}, "
            f"got {keep_laws!r}"
        )
    curves: dict[str, list[NDArray[np.float64]]] = {name: [] for name in estimators}
    laws_kept: dict[str, list[NDArray[np.float64]]] = {name: [] for name in keep_laws}
    states, truths = [], []
    for seed in seeds:
        series = chain_series(matrix, n_steps, digits, seed, values=values)
        states.append(series.states)
        truths.append(series.truth)
        for name, fn in estimators.items():
            laws = np.asarray(fn(series.states, digits), dtype=np.float64)
            curves[name].append(learning_curve(laws, series.states, series.truth, metric))
            if name in keep_laws:
                laws_kept[name].append(laws)
    return LearningCurves(
        {name: np.stack(c) for name, c in curves.items()},
        np.stack(states),
        np.stack(truths),
        {name: np.stack(v) for name, v in laws_kept.items()} if keep_laws else None,
    )


def stay_probability(laws: ArrayLike, states: ArrayLike) -> NDArray[np.float64]:
    """Probability each law gives to staying in the current state, ``P_t(s_t)``.

    Parameters
    ----------
    laws : array_like, shape (..., T, K)
        Row ``t``: a law of ``s_{t+1}`` (predicted laws, or ``truth[states]`` for the truth).
    states : array_like of int, shape (..., T)

    Returns
    -------
    ndarray, shape (..., T)
    """
    p = np.asarray(laws, dtype=np.float64)
    s = np.asarray(states)
    if p.ndim < 2 or p.shape[:-1] != s.shape:
        raise ValueError(
            f"laws must have shape states.shape + (K,), got {p.shape} for states {s.shape}"
        )
    if s.size and (not np.issubdtype(s.dtype, np.integer) or s.min() < 0 or s.max() >= p.shape[-1]):
        raise ValueError(f"states must be integers in 0..{p.shape[-1] - 1}")
    return np.take_along_axis(p, s[..., None].astype(np.int64), axis=-1)[..., 0]


def count_risk(matrix: ArrayLike, contexts: ArrayLike) -> NDArray[np.float64]:
    """Asymptotic Bhattacharyya risk of the empirical transition frequencies of the current row.

    For a law ``q = p + delta`` close to ``p``, ``sum sqrt(p q) = 1 - chi2(q, p) / 8 + o(delta^2)``
    (``sum delta = 0``), so ``D_B(p, q) ~ chi2(q, p) / 8``. The frequencies of ``n`` draws from
    a row ``p`` with ``r`` outcomes of positive probability have ``E chi2 = (r - 1) / n``. After
    ``N`` values of a stationary chain the current state is ``s`` with probability ``pi_s`` and
    about ``n_s = pi_s (N - 1)`` transitions have left it, hence

    .. math::

        \\mathbb E\\, L_N \\approx \\sum_s \\pi_s \\frac{r_s - 1}{8 \\pi_s (N - 1)}
        = \\frac{\\sum_s (r_s - 1)}{8 (N - 1)},

    ``1 / (4 (N - 1))`` for a two-state chain: the parametric rate ``N^{-1}``, whatever the
    gap. The gap enters the next order: ``n_s`` fluctuates around ``pi_s N`` with a variance
    of order ``t_mix N`` (Markov-chain central limit theorem), so
    ``E[1 / n_s] = (1 / (pi_s N)) (1 + O(t_mix / N))`` -- the ``t_mix / N`` of the in-context
    risk bounds of Zekri et al. (2024b), "Large language models as Markov chains". Valid
    for ``N`` much larger than the mixing time.

    Parameters
    ----------
    matrix : array_like, shape (n, n)
        Transition matrix of the chain.
    contexts : array_like
        Context lengths ``N >= 2``.

    Returns
    -------
    ndarray, shape of ``contexts``
    """
    m = _check_matrix(matrix)
    n = np.asarray(contexts, dtype=np.float64)
    if not np.all(np.isfinite(n)) or (n < 2).any():
        raise ValueError("contexts must be finite context lengths N >= 2 (one transition)")
    support = (m > 0).sum(axis=1)
    return (support - 1).sum() / (8.0 * (n - 1.0))


# ----------------------------------------------------------------------------- fits


def moving_average(
    y: ArrayLike, window: int | None = None, *, fraction: float | None = None
) -> NDArray[np.float64]:
    """Centred moving average along the last axis, the window truncated at the edges.

    .. math:: \\bar y_t = \\frac{1}{|W_t|} \\sum_{u \\in W_t} y_u, \\qquad
              W_t = \\{u : |u - t| \\le h_t, \\; 0 \\le u < T\\},

    with a constant half-width ``h_t = (w - 1) / 2`` (``window=w``, the moving window of the
    poster of Zekri et al. 2024) or a half-width proportional to the context length
    ``N = t + 1``, ``h_t = floor(f N)`` (``fraction=f``), the same relative width at every
    ``N``: a constant width on log axes, where a window of constant length averages the first,
    largest losses into the next ``w / 2`` points.

    Parameters
    ----------
    y : array_like, shape (..., T)
    window : int, optional
        Odd width ``w`` in steps (1 returns ``y``).
    fraction : float, optional
        Relative half-width ``f >= 0``. Give exactly one of ``window`` and ``fraction``.

    Returns
    -------
    ndarray, shape (..., T)
    """
    a = np.asarray(y, dtype=np.float64)
    if (window is None) == (fraction is None):
        raise ValueError("give exactly one of window (steps) and fraction (relative width)")
    if a.ndim == 0 or a.shape[-1] == 0:
        raise ValueError(f"y must have at least one point on its last axis, got shape {a.shape}")
    n = a.shape[-1]
    t = np.arange(n)
    if window is not None:
        if isinstance(window, bool) or not isinstance(window, (int, np.integer)):
            raise ValueError(f"window must be an odd positive integer, got {window!r}")
        if window < 1 or window % 2 == 0:
            raise ValueError(f"window must be an odd positive integer, got {window}")
        half = np.full(n, window // 2)
    else:
        f = float(fraction)
        if not (np.isfinite(f) and f >= 0):
            raise ValueError(f"fraction must be a finite number >= 0, got {fraction!r}")
        half = np.floor(f * (t + 1)).astype(np.int64)
    zero = np.zeros((*a.shape[:-1], 1))
    cs = np.concatenate([zero, np.cumsum(a, axis=-1)], axis=-1)
    lo, hi = np.maximum(t - half, 0), np.minimum(t + half + 1, n)
    return (cs[..., hi] - cs[..., lo]) / (hi - lo)


@dataclass(frozen=True)
class PowerLawFit:
    """``y = c x^alpha`` and the standard errors of its parameters from the fit."""

    c: float
    alpha: float
    c_se: float
    alpha_se: float
    method: str

    def __call__(self, x: ArrayLike) -> NDArray[np.float64]:
        """The fitted curve at ``x``."""
        return self.c * np.asarray(x, dtype=np.float64) ** self.alpha


def fit_power_law(x: ArrayLike, y: ArrayLike, *, method: str = "curve_fit") -> PowerLawFit:
    """Fit ``y = c x^alpha`` to positive data.

    * ``"loglog"`` -- least squares on ``log y = log c + alpha log x`` (a straight line on
      log-log axes; :func:`numpy.polyfit` with its covariance). Every point weighs the same in
      relative terms.
    * ``"curve_fit"`` -- nonlinear least squares on ``y`` itself,
      ``min_{c, alpha} sum_i (y_i - c x_i^alpha)^2`` (:func:`scipy.optimize.curve_fit`, as the
      poster of Zekri et al. 2024 did), started from the log-log fit. Large ``y`` (short
      contexts) weigh most.

    The standard errors come from the fit's covariance, which assumes independent residuals:
    on a smoothed curve they are too small; :func:`fit_scaling_law` bootstraps over seeds.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Positive and finite, ``n >= 3``.
    method : {"curve_fit", "loglog"}

    Returns
    -------
    PowerLawFit
    """
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if xa.ndim != 1 or xa.shape != ya.shape or xa.size < 3:
        raise ValueError(
            f"x and y must be 1-D arrays of the same length >= 3, got {xa.shape} and {ya.shape}"
        )
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))) or (xa <= 0).any():
        raise ValueError("x must be positive and x, y finite for a power-law fit")
    if (ya <= 0).any():
        raise ValueError(
            f"y must be positive for a power-law fit, got a minimum of {ya.min():.3g}; "
            f"a loss that reaches 0 has no power law"
        )
    if method not in ("curve_fit", "loglog"):
        raise ValueError(f"method must be 'curve_fit' or 'loglog', got {method!r}")
    (alpha, logc), cov = np.polyfit(np.log(xa), np.log(ya), 1, cov="unscaled")
    resid = np.log(ya) - (logc + alpha * np.log(xa))
    cov = cov * (resid @ resid) / max(xa.size - 2, 1)
    if method == "loglog":
        c = float(np.exp(logc))
        return PowerLawFit(
            c, float(alpha), c * float(np.sqrt(cov[1, 1])), float(np.sqrt(cov[0, 0])), method
        )
    scale = float(ya.max())  # fit y / scale so that c is of order one

    def model(xx: NDArray[np.float64], cc: float, aa: float) -> NDArray[np.float64]:
        return cc * xx**aa

    params, pcov = curve_fit(model, xa, ya / scale, p0=(np.exp(logc) / scale, alpha), maxfev=10000)
    se = np.sqrt(np.clip(np.diag(pcov), 0.0, None))
    return PowerLawFit(
        float(params[0] * scale), float(params[1]), float(se[0] * scale), float(se[1]), method
    )


@dataclass(frozen=True)
class ScalingFit:
    """A learning curve averaged over seeds, smoothed, and its power-law fit.

    Attributes
    ----------
    contexts : ndarray, shape (T,)
        Context lengths ``N = t + 1``.
    mean, se : ndarray, shape (T,)
        Mean and standard error over seeds of the smoothed curves.
    fit : PowerLawFit
        Fit of ``mean`` on ``fit_range``.
    alpha_se : float
        Bootstrap (over seeds) standard error of ``alpha``.
    alpha_interval : (float, float)
        2.5% and 97.5% bootstrap quantiles of ``alpha``.
    fit_range : (int, int)
    n_seeds : int
    """

    contexts: NDArray[np.float64]
    mean: NDArray[np.float64]
    se: NDArray[np.float64]
    fit: PowerLawFit
    alpha_se: float
    alpha_interval: tuple[float, float]
    fit_range: tuple[int, int]
    n_seeds: int

    @property
    def alpha(self) -> float:
        """Fitted exponent."""
        return self.fit.alpha

    def loss_at(self, n: float) -> float:
        """The smoothed mean loss at the longest context length ``N <= n`` (e.g. the end of a
        model's window)."""
        shown = self.mean[self.contexts <= n]
        if shown.size == 0:
            raise ValueError(f"no context length N <= {n}: the curve starts at N = 1")
        return float(shown[-1])


def stays_below_from(contexts: ArrayLike, curve: ArrayLike, reference: ArrayLike) -> float:
    """The shortest context length from which ``curve`` stays strictly below ``reference``.

    ``contexts[0]`` when it is below from the start, NaN when it is not below at the last
    context (it never passes below for good).

    Parameters
    ----------
    contexts, curve, reference : array_like, shape (T,)
        Context lengths and two curves on them (e.g. the ``mean`` of two :class:`ScalingFit`).

    Returns
    -------
    float
    """
    n = np.asarray(contexts, dtype=np.float64)
    y, ref = np.asarray(curve), np.asarray(reference)
    if n.ndim != 1 or y.shape != n.shape or ref.shape != n.shape or n.size == 0:
        raise ValueError(
            f"contexts, curve and reference must be 1-D of one length, got shapes {n.shape}, "
            f"{y.shape} and {ref.shape}"
        )
    not_below = np.flatnonzero(ref <= y)  # contexts where the reference is not worse
    if not_below.size == 0:
        return float(n[0])
    return float(n[not_below[-1] + 1]) if not_below[-1] + 1 < n.size else np.nan


def fit_scaling_law(
    curves: ArrayLike,
    *,
    fit_range: tuple[int, int],
    window: int | None = None,
    fraction: float | None = None,
    method: str = "loglog",
    n_points: int | None = 40,
    n_boot: int = 200,
    seed: Seed = 0,
) -> ScalingFit:
    """Average learning curves over seeds, smooth them, and fit ``L(N) = c N^alpha``.

    Column ``t`` of ``curves`` is the loss after ``N = t + 1`` values. Each seed's curve is
    smoothed by :func:`moving_average` (a moving window, as on the poster), the mean over seeds is
    fitted on ``N_min <= N <= N_max`` by :func:`fit_power_law` at ``n_points`` log-spaced
    context lengths (rounded, duplicates dropped), so that each decade of ``N`` weighs the same
    in the fit, as it does to the eye on log-log axes (with every integer ``N``, the longest
    decade would hold nine tenths of the points), and the uncertainty of
    ``alpha`` is the bootstrap over seeds (Efron & Tibshirani 1993): resample the seeds with
    replacement ``n_boot`` times and refit. That accounts for the correlation of neighbouring
    points of one curve, which the fit's own covariance ignores.

    Parameters
    ----------
    curves : array_like, shape (n_seeds, T)
        From :func:`learning_curves`; at least 2 seeds.
    window, fraction
        The moving window of :func:`moving_average`: a constant width in steps, or a
        half-width proportional to ``N``. Give exactly one.
    fit_range : (int, int)
        ``(N_min, N_max)``, context lengths in ``1..T``.
    method : {"loglog", "curve_fit"}
        See :func:`fit_power_law`.
    n_points : int, optional
        Log-spaced context lengths fitted (at least 3); None fits every ``N`` in the range.
    n_boot : int
        Bootstrap resamples (0 skips the bootstrap: ``alpha_se`` is then the fit's).
    seed : int or sequence of int
        Seed of the bootstrap.

    Returns
    -------
    ScalingFit
    """
    c = np.asarray(curves, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] < 2:
        raise ValueError(
            f"curves must have shape (n_seeds, T) with at least 2 seeds, got {c.shape}"
        )
    if not np.all(np.isfinite(c)):
        raise ValueError("curves contain NaN or Inf; a loss must be finite to be fitted")
    n_seeds, n_steps = c.shape
    lo, hi = (int(v) for v in fit_range)
    if not 1 <= lo < hi <= n_steps:
        raise ValueError(
            f"fit_range must satisfy 1 <= N_min < N_max <= T = {n_steps}, got {fit_range}"
        )
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer, got {n_boot!r}")
    if n_points is not None and (
        isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 3
    ):
        raise ValueError(f"n_points must be an integer >= 3 or None, got {n_points!r}")
    contexts = np.arange(1, n_steps + 1, dtype=np.float64)
    smooth = moving_average(c, window, fraction=fraction)
    mean = smooth.mean(axis=0)
    se = smooth.std(axis=0, ddof=1) / np.sqrt(n_seeds)
    if n_points is None:
        keep = np.flatnonzero((contexts >= lo) & (contexts <= hi))
    else:
        keep = np.unique(np.rint(np.geomspace(lo, hi, n_points)).astype(np.int64)) - 1
    fit = fit_power_law(contexts[keep], mean[keep], method=method)
    if n_boot == 0:
        return ScalingFit(
            contexts, mean, se, fit, fit.alpha_se, (fit.alpha, fit.alpha), (lo, hi), n_seeds
        )
    rng = np.random.default_rng(seed)
    alphas = np.empty(n_boot)
    for b in range(n_boot):
        pick = rng.integers(0, n_seeds, n_seeds)
        alphas[b] = fit_power_law(
            contexts[keep], smooth[pick][:, keep].mean(axis=0), method=method
        ).alpha
    q = np.quantile(alphas, [0.025, 0.975])
    return ScalingFit(
        contexts,
        mean,
        se,
        fit,
        float(alphas.std(ddof=1)),
        (float(q[0]), float(q[1])),
        (lo, hi),
        n_seeds,
    )
