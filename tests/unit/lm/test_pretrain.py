"""Digit tokenizer, the LLaMA-compatible training model and the training recipe (smoke
pretraining runs are in ``tests/integration/test_pretraining.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sgdllm.discretize import serialize
from sgdllm.lm.pretrain import (
    DigitLlama,
    ModelSpec,
    TrainConfig,
    fourier_digit_embedding,
    make_batch,
    max_values,
    train,
)
from sgdllm.lm.tokenizer import BOS_ID, SEP_ID, build_digit_tokenizer, encode_states


def test_tokenizer_ids_and_round_trip(tmp_path: Path) -> None:
    tok = build_digit_tokenizer()
    ids = tok("523,541,")["input_ids"]
    assert ids == [11, 5, 2, 3, 10, 5, 4, 1, 10]
    assert tok.convert_ids_to_tokens(ids) == ["<s>", "5", "2", "3", ",", "5", "4", "1", ","]
    assert tok.decode(ids, skip_special_tokens=True) == "523,541,"
    assert tok("5 2 3 , 5 4 1 ,")["input_ids"] == ids
    assert (tok.bos_token_id, tok.pad_token_id) == (11, 12)
    tok.save_pretrained(tmp_path)
    from transformers import AutoTokenizer

    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again("523,541,")["input_ids"] == ids
    assert again.decode(ids, skip_special_tokens=True) == "523,541,"


@pytest.mark.parametrize("digits", [2, 3])
def test_fast_encoding_matches_tokenizer(digits: int) -> None:
    rng = np.random.default_rng(0)
    states = rng.integers(0, 10**digits, 20)
    text = serialize(states, digits) + ","
    assert encode_states(states, digits).tolist() == build_digit_tokenizer()(text)["input_ids"]
    assert max_values(2) == 341 and max_values(3) == 255


def test_batches_are_serialized_series() -> None:
    rng = np.random.default_rng(0)
    ids = make_batch(rng, 3, 2, 64, pack_prob=0.0)
    assert ids.shape == (3, 64)
    assert (ids[:, 0] == BOS_ID).all()
    assert (ids[:, 3::3] == SEP_ID).all()
    assert (ids[:, 1:] < 10).sum() == 3 * 2 * 21
    packed = make_batch(rng, 4, 3, 200, pack_prob=1.0)
    assert packed.shape == (4, 200) and (packed[:, 0] == BOS_ID).all()
    assert (packed == BOS_ID).sum() > 4


def test_plain_model_matches_transformers_llama(tmp_path: Path) -> None:
    from transformers import LlamaForCausalLM

    from sgdllm.lm.pretrain import llama_config, to_llama_state_dict

    torch.manual_seed(0)
    model = DigitLlama(ModelSpec(n_embd=24, n_layer=2, n_head=3, n_positions=64)).eval()
    with torch.no_grad():  # random RMSNorm gains and larger weights: no parameter is trivial
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    hf = LlamaForCausalLM(llama_config(model.spec)).eval()
    missing, unexpected = hf.load_state_dict(to_llama_state_dict(model), strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}
    hf.tie_weights()
    ids = torch.randint(0, 14, (2, 60))
    with torch.no_grad():
        ref = model(ids)
        assert ref.std() > 0.5  # logits far from uniform, so the comparison has teeth
        np.testing.assert_allclose(hf(ids).logits.numpy(), ref.numpy(), atol=1e-5)
        # rotary positions: shifting the whole text changes nothing but the positions, and a
        # causal model with relative positions gives the same logits for the shifted copy
        pos = torch.arange(5, 65)[None].expand(2, -1)
        shifted = hf(ids, position_ids=pos).logits
        np.testing.assert_allclose(shifted.numpy(), ref.numpy(), atol=1e-4)


def test_model_spec_derives_the_swiglu_width_and_checks_heads() -> None:
    assert ModelSpec().n_inner == 352  # 8/3 * 128 rounded to a multiple of 32
    assert ModelSpec(n_embd=64, n_head=2).n_inner == 160
    assert ModelSpec(n_inner=100).n_inner == 100
    with pytest.raises(ValueError, match="multiple of n_head"):
        ModelSpec(n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="even head width"):
        ModelSpec(n_embd=27, n_head=3)


def test_fourier_digit_embedding_is_a_shift_equivariant_basis() -> None:
    e = fourier_digit_embedding(1.0, 16).double()
    assert e.shape == (10, 16) and torch.all(e[:, 10:] == 0)
    # Gram matrix of the periodic part depends only on (a - b) mod 10: adding one to every
    # digit modulo 10 (the last digit of a value moving by one, carry aside) is an isometry,
    # a rotation in each frequency's plane, and the nine periodic columns have full rank
    g = e[:, :9] @ e[:, :9].T
    for a in range(10):
        for b in range(10):
            assert torch.isclose(g[a, b], g[(a + 1) % 10, (b + 1) % 10], atol=1e-6)
    assert torch.linalg.matrix_rank(e[:, :9]) == 9
    # the last coordinate orders the digits
    assert torch.all(torch.diff(e[:, 9]) > 0)
    torch.manual_seed(0)
    model = DigitLlama(ModelSpec(n_embd=32, n_layer=1, n_head=2), fourier=0.1)
    w = model.embed_tokens.weight.detach()
    torch.testing.assert_close(w[:10, :10], fourier_digit_embedding(0.1, 32)[:, :10])
    assert torch.all(w[10:, :10] == 0) and w[:, 10:].std() > 0.01
    with pytest.raises(ValueError, match="n_embd >= 10"):
        fourier_digit_embedding(1.0, 8)


def test_shipped_recipe_is_the_default() -> None:
    """``sgdllm pretrain`` without recipe flags trains the shipped model's recipe."""
    import dataclasses

    from sgdllm.lm.evaluate import default_model_dir

    shipped = json.loads((default_model_dir() / "training.json").read_text())["recipe"]
    default = dataclasses.asdict(TrainConfig())
    for key in (
        "p_three_digits",
        "pack_prob",
        "fourier",
        "mixture",
        "lr",
        "batch",
        "seq_tokens",
        "seed",
        "minutes",
        "spec",
    ):
        assert default[key] == shipped[key], key


