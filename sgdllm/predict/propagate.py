"""Predicting SGD from new starts with matrix products instead of gradients.

Chapter: *Predicting SGD*.

Once every row of a kernel ``P`` of a coordinate is defined (:func:`sgdllm.impute.impute`),
the law of the discretized coordinate after ``t`` steps from a start law ``p_0`` is

.. math::

    p_t = p_0 P^t, \\qquad p_{t+1}[s'] = \\sum_s p_t[s] \\, P[s, s'],

the Chapman-Kolmogorov equation of the Markov chain that constant-step SGD is (Dieuleveut,
Durmus & Bach 2020). The paper (Zekri et al. 2024) predicts where SGD converges from a new
start ``x_0`` as ``delta_{x_0} Q^t`` with ``Q`` the kernel read off a language model.

Dimensions. The paper writes the kernel of the ``d``-dimensional chain as the block matrix
``Q = [lambda_ij P^(ij)]``, ``P^(ij)`` the kernel of coordinate ``j`` given coordinate ``i``.
We keep the diagonal blocks ``P^(ii)`` with ``lambda_ii = 1`` and set the off-diagonal blocks
to zero (channel independence, as when each coordinate's series is read by the model on its
own): each coordinate is propagated by its own kernel, on its own. This ignores the
cross-coordinate coupling -- the law of ``theta_i'`` depends on the other coordinates of
``theta`` (through the gradient), not only on ``theta_i``. Predicted ``d``-dimensional runs
therefore move coordinate-wise independently, and the predicted joint law is the product of
the marginals: correlations between coordinates, and basin structure set by the coupling
(which well a run falls into depends on the joint position), are lost unless the marginals
carry them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import scipy.sparse
from numpy.typing import ArrayLike, NDArray

from sgdllm.discretize import Scaler
from sgdllm.impute import ImputeMethod, OutsideRule, impute
from sgdllm.kernel import Bandwidth, Kernel, count_kernel, kernel_from_laws

__all__ = [
    "MAX_OUTPUT_BYTES",
    "POWER_MIN_GAP",
    "PROPAGATE_METHODS",
    "SPARSE_DENSITY",
    "coordinate_kernels",
    "dirac",
    "initial_law",
    "laws_at",
    "predict_laws",
    "propagate",
    "sample_paths",
    "sample_trajectories",
]


#: Kernels with at most this fraction of non-zero entries are propagated as CSR sparse
#: matrices. Measured on 2 cores (benchmarks/bench_core.py): for 100 starts through 1000
#: states, scipy's single-threaded sparse product beats the dense BLAS one below ~10%.
SPARSE_DENSITY = 0.1
#: Tolerance on the total mass of a law.
_MASS_TOL = 1e-8
#: Smallest normal double; smaller (subnormal) probabilities are flushed to 0 when propagating.
_TINY = float(np.finfo(np.float64).tiny)
#: Gaps between recorded times longer than this many steps are crossed by a matrix power
#: when it is cheaper (:func:`propagate`); shorter ones are always stepped.
POWER_MIN_GAP = 4096
#: Largest output (laws) :func:`propagate`, :func:`laws_at` and :func:`sample_paths` allocate.
MAX_OUTPUT_BYTES = 8 * 2**30
#: Ways of crossing the steps between recorded laws.
PROPAGATE_METHODS = ("auto", "step", "power")
PropagateMethod = Literal["auto", "step", "power"]

Operator = NDArray[np.float64] | scipy.sparse.csr_matrix


# ----------------------------------------------------------------------------- validation


def _check_kernel(kernel: Kernel, name: str = "kernel") -> Kernel:
    if not isinstance(kernel, Kernel):
        raise ValueError(f"{name} must be a Kernel, got {type(kernel).__name__}")
    if not kernel.is_complete:
        missing = int((~kernel.defined).sum())
        raise ValueError(
            f"{name} has {missing} undefined (all-zero) rows out of {kernel.n_states}, the "
            f"states the trajectory never visited; fill them with "
            f"sgdllm.impute.impute({name}) before propagating"
        )
    return kernel


def _check_int(value: int, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_start_laws(p0: ArrayLike, k: int) -> NDArray[np.float64]:
    """Start law(s) ``(K,)`` or ``(n, K)``: finite, non-negative, each summing to 1."""
    p = np.asarray(p0, dtype=np.float64)
    if p.ndim not in (1, 2) or p.shape[-1] != k:
        raise ValueError(
            f"p0 must have shape ({k},) or (n, {k}) for a kernel of {k} states, got {p.shape}; "
            f"build it with dirac(states, {k}) or initial_law(kernel, x0)"
        )
    if not np.all(np.isfinite(p)) or (p < 0).any():
        raise ValueError("p0 must be finite and non-negative (a probability law over the states)")
    sums = p.sum(axis=-1)
    if np.any(np.abs(sums - 1.0) > _MASS_TOL):
        bad = float(np.atleast_1d(sums)[np.argmax(np.abs(np.atleast_1d(sums) - 1.0))])
        raise ValueError(
            f"p0 must sum to 1 over the states (a law), got a total mass of {bad:.6g}; "
            f"normalize it, p0 / p0.sum(axis=-1, keepdims=True)"
        )
    return p


def _operator(matrix: NDArray[np.float64], sparse: bool | None) -> Operator:
    """The matrix as CSR when ``sparse`` (default: density <= SPARSE_DENSITY), else dense."""
    if sparse is None:
        sparse = np.count_nonzero(matrix) <= SPARSE_DENSITY * matrix.size
    return scipy.sparse.csr_matrix(matrix) if sparse else matrix


# ----------------------------------------------------------------------------- start laws


def dirac(states: ArrayLike, n_states: int) -> NDArray[np.float64]:
    """Point masses ``delta_s`` on ``n_states`` states.

    Parameters
    ----------
    states : int or array_like of int, shape (n,)
    n_states : int

    Returns
    -------
    ndarray, shape (n_states,) for a scalar state, else (n, n_states)
    """
    n_states = _check_int(n_states, "n_states", 1)
    s = np.asarray(states)
    if s.ndim > 1 or not np.issubdtype(s.dtype, np.integer):
        raise ValueError(f"states must be an integer or a 1-D array of integers, got {states!r}")
    if s.size and (s.min() < 0 or s.max() >= n_states):
        raise ValueError(f"states must lie in [0, {n_states - 1}], got {states!r}")
    flat = np.atleast_1d(s)
    out = np.zeros((flat.size, n_states))
    out[np.arange(flat.size), flat] = 1.0
    return out[0] if s.ndim == 0 else out


def initial_law(kernel: Kernel, x0: ArrayLike) -> NDArray[np.float64]:
    """Point mass at the state of the value ``x0`` (``kernel.scaler.to_states``).

    A value beyond the scaler's grid is clipped to the edge state with a
    :class:`sgdllm.discretize.RangeWarning`.

    Parameters
    ----------
    kernel : Kernel
        With a ``scaler``.
    x0 : float or array_like, shape (n,)
        Start value(s) of this coordinate.

    Returns
    -------
    ndarray, shape (K,) for a scalar ``x0``, else (n, K)
    """
    if kernel.scaler is None:
        raise ValueError(
            "the kernel has no scaler, so values cannot be mapped to states; build it with "
            "scaler=... (e.g. count_kernel(states, digits, scaler=scaler)) or use dirac()"
        )
    x = np.asarray(x0, dtype=np.float64)
    if x.ndim > 1:
        raise ValueError(f"x0 must be a value or a 1-D array of values, got shape {x.shape}")
    return dirac(kernel.scaler.to_states(x), kernel.n_states)


# ----------------------------------------------------------------------------- propagation


def propagate(
    kernel: Kernel,
    p0: ArrayLike,
    steps: int,
    *,
    every: int = 1,
    sparse: bool | None = None,
    method: PropagateMethod = "auto",
) -> NDArray[np.float64]:
    """Laws ``p_t = p_0 P^t`` for ``t = 0, every, 2 every, ..., steps``.

    All start laws move together: one product ``(n, K) @ (K, K)`` per step (``n K^2`` flops,
    dense BLAS), or a sparse CSR product (``n nnz(P)``) when at most :data:`SPARSE_DENSITY` of
    ``P`` is non-zero -- kernels imputed from counts by quantiles or nearest rows have a few
    dozen non-zeros per row. Computation in float64.

    A long gap ``g`` between two recorded times (``g > POWER_MIN_GAP``) is crossed with
    ``P^g`` by repeated squaring (``2 log2(g)`` products ``K^3``) when that costs less than
    ``g`` steps: a horizon of ``10**8`` steps takes 27 squarings instead of ``10**8``
    products. Both give the same laws up to floating-point rounding.

    Probabilities below the smallest normal double (``2.2e-308``), in ``P``, in its powers
    and in every ``p_t``, are set to 0: the Gaussian tails of propagated laws otherwise fill
    the arrays with subnormal numbers, on which floating-point products are many times slower.
    Each law loses less than ``K * 2.2e-308`` of mass per product by this.

    Parameters
    ----------
    kernel : Kernel
        Complete (every row defined; see :func:`sgdllm.impute.impute`).
    p0 : array_like, shape (K,) or (n, K)
        Start law(s), e.g. :func:`dirac` or :func:`initial_law`.
    steps : int
        Horizon (``>= 0``), a multiple of ``every``.
    every : int
        Record every ``every``-th law (default 1: all). The full output is
        ``n (steps // every + 1) K`` floats, 800 MB for 100 starts, 1000 steps and 1000 states;
        more than :data:`MAX_OUTPUT_BYTES` is refused before anything is computed.
    sparse : bool, optional
        Force (True) or forbid (False) the sparse product; default: by density.
    method : {"auto", "step", "power"}
        How a gap between recorded times is crossed: ``"auto"`` (above), always one product
        per step, or always a matrix power.

    Returns
    -------
    ndarray
        ``(steps // every + 1, K)`` for ``p0`` of shape ``(K,)``, else
        ``(n, steps // every + 1, K)``; row ``j`` is the law at ``t = j * every``.
    """
    kernel = _check_kernel(kernel)
    steps = _check_int(steps, "steps", 0)
    every = _check_int(every, "every", 1)
    if steps % every:
        raise ValueError(f"steps={steps} must be a multiple of every={every}")
    _check_output_size(
        _n_laws(p0) * (steps // every + 1),
        kernel.n_states,
        f"propagate(steps={steps}, every={every})",
        "record fewer laws: a larger every=, or laws_at(kernel, p0, times) at the few times "
        "you need",
    )
    return _laws_at_times(kernel, p0, np.arange(0, steps + 1, every), sparse, method)


def laws_at(
    kernel: Kernel,
    p0: ArrayLike,
    times: ArrayLike,
    *,
    sparse: bool | None = None,
    method: PropagateMethod = "auto",
) -> NDArray[np.float64]:
    """Laws ``p_0 P^t`` at the given times only (memory ``O(n len(times) K)``).

    Parameters
    ----------
    kernel : Kernel
        Complete.
    p0 : array_like, shape (K,) or (n, K)
    times : array_like of int, shape (h,)
        Non-negative, strictly increasing.
    sparse, method : optional
        As in :func:`propagate` (long gaps are crossed by matrix powers).

    Returns
    -------
    ndarray, shape (h, K) or (n, h, K)
    """
    kernel = _check_kernel(kernel)
    t = np.asarray(times)
    if (
        t.ndim != 1
        or t.size == 0
        or not np.issubdtype(t.dtype, np.integer)
        or t[0] < 0
        or np.any(np.diff(t) <= 0)
    ):
        raise ValueError(
            f"times must be a non-empty, strictly increasing 1-D array of integers >= 0, "
            f"got {times!r}"
        )
    _check_output_size(
        _n_laws(p0) * t.size, kernel.n_states, "laws_at", "ask for fewer times or starts"
    )
    return _laws_at_times(kernel, p0, t.astype(np.int64), sparse, method)


def _n_laws(p0: ArrayLike) -> int:
    """Number of start laws in ``p0`` (1 for a 1-D law)."""
    shape = np.shape(p0)
    return int(shape[0]) if len(shape) == 2 else 1


def _check_output_size(n_laws: int, k: int, call: str, fix: str) -> None:
    """Refuse, before allocating it, an output of more than :data:`MAX_OUTPUT_BYTES`."""
    nbytes = 8 * n_laws * k
    if nbytes > MAX_OUTPUT_BYTES:
        raise ValueError(
            f"{call} would return {n_laws:,} laws of {k} states, {nbytes / 2**30:,.1f} GiB, "
            f"more than the {MAX_OUTPUT_BYTES / 2**30:.0f} GiB allowed "
            f"(sgdllm.predict.MAX_OUTPUT_BYTES); {fix}"
        )


def _flush(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """Set the subnormal (and smaller) entries of a non-negative array to 0, in place."""
    a[a < _TINY] = 0.0
    return a


def _matrix_power(matrix: NDArray[np.float64], g: int) -> NDArray[np.float64]:
    """``P^g`` by repeated squaring (``g >= 1``), each product flushed and renormalized.

    The binary method of :func:`numpy.linalg.matrix_power`, with two changes. Subnormal
    entries are set to 0 (squaring a kernel with Gaussian tails drives its entries through
    the subnormal range, where products are many times slower). Every row is rescaled to sum
    to 1, which it does exactly in exact arithmetic: squaring doubles a row sum's rounding
    error, ``(1 + e)^2 = 1 + 2e``, so without it the mass of ``P^(2^37)`` would be off by
    ``2^37 * 1e-16 ~ 1e-5``.
    """

    def product(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
        c = _flush(a @ b)
        return c / c.sum(axis=1, keepdims=True)

    result: NDArray[np.float64] | None = None
    base = np.array(matrix, dtype=np.float64)
    while True:
        if g & 1:
            result = base.copy() if result is None else product(result, base)
        g >>= 1
        if not g:
            return result  # type: ignore[return-value]
        base = product(base, base)


def _use_power(method: str, gap: int, n: int, k: int, nnz: int) -> bool:
    """Whether to cross ``gap`` steps of ``n`` laws with ``P^gap`` (see :func:`propagate`)."""
    if method != "auto":
        return method == "power"
    squarings = 2 * int(gap).bit_length() * k**3
    return gap > POWER_MIN_GAP and squarings < gap * n * nnz


def _laws_at_times(
    kernel: Kernel,
    p0: ArrayLike,
    times: NDArray[np.int64],
    sparse: bool | None,
    method: str = "auto",
) -> NDArray[np.float64]:
    if method not in PROPAGATE_METHODS:
        raise ValueError(f"method must be one of {PROPAGATE_METHODS}, got {method!r}")
    k = kernel.n_states
    p = _check_start_laws(p0, k)
    single = p.ndim == 1
    p = np.atleast_2d(p).copy()
    matrix = kernel.matrix
    if np.any((matrix > 0) & (matrix < _TINY)):
        matrix = np.where(matrix < _TINY, 0.0, matrix)
    op = _operator(matrix, sparse)
    nnz = op.nnz if scipy.sparse.issparse(op) else k * k
    powers: dict[int, NDArray[np.float64]] = {}  # equal gaps (every=...) share one power
    out = np.empty((p.shape[0], times.size, k))
    t = 0
    for j, target in enumerate(times.tolist()):
        gap = target - t
        if gap and _use_power(method, gap, p.shape[0], k, nnz):
            if gap not in powers:
                powers[gap] = _matrix_power(matrix, gap)
            p = _flush(p @ powers[gap])
        else:
            for _ in range(gap):
                p = _flush(np.asarray(p @ op))  # flush subnormals (see propagate)
        t = target
        out[:, j] = p
    return out[0] if single else out


# ----------------------------------------------------------------------------- sampling


def sample_paths(
    kernel: Kernel,
    s0: ArrayLike,
    steps: int,
    n_paths: int,
    seed: int | np.random.SeedSequence | np.random.Generator,
) -> NDArray[np.int64]:
    """Sample state paths of the chain by inverse-CDF sampling, all paths at once.

    With ``F[s, j] = sum_{r <= j} P[s, r]`` and ``U ~ Uniform[0, 1)``, the next state is the
    first ``j`` with ``F[s, j] > U``; the rows are searched together by offsetting row ``s``'s
    CDF by ``s`` (one ``searchsorted`` on the flattened, non-decreasing array per step).

    Parameters
    ----------
    kernel : Kernel
        Complete.
    s0 : int or array_like of int, shape (n_paths,)
        Start state(s).
    steps : int
    n_paths : int
    seed : int, SeedSequence or Generator
        For ``np.random.default_rng``.

    Returns
    -------
    ndarray of int64, shape (n_paths, steps + 1)
        Column 0 is ``s0``.
    """
    kernel = _check_kernel(kernel)
    steps = _check_int(steps, "steps", 0)
    n_paths = _check_int(n_paths, "n_paths", 1)
    if 8 * n_paths * (steps + 1) > MAX_OUTPUT_BYTES:
        raise ValueError(
            f"sample_paths would return {n_paths:,} paths of {steps + 1:,} states, "
            f"{8 * n_paths * (steps + 1) / 2**30:,.1f} GiB, more than the "
            f"{MAX_OUTPUT_BYTES / 2**30:.0f} GiB allowed (sgdllm.predict.MAX_OUTPUT_BYTES); "
            f"sample fewer paths or steps"
        )
    k = kernel.n_states
    start = np.asarray(s0)
    if start.shape not in ((), (n_paths,)) or not np.issubdtype(start.dtype, np.integer):
        raise ValueError(f"s0 must be an integer state or {n_paths} integer states, got {s0!r}")
    start = np.broadcast_to(start, (n_paths,))
    if start.min() < 0 or start.max() >= k:
        raise ValueError(f"start states must lie in [0, {k - 1}], got {s0!r}")
    cdf = np.minimum(np.cumsum(kernel.matrix, axis=1), 1.0)  # monotone, ends at 1
    cdf[:, -1] = 1.0
    flat = (cdf + np.arange(k)[:, None]).ravel()
    rng = np.random.default_rng(seed)
    paths = np.empty((n_paths, steps + 1), dtype=np.int64)
    paths[:, 0] = start
    s = paths[:, 0].copy()
    for t in range(1, steps + 1):
        u = rng.random(n_paths)
        s = np.searchsorted(flat, s + u, side="right") - s * k
        np.clip(s, 0, k - 1, out=s)
        paths[:, t] = s
    return paths


# ----------------------------------------------------------------------------- d dimensions


def _check_kernels(kernels: Sequence[Kernel], x0: ArrayLike) -> NDArray[np.float64]:
    if len(kernels) == 0:
        raise ValueError("pass one kernel per coordinate (got none)")
    x = np.asarray(x0, dtype=np.float64)
    if x.shape != (len(kernels),):
        raise ValueError(
            f"x0 must have shape ({len(kernels)},), one value per kernel, got {x.shape}"
        )
    for i, ker in enumerate(kernels):
        _check_kernel(ker, f"kernels[{i}]")
        if ker.scaler is None:
            raise ValueError(f"kernels[{i}] has no scaler; build it with scaler=...")
    return x


def predict_laws(
    kernels: Sequence[Kernel], x0: ArrayLike, steps: int, *, every: int = 1
) -> list[NDArray[np.float64]]:
    """Predicted marginal laws of every coordinate from the start ``x0``.

    Coordinate ``i`` is propagated by its own kernel, ``delta_{s_i(x0_i)} (P^(ii))^t``: the
    block kernel ``Q = [lambda_ij P^(ij)]`` with ``lambda_ii = 1`` and zero off-diagonal
    blocks (channel independence; see the module docstring for what this ignores).

    Parameters
    ----------
    kernels : sequence of Kernel, length d
        Complete, with scalers.
    x0 : array_like, shape (d,)
        Start, in value units.
    steps : int
    every : int
        As in :func:`propagate`.

    Returns
    -------
    list of ndarray, shapes (steps // every + 1, K_i)
    """
    x = _check_kernels(kernels, x0)
    return [
        propagate(ker, initial_law(ker, x[i]), steps, every=every) for i, ker in enumerate(kernels)
    ]


def sample_trajectories(
    kernels: Sequence[Kernel],
    x0: ArrayLike,
    steps: int,
    n_paths: int,
    seed: int | np.random.SeedSequence,
) -> NDArray[np.float64]:
    """Sample predicted trajectories in value units, each coordinate by its own chain.

    Coordinates are sampled independently (channel independence, see the module docstring),
    with independent streams ``np.random.SeedSequence(seed).spawn(d)``; states map back to the
    centres of their bins by each kernel's scaler.

    Parameters
    ----------
    kernels : sequence of Kernel, length d
    x0 : array_like, shape (d,)
    steps, n_paths : int
    seed : int or SeedSequence

    Returns
    -------
    ndarray, shape (n_paths, steps + 1, d)
    """
    x = _check_kernels(kernels, x0)
    seeds = np.random.SeedSequence(seed).spawn(len(kernels))
    out = np.empty((_check_int(n_paths, "n_paths", 1), _check_int(steps, "steps", 0) + 1, x.size))
    for i, ker in enumerate(kernels):
        s0 = ker.scaler.to_states(x[i])
        paths = sample_paths(ker, s0, steps, n_paths, seeds[i])
        out[:, :, i] = ker.scaler.to_values(paths)
    return out


# ----------------------------------------------------------------------------- the pipeline
# Added for the chapter *Predicting SGD* (notebooks/predicting_sgd.md).


def coordinate_kernels(
    states: ArrayLike,
    scalers: Sequence[Scaler],
    laws: Sequence[ArrayLike] | None = None,
    *,
    smoothing: str | None = None,
    bandwidth: Bandwidth = "cv",
    method: ImputeMethod = "ot",
    outside: OutsideRule = "shift",
) -> list[Kernel]:
    """The diagonal blocks ``P^(ii)`` of ``Q``, one complete kernel per coordinate.

    For each coordinate ``i`` of a discretized trajectory, the kernel is estimated either from
    next-state laws (a language model's, :func:`sgdllm.kernel.kernel_from_laws`: row ``s`` is
    the average of the laws read after the visits of ``s``) or, when ``laws`` is None, from
    the transitions themselves (:func:`sgdllm.kernel.count_kernel`), and its unvisited rows
    are then filled (:func:`sgdllm.impute.impute`; the paper's OT barycenters by default):

    .. math::

        \\hat P^{(ii)} = \\mathrm{impute}\\big(\\mathrm{estimate}(s^{(i)}_{0:T})\\big),
        \\qquad i = 1, \\dots, d,

    the per-coordinate pipeline of Zekri et al. (2024) (channel independence; see the module
    docstring for what the zero off-diagonal blocks ignore).

    Parameters
    ----------
    states : array_like of int, shape (T, d) or (runs, T, d)
        States of every coordinate (e.g. ``scaler.to_states`` of a ``run_sgd`` trajectory);
        several runs must share one grid per coordinate (the same ``scalers``).
    scalers : sequence of Scaler, length d
        The scaler of each coordinate; its ``digits`` sets the grid.
    laws : sequence of array_like, length d, optional
        ``laws[i]`` of shape ``(T or T - 1, K)`` (one run) or ``(runs, T or T - 1, K)``: the
        law of the state after ``states[..., t, i]`` (e.g. ``sgdllm.lm.next_state_laws``).
        None: count the transitions instead.
    smoothing, bandwidth
        Of :func:`sgdllm.kernel.count_kernel` (``laws=None`` only); default ``None``, the
        empirical frequencies.
    method, outside
        Of :func:`sgdllm.impute.impute`.

    Returns
    -------
    list of Kernel, length d
        Complete kernels with their scalers, ready for :func:`predict_laws`.
    """
    s = np.asarray(states)
    if s.ndim not in (2, 3):
        raise ValueError(
            f"states must have shape (T, d) or (runs, T, d), got {s.shape}; stack the "
            f"coordinates on the last axis"
        )
    d = s.shape[-1]
    if len(scalers) != d:
        raise ValueError(f"pass one scaler per coordinate: {d} coordinates, {len(scalers)} scalers")
    if laws is not None and len(laws) != d:
        raise ValueError(
            f"pass one array of laws per coordinate: {d} coordinates, {len(laws)} arrays; "
            f"laws[i] has shape (T, K) or (runs, T, K)"
        )
    kernels = []
    for i, scaler in enumerate(scalers):
        if not isinstance(scaler, Scaler):
            raise ValueError(f"scalers[{i}] must be a sgdllm.discretize.Scaler, got {scaler!r}")
        coord = s[..., i]
        if laws is None:
            raw = count_kernel(coord, scaler.digits, smoothing, bandwidth=bandwidth, scaler=scaler)
        else:
            raw = kernel_from_laws(coord, laws[i], scaler.digits, scaler=scaler)
        kernels.append(impute(raw, method, outside=outside))
    return kernels
