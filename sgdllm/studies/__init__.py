"""Chapter studies built on the pipeline: each module serves one or two chapters.

- :mod:`~sgdllm.studies.scaling`: in-context learning curves and power-law fits (*Scaling laws*);
- :mod:`~sgdllm.studies.compare`: estimators and costs side by side (*Side by side*);
- :mod:`~sgdllm.studies.homogeneity`: tests of time-homogeneity (*Adaptive optimizers*);
- :mod:`~sgdllm.studies.self_training`: a model predicting its own training (*Self prediction*);
- :mod:`~sgdllm.studies.trajectories`: predictions from a logged run (*Your trajectories*,
  ``sgdllm predict``).

They import the pipeline and :mod:`sgdllm.lm`; nothing in the pipeline imports them.
"""

from __future__ import annotations

__all__ = []
