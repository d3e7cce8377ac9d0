"""The SGD side: problems, optimizers, runs of constant-step SGD, and exact kernels.

Chapters: *SGD as a Markov chain* and *Adaptive optimizers as Markov chains*. Data flows one
way::

    problems (objectives, gradients) + optimizers (update rules)
        -> runs.run_sgd -> trajectories (runs, steps + 1, d)
    truth: the exact transition kernels of those chains (Monte Carlo and closed forms),
        the ground truth every estimate is scored against

Modules: :mod:`~sgdllm.sgd.problems`, :mod:`~sgdllm.sgd.optimizers`, :mod:`~sgdllm.sgd.runs`,
:mod:`~sgdllm.sgd.truth`. Their public names are re-exported here.
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
from sgdllm.sgd.truth import (
    ar1_kernel,
    gaussian_kernel,
    monte_carlo_kernel,
    random_chain,
    sgd_coordinate_kernel,
    two_state_chain,
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
    "ar1_kernel",
    "as_optimizer",
    "check_batch",
    "gaussian_kernel",
    "ill_conditioned_quadratic",
    "least_squares",
    "least_squares_stationary_covariance",
    "logistic_regression",
    "loss_surface",
    "monte_carlo_kernel",
    "random_chain",
    "run_sgd",
    "sgd_coordinate_kernel",
    "stationary_moments",
    "two_basins",
    "two_state_chain",
]
