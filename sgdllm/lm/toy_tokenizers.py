"""Small real tokenizers of the three kinds that split numbers differently, built offline.

Chapter: *Tokenization* (also used by the tests of :mod:`sgdllm.lm`).

Language models do not see numbers, they see tokens, and tokenizers cut digit strings in three
ways (Gruver et al. 2023, "Large Language Models Are Zero-Shot Time Series Forecasters";
Liu et al. 2024):

* **one token per digit** -- LLaMA-2, Mistral and Qwen split every number into single digits,
  so ``"523,541,"`` is ``5 2 3 , 5 4 1 ,`` (:func:`digit_tokenizer`; the embedded default model's
  tokenizer, :func:`sgdllm.lm.tokenizer.build_digit_tokenizer`, is of this kind too);
* **byte-pair encoding that merges digits** -- GPT-2 and GPT-3 merge frequent digit strings into
  one token, irregularly (``"523"`` may become ``52 3`` and ``"541"`` a single token), so the
  same digit at the same place gets different tokens; LLMTime therefore writes
  ``" 5 2 3 , 5 4 1 ,"``, with a space before every digit, which makes each digit its own token
  (:func:`bpe_tokenizer`);
* **one token per number of up to three digits** -- LLaMA-3 and GPT-4 have the 1000 tokens
  ``"000".."999"`` (and the shorter numbers) and cut longer numbers into chunks of three digits,
  so a 3-digit value is one token whose law is one softmax (:func:`number_tokenizer`).

No pretrained tokenizer can be downloaded where this package is built, so these are real
``tokenizers``-library tokenizers built here, wrapped as ``transformers.PreTrainedTokenizerFast``
exactly like the ones ``AutoTokenizer`` returns: :func:`sgdllm.lm.adapters.detect_adapter` reads
them as it reads any model's tokenizer. They are deterministic (the BPE is trained on a seeded
corpus). :func:`token_pieces` and :func:`token_budget` measure how a tokenizer cuts a serialized
series: which characters each token covers, how many tokens each value costs, and how many values
fit in a context window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

__all__ = [
    "DIGITS",
    "KINDS",
    "TokenBudget",
    "bpe_tokenizer",
    "digit_tokenizer",
    "llmtime_text",
    "number_corpus",
    "number_tokenizer",
    "token_budget",
    "token_pieces",
    "toy_tokenizers",
]

#: The ten digit strings ``"0".."9"``.
DIGITS = [str(d) for d in range(10)]
#: Tokenizer kinds built by :func:`toy_tokenizers`, in the order the book shows them.
KINDS = ("digit", "bpe", "number")


def digit_tokenizer(*, bos: bool = True) -> PreTrainedTokenizerFast:
    """One token per digit and one for ``","`` (LLaMA-2 / Mistral / Qwen style).

    A word-level vocabulary ``<pad> <s> </s> <unk> 0 1 ... 9 ,`` (ids 0 to 14) and a
    pre-tokenizer that isolates every digit and comma, so ``"523,541,"`` becomes
    ``5 2 3 , 5 4 1 ,``: a value with ``n`` digits always costs ``n + 1`` tokens with its
    separator. Any other character is ``<unk>``.

    Parameters
    ----------
    bos : bool, default True
        Prepend the BOS token ``<s>`` to every text, as LLaMA-2 does.

    Returns
    -------
    transformers.PreTrainedTokenizerFast

    Examples
    --------
    >>> tok = digit_tokenizer()
    >>> tok.convert_ids_to_tokens(tok("523,")["input_ids"])
    ['<s>', '5', '2', '3', ',']
    """
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "</s>", "<unk>"]
    vocab = {tok: i for i, tok in enumerate([*specials, *DIGITS, ","])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"\d|,"), behavior="isolated")
    if bos:
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", vocab["<s>"])]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )


def number_corpus(seed: int = 0, lines: int = 400) -> list[str]:
    """Training texts of :func:`bpe_tokenizer`: comma-separated numbers, plain and spaced.

    Each of ``lines`` seeded random walks of 20 steps on ``0..999`` (start 500, increments
    uniform in ``-40..40``, clipped) is written with 2 digits (even lines) or 3 digits (odd
    lines), once plain, ``"523,541,"``, and once in LLMTime's spaced form ``" 5 2 3 , 5 4 1 ,"``.
    The plain texts teach the BPE to merge frequent digit pairs, the spaced ones give it the
    tokens ``" 0".." 9"`` and ``" ,"``.

    Parameters
    ----------
    seed : int, default 0
        Seed of ``numpy.random.default_rng``.
    lines : int, default 400
        Number of walks; the corpus has ``2 * lines`` texts.

    Returns
    -------
    list of str
    """
    rng = np.random.default_rng(seed)
    out = []
    for i in range(lines):
        digits = 2 + i % 2
        walk = np.clip(500 + np.cumsum(rng.integers(-40, 41, size=20)), 0, 999)
        walk = walk // 10 ** (3 - digits)
        values = [f"{v:0{digits}d}" for v in walk]
        out.append(",".join(values) + ",")
        out.append("".join(" " + " ".join(v) + " ," for v in values))
    return out


def bpe_tokenizer(*, seed: int = 0, vocab_size: int = 400) -> PreTrainedTokenizerFast:
    """A GPT-2-like byte-level BPE trained on number strings: it merges digits.

    GPT-2's recipe (Radford et al. 2019) at toy scale: a byte-level alphabet of 256 symbols
    (``"Ġ"`` stands for a space), a pre-tokenizer that keeps a run of digits together
    (``" ?\\p{N}+"``) and puts punctuation apart, and byte-pair-encoding merges learned from
    :func:`number_corpus` until the vocabulary holds ``vocab_size`` tokens. Frequent digit pairs
    become single tokens, so ``"523"`` is cut into fewer than three tokens, and how it is cut
    depends on the number; the spaced form ``" 5 2 3 ,"`` is one token per digit (``"Ġ5"``) and
    one for the separator (``"Ġ,"``), which is why LLMTime writes numbers that way for GPT
    models (Gruver et al. 2023). No BOS token is added, as in GPT-2.

    Parameters
    ----------
    seed : int, default 0
        Seed of the training corpus; the result is deterministic.
    vocab_size : int, default 400
        Vocabulary size after training (256 bytes, one special token, the merges).

    Returns
    -------
    transformers.PreTrainedTokenizerFast
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(number_corpus(seed), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )


