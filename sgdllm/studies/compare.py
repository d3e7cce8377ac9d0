"""Every kernel estimator side by side, over seeds, and what prediction costs.

Chapter: *Side by side, and uncertainty* (notebooks/side_by_side.md).

On a one-dimensional SGD chain, whose exact binned kernel is known
(:func:`sgdllm.truth.sgd_coordinate_kernel`), :func:`compare_estimators` estimates the kernel
from a training run with every estimator of the package -- the language model's next-state
laws (:func:`sgdllm.kernel.kernel_from_laws`), raw transition counts, Laplace smoothing,
Gaussian-smoothed counts with the rule-of-thumb and the cross-validated bandwidth
(:func:`sgdllm.kernel.count_kernel`) and a Gaussian AR(1) fit
(:func:`sgdllm.kernel.ar1_fit_kernel`) -- fills the empty rows the same way (OT barycenters,
:func:`sgdllm.impute.impute`) and scores each kernel twice:

* **kernel error** -- the mean total variation (and Bhattacharyya distance, Liu et al. 2024)
  between estimated and exact rows, over the visited rows and over all rows weighted by the
  exact stationary law (:func:`kernel_errors`);
* **prediction error** -- the Wasserstein-1 distance between the law predicted by matrix
  products from new starts and the histogram of real SGD runs from the same starts, at several
  horizons (:func:`sgdllm.predict.compare_with_runs`).

It repeats this over training seeds and context lengths, so that every number comes with a
standard error (:func:`mean_and_se`).

The cost side: :func:`flop_counts` models the arithmetic of predicting ``m`` laws by matrix
products against simulating ``m x R`` SGD runs, and :func:`time_prediction_and_sgd` measures
both; :func:`crossover` finds where the two costs meet.

The poster's claim, as it states it -- matrix products against forward and backward
propagation -- is tested on a real network: :func:`time_network_sgd` trains a torch MLP of
:func:`mlp_parameters` ``P`` with SGD (:func:`network_sgd_flops`, about ``6 P b`` flops a
step), :func:`time_kernel_prediction` moves laws through one ``K x K`` kernel per parameter
(:func:`kernel_prediction_flops`), :func:`reading_flops` is what the language model pays to
read every coordinate's series, and :func:`cost_with_reading` says when the savings of the
predictions pay that back.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sgdllm.calibration import fit_temperature, temper_laws
from sgdllm.discretize import Scaler
from sgdllm.impute import impute
from sgdllm.kernel import Kernel, ar1_fit_kernel, count_kernel, kernel_from_laws
from sgdllm.metrics import row_distance, stationary_law
from sgdllm.predict import compare_with_runs, initial_law, propagate
from sgdllm.sgd.problems import least_squares
from sgdllm.sgd.runs import run_sgd

__all__ = [
    "ESTIMATORS",
    "LadderLaws",
    "compare_estimators",
    "cost_with_reading",
    "crossover",
    "estimate_kernels",
    "flop_counts",
    "kernel_errors",
    "kernel_prediction_flops",
    "mean_and_se",
    "mlp_parameters",
    "network_sgd_flops",
    "ranking",
    "reading_flops",
    "time_kernel_prediction",
    "time_network_sgd",
    "time_prediction_and_sgd",
]

#: Names of the estimators, in the order of the tables; the language model comes first and is
#: skipped when no laws are given.
ESTIMATORS: tuple[str, ...] = (
    "language model",
    "counts",
    "laplace",
    "gaussian (rule)",
    "gaussian (cv)",
    "AR(1)",
)

LawsFn = Callable[[NDArray[np.int64]], NDArray[np.float64]]


def estimate_kernels(
    states: ArrayLike,
    scaler: Scaler,
    laws: ArrayLike | None = None,
    *,
    method: str = "ot",
) -> dict[str, Kernel]:
    """Every estimator of the kernel of one coordinate, imputed the same way.

    Parameters
    ----------
    states : array_like of int, shape (T,)
        One discretized training run.
    scaler : Scaler
        Its grid (stored on every kernel).
    laws : array_like, shape (T or T - 1, K), optional
        A language model's next-state laws of ``states`` (``sgdllm.lm.next_state_laws``); the
        ``"language model"`` kernel is left out without them.
    method : str
        Imputation of :func:`sgdllm.impute.impute` for the empty rows (default the paper's OT
        barycenters); kernels with every row defined (Laplace, AR(1)) come back unchanged.

    Returns
    -------
    dict
        Estimator name (from :data:`ESTIMATORS`) to complete Kernel.
    """
    if not isinstance(scaler, Scaler):
        raise ValueError(f"scaler must be a sgdllm.discretize.Scaler, got {scaler!r}")
    s = np.asarray(states)
    if s.ndim != 1:
        raise ValueError(f"states must be one run, shape (T,), got {s.shape}")
    digits = scaler.digits
    raw: dict[str, Kernel] = {}
    if laws is not None:
        raw["language model"] = kernel_from_laws(s, laws, digits, scaler=scaler)
    raw["counts"] = count_kernel(s, digits, scaler=scaler)
    raw["laplace"] = count_kernel(s, digits, "laplace", scaler=scaler)
    raw["gaussian (rule)"] = count_kernel(s, digits, "gaussian", bandwidth="rule", scaler=scaler)
    raw["gaussian (cv)"] = count_kernel(s, digits, "gaussian", bandwidth="cv", scaler=scaler)
    raw["AR(1)"] = ar1_fit_kernel(s, digits, scaler=scaler)
    return {name: impute(k, method) for name, k in raw.items()}


def kernel_errors(
    kernel: Kernel | ArrayLike,
    truth: ArrayLike,
    visited: ArrayLike,
    weights: ArrayLike | None = None,
) -> dict[str, float]:
    """Row errors of an estimated kernel against the exact one.

    .. math::

        E_{\\mathrm{visited}} = \\frac{1}{|V|} \\sum_{s \\in V} d(\\hat P[s], P[s]), \\qquad
        E_{\\pi} = \\sum_s \\pi_s \\, d(\\hat P[s], P[s]),

    ``V`` the visited rows, ``pi`` the exact stationary law (default
    :func:`sgdllm.metrics.stationary_law` of ``truth``), ``d`` the total variation and the
    Bhattacharyya distance (:func:`sgdllm.metrics.row_distance`). The Bhattacharyya distance is
    infinite for a row whose support misses the exact row's.

    Parameters
    ----------
    kernel : Kernel or ndarray, shape (K, K)
        Complete estimate.
    truth : ndarray, shape (K, K)
        Exact kernel.
    visited : array_like of bool, shape (K,)
        Rows backed by data.
    weights : array_like, shape (K,), optional
        Row weights of the second average; default the stationary law of ``truth``.

    Returns
    -------
    dict
        ``"tv_visited"``, ``"bhattacharyya_visited"``, ``"tv_stationary"``,
        ``"bhattacharyya_stationary"``.
    """
    p = np.asarray(truth, dtype=np.float64)
    w = stationary_law(p) if weights is None else np.asarray(weights, dtype=np.float64)
    v = np.asarray(visited, dtype=bool)
    if not v.any():
        raise ValueError("visited marks no row; pass the kernel's visited rows (kernel.visited)")
    out = {}
    for metric, short in (("tv", "tv"), ("bhattacharyya", "bhattacharyya")):
        out[f"{short}_visited"] = row_distance(kernel, p, metric, rows=v)
        out[f"{short}_stationary"] = row_distance(kernel, p, metric, weights=w)
    return out


def compare_estimators(
    problem,
    step: float,
    scaler: Scaler,
    truth: ArrayLike,
    train_starts: ArrayLike,
    context_lengths: Sequence[int],
    new_starts: ArrayLike,
    horizons: ArrayLike,
    *,
    n_real: int = 500,
    laws_fn: LawsFn | Mapping[str, LawsFn] | None = None,
    seed: int = 0,
) -> dict[str, NDArray]:
    """Kernel and prediction errors of every estimator, over seeds and context lengths.

    For each training seed ``j`` one SGD run of ``max(context_lengths)`` steps starts at
    ``train_starts[j]`` (``run_sgd(..., seed=seed + 1 + j)``); its first ``T + 1`` iterates,
    for each context length ``T``, are discretized on ``scaler`` and every estimator of
    :func:`estimate_kernels` is applied (the language model reads the same prefix through
    ``laws_fn``). Each kernel is scored against ``truth`` (:func:`kernel_errors`) and by its
    predictions from every new start against ``n_real`` real SGD runs from that start
    (``run_sgd(..., seed=seed)``, shared by all estimators; mean W1 over the starts at each
    horizon, :func:`sgdllm.predict.compare_with_runs`). The exact kernel's prediction error is
    the floor that binning and the finite number of real runs leave. The spread ratio at the
    last horizon (standard deviation of :math:`\\delta_{x_0} P^t` over that of the runs, mean
    over the starts) tells a prediction that is too wide (ratio > 1) from one too narrow.

    Parameters
    ----------
    problem : FiniteSumProblem
        One-dimensional (``problem.dim == 1``), so that ``truth`` is the exact kernel.
    step : float
        Constant SGD step size.
    scaler : Scaler
        The fixed grid of every kernel (and of ``truth``).
    truth : ndarray, shape (K, K)
        Exact binned kernel (e.g. :func:`sgdllm.truth.sgd_coordinate_kernel`).
    train_starts : array_like, shape (n_seeds,)
        Start of each training run (one per seed).
    context_lengths : sequence of int
        Steps ``T`` read by the estimators, each in ``[3, max]``.
    new_starts : array_like, shape (m,)
        Starts of the predictions (on the grid).
    horizons : array_like of int, shape (h,)
        Strictly increasing, positive.
    n_real : int
        Real SGD runs per new start.
    laws_fn : callable ``states (T + 1,) -> laws (T + 1, K)``, optional
        The language model (e.g. ``lambda s: next_state_laws(lm, s, digits, progress=False)``);
        None leaves the language model out. A mapping ``{name: laws_fn}`` runs several
        language models on the same runs (the model ladder): each is one estimator, named by
        its key, in place of ``"language model"`` and in the mapping's order.
    seed : int

    Returns
    -------
    dict
        ``"estimators"`` (E,) names; ``"context_lengths"`` (C,); ``"horizons"`` (h,);
        ``"kernel_tv"``, ``"kernel_bhattacharyya"`` (visited rows) and
        ``"kernel_tv_stationary"``, ``"kernel_bhattacharyya_stationary"``, each (E, S, C);
        ``"pred_w1"`` (E, S, C, h); ``"exact_w1"`` (h,); ``"pred_std_ratio"`` (E, S, C) and
        ``"exact_std_ratio"`` (scalar), the spread ratios at the last horizon; ``"visited"``
        (S, C) rows visited.
    """
    if int(getattr(problem, "dim", 0)) != 1:
        raise ValueError(
            "compare_estimators needs a one-dimensional problem (problem.dim == 1), whose "
            "binned kernel is exact; e.g. least_squares(n_samples, dim=1)"
        )
    p = np.asarray(truth, dtype=np.float64)
    k = scaler.n_states
    if p.shape != (k, k):
        raise ValueError(f"truth must be ({k}, {k}) for this scaler, got {p.shape}")
    starts = np.asarray(train_starts, dtype=np.float64).ravel()
    x0s = np.asarray(new_starts, dtype=np.float64).ravel()
    h = np.asarray(horizons, dtype=np.int64)
    lengths = [int(t) for t in context_lengths]
    if starts.size == 0 or x0s.size == 0 or not lengths:
        raise ValueError("pass at least one training start, one new start and one context length")
    if min(lengths) < 3:
        raise ValueError(f"context lengths must be >= 3 steps, got {lengths}")
    if h.ndim != 1 or h.size == 0 or h[0] < 1 or np.any(np.diff(h) <= 0):
        raise ValueError(f"horizons must be strictly increasing positive integers, got {horizons}")
    if isinstance(laws_fn, Mapping):
        lm_fns = dict(laws_fn)
        clash = sorted(set(lm_fns) & set(ESTIMATORS[1:]))
        if not lm_fns or clash or not all(callable(f) for f in lm_fns.values()):
            raise ValueError(
                "laws_fn as a mapping must name at least one callable laws function, by names "
                f"other than the classical estimators' ({', '.join(ESTIMATORS[1:])}); got "
                f"{list(lm_fns)}"
            )
    else:
        lm_fns = {} if laws_fn is None else {"language model": laws_fn}
    names = [*lm_fns, *ESTIMATORS[1:]]
    n_e, n_s, n_c, n_h = len(names), starts.size, len(lengths), h.size

    real = run_sgd(
        problem,
        np.repeat(x0s, n_real)[:, None],
        int(h[-1]),
        step,
        n_runs=x0s.size * n_real,
        seed=seed,
    ).reshape(x0s.size, n_real, h[-1] + 1, 1)
    exact = Kernel(p, np.ones(k, bool), np.ones(k), scaler, "exact")

    def prediction_scores(kernel: Kernel) -> tuple[NDArray[np.float64], float]:
        """Mean W1 over the starts at each horizon, and the mean spread ratio at the last."""
        scores = [
            compare_with_runs([kernel], [x0], runs, h) for x0, runs in zip(x0s, real, strict=True)
        ]
        w1 = np.mean([s["w1"][:, 0] for s in scores], axis=0)
        ratio = np.mean([s["std_predicted"][-1, 0] / s["std_empirical"][-1, 0] for s in scores])
        return w1, float(ratio)

    k_digits = scaler.digits
    pi = stationary_law(p)
    err = {
        key: np.full((n_e, n_s, n_c), np.nan)
        for key in ("tv", "bhattacharyya", "tv_stationary", "bhattacharyya_stationary")
    }
    pred = np.full((n_e, n_s, n_c, n_h), np.nan)
    std_ratio = np.full((n_e, n_s, n_c), np.nan)
    visited = np.zeros((n_s, n_c), np.int64)
    for j, x_start in enumerate(starts):
        run = run_sgd(problem, [x_start], max(lengths), step, seed=seed + 1 + j)[0, :, 0]
        for c, t in enumerate(lengths):
            states = scaler.to_states(run[: t + 1], warn=False)
            kernels = estimate_kernels(states, scaler)
            for label, fn in lm_fns.items():
                kernels[label] = impute(
                    kernel_from_laws(states, fn(states), k_digits, scaler=scaler)
                )
            for e, name in enumerate(names):
                ker = kernels[name]
                errors = kernel_errors(ker, p, ker.visited, pi)
                err["tv"][e, j, c] = errors["tv_visited"]
                err["bhattacharyya"][e, j, c] = errors["bhattacharyya_visited"]
                err["tv_stationary"][e, j, c] = errors["tv_stationary"]
                err["bhattacharyya_stationary"][e, j, c] = errors["bhattacharyya_stationary"]
                pred[e, j, c], std_ratio[e, j, c] = prediction_scores(ker)
            visited[j, c] = int(kernels["counts"].visited.sum())
    exact_w1, exact_std_ratio = prediction_scores(exact)
    return {
        "estimators": np.array(names),
        "context_lengths": np.array(lengths),
        "horizons": h,
        "kernel_tv": err["tv"],
        "kernel_bhattacharyya": err["bhattacharyya"],
        "kernel_tv_stationary": err["tv_stationary"],
        "kernel_bhattacharyya_stationary": err["bhattacharyya_stationary"],
        "pred_w1": pred,
        "exact_w1": exact_w1,
        "pred_std_ratio": std_ratio,
        "exact_std_ratio": exact_std_ratio,
        "visited": visited,
    }


def mean_and_se(values: ArrayLike, axis: int = 0) -> tuple[NDArray[np.float64], NDArray]:
    """Mean and standard error ``sd / sqrt(n)`` (``ddof=1``) along ``axis`` (the seeds).

    With one seed the standard error is 0 (no spread to measure). Infinite values (a
    Bhattacharyya distance with disjoint supports) give an infinite mean.
    """
    x = np.asarray(values, dtype=np.float64)
    n = x.shape[axis]
    if n == 0:
        raise ValueError("no values to average: the seed axis is empty")
    mean = x.mean(axis=axis)
    if n == 1:
        return mean, np.zeros_like(mean)
    with np.errstate(invalid="ignore"):
        return mean, x.std(axis=axis, ddof=1) / np.sqrt(n)


def ranking(scores: ArrayLike, names: Sequence[str]) -> list[str]:
    """Names sorted from the smallest score (best) to the largest; ties keep their order."""
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != (len(names),):
        raise ValueError(f"pass one score per name: {len(names)} names, scores of shape {s.shape}")
    return [names[i] for i in np.argsort(s, kind="stable")]


class LadderLaws:
    """The ``laws_fn`` of :func:`compare_estimators` for a ladder of language models, raw and
    calibrated, each series read once per model.

    ``read(model, states)`` gives a model's next-state law after every state of a run, shape
    ``(T + 1, K)`` for ``T + 1`` states (e.g. ``sgdllm.lm.next_state_laws(lms[model], states,
    digits, progress=False)``). :meth:`raw` returns those laws; :meth:`calibrated` returns them
    tempered (:func:`sgdllm.calibration.temper_laws`) by the temperature fitted on the run's
    own next values (:func:`sgdllm.calibration.fit_temperature`; never on the truth), and
    keeps each fitted temperature in :attr:`temperatures`. Every law read stays in
    :attr:`read_laws`, for diagnostics (:meth:`series`). Chapter: *Side by side, and
    uncertainty*.

    Parameters
    ----------
    read : callable ``(model id, states (T + 1,)) -> laws (T + 1, K)``
    models : sequence of str
        The ladder's model ids, in order.
    suffix : str
        Appended to a model id to name its calibrated estimator in :meth:`laws_fns`.
    """

    def __init__(
        self,
        read: Callable[[str, NDArray[np.int64]], NDArray[np.float64]],
        models: Sequence[str],
        suffix: str = " + T",
    ):
        self.read = read
        self.models = list(models)
        self.suffix = suffix
        #: ``{(model, states' bytes): (states, laws)}``, in the order they were read.
        self.read_laws: dict[tuple[str, bytes], tuple[NDArray, NDArray[np.float64]]] = {}
        #: ``{model: [temperature fitted on each series calibrated, in order]}``.
        self.temperatures: dict[str, list[float]] = {m: [] for m in self.models}

    def raw(self, model: str) -> LawsFn:
        """``states -> laws``: the model's laws, read once per series."""

        def laws_fn(states: NDArray[np.int64]) -> NDArray[np.float64]:
            key = (model, states.tobytes())
            if key not in self.read_laws:
                self.read_laws[key] = (states.copy(), self.read(model, states))
            return self.read_laws[key][1]

        return laws_fn

    def calibrated(self, model: str) -> LawsFn:
        """``states -> laws``: the model's laws at the temperature that maximizes the
        likelihood of the series' own next states."""

        def laws_fn(states: NDArray[np.int64]) -> NDArray[np.float64]:
            laws = self.raw(model)(states)
            tau = fit_temperature(laws[:-1], states[1:])
            self.temperatures[model].append(tau)
            return temper_laws(laws, tau)

        return laws_fn

    def laws_fns(self) -> dict[str, LawsFn]:
        """``{model: raw laws, model + suffix: calibrated laws}``, the raw ones first, for
        ``compare_estimators(..., laws_fn=...)``."""
        return {
            **{m: self.raw(m) for m in self.models},
            **{m + self.suffix: self.calibrated(m) for m in self.models},
        }

    def series(self, model: str, length: int) -> list[tuple[NDArray, NDArray[np.float64]]]:
        """``[(states, laws)]``: every series of ``length`` states the model read, in order."""
        return [
            (states, laws)
            for (m, _), (states, laws) in self.read_laws.items()
            if m == model and states.size == length
        ]


