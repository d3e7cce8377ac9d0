"""Finite-sum problems on which constant-step SGD runs as a Markov chain.

Chapter: *SGD as a Markov chain*.

Every problem is a finite sum

.. math::

    F(\\theta) = \\frac{1}{N} \\sum_{i=1}^{N} f_i(\\theta), \\qquad \\theta \\in \\mathbb{R}^d,

and exposes the same interface (:class:`FiniteSumProblem`), vectorized over ``R`` independent
runs: ``theta`` has shape ``(R, d)`` and a mini-batch ``idx`` has shape ``(R, b)``; the
stochastic gradient of run ``r`` is the batch mean

.. math::

    g_r = \\frac{1}{b} \\sum_{j=1}^{b} \\nabla f_{\\mathrm{idx}[r, j]}(\\theta_r).

With i.i.d. batches, ``theta_{k+1} = theta_k - step * g`` is a homogeneous Markov chain
(Dieuleveut, Durmus & Bach 2020, *Bridging the gap between constant step size stochastic
gradient descent and Markov chains*, Ann. Statist. 48(3)). When all the ``f_i`` share a
minimizer (interpolation: over-parametrized least squares, realizable data) the gradient noise
vanishes there and the chain converges to a point; otherwise it converges in law to a
stationary distribution with a spread (standard deviation) of order ``sqrt(step)`` around the
minimizer.

Problems
--------
:class:`LeastSquares`
    ``f_i = (x_i^T theta - y_i)^2 / 2``, convex; interpolates when ``dim >= n_samples``.
:class:`LogisticRegression`
    ``f_i = log(1 + exp(-y_i x_i^T theta)) + l2 ||theta||^2 / 2``, strongly convex.
:class:`IllConditionedQuadratic`
    ``F = x^T Q x + c^T x`` with additive centred noise; gradient descent zig-zags.
:class:`TwoBasins`
    a 2-D double well on ``[-1, 1]^2`` with minima near ``(0.5, 0.5)`` and ``(-0.5, -0.5)``.

All problems are frozen dataclasses holding read-only copies of their arrays; the factories
(:func:`least_squares`, :func:`logistic_regression`, :func:`ill_conditioned_quadratic`,
:func:`two_basins`) draw the data from ``np.random.default_rng(seed)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import scipy.optimize
import scipy.special
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "FiniteSumProblem",
    "IllConditionedQuadratic",
    "LeastSquares",
    "LogisticRegression",
    "TwoBasins",
    "check_batch",
    "ill_conditioned_quadratic",
    "least_squares",
    "logistic_regression",
    "loss_surface",
    "two_basins",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@runtime_checkable
class FiniteSumProblem(Protocol):
    """Interface shared by all problems: ``F(theta) = (1/N) sum_i f_i(theta)``.

    Shapes: ``theta`` is ``(R, d)`` for :meth:`grad` and :meth:`sample_loss` (``R`` runs),
    ``idx`` is an integer array ``(R, b)`` of sample indices in ``[0, N)``; :meth:`loss` and
    :meth:`basin` accept any ``(..., d)`` (e.g. a ``(ny, nx, 2)`` grid for contour plots).
    """

    @property
    def n_samples(self) -> int:
        """Number ``N`` of terms ``f_i`` in the sum."""
        ...

    @property
    def dim(self) -> int:
        """Dimension ``d`` of ``theta``."""
        ...

    def grad(self, theta: ArrayLike, idx: ArrayLike) -> FloatArray:
        """Batch-mean gradient ``(1/b) sum_j grad f_{idx[r, j]}(theta_r)``, shape ``(R, d)``."""
        ...

    def sample_loss(self, theta: ArrayLike, idx: ArrayLike) -> FloatArray:
        """Batch-mean loss ``(1/b) sum_j f_{idx[r, j]}(theta_r)``, shape ``(R,)``."""
        ...

    def loss(self, theta: ArrayLike) -> FloatArray:
        """Full objective ``F(theta)`` for ``theta`` of shape ``(..., d)``, shape ``(...)``."""
        ...

    def minimizers(self) -> FloatArray:
        """Known minimizer(s), shape ``(m, d)`` (one row per basin for non-convex problems)."""
        ...

    def basin(self, theta: ArrayLike) -> IntArray:
        """Index into :meth:`minimizers` of the basin of each ``theta`` (``(..., d)``)."""
        ...


# --------------------------------------------------------------------------------------------
# validation helpers


def _frozen(a: ArrayLike, name: str, ndim: int) -> FloatArray:
    """Return a read-only float64 copy of ``a`` after checking its rank and finiteness."""
    arr = np.array(a, dtype=np.float64, copy=True)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array; got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf; pass finite values.")
    arr.flags.writeable = False
    return arr


def _check_positive_int(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def _check_nonneg(value: float, name: str) -> float:
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}.")
    return float(value)


def check_batch(theta: ArrayLike, idx: ArrayLike, dim: int, n_samples: int):
    """Validate a batch of parameters and sample indices.

    Parameters
    ----------
    theta : array_like, shape (R, d)
        One parameter vector per run.
    idx : array_like of int, shape (R, b)
        Sample indices of each run's mini-batch, in ``[0, n_samples)``.
    dim, n_samples : int
        The problem's ``d`` and ``N``.

    Returns
    -------
    theta : ndarray, shape (R, d), float64
    idx : ndarray, shape (R, b), int

    Raises
    ------
    ValueError
        On a wrong shape, non-integer indices or indices out of range.
    """
    theta = np.asarray(theta, dtype=np.float64)
    idx = np.asarray(idx)
    if theta.ndim != 2 or theta.shape[1] != dim:
        raise ValueError(
            f"theta must have shape (n_runs, {dim}); got {theta.shape}. "
            "Stack one parameter vector per run."
        )
    if idx.ndim != 2 or idx.shape[0] != theta.shape[0] or idx.shape[1] < 1:
        raise ValueError(
            f"idx must have shape (n_runs, batch_size) = ({theta.shape[0]}, b >= 1); "
            f"got {idx.shape}."
        )
    if not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"idx must hold integers; got dtype {idx.dtype}.")
    if idx.min() < 0 or idx.max() >= n_samples:
        raise ValueError(
            f"idx must lie in [0, {n_samples}); got values in [{idx.min()}, {idx.max()}]."
        )
    return theta, idx


def _check_points(theta: ArrayLike, dim: int) -> FloatArray:
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim < 1 or theta.shape[-1] != dim:
        raise ValueError(f"theta must have shape (..., {dim}); got {theta.shape}.")
    return theta


def _check_centred(z: FloatArray, name: str) -> None:
    """Require ``sum_i z_i = 0`` (up to rounding) so that the noise leaves ``F`` unchanged."""
    scale = max(1.0, float(np.abs(z).max(initial=0.0)))
    if np.abs(z.mean(axis=0)).max(initial=0.0) > 1e-10 * scale:
        raise ValueError(
            f"{name}: the per-sample noise z must be exactly centred (sum_i z_i = 0) so that "
            "F is unchanged; pass z - z.mean(axis=0)."
        )


def loss_surface(
    problem: FiniteSumProblem, xlim: ArrayLike, ylim: ArrayLike, num: int = 121
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Objective of a 2-D problem on a regular grid, for contour plots.

    .. math::

        zz[j, i] = F(xx[j, i], yy[j, i]), \\qquad (xx, yy) = \\mathrm{meshgrid}(
        \\mathrm{linspace}(x_{lo}, x_{hi}, n), \\mathrm{linspace}(y_{lo}, y_{hi}, n)).

    Parameters
    ----------
    problem : FiniteSumProblem
        A problem with ``dim == 2``.
    xlim, ylim : array_like, shape (2,)
        ``(lo, hi)`` of each axis, ``lo < hi``.
    num : int, default 121
        Grid points per axis (``>= 2``).

    Returns
    -------
    xx, yy, zz : ndarray, shape (num, num)
        Ready for ``matplotlib``'s ``contour(xx, yy, zz)``.
    """
    if problem.dim != 2:
        raise ValueError(
            f"loss_surface: needs a 2-D problem; got dim={problem.dim}. Plot a 2-D slice instead."
        )
    if isinstance(num, bool) or not isinstance(num, int | np.integer) or num < 2:
        raise ValueError(f"loss_surface: num must be an integer >= 2; got {num!r}.")
    axes = []
    for name, lim in (("xlim", xlim), ("ylim", ylim)):
        lim = np.asarray(lim, dtype=np.float64)
        if lim.shape != (2,) or not np.all(np.isfinite(lim)) or not lim[0] < lim[1]:
            raise ValueError(f"loss_surface: {name} must be (lo, hi) with lo < hi; got {lim}.")
        axes.append(np.linspace(lim[0], lim[1], int(num)))
    xx, yy = np.meshgrid(*axes)
    return xx, yy, problem.loss(np.stack([xx, yy], axis=-1))