def number_tokenizer() -> PreTrainedTokenizerFast:
    """A token for every number of 1 to 3 digits, and BOS (LLaMA-3 / GPT-4 style).

    The vocabulary holds the specials ``<|begin_of_text|> <|end_of_text|> <unk>``, ``","``,
    ``" "`` and the 1110 strings ``"0".."9"``, ``"00".."99"``, ``"000".."999"``; the pre-tokenizer
    cuts digit runs into chunks of at most three digits from the left (``\\d{1,3}``, as LLaMA-3's
    ``\\p{N}{1,3}``). A 3-digit value is therefore one token out of 1000, and ``"5234"`` is cut
    into ``523 4``.

    Returns
    -------
    transformers.PreTrainedTokenizerFast

    Examples
    --------
    >>> tok = number_tokenizer()
    >>> tok.convert_ids_to_tokens(tok("523,07,")["input_ids"])
    ['<|begin_of_text|>', '523', ',', '07', ',']
    """
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<unk>"]
    numbers = [f"{v:0{n}d}" for n in (1, 2, 3) for v in range(10**n)]
    vocab = {tok: i for i, tok in enumerate([*specials, ",", " ", *numbers])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"\d{1,3}|,| "), behavior="isolated")
    bos = "<|begin_of_text|>"
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, vocab[bos])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        eos_token="<|end_of_text|>",
        unk_token="<unk>",
    )


