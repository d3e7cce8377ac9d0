"""Loading models (sgdllm.lm.load): local directories, the embedded default, offline Hub ids."""

from __future__ import annotations

import time

import pytest
import torch

from sgdllm.lm import LanguageModel, load_model
from sgdllm.lm import load as load_mod
from sgdllm.lm.adapters import DigitAdapter, NumberTokenAdapter
from tests.unit.lm.lm_fixtures import save_pair, tiny_pair


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {
        "digit": save_pair(*tiny_pair("digit", seed=0), root / "digit"),
        "digit-other": save_pair(*tiny_pair("digit", seed=1), root / "digit-other"),
        "number": save_pair(*tiny_pair("number"), root / "number"),
    }


def test_load_local_directory(saved):
    lm = load_model(saved["digit"], device="cpu")
    assert isinstance(lm, LanguageModel)
    assert not lm.model.training
    assert not any(p.requires_grad for p in lm.model.parameters())
    assert lm.device == torch.device("cpu") and lm.dtype == torch.float32
    assert isinstance(lm.adapter, DigitAdapter) and lm.adapter.digits == 3
    assert lm.max_positions == 128
    assert lm.name == str(saved["digit"])
    assert len(lm.weights_hash) == 64
    assert lm.model.config._attn_implementation == "sdpa"


def test_load_llama_with_number_tokens(saved):
    lm = load_model(str(saved["number"]))
    assert isinstance(lm.adapter, NumberTokenAdapter)
    assert lm.max_positions == 128


def test_weights_hash_is_stable_and_discriminates(saved):
    a = load_model(saved["digit"]).weights_hash
    assert load_model(saved["digit"]).weights_hash == a
    assert load_model(saved["digit-other"]).weights_hash != a
    files = sorted(saved["digit"].glob("*.safetensors"))
    assert a == load_mod.hash_files(files)


def test_dtype_override(saved):
    lm = load_model(saved["digit"], dtype="bfloat16")
    assert lm.dtype == torch.bfloat16
    with pytest.raises(ValueError, match="floating point"):
        load_model(saved["digit"], dtype="int8")


def test_resolve_device_and_dtype_defaults():
    assert load_mod.resolve_dtype(None, torch.device("cpu")) == torch.float32
    assert load_mod.resolve_dtype(None, torch.device("cuda")) == torch.bfloat16
    if not torch.cuda.is_available():
        assert load_mod.resolve_device(None) == torch.device("cpu")
        with pytest.raises(ValueError, match="CUDA is not available"):
            load_mod.resolve_device("cuda")


def test_default_model_missing_says_how_to_train_it(monkeypatch, tmp_path):
    monkeypatch.setattr(load_mod, "default_model_path", lambda: tmp_path / "default")
    with pytest.raises(FileNotFoundError, match="sgdllm pretrain"):
        load_model()


def test_default_model_loads_from_package_directory(monkeypatch, saved):
    monkeypatch.setattr(load_mod, "default_model_path", lambda: saved["digit"])
    lm = load_model()
    assert lm.name == "default" and isinstance(lm.adapter, DigitAdapter)


def test_default_model_path_is_inside_the_package():
    path = load_mod.default_model_path()
    assert path.parts[-3:] == ("sgdllm", "models", "default")


def test_embedded_default_model_if_trained():
    """Once `sgdllm pretrain` has written it, the embedded model loads as a digit model."""
    if not (load_mod.default_model_path() / "config.json").is_file():
        pytest.skip("the embedded default model has not been trained yet (sgdllm pretrain)")
    lm = load_model(device="cpu")
    assert lm.name == "default"
    assert isinstance(lm.adapter, DigitAdapter)


def test_offline_unknown_hub_id_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(OSError, match="hf download sgdllm-test/no-such-model"):
        load_model("sgdllm-test/no-such-model")
    assert time.perf_counter() - start < 3.0


def test_local_files_only_unknown_hub_id_fails_fast(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    start = time.perf_counter()
    with pytest.raises(OSError, match="offline mode"):
        load_model("sgdllm-test/no-such-model", local_files_only=True)
    assert time.perf_counter() - start < 3.0


def test_unreachable_hub_fails_fast(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(load_mod, "_hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(OSError, match="cannot be reached"):
        load_model("sgdllm-test/no-such-model")


def test_cached_hub_id_is_loaded_offline(monkeypatch, tmp_path):
    """An id found in the local Hub cache is loaded with local_files_only, even offline."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(load_mod, "_cached_snapshot", lambda repo_id: tmp_path)
    name, source, local_only = load_mod._resolve_source("org/cached-model", None)
    assert (name, source, local_only) == ("org/cached-model", "org/cached-model", True)


def test_missing_local_path_is_not_taken_for_a_hub_id(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model("./no/such/dir")


def test_directory_without_config(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        load_model(tmp_path)


def test_wrap_model_hashes_tensors():
    model, tok = tiny_pair("digit")
    a = load_mod.wrap_model(model, tok)
    assert a.weights_hash == load_mod.hash_state_dict(model)
    other, _ = tiny_pair("digit", seed=1)
    assert load_mod.hash_state_dict(other) != a.weights_hash


def test_sliding_window_caps_the_context():
    from transformers import MistralConfig, MistralForCausalLM

    _, tok = tiny_pair("digit")
    config = MistralConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        sliding_window=16,
    )
    torch.manual_seed(0)
    lm = load_mod.wrap_model(MistralForCausalLM(config), tok)
    assert lm.max_positions == 16
