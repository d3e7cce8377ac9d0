"""Bring your own trajectory: predict where a logged training run goes, from one file.

Chapter: *Your own trajectories* (notebooks/your_trajectories.md).

A user who logged the parameters of a training run (``runs x steps x coordinates``, in a
``.npy``, ``.npz`` or ``.csv`` file) gets, with :func:`predict_trajectory_file` (or the
command ``sgdllm predict FILE``), the pipeline of Zekri et al. (2024) in one call:

1. each coordinate is rescaled onto ``[0.15, 0.85]`` and cut into ``K = 10**digits`` states
   (one grid per coordinate, fitted on every run and every start together);
2. the kernel ``P^(ii)`` of each coordinate is read in context by a language model
   (Hierarchy-PDF, :func:`sgdllm.lm.next_state_laws_multivariate`, then
   :func:`sgdllm.kernel.kernel_from_laws`) or counted from the transitions
   (``kernel="counts"``), and its unvisited rows are filled by optimal-transport barycenters
   (:func:`sgdllm.impute.impute`), all in :func:`sgdllm.predict.coordinate_kernels`;
3. the law of coordinate ``i`` after ``t`` steps from a new start ``x_0`` is
   ``delta_{s_i(x_{0,i})} (P^(ii))^t`` (Chapman-Kolmogorov; channel independence as in
   :mod:`sgdllm.predict`), at every requested horizon.

The result is written to ``<out_dir>/prediction.npz`` (arrays), ``prediction.json``
(settings, provenance, summary) and ``prediction.png`` (a figure), each through a temporary
file and an atomic rename, the three only after everything was computed: a failure leaves no
half-written file behind.

File formats (:func:`load_trajectory`):

* ``.npy`` -- a 2-D array ``(steps, d)`` (one run) or a 3-D array ``(runs, steps, d)``;
* ``.npz`` -- one such array, or several with ``key`` naming the one to read;
* ``.csv`` -- one run, one row per step and one column per coordinate, comma-separated; an
  optional first row of column names (any row that does not parse as numbers) is kept as
  the coordinates' names; lines starting with ``#`` are ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sgdllm.discretize import Scaler, check_digits, fit_scaler
from sgdllm.impute import IMPUTE_METHODS, ImputeMethod
from sgdllm.kernel import MAX_KERNEL_DIGITS, Kernel
from sgdllm.outputs import check_output_dir
from sgdllm.plotting.your_trajectories import plot_tool_figure
from sgdllm.predict import coordinate_kernels, initial_law, laws_at

__all__ = [
    "DEFAULT_HORIZONS",
    "LONG_RULES",
    "MIN_STEPS",
    "OUTPUT_FILES",
    "START_MARGIN",
    "PredictionResult",
    "load_trajectory",
    "parse_start",
    "predict_trajectory_file",
    "validate_trajectory",
]

#: Fewest steps a run must have: a kernel needs transitions to be estimated from.
MIN_STEPS = 10
#: Default prediction horizons, in steps after the new start.
DEFAULT_HORIZONS = (10, 100, 1000)
#: How far beyond the logged range of a coordinate a new start may lie, in units of that
#: range. The grid is fitted to the logged values and the starts together, so a start at
#: most this far out still leaves the logged steps on at least a third of the states; the
#: rows of the kernel out there are extrapolated (imputed) from the visited ones.
START_MARGIN = 1.0
#: Files ``predict_trajectory_file`` writes in ``out_dir``.
OUTPUT_FILES = ("prediction.npz", "prediction.json", "prediction.png")
#: What to do with a run longer than the values a model reads at once.
LONG_RULES = ("error", "window", "truncate")
LongRule = Literal["error", "window", "truncate"]
KernelSource = Literal["model", "counts"]
SUFFIXES = (".npy", ".npz", ".csv")


# ----------------------------------------------------------------------------- loading


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_csv(path: Path) -> tuple[NDArray[np.float64], list[str] | None]:
    lines = [
        (n, line.strip())
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise ValueError(
            f"{path} holds no data rows; write one row per step, one column per "
            f"coordinate, comma-separated"
        )
    names = None
    first = [c.strip() for c in lines[0][1].split(",")]
    if not any(_is_number(c) for c in first):  # a header: every field is a name
        names = first
        lines = lines[1:]
    rows = []
    for n, line in lines:
        cells = [c.strip() for c in line.split(",")]
        for col, cell in enumerate(cells, start=1):
            if not _is_number(cell):
                header = (
                    " (a header row must hold names only, none of them a number)"
                    if n == lines[0][0] and names is None
                    else ""
                )
                raise ValueError(
                    f"{path}, line {n}, column {col}: {cell!r} is not a number{header}; a CSV "
                    f"trajectory has one row per step and one comma-separated number per "
                    f"coordinate, with an optional first row of names"
                )
        rows.append([float(c) for c in cells])
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise ValueError(
            f"{path}: rows have different numbers of columns ({sorted(widths)}); every step "
            f"must give one value per coordinate"
        )
    if names is not None and rows and len(names) != len(rows[0]):
        raise ValueError(
            f"{path}: the header names {len(names)} columns but the rows have {len(rows[0])}"
        )
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), -1), names


def _load_numpy(path: Path) -> Any:
    """``numpy.load`` without pickles; an empty, truncated or foreign file is a ValueError."""
    try:
        return np.load(path, allow_pickle=False)
    except (EOFError, OSError, ValueError) as err:
        reason = "it is empty" if path.stat().st_size == 0 else f"{err}"
        raise ValueError(
            f"{path} cannot be read as a {path.suffix} file ({reason}); save the trajectory "
            f"again with numpy.save (or numpy.savez), as a float array (runs, steps, d)"
        ) from None


def load_trajectory(
    path: str | os.PathLike[str], *, key: str | None = None
) -> tuple[NDArray[np.float64], list[str] | None]:
    """Read a logged trajectory from a ``.npy``, ``.npz`` or ``.csv`` file (see the module
    docstring for the layouts) and validate it (:func:`validate_trajectory`).

    Parameters
    ----------
    path : str or path
    key : str, optional
        The array to read from a ``.npz`` holding several (required then).

    Returns
    -------
    trajectory : ndarray, shape (runs, steps, d)
        A 2-D ``(steps, d)`` input comes back with ``runs = 1``.
    names : list of str or None
        Column names of a CSV header, else None.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no trajectory file at {p}")
    suffix = p.suffix.lower()
    names = None
    if suffix == ".npy":
        if key is not None:
            raise ValueError(f"key={key!r} only applies to .npz files, and {p.name} is a .npy")
        arr = _load_numpy(p)
    elif suffix == ".npz":
        with _load_numpy(p) as z:
            keys = list(z.keys())
            if key is None:
                if len(keys) != 1:
                    raise ValueError(
                        f"{p.name} holds {len(keys)} arrays {keys}; name the trajectory with "
                        f"key=... (--key on the command line)"
                    )
                key = keys[0]
            if key not in keys:
                raise ValueError(f"{p.name} has no array {key!r}; it holds {keys}")
            arr = z[key]
    elif suffix == ".csv":
        if key is not None:
            raise ValueError(f"key={key!r} only applies to .npz files, and {p.name} is a .csv")
        arr, names = _read_csv(p)
    else:
        raise ValueError(
            f"{p.name}: unknown file type {suffix!r}; save the trajectory as one of {SUFFIXES} "
            f"(e.g. numpy.save('run.npy', params) with params of shape (runs, steps, d))"
        )
    return validate_trajectory(arr, source=p.name), names