def toy_tokenizers(*, seed: int = 0) -> dict[str, PreTrainedTokenizerFast]:
    """The three tokenizer kinds, keyed by :data:`KINDS`: ``digit``, ``bpe`` and ``number``.

    Parameters
    ----------
    seed : int, default 0
        Seed of the BPE's training corpus (:func:`bpe_tokenizer`).
    """
    return {
        "digit": digit_tokenizer(),
        "bpe": bpe_tokenizer(seed=seed),
        "number": number_tokenizer(),
    }


def llmtime_text(states: ArrayLike, digits: int, *, spaced: bool = False) -> str:
    """A series of states as LLMTime text, plain ``"523,541,"`` or spaced ``" 5 2 3 , 5 4 1 ,"``.

    Every value is written with ``digits`` digits (leading zeros kept) and followed by ``","``;
    ``spaced=True`` puts a space before every digit and separator, the form LLMTime feeds to
    digit-merging BPE tokenizers (Gruver et al. 2023). The texts are those of
    :class:`~sgdllm.lm.adapters.DigitAdapter` and :class:`~sgdllm.lm.adapters.SpacedDigitAdapter`
    (one implementation), here without needing a tokenizer.

    Parameters
    ----------
    states : array_like of int, shape (T,)
        States in ``0..10**digits - 1`` (from :func:`sgdllm.discretize.discretize`).
    digits : int
        Digits per value, 1 to 4.
    spaced : bool, default False

    Examples
    --------
    >>> llmtime_text([523, 41], 3), llmtime_text([523, 41], 3, spaced=True)
    ('523,041,', ' 5 2 3 , 0 4 1 ,')
    """
    from sgdllm.discretize import check_digits
    from sgdllm.lm.adapters import DigitAdapter, SpacedDigitAdapter

    cls = SpacedDigitAdapter if spaced else DigitAdapter
    return cls(check_digits(digits), (), (), ()).text(states)


def _encode_with_offsets(tokenizer: Any, text: str) -> tuple[list[tuple[int, int]], list[int]]:
    """Character spans and special-token mask of ``tokenizer(text)`` (special tokens added)."""
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(
            f"{type(tokenizer).__name__} gives no character offsets; pass a fast tokenizer "
            f"(transformers.PreTrainedTokenizerFast, what AutoTokenizer returns by default)"
        )
    if not isinstance(text, str) or not text:
        raise ValueError(f"text must be a non-empty string, got {text!r}")
    enc = tokenizer(
        text,
        add_special_tokens=True,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
        verbose=False,  # long series exceed model_max_length on purpose: no warning
    )
    return [tuple(o) for o in enc["offset_mapping"]], list(enc["special_tokens_mask"])


def token_pieces(tokenizer: Any, text: str) -> list[str]:
    """The piece of ``text`` each token covers, in order, special tokens left out.

    Read from the tokenizer's character offsets, so a byte-level BPE token ``"Ġ5"`` is shown as
    the text it stands for, ``" 5"``. Joining the pieces gives back ``text`` (for the tokenizers
    of this module; a tokenizer that drops characters, like the embedded model's, which removes
    whitespace, gives back the text without them).

    Parameters
    ----------
    tokenizer : transformers.PreTrainedTokenizerFast
    text : str

    Returns
    -------
    list of str

    Examples
    --------
    >>> token_pieces(number_tokenizer(), "523,41,")
    ['523', ',', '41', ',']
    """
    offsets, special = _encode_with_offsets(tokenizer, text)
    return [text[a:b] for (a, b), s in zip(offsets, special, strict=True) if not s]


