"""Discretization: real values <-> integer states <-> text.

Chapter: *Tokenization* (and *SGD as a Markov chain* for the state grid).

Each coordinate of a trajectory is rescaled on its own, LLMTime style (Gruver et al. 2023;
Liu et al. 2024): the fitted range ``[lo, hi]`` is mapped affinely onto ``[0.15, 0.85]`` so
that the model sees values away from the edges of the grid,

.. math::

    u(x) = 0.15 + 0.7 \\, \\frac{x - lo}{hi - lo},

and ``u`` is written with ``digits`` decimals: the state is ``s = round(u * 10**digits)`` in
``[0, 10**digits)``, so that the text ``"523"`` literally reads ``u = 0.523``. State ``s``
stands for the bin ``[(s - 1/2) / K, (s + 1/2) / K)`` of ``u`` (``K = 10**digits``) and maps
back to its centre, so the round-trip error is at most half a bin,
``(hi - lo) / (0.7 K) / 2`` in value units.

Values outside the fitted range still have states as long as ``u`` stays on the grid (that is
the point of the margins); values beyond the grid are clipped to the edge states with a
:class:`RangeWarning`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "MAX_DIGITS",
    "RangeWarning",
    "Scaler",
    "check_digits",
    "check_finite",
    "check_states",
    "discretize",
    "discretize_trajectory",
    "fit_scaler",
    "parse",
    "serialize",
]

#: Largest number of digits per value. ``10**4`` states already make a 10^8-entry kernel.
MAX_DIGITS = 4
#: LLMTime's target interval for the fitted range.
LOW, HIGH = 0.15, 0.85


class RangeWarning(UserWarning):
    """Values fell outside the state grid and were clipped to the edge states."""


def check_digits(digits: int, max_digits: int = MAX_DIGITS) -> int:
    """Validate a number of digits per value and return it as ``int``.

    Raises
    ------
    ValueError
        If ``digits`` is not an integer in ``[1, max_digits]``.
    """
    if isinstance(digits, bool) or not isinstance(digits, (int, np.integer)):
        raise ValueError(
            f"digits must be an integer, got {digits!r}; use e.g. digits=2 or digits=3"
        )
    if not 1 <= int(digits) <= max_digits:
        raise ValueError(
            f"digits={digits} is outside the supported range 1..{max_digits} "
            f"(10**digits states per coordinate); use digits=2 or digits=3 as the paper does"
        )
    return int(digits)


def check_finite(values: ArrayLike, name: str = "series") -> NDArray[np.float64]:
    """Return ``values`` as a float array, or raise if it holds NaN or Inf.

    The error names the first bad entry: its time index and, for 2-D ``(steps, d)`` or 3-D
    ``(runs, steps, d)`` input, its run and coordinate.
    """
    arr = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        where = np.argwhere(bad)[0]
        value = arr[tuple(where)]
        if arr.ndim == 1:
            loc = f"index {where[0]}"
        elif arr.ndim == 2:
            loc = f"index {where[0]}, coordinate {where[1]}"
        elif arr.ndim == 3:
            loc = f"run {where[0]}, index {where[1]}, coordinate {where[2]}"
        else:
            loc = f"position {tuple(int(i) for i in where)}"
        raise ValueError(
            f"{name} contains {value} at {loc}; remove or interpolate non-finite values "
            f"(a diverged SGD run usually means the step size is too large)"
        )
    return arr


@dataclass(frozen=True)
class Scaler:
    """Affine map between values of one coordinate and the states ``0..10**digits - 1``.

    Parameters
    ----------
    lo, hi : float
        Fitted range of the values; mapped to ``low`` and ``high`` on the unit scale.
    digits : int
        Digits per value; there are ``K = 10**digits`` states.
    low, high : float
        Target interval on the unit scale (LLMTime: 0.15 and 0.85).
    """

    lo: float
    hi: float
    digits: int
    low: float = LOW
    high: float = HIGH

    def __post_init__(self) -> None:
        check_digits(self.digits)
        if not (np.isfinite(self.lo) and np.isfinite(self.hi)) or not self.hi > self.lo:
            raise ValueError(f"Scaler needs finite lo < hi, got lo={self.lo}, hi={self.hi}")
        if not 0.0 <= self.low < self.high <= 1.0:
            raise ValueError(f"Scaler needs 0 <= low < high <= 1, got {self.low}, {self.high}")
        # the grid spans (hi - lo) / (high - low) in value units: it, its bins and its edge
        # states must be finite and distinct in float64, or states come out as garbage
        with np.errstate(over="ignore", invalid="ignore"):
            span = (self.hi - self.lo) / (self.high - self.low)
            ends = self.to_values(np.array([0, self.n_states - 1]))
        if not (np.isfinite(span) and np.all(np.isfinite(ends)) and self.bin_width > 0):
            raise ValueError(
                f"the range [{self.lo:.6g}, {self.hi:.6g}] is too wide for float64: its state "
                f"grid spans {span:.6g} (overflow); rescale the values first (e.g. divide them "
                f"by a power of ten) so that the range spans less than about 1e307"
            )

    @property
    def n_states(self) -> int:
        """Number of states ``K = 10**digits``."""
        return 10**self.digits

    @property
    def bin_width(self) -> float:
        """Width of one state's bin in value units, ``(hi - lo) / ((high - low) K)``."""
        return (self.hi - self.lo) / ((self.high - self.low) * self.n_states)

    def to_unit(self, values: ArrayLike) -> NDArray[np.float64]:
        """Rescale values to the unit scale: ``low + (high - low) (x - lo) / (hi - lo)``."""
        x = np.asarray(values, dtype=np.float64)
        with np.errstate(over="ignore"):  # far off-grid values become +-inf, then edge states
            return self.low + (self.high - self.low) * (x - self.lo) / (self.hi - self.lo)

    def to_states(self, values: ArrayLike, *, warn: bool = True) -> NDArray[np.int64]:
        """Map values to states ``round(u K)``, clipping to ``[0, K - 1]``.

        Values whose state would fall off the grid are clipped to the edge state; a
        :class:`RangeWarning` says how many (pass ``warn=False`` to silence it).
        """
        x = check_finite(values, "values")
        raw = np.rint(self.to_unit(x) * self.n_states)
        off = (raw < 0) | (raw > self.n_states - 1)
        if warn and off.any():
            warnings.warn(
                f"{int(off.sum())} value(s) lie outside the state grid "
                f"[{self.to_values(0):.6g}, {self.to_values(self.n_states - 1):.6g}] of this "
                f"scaler (fitted range [{self.lo:.6g}, {self.hi:.6g}]) and were clipped to the "
                f"edge states; refit the scaler on data that covers them to avoid this",
                RangeWarning,
                stacklevel=2,
            )
        return np.clip(raw, 0, self.n_states - 1).astype(np.int64)

    def to_values(self, states: ArrayLike) -> NDArray[np.float64] | float:
        """Map states to the centres of their bins, in value units."""
        s = np.asarray(states, dtype=np.float64)
        u = s / self.n_states
        out = self.lo + (u - self.low) * (self.hi - self.lo) / (self.high - self.low)
        return float(out) if out.ndim == 0 else out

    def grid(self) -> NDArray[np.float64]:
        """Centres of all ``K`` bins in value units, shape ``(K,)``."""
        return np.asarray(self.to_values(np.arange(self.n_states)))