# --------------------------------------------------------------------------------------------
# least squares


@dataclass(frozen=True, eq=False)
class LeastSquares:
    """Least squares ``F(theta) = (1/2N) ||X theta - y||^2``.

    Per-sample loss and gradient:

    .. math::

        f_i(\\theta) = \\tfrac12 (x_i^\\top \\theta - y_i)^2, \\qquad
        \\nabla f_i(\\theta) = x_i (x_i^\\top \\theta - y_i).

    Hessian ``H = X^T X / N`` (:attr:`hessian`). Minimizer (:meth:`minimizers`): the
    minimum-norm least-squares solution ``theta* = X^+ y``; the whole solution set is
    ``theta* + ker X``.

    * Under-parametrized (``d < N``, noisy ``y``): ``theta*`` is unique, the residuals
      ``r_i = y_i - x_i^T theta*`` do not all vanish, and constant-step SGD converges in law to a
      stationary distribution with mean exactly ``theta*`` (batches drawn with replacement) and
      covariance of order ``step`` (:func:`sgdllm.sgd.runs.least_squares_stationary_covariance`).
    * Over-parametrized (``d >= N``, ``X`` of full row rank) or realizable (``y = X theta``):
      every ``f_i`` vanishes on the solution set, the gradient noise vanishes there, and SGD
      converges to a point. Since every update moves along a row of ``X``, the iterates stay
      in ``theta0 + row(X)`` and the limit is the projection of ``theta0`` on the solution set
      (:meth:`projection`).

    Parameters
    ----------
    X : array_like, shape (N, d)
        Features ``x_i`` (rows).
    y : array_like, shape (N,)
        Targets.
    """

    X: FloatArray
    y: FloatArray

    def __post_init__(self) -> None:
        X = _frozen(self.X, "LeastSquares: X", 2)
        y = _frozen(self.y, "LeastSquares: y", 1)
        if X.shape[0] != y.shape[0] or X.shape[0] == 0:
            raise ValueError(
                f"LeastSquares: X has {X.shape[0]} rows but y has {y.shape[0]} entries; "
                "pass one target per row of X (at least one)."
            )
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)

    @property
    def n_samples(self) -> int:
        """Number of samples ``N``."""
        return int(self.X.shape[0])

    @property
    def dim(self) -> int:
        """Dimension ``d``."""
        return int(self.X.shape[1])

    @property
    def hessian(self) -> FloatArray:
        """``H = X^T X / N`` (constant: the problem is quadratic)."""
        return self.X.T @ self.X / self.n_samples

    def grad(self, theta: ArrayLike, idx: ArrayLike) -> FloatArray:
        """Batch mean of ``x_i (x_i^T theta_r - y_i)``; see :class:`FiniteSumProblem`."""
        theta, idx = check_batch(theta, idx, self.dim, self.n_samples)
        xb = self.X[idx]  # (R, b, d)
        res = np.einsum("rbd,rd->rb", xb, theta) - self.y[idx]
        return np.einsum("rb,rbd->rd", res, xb) / idx.shape[1]

    def sample_loss(self, theta: ArrayLike, idx: ArrayLike) -> FloatArray:
        """Batch mean of ``(x_i^T theta_r - y_i)^2 / 2``, shape ``(R,)``."""
        theta, idx = check_batch(theta, idx, self.dim, self.n_samples)
        res = np.einsum("rbd,rd->rb", self.X[idx], theta) - self.y[idx]
        return 0.5 * np.mean(res**2, axis=1)

    def loss(self, theta: ArrayLike) -> FloatArray:
        """``F(theta) = mean_i (x_i^T theta - y_i)^2 / 2`` for ``theta`` of shape ``(..., d)``."""
        theta = _check_points(theta, self.dim)
        return 0.5 * np.mean((theta @ self.X.T - self.y) ** 2, axis=-1)

    def minimizers(self) -> FloatArray:
        """Minimum-norm least-squares solution ``X^+ y``, shape ``(1, d)``."""
        return np.linalg.lstsq(self.X, self.y, rcond=None)[0][None, :]

    def projection(self, theta0: ArrayLike) -> FloatArray:
        """Projection of ``theta0`` on the solution set ``argmin F = theta* + ker X``.

        .. math::

            P(\\theta_0) = \\theta_0 + X^+ (y - X \\theta_0),

        the limit of SGD started at ``theta0`` when it interpolates (over-parametrized case);
        equals ``theta*`` when ``X`` has full column rank.

        Parameters
        ----------
        theta0 : array_like, shape (..., d)

        Returns
        -------
        ndarray, shape (..., d)
        """
        theta0 = _check_points(theta0, self.dim)
        res = self.y - theta0 @ self.X.T  # (..., N)
        return theta0 + res @ np.linalg.pinv(self.X).T

    def basin(self, theta: ArrayLike) -> IntArray:
        """Convex problem: every point is in basin 0."""
        theta = _check_points(theta, self.dim)
        return np.zeros(theta.shape[:-1], dtype=np.int64)


