"""Digit tokenizer, the GPT-2-compatible training model, and smoke pretraining."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sgdllm.discretize import serialize
from sgdllm.lm.pretrain import (
    DigitGPT,
    ModelSpec,
    TrainConfig,
    load_digit_gpt,
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


def test_plain_model_matches_transformers_gpt2(tmp_path: Path) -> None:
    from transformers import GPT2LMHeadModel

    from sgdllm.lm.pretrain import gpt2_config, to_gpt2_state_dict

    torch.manual_seed(0)
    model = DigitGPT(ModelSpec(n_embd=24, n_layer=2, n_head=3, n_positions=64)).eval()
    with torch.no_grad():  # random LayerNorm/bias values so that no parameter is trivial
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    hf = GPT2LMHeadModel(gpt2_config(model.spec)).eval()
    missing, unexpected = hf.load_state_dict(to_gpt2_state_dict(model), strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}
    hf.tie_weights()
    ids = torch.randint(0, 14, (2, 40))
    with torch.no_grad():
        np.testing.assert_allclose(hf(ids).logits.numpy(), model(ids).numpy(), atol=1e-5)


def test_smoke_pretraining_saves_a_transformers_model(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "m"
    summary = train(out, TrainConfig.smoke(seed=1))
    assert summary["status"] == "done" and summary["steps"] > 0
    for name in ("config.json", "model.safetensors", "tokenizer.json", "training.json"):
        assert (out / name).is_file()
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    steps = [r for r in log if "step" in r and "loss" in r]
    assert steps and all({"step", "tokens", "loss"} <= set(r) for r in steps)
    assert any("val_loss_2d" in r for r in log)
    assert not list(out.glob(".*"))  # no temporary files left behind

    lm = AutoModelForCausalLM.from_pretrained(out).eval()
    tok = AutoTokenizer.from_pretrained(out)
    assert type(lm).__name__ == "GPT2LMHeadModel"
    ids = torch.tensor([tok("523,541,538,500,")["input_ids"]])
    with torch.no_grad():
        ref = load_digit_gpt(out)(ids)
        np.testing.assert_allclose(lm(ids).logits.numpy(), ref.numpy(), atol=1e-5)


def test_cli_smoke(tmp_path: Path) -> None:
    from sgdllm.cli import main

    args = ["pretrain", "--out", str(tmp_path / "c"), "--smoke", "--seed", "2"]
    assert main([*args, "--three-digits", "0.5", "--pack-prob", "0"]) == 0
    info = json.loads((tmp_path / "c" / "training.json").read_text())
    assert info["recipe"]["seed"] == 2 and info["status"] == "done"
    assert info["recipe"]["p_three_digits"] == 0.5 and info["recipe"]["pack_prob"] == 0.0


def test_shipped_recipe_is_the_default() -> None:
    """``sgdllm pretrain`` without recipe flags trains the shipped model's recipe."""
    import dataclasses

    from sgdllm.lm.evaluate import default_model_dir

    shipped = json.loads((default_model_dir() / "training.json").read_text())["recipe"]
    default = dataclasses.asdict(TrainConfig())
    for key in (
        "p_three_digits",
        "pack_prob",
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
