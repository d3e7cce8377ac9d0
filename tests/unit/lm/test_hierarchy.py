"""Hierarchy-PDF (sgdllm.lm.hierarchy): exactness against brute force, refinement, windows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sgdllm.kernel import kernel_from_laws
from sgdllm.lm import next_state_laws, next_state_laws_multivariate
from sgdllm.lm.hierarchy import plan_windows, values_per_window
from sgdllm.lm.load import wrap_model
from tests.unit.lm.lm_fixtures import (
    brute_force_laws,
    digit_tokenizer,
    random_states,
    tiny_gpt2,
    tiny_llama,
    tiny_pair,
)


@pytest.fixture(scope="module")
def lms():
    """Tiny random models: GPT-2 with digit and GPT-2-BPE tokenizers, LLaMA with digit and
    number tokenizers (rotary positions and grouped-query attention in the branch passes)."""
    out = {kind: wrap_model(*tiny_pair(kind)) for kind in ("digit", "bpe", "number")}
    tok = digit_tokenizer()
    out["digit-llama"] = wrap_model(tiny_llama(len(tok), seed=2), tok)
    return out


@pytest.mark.parametrize("kind", ["digit", "bpe", "number", "digit-llama"])
@pytest.mark.parametrize(("digits", "n"), [(1, 6), (2, 6), (3, 2)])
def test_full_refinement_equals_brute_force(lms, kind, digits, n):
    """Exact model law over all 10**digits values, for every tokenizer kind."""
    lm = lms[kind]
    states = random_states(n, digits, seed=digits)
    laws = next_state_laws(lm, states, digits, progress=False)
    reference = brute_force_laws(lm, states, digits)
    assert laws.shape == (n, 10**digits)
    np.testing.assert_allclose(laws.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(laws, reference, atol=1e-5, rtol=0)
    # the random model is sharp enough for this to mean something
    assert np.abs(laws - 1.0 / 10**digits).max() > 1e-2


def test_rows_are_laws_of_the_next_value(lms):
    """Row t depends on values 0..t only: changing value t+1 leaves row t unchanged."""
    lm = lms["digit"]
    states = random_states(8, 2, seed=4)
    other = states.copy()
    other[5] = (other[5] + 37) % 100
    a = next_state_laws(lm, states, 2, progress=False)
    b = next_state_laws(lm, other, 2, progress=False)
    np.testing.assert_allclose(a[:5], b[:5], atol=1e-6)
    assert np.abs(a[5] - b[5]).max() > 1e-3


def test_batch_size_does_not_change_the_result(lms):
    lm = lms["digit-llama"]
    states = random_states(6, 2, seed=5)
    a = next_state_laws(lm, states, 2, progress=False)
    b = next_state_laws(lm, states, 2, progress=False, batch_size=12)  # main pass in 2 chunks
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_neighbours_refines_observed_first_digit_and_its_neighbours(lms):
    lm = lms["digit"]
    states = np.array([23, 47, 51, 90, 8, 55])
    full = next_state_laws(lm, states, 2, progress=False).reshape(-1, 10, 10)
    near = next_state_laws(lm, states, 2, refine="neighbours", progress=False).reshape(-1, 10, 10)
    np.testing.assert_allclose(near.sum(axis=(1, 2)), 1.0, atol=1e-12)
    np.testing.assert_allclose(near.sum(axis=2), full.sum(axis=2), atol=1e-6)  # first digit
    for t in range(states.size):
        center = states[t + 1] // 10 if t + 1 < states.size else np.argmax(full[t].sum(axis=1))
        for a0 in range(10):
            if abs(a0 - center) <= 1:
                np.testing.assert_allclose(near[t, a0], full[t, a0], atol=1e-6)
            else:
                np.testing.assert_allclose(near[t, a0], full[t, a0].sum() / 10, atol=1e-7)


@pytest.mark.parametrize("kind", ["digit", "number"])
def test_depth_one_spreads_the_first_digit_uniformly(lms, kind):
    lm = lms[kind]
    states = random_states(5, 3, seed=6)
    full = next_state_laws(lm, states, 3, progress=False).reshape(-1, 10, 100)
    coarse = next_state_laws(lm, states, 3, depth=1, progress=False).reshape(-1, 10, 100)
    np.testing.assert_allclose(
        coarse, np.repeat(full.sum(axis=2, keepdims=True) / 100, 100, 2), atol=1e-6
    )


def test_depth_two_of_three(lms):
    lm = lms["bpe"]
    states = random_states(4, 3, seed=7)
    full = next_state_laws(lm, states, 3, progress=False).reshape(-1, 100, 10)
    two = next_state_laws(lm, states, 3, depth=2, progress=False).reshape(-1, 100, 10)
    np.testing.assert_allclose(two.sum(axis=2), full.sum(axis=2), atol=1e-6)
    np.testing.assert_allclose(two, np.repeat(two[:, :, :1], 10, axis=2), atol=1e-12)


# ----------------------------------------------------------------------------- windows


def test_plan_windows_covers_every_row_once():
    plan = plan_windows(23, 6, 2)
    rows = np.concatenate([np.arange(w.first, w.last + 1) for w in plan])
    np.testing.assert_array_equal(rows, np.arange(23))
    assert plan[0].start == 0 and plan[-1].stop == 23
    for w in plan[1:]:
        assert w.first - w.start + 1 >= 2  # at least min_context values of context
        assert w.stop - w.start <= 6
    assert plan_windows(4, 6, 3) == [plan_windows(4, 6, 3)[0]]  # fits: one window


def test_plan_windows_errors():
    with pytest.raises(ValueError, match="empty"):
        plan_windows(0, 6, 2)
    with pytest.raises(ValueError, match="cannot give any law"):
        plan_windows(5, 1, 1)
    with pytest.raises(ValueError, match="min_context"):
        plan_windows(5, 4, 4)


def test_windowed_laws_equal_unwindowed_where_context_is_covered(lms):
    """Rows of the first window equal the unwindowed ones; rows of later windows equal the
    unwindowed laws of the series cut at that window's start."""
    lm = lms["digit-llama"]
    states = random_states(10, 2, seed=8)
    whole = next_state_laws(lm, states, 2, progress=False)
    windowed = next_state_laws(lm, states, 2, window=5, min_context=2, progress=False)
    plan = plan_windows(states.size, 5, 2)
    assert len(plan) > 2
    first = plan[0]
    np.testing.assert_allclose(windowed[: first.last + 1], whole[: first.last + 1], atol=1e-6)
    assert np.abs(windowed[first.last + 1 :] - whole[first.last + 1 :]).max() > 1e-3
    for w in plan[1:]:
        cut = next_state_laws(lm, states[w.start :], 2, progress=False)
        np.testing.assert_allclose(
            windowed[w.first : w.last + 1],
            cut[w.first - w.start : w.last - w.start + 1],
            atol=1e-6,
        )


