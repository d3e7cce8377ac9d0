"""Fast Hierarchy-PDF (sgdllm.lm.hierarchy): restricted head and adaptive refinement.

The restricted head must give the laws of the full head (only rounding apart), and refuse
itself where it cannot reproduce a model's logits; adaptive refinement must stay within the
bound it reports of full refinement. Tiny random models of every tokenizer kind
(``lm_fixtures``) and a Gemma 3 with final-logit soft-capping; the same checks on the shipped
embedded model are in ``tests/integration/test_embedded_model.py``.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

import sgdllm.lm.hierarchy as hierarchy
from sgdllm.lm import next_state_laws
from sgdllm.lm.hierarchy import (
    HeadCheck,
    TokenCounter,
    check_restricted_head,
    next_state_laws_with_bound,
)
from sgdllm.lm.load import wrap_model
from tests.unit.lm.lm_fixtures import (
    brute_force_laws,
    digit_tokenizer,
    random_states,
    tiny_lms,
    tiny_pair,
)

KINDS = ["digit", "bpe", "number", "digit-llama"]


@pytest.fixture(scope="module")
def lms():
    return tiny_lms()


def columns(lm, digits: int) -> np.ndarray:
    adapter = lm.adapter_for(digits)
    return np.unique(np.concatenate([np.asarray(ids) for ids in adapter.level_ids]))


def full_head(monkeypatch) -> None:
    """Make every model fail the head check, so that Hierarchy-PDF uses the full head."""
    monkeypatch.setattr(
        hierarchy, "check_restricted_head", lambda *a: HeadCheck(False, np.inf, 0.0, "test")
    )


def tv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return 0.5 * np.abs(a - b).sum(axis=1)


def tiny_gemma3(vocab_size: int, softcap: float | None, seed: int = 0):
    """A random Gemma 3 text model (sliding-window layers, final-logit soft-capping)."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(seed)
    config = Gemma3TextConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=128,
        sliding_window=128,
        final_logit_softcapping=softcap,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    model = Gemma3ForCausalLM(config).eval()
    with torch.no_grad():  # sharp logits, so that the soft-capping matters
        model.lm_head.weight.mul_(30.0)
    return model


# ----------------------------------------------------------------------------- restricted head


@pytest.mark.parametrize("kind", KINDS)
def test_restricted_head_passes_its_check(lms, kind):
    check = check_restricted_head(lms[kind].model, columns(lms[kind], 2))
    assert check.restricted, check.reason
    assert check.max_abs_diff <= check.tolerance


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("digits", "n"), [(2, 6), (3, 3)])
def test_restricted_head_gives_the_laws_of_the_full_head(lms, kind, digits, n, monkeypatch):
    lm = lms[kind]
    states = random_states(n, digits, seed=digits + 7)
    fast = next_state_laws(lm, states, digits, progress=False)
    full_head(monkeypatch)
    slow = next_state_laws(lm, states, digits, progress=False)
    np.testing.assert_allclose(fast, slow, atol=1e-6, rtol=0)
    assert np.abs(slow - 1.0 / 10**digits).max() > 1e-2  # a sharp model: the test can fail


def test_soft_capping_is_reproduced():
    """Gemma 3 caps its logits, c tanh(l / c): the restricted head applies it and checks out,
    and its laws equal naive scoring through the model's own forward."""
    tok = digit_tokenizer()
    model = tiny_gemma3(len(tok), softcap=5.0)
    lm = wrap_model(model, tok)
    check = check_restricted_head(model, columns(lm, 2))
    assert check.restricted, check.reason
    states = random_states(5, 2, seed=1)
    laws = next_state_laws(lm, states, 2, progress=False)
    np.testing.assert_allclose(laws, brute_force_laws(lm, states, 2), atol=1e-5)
    # without the cap, the restricted logits would be far off: the check can fail
    index = torch.as_tensor(columns(lm, 2))
    ids = torch.as_tensor(random_states(4, 2)[None] % len(tok))
    full = model(input_ids=ids).logits[0][:, index]
    model.config.final_logit_softcapping = None
    uncapped = model(input_ids=ids).logits[0][:, index]
    model.config.final_logit_softcapping = 5.0
    assert float((full - uncapped).abs().max()) > 1.0


