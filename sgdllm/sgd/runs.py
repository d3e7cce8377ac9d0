"""Running constant-step SGD chains, and the theory of their stationary law.

Chapter: *SGD as a Markov chain*.

With mini-batches ``B_k`` drawn i.i.d. (indices uniform, with replacement), constant-step SGD

.. math::

    \\theta_{k+1} = \\theta_k - \\gamma\\, \\frac{1}{b} \\sum_{i \\in B_k} \\nabla f_i(\\theta_k)

is a homogeneous Markov chain (Dieuleveut, Durmus & Bach 2020, *Bridging the gap between
constant step size stochastic gradient descent and Markov chains*, Ann. Statist. 48(3)). For a
strongly convex ``F`` it converges in law, geometrically fast, to a unique stationary
distribution ``pi_gamma``:

* if all ``f_i`` share a minimizer (interpolation) the gradient noise vanishes there and
  ``pi_gamma`` is a Dirac mass: SGD converges to a point;
* otherwise ``pi_gamma`` has covariance of order ``gamma``; for least squares its mean is
  exactly ``theta*`` and its covariance solves a linear equation
  (:func:`least_squares_stationary_covariance`), for other problems the mean is
  ``theta* + O(gamma)``.

:func:`run_sgd` simulates many independent chains at once (vectorized over runs), for SGD or
any optimizer of :mod:`sgdllm.sgd.optimizers`; :func:`stationary_moments` pools the iterates
after a burn-in.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sgdllm.sgd.optimizers import Optimizer, as_optimizer
from sgdllm.sgd.problems import FiniteSumProblem, LeastSquares

__all__ = ["least_squares_stationary_covariance", "run_sgd", "stationary_moments"]

FloatArray = NDArray[np.float64]

#: Largest dimension for :func:`least_squares_stationary_covariance` (a d^2 x d^2 system).
MAX_EXACT_DIM = 50


def _check_count(value: int, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"run_sgd: {name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def _initial_theta(theta0: ArrayLike, n_runs: int, dim: int) -> FloatArray:
    """Broadcast ``theta0`` (``(d,)`` or ``(n_runs, d)``) to a fresh ``(n_runs, d)`` array."""
    theta0 = np.asarray(theta0, dtype=np.float64)
    if theta0.shape == (dim,):
        theta = np.tile(theta0, (n_runs, 1))
    elif theta0.ndim == 2 and theta0.shape[1] == dim:
        if theta0.shape[0] != n_runs:
            raise ValueError(
                f"run_sgd: theta0 has {theta0.shape[0]} rows but n_runs={n_runs}; pass "
                f"n_runs={theta0.shape[0]} or a single start of shape ({dim},)."
            )
        theta = theta0.copy()
    else:
        raise ValueError(
            f"run_sgd: theta0 must have shape ({dim},) or (n_runs, {dim}) for this problem; "
            f"got {theta0.shape}."
        )
    if not np.all(np.isfinite(theta)):
        raise ValueError("run_sgd: theta0 contains NaN or inf; pass a finite start.")
    return theta


def run_sgd(
    problem: FiniteSumProblem,
    theta0: ArrayLike,
    steps: int,
    optimizer: Optimizer | float,
    *,
    batch_size: int = 1,
    n_runs: int = 1,
    seed: int | None = 0,
    return_state: bool = False,
) -> FloatArray | tuple[FloatArray, dict[str, FloatArray]]:
    """Simulate ``n_runs`` independent optimizer chains on a finite-sum problem.

    At each iteration ``k = 1, ..., steps`` every run draws its own mini-batch of
    ``batch_size`` indices i.i.d. uniform on ``{0, ..., N-1}`` *with replacement*,
    ``rng.integers(0, N, size=(n_runs, batch_size))`` from ``rng =
    np.random.default_rng(seed)``, and applies

    .. math::

        g_k = \\frac{1}{b} \\sum_{j=1}^{b} \\nabla f_{i_{k,j}}(\\theta_{k-1}), \\qquad
        (\\theta_k, s_k) = \\mathrm{optimizer.update}(\\theta_{k-1}, g_k, s_{k-1}, k)

    (for SGD, ``theta_k = theta_{k-1} - gamma g_k``). Sampling with replacement makes the
    batches i.i.d. across iterations, so the chain is homogeneous (for SGD, RMSProp, Adam) and
    the stationary-law formulas of :func:`least_squares_stationary_covariance` are exact.
    The result is a deterministic function of ``seed``.

    Parameters
    ----------
    problem : FiniteSumProblem
        Provides ``grad(theta, idx)``, ``n_samples`` and ``dim``.
    theta0 : array_like, shape (d,) or (n_runs, d)
        Start, shared by all runs or one per run.
    steps : int
        Number of iterations (``>= 0``).
    optimizer : Optimizer or float
        An optimizer from :mod:`sgdllm.sgd.optimizers`; a float ``gamma`` means ``SGD(gamma)``.
    batch_size : int, default 1
    n_runs : int, default 1
    seed : int or None, default 0
    return_state : bool, default False
        Also return the optimizer-state trajectories.

    Returns
    -------
    trajectory : ndarray, shape (n_runs, steps + 1, d)
        ``trajectory[:, 0]`` is ``theta0``.
    states : dict of str to ndarray, shape (n_runs, steps + 1, d)
        Only with ``return_state=True``: each optimizer-state entry over time, row 0 being
        the initial state (empty for SGD).

    Raises
    ------
    ValueError
        On bad shapes or counts, or if the iterates become non-finite (divergence).
    """
    opt = as_optimizer(optimizer)
    steps = _check_count(steps, "steps", 0)
    batch_size = _check_count(batch_size, "batch_size", 1)
    n_runs = _check_count(n_runs, "n_runs", 1)
    dim, n_samples = problem.dim, problem.n_samples
    theta = _initial_theta(theta0, n_runs, dim)

    rng = np.random.default_rng(seed)
    state = opt.init(theta)
    traj = np.empty((n_runs, steps + 1, dim))
    traj[:, 0] = theta
    state_traj = {key: np.empty((n_runs, steps + 1, dim)) for key in state}
    for key, value in state.items():
        state_traj[key][:, 0] = value

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for k in range(1, steps + 1):
            idx = rng.integers(0, n_samples, size=(n_runs, batch_size))
            theta, state = opt.update(theta, problem.grad(theta, idx), state, k)
            bad = ~np.all(np.isfinite(theta), axis=1)
            if bad.any():
                run = int(np.flatnonzero(bad)[0])
                step = getattr(opt, "step", None)
                raise ValueError(
                    f"run_sgd: iterates became non-finite at step {k} in run {run} "
                    f"(of {n_runs}): the chain diverges; use a smaller step size "
                    f"(current step={step!r})."
                )
            traj[:, k] = theta
            for key, value in state.items():
                state_traj[key][:, k] = value

    if return_state:
        return traj, state_traj
    return traj


def least_squares_stationary_covariance(
    problem: LeastSquares, step: float, batch_size: int = 1
) -> FloatArray:
    """Exact stationary covariance of constant-step SGD on least squares.

    Setting (batches of size ``b`` drawn with replacement, as in :func:`run_sgd`). Let
    ``theta*`` be the least-squares solution, ``e = theta - theta*``, ``a_i = x_i x_i^T``,
    ``H = mean_i a_i``, ``r_i = y_i - x_i^T theta*`` and, for a batch ``B``,
    ``A_B = mean_{i in B} a_i``, ``c_B = mean_{i in B} x_i r_i`` (``E c_B = 0`` by the
    normal equations ``X^T r = 0``). One SGD step reads

    .. math::

        e' = (I - \\gamma A_B)\\, e + \\gamma\\, c_B .

    At stationarity ``E e = (I - gamma H) E e``, so ``E e = 0`` (the stationary mean is exactly
    ``theta*``) and, since ``e`` is independent of the current batch, the cross terms vanish:

    .. math::

        \\Sigma = \\mathbb E[(I - \\gamma A_B)\\, \\Sigma\\, (I - \\gamma A_B)]
        + \\gamma^2\\, \\mathbb E[c_B c_B^\\top],

    a linear equation ``Sigma = T(Sigma) + gamma^2 C`` with, for i.i.d. indices,

    .. math::

        \\mathbb E[A_B \\Sigma A_B] = \\tfrac1b\\, \\mathrm{mean}_i\\, a_i \\Sigma a_i
        + (1 - \\tfrac1b)\\, H \\Sigma H, \\quad
        \\mathbb E[A_B \\Sigma] = H \\Sigma, \\quad
        C = \\mathbb E[c_B c_B^\\top] = \\tfrac1b\\, \\mathrm{mean}_i\\, r_i^2 x_i x_i^\\top .

    It is solved by vectorization, ``(I - T) vec(Sigma) = gamma^2 vec(C)``, a
    ``d^2 x d^2`` system. ``T`` maps PSD matrices to PSD matrices, so a stationary
    covariance exists iff its spectral radius is ``< 1``. For small ``gamma`` the
    ``gamma^2 E[A Sigma A]`` term is negligible and ``Sigma`` solves the Lyapunov equation
    ``H Sigma + Sigma H = gamma C``: ``Sigma ~ (gamma/2) H^{-1} C`` when ``H`` and ``C``
    commute, linear in ``gamma`` (Dieuleveut, Durmus & Bach 2020; Bach & Moulines 2013 for
    least squares).

    Parameters
    ----------
    problem : LeastSquares
        With ``X`` of full column rank (under-parametrized); ``dim <= 50``.
    step : float
        ``gamma > 0``.
    batch_size : int, default 1

    Returns
    -------
    ndarray, shape (d, d)
        Symmetric PSD stationary covariance of ``theta``.

    Raises
    ------
    ValueError
        If ``H`` is singular (over-parametrized: no unique stationary law, SGD converges to a
        point that depends on the start), if the step is too large for a stationary law to
        exist (spectral radius of ``T`` ``>= 1``), or on bad arguments.
    """
    name = "least_squares_stationary_covariance"
    if not isinstance(problem, LeastSquares):
        raise ValueError(f"{name}: problem must be a LeastSquares; got {type(problem).__name__}.")
    if (
        isinstance(step, bool)
        or not isinstance(step, numbers.Real)
        or not (np.isfinite(step) and step > 0)
    ):
        raise ValueError(f"{name}: step must be a finite number > 0; got {step!r}.")
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, numbers.Integral)
        or (batch_size < 1)
    ):
        raise ValueError(f"{name}: batch_size must be an integer >= 1; got {batch_size!r}.")
    X, y = problem.X, problem.y
    n, d = X.shape
    if d > MAX_EXACT_DIM:
        raise ValueError(
            f"{name}: dim={d} makes a {d * d} x {d * d} system; the exact solve supports "
            f"dim <= {MAX_EXACT_DIM}. Estimate the covariance with run_sgd + stationary_moments."
        )
    H = problem.hessian
    if np.linalg.eigvalsh(H).min() <= 1e-12 * max(1.0, np.trace(H)):
        raise ValueError(
            f"{name}: H = X^T X / N is singular (dim={d}, n_samples={n}): the problem is "
            "over-parametrized or rank deficient, there is no unique stationary law (SGD "
            "converges to the projection of theta0 on the solution set; see "
            "LeastSquares.projection). Use dim < n_samples with X of full column rank."
        )
    gamma, b = float(step), int(batch_size)
    theta_star = problem.minimizers()[0]
    r = y - X @ theta_star
    # Row-major vec: vec(A S B) = kron(A, B^T) vec(S); all matrices here are symmetric.
    xx = np.einsum("ni,nj->nij", X, X).reshape(n, d * d)  # rows vec(a_i) = x_i kron x_i
    mean_aa = xx.T @ xx / n  # mean_i kron(a_i, a_i)
    eye = np.eye(d)
    T = (
        np.eye(d * d)
        - gamma * (np.kron(H, eye) + np.kron(eye, H))
        + gamma**2 * (mean_aa / b + (1.0 - 1.0 / b) * np.kron(H, H))
    )
    rho = float(np.abs(np.linalg.eigvalsh(T)).max())  # T is symmetric
    safe = 2.0 / float(np.max(np.sum(X**2, axis=1)))  # E||e'||^2 < ||e||^2 below it
    if rho >= 1.0:
        raise ValueError(
            f"{name}: step={gamma!r} is too large for a stationary law to exist (spectral "
            f"radius of the second-moment operator {rho:.4f} >= 1; SGD diverges in L2). Use "
            f"a smaller step: any step < 2 / max_i ||x_i||^2 = {safe:.3g} works."
        )
    C = (X.T * r**2) @ X / (n * b)
    sigma = np.linalg.solve(np.eye(d * d) - T, gamma**2 * C.reshape(-1)).reshape(d, d)
    return 0.5 * (sigma + sigma.T)


def stationary_moments(runs: ArrayLike, burn_in: int) -> tuple[FloatArray, FloatArray]:
    """Mean and covariance of the iterates, pooled across runs and time after a burn-in.

    .. math::

        \\hat\\mu = \\frac{1}{R (T + 1 - k_0)} \\sum_{r} \\sum_{k \\ge k_0} \\theta_{r,k}, \\qquad
        \\hat\\Sigma = \\frac{1}{R (T + 1 - k_0) - 1} \\sum_{r, k \\ge k_0}
        (\\theta_{r,k} - \\hat\\mu)(\\theta_{r,k} - \\hat\\mu)^\\top,

    estimators of the moments of the stationary law once the chains have mixed (samples of
    one run are correlated in time, so the effective sample size is smaller than the count).

    Parameters
    ----------
    runs : array_like, shape (R, T + 1, d)
        Trajectories from :func:`run_sgd`.
    burn_in : int
        Number ``k_0`` of leading iterates discarded from each run (``0 <= k_0 <= T``).

    Returns
    -------
    mean : ndarray, shape (d,)
    cov : ndarray, shape (d, d)
    """
    runs = np.asarray(runs, dtype=np.float64)
    if runs.ndim != 3:
        raise ValueError(
            f"stationary_moments: runs must have shape (n_runs, steps + 1, d); got {runs.shape}."
        )
    length = runs.shape[1]
    if (
        isinstance(burn_in, bool)
        or not isinstance(burn_in, numbers.Integral)
        or not (0 <= burn_in < length)
    ):
        raise ValueError(
            f"stationary_moments: burn_in must be an integer in [0, {length - 1}] (trajectories "
            f"have {length} iterates); got {burn_in!r}."
        )
    samples = runs[:, burn_in:, :].reshape(-1, runs.shape[2])
    if samples.shape[0] < 2:
        raise ValueError(
            "stationary_moments: need at least 2 samples after burn-in; run longer or use "
            "more runs."
        )
    mean = samples.mean(axis=0)
    cov = np.atleast_2d(np.cov(samples, rowvar=False))
    return mean, cov
