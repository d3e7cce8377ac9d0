"""Hierarchy-PDF written out (sgdllm.lm.hierarchy): one step by hand, brute force, token counts.

Chapter *Extracting transition probabilities*. The tiny random models of ``lm_fixtures`` cover
the three tokenizer adapters and two position schemes (GPT-2 learned, LLaMA rotary).
"""

from __future__ import annotations

import numpy as np
import pytest

from sgdllm.lm import next_state_laws
from sgdllm.lm.hierarchy import (
    HierarchyStep,
    TokenCost,
    TokenCounter,
    brute_force_laws,
    hierarchy_step,
    plan_windows,
    token_cost,
)
from tests.unit.lm.lm_fixtures import brute_force_laws as fixture_brute_force
from tests.unit.lm.lm_fixtures import random_states, tiny_lms

KINDS = ["digit", "bpe", "number", "digit-llama"]


@pytest.fixture(scope="module")
def lms():
    return tiny_lms()


# ----------------------------------------------------------------------------- brute force


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("digits", "n"), [(1, 5), (2, 5), (3, 2)])
def test_brute_force_equals_reference_and_hierarchy(lms, kind, digits, n):
    """The package's brute force equals the test suite's reference and Hierarchy-PDF."""
    lm = lms[kind]
    states = random_states(n, digits, seed=digits + 10)
    brute = brute_force_laws(lm, states, digits)
    assert brute.shape == (n, 10**digits)
    np.testing.assert_allclose(brute.sum(axis=1), 1.0, atol=1e-6)  # float32 softmaxes
    np.testing.assert_allclose(brute, fixture_brute_force(lm, states, digits), atol=1e-5)
    np.testing.assert_allclose(
        brute, next_state_laws(lm, states, digits, progress=False), atol=1e-5, rtol=0
    )
    assert np.abs(brute - 1.0 / 10**digits).max() > 1e-2  # far from uniform: a real check


def test_brute_force_windows_like_next_state_laws(lms):
    lm = lms["digit-llama"]
    states = random_states(11, 2, seed=3)
    kw = {"window": 5, "min_context": 2}
    assert len(plan_windows(11, 5, 2)) > 2
    windowed = brute_force_laws(lm, states, 2, **kw)
    np.testing.assert_allclose(
        windowed, next_state_laws(lm, states, 2, progress=False, **kw), atol=1e-5
    )
    # and the windows matter: the whole-context law differs after the first window
    assert np.abs(windowed - brute_force_laws(lm, states, 2)).max() > 1e-3


def test_brute_force_batch_size_does_not_change_the_result(lms):
    lm = lms["bpe"]
    states = random_states(2, 2, seed=4)
    a = brute_force_laws(lm, states, 2)
    b = brute_force_laws(lm, states, 2, batch_size=30)  # several passes per row
    np.testing.assert_allclose(a, b, atol=1e-6)
    one = random_states(1, 1, seed=4)
    c = brute_force_laws(lm, one, 1, batch_size=1)  # fewer tokens than one sequence
    np.testing.assert_allclose(c, brute_force_laws(lm, one, 1), atol=1e-6)


def test_brute_force_errors(lms):
    lm = lms["digit"]
    with pytest.raises(ValueError, match="1-D"):
        brute_force_laws(lm, np.zeros((2, 3), dtype=int), 2)
    with pytest.raises(ValueError, match="states must be integers"):
        brute_force_laws(lm, np.array([5, 120]), 2)
    with pytest.raises(ValueError, match="window"):
        brute_force_laws(lm, random_states(4, 2), 2, window=10**6)


# ----------------------------------------------------------------------------- one step


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("digits", [1, 2, 3])
def test_step_equals_last_row_of_next_state_laws(lms, kind, digits):
    """The depth-first walk with a restored KV cache gives the batched algorithm's law."""
    lm = lms[kind]
    states = random_states(4, digits, seed=digits)
    step = hierarchy_step(lm, states, digits)
    assert isinstance(step, HierarchyStep)
    laws = next_state_laws(lm, states, digits, progress=False)
    np.testing.assert_allclose(step.law, laws[-1], atol=1e-5, rtol=0)
    radices = lm.adapter_for(digits).radices
    # full refinement: one single-token pass per node below the root, (10^n - 1)/9 - 1
    assert step.branch_passes == sum(int(np.prod(radices[:k])) for k in range(1, len(radices)))
    if len(radices) == digits:  # digit tokens
        assert step.branch_passes == (10**digits - 1) // 9 - 1
    assert step.context_tokens == lm.adapter_for(digits).encode(states).ids.size
    assert all(r.all() for r in step.refined)