def test_unknown_logit_processing_falls_back_to_the_full_head():
    """A forward that rescales its logits after the output layer fails the check; the laws
    are still exact (full head)."""
    model, tok = tiny_pair("digit", seed=6)
    forward = model.forward

    @functools.wraps(forward)
    def scaled(*args, **kwargs):
        out = forward(*args, **kwargs)
        out.logits = out.logits * 0.5
        return out

    model.forward = scaled
    lm = wrap_model(model, tok)
    check = check_restricted_head(model, columns(lm, 2))
    assert not check.restricted and "differ" in check.reason
    states = random_states(4, 2, seed=2)
    np.testing.assert_allclose(
        next_state_laws(lm, states, 2, progress=False), brute_force_laws(lm, states, 2), atol=1e-5
    )


def test_output_layer_bias_is_kept():
    model, tok = tiny_pair("digit", seed=7)
    old = model.lm_head
    head = torch.nn.Linear(old.in_features, old.out_features, bias=True)
    with torch.no_grad():
        head.weight.copy_(old.weight)
        head.bias.copy_(torch.randn(old.out_features) * 3)
    model.lm_head = head
    lm = wrap_model(model, tok)
    assert check_restricted_head(model, columns(lm, 2)).restricted
    states = random_states(4, 2, seed=3)
    np.testing.assert_allclose(
        next_state_laws(lm, states, 2, progress=False), brute_force_laws(lm, states, 2), atol=1e-5
    )


def test_the_head_check_is_not_counted_as_tokens(lms):
    model, tok = tiny_pair("digit", seed=8)
    lm = wrap_model(model, tok)
    with TokenCounter(lm.model) as count:
        check_restricted_head(lm.model, columns(lm, 2))
    assert count.tokens == 0


# ----------------------------------------------------------------------------- adaptive


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("digits", [2, 3])
@pytest.mark.parametrize("tol", [1e-3, 3e-2, 0.3])
def test_adaptive_is_within_its_bound_of_full_refinement(lms, kind, digits, tol):
    lm = lms[kind]
    states = random_states(6 if digits == 2 else 3, digits, seed=digits)
    full = next_state_laws(lm, states, digits, progress=False)
    laws, bound = next_state_laws_with_bound(
        lm, states, digits, refine="adaptive", tol=tol, progress=False
    )
    assert bound.shape == (states.size,)
    assert (bound >= 0).all() and (bound <= tol + 1e-12).all()
    assert (tv(laws, full) <= bound + 1e-6).all()
    if lm.adapter_for(digits).levels == 1:  # one softmax per value: nothing to refine
        np.testing.assert_array_equal(bound, 0.0)
        np.testing.assert_allclose(laws, full, atol=1e-6)


def test_adaptive_skips_nodes_and_tokens(lms):
    """The bound is not vacuous: at a loose tolerance nodes are left unrefined, the laws move
    away from full refinement, and fewer tokens go through the model."""
    lm = lms["digit-llama"]
    states = random_states(6, 3, seed=5)
    with TokenCounter(lm.model) as count_full:
        full = next_state_laws(lm, states, 3, progress=False)
    with TokenCounter(lm.model) as count_fast:
        laws, bound = next_state_laws_with_bound(
            lm, states, 3, refine="adaptive", tol=0.3, progress=False
        )
    assert count_fast.tokens < count_full.tokens
    assert bound.max() > 0.01
    assert tv(laws, full).max() > 1e-4
    assert (tv(laws, full) <= bound + 1e-6).all()