def validate_trajectory(
    values: ArrayLike, *, min_steps: int = MIN_STEPS, source: str = "trajectory"
) -> NDArray[np.float64]:
    """The trajectory as a float array ``(runs, steps, d)``, or a ``ValueError`` naming the
    problem and the fix: wrong number of dimensions, non-numeric values, NaN or infinity (with
    its run, step and coordinate), fewer than ``min_steps`` steps, no coordinate.
    """
    raw = np.asarray(values)
    if raw.dtype.kind not in "biuf":  # complex values would lose their imaginary part
        raise ValueError(
            f"{source} holds values of type {raw.dtype}, not real numbers; save the logged "
            f"parameters as a float array (for complex parameters, stack the real and "
            f"imaginary parts as separate coordinates)"
        )
    try:
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{source} does not hold numbers; save the logged parameters as a float array"
        ) from None
    if arr.ndim not in (2, 3):
        hint = (
            "reshape it to (steps, 1) for a single parameter"
            if arr.ndim == 1
            else "flatten the parameters of each step into one axis, (runs, steps, d)"
        )
        raise ValueError(
            f"{source} has {arr.ndim} dimension(s) (shape {arr.shape}); a trajectory is 2-D "
            f"(steps, d) or 3-D (runs, steps, d): {hint}"
        )
    if arr.ndim == 2:
        arr = arr[None]
    runs, steps, d = arr.shape
    if runs == 0 or d == 0:
        raise ValueError(f"{source} has shape {arr.shape}: no run or no coordinate")
    bad = ~np.isfinite(arr)
    if bad.any():
        r, t, i = (int(v) for v in np.argwhere(bad)[0])
        raise ValueError(
            f"{source} holds {int(bad.sum())} NaN or infinite value(s), the first at run {r}, "
            f"step {t}, coordinate {i} ({arr[r, t, i]}); a diverged run cannot be predicted: "
            f"cut the runs before the divergence or lower the step size"
        )
    if steps < min_steps:
        raise ValueError(
            f"{source} has {steps} steps per run, fewer than the {min_steps} needed to estimate "
            f"a transition kernel; log more steps (one row per step)"
        )
    return arr