def test_step_tree_multiplies_to_the_law(lms):
    lm = lms["digit"]
    step = hierarchy_step(lm, random_states(5, 3, seed=1), 3)
    c0, c1, c2 = step.conditionals
    assert c0.shape == (1, 10) and c1.shape == (10, 10) and c2.shape == (100, 10)
    for c in step.conditionals:
        np.testing.assert_allclose(c.sum(axis=1), 1.0, atol=1e-9)
    product = (c0[0][:, None, None] * c1[:, :, None] * c2.reshape(10, 10, 10)).ravel()
    np.testing.assert_allclose(step.law, product, atol=1e-12)
    # the first-digit law is the law's marginal, the second digit's its conditional
    law = step.law.reshape(10, 10, 10)
    np.testing.assert_allclose(c0[0], law.sum(axis=(1, 2)), atol=1e-12)
    np.testing.assert_allclose(c1, law.sum(axis=2) / law.sum(axis=(1, 2))[:, None], atol=1e-9)
    # the second digit really depends on the first for this sharp random model
    assert np.abs(c1 - c1.mean(axis=0)).max() > 1e-2


@pytest.mark.parametrize("digits", [2, 3])
def test_step_neighbours_equals_next_state_laws_neighbours(lms, digits):
    lm = lms["digit-llama"]
    states = random_states(4, digits, seed=5)
    near = hierarchy_step(lm, states, digits, refine="neighbours")
    laws = next_state_laws(lm, states, digits, refine="neighbours", progress=False)
    np.testing.assert_allclose(near.law, laws[-1], atol=1e-5)
    centre = int(np.argmax(near.conditionals[0][0]))
    first = np.arange(10)
    refined_first = near.refined[1]
    np.testing.assert_array_equal(refined_first, np.abs(first - centre) <= 1)
    unrefined = ~refined_first
    np.testing.assert_allclose(near.conditionals[1][unrefined], 0.1)  # uniform children
    assert near.branch_passes < hierarchy_step(lm, states, digits).branch_passes


def test_step_errors(lms):
    lm = lms["digit"]
    with pytest.raises(ValueError, match="non-empty 1-D"):
        hierarchy_step(lm, np.array([], dtype=int), 2)
    with pytest.raises(ValueError, match="refine"):
        hierarchy_step(lm, np.array([12, 13]), 2, refine="some")
    with pytest.raises(ValueError, match="does not fit"):
        hierarchy_step(lm, np.full(100, 12), 2)  # 128 positions hold 41 values
    with pytest.raises(ValueError, match="states must be integers"):
        hierarchy_step(lm, np.array([12, 130]), 2)


# ----------------------------------------------------------------------------- token counts


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("digits", "n", "window"), [(2, 5, None), (3, 2, None), (2, 9, 5)])
def test_token_cost_is_what_goes_through_the_model(lms, kind, digits, n, window):
    lm = lms[kind]
    states = random_states(n, digits, seed=n)
    kw = {} if window is None else {"window": window, "min_context": 2}
    with TokenCounter(lm.model) as hpdf:
        next_state_laws(lm, states, digits, progress=False, **kw)
    with TokenCounter(lm.model) as brute:
        brute_force_laws(lm, states, digits, **kw)
    cost = token_cost(lm, n, digits, **kw)
    assert hpdf.tokens == cost.hierarchy
    assert brute.tokens == cost.brute_force
    assert brute.passes > hpdf.passes >= 1
    assert cost.ratio == brute.tokens / hpdf.tokens


def test_token_cost_by_hand(lms):
    """Digit tokenizer with a BOS token, 2 digits, 3 values: '<s>ab,cd,ef,' (10 tokens)."""
    cost = token_cost(lms["digit"], 3, 2)
    assert cost == TokenCost(teacher_forced=10, branch=2 * 9 + 10, brute_force=100 * (5 + 8 + 11))
    assert cost.hierarchy == 38
    # the one-softmax number tokenizer needs no branch at all
    number = token_cost(lms["number"], 3, 2)
    assert number.branch == 0


def test_token_ratio_grows_with_the_series(lms):
    lm = lms["digit"]
    ratios = [token_cost(lm, n, 2).ratio for n in (5, 10, 20, 40)]
    assert np.all(np.diff(ratios) > 0)


def test_token_counter_restores_the_model(lms):
    lm = lms["digit"]
    states = random_states(3, 2)
    with TokenCounter(lm.model) as count:
        next_state_laws(lm, states, 2, progress=False)
    seen = count.tokens
    next_state_laws(lm, states, 2, progress=False)  # outside the block: not counted
    assert count.tokens == seen > 0
    with pytest.raises(ValueError, match="torch module"):
        TokenCounter(lm)


def test_token_cost_errors(lms):
    with pytest.raises(ValueError, match="n_values"):
        token_cost(lms["digit"], 0, 2)
    with pytest.raises(ValueError, match="n_values"):
        token_cost(lms["digit"], 2.5, 2)
