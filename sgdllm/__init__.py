"""sgdllm: can language models predict the convergence of SGD?

Companion package of Zekri, Benechehab & Redko (2024), arXiv:2408.01736. Data flows one way::

    problems + optimizers -> run_sgd -> trajectories (runs, steps + 1, d)
    trajectories -> discretize -> states (+ scaler), text
    states -> kernel (count_kernel | kernel_from_laws of a language model)
    kernel -> impute -> propagate / sample -> predictions -> metrics

The language-model side (``sgdllm.lm``: loading, tokenizer adapters, Hierarchy-PDF) is imported
only when ``load_model`` or ``next_state_laws`` is first used, so ``import sgdllm`` stays free
of torch and transformers.
"""

from importlib.metadata import PackageNotFoundError, version

from sgdllm.discretize import (
    RangeWarning,
    Scaler,
    discretize,
    discretize_trajectory,
    fit_scaler,
    parse,
    serialize,
)
from sgdllm.impute import impute
from sgdllm.kernel import Kernel, count_kernel, cv_bandwidth, kernel_from_laws, rule_bandwidth
from sgdllm.metrics import bhattacharyya, kl, row_distance, spectral_gap, stationary_law, tv, w1
from sgdllm.predict import (
    basin_frequencies,
    basin_probabilities,
    compare_with_runs,
    dirac,
    initial_law,
    predict_laws,
    propagate,
    sample_paths,
    sample_trajectories,
)
from sgdllm.sgd.optimizers import SGD, AdaGrad, Adam, RMSProp
from sgdllm.sgd.problems import (
    ill_conditioned_quadratic,
    least_squares,
    logistic_regression,
    two_basins,
)
from sgdllm.sgd.runs import least_squares_stationary_covariance, run_sgd, stationary_moments

try:
    __version__ = version("sgdllm")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

_LAZY = {"load_model", "next_state_laws", "next_state_laws_multivariate", "LanguageModel"}


def __getattr__(name: str):
    """Lazy access to the language-model entry points of :mod:`sgdllm.lm`."""
    if name in _LAZY:
        from sgdllm import lm

        return getattr(lm, name)
    raise AttributeError(f"module 'sgdllm' has no attribute {name!r}")


__all__ = [
    "SGD",
    "AdaGrad",
    "Adam",
    "Kernel",
    "LanguageModel",
    "RMSProp",
    "RangeWarning",
    "Scaler",
    "__version__",
    "basin_frequencies",
    "basin_probabilities",
    "bhattacharyya",
    "compare_with_runs",
    "count_kernel",
    "cv_bandwidth",
    "dirac",
    "discretize",
    "discretize_trajectory",
    "fit_scaler",
    "ill_conditioned_quadratic",
    "impute",
    "initial_law",
    "kernel_from_laws",
    "kl",
    "least_squares",
    "least_squares_stationary_covariance",
    "load_model",
    "logistic_regression",
    "next_state_laws",
    "next_state_laws_multivariate",
    "parse",
    "predict_laws",
    "propagate",
    "row_distance",
    "rule_bandwidth",
    "run_sgd",
    "sample_paths",
    "sample_trajectories",
    "serialize",
    "spectral_gap",
    "stationary_law",
    "stationary_moments",
    "tv",
    "two_basins",
    "w1",
]