def parse_start(text: str) -> NDArray[np.float64]:
    """A start ``"0.1,0.2"`` (comma-separated values, one per coordinate) as an array."""
    try:
        x = np.asarray([float(c) for c in text.split(",")], dtype=np.float64)
    except ValueError:
        raise ValueError(
            f"start {text!r} is not a comma-separated list of numbers (e.g. --start 0.1,0.2)"
        ) from None
    if not np.all(np.isfinite(x)):
        raise ValueError(f"start {text!r} holds NaN or infinity")
    return x


def _check_starts(starts: ArrayLike | None, traj: NDArray[np.float64]) -> NDArray[np.float64]:
    d = traj.shape[-1]
    if starts is None:
        first = traj[:, 0]  # the first value of each run, once each, in the order of the runs
        _, index = np.unique(first, axis=0, return_index=True)
        return first[np.sort(index)]
    x = np.asarray(starts, dtype=np.float64)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] != d or x.shape[0] == 0:
        raise ValueError(
            f"starts must give {d} value(s) per start (one per coordinate of the trajectory), "
            f"got shape {np.asarray(starts).shape}; e.g. --start " + ",".join(["0.0"] * d)
        )
    if not np.all(np.isfinite(x)):
        raise ValueError("starts hold NaN or infinity")
    _check_start_range(x, traj)
    return x


def _check_start_range(x: NDArray[np.float64], traj: NDArray[np.float64]) -> None:
    """Refuse a start more than :data:`START_MARGIN` logged ranges outside the logged range.

    Far from every logged value the kernel is pure extrapolation, and a grid stretched to
    reach the start would put all the logged steps into one or two states: the prediction
    would be an artefact ("stays where it starts, std 0"), not an estimate.
    """
    lo, hi = traj.min(axis=(0, 1)), traj.max(axis=(0, 1))
    for i in range(x.shape[1]):
        sc = fit_scaler(np.array([lo[i], hi[i]]), 1)  # a constant coordinate gets a width
        width = sc.hi - sc.lo
        a, b = sc.lo - START_MARGIN * width, sc.hi + START_MARGIN * width
        bad = np.flatnonzero((x[:, i] < a) | (x[:, i] > b))
        if bad.size:
            j = int(bad[0])
            raise ValueError(
                f"start {j + 1} puts coordinate {i} at {x[j, i]:.6g}, far outside the logged "
                f"range [{lo[i]:.6g}, {hi[i]:.6g}] of that coordinate: a start may lie at most "
                f"{START_MARGIN:g} times the range's width beyond it, in [{a:.6g}, {b:.6g}]. "
                f"The kernel knows nothing out there; pass a start within that interval, or "
                f"log a run that visits the region and predict from that file"
            )


def _check_horizons(horizons: Sequence[int] | ArrayLike) -> NDArray[np.int64]:
    h = np.asarray(horizons)
    if (
        h.ndim != 1
        or h.size == 0
        or not np.issubdtype(h.dtype, np.integer)
        or h[0] < 1
        or np.any(np.diff(h) <= 0)
    ):
        raise ValueError(
            f"horizons must be strictly increasing integers >= 1 (steps after the start), "
            f"got {horizons!r}; e.g. --horizon 10 --horizon 100"
        )
    return h.astype(np.int64)


# ----------------------------------------------------------------------------- result