def least_squares(
    n_samples: int, dim: int, noise: float = 0.5, seed: int | None = 0
) -> LeastSquares:
    """Random Gaussian least-squares problem.

    .. math::

        X_{ij} \\sim \\mathcal N(0, 1), \\quad \\theta_{\\mathrm{true}} \\sim \\mathcal N(0, I_d),
        \\quad y = X \\theta_{\\mathrm{true}} + \\mathrm{noise} \\cdot \\varepsilon,
        \\quad \\varepsilon \\sim \\mathcal N(0, I_N).

    ``dim > n_samples`` gives an over-parametrized (interpolating) problem; ``noise = 0`` a
    realizable one (interpolating in any dimension, e.g. 2-D); ``dim < n_samples`` with
    ``noise > 0`` an under-parametrized one with a non-degenerate stationary law.

    Parameters
    ----------
    n_samples, dim : int
        ``N`` and ``d``.
    noise : float, default 0.5
        Standard deviation of the label noise (``>= 0``).
    seed : int or None, default 0
        Seed of ``np.random.default_rng``.
    """
    n_samples = _check_positive_int(n_samples, "least_squares: n_samples")
    dim = _check_positive_int(dim, "least_squares: dim")
    noise = _check_nonneg(noise, "least_squares: noise")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, dim))
    theta_true = rng.standard_normal(dim)
    y = X @ theta_true + noise * rng.standard_normal(n_samples)
    return LeastSquares(X=X, y=y)


