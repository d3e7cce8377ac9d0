"""Tokenizer adapters: how a serialized series of states becomes token ids, and back.

Chapter: *Tokenization*.

A series of states ``s_0, s_1, ...`` with ``digits`` digits per value is written as text the way
LLMTime does (Gruver et al. 2023, "Large Language Models Are Zero-Shot Time Series
Forecasters"; Liu et al. 2024): each value as fixed-width digits, a separator after every value.
Tokenizers cut that text differently, and the Hierarchy-PDF algorithm (Liu et al. 2024) needs to
know, for every value, which tokens carry its digits and which token ids can stand there:

* :class:`DigitAdapter` -- one token per digit and one for ``","`` (LLaMA-2, Mistral, Qwen, and
  the embedded default model): ``"523,541,"`` -> ``5 2 3 , 5 4 1 ,``. A value is ``digits``
  levels of 10 choices each.
* :class:`SpacedDigitAdapter` -- a BPE that merges digits (GPT-2, GPT-3). LLMTime writes the
  digits separated by spaces, ``" 5 2 3 , 5 4 1 ,"``, so that each digit is its own token
  (``"Ġ5"`` in GPT-2's byte-level alphabet). Same levels as above, other token ids.
* :class:`NumberTokenAdapter` -- single tokens for all numbers ``"000".."999"`` (LLaMA-3,
  GPT-4): a value is one level of ``10**digits`` choices, whose law is one softmax (as in the
  DICL code of Benechehab et al.).

In general a value is a word over ``levels`` token positions with radices ``r_0, ..., r_{m-1}``
(``10, ..., 10`` or ``10**digits``); state ``s`` has the mixed-radix symbols
``a_k = (s // prod_{j > k} r_j) mod r_k``, most significant first, and the token at level ``k``
is ``level_ids[k][a_k]``.

Adapters are detected from the tokenizer itself (:func:`detect_adapter`), never from a model's
name: each candidate builds the token ids it expects for probe series, and it is accepted only
if the tokenizer, given the candidate's text, produces exactly those ids.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sgdllm.discretize import MAX_DIGITS, check_digits, check_states

__all__ = [
    "Adapter",
    "DigitAdapter",
    "Encoding",
    "NumberTokenAdapter",
    "SpacedDigitAdapter",
    "detect_adapter",
    "probe_states",
    "symbols",
]

#: Largest number of digits a number-token vocabulary is looked up for (``10**3`` tokens).
MAX_NUMBER_DIGITS = 3


@dataclass(frozen=True)
class Encoding:
    """Token ids of a serialized series and where each value's tokens sit.

    Attributes
    ----------
    ids : ndarray of int64, shape (N,)
        ``prefix_ids`` (BOS, ...) then, for every value, its level tokens and the separator.
    value_pos : ndarray of int64, shape (T + 1, levels)
        ``value_pos[u, k]`` is the position of the level-``k`` token of value ``u``. Row ``T``
        gives the positions the *next*, unseen value would take after the final separator
        (``N, N + 1, ...``), where its hypothetical tokens are placed.
    """

    ids: NDArray[np.int64]
    value_pos: NDArray[np.int64]


def symbols(states: ArrayLike, radices: Sequence[int]) -> NDArray[np.int64]:
    """Mixed-radix symbols of states, most significant first, shape ``states.shape + (m,)``.

    .. math:: a_k(s) = \\lfloor s / \\textstyle\\prod_{j > k} r_j \\rfloor \\bmod r_k.
    """
    s = np.asarray(states, dtype=np.int64)
    weights = np.cumprod([1, *radices[::-1]])[:-1][::-1]
    return (s[..., None] // weights) % np.asarray(radices)


@dataclass(frozen=True)
class Adapter:
    """How a tokenizer writes a series of states with ``digits`` digits per value.

    Attributes
    ----------
    digits : int
        Digits per value this adapter was validated for.
    prefix_ids : tuple of int
        Tokens the tokenizer puts before the first value (BOS, a SentencePiece ``"▁"``, ...).
    sep_ids : tuple of int
        Tokens written after every value (``","``).
    level_ids : tuple of tuple of int
        ``level_ids[k][a]`` is the token id of symbol ``a`` at level ``k`` of a value.
    """

    digits: int
    prefix_ids: tuple[int, ...]
    sep_ids: tuple[int, ...]
    level_ids: tuple[tuple[int, ...], ...]
    kind: ClassVar[str] = "abstract"

    @property
    def radices(self) -> tuple[int, ...]:
        """Number of choices at each level of a value, e.g. ``(10, 10, 10)`` or ``(1000,)``."""
        return tuple(len(ids) for ids in self.level_ids)

    @property
    def levels(self) -> int:
        """Number of tokens carrying one value."""
        return len(self.level_ids)

    @property
    def tokens_per_value(self) -> int:
        """Tokens per value including its separator."""
        return self.levels + len(self.sep_ids)

    def describe(self) -> dict[str, Any]:
        """Everything that determines the token ids, for cache keys and reports."""
        return {
            "kind": self.kind,
            "digits": self.digits,
            "prefix_ids": list(self.prefix_ids),
            "sep_ids": list(self.sep_ids),
            "level_ids": [list(ids) for ids in self.level_ids],
        }

    def text(self, states: ArrayLike) -> str:
        """The text the tokenizer turns into :meth:`encode`'s ids (without special tokens)."""
        raise NotImplementedError

    def encode(self, states: ArrayLike) -> Encoding:
        """Token ids of ``prefix + (value tokens + separator) per state``.

        Parameters
        ----------
        states : array_like of int, shape (T,)
            States in ``0..10**digits - 1``.
        """
        s = _check_states(states, self.digits)
        sym = symbols(s, self.radices)
        table = [np.asarray(ids, dtype=np.int64) for ids in self.level_ids]
        body = np.empty((s.size, self.tokens_per_value), dtype=np.int64)
        for k, ids in enumerate(table):
            body[:, k] = ids[sym[:, k]]
        body[:, self.levels :] = np.asarray(self.sep_ids, dtype=np.int64)
        prefix = np.asarray(self.prefix_ids, dtype=np.int64)
        ids = np.concatenate([prefix, body.ravel()])
        starts = prefix.size + self.tokens_per_value * np.arange(s.size + 1)
        value_pos = starts[:, None] + np.arange(self.levels)[None, :]
        return Encoding(ids=ids, value_pos=value_pos.astype(np.int64))