def test_long_series_uses_default_windows_of_the_context(lms):
    tok = digit_tokenizer()
    lm = wrap_model(tiny_gpt2(len(tok), n_positions=24, bos_token_id=1, eos_token_id=2), tok)
    adapter = lm.adapter_for(2)
    assert values_per_window(adapter, 24) == (24 - 1 - 1) // 3
    states = random_states(30, 2, seed=9)
    laws = next_state_laws(lm, states, 2, progress=True)
    assert laws.shape == (30, 100)
    np.testing.assert_allclose(laws.sum(axis=1), 1.0, atol=1e-12)
    with pytest.raises(ValueError, match="window <= 7"):
        next_state_laws(lm, states, 2, window=8, progress=False)


def test_context_too_short_for_any_law():
    tok = digit_tokenizer()
    lm = wrap_model(tiny_gpt2(len(tok), n_positions=6, bos_token_id=1, eos_token_id=2), tok)
    with pytest.raises(ValueError, match="no law can be computed"):
        next_state_laws(lm, np.array([12, 34, 56]), 2, progress=False)


# ----------------------------------------------------------------------------- API


def test_input_errors(lms):
    lm = lms["digit"]
    with pytest.raises(ValueError, match="empty"):
        next_state_laws(lm, np.array([], dtype=int), 2, progress=False)
    with pytest.raises(ValueError, match="discretize"):
        next_state_laws(lm, np.array([5, 120]), 2, progress=False)
    with pytest.raises(ValueError, match="multivariate"):
        next_state_laws(lm, np.zeros((3, 2), dtype=int), 2, progress=False)
    with pytest.raises(ValueError, match="refine"):
        next_state_laws(lm, np.array([5, 12]), 2, refine="some", progress=False)
    with pytest.raises(ValueError, match="depth"):
        next_state_laws(lm, np.array([5, 12]), 2, depth=3, progress=False)