# --------------------------------------------------------------------------------------------
# logistic regression


def _logistic_objective(theta: FloatArray, X: FloatArray, y: FloatArray, l2: float):
    """Value and gradient of ``F`` for :func:`scipy.optimize.minimize`."""
    m = y * (X @ theta)
    val = np.mean(np.logaddexp(0.0, -m)) + 0.5 * l2 * theta @ theta
    w = -y * scipy.special.expit(-m)
    return val, X.T @ w / X.shape[0] + l2 * theta


def _logistic_hessian(theta: FloatArray, X: FloatArray, y: FloatArray, l2: float) -> FloatArray:
    p = scipy.special.expit(X @ theta)
    return (X.T * (p * (1.0 - p))) @ X / X.shape[0] + l2 * np.eye(X.shape[1])


def _logistic_minimizer(X: FloatArray, y: FloatArray, l2: float) -> FloatArray:
    """Unique minimizer of the l2-regularized logistic loss, to gradient norm ``<= 1e-10``."""
    res = scipy.optimize.minimize(
        _logistic_objective,
        np.zeros(X.shape[1]),
        args=(X, y, l2),
        jac=True,
        hess=_logistic_hessian,
        method="trust-exact",
        options={"gtol": 1e-12, "maxiter": 1000},
    )
    gnorm = float(np.linalg.norm(_logistic_objective(res.x, X, y, l2)[1]))
    if not gnorm <= 1e-10:
        raise ValueError(
            f"LogisticRegression: could not find the minimizer (gradient norm {gnorm:.2e}, "
            f"{res.message}); increase l2 or rescale X."
        )
    return res.x


