"""Tokenizer adapters (sgdllm.lm.adapters): detection from the tokenizer, token layout."""

from __future__ import annotations

import numpy as np
import pytest
from tokenizers import Regex, Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from sgdllm.lm.adapters import (
    DigitAdapter,
    NumberTokenAdapter,
    SpacedDigitAdapter,
    detect_adapter,
    symbols,
)
from tests.unit.lm.lm_fixtures import bpe_tokenizer, digit_tokenizer, number_tokenizer


@pytest.fixture(scope="module")
def tokenizers():
    return {"digit": digit_tokenizer(), "bpe": bpe_tokenizer(), "number": number_tokenizer()}


def test_symbols_mixed_radix():
    np.testing.assert_array_equal(symbols([523, 7], (10, 10, 10)), [[5, 2, 3], [0, 0, 7]])
    np.testing.assert_array_equal(symbols([523], (1000,)), [[523]])
    np.testing.assert_array_equal(symbols([47], (10, 10)), [[4, 7]])


@pytest.mark.parametrize(
    ("kind", "digits", "expected"),
    [
        ("digit", 1, DigitAdapter),
        ("digit", 2, DigitAdapter),
        ("digit", 3, DigitAdapter),
        ("digit", 4, DigitAdapter),
        ("bpe", 2, SpacedDigitAdapter),
        ("bpe", 3, SpacedDigitAdapter),
        ("bpe", 1, DigitAdapter),  # single digits between commas are never merged
        ("number", 2, NumberTokenAdapter),
        ("number", 3, NumberTokenAdapter),
        ("number", 1, DigitAdapter),  # "0".."9" are both digits and 1-digit numbers
    ],
)
def test_detect_adapter_kinds(tokenizers, kind, digits, expected):
    tok = tokenizers[kind]
    adapter = detect_adapter(tok, digits)
    assert type(adapter) is expected
    assert adapter.digits == digits
    if expected is NumberTokenAdapter:
        assert adapter.radices == (10**digits,)
    else:
        assert adapter.radices == (10,) * digits


def test_bpe_merges_plain_digits_but_not_spaced(tokenizers):
    """The GPT-2-like fixture really needs the spaced form."""
    tok = tokenizers["bpe"]
    assert len(tok("523", add_special_tokens=False)["input_ids"]) < 3
    assert len(tok(" 5 2 3 ,", add_special_tokens=False)["input_ids"]) == 4


@pytest.mark.parametrize(("kind", "digits"), [("digit", 3), ("bpe", 2), ("number", 3)])
def test_encode_matches_tokenizer(tokenizers, kind, digits):
    """ids equal what the tokenizer gives for the adapter's text, and value_pos points at them."""
    tok = tokenizers[kind]
    adapter = detect_adapter(tok, digits)
    rng = np.random.default_rng(3)
    states = rng.integers(0, 10**digits, size=17)
    enc = adapter.encode(states)
    assert enc.ids.tolist() == tok(adapter.text(states))["input_ids"]
    assert enc.value_pos.shape == (states.size + 1, adapter.levels)
    sym = symbols(states, adapter.radices)
    for k, ids in enumerate(adapter.level_ids):
        np.testing.assert_array_equal(enc.ids[enc.value_pos[:-1, k]], np.asarray(ids)[sym[:, k]])
    # the unseen value's first token comes right after the final separator
    assert enc.value_pos[-1, 0] == enc.ids.size
    assert enc.ids[-1] == adapter.sep_ids[-1]


def test_prefix_is_bos_when_the_tokenizer_adds_it(tokenizers):
    assert detect_adapter(tokenizers["digit"], 2).prefix_ids == (tokenizers["digit"].bos_token_id,)
    assert detect_adapter(digit_tokenizer(bos=False), 2).prefix_ids == ()
    assert detect_adapter(tokenizers["bpe"], 2).prefix_ids == ()  # GPT-2 adds no BOS


def test_spaced_text_is_llmtime_format(tokenizers):
    adapter = detect_adapter(tokenizers["bpe"], 3)
    assert adapter.text(np.array([523, 41])) == " 5 2 3 , 0 4 1 ,"
    pieces = tokenizers["bpe"].convert_ids_to_tokens(adapter.encode(np.array([523])).ids.tolist())
    assert pieces == ["Ġ5", "Ġ2", "Ġ3", "Ġ,"]


def test_number_adapter_single_softmax_layout(tokenizers):
    adapter = detect_adapter(tokenizers["number"], 3)
    assert adapter.levels == 1 and adapter.tokens_per_value == 2
    pieces = tokenizers["number"].convert_ids_to_tokens(adapter.encode(np.array([7, 523])).ids)
    assert pieces == ["<|begin_of_text|>", "007", ",", "523", ","]


def test_number_adapter_unavailable_beyond_vocab(tokenizers):
    with pytest.raises(ValueError, match="no tokenizer adapter fits"):
        detect_adapter(tokenizers["number"], 4)


def test_unfit_tokenizer_error_names_the_pieces():
    """A tokenizer that keeps whole runs of digits (and has no spaced digit tokens) fits none."""
    vocab = {"<unk>": 0, ",": 1, " ": 2}
    vocab.update({f"{v:03d}": 3 + v for v in range(1000)})
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"\d+|,| "), behavior="isolated")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>")
    assert type(detect_adapter(fast, 3)) is NumberTokenAdapter
    with pytest.raises(ValueError, match=r"digits=2.*\['<unk>'"):
        detect_adapter(fast, 2)


def test_states_out_of_range_are_rejected(tokenizers):
    adapter = detect_adapter(tokenizers["digit"], 2)
    with pytest.raises(ValueError, match="discretize"):
        adapter.encode(np.array([5, 100]))
    with pytest.raises(ValueError, match="1-D"):
        adapter.encode(np.zeros((2, 2), dtype=int))


def test_embedded_model_tokenizer_is_a_digit_tokenizer_with_bos():
    """The tokenizer of the embedded default model (sgdllm.lm.tokenizer) fits DigitAdapter."""
    try:
        from sgdllm.lm.tokenizer import build_digit_tokenizer
    except ImportError:
        pytest.skip("sgdllm.lm.tokenizer is not available")
    tok = build_digit_tokenizer()
    for digits in (2, 3):
        adapter = detect_adapter(tok, digits)
        assert type(adapter) is DigitAdapter
        assert adapter.prefix_ids == (tok.bos_token_id,)
