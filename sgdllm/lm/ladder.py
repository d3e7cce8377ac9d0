"""The model ladder: the language models a chapter runs side by side, by id.

Chapter: *Extracting transition probabilities* (and every chapter that reads laws off a model).

The book asks whether language models *pretrained on text* read SGD's transition law in
context. Each such chapter takes a ``models`` parameter, a list of model ids, and runs its
experiment with every one of them on the same series:

* ``"embedded"``: the small specialist embedded in the package (``sgdllm/models/default``,
  trained on Markov chains, never on text);
* ``"smollm2-135m"``: SmolLM2-135M-Instruct, pretrained on text (Apache-2.0);
* ``"gemma-3-270m"``: Gemma 3 270M, pretrained on text (Gemma Terms of Use);
* any other id :func:`sgdllm.lm.load_model` accepts: a directory, a ``.gguf`` file, a Hub id.

A chapter records a number measured with model ``id`` under ``"<name>@<id>"`` (the convention
the book's claims table reads), and the counted estimators under ``"<name>@counts"``.

Laws are cached on disk under :func:`laws_cache_dir` (``sgdllm book`` points it at
``_build/laws-cache``), keyed by the model's weights hash, the series and the settings
(:mod:`sgdllm.lm.cache`), so a rebuild that changes only a chapter's prose reuses every law.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sgdllm.lm.load import LanguageModel, load_model
from sgdllm.lm.registry import KNOWN_MODELS

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "EMBEDDED",
    "LADDER",
    "LAWS_CACHE_ENV",
    "check_models",
    "ladder_laws",
    "laws_cache_dir",
    "load_ladder",
    "model_title",
]

#: Id of the model embedded in the package (``load_model(None)``).
EMBEDDED = "embedded"
#: The book's ladder, smallest first: the embedded specialist, then the text-pretrained LLMs.
LADDER = (EMBEDDED, "smollm2-135m", "gemma-3-270m")
#: Environment variable naming the laws cache directory (set by ``sgdllm book``).
LAWS_CACHE_ENV = "SGDLLM_LAWS_CACHE"

_TITLES = {
    EMBEDDED: "embedded (0.8M)",
    "smollm2-135m": "SmolLM2-135M",
    "gemma-3-270m": "Gemma 3 270M",
}


def check_models(models: Sequence[str] | str) -> list[str]:
    """The model ids of a chapter's ``models`` parameter, checked before any model loads.

    Parameters
    ----------
    models : sequence of str
        Ids (:data:`LADDER`'s, a local directory, a ``.gguf`` file or a Hub id); a single
        string is refused, since ``"smollm2-135m"`` iterated would be letters.

    Raises
    ------
    TypeError
        ``models`` is a string or holds something other than strings.
    ValueError
        It is empty or names a model twice.
    """
    if isinstance(models, str) or not isinstance(models, Sequence):
        raise TypeError(
            f"models must be a list of model ids, got {models!r}; write e.g. "
            f"models=['embedded', 'smollm2-135m']"
        )
    ids = list(models)
    if not ids:
        raise ValueError(f"models is empty; name at least one of {', '.join(LADDER)}")
    bad = [m for m in ids if not isinstance(m, str) or not m]
    if bad:
        raise TypeError(f"every model id must be a non-empty string, got {bad!r}")
    twice = sorted({m for m in ids if ids.count(m) > 1})
    if twice:
        raise ValueError(f"models names {', '.join(twice)} more than once; list each model once")
    return ids


def model_title(model_id: str) -> str:
    """A short name for legends and tables (``"SmolLM2-135M"``); other ids as given."""
    if model_id in _TITLES:
        return _TITLES[model_id]
    known = KNOWN_MODELS.get(model_id)
    return known.name if known is not None else Path(model_id).name or model_id


def load_ladder(models: Sequence[str], **kwargs: Any) -> dict[str, LanguageModel]:
    """Load every model of ``models`` (:func:`check_models`), in order, keyed by id.

    ``"embedded"`` loads the package's model (``load_model(None)``); other ids go to
    :func:`sgdllm.lm.load_model` as they are. ``kwargs`` (``device``, ``dtype``) go to every
    load.
    """
    ids = check_models(models)
    return {m: load_model(None if m == EMBEDDED else m, **kwargs) for m in ids}


def laws_cache_dir() -> Path | None:
    """The laws cache directory chapters pass to ``next_state_laws(cache_dir=...)``.

    ``$SGDLLM_LAWS_CACHE`` if set (``sgdllm book`` sets it to ``_build/laws-cache``), else
    ``None``: a chapter run by hand computes every law.
    """
    value = os.environ.get(LAWS_CACHE_ENV, "").strip()
    return Path(value) if value else None


def ladder_laws(
    lm: LanguageModel,
    model_id: str,
    states: ArrayLike,
    digits: int,
    *,
    refine: str = "adaptive",
    tol: float | None = None,
) -> NDArray[np.float64]:
    """One model's laws of a series, read as the chapters of the ladder read them.

    Chapters: *Extracting transition probabilities* and *The embedded language model*.

    The embedded model (:data:`EMBEDDED`) gives its exact law (full refinement, the
    default of :func:`sgdllm.lm.next_state_laws`); every other model is read with ``refine``
    and ``tol`` (the adaptive Hierarchy-PDF within total variation ``tol`` of its exact law on
    every row), since a text-pretrained model reads far fewer laws per second. Laws are cached
    under :func:`laws_cache_dir`; no progress bar is shown.

    Parameters
    ----------
    lm : LanguageModel
        The model ``model_id`` names (from :func:`load_ladder`).
    model_id : str
        Its id in the chapter's ``models``.
    states : array_like of int, shape (T,)
        The series, states in ``0..10**digits - 1``.
    digits : int
        Digits per value.
    refine, tol
        Refinement of the models other than the embedded one (as in ``next_state_laws``).

    Returns
    -------
    ndarray, shape (T, 10**digits)
        Row ``t``: the law of ``s_{t+1}`` given ``s_0..s_t``.
    """
    from sgdllm.lm.hierarchy import next_state_laws

    how = {} if model_id == EMBEDDED else {"refine": refine, "tol": tol}
    return next_state_laws(lm, states, digits, progress=False, cache_dir=laws_cache_dir(), **how)
