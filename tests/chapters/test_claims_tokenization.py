"""Claims of the *Tokenization* chapter, checked on the numbers its CI-profile run recorded.

LLMTime serialization (Gruver et al. 2023; Liu et al. 2024): rescaling to [0.15, 0.85] and
`digits` digits lose at most half a bin; tokenizers cut numbers in three ways, which
sgdllm.lm.adapters tells apart from the tokenizer alone; the cut decides how many values fit in
a context.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

ROUNDTRIP_DIGITS = (1, 2, 3, 4)
TOKEN_DIGITS = (1, 2, 3)


@pytest.fixture(scope="module")
def n(ci_chapter):
    return ci_chapter("tokenization")


@pytest.mark.parametrize("d", ROUNDTRIP_DIGITS)
def test_roundtrip_error_is_at_most_half_a_bin(n, d):
    bound = 10.0**-d / 2
    assert n[f"roundtrip_bound_unit_{d}"] == pytest.approx(bound, rel=1e-12)
    # the bound is exact mathematics; 1e-9 relative slack covers floating-point rounding only
    assert n[f"roundtrip_max_error_unit_{d}"] <= bound * (1 + 1e-9)
    assert n[f"roundtrip_max_error_theta_{d}"] <= n[f"roundtrip_bound_theta_{d}"] * (1 + 1e-9)
    # in theta units the half bin is (hi - lo) / 0.7 * 10**-d / 2
    theta_bound = n["range_theta0"] / 0.7 * bound
    assert n[f"roundtrip_bound_theta_{d}"] == pytest.approx(theta_bound, rel=1e-9)


@pytest.mark.parametrize("d", ROUNDTRIP_DIGITS)
def test_roundtrip_bound_is_tight(n, d):
    # with >= 1000 values spread over the grid, some value lies within 5% of a bin edge (the
    # chance that none of them does is far below 1e-6 at every number of digits)
    assert n[f"roundtrip_max_error_unit_{d}"] >= 0.95 * n[f"roundtrip_bound_unit_{d}"]


def test_three_digits_resolve_the_stationary_law_two_do_not(n):
    # the chapter's claim: the run's transient takes most of the range, so one stationary
    # standard deviation is fewer than 10 bins at 2 digits, and at least 10 at 3 digits
    assert n["stationary_std_in_bins_2"] < 10 <= n["stationary_std_in_bins_3"]
    assert n["stationary_std_theta0"] < 0.2 * n["range_theta0"]


@pytest.mark.parametrize("d", TOKEN_DIGITS)
def test_one_token_per_digit_kinds(n, d):
    # digit tokenizers, LLMTime's spaced text for the BPE and the embedded model's tokenizer
    # all pay exactly `digits` tokens plus one separator per value, for every value
    for kind in ("digit", "bpe_spaced", "model"):
        assert n[f"min_tokens_per_value_{kind}_{d}"] == d + 1
        assert n[f"max_tokens_per_value_{kind}_{d}"] == d + 1
        assert n[f"tokens_per_value_{kind}_{d}"] == d + 1


@pytest.mark.parametrize("d", TOKEN_DIGITS)
def test_number_tokens_cost_two_per_value(n, d):
    assert n[f"min_tokens_per_value_number_{d}"] == n[f"max_tokens_per_value_number_{d}"] == 2


@pytest.mark.parametrize("d", (2, 3))
def test_plain_bpe_merges_digits_irregularly(n, d):
    # merges save tokens, but the number of tokens differs from one value to the next
    assert n[f"tokens_per_value_bpe_plain_{d}"] < d + 1
    assert n[f"min_tokens_per_value_bpe_plain_{d}"] < n[f"max_tokens_per_value_bpe_plain_{d}"]
    assert n[f"values_in_context_bpe_plain_{d}"] > n[f"values_in_context_digit_{d}"]


@pytest.mark.parametrize("d", TOKEN_DIGITS)
def test_values_in_context(n, d):
    # measured on the run's text; constant-rate kinds must match floor((context - BOS) / rate)
    ctx = n["context_used"]
    assert n[f"values_in_context_digit_{d}"] == (ctx - 1) // (d + 1)
    assert n[f"values_in_context_model_{d}"] == (ctx - 1) // (d + 1)
    assert n[f"values_in_context_bpe_spaced_{d}"] == ctx // (d + 1)  # GPT-2 style: no BOS
    assert n[f"values_in_context_number_{d}"] == (ctx - 1) // 2
    # a Hierarchy-PDF window also needs positions for the unseen value's other digits
    window = n[f"window_values_model_{d}"]
    assert n[f"values_in_context_model_{d}"] - 1 <= window <= n[f"values_in_context_model_{d}"]


def test_adapters_detected_from_the_tokenizer(n):
    kinds = {
        "digit": ["digit", "digit", "digit"],
        "bpe": ["digit", "spaced", "spaced"],  # 1 digit: nothing to merge between commas
        "number": ["digit", "number", "number"],  # 1 digit: the ten numbers are the digits
        "model": ["digit", "digit", "digit"],  # the embedded default model (CI: model=None)
    }
    for name, expected in kinds.items():
        assert [n[f"adapter_kind_{name}_{d}"] for d in TOKEN_DIGITS] == expected, name
    assert n["model_name"] == "default"
    assert n["model_adapter_kind"] == "digit"
    assert n["default_fast_path_matches"] is True


def test_lookahead_margins(n):
    # a causal scaler that has seen the transient keeps (nearly) the whole run on the grid;
    # one fitted before the chain settled pushes most of the stationary phase off it
    assert n["lookahead_clipped_fraction_longest"] <= 0.01
    assert n["lookahead_clipped_fraction_shortest"] >= 0.5
    # the whole-series scaler writes the first value inside the band, near its top: the run
    # starts above its minimizer in theta_0 and rarely goes higher
    assert 0.7 <= n["lookahead_first_value_unit"] <= 0.85 + 1e-12
