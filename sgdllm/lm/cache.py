"""Disk cache of extracted next-state laws.

Chapter: *Extracting transition probabilities*.

Reading laws off a language model is the expensive step of the pipeline, so results can be kept
on disk under a key of everything they depend on (the showyourwork habit: a change anywhere
upstream invalidates them):

.. math::

    \\mathrm{key} = \\mathrm{sha256}(\\text{weights hash}, \\text{dtype}, \\text{adapter},
    \\text{states}, \\text{digits}, \\text{refine}, \\text{depth}, \\text{window},
    \\text{min\\_context}, \\text{algorithm version}, \\text{package version}).

Each entry is ``<key>.npy`` (the laws, float64) and ``<key>.json`` (the inputs of the key, the
shape, the sha256 of the ``.npy`` bytes and, when given, the per-row bound on the total
variation to full refinement of :func:`sgdllm.lm.hierarchy.next_state_laws_with_bound`).
Both are written atomically (a temporary file in the same directory, then ``os.replace``),
the ``.npy`` first. On reading, an entry is trusted only if the sidecar names the same key,
the checksum and shape match, and every row is finite, non-negative and sums to 1 (and the
bound, when asked for, is finite and non-negative, one per row); anything else is treated as
a miss and recomputed.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sgdllm.outputs import write_atomic

__all__ = [
    "ALGORITHM_VERSION",
    "laws_key",
    "load_laws",
    "load_laws_and_bound",
    "package_version",
    "save_laws",
]

#: Bump when the extraction algorithm changes its output, to invalidate old entries.
ALGORITHM_VERSION = 1
_SUM_TOL = 1e-6


def package_version() -> str:
    """Installed version of ``sgdllm`` (``"unknown"`` when running from an uninstalled tree)."""
    try:
        return metadata.version("sgdllm")
    except metadata.PackageNotFoundError:
        return "unknown"


def laws_key(
    *,
    weights_hash: str,
    dtype: str,
    adapter: dict[str, Any],
    states: NDArray[np.int64],
    digits: int,
    options: dict[str, Any],
) -> str:
    """sha256 (hex) of everything the laws depend on.

    ``states`` enter as their int64 little-endian bytes (and length); ``options`` as sorted
    JSON. The algorithm and package versions are added here.
    """
    s = np.ascontiguousarray(states, dtype="<i8")
    spec = {
        "weights_hash": weights_hash,
        "dtype": dtype,
        "adapter": adapter,
        "digits": int(digits),
        "options": options,
        "n_states": int(s.size),
        "states_sha256": hashlib.sha256(s.tobytes()).hexdigest(),
        "algorithm": ALGORITHM_VERSION,
        "package": package_version(),
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def _paths(cache_dir: str | Path, key: str) -> tuple[Path, Path]:
    root = Path(cache_dir)
    return root / f"{key}.npy", root / f"{key}.json"


def _sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def save_laws(
    cache_dir: str | Path,
    key: str,
    laws: NDArray[np.float64],
    *,
    bound: NDArray[np.float64] | None = None,
) -> Path:
    """Store ``laws`` (and the per-row ``bound``, if given) under ``key`` in ``cache_dir``
    (created if needed); return the ``.npy``."""
    npy, meta = _paths(cache_dir, key)
    npy.parent.mkdir(parents=True, exist_ok=True)
    arr = np.ascontiguousarray(laws, dtype=np.float64)
    write_atomic(npy, lambda fh: np.save(fh, arr, allow_pickle=False), fsync=True)
    sidecar = {"key": key, "shape": list(arr.shape), "sha256": _sha256_file(npy)}
    if bound is not None:
        sidecar["bound"] = [float(b) for b in np.asarray(bound, dtype=np.float64).ravel()]
    write_atomic(meta, lambda fh: fh.write(json.dumps(sidecar).encode()), fsync=True)
    return npy


def load_laws(
    cache_dir: str | Path, key: str, shape: tuple[int, int]
) -> NDArray[np.float64] | None:
    """The laws stored under ``key`` if present and valid, else ``None`` (recompute).

    Valid means: the sidecar exists and names ``key`` and ``shape``, the ``.npy`` bytes match its
    checksum, and the array has ``shape``, is finite, non-negative, with rows summing to 1.
    """
    npy, meta = _paths(cache_dir, key)
    try:
        sidecar = json.loads(meta.read_text())
        if sidecar.get("key") != key or tuple(sidecar.get("shape", ())) != tuple(shape):
            return None
        if _sha256_file(npy) != sidecar.get("sha256"):
            return None
        arr = np.load(npy, allow_pickle=False)
    except (OSError, ValueError, TypeError, AttributeError):
        return None
    if arr.shape != tuple(shape) or arr.dtype != np.float64:
        return None
    if not np.isfinite(arr).all() or (arr < 0).any():
        return None
    if arr.size and np.abs(arr.sum(axis=1) - 1.0).max() > _SUM_TOL:
        return None
    return arr


def load_laws_and_bound(
    cache_dir: str | Path, key: str, shape: tuple[int, int]
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """The laws and per-row bound stored under ``key``, or ``None`` (recompute).

    As :func:`load_laws`, and the sidecar must hold a bound of ``shape[0]`` finite,
    non-negative numbers (entries saved without one are a miss).
    """
    laws = load_laws(cache_dir, key, shape)
    if laws is None:
        return None
    try:
        bound = np.asarray(json.loads(_paths(cache_dir, key)[1].read_text())["bound"], float)
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if bound.shape != (shape[0],) or not np.isfinite(bound).all() or (bound < 0).any():
        return None
    return laws, bound
