"""The SGD side: problems, optimizers and runs of constant-step SGD.

Chapters: *SGD as a Markov chain* and *Adaptive optimizers as Markov chains*. Data flows one
way::

    problems (objectives, gradients) + optimizers (update rules)
        -> runs.run_sgd -> trajectories (runs, steps + 1, d)

The chains' exact transition kernels, the ground truth every estimate is scored against, are
in :mod:`sgdllm.truth` (with the pipeline: they need only the state grid). Modules:
:mod:`~sgdllm.sgd.problems`, :mod:`~sgdllm.sgd.optimizers`, :mod:`~sgdllm.sgd.runs`. Their
public names are re-exported here.
"""

from __future__ import annotations

from sgdllm.sgd.optimizers import (
    SGD,
    AdaGrad,
    Adam,
    Optimizer,
    RMSProp,
    as_optimizer,
)
from sgdllm.sgd.problems import (
    FiniteSumProblem,
    IllConditionedQuadratic,
    LeastSquares,
    LogisticRegression,
    TwoBasins,
    check_batch,
    ill_conditioned_quadratic,
    least_squares,
    logistic_regression,
    loss_surface,
    two_basins,
)
from sgdllm.sgd.runs import (
    least_squares_stationary_covariance,
    run_sgd,
    stationary_moments,
)

__all__ = [
    "SGD",
    "AdaGrad",
    "Adam",
    "FiniteSumProblem",
    "IllConditionedQuadratic",
    "LeastSquares",
    "LogisticRegression",
    "Optimizer",
    "RMSProp",
    "TwoBasins",
    "as_optimizer",
    "check_batch",
    "ill_conditioned_quadratic",
    "least_squares",
    "least_squares_stationary_covariance",
    "logistic_regression",
    "loss_surface",
    "run_sgd",
    "stationary_moments",
    "two_basins",
]