@dataclass(frozen=True, eq=False)
class LogisticRegression:
    """L2-regularized logistic regression with labels ``y_i in {-1, +1}``.

    Per-sample loss and gradient, with margin ``m_i = y_i x_i^T theta`` and
    ``sigma(t) = 1 / (1 + e^{-t})``:

    .. math::

        f_i(\\theta) = \\log(1 + e^{-m_i}) + \\tfrac{\\lambda}{2} \\|\\theta\\|^2, \\qquad
        \\nabla f_i(\\theta) = -y_i\\, \\sigma(-m_i)\\, x_i + \\lambda \\theta,

    computed stably with ``np.logaddexp`` and ``scipy.special.expit``. ``F`` is
    ``lambda``-strongly convex, so it has a unique minimizer ``theta*`` (:meth:`minimizers`),
    found at construction by a trust-region Newton method (``scipy.optimize.minimize``,
    ``method="trust-exact"``) to gradient norm ``<= 1e-10`` and stored in
    :attr:`theta_star`. The gradient noise does not vanish at ``theta*``, so constant-step
    SGD has a stationary law; unlike least squares its mean is ``theta* + O(step)``
    (Dieuleveut, Durmus & Bach 2020).

    Parameters
    ----------
    X : array_like, shape (N, d)
    y : array_like, shape (N,)
        Labels in ``{-1, +1}``.
    l2 : float
        Ridge penalty ``lambda > 0``.
    theta_star : array_like, shape (d,), optional
        The minimizer; computed when omitted (the factory does so).
    """

    X: FloatArray
    y: FloatArray
    l2: float
    theta_star: FloatArray | None = field(default=None)

    def __post_init__(self) -> None:
        X = _frozen(self.X, "LogisticRegression: X", 2)
        y = _frozen(self.y, "LogisticRegression: y", 1)
        if X.shape[0] != y.shape[0] or X.shape[0] == 0:
            raise ValueError(
                f"LogisticRegression: X has {X.shape[0]} rows but y has {y.shape[0]} "
                "entries; pass one label per row of X (at least one)."
            )
        if not np.all(np.abs(y) == 1.0):
            raise ValueError(
                "LogisticRegression: labels y must be -1 or +1; map {0, 1} labels with 2*y - 1."
            )
        if not (np.isfinite(self.l2) and self.l2 > 0):
            raise ValueError(
                f"LogisticRegression: l2 must be > 0 (it makes the minimizer exist and unique, "
                f"also on separable data); got {self.l2!r}."
            )
        l2 = float(self.l2)
        if self.theta_star is None:
            theta_star = _logistic_minimizer(X, y, l2)
        else:
            theta_star = np.asarray(self.theta_star, dtype=np.float64)
            if theta_star.shape != (X.shape[1],):
                raise ValueError(
                    f"LogisticRegression: theta_star must have shape ({X.shape[1]},); got "
                    f"{theta_star.shape}. Omit it to have it computed."
                )
        theta_star = _frozen(theta_star, "LogisticRegression: theta_star", 1)
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "l2", l2)
        object.__setattr__(self, "theta_star", theta_star)

    @property
    def n_samples(self) -> int:
        """Number of samples ``N``."""
        return int(self.X.shape[0])

    @property
    def dim(self) -> int:
        """Dimension ``d``."""
        return int(self.X.shape[1])

    def grad(self, theta: ArrayLike, idx: ArrayLike) -> FloatArray:
        """Batch mean of ``-y_i sigma(-m_i) x_i + l2 theta_r``; see :class:`FiniteSumProblem`."""
        theta, idx = check_batch(theta, idx, self.dim, self.n_samples)
        xb, yb = self.X[idx], self.y[idx]
        m = yb * np.einsum("rbd,rd->rb", xb, theta)
        w = -yb * scipy.special.expit(-m)
        return np.einsum("rb,rbd->rd", w, xb) / idx.shape[1] + self.l2 * theta

    def sample_loss(self, theta: ArrayLike, idx: ArrayLike) -> FloatArray:
        """Batch mean of ``log(1 + exp(-m_i)) + l2 ||theta_r||^2 / 2``, shape ``(R,)``."""
        theta, idx = check_batch(theta, idx, self.dim, self.n_samples)
        m = self.y[idx] * np.einsum("rbd,rd->rb", self.X[idx], theta)
        reg = 0.5 * self.l2 * np.sum(theta**2, axis=1)
        return np.mean(np.logaddexp(0.0, -m), axis=1) + reg

    def loss(self, theta: ArrayLike) -> FloatArray:
        """``F(theta)`` for ``theta`` of shape ``(..., d)``."""
        theta = _check_points(theta, self.dim)
        m = self.y * (theta @ self.X.T)
        reg = 0.5 * self.l2 * np.sum(theta**2, axis=-1)
        return np.mean(np.logaddexp(0.0, -m), axis=-1) + reg

    def minimizers(self) -> FloatArray:
        """The unique minimizer ``theta*``, shape ``(1, d)``."""
        return np.array(self.theta_star)[None, :]

    def basin(self, theta: ArrayLike) -> IntArray:
        """Convex problem: every point is in basin 0."""
        theta = _check_points(theta, self.dim)
        return np.zeros(theta.shape[:-1], dtype=np.int64)


def logistic_regression(
    n_samples: int, dim: int, l2: float = 1e-2, seed: int | None = 0
) -> LogisticRegression:
    """Random logistic-regression problem with its minimizer precomputed.

    .. math::

        X_{ij} \\sim \\mathcal N(0, 1), \\quad \\theta_{\\mathrm{true}} \\sim \\mathcal N(0, I_d),
        \\quad P(y_i = +1) = \\sigma(x_i^\\top \\theta_{\\mathrm{true}}).

    Parameters
    ----------
    n_samples, dim : int
    l2 : float, default 1e-2
        Ridge penalty (``> 0``).
    seed : int or None, default 0
    """
    n_samples = _check_positive_int(n_samples, "logistic_regression: n_samples")
    dim = _check_positive_int(dim, "logistic_regression: dim")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, dim))
    theta_true = rng.standard_normal(dim)
    p = scipy.special.expit(X @ theta_true)
    y = np.where(rng.random(n_samples) < p, 1.0, -1.0)
    return LogisticRegression(X=X, y=y, l2=l2)


# --------------------------------------------------------------------------------------------
# ill-conditioned quadratic