@dataclass(frozen=True)
class DigitAdapter(Adapter):
    """One token per digit, ``"523,541,"`` -> ``5 2 3 , 5 4 1 ,`` (LLaMA-2, Mistral, Qwen)."""

    kind: ClassVar[str] = "digit"

    def text(self, states: ArrayLike) -> str:
        s = _check_states(states, self.digits)
        return "".join(f"{int(v):0{self.digits}d}," for v in s)


@dataclass(frozen=True)
class SpacedDigitAdapter(Adapter):
    """LLMTime's spaced digits for digit-merging BPEs: ``" 5 2 3 , 5 4 1 ,"`` (GPT-2, GPT-3).

    Every digit and separator is preceded by a space, so each becomes one space-prefixed token
    (``"Ġ5"``, ``"Ġ,"``); the first value gets a leading space too, so that all digits of all
    values share the same 10 token ids (Gruver et al. 2023).
    """

    kind: ClassVar[str] = "spaced"

    def text(self, states: ArrayLike) -> str:
        s = _check_states(states, self.digits)
        return "".join(" " + " ".join(f"{int(v):0{self.digits}d}") + " ," for v in s)


@dataclass(frozen=True)
class NumberTokenAdapter(Adapter):
    """One token per value from a vocabulary holding every ``digits``-digit number (LLaMA-3).

    A value is a single level with ``10**digits`` choices: its law is one softmax restricted to
    the number tokens, so Hierarchy-PDF needs no refinement at all.
    """

    kind: ClassVar[str] = "number"

    def text(self, states: ArrayLike) -> str:
        s = _check_states(states, self.digits)
        return "".join(f"{int(v):0{self.digits}d}," for v in s)


def _check_states(states: ArrayLike, digits: int) -> NDArray[np.int64]:
    return check_states(states, digits, caller="the tokenizer adapter")


# ----------------------------------------------------------------------------- detection


