"""The shipped embedded model (``sgdllm/models/default``) end to end: Hierarchy-PDF's fast paths
on it (the restricted head, adaptive refinement within its bound) and ``sgdllm predict`` with it
(a tiny series, a series too long for it, sliding windows).

Not unit tests: they load and run the shipped model. The same paths on tiny random models are
unit tests, in ``tests/unit/lm/test_hierarchy_fast.py`` and ``tests/unit/test_cli_predict.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import sgdllm.lm.hierarchy as hierarchy
from sgdllm.lm import load_model, next_state_laws
from sgdllm.lm.hierarchy import check_restricted_head, next_state_laws_with_bound
from sgdllm.lm.load import default_model_path
from tests.unit.lm.lm_fixtures import random_states
from tests.unit.lm.test_hierarchy_fast import columns, full_head, tv
from tests.unit.test_cli_predict import ar1, run


@pytest.fixture(scope="module")
def embedded():
    if not (default_model_path() / "config.json").is_file():
        pytest.skip("the embedded model is not trained in this checkout")
    return load_model(device="cpu")


# ----------------------------------------------------------------------------- Hierarchy-PDF


def test_restricted_head_on_the_embedded_model(embedded, monkeypatch):
    assert check_restricted_head(embedded.model, columns(embedded, 3)).restricted
    states = random_states(40, 3, seed=3)
    fast = next_state_laws(embedded, states, 3, progress=False)
    full_head(monkeypatch)
    slow = next_state_laws(embedded, states, 3, progress=False)
    np.testing.assert_allclose(fast, slow, atol=1e-6, rtol=0)


@pytest.mark.parametrize("digits", [2, 3])
def test_adaptive_on_the_embedded_model(embedded, digits):
    states = random_states(60, digits, seed=digits)
    full = next_state_laws(embedded, states, digits, progress=False)
    laws, bound = next_state_laws_with_bound(
        embedded, states, digits, refine="adaptive", progress=False
    )
    assert (bound <= hierarchy.DEFAULT_TOL + 1e-12).all() and bound.max() > 0
    assert (tv(laws, full) <= bound + 1e-6).all()
    zero, zero_bound = next_state_laws_with_bound(
        embedded, states, digits, refine="adaptive", tol=0.0, progress=False
    )
    np.testing.assert_allclose(zero, full, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(zero_bound, 0.0)


# ----------------------------------------------------------------------------- sgdllm predict


def test_predict_with_model_on_tiny_series(tmp_path, capsys):
    x = ar1(steps=40, d=1)
    np.save(tmp_path / "tiny.npy", x)
    code, _, err = run(
        [
            "predict",
            str(tmp_path / "tiny.npy"),
            "--out",
            str(tmp_path / "o"),
            "--quiet",
            "--horizon",
            "3",
            "--horizon",
            "10",
        ],
        capsys,
    )
    assert code == 0, err
    summary = json.loads((tmp_path / "o" / "prediction.json").read_text())
    assert summary["settings"]["kernel"] == "model"
    assert summary["model"]["id"] == "default" and summary["model"]["values_per_read"] >= 40
    with np.load(tmp_path / "o" / "prediction.npz") as z:
        assert z["laws"].shape == (1, 1, 2, 100)
        assert np.all(np.isfinite(z["laws"]))


def test_too_long_for_the_model(tmp_path, capsys):
    np.save(tmp_path / "long.npy", ar1(steps=60, d=1))
    base = [
        "predict",
        str(tmp_path / "long.npy"),
        "--out",
        str(tmp_path / "o"),
        "--quiet",
        "--horizon",
        "5",
        "--max-values",
        "30",
    ]
    code, _, err = run(base, capsys)
    assert code == 1
    assert "60 steps" in err and "at most 30 values" in err and "--long window" in err
    assert not (tmp_path / "o").exists()
    code, _, err = run([*base, "--long", "truncate"], capsys)
    assert code == 0, err
    summary = json.loads((tmp_path / "o" / "prediction.json").read_text())
    assert summary["trajectory"]["steps_used"] == 30


def test_long_run_read_in_sliding_windows(tmp_path, capsys):
    np.save(tmp_path / "long.npy", ar1(steps=60, d=1))
    code, _, err = run(
        [
            "predict",
            str(tmp_path / "long.npy"),
            "--out",
            str(tmp_path / "o"),
            "--quiet",
            "--horizon",
            "5",
            "--max-values",
            "30",
            "--long",
            "window",
            "--names",
            "weight",
        ],
        capsys,
    )
    assert code == 0, err
    summary = json.loads((tmp_path / "o" / "prediction.json").read_text())
    assert summary["model"]["windowed"] is True and summary["model"]["values_per_read"] == 30
    assert summary["trajectory"]["steps_used"] == 60
    assert summary["trajectory"]["names"] == ["weight"]