@dataclass(frozen=True, eq=False)
class IllConditionedQuadratic:
    """Quadratic ``F(x) = x^T Q x + c^T x`` with additive, exactly centred gradient noise.

    Written as in the lecture notes (no factor 1/2), ``Q`` symmetric positive definite. The
    finite-sum version adds centred vectors ``z_i`` (``sum_i z_i = 0``, so ``F`` is unchanged):

    .. math::

        f_i(x) = x^\\top Q x + c^\\top x - z_i^\\top x, \\qquad
        \\nabla f_i(x) = 2 Q x + c - z_i .

    The Hessian is ``2Q`` and the unique minimizer is ``x* = -Q^{-1} c / 2``. The stochastic
    gradient is ``grad F(x)`` plus noise that does not depend on ``x`` (additive), so SGD is
    the linear chain ``x' = (I - 2 step Q) x - step c + step zbar_B``: stable iff
    ``step < 1 / lambda_max(Q)``, stationary mean ``x*``. With a large condition number,
    gradient descent near that bound zig-zags across the narrow valley.

    Parameters
    ----------
    Q : array_like, shape (d, d)
        Symmetric positive definite.
    c : array_like, shape (d,)
    z : array_like, shape (N, d)
        Centred per-sample noise vectors (zeros for deterministic gradients).
    """

    Q: FloatArray
    c: FloatArray
    z: FloatArray

    def __post_init__(self) -> None:
        Q = _frozen(self.Q, "IllConditionedQuadratic: Q", 2)
        c = _frozen(self.c, "IllConditionedQuadratic: c", 1)
        z = _frozen(self.z, "IllConditionedQuadratic: z", 2)
        d = c.shape[0]
        if Q.shape != (d, d) or z.shape[1:] != (d,) or z.shape[0] == 0:
            raise ValueError(
                f"IllConditionedQuadratic: shapes must be Q (d, d), c (d,), z (N, d) with N >= 1;"
                f" got Q {Q.shape}, c {c.shape}, z {z.shape}."
            )
        if not np.allclose(Q, Q.T, rtol=0.0, atol=1e-12 * max(1.0, np.abs(Q).max())):
            raise ValueError("IllConditionedQuadratic: Q must be symmetric; pass (Q + Q.T) / 2.")
        if np.linalg.eigvalsh(Q).min() <= 0:
            raise ValueError(
                "IllConditionedQuadratic: Q must be positive definite (all eigenvalues > 0)."
            )
        _check_centred(z, "IllConditionedQuadratic")
        object.__setattr__(self, "Q", Q)
        object.__setattr__(self, "c", c)
        object.__setattr__(self, "z", z)

    @property
    def n_samples(self) -> int:
        """Number of noise vectors ``N``."""
        return int(self.z.shape[0])

    @property
    def dim(self) -> int:
        """Dimension ``d``."""
        return int(self.c.shape[0])

    @property
    def hessian(self) -> FloatArray:
        """``2 Q``."""
        return 2.0 * self.Q

    def grad(self, theta: ArrayLike, idx: ArrayLike) -> FloatArray:
        """``2 Q theta_r + c - mean_j z_{idx[r, j]}``; see :class:`FiniteSumProblem`."""
        theta, idx = check_batch(theta, idx, self.dim, self.n_samples)
        return 2.0 * theta @ self.Q + self.c - self.z[idx].mean(axis=1)

    def sample_loss(self, theta: ArrayLike, idx: ArrayLike) -> FloatArray:
        """Batch mean of ``theta^T Q theta + c^T theta - z_i^T theta``, shape ``(R,)``."""
        theta, idx = check_batch(theta, idx, self.dim, self.n_samples)
        zbar = self.z[idx].mean(axis=1)
        return self.loss(theta) - np.sum(zbar * theta, axis=1)

    def loss(self, theta: ArrayLike) -> FloatArray:
        """``F(x) = x^T Q x + c^T x`` for ``x`` of shape ``(..., d)``."""
        theta = _check_points(theta, self.dim)
        return np.einsum("...i,ij,...j->...", theta, self.Q, theta) + theta @ self.c

    def minimizers(self) -> FloatArray:
        """``x* = -Q^{-1} c / 2``, shape ``(1, d)``."""
        return -0.5 * np.linalg.solve(self.Q, self.c)[None, :]

    def basin(self, theta: ArrayLike) -> IntArray:
        """Convex problem: every point is in basin 0."""
        theta = _check_points(theta, self.dim)
        return np.zeros(theta.shape[:-1], dtype=np.int64)


