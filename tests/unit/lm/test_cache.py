"""Disk cache of laws (sgdllm.lm.cache) and its use by next_state_laws."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sgdllm.lm import cache as disk_cache
from sgdllm.lm import next_state_laws
from sgdllm.lm.load import wrap_model
from tests.unit.lm.lm_fixtures import random_states, tiny_pair


@pytest.fixture(scope="module")
def lm():
    return wrap_model(*tiny_pair("digit"))


def _key(**change):
    spec = {
        "weights_hash": "ab" * 32,
        "dtype": "torch.float32",
        "adapter": {"kind": "digit"},
        "states": np.array([1, 2, 3]),
        "digits": 2,
        "options": {"refine": "full", "depth": 2, "window": 40, "min_context": 20},
    }
    spec.update(change)
    return disk_cache.laws_key(**spec)


def test_key_depends_on_every_input():
    base = _key()
    assert base == _key() and len(base) == 64
    assert _key(weights_hash="cd" * 32) != base
    assert _key(dtype="torch.bfloat16") != base
    assert _key(adapter={"kind": "spaced"}) != base
    assert _key(states=np.array([1, 2, 4])) != base
    assert _key(states=np.array([1, 2, 3, 0])) != base
    assert _key(digits=3) != base
    options = {"refine": "neighbours", "depth": 2, "window": 40, "min_context": 20}
    assert _key(options=options) != base
    assert _key(states=np.array([1, 2, 3], dtype=np.int32)) == base  # values, not dtype


def test_save_then_load(tmp_path):
    laws = np.full((3, 100), 0.01)
    key = _key()
    path = disk_cache.save_laws(tmp_path / "sub", key, laws)
    assert path.exists() and not list(path.parent.glob("*.tmp"))
    np.testing.assert_array_equal(disk_cache.load_laws(tmp_path / "sub", key, (3, 100)), laws)
    assert disk_cache.load_laws(tmp_path / "sub", key, (4, 100)) is None
    assert disk_cache.load_laws(tmp_path / "sub", _key(digits=3), (3, 100)) is None


@pytest.mark.parametrize("damage", ["truncate", "flip", "sidecar", "nan", "no-sidecar"])
def test_corrupt_entries_are_never_trusted(tmp_path, damage):
    laws = np.full((3, 100), 0.01)
    key = _key()
    npy = disk_cache.save_laws(tmp_path, key, laws)
    meta = npy.with_suffix(".json")
    if damage == "truncate":
        npy.write_bytes(npy.read_bytes()[:-16])
    elif damage == "flip":
        raw = bytearray(npy.read_bytes())
        raw[-3] ^= 0xFF
        npy.write_bytes(bytes(raw))
    elif damage == "sidecar":
        meta.write_text("{not json")
    elif damage == "nan":  # a valid file with a consistent checksum but invalid content
        bad = laws.copy()
        bad[1, 0] = np.nan
        disk_cache.save_laws(tmp_path, key, bad)
    elif damage == "no-sidecar":
        meta.unlink()
    assert disk_cache.load_laws(tmp_path, key, (3, 100)) is None


def test_second_call_hits_the_cache(lm, tmp_path):
    calls = []
    handle = lm.model.register_forward_pre_hook(lambda *args: calls.append(1))
    try:
        states = random_states(7, 2, seed=1)
        first = next_state_laws(lm, states, 2, cache_dir=tmp_path, progress=False)
        n_first = len(calls)
        assert n_first > 0
        second = next_state_laws(lm, states, 2, cache_dir=tmp_path, progress=False)
        assert len(calls) == n_first  # the model was not called
        np.testing.assert_array_equal(first, second)
        # explicit defaults hit the same entry
        next_state_laws(lm, states, 2, refine="full", depth=2, cache_dir=tmp_path, progress=False)
        assert len(calls) == n_first
        # other settings miss
        next_state_laws(lm, states, 2, refine="neighbours", cache_dir=tmp_path, progress=False)
        assert len(calls) > n_first
        n = len(calls)
        next_state_laws(lm, states[:-1], 2, cache_dir=tmp_path, progress=False)
        assert len(calls) > n
        n = len(calls)
        next_state_laws(lm, states, 2, window=4, min_context=2, cache_dir=tmp_path, progress=False)
        assert len(calls) > n
    finally:
        handle.remove()
    entries = sorted(tmp_path.glob("*.json"))
    assert len(entries) == 4
    assert all(json.loads(p.read_text())["key"] == p.stem for p in entries)


def test_corrupt_cached_laws_are_recomputed(lm, tmp_path):
    states = random_states(5, 2, seed=2)
    good = next_state_laws(lm, states, 2, cache_dir=tmp_path, progress=False)
    (npy,) = tmp_path.glob("*.npy")
    npy.write_bytes(b"garbage")
    again = next_state_laws(lm, states, 2, cache_dir=tmp_path, progress=False)
    np.testing.assert_allclose(again, good, atol=1e-12)
    assert disk_cache.load_laws(tmp_path, npy.stem, good.shape) is not None
