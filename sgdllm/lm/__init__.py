"""The language-model corner of sgdllm: loading, tokenizer adapters, Hierarchy-PDF, caching.

Chapter: *Extracting transition probabilities*.

This subpackage is the only part of sgdllm that imports transformers; torch is imported here
and by the two studies that train a network (:mod:`sgdllm.studies.self_training`, and the
network cost of :mod:`sgdllm.studies.compare`, lazily). It turns a
discretized series into next-state laws, row ``t`` being the model's law of ``s_{t+1}`` given
``s_0..s_t`` (Liu et al. 2024, Hierarchy-PDF; serialization of Gruver et al. 2023);
:func:`sgdllm.kernel.kernel_from_laws` turns them into a transition kernel.

>>> lm = load_model()                                  # doctest: +SKIP
>>> lm = load_model("smollm2-135m")                    # doctest: +SKIP
>>> laws = next_state_laws(lm, states, digits=2)       # doctest: +SKIP
"""

from sgdllm.lm.adapters import detect_adapter
from sgdllm.lm.hierarchy import next_state_laws, next_state_laws_multivariate
from sgdllm.lm.load import LanguageModel, load_model
from sgdllm.lm.registry import list_models

__all__ = [
    "LanguageModel",
    "detect_adapter",
    "list_models",
    "load_model",
    "next_state_laws",
    "next_state_laws_multivariate",
]
