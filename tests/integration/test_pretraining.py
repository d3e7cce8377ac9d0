"""Smoke pretraining of the embedded model's recipe (``sgdllm.lm.pretrain``): a tiny model trained
for a few steps, saved as a transformers model, through the API and ``sgdllm pretrain``.

Not unit tests: they train (seconds each). The rest of ``sgdllm.lm.pretrain`` is tested in
``tests/unit/lm/test_pretrain.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sgdllm.lm.pretrain import TrainConfig, load_digit_llama, train, training_curves


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
    curves = training_curves(out)
    assert curves["tokens"].tolist() == [r["tokens"] for r in steps]
    assert curves["val_loss_2d"].size == sum("val_loss_2d" in r and "tokens" in r for r in log)
    assert np.all(np.isfinite(curves["val_loss_3d"]))
    with pytest.raises(FileNotFoundError, match="sgdllm pretrain"):
        training_curves(tmp_path / "nothing")

    lm = AutoModelForCausalLM.from_pretrained(out).eval()
    tok = AutoTokenizer.from_pretrained(out)
    assert type(lm).__name__ == "LlamaForCausalLM"
    ids = torch.tensor([tok("523,541,538,500,")["input_ids"]])
    with torch.no_grad():
        ref = load_digit_llama(out)(ids)
        np.testing.assert_allclose(lm(ids).logits.numpy(), ref.numpy(), atol=1e-5)


def test_cli_smoke(tmp_path: Path) -> None:
    from sgdllm.cli import main

    args = ["pretrain", "--out", str(tmp_path / "c"), "--smoke", "--seed", "2"]
    assert main([*args, "--three-digits", "0.5", "--pack-prob", "0", "--fourier", "0"]) == 0
    info = json.loads((tmp_path / "c" / "training.json").read_text())
    assert info["recipe"]["seed"] == 2 and info["status"] == "done"
    assert info["recipe"]["p_three_digits"] == 0.5 and info["recipe"]["pack_prob"] == 0.0
    assert info["recipe"]["fourier"] == 0.0
    args[2] = str(tmp_path / "w")
    assert main([*args, "--width", "48", "--heads", "2", "--layers", "1"]) == 0
    spec = json.loads((tmp_path / "w" / "training.json").read_text())["recipe"]["spec"]
    assert (spec["n_embd"], spec["n_head"], spec["n_layer"], spec["n_inner"]) == (48, 2, 1, 128)
