"""Hierarchy-PDF: the law of the next state read off a language model, digit by digit.

Chapter: *Extracting transition probabilities*.

A causal language model reads the serialized series ``s_0, s_1, ..., s_t`` (LLMTime format,
Gruver et al. 2023) and its softmax over the next token, restricted to the digit tokens, gives
the law of the first digit of ``s_{t+1}``; fed the first digit, the law of the second; and so
on. Writing a value as symbols ``a_0 a_1 ... a_{m-1}`` (digits, or one number token, see
:mod:`sgdllm.lm.adapters`), the model's law of the next value is the product of the restricted
softmaxes along the word,

.. math::

    P(s_{t+1} = a_0 \\dots a_{m-1} \\mid s_{0:t}) = \\prod_{k=0}^{m-1}
    \\frac{\\exp \\ell_k(a_k \\mid s_{0:t}, a_{<k})}
         {\\sum_{b < r_k} \\exp \\ell_k(b \\mid s_{0:t}, a_{<k})},

with ``\\ell_k`` the logits of the token at level ``k``. This is Liu et al. 2024's
Hierarchy-PDF ("LLMs learn governing principles of dynamical systems, revealing an in-context
neural scaling law"): a tree of ``10**digits`` bins, each node refined by one 10-way softmax.

How it is computed here (one window of the series at a time):

1. **Main branch.** One teacher-forced forward pass over the serialized window gives, at every
   value, the law of its first digit and of each next digit given the *observed* previous
   digits; it also leaves the keys and values of every position in a KV cache.
2. **Branches the data did not take.** A node ``(a_0, ..., a_{k-1})`` off the observed path
   needs the model's output after hypothetical tokens. Its last token ``a_{k-1}`` is placed at
   its true position and attends only to the cached main keys *before the branch point* and to
   its own ancestors in the branch; all such nodes of one depth, for all values of a chunk,
   go through the model in **one** forward pass, with explicit ``position_ids`` and a 4-D
   additive attention mask over ``[cached main tokens | earlier branch tokens | new tokens]``.
   The Hugging Face model's own forward is used (transformers honours a custom 4-D mask with
   ``past_key_values``), so any causal LM with SDPA or eager attention works, whatever its
   positional scheme.
3. **Combination.** A refined node's law replaces its bin's mass split (its mass times the
   10-way law); a node that is not refined spreads its mass uniformly over its sub-bins.

What makes it fast:

* **Restricted head.** Only the logits of the digit and separator ids are read, so the output
  layer is projected on their rows only, at the positions read (:func:`check_restricted_head`
  checks once per model, on a probe, that this reproduces the model's own logits, Gemma's
  soft-capping and an output bias included, and falls back to the full head otherwise).
* **KV buffers allocated once per window.** Branch tokens are written in place after the main
  positions a chunk may see, instead of concatenating the whole cache at every pass; chunks
  run from the last to the first, so each overwrites only main positions no later chunk needs.
* **Adaptive refinement** (``refine="adaptive"``, :func:`next_state_laws_with_bound`): nodes
  whose mass is too small to matter are left unrefined, within a stated bound ``tol`` on the
  total variation to full refinement, reported per law. How much it saves depends on how
  concentrated the model's laws are.

Cost per value at full refinement: ``digits + 1`` teacher-forced tokens plus
``sum_{k=1}^{n-1} (10^k - 1) = (10^n - 1)/9 - n`` branch tokens (0, 9 and 108 for ``n`` = 1, 2,
3), against ``10^n`` sequences for naive scoring of every value.

Series longer than the model's context are cut into windows (:func:`plan_windows`): each
holds as many values as fit (:func:`values_per_window`; for the embedded model's 1024
positions with a BOS token: 340 values at 2 digits, 255 at 3) and re-uses the last
``min_context`` values of the previous one (default half a window: 170 and 127), so every law
after the first window is conditioned on at least ``min_context`` values.

Row ``t`` of the result is the law of value ``t + 1`` given values ``0..t``: it is read right
after the separator that follows value ``t``. Row 0 is thus the law of value 1 given value 0,
and the last row predicts the unseen value after the series. (The public research code has an
off-by-one here; see the *Extracting transition probabilities* chapter.)
"""

from __future__ import annotations

import functools
import inspect
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from tqdm import tqdm  # plain text bars: tqdm.auto warns in notebooks without ipywidgets

from sgdllm.discretize import MAX_DIGITS, check_digits, check_states
from sgdllm.lm import cache as disk_cache
from sgdllm.lm.adapters import Adapter, Encoding, symbols
from sgdllm.lm.load import LanguageModel

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_TOL",
    "REFINE_MODES",
    "HeadCheck",
    "HierarchyStep",
    "TokenCost",
    "TokenCounter",
    "Window",
    "brute_force_laws",
    "check_restricted_head",
    "coarsen_laws",
    "hierarchy_step",
    "next_state_laws",
    "next_state_laws_multivariate",
    "next_state_laws_with_bound",
    "plan_windows",
    "token_cost",
    "values_per_window",
]

#: Refinement modes: every branch, only the observed first digit and its neighbours, or only
#: where the mass calls for it (within a total variation ``tol`` of full refinement).
REFINE_MODES = ("full", "neighbours", "adaptive")
#: Default bound on the total variation to full refinement of ``refine="adaptive"``.
DEFAULT_TOL = 1e-3
#: Default maximum number of tokens in one forward pass (main-pass chunks and branch passes).
DEFAULT_BATCH_SIZE = 1024
#: Rows must sum to 1 within this tolerance before renormalization.
SUM_TOL = 1e-4


# ----------------------------------------------------------------------------- windows


@dataclass(frozen=True)
class Window:
    """A window of values ``start..stop-1`` and the rows it produces, ``first..last``.

    Row ``t`` is the law of value ``t + 1``; it is read from local value ``u = t - start + 1``
    of the window (``u = stop - start`` is the unseen value after the series).
    """

    start: int
    stop: int
    first: int
    last: int