def ill_conditioned_quadratic(
    condition: float = 20.0,
    angle: float = math.pi / 6,
    noise: float = 0.0,
    n_samples: int = 100,
    seed: int | None = 0,
    minimizer: ArrayLike = (0.0, 0.0),
) -> IllConditionedQuadratic:
    """2-D ill-conditioned quadratic: eigenvalues ``1`` and ``condition``, rotated by ``angle``.

    .. math::

        Q = R_\\alpha \\operatorname{diag}(1, \\kappa) R_\\alpha^\\top, \\quad
        R_\\alpha = \\begin{pmatrix} \\cos\\alpha & -\\sin\\alpha \\\\
        \\sin\\alpha & \\cos\\alpha \\end{pmatrix}, \\quad c = -2 Q x^*,

    and ``z_i = noise * (eps_i - mean_j eps_j)``, ``eps_i ~ N(0, I_2)``. Gradient descent is
    stable for ``step < 1 / condition`` (the Hessian is ``2Q``).

    Parameters
    ----------
    condition : float, default 20.0
        Condition number ``kappa >= 1`` of ``Q``.
    angle : float, default pi/6
        Rotation of the eigenbasis (radians).
    noise : float, default 0.0
        Scale of the additive gradient noise (``0``: deterministic gradient descent).
    n_samples : int, default 100
        Number ``N`` of noise vectors.
    seed : int or None, default 0
    minimizer : array_like, shape (2,), default (0, 0)
        Where to put ``x*``.
    """
    if not (np.isfinite(condition) and condition >= 1):
        raise ValueError(
            f"ill_conditioned_quadratic: condition must be a finite number >= 1; got {condition!r}."
        )
    if not np.isfinite(angle):
        raise ValueError(f"ill_conditioned_quadratic: angle must be finite; got {angle!r}.")
    noise = _check_nonneg(noise, "ill_conditioned_quadratic: noise")
    n_samples = _check_positive_int(n_samples, "ill_conditioned_quadratic: n_samples")
    x_star = np.asarray(minimizer, dtype=np.float64)
    if x_star.shape != (2,) or not np.all(np.isfinite(x_star)):
        raise ValueError(
            f"ill_conditioned_quadratic: minimizer must be 2 finite numbers; got {minimizer!r}."
        )
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    Q = rot @ np.diag([1.0, float(condition)]) @ rot.T
    Q = 0.5 * (Q + Q.T)
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal((n_samples, 2))
    z = noise * (eps - eps.mean(axis=0))
    return IllConditionedQuadratic(Q=Q, c=-2.0 * Q @ x_star, z=z)


# --------------------------------------------------------------------------------------------
# two basins

_SQRT_HALF = math.sqrt(0.5)