# ----------------------------------------------------------------------------- cost


def flop_counts(
    n_starts: int, n_runs: int, steps: int, batch_size: int, dim: int, n_states: int
) -> dict[str, float]:
    """Arithmetic of predicting laws by matrix products against simulating SGD.

    * Prediction: the ``d`` coordinate kernels (``K x K``, dense) move ``m`` start laws for
      ``T`` steps, one ``(m, K) @ (K, K)`` product per step and coordinate:
      ``2 m T d K^2`` flops.
    * SGD on least squares: each of ``m R`` runs computes, per step, ``b`` residuals
      ``x_i^T theta - y_i`` and their weighted sum of ``x_i`` (``2 b d`` flops each) and the
      update (``2 d``): ``m R T (4 b d + 2 d)`` flops.

    They are equal at the batch size

    .. math::

        b^\\star = \\frac{K^2 / R - 1}{2},

    independent of ``d``, ``m`` and ``T`` (both costs are linear in them). With the batch a
    fixed fraction ``f`` of the data, ``b = f N``, the crossover data size is ``b^* / f``.

    Returns
    -------
    dict
        ``"predict"``, ``"sgd"`` (flops), ``"ratio"`` (sgd / predict) and ``"batch_crossover"``.
    """
    for name, v in (
        ("n_starts", n_starts),
        ("n_runs", n_runs),
        ("steps", steps),
        ("batch_size", batch_size),
        ("dim", dim),
        ("n_states", n_states),
    ):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    m, r, t, b, d, k = (float(v) for v in (n_starts, n_runs, steps, batch_size, dim, n_states))
    predict = 2.0 * m * t * d * k**2
    sgd = m * r * t * (4.0 * b * d + 2.0 * d)
    return {
        "predict": predict,
        "sgd": sgd,
        "ratio": sgd / predict,
        "batch_crossover": (k**2 / r - 1.0) / 2.0,
    }