def values_per_window(adapter: Adapter, max_positions: int) -> int:
    """Most values a window can hold within the model's context.

    A window of ``W`` values takes ``len(prefix) + W (levels + len(sep))`` tokens, and the
    hypothetical tokens of the unseen value after it need ``levels - 1`` more positions:

    .. math:: W = \\lfloor (N_{ctx} - |prefix| - (m - 1)) / (m + |sep|) \\rfloor.
    """
    free = max_positions - len(adapter.prefix_ids) - (adapter.levels - 1)
    return max(free // adapter.tokens_per_value, 0)


def plan_windows(n_values: int, window: int, min_context: int) -> list[Window]:
    """Cut a series of ``n_values`` values into overlapping windows of ``window`` values.

    The first window starts at value 0 and gives rows ``0..window-2`` with their full history.
    Each next window starts ``stride = window - min_context`` values later and re-uses the last
    ``min_context`` values of its predecessor as context, so every row is computed exactly
    once, from at least ``min_context`` previous values (rows ``t < min_context - 1`` see all
    ``t + 1`` values there are). The last window ends with the series and also gives the last
    row, the law of the unseen value after it.

    Parameters
    ----------
    n_values : int
        Length ``T`` of the series; there are ``T`` rows.
    window : int
        Values per window, at least 2.
    min_context : int
        Values of context of every row after the first window, ``1 <= min_context < window``.

    Returns
    -------
    list of Window
    """
    if n_values < 1:
        raise ValueError("the series is empty: pass at least one state to get one law")
    if window < 2:
        raise ValueError(
            f"window={window} values cannot give any law (a law needs a value of context and "
            f"room for the next one); use a model with a longer context or more values per "
            f"window"
        )
    if not 1 <= min_context < window:
        raise ValueError(
            f"min_context={min_context} must be in [1, window - 1] = [1, {window - 1}]"
        )
    out = []
    start = 0
    while True:
        stop = min(start + window, n_values)
        first = 0 if start == 0 else start + min_context - 1
        last = n_values - 1 if stop == n_values else stop - 2
        out.append(Window(start, stop, first, last))
        if stop == n_values:
            return out
        start += window - min_context


# ----------------------------------------------------------------------------- options


@dataclass(frozen=True)
class _Options:
    refine: str
    depth: int
    window: int
    min_context: int
    batch_size: int
    tol: float | None = None


def _resolve_options(
    lm: LanguageModel,
    adapter: Adapter,
    n_values: int,
    digits: int,
    refine: str | None,
    depth: int | None,
    window: int | None,
    min_context: int | None,
    batch_size: int,
    tol: float | None = None,
) -> _Options:
    if refine is None:
        refine = "full" if digits <= 3 else "neighbours"
    if refine not in REFINE_MODES:
        raise ValueError(f"refine={refine!r} is not one of {REFINE_MODES}")
    if refine == "adaptive":
        tol = DEFAULT_TOL if tol is None else tol
        if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 <= tol < 1:
            raise ValueError(
                f"tol={tol!r} must be a number in [0, 1): the largest total variation to full "
                f"refinement allowed per law (default {DEFAULT_TOL})"
            )
        tol = float(tol)
    elif tol is not None:
        raise ValueError(
            f"tol={tol!r} only applies to refine='adaptive' (got refine={refine!r}); pass "
            f"refine='adaptive' or drop tol"
        )
    depth = digits if depth is None else int(depth)
    if not 1 <= depth <= digits:
        raise ValueError(f"depth={depth} must be in [1, digits] = [1, {digits}]")
    fit = values_per_window(adapter, lm.max_positions)
    if window is None:
        window = fit
    if window > fit:
        raise ValueError(
            f"window={window} values need {len(adapter.prefix_ids)} + {window} x "
            f"{adapter.tokens_per_value} tokens but {lm.name!r} holds {lm.max_positions} "
            f"positions; pass window <= {fit}"
        )
    if window < 2:
        raise ValueError(
            f"the model's context ({lm.max_positions} tokens) cannot hold 2 values of "
            f"{adapter.tokens_per_value} tokens, so no law can be computed; use a model with "
            f"a longer context or fewer digits"
        )
    window = min(window, max(n_values, 2))
    if min_context is None:
        min_context = max(window // 2, 1)
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive number of tokens, got {batch_size}")
    return _Options(refine, depth, int(window), int(min_context), int(batch_size), tol)


# ----------------------------------------------------------------------------- model calls


def _log_softmax(logits: torch.Tensor) -> NDArray[np.float64]:
    """``log softmax`` over the last axis (in float32 at least), as float64 numpy."""
    return torch.log_softmax(logits.float(), dim=-1).double().cpu().numpy()


def _restricted_log_softmax(logits: torch.Tensor, ids: Sequence[int]) -> NDArray[np.float64]:
    """``log softmax`` of ``logits[..., ids]`` (in float32 at least), as float64 numpy."""
    index = torch.as_tensor(ids, device=logits.device)
    sub = logits.index_select(-1, index).float()
    return torch.log_softmax(sub, dim=-1).double().cpu().numpy()


def _forward(model: Any, **kwargs: Any) -> torch.Tensor:
    """Logits ``(n_keep, vocab)`` of batch item 0 at the positions ``logits_to_keep``.

    ``logits_to_keep`` is ``0`` (all positions) or a 1-D tensor of positions; models whose
    forward lacks that argument compute all logits and are indexed afterwards.
    """
    keep = kwargs.pop("logits_to_keep")
    params = inspect.signature(model.forward).parameters
    kwargs = _cache_kwarg(model, kwargs)
    if "logits_to_keep" in params:
        return model(**kwargs, logits_to_keep=keep, use_cache=True).logits[0]
    logits = model(**kwargs, use_cache=True).logits[0]
    return logits if isinstance(keep, int) else logits[keep]


# ----------------------------------------------------------------------------- restricted head
#
# Hierarchy-PDF reads the logits of a dozen token ids (digits and separator) at a few positions;
# a model's forward computes them for its whole vocabulary (49,152 columns for SmolLM2, 262,144
# for Gemma 3). The restricted head keeps the model's own forward (same body, same hooks) but
# hands its output layer an empty input and projects the hidden states on the rows of the ids
# read only, then applies the logit post-processing the model applies (a bias of the output
# layer, Gemma's ``final_logit_softcapping``). Whether that reproduces the model's logits is
# checked once per model, dtype and id set on a probe input (:func:`check_restricted_head`);
# otherwise the full head is used.

#: Relative tolerance of the probe check, in units of the dtype's machine epsilon.
HEAD_CHECK_EPS = 16
#: Tokens of the probe input of :func:`check_restricted_head`.
HEAD_PROBE_TOKENS = 24


@dataclass(frozen=True)
class HeadCheck:
    """Outcome of :func:`check_restricted_head` for one model, dtype and set of token ids.

    Attributes
    ----------
    restricted : bool
        Whether Hierarchy-PDF computes logits of the ids it reads only (else the full head).
    max_abs_diff : float
        Largest ``|restricted - full|`` logit on the probe (``inf`` when not computable).
    tolerance : float
        ``HEAD_CHECK_EPS * eps(dtype) * (1 + max |full logit|)``.
    reason : str
        Why the full head is used (empty when ``restricted``).
    """

    restricted: bool
    max_abs_diff: float
    tolerance: float
    reason: str


_PROBING = False  # TokenCounter ignores the probe's forward passes
_HEAD_CHECKS: weakref.WeakKeyDictionary[Any, dict[tuple, HeadCheck]] = weakref.WeakKeyDictionary()


def _softcap(model: Any) -> float | None:
    """The model's ``final_logit_softcapping`` (Gemma 2 and 3), if any."""
    config = model.config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    cap = getattr(text, "final_logit_softcapping", None)
    return float(cap) if cap else None


def _project(model: Any, hidden: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Logits of the token ``ids`` from final ``hidden`` states ``(..., d)``: the output
    layer's rows of ``ids`` (and bias), then the model's soft-capping ``c tanh(l / c)``."""
    head = model.get_output_embeddings()
    bias = head.bias.index_select(0, ids) if getattr(head, "bias", None) is not None else None
    logits = torch.nn.functional.linear(hidden, head.weight.index_select(0, ids), bias)
    cap = _softcap(model)
    if cap is not None:  # as Gemma3ForCausalLM.forward, in the model's dtype
        logits = torch.tanh(logits / cap) * cap
    return logits


class _HiddenTap:
    """Forward pre-hook on the output layer: keep its input, give it an empty one instead."""

    def __init__(self) -> None:
        self.hidden: list[torch.Tensor] = []

    def __call__(self, module: Any, args: tuple) -> tuple:
        self.hidden.append(args[0])
        return (args[0][..., :0, :], *args[1:])


def _cache_kwarg(model: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    params = inspect.signature(model.forward).parameters
    if "past_key_values" in kwargs and "past_key_values" not in params and "cache" in params:
        # transformers >= 5.25 names the KV cache argument ``cache`` (``past_key_values`` is
        # deprecated there and goes in 5.40); older versions only know ``past_key_values``
        kwargs["cache"] = kwargs.pop("past_key_values")
    return kwargs


def _restricted_forward(
    model: Any, ids: torch.Tensor, keep: int | torch.Tensor, **kwargs: Any
) -> torch.Tensor:
    """Logits ``(n_keep, len(ids))`` of batch item 0 through the restricted head."""
    head = model.get_output_embeddings()
    if not isinstance(head, torch.nn.Linear):
        raise TypeError(f"the output layer is a {type(head).__name__}, not a Linear layer")
    tap = _HiddenTap()
    handle = head.register_forward_pre_hook(tap)
    try:
        params = inspect.signature(model.forward).parameters
        kwargs = _cache_kwarg(model, kwargs)
        if "logits_to_keep" in params:
            model(**kwargs, logits_to_keep=keep, use_cache=True)
        else:
            model(**kwargs, use_cache=True)
    finally:
        handle.remove()
    if len(tap.hidden) != 1:
        raise RuntimeError(f"the output layer was called {len(tap.hidden)} times, not once")
    hidden = tap.hidden[0][0]
    if "logits_to_keep" not in params and not isinstance(keep, int):
        hidden = hidden[keep]
    return _project(model, hidden, ids)


def check_restricted_head(model: Any, ids: Sequence[int]) -> HeadCheck:
    """Whether the restricted head reproduces ``model``'s logits of the token ``ids``.

    On a probe of :data:`HEAD_PROBE_TOKENS` tokens (the ids in a seeded random order), the
    logits of the full forward at every position, columns ``ids``, are compared with the
    restricted head's; they must agree within ``HEAD_CHECK_EPS * eps(dtype) * (1 + max|l|)``
    (the two matrix products may round differently, a missing transformation does not pass).
    The outcome is kept per model, dtype, device and ids; the probe's passes are not counted by
    :class:`TokenCounter`.

    Parameters
    ----------
    model : transformers causal LM (``lm.model``)
    ids : sequence of int
        Token ids whose logits are read.

    Returns
    -------
    HeadCheck
    """
    global _PROBING
    param = next(model.parameters())
    key = (param.dtype, str(param.device), tuple(int(i) for i in ids))
    known = _HEAD_CHECKS.setdefault(model, {})
    if key in known:
        return known[key]
    rng = np.random.default_rng(0)
    probe = rng.choice(np.asarray(key[2]), HEAD_PROBE_TOKENS)
    index = torch.as_tensor(key[2], device=param.device)
    inputs = {
        "input_ids": torch.as_tensor(probe[None], device=param.device),
        "position_ids": torch.arange(probe.size, device=param.device)[None],
    }
    _PROBING = True
    try:
        with torch.inference_mode():
            full = model(**inputs, use_cache=False).logits[0].index_select(-1, index).float()
            tol = HEAD_CHECK_EPS * torch.finfo(param.dtype).eps * (1 + float(full.abs().max()))
            try:
                fast = _restricted_forward(model, index, 0, **inputs).float()
                diff = float((fast - full).abs().max())
                reason = (
                    "" if diff <= tol else f"restricted logits differ by {diff:.3g} > {tol:.3g}"
                )
            except (TypeError, RuntimeError, AttributeError, NotImplementedError) as err:
                diff, reason = float("inf"), str(err)
    finally:
        _PROBING = False
    known[key] = HeadCheck(not reason, diff, tol, reason)
    return known[key]


def _logits(
    model: Any, ids: Sequence[int], keep: int | torch.Tensor, **kwargs: Any
) -> torch.Tensor:
    """Logits ``(n_keep, len(ids))`` of the token ``ids`` at the positions ``keep`` of batch
    item 0 (``0``: all positions; else a 1-D tensor), restricted head when it checks out."""
    device = next(model.parameters()).device
    index = torch.as_tensor(np.asarray(ids, dtype=np.int64), device=device)
    if check_restricted_head(model, ids).restricted:
        return _restricted_forward(model, index, keep, **kwargs)
    return _forward(model, **kwargs, logits_to_keep=keep).index_select(-1, index)


@functools.cache
def _slot_layer_type() -> type:
    """A KV-cache layer class over a buffer of ``capacity`` positions allocated once.

    Appending writes in place and returns views of the first ``length`` positions, where
    transformers' ``DynamicLayer`` concatenates (a copy of the whole cache per forward pass);
    setting ``length`` back re-uses the positions after it (:func:`_window_laws` writes each
    chunk's branch tokens over main positions that no later chunk needs). Built on first use, so
    that importing sgdllm does not import transformers.
    """
    from transformers.cache_utils import DynamicLayer

    class SlotLayer(DynamicLayer):
        def __init__(self, capacity: int) -> None:
            super().__init__()
            self.capacity = capacity
            self.length = 0

        def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
            b, h, _, dk = key_states.shape
            self.keys = key_states.new_empty((b, h, self.capacity, dk))
            self.values = value_states.new_empty((b, h, self.capacity, value_states.shape[-1]))
            self.device = key_states.device
            self.is_initialized = True

        def update(
            self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kw: Any
        ) -> tuple[torch.Tensor, torch.Tensor]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            end = self.length + key_states.shape[-2]
            if end > self.capacity:
                raise RuntimeError(f"KV buffer of {self.capacity} positions cannot hold {end}")
            self.keys[:, :, self.length : end] = key_states
            self.values[:, :, self.length : end] = value_states
            self.length = end
            return self.keys[:, :, :end], self.values[:, :, :end]

        def get_seq_length(self) -> int:
            return self.length

    return SlotLayer


def _slot_cache(capacity: int) -> Any:
    """A ``DynamicCache`` whose layers are buffers of ``capacity`` positions."""
    from transformers import DynamicCache

    layer_type = _slot_layer_type()
    cache = DynamicCache()
    cache.layer_class_to_replicate = lambda: layer_type(capacity)
    return cache


def _main_pass(
    model: Any,
    ids: NDArray[np.int64],
    wanted: NDArray[np.int64],
    columns: NDArray[np.int64],
    batch_size: int,
    device: torch.device,
    capacity: int,
) -> tuple[Any, torch.Tensor]:
    """Teacher-forced pass over ``ids`` in chunks of ``batch_size`` tokens with a KV cache.

    Returns the KV cache of all positions (buffers of ``capacity >= ids.size`` positions, see
    :func:`_slot_cache`) and the logits at the positions ``wanted`` (sorted) of the token ids
    ``columns`` only (the value tokens; through the restricted head when it checks out),
    shape ``(len(wanted), len(columns))``.
    """
    cache = _slot_cache(capacity)
    chunks = []
    for lo in range(0, ids.size, batch_size):
        hi = min(lo + batch_size, ids.size)
        keep = wanted[(wanted >= lo) & (wanted < hi)] - lo
        logits = _logits(
            model,
            columns,
            torch.as_tensor(keep if keep.size else [hi - lo - 1], device=device),
            input_ids=torch.as_tensor(ids[None, lo:hi], device=device),
            position_ids=torch.arange(lo, hi, device=device)[None],
            past_key_values=cache,
        )
        if keep.size:
            chunks.append(logits)
    return cache, torch.cat(chunks) if chunks else torch.empty(0)


# ----------------------------------------------------------------------------- the tree


@dataclass
class _Tree:
    """Conditional laws of one window's targets, level by level.

    ``cond[k]`` has shape ``(n, P_k, r_k)`` with ``P_k = r_0 ... r_{k-1}`` prefixes; ``refined[k]``
    ``(n, P_k)`` says which prefixes get a law (the others are spread uniformly); ``observed[k]``
    ``(n,)`` is the observed prefix index at level ``k`` (``-1`` for the unseen value). Levels
    ``>= depth`` are never refined. ``tol`` (adaptive refinement only) is the budget of
    unrefined mass per target, ``spent`` ``(n,)`` what the refinement decisions used of it.
    """

    cond: list[NDArray[np.float64]]
    refined: list[NDArray[np.bool_]]
    observed: NDArray[np.int64]
    depth: int
    tol: float | None = None
    spent: NDArray[np.float64] | None = None

    def needed(self, k: int) -> NDArray[np.bool_]:
        """Prefixes of level ``k`` that need a branch pass: refined and off the observed path,
        shape ``(n, P_k)``."""
        prefixes = np.arange(self.refined[k].shape[1])
        return self.refined[k] & (prefixes[None, :] != self.observed[:, k, None])

    def masses(self, k: int, idx: NDArray[np.int64]) -> NDArray[np.float64]:
        """Mass of every level-``k`` node of the targets ``idx`` whose ancestors are all refined
        (the product of their conditionals; 0 for the others), shape ``(len(idx), P_k)``."""
        mass = np.ones((idx.size, 1))
        for j in range(k):
            c = np.where(self.refined[j][idx][:, :, None], self.cond[j][idx], 0.0)
            mass = (mass[:, :, None] * c).reshape(idx.size, -1)
        return mass

    def refine_adaptive(self, k: int, idx: NDArray[np.int64]) -> None:
        """Decide which level-``k`` nodes of the targets ``idx`` get a law (``k < depth``).

        Candidates are the nodes whose parent is refined; the observed one costs no branch pass
        and is always refined. Of the others, the lightest are left unrefined as long as their
        total mass stays within this level's budget, an equal share of what is left of ``tol``
        for the levels still to come, ``(tol - spent) / (depth - k)``; their mass is added to
        ``spent``. The level-``k`` conditionals of the parents must be known.
        """
        n_prefix = self.refined[k].shape[1]
        r = n_prefix // self.refined[k - 1].shape[1]
        mass = self.masses(k, idx)
        parent_ok = self.refined[k - 1][idx][:, np.arange(n_prefix) // r]
        observed = np.arange(n_prefix)[None, :] == self.observed[idx, k, None]
        candidate = parent_ok & ~observed
        budget = (self.tol - self.spent[idx]) / (self.depth - k)
        light = np.where(candidate, mass, np.inf)
        order = np.argsort(light, axis=1, kind="stable")
        ranked = np.take_along_axis(light, order, axis=1)
        finite = np.isfinite(ranked)
        cum = np.cumsum(np.where(finite, ranked, 0.0), axis=1)
        skip = np.zeros_like(candidate)
        np.put_along_axis(skip, order, finite & (cum <= budget[:, None]), axis=1)
        self.refined[k][idx] = (candidate & ~skip) | (observed & parent_ok)
        self.spent[idx] += np.where(candidate & skip, mass, 0.0).sum(axis=1)

    def combine(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Laws over all ``prod r_k`` values, ``mass_{k+1} = mass_k x cond_k`` (uniform if not
        refined), shape ``(n, K)``, and the bound ``(n,)`` on their total variation to full
        refinement: the total mass of the unrefined nodes of levels ``< depth`` whose parent is
        refined."""
        n = self.cond[0].shape[0]
        mass = np.ones((n, 1))
        bound = np.zeros(n)
        for k, (cond, refined) in enumerate(zip(self.cond, self.refined, strict=True)):
            if 0 < k < self.depth:
                r_parent = refined.shape[1] // self.refined[k - 1].shape[1]
                parent = self.refined[k - 1][:, np.arange(refined.shape[1]) // r_parent]
                bound += np.where(parent & ~refined, mass, 0.0).sum(axis=1)
            r = cond.shape[2]
            c = np.where(refined[:, :, None], cond, 1.0 / r)
            mass = (mass[:, :, None] * c).reshape(n, -1)
        return mass, bound


def _refined_sets(
    radices: tuple[int, ...],
    n: int,
    opts: _Options,
    center: NDArray[np.int64],
) -> list[NDArray[np.bool_]]:
    """Which prefixes of each level get their own law.

    ``full``: all prefixes shorter than ``depth``. ``neighbours`` (Liu et al. 2024): those whose
    first symbol is within 1 of ``center`` (the observed first digit, or the most likely one for
    the unseen value), still only shorter than ``depth``. ``adaptive``: none yet, decided level
    by level (:meth:`_Tree.refine_adaptive`). Level 0 is always refined. The sets are closed
    under taking prefixes, so a refined node's parent is refined.
    """
    out = [np.ones((n, 1), dtype=bool)]
    for k in range(1, len(radices)):
        n_prefix = int(np.prod(radices[:k]))
        if k >= opts.depth or opts.refine == "adaptive":
            out.append(np.zeros((n, n_prefix), dtype=bool))
            continue
        if opts.refine == "full":
            out.append(np.ones((n, n_prefix), dtype=bool))
            continue
        first = np.arange(n_prefix) // int(np.prod(radices[1:k]))
        out.append(np.abs(first[None, :] - center[:, None]) <= 1)
    return out


def _attention_mask(
    main_len: NDArray[np.int64],
    ancestors: NDArray[np.int64],
    n_main: int,
    cache_len: int,
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    """Additive 4-D mask ``(1, 1, E, cache_len + E)`` for ``E`` branch tokens.

    Branch token ``i`` sees the cached main positions ``< main_len[i]``, the cached branch
    tokens ``ancestors[i]`` (``-1`` = none) and itself; everything else gets the most negative
    number of ``dtype`` (SDPA and eager attention both add the mask to the scores).
    """
    e = main_len.size
    allowed = np.zeros((e, cache_len + e), dtype=bool)
    allowed[:, :n_main] = np.arange(n_main)[None, :] < main_len[:, None]
    rows, cols = np.nonzero(ancestors >= 0)
    allowed[rows, ancestors[rows, cols]] = True
    allowed[np.arange(e), cache_len + np.arange(e)] = True
    mask = torch.zeros(allowed.shape, dtype=dtype, device=device)
    mask.masked_fill_(torch.as_tensor(~allowed, device=device), torch.finfo(dtype).min)
    return mask[None, None]


def _branch_capacity(radices: tuple[int, ...], batch_size: int) -> int:
    """Most branch tokens of one chunk (:func:`_chunks`): at most ``batch_size`` per level, or
    one target's ``P_k`` nodes of level ``k`` when they alone exceed it."""
    return sum(max(batch_size, int(np.prod(radices[:k]))) for k in range(1, len(radices)))


def _chunks(counts: NDArray[np.int64], batch_size: int) -> list[slice]:
    """Consecutive target slices whose branch tokens per level stay within ``batch_size``.

    ``counts`` is ``(n, levels)``; a slice always holds at least one target.
    """
    out, lo, total = [], 0, np.zeros(counts.shape[1], dtype=np.int64)
    for i in range(counts.shape[0]):
        if i > lo and (total + counts[i]).max() > batch_size:
            out.append(slice(lo, i))
            lo, total = i, np.zeros_like(total)
        total += counts[i]
    out.append(slice(lo, counts.shape[0]))
    return out


def _branch_chunk(
    model: Any,
    adapter: Adapter,
    cache: Any,
    tree: _Tree,
    pos: NDArray[np.int64],
    targets: slice,
    n_total: int,
    device: torch.device,
) -> None:
    """Fill ``tree.cond`` for the branch nodes of ``targets``: one forward pass per level.

    Node ``(a_0..a_{k-1})`` at level ``k`` is token ``a_{k-1}`` at position ``pos[u, k-1]``. If
    its parent is on the observed path, it sees main positions ``< pos[u, k-1]``; otherwise it
    sees what its parent sees, plus the parent. ``cache`` holds the window's main pass; its
    buffers are cut back to the main positions this chunk may see, and the chunk's branch
    tokens are written after them (over main positions of later targets, whose chunks must
    have gone before; ``n_total`` is the number of main positions). Under adaptive
    refinement, the nodes of each level ``k >= 2`` are chosen once the level ``k - 1``
    conditionals of the chunk are known.
    """
    radices = adapter.radices
    if len(radices) == 1:
        return
    idx = np.arange(targets.start, targets.stop)
    n = idx.size
    # Per level: for every (target, prefix) its main length, ancestors and cache index.
    main_len_prev = pos[idx, 0][:, None].copy()  # level 0: the root sees main < pos[u, 0]
    anc_prev = np.full((n, 1, 0), -1, dtype=np.int64)
    slot_prev = np.full((n, 1), -1, dtype=np.int64)
    # Main positions any node of the chunk may see (the unseen value sees all of them).
    n_main = min(int(pos[idx, : len(radices) - 1].max()), n_total)
    for layer in cache.layers:
        layer.length = n_main
    cache_len = n_main
    dtype = next(model.parameters()).dtype
    for k in range(1, len(radices)):
        if tree.tol is not None and 2 <= k < tree.depth:
            tree.refine_adaptive(k, idx)
        needed = tree.needed(k)[idx]
        r = radices[k - 1]
        n_prefix = int(np.prod(radices[:k]))
        prefixes = np.arange(n_prefix)
        parent = prefixes // r
        on_path = parent[None, :] == tree.observed[idx, k - 1, None]
        main_len = np.where(on_path, pos[idx, k - 1][:, None], main_len_prev[:, parent])
        parent_slot = np.where(on_path, -1, slot_prev[:, parent])
        anc = np.concatenate([anc_prev[:, parent, :], parent_slot[:, :, None]], axis=2)
        ti, pi = np.nonzero(needed)
        slot = np.full((n, n_prefix), -1, dtype=np.int64)
        if ti.size:
            e = ti.size
            tokens = np.asarray(adapter.level_ids[k - 1])[pi % r]
            positions = pos[idx[ti], k - 1]
            mask = _attention_mask(main_len[ti, pi], anc[ti, pi], n_main, cache_len, dtype, device)
            logits = _logits(
                model,
                adapter.level_ids[k],
                0,
                input_ids=torch.as_tensor(tokens[None], device=device),
                position_ids=torch.as_tensor(positions[None], device=device),
                attention_mask=mask,
                past_key_values=cache,
            )
            tree.cond[k][idx[ti], pi] = np.exp(_log_softmax(logits))
            slot[ti, pi] = cache_len + np.arange(e)
            cache_len += e
        main_len_prev, anc_prev, slot_prev = main_len, anc, slot


def _window_laws(
    lm: LanguageModel,
    adapter: Adapter,
    states: NDArray[np.int64],
    window: Window,
    opts: _Options,
    bar: Any,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Laws of rows ``window.first..window.last`` from one window, shape ``(rows, K)``, and
    the bounds ``(rows,)`` on their total variation to full refinement."""
    radices = adapter.radices
    m = len(radices)
    values = states[window.start : window.stop]
    enc: Encoding = adapter.encode(values)
    u = np.arange(window.first, window.last + 1) - window.start + 1  # local target values
    n = u.size
    seen = u < values.size
    pos = enc.value_pos[u]  # (n, m)
    sym = np.zeros((n, m), dtype=np.int64)
    sym[seen] = symbols(values[u[seen]], radices)
    observed = np.zeros((n, m), dtype=np.int64)
    for k in range(1, m):
        observed[:, k] = observed[:, k - 1] * radices[k - 1] + sym[:, k - 1]
    observed[~seen, 1:] = -1
    # Main pass: logits before every observed level (within depth) and before unseen values.
    levels = np.arange(m)
    use = (levels[None, :] < opts.depth) & (seen[:, None] | (levels[None, :] == 0))
    ti, ki = np.nonzero(use)
    where = pos[ti, ki] - 1
    wanted, inverse = np.unique(where, return_inverse=True)
    columns = np.unique(np.concatenate([np.asarray(ids) for ids in adapter.level_ids]))
    cache, logits = _main_pass(
        lm.model,
        enc.ids,
        wanted,
        columns,
        opts.batch_size,
        lm.device,
        enc.ids.size + _branch_capacity(radices, opts.batch_size),
    )
    cond = [np.full((n, int(np.prod(radices[:k])), radices[k]), np.nan) for k in range(m)]
    for k in range(m):
        sel = ki == k
        if sel.any():
            rows = logits[torch.as_tensor(inverse[sel], device=logits.device)]
            at = np.searchsorted(columns, adapter.level_ids[k])
            lp = _log_softmax(rows.index_select(-1, torch.as_tensor(at, device=rows.device)))
            cond[k][ti[sel], observed[ti[sel], k]] = np.exp(lp)
    center = np.where(seen, sym[:, 0], np.argmax(cond[0][:, 0], axis=1))
    tol = opts.tol if opts.refine == "adaptive" else None
    tree = _Tree(
        cond, _refined_sets(radices, n, opts, center), observed, opts.depth, tol, np.zeros(n)
    )
    counts = np.stack([tree.needed(k).sum(axis=1) for k in range(m)], axis=1)
    if tol is not None and m > 1 and opts.depth > 1:
        tree.refine_adaptive(1, np.arange(n))
        counts[:, 1] = tree.needed(1).sum(axis=1)
        refined_1 = tree.refined[1].sum(axis=1)
        for k in range(2, opts.depth):  # upper bounds: every descendant of a refined node
            counts[:, k] = refined_1 * int(np.prod(radices[1:k]))
    # Branch passes, chunked over targets, the last chunk first (see _branch_chunk).
    for chunk in reversed(_chunks(counts, opts.batch_size)):
        _branch_chunk(lm.model, adapter, cache, tree, pos, chunk, enc.ids.size, lm.device)
        bar.update(chunk.stop - chunk.start)
    return tree.combine()


# ----------------------------------------------------------------------------- checks


def _check_laws(laws: NDArray[np.float64], name: str) -> NDArray[np.float64]:
    """Raise on non-finite rows or rows not summing to 1 (within ``SUM_TOL``); renormalize."""
    bad = ~np.isfinite(laws).all(axis=1)
    if bad.any():
        raise FloatingPointError(
            f"the law of row {int(np.argmax(bad))} from {name!r} is not finite (NaN/Inf logits); "
            f"load the model in float32 (dtype='float32') or check its weights"
        )
    sums = laws.sum(axis=1)
    off = np.abs(sums - 1.0) > SUM_TOL
    if off.any():
        i = int(np.argmax(off))
        raise FloatingPointError(
            f"the law of row {i} from {name!r} sums to {sums[i]:.6g}, not 1; this is a bug in "
            f"the refinement (please report it with the settings used)"
        )
    return laws / sums[:, None]


def _check_attention(model: Any) -> None:
    impl = getattr(model.config, "_attn_implementation", None)
    if impl not in ("sdpa", "eager"):
        raise ValueError(
            f"the model uses attn_implementation={impl!r}, which ignores the custom 4-D masks "
            f"of the branch passes; load it with load_model (which picks 'sdpa') or call "
            f"model.set_attn_implementation('sdpa')"
        )


def _as_states(states: ArrayLike, digits: int) -> NDArray[np.int64]:
    s = np.asarray(states)
    if s.ndim != 1:
        raise ValueError(
            f"next_state_laws expects a 1-D series of states, got shape {s.shape}; use "
            f"next_state_laws_multivariate for (T, d) arrays"
        )
    if s.size == 0:
        raise ValueError("the series is empty: pass at least one state to get one law")
    return check_states(s, digits, caller="next_state_laws")


def coarsen_laws(laws: NDArray[np.float64], digits: int, depth: int) -> NDArray[np.float64]:
    """Keep the first ``depth`` digits of laws over ``10**digits`` values, spread the rest.

    Each block of ``10**(digits - depth)`` states sharing their first ``depth`` digits gets its
    mass spread uniformly: the laws a Hierarchy-PDF that stops at ``depth`` would give
    (``next_state_laws(..., depth=depth)``). ``tv(laws, coarsen_laws(laws, digits, 1))`` says
    how much the digits after the first tell (chapter *Extracting transition probabilities*).

    Parameters
    ----------
    laws : ndarray, shape (T, 10**digits)
    digits, depth : int
        ``1 <= depth``; ``depth >= digits`` returns ``laws`` unchanged.
    """
    laws = np.asarray(laws, dtype=np.float64)
    if laws.ndim != 2 or laws.shape[1] != 10**digits:
        raise ValueError(f"laws must have shape (T, 10**digits = {10**digits}), got {laws.shape}")
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    if depth >= digits:
        return laws
    n = laws.shape[0]
    fine = 10 ** (digits - depth)
    coarse = laws.reshape(n, -1, fine).sum(axis=2, keepdims=True)
    return np.broadcast_to(coarse / fine, (n, 10**depth, fine)).reshape(n, -1).copy()


# ----------------------------------------------------------------------------- public API


def next_state_laws(
    lm: LanguageModel,
    states: ArrayLike,
    digits: int,
    *,
    refine: str | None = None,
    tol: float | None = None,
    depth: int | None = None,
    window: int | None = None,
    min_context: int | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> NDArray[np.float64]:
    """The language model's law of every next state of a series (Hierarchy-PDF).

    Row ``t`` is ``P(s_{t+1} = . | s_0, ..., s_t)`` over the ``K = 10**digits`` states, the
    product over digit levels of the model's softmax restricted to the digit tokens (Liu et al.
    2024; serialization of Gruver et al. 2023); see the module docstring for the algorithm.
    ``kernel_from_laws(states, laws, digits)`` turns the rows into a transition kernel.
    :func:`next_state_laws_with_bound` also returns, per row, a bound on the total variation
    to full refinement.

    Parameters
    ----------
    lm : LanguageModel
        From :func:`sgdllm.lm.load_model`.
    states : array_like of int, shape (T,)
        States in ``0..K-1`` (from :func:`sgdllm.discretize.discretize`).
    digits : int
        Digits per value.
    refine : {"full", "neighbours", "adaptive"}, optional
        ``"full"`` refines every branch (the exact model law over all ``K`` values);
        ``"neighbours"`` only the observed first digit and its two neighbours (Liu et al.'s
        default; the unseen last value uses its most likely first digit), the other first-digit
        bins keeping their mass spread uniformly; ``"adaptive"`` only the nodes whose mass
        matters, within a total variation ``tol`` of full refinement on every row (see
        :func:`next_state_laws_with_bound`). Default: full for ``digits <= 3``.
        Number-token models (one softmax per value) always give the full law.
    tol : float, optional
        For ``refine="adaptive"`` only: the bound on the total variation to full refinement
        of every row, in ``[0, 1)`` (default :data:`DEFAULT_TOL`); ``0`` refines every node of
        non-zero mass (full refinement).
    depth : int, optional
        Digit levels resolved, ``1..digits`` (default all); deeper digits are uniform within
        their bin.
    window : int, optional
        Values per window (default: as many as the model's context holds, see
        :func:`values_per_window`). Longer series are cut into windows by
        :func:`plan_windows`.
    min_context : int, optional
        Values of context of every law after the first window (default ``window // 2``): each
        window re-uses the last ``min_context`` values of the previous one.
    cache_dir : str or path, optional
        Directory of cached results (:mod:`sgdllm.lm.cache`); ``None`` computes every time.
    progress : bool
        Show a progress bar (tqdm) over the laws computed.
    batch_size : int
        Maximum tokens per forward pass (memory bound); does not change the result.

    Returns
    -------
    ndarray, shape (T, K)
        Rows are non-negative and sum to 1.
    """
    laws, _ = next_state_laws_with_bound(
        lm,
        states,
        digits,
        refine=refine,
        tol=tol,
        depth=depth,
        window=window,
        min_context=min_context,
        cache_dir=cache_dir,
        progress=progress,
        batch_size=batch_size,
    )
    return laws


def next_state_laws_with_bound(
    lm: LanguageModel,
    states: ArrayLike,
    digits: int,
    *,
    refine: str | None = None,
    tol: float | None = None,
    depth: int | None = None,
    window: int | None = None,
    min_context: int | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """:func:`next_state_laws` and, per row, a bound on its total variation to full refinement.

    A node of the digit tree that is not refined spreads its mass ``m`` uniformly over its
    bin, where full refinement splits it by the model's conditionals; the two laws differ on
    that bin only, by ``m TV(uniform, model) <= m``. The bins of distinct unrefined nodes whose
    parent is refined are disjoint, and the nodes above them are refined, hence carry the same
    mass in both laws, so

    .. math::

        \\mathrm{TV}(p_{\\mathrm{refine}}, p_{\\mathrm{full}})
        \\le \\sum_{\\text{unrefined } v,\\ \\text{parent refined}} m(v) =: B,

    ``B`` the returned bound (0 at full refinement; relative to full refinement at the same
    ``depth``; exact up to the float rounding of the laws: two batchings of the same passes
    differ by about ``1e-6`` in total variation for a 30-layer float32 model).

    ``refine="adaptive"`` keeps ``B <= tol`` on every row: level by level, the nodes whose
    parent is refined are candidates (the observed one comes free from the teacher-forced
    pass), and the lightest are left unrefined while their total mass stays within the level's
    budget, an equal share of what is left of ``tol`` for the levels still to come; the rest
    get a branch token each. The tree of an AR-like series holds most of its mass in a few
    nodes, so most of the ``(10^n - 1)/9 - n`` branch tokens of full refinement are skipped.

    Parameters
    ----------
    As :func:`next_state_laws`.

    Returns
    -------
    laws : ndarray, shape (T, K)
    bound : ndarray, shape (T,)
        ``B`` per row, ``<= tol`` under ``refine="adaptive"``.
    """
    if not isinstance(lm, LanguageModel):
        raise TypeError(
            f"lm must be a LanguageModel from sgdllm.lm.load_model (or wrap_model), got "
            f"{type(lm).__name__}"
        )
    if cache_dir is not None:  # before the laws are computed, not when they are saved
        from sgdllm.outputs import check_output_dir

        check_output_dir(cache_dir, option="cache_dir", probe=False)
    digits = check_digits(digits, MAX_DIGITS)
    s = _as_states(states, digits)
    adapter = lm.adapter_for(digits)
    opts = _resolve_options(
        lm, adapter, s.size, digits, refine, depth, window, min_context, batch_size, tol
    )
    _check_attention(lm.model)
    key = None
    if cache_dir is not None:
        options = {
            "refine": opts.refine,
            "depth": opts.depth,
            "window": opts.window,
            "min_context": opts.min_context,
        }
        if opts.tol is not None:
            options["tol"] = opts.tol
        key = disk_cache.laws_key(
            weights_hash=lm.weights_hash,
            dtype=str(lm.dtype),
            adapter=adapter.describe(),
            states=s,
            digits=digits,
            options=options,
        )
        hit = disk_cache.load_laws_and_bound(cache_dir, key, (s.size, 10**digits))
        if hit is not None:
            return hit
    plan = plan_windows(s.size, opts.window, opts.min_context)
    rows, bounds = [], []
    with (
        torch.inference_mode(),
        tqdm(
            total=s.size, disable=not progress, desc=f"Hierarchy-PDF ({lm.name})", unit="law"
        ) as bar,
    ):
        for w in plan:
            laws_w, bound_w = _window_laws(lm, adapter, s, w, opts, bar)
            rows.append(laws_w)
            bounds.append(bound_w)
    laws = _check_laws(np.concatenate(rows), lm.name)
    bound = np.concatenate(bounds)
    if adapter.levels == 1:
        laws = coarsen_laws(laws, digits, opts.depth)
    if cache_dir is not None and key is not None:
        disk_cache.save_laws(cache_dir, key, laws, bound=bound)
    return laws, bound


def next_state_laws_multivariate(
    lm: LanguageModel,
    states: ArrayLike,
    digits: int,
    **kwargs: Any,
) -> list[NDArray[np.float64]]:
    """Next-state laws of every coordinate of a ``(T, d)`` series, one series at a time.

    Channel independence (the paper's diagonal blocks ``P^(ii)``): coordinate ``i`` is
    serialized and read on its own, so ``out[i]`` is ``next_state_laws(lm, states[:, i],
    digits, **kwargs)``, shape ``(T, 10**digits)``.
    """
    arr = np.asarray(states)
    if arr.ndim != 2:
        raise ValueError(
            f"next_state_laws_multivariate expects states of shape (T, d), got {arr.shape}; "
            f"use next_state_laws for one coordinate"
        )
    return [next_state_laws(lm, arr[:, i], digits, **kwargs) for i in range(arr.shape[1])]


# ----------------------------------------------------------------------------- one step, by hand
#
# Chapter *Extracting transition probabilities*: the algorithm written out for one step (a
# depth-first walk over the digit tree with a KV cache restored at every branch point), naive
# scoring of every continuation (the reference Hierarchy-PDF must equal), and token counts.


@dataclass(frozen=True)
class HierarchyStep:
    """The digit tree of one step: conditional laws level by level, and their product.

    Attributes
    ----------
    conditionals : list of ndarray
        ``conditionals[k]`` has shape ``(P_k, r_k)`` (``P_k = r_0 ... r_{k-1}`` prefixes):
        row ``p`` is ``P(a_k = . | a_{<k} = p)``, the prefix ``p`` read as a mixed-radix number.
        ``conditionals[0]`` is ``(1, r_0)``, the law of the first digit read at the separator.
        Rows of prefixes that were not refined are uniform.
    refined : list of ndarray of bool
        ``refined[k]`` ``(P_k,)``: which prefixes got their own law from the model.
    law : ndarray, shape (K,)
        Product of the conditionals along every path: the law of the next value.
    context_tokens : int
        Tokens of the one teacher-forced pass over the context (prefix, values, separators).
    branch_passes : int
        Single-token forward passes, one per refined node below the root.
    """

    conditionals: list[NDArray[np.float64]]
    refined: list[NDArray[np.bool_]]
    law: NDArray[np.float64]
    context_tokens: int
    branch_passes: int


def _cache_of(layers: list[tuple[torch.Tensor, torch.Tensor]]) -> Any:
    """A fresh ``DynamicCache`` holding ``layers`` (torch ops never write into them)."""
    from transformers import DynamicCache

    return DynamicCache(ddp_cache_data=list(layers))


def _one_pass(
    lm: LanguageModel,
    ids: NDArray[np.int64],
    start: int,
    layers: list[tuple[torch.Tensor, torch.Tensor]] | None,
) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
    """Logits at the last of ``ids`` (placed at positions ``start..``) after the cached
    ``layers``, and the cache extended by ``ids``."""
    from transformers import DynamicCache

    cache = _cache_of(layers) if layers is not None else DynamicCache()
    logits = _forward(
        lm.model,
        input_ids=torch.as_tensor(ids[None], device=lm.device),
        position_ids=torch.arange(start, start + ids.size, device=lm.device)[None],
        past_key_values=cache,
        logits_to_keep=torch.as_tensor([ids.size - 1], device=lm.device),
    )
    return logits[-1], [(layer.keys, layer.values) for layer in cache.layers]


def _digit_law(logits: torch.Tensor, ids: Sequence[int]) -> NDArray[np.float64]:
    """Softmax of ``logits (vocab,)`` restricted to ``ids``, renormalized in float64."""
    p = np.exp(_restricted_log_softmax(logits[None], ids)[0])
    return p / p.sum()


def hierarchy_step(
    lm: LanguageModel,
    context: ArrayLike,
    digits: int,
    *,
    refine: str = "full",
) -> HierarchyStep:
    """Hierarchy-PDF for one step, written out: the law of the value after ``context``.

    The didactic form of Liu et al. (2024)'s algorithm, one branch at a time (the batched
    :func:`next_state_laws` computes the same numbers for every step of a series at once):

    1. one forward pass over ``prefix + context`` (values and separators, LLMTime format of
       Gruver et al. 2023) leaves the keys and values of every position in a KV cache, and its
       softmax at the final separator, restricted to the ``r_0`` first-digit tokens, is the law
       of the first digit ``P(a_0)``;
    2. for each refined node ``(a_0, ..., a_{k-1})`` of the digit tree, depth first, the cache
       is restored to the branch point (the context plus ``a_0 .. a_{k-2}``), the token of
       ``a_{k-1}`` is appended at its position, and a single-token pass gives
       ``P(a_k | a_{<k})``, the softmax restricted to the level-``k`` tokens;
    3. the law of the value is the product along each path,

    .. math::

        P(s = a_0 \\dots a_{m-1}) = \\prod_{k=0}^{m-1} P(a_k \\mid a_{<k}),

    a node that is not refined spreading its mass uniformly over its children.

    At full refinement that is ``sum_{k=1}^{m-1} prod_{j<k} r_j`` single-token passes,
    ``(10^n - 1)/9 - 1`` for ``n`` digits (10 at 2 digits, 110 at 3); when the next value is
    also observed (teacher forcing, as in :func:`next_state_laws`), its own path comes free
    from the main pass and ``n - 1`` of them are saved.

    Parameters
    ----------
    lm : LanguageModel
    context : array_like of int, shape (T,)
        States ``s_0 .. s_t`` in ``0..10**digits - 1``; they must fit the model's context.
    digits : int
    refine : {"full", "neighbours"}
        ``"neighbours"`` refines only the subtrees whose first digit is within 1 of the most
        likely first digit (Liu et al.'s default for an unseen value).

    Returns
    -------
    HierarchyStep
        ``law`` equals the last row of ``next_state_laws(lm, context, digits, refine=refine)``
        (the row of the unseen value after ``context``) up to float rounding.
    """
    digits = check_digits(digits, MAX_DIGITS)
    s = np.asarray(context)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(
            f"hierarchy_step expects a non-empty 1-D series of states as context, got shape "
            f"{s.shape}"
        )
    s = check_states(s, digits, caller="hierarchy_step")
    if refine not in REFINE_MODES:
        raise ValueError(f"refine={refine!r} is not one of {REFINE_MODES}")
    adapter = lm.adapter_for(digits)
    fit = values_per_window(adapter, lm.max_positions)
    if s.size > fit:
        raise ValueError(
            f"a context of {s.size} values does not fit {lm.name!r} ({lm.max_positions} "
            f"positions hold {fit} values at digits={digits}); pass the last {fit} values"
        )
    _check_attention(lm.model)
    radices = adapter.radices
    m = len(radices)
    ids = adapter.encode(s).ids
    cond = [np.full((int(np.prod(radices[:k])), radices[k]), 1.0 / radices[k]) for k in range(m)]
    refined = [np.zeros(int(np.prod(radices[:k])), dtype=bool) for k in range(m)]
    passes = 0
    with torch.inference_mode():
        logits, root = _one_pass(lm, ids, 0, None)
        cond[0][0] = _digit_law(logits, adapter.level_ids[0])
        refined[0][0] = True
        centre = int(np.argmax(cond[0][0]))
        # depth-first walk: (level k of the node, its prefix index, the cache at its parent)
        stack = [(1, a, root) for a in range(radices[0] - 1, -1, -1)] if m > 1 else []
        while stack:
            k, prefix, parent = stack.pop()
            if refine == "neighbours" and abs(prefix // int(np.prod(radices[1:k])) - centre) > 1:
                continue
            symbol = prefix % radices[k - 1]
            token = np.asarray([adapter.level_ids[k - 1][symbol]], dtype=np.int64)
            logits, layers = _one_pass(lm, token, ids.size + k - 1, parent)
            passes += 1
            cond[k][prefix] = _digit_law(logits, adapter.level_ids[k])
            refined[k][prefix] = True
            if k + 1 < m:
                r = radices[k]
                stack.extend((k + 1, prefix * r + a, layers) for a in range(r - 1, -1, -1))
    mass = np.ones(1)
    for c in cond:
        mass = (mass[:, None] * c).ravel()
    law = _check_laws(mass[None], lm.name)[0]
    return HierarchyStep(cond, refined, law, int(ids.size), passes)


# ----------------------------------------------------------------------------- brute force


def brute_force_laws(
    lm: LanguageModel,
    states: ArrayLike,
    digits: int,
    *,
    window: int | None = None,
    min_context: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = False,
) -> NDArray[np.float64]:
    """Naive scoring of every continuation: the reference Hierarchy-PDF must equal.

    For every row ``t`` and every value ``v`` of the ``K = 10**digits`` values, the sequence
    ``prefix + context_t + v`` goes through the model in full, without any cache shared across
    sequences, and

    .. math::

        P(s_{t+1} = v \\mid \\text{context}_t) = \\prod_{k=0}^{m-1}
        \\operatorname{softmax}_{\\text{level } k}\\big(\\ell(\\text{context}_t, v_{<k})\\big)[v_k],

    the softmax restricted to the level-``k`` tokens as in :func:`next_state_laws` (Liu et al.
    2024's digit-restricted law). ``context_t`` is the values of row ``t``'s window
    (:func:`plan_windows`, same defaults as :func:`next_state_laws`), so the two functions
    compute the same law. Only the first ``m - 1`` tokens of ``v`` are fed (the logits after
    its last token are not needed): the cheapest exact brute force, ``K`` sequences of
    ``|prefix| + (values in context) x tokens_per_value + m - 1`` tokens per row
    (:func:`token_cost`).

    Parameters
    ----------
    lm : LanguageModel
    states : array_like of int, shape (T,)
    digits : int
    window, min_context : int, optional
        As in :func:`next_state_laws`.
    batch_size : int
        Most tokens per forward pass (at least one sequence); does not change the result.
    progress : bool
        Show a progress bar over the rows.

    Returns
    -------
    ndarray, shape (T, K)
    """
    digits = check_digits(digits, MAX_DIGITS)
    s = np.asarray(states)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(
            f"brute_force_laws expects a non-empty 1-D series of states, got shape {s.shape}"
        )
    s = check_states(s, digits, caller="brute_force_laws")
    adapter = lm.adapter_for(digits)
    opts = _resolve_options(
        lm, adapter, s.size, digits, "full", None, window, min_context, batch_size
    )
    k = 10**digits
    m = adapter.levels
    sym = symbols(np.arange(k), adapter.radices)  # (K, m)
    tails = np.stack([np.asarray(ids)[sym[:, j]] for j, ids in enumerate(adapter.level_ids)], 1)
    tails = tails[:, : m - 1]
    out = np.empty((s.size, k))
    keep_arg = "logits_to_keep" in inspect.signature(lm.model.forward).parameters
    with (
        torch.inference_mode(),
        tqdm(total=s.size, disable=not progress, desc="brute force", unit="law") as bar,
    ):
        for w in plan_windows(s.size, opts.window, opts.min_context):
            for t in range(w.first, w.last + 1):
                prefix = adapter.encode(s[w.start : t + 1]).ids
                per = max(1, opts.batch_size // (prefix.size + m - 1))
                logp = np.zeros(k)
                for lo in range(0, k, per):
                    hi = min(lo + per, k)
                    seqs = np.concatenate(
                        [np.broadcast_to(prefix, (hi - lo, prefix.size)), tails[lo:hi]], axis=1
                    )
                    ids = torch.as_tensor(seqs, device=lm.device)
                    extra = {"logits_to_keep": m} if keep_arg else {}
                    logits = lm.model(input_ids=ids, use_cache=False, **extra).logits[:, -m:]
                    for level, level_ids in enumerate(adapter.level_ids):
                        lp = _restricted_log_softmax(logits[:, level], level_ids)
                        logp[lo:hi] += lp[np.arange(hi - lo), sym[lo:hi, level]]
                out[t] = np.exp(logp)
                bar.update(1)
    return out


# ----------------------------------------------------------------------------- cost


class TokenCounter:
    """Count the forward passes of a model and the input tokens they read, in a ``with`` block.

    A forward pre-hook adds ``input_ids.numel()`` of every call of ``model`` (a
    ``transformers`` model, or ``lm.model``). Token counts are deterministic, unlike times.

    >>> with TokenCounter(lm.model) as count:                   # doctest: +SKIP
    ...     laws = next_state_laws(lm, states, 2, progress=False)
    >>> count.passes, count.tokens                              # doctest: +SKIP
    """

    def __init__(self, model: Any):
        if not isinstance(model, torch.nn.Module):
            raise ValueError(
                f"TokenCounter needs a torch module (pass lm.model), got {type(model).__name__}"
            )
        self.model = model
        self.passes = 0
        self.tokens = 0
        self._handle: Any = None

    def _hook(self, module: Any, args: tuple, kwargs: dict) -> None:
        if _PROBING:  # check_restricted_head's one-off probe of a model
            return
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None:
            raise ValueError("TokenCounter counts input_ids; this call passed none")
        self.passes += 1
        self.tokens += int(ids.numel())

    def __enter__(self) -> TokenCounter:
        self.passes = self.tokens = 0
        self._handle = self.model.register_forward_pre_hook(self._hook, with_kwargs=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.remove()


@dataclass(frozen=True)
class TokenCost:
    """Input tokens read by Hierarchy-PDF at full refinement and by naive scoring.

    Attributes
    ----------
    teacher_forced : int
        Tokens of the main passes, one per window: ``|prefix| + values x tokens_per_value``.
    branch : int
        Single tokens of the branch nodes, ``sum_{k=1}^{m-1} (P_k - 1)`` per observed value
        (``(10^n - 1)/9 - n`` at ``n`` digits) and ``sum_k P_k`` for the unseen last value.
    brute_force : int
        Tokens of :func:`brute_force_laws`: ``K`` sequences per row.
    """

    teacher_forced: int
    branch: int
    brute_force: int

    @property
    def hierarchy(self) -> int:
        """All tokens of Hierarchy-PDF, ``teacher_forced + branch``."""
        return self.teacher_forced + self.branch

    @property
    def ratio(self) -> float:
        """How many times more tokens naive scoring reads."""
        return self.brute_force / self.hierarchy


def token_cost(
    lm: LanguageModel,
    n_values: int,
    digits: int,
    *,
    window: int | None = None,
    min_context: int | None = None,
) -> TokenCost:
    """Tokens :func:`next_state_laws` (full refinement) and :func:`brute_force_laws` read.

    For a series of ``T`` values cut into windows ``w`` (:func:`plan_windows`), prefix length
    ``c``, ``m`` levels of radices ``r_k`` (``P_k = r_0 \\cdots r_{k-1}``) and
    ``tau = m + |sep|`` tokens per value:

    .. math::

        N_{\\mathrm{HPDF}} = \\sum_w (c + |w|\\,\\tau)
            + (T - 1) \\sum_{k=1}^{m-1} (P_k - 1) + \\sum_{k=1}^{m-1} P_k,
        \\qquad
        N_{\\mathrm{naive}} = K \\sum_{t=0}^{T-1} \\big(c + (t + 1 - \\mathrm{start}_t)\\,\\tau
            + m - 1\\big),

    the second growing like ``K T^2`` within a window, the first like ``T``.

    Parameters
    ----------
    lm : LanguageModel
    n_values : int
        Length ``T`` of the series.
    digits : int
    window, min_context : int, optional
        As in :func:`next_state_laws`.

    Returns
    -------
    TokenCost
    """
    digits = check_digits(digits, MAX_DIGITS)
    if isinstance(n_values, bool) or not isinstance(n_values, (int, np.integer)) or n_values < 1:
        raise ValueError(f"n_values must be a positive number of values, got {n_values!r}")
    adapter = lm.adapter_for(digits)
    opts = _resolve_options(
        lm, adapter, int(n_values), digits, "full", None, window, min_context, DEFAULT_BATCH_SIZE
    )
    c, tau, m = len(adapter.prefix_ids), adapter.tokens_per_value, adapter.levels
    prefixes = [int(np.prod(adapter.radices[:k])) for k in range(1, m)]
    forced, brute = 0, 0
    for w in plan_windows(int(n_values), opts.window, opts.min_context):
        forced += c + (w.stop - w.start) * tau
        lengths = c + (np.arange(w.first, w.last + 1) + 1 - w.start) * tau + m - 1
        brute += 10**digits * int(lengths.sum())
    branch = (int(n_values) - 1) * sum(p - 1 for p in prefixes) + sum(prefixes)
    return TokenCost(int(forced), int(branch), int(brute))