def fit_scaler(
    series: ArrayLike,
    digits: int,
    bounds: tuple[float, float] | None = None,
) -> Scaler:
    """Fit a :class:`Scaler` to a 1-D series (or to explicit ``bounds``).

    A constant series (``max - min`` below ``1e-12`` of its magnitude) gets the range
    ``[c - w, c + w]`` with ``w = max(|c|, 1) / 2``: it maps to the middle state and the scale
    stays finite, so later values near ``c`` still have distinct states.

    Notes
    -----
    Fitting on the whole series uses its future range to rescale its early values (a small
    look-ahead, as in LLMTime). Pass ``bounds`` fitted on a prefix, or on other runs, to avoid it.
    """
    digits = check_digits(digits)
    if bounds is not None:
        lo, hi = (float(b) for b in bounds)
        if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
            raise ValueError(f"bounds must be finite with lo < hi, got {bounds!r}")
        return Scaler(lo, hi, digits)
    x = check_finite(series)
    if x.size == 0:
        raise ValueError("cannot fit a scaler to an empty series; pass at least one value")
    lo, hi = float(x.min()), float(x.max())
    if hi - lo <= 1e-12 * max(abs(lo), abs(hi), 1.0):
        c = 0.5 * (lo + hi)
        w = 0.5 * max(abs(c), 1.0)
        lo, hi = c - w, c + w
    return Scaler(lo, hi, digits)


