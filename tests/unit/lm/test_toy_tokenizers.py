"""Toy tokenizers of the three kinds and token counting (sgdllm.lm.toy_tokenizers)."""

from __future__ import annotations

import numpy as np
import pytest
from tokenizers import Regex, Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from sgdllm.discretize import serialize
from sgdllm.lm.adapters import detect_adapter
from sgdllm.lm.tokenizer import build_digit_tokenizer
from sgdllm.lm.toy_tokenizers import (
    KINDS,
    TokenBudget,
    bpe_tokenizer,
    digit_tokenizer,
    llmtime_text,
    number_corpus,
    number_tokenizer,
    token_budget,
    token_pieces,
    toy_tokenizers,
)


@pytest.fixture(scope="module")
def toks():
    return toy_tokenizers(seed=0)


def _pieces(tok, text):
    return tok.convert_ids_to_tokens(tok(text, add_special_tokens=False)["input_ids"])


def test_kinds_and_types(toks):
    assert tuple(toks) == KINDS
    for tok in toks.values():
        assert isinstance(tok, PreTrainedTokenizerFast)


def test_digit_tokenizer_one_token_per_character():
    tok = digit_tokenizer()
    assert tok.convert_ids_to_tokens(tok("523,041,")["input_ids"]) == [
        "<s>", "5", "2", "3", ",", "0", "4", "1", ",",
    ]  # fmt: skip
    no_bos = digit_tokenizer(bos=False)
    assert no_bos("52,")["input_ids"] == tok("52,", add_special_tokens=False)["input_ids"]


def test_number_tokenizer_chunks_of_three():
    tok = number_tokenizer()
    assert _pieces(tok, "5234,07,9,") == ["523", "4", ",", "07", ",", "9", ","]
    vocab = tok.get_vocab()
    assert all(f"{v:0{n}d}" in vocab for n in (1, 2, 3) for v in range(10**n))
    assert tok("1,")["input_ids"][0] == tok.bos_token_id


def test_bpe_merges_plain_digits_not_spaced(toks):
    tok = toks["bpe"]
    # trained on these numbers, it must have merged some digit pairs
    merged = [v for v in range(100, 1000) if len(_pieces(tok, str(v))) < 3]
    assert len(merged) > 50
    # but not all: the cut depends on the digits (what makes plain BPE text irregular)
    assert any(len(_pieces(tok, str(v))) == 3 for v in range(100, 1000))
    assert _pieces(tok, " 5 2 3 ,") == ["Ġ5", "Ġ2", "Ġ3", "Ġ,"]
    assert tok(" 5 ,")["input_ids"] == tok(" 5 ,", add_special_tokens=False)["input_ids"]


def test_bpe_is_deterministic_and_seeded():
    assert bpe_tokenizer(seed=0).get_vocab() == bpe_tokenizer(seed=0).get_vocab()
    assert number_corpus(1) != number_corpus(0)
    assert len(number_corpus(0, lines=10)) == 20


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("digit", ["digit"] * 3), ("bpe", ["digit", "spaced", "spaced"]),
     ("number", ["digit", "number", "number"])],
)  # fmt: skip
def test_adapters_read_each_kind(toks, kind, expected):
    assert [detect_adapter(toks[kind], d).kind for d in (1, 2, 3)] == expected


def test_llmtime_text_matches_serialize_and_adapters(toks):
    states = np.array([523, 41, 7, 999])
    assert llmtime_text(states, 3) == serialize(states, 3) + ","
    assert llmtime_text(states, 3, spaced=True) == " 5 2 3 , 0 4 1 , 0 0 7 , 9 9 9 ,"
    for tok in toks.values():
        adapter = detect_adapter(tok, 3)
        assert adapter.text(states) == llmtime_text(states, 3, spaced=adapter.kind == "spaced")


@pytest.mark.parametrize(("states", "digits"), [([1000], 3), ([-1], 2), ([[1, 2]], 2)])
def test_llmtime_text_rejects_bad_states(states, digits):
    with pytest.raises(ValueError, match=r"states|1-D"):
        llmtime_text(states, digits)


def test_llmtime_text_rejects_bad_digits():
    with pytest.raises(ValueError, match="digits"):
        llmtime_text([1], 5)