@dataclass(frozen=True)
class TokenBudget:
    """How many tokens the values of a serialized series cost.

    Attributes
    ----------
    per_value : ndarray of int64, shape (T,)
        Tokens of each value, its separator included.
    prefix : int
        Special tokens before the first value (BOS), paid once per context.
    """

    per_value: NDArray[np.int64]
    prefix: int

    @property
    def tokens_per_value(self) -> float:
        """Mean tokens per value, separator included."""
        return float(self.per_value.mean())

    def values_in_context(self, context: int = 1024) -> int:
        """Number of leading values whose tokens fit in ``context`` tokens after the prefix.

        .. math:: n = \\max\\{n : |prefix| + \\textstyle\\sum_{u < n} c_u \\le N_{ctx}\\}

        with ``c_u`` the tokens of value ``u``. Measured on the series itself, so it is exact
        even when values cost different numbers of tokens (a digit-merging BPE).

        Raises
        ------
        ValueError
            If ``context`` is not a positive integer, or if the whole series fits in it (the
            count would be the series length, not the capacity): pass a longer series.
        """
        if isinstance(context, bool) or not isinstance(context, (int, np.integer)) or context < 1:
            raise ValueError(f"context must be a positive number of tokens, got {context!r}")
        total = self.prefix + int(self.per_value.sum())
        if total <= context:
            raise ValueError(
                f"the whole series ({self.per_value.size} values, {total} tokens) fits in a "
                f"context of {context} tokens, so it cannot show how many values fit; serialize "
                f"a series of more than {context} values"
            )
        used = self.prefix + np.cumsum(self.per_value)
        return int(np.searchsorted(used, context, side="right"))


def token_budget(tokenizer: Any, text: str, sep: str = ",") -> TokenBudget:
    """Count the tokens of every value of a serialized series.

    Value ``u`` is the text between separator ``u - 1`` (exclusive) and separator ``u``
    (inclusive), so the spaced form ``" 5 2 3 ,"`` is one value. A token belongs to the value in
    which its first character lies; a tokenizer that merged a separator with the following value
    would make the count meaningless, and raises. Special tokens (BOS) before the first value are
    :attr:`TokenBudget.prefix`; special tokens after the content (EOS) are not counted, as
    Hierarchy-PDF never writes them (:mod:`sgdllm.lm.adapters`).

    Parameters
    ----------
    tokenizer : transformers.PreTrainedTokenizerFast
    text : str
        A serialized series, e.g. ``serialize(states, digits) + ","`` or an adapter's
        ``text(states)``; a trailing separator is optional.
    sep : str, default ","
        The one-character separator written after every value.

    Returns
    -------
    TokenBudget

    Examples
    --------
    >>> b = token_budget(digit_tokenizer(), "523,541,")
    >>> b.per_value.tolist(), b.prefix
    ([4, 4], 1)
    """
    if not isinstance(sep, str) or len(sep) != 1:
        raise ValueError(f"sep must be a single character such as ',', got {sep!r}")
    offsets, special = _encode_with_offsets(tokenizer, text)
    content = [(a, b) for (a, b), s in zip(offsets, special, strict=True) if not s]
    if not content:
        raise ValueError(f"the tokenizer produced no content tokens for {text[:40]!r}")
    first = next(i for i, s in enumerate(special) if not s)
    sep_pos = np.array([i for i, c in enumerate(text) if c == sep], dtype=np.int64)
    starts = np.array([a for a, _ in content], dtype=np.int64)
    ends = np.array([b for _, b in content], dtype=np.int64)
    value = np.searchsorted(sep_pos, starts, side="left")
    # a separator strictly inside a token (not its last character) splits it across values
    inside = np.searchsorted(sep_pos, ends - 1, side="left") != value
    if inside.any():
        i = int(np.flatnonzero(inside)[0])
        raise ValueError(
            f"token {text[starts[i] : ends[i]]!r} spans a separator {sep!r}, so its tokens cannot "
            f"be assigned to values; this tokenizer merges the separator with a digit"
        )
    n_values = int(value.max()) + 1
    return TokenBudget(
        per_value=np.bincount(value, minlength=n_values).astype(np.int64), prefix=first
    )
