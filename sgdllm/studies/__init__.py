"""Chapter studies built on the pipeline: each module serves one or two chapters.

- :mod:`~sgdllm.studies.scaling`: in-context learning curves and power-law fits (*Scaling laws*);
- :mod:`~sgdllm.studies.compare`: estimators and costs side by side (*Side by side*);
- :mod:`~sgdllm.studies.standings`: every model of the ladder against the truth, the classical
  estimators and the embedded model (*The embedded language model*, *Extracting transition
  probabilities*);
- :mod:`~sgdllm.studies.homogeneity`: tests of time-homogeneity (*Adaptive optimizers*);
- :mod:`~sgdllm.studies.self_training`: a model predicting its own training (*Self prediction*);
- :mod:`~sgdllm.studies.trajectories`: predictions from a logged run (*Your trajectories*,
  ``sgdllm predict``).

They import the pipeline and :mod:`sgdllm.lm`; nothing in the pipeline imports them.
"""

from __future__ import annotations

__all__ = []