def time_prediction_and_sgd(
    n_samples: int,
    dim: int,
    *,
    n_starts: int,
    n_runs: int,
    steps: int,
    batch_size: int,
    digits: int = 2,
    step: float = 0.01,
    repeats: int = 3,
    seed: int = 0,
) -> dict[str, float]:
    """Wall-clock time of both ways of getting the law at horizon ``T`` from ``m`` starts.

    On ``least_squares(n_samples, dim)``: (a) ``run_sgd`` of ``m R`` runs for ``T`` steps with
    batches of ``batch_size``; (b) :func:`sgdllm.predict.propagate` of ``m`` Dirac laws through
    ``d`` dense ``K x K`` kernels for ``T`` steps (the kernel's content does not change the
    cost of a dense product: a fixed random stochastic matrix stands in for an estimated one).
    After one untimed warm-up step of each, each is timed ``repeats`` times with
    :func:`time.perf_counter`; the minimum is returned (the least disturbed by other
    processes). Timings depend on the machine and its load.

    Returns
    -------
    dict
        ``"predict_s"``, ``"sgd_s"``, ``"ratio"`` (sgd / predict).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    problem = least_squares(n_samples, dim, seed=seed)
    rng = np.random.default_rng(seed)
    k = 10**digits
    matrix = rng.random((k, k))
    matrix /= matrix.sum(axis=1, keepdims=True)
    scaler = Scaler(-1.0, 1.0, digits)
    kernel = Kernel(matrix, np.ones(k, bool), np.ones(k), scaler, "timing")
    starts = rng.uniform(-0.5, 0.5, size=(n_starts, dim))
    p0 = [initial_law(kernel, starts[:, i]) for i in range(dim)]
    theta0 = np.repeat(starts, n_runs, axis=0)

    def predict(t: int = steps) -> None:
        for i in range(dim):
            propagate(kernel, p0[i], t, every=t, sparse=False)

    def simulate(t: int = steps) -> None:
        run_sgd(problem, theta0, t, step, batch_size=batch_size, n_runs=theta0.shape[0], seed=seed)

    out = {}
    for key, fn in (("predict_s", predict), ("sgd_s", simulate)):
        fn(1)  # warm-up, untimed: first calls pay for thread pools and allocations
        best = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        out[key] = best
    out["ratio"] = out["sgd_s"] / out["predict_s"]
    return out


def crossover(x: ArrayLike, ratio: ArrayLike) -> float:
    """Where a cost ratio crosses 1, by linear interpolation of ``log ratio`` in ``log x``.

    Parameters
    ----------
    x : array_like, shape (n,)
        Increasing positive sizes (e.g. data sizes ``N``).
    ratio : array_like, shape (n,)
        Cost of simulating over cost of predicting at each size.

    Returns
    -------
    float
        The first ``x`` at which the ratio reaches 1 going up; ``nan`` if it never crosses
        within the range (``x[0]`` if it is already >= 1 there).
    """
    xs, r = np.asarray(x, dtype=np.float64), np.asarray(ratio, dtype=np.float64)
    if xs.ndim != 1 or xs.shape != r.shape or xs.size < 2:
        raise ValueError(f"x and ratio must be 1-D of equal length >= 2, got {xs.shape}, {r.shape}")
    if (xs <= 0).any() or (r <= 0).any() or np.any(np.diff(xs) <= 0):
        raise ValueError("x must be positive and increasing, and ratio positive")
    lx, lr = np.log(xs), np.log(r)
    if lr[0] >= 0:
        return float(xs[0])
    for i in range(xs.size - 1):
        if lr[i] < 0 <= lr[i + 1]:
            frac = -lr[i] / (lr[i + 1] - lr[i])
            return float(np.exp(lx[i] + frac * (lx[i + 1] - lx[i])))
    return float("nan")


# ----------------------------------------------------------------------------- a real network


def mlp_parameters(n_in: int, width: int, depth: int = 2, n_out: int = 1) -> int:
    """Parameters of the fully connected network of :func:`time_network_sgd`.

    ``depth`` hidden layers of ``width`` units (weights and biases):

    .. math::

        P(w) = (n_{\\mathrm{in}} + 1) w + (\\mathrm{depth} - 1)(w + 1) w
               + (w + 1) n_{\\mathrm{out}}.

    Examples
    --------
    >>> mlp_parameters(2, 3, depth=2)  # 3*3 + 4*3 + 4*1
    25
    """
    for name, v in (("n_in", n_in), ("width", width), ("depth", depth), ("n_out", n_out)):
        _check_positive_int(name, v)
    return (n_in + 1) * width + (depth - 1) * (width + 1) * width + (width + 1) * n_out


def network_sgd_flops(n_params: int, batch_size: int, steps: int, n_runs: int = 1) -> float:
    """Flops of ``n_runs`` SGD runs of ``steps`` steps on a network of ``n_params`` parameters.

    A forward pass costs about one multiply and one add per parameter and example
    (``2 P b``), the backward pass twice that (gradients of the activations and of the
    weights, ``4 P b``), the update ``2 P``:

    .. math::

        C_{\\mathrm{SGD}} = R \\, T \\, (6 b + 2) \\, P.
    """
    for name, v in (
        ("n_params", n_params),
        ("batch_size", batch_size),
        ("steps", steps),
        ("n_runs", n_runs),
    ):
        _check_positive_int(name, v)
    return float(n_runs) * float(steps) * (6.0 * batch_size + 2.0) * float(n_params)


def kernel_prediction_flops(n_coords: int, n_states: int, n_starts: int, steps: int) -> float:
    """Flops of predicting ``m`` laws ``T`` steps ahead with one dense kernel per coordinate.

    Read per coordinate, as the paper does (the diagonal blocks of the block kernel), a
    network of ``P`` parameters has ``P`` kernels of ``K x K``; each step is one
    ``(m, K) @ (K, K)`` product per coordinate:

    .. math::

        C_{\\mathrm{predict}} = 2 \\, m \\, T \\, P \\, K^2 .
    """
    for name, v in (
        ("n_coords", n_coords),
        ("n_states", n_states),
        ("n_starts", n_starts),
        ("steps", steps),
    ):
        _check_positive_int(name, v)
    return 2.0 * n_starts * steps * float(n_coords) * float(n_states) ** 2


def reading_flops(n_coords: int, n_values: int, lm_params: int, tokens_per_value: int) -> float:
    """Flops of a language model reading every coordinate's series once.

    A forward pass costs about ``2 P_lm`` flops per token; each of the ``P`` coordinates'
    series of ``n`` values is written with ``tau`` tokens a value (``digits`` digit tokens
    and a comma: ``tau = digits + 1``):

    .. math::

        C_{\\mathrm{read}} = 2 \\, P_{\\mathrm{lm}} \\, \\tau \\, n \\, P .

    This is the teacher-forced pass alone; refining the digit laws (Hierarchy-PDF) adds
    single-token passes, so it is a lower bound on the model's cost.
    """
    for name, v in (
        ("n_coords", n_coords),
        ("n_values", n_values),
        ("lm_params", lm_params),
        ("tokens_per_value", tokens_per_value),
    ):
        _check_positive_int(name, v)
    return 2.0 * float(lm_params) * tokens_per_value * float(n_values) * float(n_coords)


def cost_with_reading(
    sgd_per_start: float,
    predict_per_start: float,
    reading: float,
    n_starts: int,
    runs_per_start: int = 1,
) -> dict[str, float | bool]:
    """Whether predicting is cheaper than simulating, per prediction and with the reading.

    With ``s`` the cost of simulating the ``R`` runs of one start, ``p`` that of predicting
    one start's law and ``C`` the one-off cost of reading the kernel (any unit, the same for
    all three), ``m`` starts cost ``m s`` by simulation and ``m p + C`` by prediction:

    .. math::

        r_1 = \\frac{s}{p}, \\qquad r_m = \\frac{m s}{m p + C}, \\qquad
        m^\\star = \\frac{C}{s - p} \\ \\ (s > p),

    ``m*`` the number of starts whose savings pay back the reading (infinite when a
    prediction costs at least a simulation: it never pays back), ``m* R`` the SGD runs they
    replace.

    Returns
    -------
    dict
        ``"per_prediction_ratio"`` (``r_1``), ``"overall_ratio"`` (``r_m``),
        ``"break_even_starts"`` (``m*``, ``inf`` if never), ``"break_even_runs"`` (``m* R``),
        ``"holds_per_prediction"`` (``r_1 > 1``), ``"holds_overall"`` (``r_m > 1``).
    """
    s, p, c = (float(v) for v in (sgd_per_start, predict_per_start, reading))
    if not (math.isfinite(s) and math.isfinite(p) and math.isfinite(c)) or s <= 0 or p <= 0:
        raise ValueError(
            f"costs must be finite, simulation and prediction positive; got {s}, {p}, {c}"
        )
    if c < 0:
        raise ValueError(f"the reading cost must be >= 0, got {c}")
    _check_positive_int("n_starts", n_starts)
    _check_positive_int("runs_per_start", runs_per_start)
    m = float(n_starts)
    starts = c / (s - p) if s > p else math.inf
    return {
        "per_prediction_ratio": s / p,
        "overall_ratio": m * s / (m * p + c),
        "break_even_starts": starts,
        "break_even_runs": starts * runs_per_start,
        "holds_per_prediction": s > p,
        "holds_overall": m * s > m * p + c,
    }


def time_network_sgd(
    width: int,
    *,
    n_in: int = 16,
    depth: int = 2,
    batch_size: int = 32,
    steps: int = 20,
    n_runs: int = 1,
    n_data: int = 1024,
    lr: float = 0.01,
    repeats: int = 3,
    seed: int = 0,
) -> dict[str, float]:
    """Wall-clock time of training a torch MLP with SGD: forward, backward and update.

    The network (``depth`` hidden ``tanh`` layers of ``width`` units, one output,
    :func:`mlp_parameters`) fits a synthetic regression task: ``n_data`` inputs
    ``x ~ N(0, I)`` with targets ``sin(x . u) + 0.1 eps`` (``u`` a fixed random unit vector),
    by ``n_runs`` runs of ``steps`` mean-squared-error SGD steps on batches of
    ``batch_size`` drawn with replacement. The data, the batches and the initial weights
    (run ``r`` initialised with ``torch.manual_seed(seed + r)``) are made before the clock
    starts; after one untimed warm-up step, the training is timed ``repeats`` times
    (:func:`time.perf_counter`) and the minimum kept. Torch runs on the CPU with the threads the
    caller set (``torch.set_num_threads``). Timings depend on the machine and its load.

    Returns
    -------
    dict
        ``"seconds"`` (all runs), ``"per_run_s"``, ``"params"`` ``P``, ``"flops"``
        (:func:`network_sgd_flops`) and ``"final_loss"`` (mean over runs, a check that the
        steps train: finite).
    """
    import torch

    for name, v in (
        ("width", width),
        ("n_in", n_in),
        ("depth", depth),
        ("batch_size", batch_size),
        ("steps", steps),
        ("n_runs", n_runs),
        ("n_data", n_data),
        ("repeats", repeats),
    ):
        _check_positive_int(name, v)
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n_data, n_in, generator=gen)
    u = torch.randn(n_in, generator=gen)
    y = torch.sin(x @ (u / u.norm())).unsqueeze(1) + 0.1 * torch.randn(n_data, 1, generator=gen)
    batches = torch.randint(0, n_data, (steps, batch_size), generator=gen)

    def network(r: int) -> torch.nn.Module:
        torch.manual_seed(seed + r)
        layers: list[torch.nn.Module] = []
        fan_in = n_in
        for _ in range(depth):
            layers += [torch.nn.Linear(fan_in, width), torch.nn.Tanh()]
            fan_in = width
        return torch.nn.Sequential(*layers, torch.nn.Linear(fan_in, 1))

    def train(nets: list[torch.nn.Module], n_steps: int) -> float:
        loss = torch.zeros(())
        for net in nets:
            opt = torch.optim.SGD(net.parameters(), lr=lr)
            for t in range(n_steps):
                idx = batches[t]
                opt.zero_grad(set_to_none=True)
                loss = torch.nn.functional.mse_loss(net(x[idx]), y[idx])
                loss.backward()
                opt.step()
        return float(loss.detach())

    train([network(0)], 1)  # warm-up, untimed: thread pools, allocator
    best, final = math.inf, math.nan
    for _ in range(repeats):
        nets = [network(r) for r in range(n_runs)]
        t0 = time.perf_counter()
        final = train(nets, steps)
        best = min(best, time.perf_counter() - t0)
    params = mlp_parameters(n_in, width, depth)
    return {
        "seconds": best,
        "per_run_s": best / n_runs,
        "params": float(params),
        "flops": network_sgd_flops(params, batch_size, steps, n_runs),
        "final_loss": final,
    }


def time_kernel_prediction(
    n_coords: int,
    n_states: int,
    *,
    n_starts: int,
    steps: int,
    n_timed: int = 8,
    repeats: int = 3,
    seed: int = 0,
) -> dict[str, float]:
    """Wall-clock time of predicting ``m`` laws ``T`` steps ahead for ``n_coords`` coordinates.

    Each coordinate has its own dense ``K x K`` stochastic kernel (a fixed random one: the
    content does not change the cost of a dense product); ``m`` Dirac laws per coordinate are
    moved by ``T`` batched products ``(c, m, K) @ (c, K, K)`` (numpy ``matmul``, float64).
    Only ``c = min(n_timed, n_coords)`` coordinates are timed -- every coordinate costs the
    same -- and the time is scaled by ``n_coords / c``. After an untimed warm-up product, the
    best of ``repeats`` timings (:func:`time.perf_counter`) is kept. Timings depend on the
    machine and its load.

    Returns
    -------
    dict
        ``"seconds"`` (scaled to every coordinate), ``"timed_s"`` (the ``c`` coordinates),
        ``"timed_coords"`` ``c`` and ``"flops"`` (:func:`kernel_prediction_flops`).
    """
    for name, v in (
        ("n_coords", n_coords),
        ("n_states", n_states),
        ("n_starts", n_starts),
        ("steps", steps),
        ("n_timed", n_timed),
        ("repeats", repeats),
    ):
        _check_positive_int(name, v)
    c = min(n_timed, n_coords)
    rng = np.random.default_rng(seed)
    kernels = rng.random((c, n_states, n_states))
    kernels /= kernels.sum(axis=-1, keepdims=True)
    start = np.zeros((c, n_starts, n_states))
    start[:, np.arange(n_starts), rng.integers(0, n_states, size=n_starts)] = 1.0

    def predict(n_steps: int) -> NDArray[np.float64]:
        laws = start
        for _ in range(n_steps):
            laws = np.matmul(laws, kernels)
        return laws

    predict(1)  # warm-up, untimed
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        laws = predict(steps)
        best = min(best, time.perf_counter() - t0)
    if not np.allclose(laws.sum(axis=-1), 1.0):
        raise RuntimeError("the predicted laws lost mass: the timing kernels are not stochastic")
    return {
        "seconds": best * n_coords / c,
        "timed_s": best,
        "timed_coords": float(c),
        "flops": kernel_prediction_flops(n_coords, n_states, n_starts, steps),
    }


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
