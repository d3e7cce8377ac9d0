"""Predicting SGD from new starts with matrix products instead of gradients.

Chapter: *Predicting SGD*. Once every row of each coordinate's kernel is defined
(:func:`sgdllm.impute.impute`), the law after ``t`` steps from a start law ``p_0`` is
``p_0 P^t`` (the paper's ``delta_{x_0} Q^t``, diagonal blocks only):

- :mod:`~sgdllm.predict.propagate`: start laws, propagation, sampled paths, one kernel per
  coordinate;
- :mod:`~sgdllm.predict.basins`: basins of attraction of predicted and real runs;
- :mod:`~sgdllm.predict.evaluation`: predictions scored against real runs, horizon by horizon.

Their public names are re-exported here.
"""

from __future__ import annotations

from sgdllm.predict.basins import (
    MAX_PRODUCT_STATES,
    basin_frequencies,
    basin_probabilities,
    basin_table,
    basin_tables_by_runs,
    basins_reached,
    near_minimum,
    predicted_basin_probabilities,
    runs_needed,
)
from sgdllm.predict.evaluation import (
    compare_from_starts,
    compare_with_runs,
)
from sgdllm.predict.propagate import (
    MAX_OUTPUT_BYTES,
    POWER_MIN_GAP,
    PROPAGATE_METHODS,
    SPARSE_DENSITY,
    coordinate_kernels,
    dirac,
    initial_law,
    laws_at,
    predict_laws,
    propagate,
    sample_paths,
    sample_trajectories,
)

__all__ = [
    "MAX_OUTPUT_BYTES",
    "MAX_PRODUCT_STATES",
    "POWER_MIN_GAP",
    "PROPAGATE_METHODS",
    "SPARSE_DENSITY",
    "basin_frequencies",
    "basin_probabilities",
    "basin_table",
    "basin_tables_by_runs",
    "basins_reached",
    "compare_from_starts",
    "compare_with_runs",
    "coordinate_kernels",
    "dirac",
    "initial_law",
    "laws_at",
    "near_minimum",
    "predict_laws",
    "predicted_basin_probabilities",
    "propagate",
    "runs_needed",
    "sample_paths",
    "sample_trajectories",
]
