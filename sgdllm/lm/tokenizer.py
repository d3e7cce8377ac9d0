"""The digit tokenizer of the default model: one token per character.

Chapter: *Tokenization* (and *The embedded language model*).

Vocabulary (ids fixed, the model's embedding rows follow them):

=====  ===========  ==================================================================
id     token        role
=====  ===========  ==================================================================
0-9    ``0``-``9``  the digits of a value
10     ``,``        separator; every value is *followed* by one, ``"523,541,538,"``
11     ``<s>``      BOS, prepended to every text by the post-processor (also the EOS)
12     ``<pad>``    padding
13     ``<unk>``    any other character (never seen in training)
=====  ===========  ==================================================================

Whitespace is dropped by the normalizer, so ``"5 2 3 , 5 4 1"`` (the LLMTime spacing for BPE
tokenizers) encodes like ``"523,541"``. Texts the default model was trained on are
``"<s>" + ",".join(values) + ","``: the law of value ``t + 1`` is the model's output at the
``,`` that follows value ``t`` (first digit), then at each of its digits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

__all__ = [
    "BOS",
    "BOS_ID",
    "PAD",
    "PAD_ID",
    "SEP",
    "SEP_ID",
    "UNK",
    "UNK_ID",
    "VOCAB",
    "build_digit_tokenizer",
    "encode_states",
]

SEP, BOS, PAD, UNK = ",", "<s>", "<pad>", "<unk>"
#: Token -> id, in id order.
VOCAB: dict[str, int] = {**{str(d): d for d in range(10)}, SEP: 10, BOS: 11, PAD: 12, UNK: 13}
SEP_ID, BOS_ID, PAD_ID, UNK_ID = VOCAB[SEP], VOCAB[BOS], VOCAB[PAD], VOCAB[UNK]


def build_digit_tokenizer() -> PreTrainedTokenizerFast:
    """The character-level digit tokenizer, as a ``transformers.PreTrainedTokenizerFast``.

    Built with the ``tokenizers`` library: a word-level model over :data:`VOCAB`, a normalizer
    that removes whitespace, a pre-tokenizer that isolates every character, a post-processor
    that prepends ``<s>``, and a decoder that joins tokens without spaces. It round-trips
    through ``save_pretrained`` / ``AutoTokenizer.from_pretrained``.

    Examples
    --------
    >>> tok = build_digit_tokenizer()
    >>> tok("523,541,")["input_ids"]
    [11, 5, 2, 3, 10, 5, 4, 1, 10]
    """
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(WordLevel(vocab=dict(VOCAB), unk_token=UNK))
    tok.normalizer = normalizers.Replace(Regex(r"\s+"), "")
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, BOS_ID)]
    )
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens([BOS, PAD, UNK])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=BOS,
        pad_token=PAD,
        unk_token=UNK,
        model_max_length=1024,
        clean_up_tokenization_spaces=False,
    )


def encode_states(states: ArrayLike, digits: int, *, bos: bool = True) -> NDArray[np.int64]:
    """Token ids of ``"<s>" + serialize(states, digits) + ","`` without a tokenizer (fast path).

    ``1 + (digits + 1) T`` ids for ``T`` states (``(digits + 1) T`` with ``bos=False``); equal to
    ``build_digit_tokenizer()(serialize(states, digits) + ",")["input_ids"]``.
    """
    s = np.asarray(states, dtype=np.int64)
    if s.ndim != 1 or (s.size and (s.min() < 0 or s.max() >= 10**digits)):
        raise ValueError(f"states must be a 1-D array of integers in [0, {10**digits - 1}]")
    body = np.empty((s.size, digits + 1), dtype=np.int64)
    for j in range(digits):
        body[:, j] = (s // 10 ** (digits - 1 - j)) % 10
    body[:, digits] = SEP_ID
    flat = body.ravel()
    return np.concatenate([[BOS_ID], flat]) if bos else flat