@dataclass(frozen=True, eq=False)
class TwoBasins:
    """2-D double well along the diagonal, with two basins (top-right and bottom-left).

    In the rotated coordinates ``u = (t0 + t1)/sqrt2`` (along the diagonal) and
    ``v = (t0 - t1)/sqrt2``:

    .. math::

        F(\\theta) = \\tfrac14 (u^2 - a^2)^2 + \\tfrac{\\kappa}{2} v^2,

    with finite-sum version ``f_i(theta) = F(theta) - z_i^T theta`` (``sum_i z_i = 0``), so

    .. math::

        \\nabla f_i(\\theta) = u (u^2 - a^2)\\, \\tfrac{1}{\\sqrt2}(1, 1)
        + \\kappa v\\, \\tfrac{1}{\\sqrt2}(1, -1) - z_i .

    Minimizers (:meth:`minimizers`): ``+(a/sqrt2)(1, 1)`` (basin 0, ``u > 0``) and
    ``-(a/sqrt2)(1, 1)`` (basin 1, ``u < 0``), separated by the ridge ``u = 0`` with barrier
    ``F(0) - F(min) = a^4 / 4`` and saddle at the origin. Curvatures at the minima: ``2 a^2``
    along ``u``, ``kappa`` along ``v``. The gradient noise is additive, so SGD is a
    (non-linear) homogeneous Markov chain that settles in one well and escapes only on
    exponentially long times ``~ exp(a^4 / (2 step sigma^2))`` (Kramers), ``sigma`` the noise
    scale.

    Parameters
    ----------
    a : float
        Distance of each minimum from the origin (``> 0``).
    kappa : float
        Curvature across the diagonal (``> 0``).
    z : array_like, shape (N, 2)
        Centred per-sample noise vectors.
    """

    a: float
    kappa: float
    z: FloatArray

    def __post_init__(self) -> None:
        for name in ("a", "kappa"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"TwoBasins: {name} must be a finite number > 0; got {value!r}.")
            object.__setattr__(self, name, float(value))
        z = _frozen(self.z, "TwoBasins: z", 2)
        if z.shape[1] != 2 or z.shape[0] == 0:
            raise ValueError(f"TwoBasins: z must have shape (N, 2) with N >= 1; got {z.shape}.")
        _check_centred(z, "TwoBasins")
        object.__setattr__(self, "z", z)

    @property
    def n_samples(self) -> int:
        """Number of noise vectors ``N``."""
        return int(self.z.shape[0])

    @property
    def dim(self) -> int:
        """Dimension ``d = 2``."""
        return 2

    def _full_grad(self, theta: FloatArray) -> FloatArray:
        u = (theta[..., 0] + theta[..., 1]) * _SQRT_HALF
        v = (theta[..., 0] - theta[..., 1]) * _SQRT_HALF
        du = u * (u**2 - self.a**2)
        dv = self.kappa * v
        return np.stack([du + dv, du - dv], axis=-1) * _SQRT_HALF

    def grad(self, theta: ArrayLike, idx: ArrayLike) -> FloatArray:
        """``grad F(theta_r) - mean_j z_{idx[r, j]}``; see :class:`FiniteSumProblem`."""
        theta, idx = check_batch(theta, idx, self.dim, self.n_samples)
        return self._full_grad(theta) - self.z[idx].mean(axis=1)

    def sample_loss(self, theta: ArrayLike, idx: ArrayLike) -> FloatArray:
        """Batch mean of ``F(theta_r) - z_i^T theta_r``, shape ``(R,)``."""
        theta, idx = check_batch(theta, idx, self.dim, self.n_samples)
        zbar = self.z[idx].mean(axis=1)
        return self.loss(theta) - np.sum(zbar * theta, axis=1)

    def loss(self, theta: ArrayLike) -> FloatArray:
        """``F = (u^2 - a^2)^2 / 4 + kappa v^2 / 2`` for ``theta`` of shape ``(..., 2)``."""
        theta = _check_points(theta, self.dim)
        u = (theta[..., 0] + theta[..., 1]) * _SQRT_HALF
        v = (theta[..., 0] - theta[..., 1]) * _SQRT_HALF
        return 0.25 * (u**2 - self.a**2) ** 2 + 0.5 * self.kappa * v**2

    def minimizers(self) -> FloatArray:
        """``[+(a/sqrt2)(1, 1), -(a/sqrt2)(1, 1)]``, shape ``(2, 2)``."""
        m = self.a * _SQRT_HALF
        return np.array([[m, m], [-m, -m]])

    def basin(self, theta: ArrayLike) -> IntArray:
        """``0`` where ``u = (t0 + t1)/sqrt2 >= 0`` (top-right), ``1`` where ``u < 0``."""
        theta = _check_points(theta, self.dim)
        return np.where(theta[..., 0] + theta[..., 1] >= 0, 0, 1).astype(np.int64)


def two_basins(
    a: float = _SQRT_HALF,
    kappa: float = 1.0,
    noise: float = 0.25,
    n_samples: int = 100,
    seed: int | None = 0,
) -> TwoBasins:
    """Two-basin problem on ``[-1, 1]^2`` with minima at ``(0.5, 0.5)`` and ``(-0.5, -0.5)``.

    ``z_i = noise * (eps_i - mean_j eps_j)``, ``eps_i ~ N(0, I_2)``.

    Defaults: ``a = 1/sqrt2`` puts the minima at ``+-(0.5, 0.5)``, well inside the square;
    the curvature there is ``2 a^2 = 1`` along the diagonal and ``kappa = 1`` across it
    (round wells), and the barrier is ``a^4 / 4 = 1/16``. With ``noise = 0.25`` and
    ``step = 0.1`` (batch 1) the stationary spread inside a well is about
    ``sqrt(step noise^2 / 2) ~ 0.056`` per coordinate, while the Kramers exponent
    ``a^4 / (2 step noise^2) = 20`` makes a crossing of the ridge in thousands of steps
    very unlikely (in a check of 1000 runs x 5000 steps none came closer than ``|u| = 0.2``
    to the ridge; with ``noise = 0.3``, exponent ~14, one run crossed): runs stay in the basin
    they start in, and runs started on either side reach different minima. Stable for
    ``step`` up to about ``0.3`` on ``[-1, 1]^2`` (largest curvature ``3 u^2 - a^2 <= 5.5``
    at the corners).

    Parameters
    ----------
    a : float, default 1/sqrt2
    kappa : float, default 1.0
    noise : float, default 0.25
    n_samples : int, default 100
    seed : int or None, default 0
    """
    noise = _check_nonneg(noise, "two_basins: noise")
    n_samples = _check_positive_int(n_samples, "two_basins: n_samples")
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal((n_samples, 2))
    return TwoBasins(a=a, kappa=kappa, z=noise * (eps - eps.mean(axis=0)))