@pytest.mark.parametrize("field", ["p_three_digits", "pack_prob"])
def test_mix_probabilities_out_of_range_are_refused(tmp_path: Path, field: str) -> None:
    cfg = TrainConfig.smoke()
    setattr(cfg, field, 1.5)
    with pytest.raises(ValueError, match=f"{field}=1.5 .* in \\[0, 1\\]"):
        train(tmp_path / "bad", cfg)
    assert not (tmp_path / "bad").exists()


def test_mixture_draws_only_the_named_families(tmp_path: Path) -> None:
    from sgdllm.lm.processes import random_train_process

    rng = np.random.default_rng(0)
    names = {random_train_process(rng, {"ar1": 1.0, "langevin": 0.0}).name for _ in range(20)}
    assert names == {"ar1"}
    # discrete chains repeat a few exact states: a batch from them alone has few distinct values
    only_chains = make_batch(rng, 2, 2, 301, pack_prob=0.0, mixture={"markov_chain": 1.0})
    values = only_chains[:, 1:].reshape(2, -1, 3)[:, :, :2]
    assert max(len({tuple(v) for v in row.tolist()}) for row in values) <= 12


@pytest.mark.parametrize(
    ("mixture", "message"),
    [
        ({"student_t_ar": 1.0}, "held out from training"),
        ({"sgd": 1.0}, "not training families"),
        ({"ar1": -1.0, "langevin": 2.0}, ">= 0"),
        ({"ar1": 0.0}, "not all 0"),
    ],
)
def test_bad_mixtures_are_refused_before_training(
    tmp_path: Path, mixture: dict, message: str
) -> None:
    cfg = TrainConfig.smoke()
    cfg.mixture = mixture
    with pytest.raises(ValueError, match=message):
        train(tmp_path / "bad", cfg)
    assert not (tmp_path / "bad").exists()