def discretize(
    series: ArrayLike,
    digits: int,
    *,
    bounds: tuple[float, float] | None = None,
) -> tuple[NDArray[np.int64], Scaler]:
    """Discretize a 1-D series into states.

    Parameters
    ----------
    series : array_like, shape (T,)
        Values of one coordinate over time.
    digits : int
        Digits per value (``10**digits`` states).
    bounds : (float, float), optional
        Range mapped to ``[0.15, 0.85]``; default: the series' own min and max.

    Returns
    -------
    states : ndarray of int64, shape (T,)
    scaler : Scaler
        ``scaler.to_values(states)`` maps states back to bin centres.

    Examples
    --------
    >>> states, scaler = discretize([0.0, 0.5, 1.0], digits=3)
    >>> states.tolist()
    [150, 500, 850]
    """
    x = check_finite(series)
    if x.ndim != 1:
        raise ValueError(
            f"discretize expects a 1-D series, got shape {x.shape}; "
            f"use discretize_trajectory for (steps, d) or (runs, steps, d) arrays"
        )
    scaler = fit_scaler(x, digits, bounds)
    return scaler.to_states(x), scaler


def discretize_trajectory(
    trajectory: ArrayLike, digits: int
) -> tuple[NDArray[np.int64], list[Scaler]]:
    """Discretize every coordinate of a trajectory on its own scale.

    Parameters
    ----------
    trajectory : array_like, shape (steps, d) or (runs, steps, d)
        With several runs, each coordinate's scaler is fitted on all runs together, so that
        the runs share one state grid.
    digits : int

    Returns
    -------
    states : ndarray of int64, same shape as ``trajectory``
    scalers : list of Scaler, one per coordinate
    """
    x = check_finite(trajectory, "trajectory")
    if x.ndim not in (2, 3):
        raise ValueError(
            f"trajectory must have shape (steps, d) or (runs, steps, d), got {x.shape}"
        )
    scalers = [fit_scaler(x[..., i].ravel(), digits) for i in range(x.shape[-1])]
    states = np.stack([sc.to_states(x[..., i]) for i, sc in enumerate(scalers)], axis=-1)
    return states, scalers


def check_states(states: ArrayLike, digits: int, caller: str = "serialize") -> NDArray[np.int64]:
    """Return a 1-D series of states as int64, or raise naming the problem.

    Raises ``ValueError`` if ``states`` is not 1-D or holds anything but integers in
    ``[0, 10**digits - 1]``.
    """
    s = np.asarray(states)
    if s.ndim != 1:
        raise ValueError(f"{caller} expects a 1-D series of states, got shape {s.shape}")
    if s.size and (not np.issubdtype(s.dtype, np.integer) or s.min() < 0 or s.max() >= 10**digits):
        raise ValueError(
            f"states must be integers in [0, {10**digits - 1}] for digits={digits}; got values "
            f"in [{s.min()}, {s.max()}] of dtype {s.dtype}; map values to states with "
            f"sgdllm.discretize first"
        )
    return s.astype(np.int64)


def serialize(states: ArrayLike, digits: int, sep: str = ",") -> str:
    """Write states as fixed-width digit strings joined by ``sep``: ``"523,541,538"``."""
    digits = check_digits(digits)
    s = check_states(states, digits)
    return sep.join(f"{int(v):0{digits}d}" for v in s)


def parse(text: str, digits: int, sep: str = ",") -> NDArray[np.int64]:
    """Parse text written by :func:`serialize` back into states.

    A trailing separator is allowed. Raises ``ValueError`` naming the first malformed value.
    """
    digits = check_digits(digits)
    fields = text.strip().split(sep)
    if fields and fields[-1] == "":
        fields = fields[:-1]
    out = np.empty(len(fields), dtype=np.int64)
    for i, f in enumerate(fields):
        f = f.strip()
        if len(f) != digits or not f.isdigit():
            raise ValueError(
                f"value {i} of the text is {f!r}, expected exactly {digits} digits "
                f"separated by {sep!r}"
            )
        out[i] = int(f)
    return out