@dataclass
class PredictionResult:
    """What :func:`predict_trajectory_file` computed and wrote.

    Attributes
    ----------
    laws : ndarray, shape (d, n_starts, n_horizons, K)
        ``laws[i, j, h]``: predicted law of coordinate ``i`` after ``horizons[h]`` steps from
        ``starts[j]``, over the states of that coordinate's grid.
    grids : ndarray, shape (d, K)
        Bin centres of each coordinate's states, in value units.
    means, stds : ndarray, shape (n_starts, n_horizons, d)
        Mean and standard deviation of the predicted laws, in value units.
    starts : ndarray, shape (n_starts, d)
    horizons : ndarray of int, shape (n_horizons,)
    trajectory : ndarray, shape (runs, steps, d)
        The values the kernels were estimated from (after truncation, if any).
    kernels : list of Kernel, length d
        Complete, with scalers (for :func:`sgdllm.predict.compare_with_runs`).
    summary : dict
        Settings, provenance and numbers, as written to ``prediction.json``.
    files : dict of str to Path
        ``"npz"``, ``"json"``, ``"png"``: the files written (empty if none).
    """

    laws: NDArray[np.float64]
    grids: NDArray[np.float64]
    means: NDArray[np.float64]
    stds: NDArray[np.float64]
    starts: NDArray[np.float64]
    horizons: NDArray[np.int64]
    trajectory: NDArray[np.float64]
    kernels: list[Kernel]
    summary: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)