def test_token_pieces_cover_the_text(toks):
    text = llmtime_text([835, 850, 833, 679], 3)
    spaced = llmtime_text([835, 850, 833, 679], 3, spaced=True)
    assert token_pieces(toks["digit"], text) == list(text)
    assert token_pieces(toks["number"], text) == ["835", ",", "850", ",", "833", ",", "679", ","]
    assert token_pieces(toks["bpe"], spaced) == [spaced[i : i + 2] for i in range(0, 32, 2)]
    pieces = token_pieces(toks["bpe"], text)
    assert "".join(pieces) == text and len(pieces) < len(text)
    # the embedded model's tokenizer drops whitespace: pieces are the digits and commas
    assert token_pieces(build_digit_tokenizer(), spaced) == list(text)


@pytest.mark.parametrize("digits", [1, 2, 3])
def test_token_budget_constant_kinds(toks, digits):
    rng = np.random.default_rng(digits)
    states = rng.integers(0, 10**digits, size=700)
    plain = llmtime_text(states, digits)
    spaced = llmtime_text(states, digits, spaced=True)
    cases = [
        (toks["digit"], plain, digits + 1, 1),
        (toks["bpe"], spaced, digits + 1, 0),
        (toks["number"], plain, 2, 1),
        (build_digit_tokenizer(), plain, digits + 1, 1),
    ]
    for tok, text, per_value, prefix in cases:
        b = token_budget(tok, text)
        assert b.per_value.tolist() == [per_value] * states.size
        assert b.prefix == prefix
        assert b.tokens_per_value == per_value
        assert b.values_in_context(1024) == (1024 - prefix) // per_value
        ids = tok(text, verbose=False)["input_ids"]
        assert b.prefix + b.per_value.sum() == len(ids)


def test_token_budget_variable_bpe_counts_exactly(toks):
    """On plain text the BPE's count varies; values_in_context must match a direct count."""
    tok = toks["bpe"]
    rng = np.random.default_rng(5)
    states = np.clip(500 + np.cumsum(rng.integers(-30, 31, size=600)), 0, 999)
    text = llmtime_text(states, 3)
    b = token_budget(tok, text)
    per_value = [len(tok(f"{v:03d},")["input_ids"]) for v in states]
    assert b.per_value.tolist() == per_value
    assert b.per_value.min() < b.per_value.max() <= 4
    n = b.values_in_context(300)
    fits = len(tok(llmtime_text(states[:n], 3))["input_ids"])
    more = len(tok(llmtime_text(states[: n + 1], 3))["input_ids"])
    assert fits <= 300 < more


def test_token_budget_without_trailing_separator():
    b = token_budget(digit_tokenizer(), "523,541")
    assert b.per_value.tolist() == [4, 3]


def test_values_in_context_errors():
    b = TokenBudget(per_value=np.array([4, 4, 4]), prefix=1)
    with pytest.raises(ValueError, match="fits in a context"):
        b.values_in_context(1024)
    assert b.values_in_context(9) == 2
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="positive number of tokens"):
            b.values_in_context(bad)


def test_token_budget_input_errors(toks):
    with pytest.raises(ValueError, match="single character"):
        token_budget(toks["digit"], "5,", sep=", ")
    with pytest.raises(ValueError, match="non-empty string"):
        token_budget(toks["digit"], "")

    class Slow:
        is_fast = False

    with pytest.raises(TypeError, match="fast tokenizer"):
        token_pieces(Slow(), "5,")


def test_token_budget_refuses_a_token_across_the_separator():
    digits = [str(d) for d in range(10)]
    vocab = {"<unk>": 0, **{f"{d},": 1 + i for i, d in enumerate(digits)}}
    vocab.update({d: 11 + i for i, d in enumerate(digits)})
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"\d,|\d"), behavior="isolated")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>")
    assert token_budget(fast, "52,3,").per_value.tolist() == [2, 1]  # "5" "2," | "3,"
    # a separator inside a token that does not end there cannot be assigned to one value
    vocab2 = {"<unk>": 0, ",5": 1, "2": 2, ",": 3, "5": 4}
    tok2 = Tokenizer(models.WordLevel(vocab2, unk_token="<unk>"))
    tok2.pre_tokenizer = pre_tokenizers.Split(Regex(r",5|\d|,"), behavior="isolated")
    fast2 = PreTrainedTokenizerFast(tokenizer_object=tok2, unk_token="<unk>")
    with pytest.raises(ValueError, match="spans a separator"):
        token_budget(fast2, "2,5,")
