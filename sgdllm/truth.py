"""Ground-truth transition kernels on the state grid of a :class:`~sgdllm.discretize.Scaler`.

Chapter: *SGD as a Markov chain* (and the evaluation of every estimator).

A kernel estimated from a discretized trajectory is compared with the exact law of the next
state given the current one, on the *same* bins: state ``s`` stands for its bin centre
``x_s = scaler.to_values(s)`` and the next value ``x'`` is counted in state ``s'`` when it
falls in the bin ``[x_{s'} - w/2, x_{s'} + w/2)`` (``w = scaler.bin_width``), values beyond the
grid being clipped to the edge states exactly as :meth:`Scaler.to_states` does. That is the
setting of Liu et al. (2024), "LLMs learn governing principles of dynamical systems, revealing
an in-context neural scaling law", where the model's in-context kernel is scored against the
true one of a known process.

* :func:`gaussian_kernel` and :func:`ar1_kernel` -- Gaussian transitions, integrated exactly.
* :func:`monte_carlo_kernel` -- any sampler ``update(x, rng)``, by simulation.
* :func:`sgd_coordinate_kernel` -- one coordinate of true SGD on a finite-sum problem.
* :func:`two_state_chain`, :func:`random_chain` -- small test chains.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import norm

from sgdllm.discretize import Scaler, check_finite

if TYPE_CHECKING:
    from sgdllm.sgd.problems import FiniteSumProblem

__all__ = [
    "ar1_kernel",
    "gaussian_kernel",
    "monte_carlo_kernel",
    "random_chain",
    "sgd_coordinate_kernel",
    "two_state_chain",
]

#: Largest number of samples drawn in one call of an update in :func:`monte_carlo_kernel`.
MAX_BATCH = 1 << 21

Update = Callable[[NDArray[np.float64], np.random.Generator], ArrayLike]
ValueFn = Callable[[NDArray[np.float64]], ArrayLike] | float


def _check_scaler(scaler: Scaler) -> Scaler:
    if not isinstance(scaler, Scaler):
        raise ValueError(
            f"scaler must be a sgdllm.discretize.Scaler, got {type(scaler).__name__}; "
            f"fit one with sgdllm.discretize.fit_scaler"
        )
    return scaler


def _evaluate(fn: ValueFn, x: NDArray[np.float64], name: str) -> NDArray[np.float64]:
    """Evaluate ``fn`` (callable or constant) on the bin centres; shape ``x.shape``."""
    value = fn(x) if callable(fn) else fn
    try:
        out = np.broadcast_to(np.asarray(value, dtype=np.float64), x.shape)
    except ValueError as err:
        raise ValueError(
            f"{name} must return one value per bin centre, shape {x.shape}, or a scalar; "
            f"got shape {np.shape(value)}"
        ) from err
    return check_finite(out, f"{name} on the grid")


def gaussian_kernel(mean_fn: ValueFn, std_fn: ValueFn, scaler: Scaler) -> NDArray[np.float64]:
    """Kernel of a Gaussian transition ``x' ~ N(m(x), sd(x)^2)`` on the scaler's bins.

    For state ``s`` with bin centre ``x_s``, bin edges ``e_j = x_j + w/2`` (``w`` the bin width)
    and ``z_j = (e_j - m(x_s)) / sd(x_s)``:

    .. math::

        P[s, s'] = \\Phi(z_{s'}) - \\Phi(z_{s'-1}),
        \\qquad z_{-1} = -\\infty, \\; z_{K-1} = +\\infty,

    so the mass beyond the grid goes to the edge states, as :meth:`Scaler.to_states` clips.
    Differences are taken on the side of the median (``Phi`` below, the survival function
    above) to keep far tails accurate. ``sd(x_s) = 0`` gives a Dirac on the state whose bin
    contains ``m(x_s)``.

    Parameters
    ----------
    mean_fn, std_fn : callable or float
        Vectorized functions of the current value, ``(K,) -> (K,)`` (or constants): the mean and
        the standard deviation (>= 0) of the next value, in value units.
    scaler : Scaler

    Returns
    -------
    ndarray, shape (K, K)
        Row-stochastic.
    """
    scaler = _check_scaler(scaler)
    k = scaler.n_states
    x = scaler.grid()
    mean = _evaluate(mean_fn, x, "mean_fn")
    std = _evaluate(std_fn, x, "std_fn")
    if (std < 0).any():
        s = int(np.argmax(std < 0))
        raise ValueError(f"std_fn must be non-negative, got {std[s]} at state {s} (x = {x[s]:.6g})")
    # Work in state units: the bin of state j is [j - 1/2, j + 1/2).
    centre = scaler.to_unit(mean) * k
    dirac = std == 0
    scale = np.where(dirac, 1.0, std / scaler.bin_width)
    edges = np.arange(k - 1) + 0.5
    z = (edges[None, :] - centre[:, None]) / scale[:, None]
    inf = np.full((k, 1), np.inf)
    z_lo, z_hi = np.hstack([-inf, z]), np.hstack([z, inf])
    upper = z_lo > 0
    matrix = np.where(upper, norm.sf(z_lo) - norm.sf(z_hi), norm.cdf(z_hi) - norm.cdf(z_lo)).clip(
        min=0.0
    )
    if dirac.any():
        target = scaler.to_states(mean[dirac], warn=False)
        matrix[dirac] = 0.0
        matrix[np.flatnonzero(dirac), target] = 1.0
    return matrix / matrix.sum(axis=1, keepdims=True)


def ar1_kernel(phi: float, mu: float, sigma: float, scaler: Scaler) -> NDArray[np.float64]:
    """Kernel of the AR(1) process ``x' = mu + phi (x - mu) + sigma eps``, ``eps ~ N(0, 1)``.

    A :func:`gaussian_kernel` with mean ``mu + phi (x - mu)`` and constant sd ``sigma``. It is
    the exact law of SGD on a 1-D quadratic with Gaussian gradient noise.

    Returns
    -------
    ndarray, shape (K, K)
    """
    phi, mu, sigma = float(phi), float(mu), float(sigma)
    if not (np.isfinite(phi) and np.isfinite(mu) and np.isfinite(sigma)) or sigma < 0:
        raise ValueError(
            f"ar1_kernel needs finite phi, mu and sigma >= 0, got {phi}, {mu}, {sigma}"
        )
    return gaussian_kernel(lambda x: mu + phi * (x - mu), sigma, scaler)


def _check_count(n: int, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{name} must be a positive integer, got {n!r}")
    return int(n)


def monte_carlo_kernel(
    update: Update,
    scaler: Scaler,
    n_samples: int,
    seed: int,
    *,
    max_batch: int = MAX_BATCH,
) -> NDArray[np.float64]:
    """Kernel of an arbitrary one-step sampler, estimated by simulation from every bin centre.

    .. math::

        \\hat P[s, s'] = \\frac{1}{N} \\sum_{i=1}^N \\mathbf 1\\{\\mathrm{state}(X_i^{(s)}) = s'\\},
        \\qquad X_i^{(s)} = \\mathrm{update}(x_s), \\text{ i.i.d.},

    with ``state`` the scaler's (clipping) map. Each row is an unbiased estimate with standard
    error at most ``1 / (2 sqrt(N))`` per entry.

    Parameters
    ----------
    update : callable ``(x: ndarray (n,), rng) -> ndarray (n,)``
        Draws the next value of every entry of ``x`` independently, using only ``rng``.
    scaler : Scaler
    n_samples : int
        Samples ``N`` per state.
    seed : int
        Seed of ``np.random.default_rng``; the result is reproducible for a given ``max_batch``.
    max_batch : int
        Most samples per call of ``update``; the ``K * N`` samples are drawn in chunks of whole
        states (at least one state per call).

    Returns
    -------
    ndarray, shape (K, K)
        Row-stochastic.
    """
    scaler = _check_scaler(scaler)
    n = _check_count(n_samples, "n_samples")
    max_batch = _check_count(max_batch, "max_batch")
    rng = np.random.default_rng(seed)
    k = scaler.n_states
    grid = scaler.grid()
    per_call = max(1, max_batch // n)
    counts = np.zeros(k * k, dtype=np.int64)
    for lo in range(0, k, per_call):
        rows = np.arange(lo, min(lo + per_call, k))
        x = np.repeat(grid[rows], n)
        nxt = np.asarray(update(x, rng), dtype=np.float64)
        if nxt.shape != x.shape:
            raise ValueError(
                f"update must return one next value per input, shape {x.shape}, got {nxt.shape}"
            )
        nxt = check_finite(nxt, "update's output")
        states = scaler.to_states(nxt, warn=False)
        counts += np.bincount(np.repeat(rows, n) * k + states, minlength=k * k)
    return counts.reshape(k, k) / n


def sgd_coordinate_kernel(
    problem: FiniteSumProblem,
    step: float,
    scaler: Scaler,
    *,
    coordinate: int = 0,
    anchor: ArrayLike | None = None,
    batch_size: int = 1,
    n_samples: int = 2000,
    seed: int = 0,
) -> NDArray[np.float64]:
    """Monte Carlo kernel of one coordinate of SGD, the other coordinates held at ``anchor``.

    From the bin centre ``x_s`` of each state, with ``theta = anchor`` except
    ``theta[coordinate] = x_s``, draws the true SGD update

    .. math::

        \\theta' = \\theta - \\eta \\, \\frac1b \\sum_{j=1}^b \\nabla f_{i_j}(\\theta),
        \\qquad i_j \\sim \\mathrm{Uniform}\\{0, \\dots, n - 1\\} \\text{ with replacement},

    and histograms ``theta'[coordinate]`` on the grid (:func:`monte_carlo_kernel`). For a 1-D
    problem this is the exact (up to Monte Carlo error) kernel of the discretized chain; in
    higher dimension it is the kernel of the coordinate's *conditional* chain at ``anchor``
    (the diagonal block ``P^(ii)`` of the paper's block view at that point).

    Parameters
    ----------
    problem : FiniteSumProblem
        Needs ``grad(theta (R, d), idx (R, b)) -> (R, d)`` (mini-batch mean gradient),
        ``n_samples``, ``dim`` and ``minimizers() -> (m, d)``.
    step : float
        Step size ``eta > 0``.
    scaler : Scaler
        Grid of the coordinate.
    coordinate : int
        Which coordinate of ``theta`` is the chain.
    anchor : array_like, shape (d,), optional
        Values of the other coordinates; default ``problem.minimizers()[0]``.
    batch_size : int
        Mini-batch size ``b``.
    n_samples : int
        Monte Carlo samples per state.
    seed : int

    Returns
    -------
    ndarray, shape (K, K)
    """
    for attr in ("grad", "n_samples", "dim", "minimizers"):
        if not hasattr(problem, attr):
            raise ValueError(
                f"problem must provide grad, n_samples, dim and minimizers() "
                f"(see sgdllm.sgd.problems); {type(problem).__name__} has no {attr!r}"
            )
    dim, n_data = int(problem.dim), int(problem.n_samples)
    step = float(step)
    if not (np.isfinite(step) and step > 0):
        raise ValueError(f"step must be a positive finite step size, got {step}")
    if isinstance(coordinate, bool) or not isinstance(coordinate, (int, np.integer)):
        raise ValueError(f"coordinate must be an integer, got {coordinate!r}")
    if not 0 <= coordinate < dim:
        raise ValueError(
            f"coordinate must be in 0..{dim - 1} for a {dim}-D problem, got {coordinate}"
        )
    batch_size = _check_count(batch_size, "batch_size")
    base = problem.minimizers()[0] if anchor is None else anchor
    base = check_finite(base, "anchor").ravel()
    if base.shape != (dim,):
        raise ValueError(f"anchor must have shape ({dim},), got {np.shape(base)}")

    def update(x: NDArray[np.float64], rng: np.random.Generator) -> NDArray[np.float64]:
        theta = np.tile(base, (x.size, 1))
        theta[:, coordinate] = x
        idx = rng.integers(0, n_data, size=(x.size, batch_size))
        return (theta - step * np.asarray(problem.grad(theta, idx)))[:, coordinate]

    max_batch = max(1, MAX_BATCH // max(dim, batch_size))
    return monte_carlo_kernel(update, scaler, n_samples, seed, max_batch=max_batch)


def two_state_chain(a: float, b: float) -> NDArray[np.float64]:
    """The two-state chain ``[[1 - a, a], [b, 1 - b]]``, ``a, b`` in ``[0, 1]``.

    Its eigenvalues are 1 and ``1 - a - b``, and for ``a + b > 0`` its stationary law is
    ``(b, a) / (a + b)`` (Levin, Peres & Wilmer 2017, section 1.1).
    """
    a, b = float(a), float(b)
    if not (0.0 <= a <= 1.0 and 0.0 <= b <= 1.0):
        raise ValueError(f"a and b must be probabilities in [0, 1], got a={a}, b={b}")
    return np.array([[1.0 - a, a], [b, 1.0 - b]])


def random_chain(n_states: int, seed: int, *, concentration: float = 1.0) -> NDArray[np.float64]:
    """A random kernel with i.i.d. rows ``~ Dirichlet(concentration * 1)``.

    Every entry is positive almost surely, so the chain is irreducible and aperiodic.
    """
    n = _check_count(n_states, "n_states")
    if not (np.isfinite(concentration) and concentration > 0):
        raise ValueError(f"concentration must be positive, got {concentration}")
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(n, float(concentration)), size=n)