# ----------------------------------------------------------------------------- the pipeline


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _model_laws(
    lm: Any,
    states: NDArray[np.int64],
    digits: int,
    max_values: int | None,
    long: LongRule,
    progress: bool,
    refine: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> tuple[list[NDArray[np.float64]], NDArray[np.int64], dict[str, Any]]:
    """Next-state laws of every run and coordinate; states possibly truncated."""
    from sgdllm.lm import next_state_laws
    from sgdllm.lm.hierarchy import values_per_window

    fit = values_per_window(lm.adapter_for(digits), lm.max_positions)
    limit = fit if max_values is None else int(max_values)
    if limit < 2 or limit > fit:
        raise ValueError(
            f"max_values={max_values} must be in [2, {fit}]: the model {lm.name!r} reads at "
            f"most {fit} values of {digits} digits at once ({lm.max_positions} tokens)"
        )
    steps = states.shape[1]
    window = None
    if steps > limit:
        if long == "error":
            raise ValueError(
                f"each run has {steps} steps but the model {lm.name!r} reads at most {limit} "
                f"values at once ({digits} digits per value, {lm.max_positions} tokens of "
                f"context); pass long='window' (--long window) to read the run in sliding "
                f"windows of {limit} values (each law then sees at least {limit // 2} previous "
                f"values; --max-values sets the window), long='truncate' (--long truncate) to "
                f"keep the last {limit} steps, or kernel='counts' (--kernel counts)"
            )
        if long == "truncate":
            states = states[:, -limit:]
        else:
            window = limit
    laws = [
        np.stack(
            [
                next_state_laws(
                    lm,
                    run[:, i],
                    digits,
                    window=window,
                    refine=refine,
                    cache_dir=cache_dir,
                    progress=progress,
                )
                for run in states
            ]
        )
        for i in range(states.shape[2])
    ]
    info = {"values_per_read": limit, "model_context_values": fit, "windowed": window is not None}
    return laws, states, info


def predict_trajectory_file(
    path: str | os.PathLike[str],
    *,
    model: Any = None,
    digits: int = 2,
    starts: ArrayLike | None = None,
    horizons: Sequence[int] | ArrayLike = DEFAULT_HORIZONS,
    kernel: KernelSource = "model",
    impute: ImputeMethod = "ot-exact",
    key: str | None = None,
    max_values: int | None = None,
    long: LongRule = "error",
    names: Sequence[str] | None = None,
    out_dir: str | os.PathLike[str] | None = "sgdllm-prediction",
    progress: bool = False,
    refine: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> PredictionResult:
    """Predict the laws of a logged training run's parameters from new starts, from one file.

    Reads the trajectory (:func:`load_trajectory`), discretizes each coordinate on a grid of
    ``K = 10**digits`` states fitted to all runs and starts, estimates the kernel of each
    coordinate (``kernel="model"``: read in context by a language model, Hierarchy-PDF of Liu
    et al. 2024; ``"counts"``: the empirical transition frequencies), fills its unvisited rows
    (``impute``, optimal-transport barycenters as in Zekri et al. 2024), and propagates each
    start: the predicted law of coordinate ``i`` after ``t`` steps from ``x_0`` is

    .. math::

        p_t^{(i)} = \\delta_{s_i(x_{0,i})} \\big(\\hat P^{(ii)}\\big)^t

    (:func:`sgdllm.predict.laws_at`; channel independence, see :mod:`sgdllm.predict`).

    Parameters
    ----------
    path : str or path
        ``.npy`` (``(steps, d)`` or ``(runs, steps, d)``), ``.npz`` or ``.csv`` (see
        :func:`load_trajectory`).
    model : None, str, path or LanguageModel
        The language model (``kernel="model"``): None for the embedded default, a local
        directory or Hugging Face id (:func:`sgdllm.lm.load_model`), or a loaded model.
    digits : int
        Digits per value, ``K = 10**digits`` states per coordinate, 1 to 3 (a kernel has
        ``K^2`` entries).
    starts : array_like, shape (d,) or (n, d), optional
        New starts in value units; default the first value of each run (distinct ones). A
        start more than :data:`START_MARGIN` logged ranges beyond a coordinate's logged range
        is refused (the kernel knows nothing there).
    horizons : sequence of int
        Strictly increasing steps after the start, each ``>= 1``.
    kernel : {"model", "counts"}
    impute : {"ot", "ot-exact", "nearest"}
        Imputation of the unvisited rows (:func:`sgdllm.impute.impute`); ``"ot-exact"`` (the
        exact W2 barycenter on the line) is the fast default.
    key : str, optional
        Array name inside a ``.npz``.
    max_values : int, optional
        Values the model reads at once (default: as many as its context holds).
    long : {"error", "window", "truncate"}
        A run longer than ``max_values`` (``kernel="model"`` only): raise (default), read it in
        sliding windows of ``max_values`` values, or keep its last ``max_values`` steps.
    names : sequence of str, optional
        Names of the coordinates (figure, JSON); default a CSV header's, else none.
    out_dir : str or path or None
        Where ``prediction.npz``, ``prediction.json`` and ``prediction.png`` go (created if
        missing); None writes nothing. Checked before anything is computed.
    progress : bool
        Progress bars (tqdm) while the model reads the runs and while the starts propagate.
    refine : {"full", "neighbours", "adaptive"}, optional
        Hierarchy-PDF refinement of :func:`sgdllm.lm.next_state_laws` (``kernel="model"``
        only); default full. ``"adaptive"`` is within 1e-3 total variation of full, and fast.
    cache_dir : str or path, optional
        Laws cache directory of :func:`sgdllm.lm.next_state_laws` (e.g.
        :func:`sgdllm.lm.ladder.laws_cache_dir`); None computes every law.

    Returns
    -------
    PredictionResult
    """
    t0 = time.perf_counter()
    p = Path(path)
    # every check that needs no model comes first: loading and reading take minutes
    digits = check_digits(digits, MAX_KERNEL_DIGITS)
    if kernel not in ("model", "counts"):
        raise ValueError(f"kernel must be 'model' or 'counts', got {kernel!r}")
    if max_values is not None and (
        isinstance(max_values, bool)
        or not isinstance(max_values, (int, np.integer))
        or max_values < 2
    ):
        raise ValueError(
            f"max_values must be an integer >= 2 (values the model reads at once), got "
            f"{max_values!r}"
        )
    if out_dir is not None:
        check_output_dir(out_dir, OUTPUT_FILES, option="out_dir (--out)")
    if impute not in IMPUTE_METHODS:
        raise ValueError(f"impute must be one of {IMPUTE_METHODS}, got {impute!r}")
    if long not in LONG_RULES:
        raise ValueError(f"long must be one of {LONG_RULES}, got {long!r}")
    horizon_arr = _check_horizons(horizons)
    traj, header = load_trajectory(p, key=key)
    x0 = _check_starts(starts, traj)
    d = traj.shape[2]
    if names is None:
        names = header
    else:
        names = [str(v) for v in names]
        if len(names) != d:
            raise ValueError(
                f"names must give one name per coordinate ({d}), got {names!r}; e.g. "
                f"--names " + ",".join(f"p{i}" for i in range(d))
            )
    # one grid per coordinate, fitted on every run and every start, so that starts are on it
    scalers: list[Scaler] = [
        fit_scaler(np.concatenate([traj[..., i].ravel(), x0[:, i]]), digits) for i in range(d)
    ]
    states = np.stack([sc.to_states(traj[..., i]) for i, sc in enumerate(scalers)], axis=-1)
    model_info: dict[str, Any] = {}
    lm = None
    if kernel == "model":
        from sgdllm.lm import LanguageModel, load_model

        lm = model if isinstance(model, LanguageModel) else load_model(model)
        laws, states, model_info = _model_laws(
            lm, states, digits, max_values, long, progress, refine, cache_dir
        )
        traj = traj[:, traj.shape[1] - states.shape[1] :]
        kernels = coordinate_kernels(states, scalers, laws, method=impute)
        model_info.update(id=lm.name, weights_sha256=lm.weights_hash)
    else:
        kernels = coordinate_kernels(states, scalers, method=impute)
    k = 10**digits
    laws_out = np.empty((d, x0.shape[0], horizon_arr.size, k))
    from tqdm import tqdm

    for i in tqdm(range(d), disable=not progress, desc="propagating", unit="coordinate"):
        laws_out[i] = laws_at(kernels[i], initial_law(kernels[i], x0[:, i]), horizon_arr)
    grids = np.stack([sc.grid() for sc in scalers])
    means = np.einsum("ijhk,ik->jhi", laws_out, grids)
    second = np.einsum("ijhk,ik->jhi", laws_out, grids**2)
    stds = np.sqrt(np.maximum(second - means**2, 0.0))

    from sgdllm.provenance import provenance

    prov = provenance(Path.cwd())
    summary: dict[str, Any] = {
        "settings": {
            "file": str(p),
            "file_sha256": _sha256(p),
            "key": key,
            "digits": digits,
            "kernel": kernel,
            "impute": impute,
            "horizons": horizon_arr.tolist(),
            "starts": x0.tolist(),
            "max_values": max_values,
            "long": long,
        },
        "model": model_info or None,
        "provenance": prov,
        "trajectory": {
            "runs": int(traj.shape[0]),
            "steps_used": int(traj.shape[1]),
            "d": d,
            "names": names,
        },
        "grids": [
            {"lo": float(g[0]), "hi": float(g[-1]), "bin_width": sc.bin_width}
            for g, sc in zip(grids, scalers, strict=True)
        ],
        "visited_states": [int(kr.visited.sum()) for kr in kernels],
        "predicted_mean": means.tolist(),
        "predicted_std": stds.tolist(),
        "wall_s": round(time.perf_counter() - t0, 3),
    }
    result = PredictionResult(
        laws=laws_out,
        grids=grids,
        means=means,
        stds=stds,
        starts=x0,
        horizons=horizon_arr,
        trajectory=traj,
        kernels=kernels,
        summary=summary,
    )
    if out_dir is not None:
        result.files = _write_outputs(result, Path(out_dir))
    return result


# ----------------------------------------------------------------------------- output


def _write_outputs(result: PredictionResult, out: Path) -> dict[str, Path]:
    """Write npz, json and png to temporary files in ``out``, then rename all three."""
    import matplotlib.pyplot as plt

    from sgdllm.plotting.style import book_style

    out.mkdir(parents=True, exist_ok=True)
    targets = {
        "npz": out / "prediction.npz",
        "json": out / "prediction.json",
        "png": out / "prediction.png",
    }
    temps: dict[str, Path] = {}
    try:
        for kind, target in targets.items():
            fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{target.name}.", suffix=".tmp")
            os.close(fd)
            temps[kind] = Path(tmp)
        with temps["npz"].open("wb") as fh:
            np.savez_compressed(
                fh,
                laws=result.laws,
                grids=result.grids,
                means=result.means,
                stds=result.stds,
                starts=result.starts,
                horizons=result.horizons,
                kernels=np.stack([kr.matrix for kr in result.kernels]),
                bin_widths=np.asarray([kr.scaler.bin_width for kr in result.kernels]),  # type: ignore[union-attr]
            )
        temps["json"].write_text(
            json.dumps(result.summary, indent=2, sort_keys=True, allow_nan=False) + "\n"
        )
        with book_style():
            fig = plot_tool_figure(result)
            fig.savefig(temps["png"], format="png")
            plt.close(fig)
        for kind, target in targets.items():
            os.chmod(temps[kind], 0o644)
            os.replace(temps[kind], target)
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
    return targets