def probe_states(digits: int) -> list[NDArray[np.int64]]:
    """Probe series used to validate an adapter: every digit at every position, and edges.

    Returns several series (each checked on its own): repeated digits ``0..0, 1..1, ...``, a
    seeded random series, a single value starting with ``0`` and one starting with ``9``.
    """
    k = 10**digits
    rng = np.random.default_rng(0)
    repeated = np.array([int(str(d) * digits) for d in range(10)])
    return [
        repeated,
        rng.integers(0, k, size=24),
        np.array([0]),
        np.array([k - 1, k // 2, 1 % k]),
    ]


def _single_token(tokenizer: Any, text: str) -> int | None:
    """The id of ``text`` if the tokenizer writes it as exactly one token, else ``None``."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return int(ids[0]) if len(ids) == 1 else None


def _vocab_id(tokenizer: Any, token: str) -> int | None:
    """The id of the vocabulary entry ``token`` (not the unknown token), else ``None``."""
    vocab = tokenizer.get_vocab()
    return int(vocab[token]) if token in vocab else None


def _strip_trailing_specials(tokenizer: Any, ids: list[int], content_len: int) -> list[int]:
    """Drop special tokens (EOS) a tokenizer appends after the content."""
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    while len(ids) > content_len and ids[-1] in special:
        ids = ids[:-1]
    return ids


def _prefix(tokenizer: Any, adapter: Adapter, states: NDArray[np.int64]) -> tuple[int, ...] | None:
    """Tokens the tokenizer emits before the content of ``states``, or ``None`` on mismatch."""
    content = adapter.encode(states).ids[len(adapter.prefix_ids) :].tolist()
    ids = tokenizer(adapter.text(states), add_special_tokens=True)["input_ids"]
    ids = _strip_trailing_specials(tokenizer, list(ids), len(content))
    if len(ids) < len(content) or ids[len(ids) - len(content) :] != content:
        return None
    return tuple(int(i) for i in ids[: len(ids) - len(content)])


def _validate(tokenizer: Any, adapter: Adapter) -> Adapter | None:
    """Return ``adapter`` with its prefix filled in if the tokenizer agrees on every probe."""
    prefix = None
    for states in probe_states(adapter.digits):
        found = _prefix(tokenizer, adapter, states)
        if found is None or (prefix is not None and found != prefix):
            return None
        prefix = found
    level_tokens = {i for ids in adapter.level_ids for i in ids} | set(adapter.sep_ids)
    if prefix is None or level_tokens & set(prefix):
        return None
    if any(len(set(ids)) != len(ids) for ids in adapter.level_ids):
        return None
    return type(adapter)(adapter.digits, prefix, adapter.sep_ids, adapter.level_ids)


def _try_digit(tokenizer: Any, digits: int) -> Adapter | None:
    ids = [_vocab_id(tokenizer, d) for d in "0123456789"]
    sep = _vocab_id(tokenizer, ",")
    if None in ids or sep is None:
        return None
    return DigitAdapter(digits, (), (sep,), (tuple(ids),) * digits)  # type: ignore[arg-type]


def _try_spaced(tokenizer: Any, digits: int) -> Adapter | None:
    ids = [_single_token(tokenizer, " " + d) for d in "0123456789"]
    sep = _single_token(tokenizer, " ,")
    if None in ids or sep is None:
        return None
    return SpacedDigitAdapter(digits, (), (sep,), (tuple(ids),) * digits)  # type: ignore[arg-type]


def _try_number(tokenizer: Any, digits: int) -> Adapter | None:
    if digits > MAX_NUMBER_DIGITS:
        return None
    vocab = tokenizer.get_vocab()
    names = [f"{v:0{digits}d}" for v in range(10**digits)]
    if not all(n in vocab for n in names):
        return None
    sep = _vocab_id(tokenizer, ",")
    if sep is None:
        return None
    return NumberTokenAdapter(digits, (), (sep,), (tuple(int(vocab[n]) for n in names),))


#: Candidates in the order they are tried; the first the tokenizer agrees with wins.
CANDIDATES: tuple[tuple[str, Callable[[Any, int], Adapter | None]], ...] = (
    ("digit", _try_digit),
    ("number", _try_number),
    ("spaced", _try_spaced),
)


def detect_adapter(tokenizer: Any, digits: int = 3) -> Adapter:
    """Find how ``tokenizer`` writes series with ``digits`` digits per value.

    Candidates are tried in the order digit, number, spaced (:data:`CANDIDATES`). Each builds
    the token ids it expects (one token per digit from the vocabulary entries ``"0".."9"`` and
    ``","``; one token per number ``"00..0".."99..9"``; one token per ``" d"`` and ``" ,"``) and
    is accepted only if ``tokenizer(candidate.text(probe))`` gives exactly the prefix (BOS, ...)
    followed by those ids for every probe series of :func:`probe_states`, with the same prefix
    each time. So the adapter is read off the tokenizer's behaviour, never off a model name.

    Parameters
    ----------
    tokenizer : transformers tokenizer
        Anything callable as ``tokenizer(text, add_special_tokens=...)["input_ids"]`` with
        ``get_vocab()``.
    digits : int
        Digits per value (1 to 4; number tokens only up to 3).

    Returns
    -------
    Adapter
        A :class:`DigitAdapter`, :class:`NumberTokenAdapter` or :class:`SpacedDigitAdapter`.

    Raises
    ------
    ValueError
        If no candidate reproduces the tokenizer's ids; the message shows how the tokenizer
        cut a sample.
    """
    digits = check_digits(digits, MAX_DIGITS)
    for _, build in CANDIDATES:
        candidate = build(tokenizer, digits)
        if candidate is None:
            continue
        adapter = _validate(tokenizer, candidate)
        if adapter is not None:
            return adapter
    sample = "".join(f"{v % 10**digits:0{digits}d}," for v in (5230, 410, 9980))
    pieces = tokenizer.convert_ids_to_tokens(
        tokenizer(sample, add_special_tokens=False)["input_ids"]
    )
    raise ValueError(
        f"no tokenizer adapter fits this tokenizer for digits={digits}: it cuts {sample!r} into "
        f"{pieces}, which is neither one token per digit (digit), one token per {digits}-digit "
        f"number (number), nor one token per digit in LLMTime's spaced form ' 5 2 3 ,' "
        f"(spaced). Use a model whose tokenizer splits numbers into digits (LLaMA-2, Mistral, "
        f"Qwen, GPT-2 with spaces) or into whole numbers of up to 3 digits (LLaMA-3), or try "
        f"another value of digits"
    )
