"""Transition kernels on the state grid, and the estimators that need no language model.

Chapter: *Extracting transition probabilities* (and *Imputation* for empty rows).

A kernel is a row-stochastic ``K x K`` matrix ``P`` with ``P[s, s'] = P(s_{t+1} = s' | s_t = s)``
on the grid of ``K = 10**digits`` states of one coordinate. In the paper's block view of a
``d``-dimensional chain, ``Q = [lambda_ij P^(ij)]``, each such kernel is one diagonal block
``P^(ii)``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from .discretize import Scaler

__all__ = ["Kernel", "MAX_KERNEL_DIGITS"]

#: Dense kernels are ``10**digits`` squared: 3 digits (10^6 entries) is the largest we allow.
MAX_KERNEL_DIGITS = 3


@dataclass(frozen=True, eq=False)
class Kernel:
    """A transition kernel of one coordinate on its state grid.

    Attributes
    ----------
    matrix : ndarray, shape (K, K)
        ``matrix[s]`` is the law of the next state from state ``s``. Rows of states without
        an estimate are all zero (not yet defined); every other row sums to 1.
    visited : ndarray of bool, shape (K,)
        States the data visited as a *current* state (rows backed by observations).
    counts : ndarray of float, shape (K,)
        How many observed transitions (or next-state laws) left each state.
    scaler : Scaler or None
        Maps values of the coordinate to states and back.
    method : str
        How the kernel was made, e.g. ``"counts"``, ``"laplace"``, ``"laws"``, and the
        imputation applied afterwards (``"counts+impute(ot)"``).
    """

    matrix: NDArray[np.float64]
    visited: NDArray[np.bool_]
    counts: NDArray[np.float64]
    scaler: Scaler | None = None
    method: str = ""

    def __post_init__(self) -> None:
        m = np.asarray(self.matrix, dtype=np.float64)
        if m.ndim != 2 or m.shape[0] != m.shape[1]:
            raise ValueError(f"a kernel matrix must be square, got shape {m.shape}")
        k = m.shape[0]
        if not np.all(np.isfinite(m)) or (m < 0).any():
            raise ValueError("a kernel matrix must be finite and non-negative")
        sums = m.sum(axis=1)
        bad = (sums > 0) & (np.abs(sums - 1.0) > 1e-8)
        if bad.any():
            s = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"row {s} of the kernel sums to {sums[s]:.6g}; rows must sum to 1 "
                f"(or be all zero for undefined rows)"
            )
        visited = np.asarray(self.visited, dtype=bool)
        counts = np.asarray(self.counts, dtype=np.float64)
        if visited.shape != (k,) or counts.shape != (k,):
            raise ValueError(
                f"visited and counts must have shape ({k},), got {visited.shape} and {counts.shape}"
            )
        if self.scaler is not None and self.scaler.n_states != k:
            raise ValueError(
                f"scaler has {self.scaler.n_states} states but the matrix is {k} x {k}"
            )
        object.__setattr__(self, "matrix", m)
        object.__setattr__(self, "visited", visited)
        object.__setattr__(self, "counts", counts)

    @property
    def n_states(self) -> int:
        """Number of states ``K``."""
        return self.matrix.shape[0]

    @property
    def digits(self) -> int:
        """Digits per value, ``log10(K)``."""
        return int(round(np.log10(self.n_states)))

    @property
    def defined(self) -> NDArray[np.bool_]:
        """Rows that hold a probability law (sum to 1), shape ``(K,)``."""
        return self.matrix.sum(axis=1) > 0

    @property
    def is_complete(self) -> bool:
        """True when every row is defined, so that the kernel can be propagated."""
        return bool(self.defined.all())

    def with_matrix(self, matrix: NDArray[np.float64], method: str) -> Kernel:
        """A copy with a new matrix and method tag; ``visited``, ``counts``, ``scaler`` kept."""
        return replace(self, matrix=matrix, method=method)

    def __repr__(self) -> str:
        return (
            f"Kernel(K={self.n_states}, visited={int(self.visited.sum())}, "
            f"defined={int(self.defined.sum())}, method={self.method!r})"
        )