def test_single_value_gives_the_law_of_the_next(lms):
    lm = lms["digit"]
    laws = next_state_laws(lm, np.array([42]), 2, progress=False)
    np.testing.assert_allclose(laws, brute_force_laws(lm, np.array([42]), 2), atol=1e-5)


def test_multivariate_is_channel_independent(lms):
    lm = lms["digit"]
    states = np.stack([random_states(6, 2, seed=10), random_states(6, 2, seed=11)], axis=1)
    out = next_state_laws_multivariate(lm, states, 2, progress=False)
    assert len(out) == 2
    for i in range(2):
        np.testing.assert_allclose(out[i], next_state_laws(lm, states[:, i], 2, progress=False))
    with pytest.raises(ValueError, match=r"\(T, d\)"):
        next_state_laws_multivariate(lm, states[:, 0], 2)


def test_end_to_end_kernel_from_laws(lms):
    lm = lms["bpe"]
    states = random_states(12, 2, seed=12)
    kernel = kernel_from_laws(states, next_state_laws(lm, states, 2, progress=False), 2)
    np.testing.assert_array_equal(np.flatnonzero(kernel.visited), np.unique(states))
    np.testing.assert_allclose(kernel.matrix[kernel.visited].sum(axis=1), 1.0)


def test_eager_attention_gives_the_same_laws():
    """The custom 4-D mask is honoured by eager attention too (not only SDPA)."""
    model, tok = tiny_pair("digit", seed=3)
    model.set_attn_implementation("eager")
    lm = wrap_model(model, tok)
    assert lm.model.config._attn_implementation == "eager"
    states = random_states(4, 2, seed=13)
    laws = next_state_laws(lm, states, 2, progress=False)
    np.testing.assert_allclose(laws, brute_force_laws(lm, states, 2), atol=1e-5)


def test_bfloat16_model_gives_valid_laws_close_to_float32():
    """The GPU default dtype: masks and softmaxes stay finite and close to float32."""
    model, tok = tiny_pair("digit", seed=4)
    lm32 = wrap_model(model, tok)
    states = random_states(5, 3, seed=14)
    ref = next_state_laws(lm32, states, 3, progress=False)
    lm16 = wrap_model(model.to(torch.bfloat16), tok)
    laws = next_state_laws(lm16, states, 3, progress=False)
    np.testing.assert_allclose(laws.sum(axis=1), 1.0, atol=1e-12)
    assert np.abs(laws - ref).sum(axis=1).max() < 0.2  # total variation x 2


def test_unsupported_attention_is_refused(lms):
    model, tok = tiny_pair("digit", seed=5)
    lm = wrap_model(model, tok)
    lm.model.config._attn_implementation = "flash_attention_2"
    with pytest.raises(ValueError, match="sdpa"):
        next_state_laws(lm, np.array([12, 34]), 2, progress=False)


def test_coarsen_laws_keeps_the_leading_digits() -> None:
    from sgdllm.lm.hierarchy import coarsen_laws

    rng = np.random.default_rng(0)
    laws = rng.dirichlet(np.ones(1000), size=3)
    one = coarsen_laws(laws, 3, 1)
    # same mass on every first digit, spread evenly within it
    np.testing.assert_allclose(one.reshape(3, 10, 100).sum(2), laws.reshape(3, 10, 100).sum(2))
    np.testing.assert_allclose(one.reshape(3, 10, 100).std(2), 0.0, atol=1e-15)
    two = coarsen_laws(laws, 3, 2)
    np.testing.assert_allclose(two.reshape(3, 100, 10).sum(2), laws.reshape(3, 100, 10).sum(2))
    np.testing.assert_array_equal(coarsen_laws(laws, 3, 3), laws)
    with pytest.raises(ValueError, match="shape"):
        coarsen_laws(laws, 2, 1)
    with pytest.raises(ValueError, match="depth"):
        coarsen_laws(laws, 3, 0)
