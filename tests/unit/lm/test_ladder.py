"""The model ladder (sgdllm.lm.ladder): ids checked first, titles, the laws cache directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from sgdllm.book.executor import BookLayout, _kernel_env
from sgdllm.lm import ladder
from sgdllm.lm import load as load_mod


def test_check_models_refuses_strings_empty_and_duplicates():
    assert ladder.check_models(["embedded", "smollm2-135m"]) == ["embedded", "smollm2-135m"]
    with pytest.raises(TypeError, match="list of model ids"):
        ladder.check_models("smollm2-135m")
    with pytest.raises(ValueError, match="empty"):
        ladder.check_models([])
    with pytest.raises(ValueError, match="more than once"):
        ladder.check_models(["embedded", "embedded"])
    with pytest.raises(TypeError, match="non-empty string"):
        ladder.check_models(["embedded", None])


def test_model_titles():
    assert ladder.model_title("embedded") == "embedded (0.8M)"
    assert ladder.model_title("smollm2-135m") == "SmolLM2-135M"
    assert ladder.model_title("gemma-3-270m") == "Gemma 3 270M"
    assert ladder.model_title("/some/dir/my-model") == "my-model"


def test_embedded_id_loads_the_package_model(monkeypatch):
    seen = []
    monkeypatch.setattr(ladder, "load_model", lambda name, **kw: seen.append((name, kw)) or name)
    out = ladder.load_ladder(["embedded", "x/y"], dtype="float32")
    assert out == {"embedded": None, "x/y": "x/y"}
    assert seen == [(None, {"dtype": "float32"}), ("x/y", {"dtype": "float32"})]


def test_load_model_takes_embedded_as_the_default(monkeypatch):
    name, source, local = load_mod._resolve_source("embedded", None)
    assert (name, source, local) == load_mod._resolve_source(None, None)


def test_laws_cache_dir_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(ladder.LAWS_CACHE_ENV, raising=False)
    assert ladder.laws_cache_dir() is None
    monkeypatch.setenv(ladder.LAWS_CACHE_ENV, str(tmp_path))
    assert ladder.laws_cache_dir() == tmp_path


def test_book_kernels_get_the_laws_cache(monkeypatch, tmp_path):
    import os

    monkeypatch.delenv(ladder.LAWS_CACHE_ENV, raising=False)
    layout = BookLayout(tmp_path)
    assert layout.laws_cache == tmp_path / "_build" / "laws-cache"
    with _kernel_env(None, layout.laws_cache):
        assert Path(os.environ[ladder.LAWS_CACHE_ENV]) == layout.laws_cache
    assert ladder.LAWS_CACHE_ENV not in os.environ


def test_ladder_laws_reads_the_embedded_model_exactly_and_the_others_adaptively(
    monkeypatch, tmp_path
):
    from sgdllm.lm import hierarchy

    seen = []
    monkeypatch.setattr(
        hierarchy, "next_state_laws", lambda lm, s, d, **kw: seen.append((lm, list(s), d, kw))
    )
    monkeypatch.setenv(ladder.LAWS_CACHE_ENV, str(tmp_path))
    ladder.ladder_laws("lm0", "embedded", [1, 2], 2, refine="adaptive", tol=1e-3)
    ladder.ladder_laws("lm1", "smollm2-135m", [3], 3, refine="neighbours", tol=0.01)
    cached = {"progress": False, "cache_dir": tmp_path}
    assert seen == [
        ("lm0", [1, 2], 2, cached),
        ("lm1", [3], 3, {**cached, "refine": "neighbours", "tol": 0.01}),
    ]