@pytest.mark.parametrize("kind", KINDS)
def test_adaptive_with_zero_tolerance_is_full_refinement(lms, kind):
    lm = lms[kind]
    states = random_states(5, 3, seed=9)
    full = next_state_laws(lm, states, 3, progress=False)
    laws, bound = next_state_laws_with_bound(
        lm, states, 3, refine="adaptive", tol=0, progress=False
    )
    np.testing.assert_allclose(laws, full, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(bound, 0.0)


def test_adaptive_with_depth_and_windows(lms):
    """Bound relative to full refinement at the same depth; windows keep it per row."""
    lm = lms["digit"]
    states = random_states(30, 3, seed=11)
    kwargs = {"window": 8, "min_context": 4, "progress": False}
    full = next_state_laws(lm, states, 3, depth=2, **kwargs)
    laws, bound = next_state_laws_with_bound(
        lm, states, 3, refine="adaptive", tol=0.05, depth=2, **kwargs
    )
    assert (bound <= 0.05 + 1e-12).all()
    assert (tv(laws, full) <= bound + 1e-6).all()


def test_bound_of_full_and_neighbours(lms):
    lm = lms["digit"]
    states = random_states(6, 2, seed=12)
    full, zero = next_state_laws_with_bound(lm, states, 2, progress=False)
    np.testing.assert_array_equal(zero, 0.0)
    near, bound = next_state_laws_with_bound(lm, states, 2, refine="neighbours", progress=False)
    assert bound.max() > 1e-3
    assert (tv(near, full) <= bound + 1e-6).all()


def test_tol_errors(lms):
    lm = lms["digit"]
    states = np.array([12, 34, 56])
    with pytest.raises(ValueError, match="only applies to refine='adaptive'"):
        next_state_laws(lm, states, 2, tol=1e-3, progress=False)
    for bad in (-1e-3, 1.0, float("nan"), "0.1", True):
        with pytest.raises(ValueError, match="tol="):
            next_state_laws(lm, states, 2, refine="adaptive", tol=bad, progress=False)
    with pytest.raises(ValueError, match="not one of"):
        next_state_laws(lm, states, 2, refine="mass", progress=False)


def test_cache_key_holds_mode_and_tolerance(lms, tmp_path):
    lm = lms["digit-llama"]
    states = random_states(6, 2, seed=13)
    kwargs = {"cache_dir": tmp_path, "progress": False}
    with TokenCounter(lm.model) as first:
        a, bound_a = next_state_laws_with_bound(lm, states, 2, refine="adaptive", **kwargs)
    with TokenCounter(lm.model) as again:
        b, bound_b = next_state_laws_with_bound(lm, states, 2, refine="adaptive", **kwargs)
    assert first.tokens > 0 and again.tokens == 0  # a hit, bound included
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(bound_a, bound_b)
    with TokenCounter(lm.model) as other_tol:
        next_state_laws(lm, states, 2, refine="adaptive", tol=0.2, **kwargs)
    with TokenCounter(lm.model) as full:
        next_state_laws(lm, states, 2, **kwargs)
    assert other_tol.tokens > 0 and full.tokens > 0


def test_cached_bound_is_validated(tmp_path):
    """An entry without a bound, or with a bad one, is a miss for the laws-and-bound reader."""
    from sgdllm.lm import cache as disk_cache

    laws = np.full((3, 100), 0.01)
    disk_cache.save_laws(tmp_path, "k", laws, bound=np.array([0.0, 1e-4, 2e-4]))
    hit = disk_cache.load_laws_and_bound(tmp_path, "k", (3, 100))
    assert hit is not None
    np.testing.assert_array_equal(hit[1], [0.0, 1e-4, 2e-4])
    disk_cache.save_laws(tmp_path, "k", laws)  # laws only
    assert disk_cache.load_laws_and_bound(tmp_path, "k", (3, 100)) is None
    assert disk_cache.load_laws(tmp_path, "k", (3, 100)) is not None
    disk_cache.save_laws(tmp_path, "k", laws, bound=np.array([0.0, -1.0, 0.0]))
    assert disk_cache.load_laws_and_bound(tmp_path, "k", (3, 100)) is None
    disk_cache.save_laws(tmp_path, "k", laws, bound=np.zeros(2))
    assert disk_cache.load_laws_and_bound(tmp_path, "k", (3, 100)) is None
