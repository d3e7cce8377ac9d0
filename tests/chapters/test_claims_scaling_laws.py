"""Claims of the *In-context scaling laws* chapter, checked on its CI-profile record.

The poster of Zekri et al. (2024) fits the in-context Bhattacharyya loss of an LLM reading
two-state chains of spectral gaps 0.15, 0.35 and 0.8 by ``c N^alpha`` and reads alpha = -0.48,
-0.26 and -0.09: a steeper decay for the smaller gap. The embedded default model's loss falls
with the context for every gap, and as fast on the fastest-mixing chain as on the sticky ones:
the poster's ordering is not reproduced. The tests below pin what the model does (its
exponents, their order, where its loss is lowest, its persistence, the split of its loss into
leaked mass and the error on the chain's two states) with tolerances, and check the claims that
hold (the classical estimators against the 1/N theory, the model against them).
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow

#: The embedded model's exponents in the CI-profile run (6 series per gap, seeds [0, i]),
#: ordered as the gaps 0.15, 0.35, 0.8 (book profile, 24 series: -0.58, -0.73, -0.92).
#: Pinned: a retrained model that changes them must change the chapter's text too.
PINNED_ALPHA_MODEL = (-0.57, -0.61, -0.56)


@pytest.fixture(scope="module")
def n(ci_chapter):
    return ci_chapter("scaling_laws")


def test_chains_have_the_requested_spectral_gaps(n):
    assert n["gaps_used"] == [0.15, 0.35, 0.8]
    # the binned 100-state kernel keeps the chain's eigenvalues exactly: rounding only
    np.testing.assert_allclose(n["gap_measured"], n["gaps_used"], atol=1e-9)


def test_context_range_is_one_window_of_the_model(n):
    # <s> + 3 tokens per value (2 digits and a comma) + 1 position for the digits of the value
    # after the last must fit in the model's positions: (1024 - 1 - 1) // 3 = 340 values
    assert n["digits_used"] == 2 and n["tokens_per_value"] == 3
    assert n["window_values"] == (n["context_tokens"] - 1 - (n["digits_used"] - 1)) // 3
    assert n["window_values"] == 340
    assert n["max_context"] == n["window_values"]  # the chapter reads one full window
    assert n["fit_min_used"] < n["max_context"]


def test_seeds_and_uncertainties_are_recorded(n):
    assert n["n_seeds_used"] >= 2
    se = np.array(n["alpha_model_se"])
    assert np.all(se > 0) and np.all(se < 0.2)  # bootstrap over seeds, not a degenerate fit
    low, high = np.array(n["alpha_model_ci_low"]), np.array(n["alpha_model_ci_high"])
    assert np.all(low < np.array(n["alpha_model"])) and np.all(np.array(n["alpha_model"]) < high)


def test_embedded_model_exponents_are_pinned(n):
    alpha, se = np.array(n["alpha_model"]), np.array(n["alpha_model_se"])
    # 4 bootstrap s.e. (or 0.15, whichever is larger) covers the run-to-run spread of the
    # computation across machines (thread counts change float summation order), not a new model
    tol = np.maximum(4 * se, 0.15)
    np.testing.assert_array_less(np.abs(alpha - PINNED_ALPHA_MODEL), tol)


def test_poster_ordering_is_not_reproduced_by_the_embedded_model(n):
    alpha, se = np.array(n["alpha_model"]), np.array(n["alpha_model_se"])
    # the loss falls with the context for every gap (each exponent 2 bootstrap s.e. below 0)
    assert np.all(alpha < -2 * se)
    # "as fast as the sticky ones' or faster": the fastest chain's exponent is not above the
    # stickiest chain's by more than 2 combined s.e. (CI: -0.52 vs -0.59, s.e. 0.06 and 0.13)
    spread, spread_se = n["alpha_spread"], n["alpha_spread_se"]
    assert spread == pytest.approx(alpha[0] - alpha[2])
    assert spread_se == pytest.approx(np.hypot(se[0], se[2]))
    assert spread > -2 * spread_se
    # "where the poster's decayed five times more slowly": the fastest chain's exponent is far
    # below the poster's -0.09 (by more than 4 s.e.), the stickiest within 2 s.e. of its -0.48
    poster = np.array(n["alpha_poster"])
    assert alpha[2] < poster[2] - 4 * se[2]
    assert abs(alpha[0] - poster[0]) < 2 * se[0]
    assert n["alpha_spread_poster"] == pytest.approx(poster[0] - poster[2])
    # the verdict the text prints follows the rule it states
    verdict = n["alpha_order_text"]
    if spread > 2 * spread_se:
        assert verdict.startswith("the poster's reversed")
    else:
        assert verdict.startswith("not resolved")
    assert n["steeper_for_smaller_gap_text"] == ("yes" if n["steeper_for_smaller_gap"] else "no")
    assert n["steeper_for_smaller_gap"] == bool(np.all(np.diff(alpha) > 0))


def test_model_reads_and_keeps_persistence(n):
    true, early, late = (
        np.array(n[k]) for k in ("stay_true", "stay_model_early", "stay_model_late")
    )
    # close to the truth early and late: within 0.06 (the chapter says "close to the truth")
    np.testing.assert_array_less(np.abs(early - true), 0.06)
    np.testing.assert_array_less(np.abs(late - true), 0.06)
    assert n["stay_model_late_error"] == pytest.approx(np.abs(late - true).max())
    # "small biases towards staying": late in the window a little above the truth on the
    # stickiest and on the fastest-mixing chain (CI: +0.023, +0.018; book: +0.027, +0.019),
    # the largest departure on the stickiest
    assert late[0] > true[0] and late[2] > true[2]
    assert int(np.argmax(np.abs(late - true))) == 0
    # "keeps it to the end of its window": late in the window within 0.03 of the truth on every
    # gap (CI: at most 0.023; book: 0.027), and on the sticky chains no drift towards one half
    # as an earlier default model had (it lost > 0.05; CI: 0.023, 0.005).
    assert n["stay_model_late_error"] < 0.03
    np.testing.assert_array_less(np.abs(late - early)[:2], 0.05)
    # little mass is lost on states the chain never takes
    assert max(n["leak_model_late"]) < 0.05


def test_loss_does_not_turn_up_at_the_end_of_the_window(n):
    """The previous default model's loss was lowest after a couple of hundred values and rose by
    a factor above 1.3 on every gap by the end of its window; this one ends within 1.3 of its
    minimum (CI: 1.0, 1.12, 1.24; book: 1.0, 1.06, 1.0), its minimum after 100 values."""
    best_at, rise = np.array(n["model_best_context"]), np.array(n["model_end_rise"])
    assert np.all((best_at > 100) & (best_at <= n["max_context"]))
    assert np.all(rise < 1.3)
    np.testing.assert_allclose(rise, np.array(n["bd_max_model"]) / n["model_best_bd"])


def test_cv_smoothing_follows_the_one_over_n_theory(n):
    ratio = np.array(n["bd_max_cv"]) / n["bd_max_theory"]
    # the smoothed loss at N = 340 averages N = 306..340 of 6 series; the per-step loss is
    # roughly exponential, so its mean has a relative s.e. of ~15%: a factor 2 either way
    assert np.all(ratio > 0.5) and np.all(ratio < 2.0)
    assert n["bd_max_theory"] == pytest.approx(1 / (4 * (n["max_context"] - 1)))


def test_model_beats_counts_and_rule_smoothing_but_not_cv(n):
    model = np.array(n["bd_max_model"])
    np.testing.assert_array_less(model, n["bd_max_laplace"])
    np.testing.assert_array_less(model, n["bd_max_rule"])
    # honest gap to the strongest classical estimator at the end of the window: over 1.5 times
    # worse at every gap (CI: 4.0, 3.1, 2.5)
    assert min(n["model_over_cv_at_max"]) > 1.5
    # but ahead of it early: CV smoothing stays below the model only after 20 values or more
    # (CI: from 67, 64, 36), and the model is ahead at N = 20 on at least one gap
    assert min(n["cv_below_model_from"]) > n["fit_min_used"]
    assert min(n["model_over_cv_at_fit_min"]) < 1


def test_loss_splits_into_leaked_mass_and_the_error_on_the_two_states(n):
    """-log(1 - eps)/2 is the exact cost of the mass eps left off the chain's two states; the
    text says it is a share of the late loss (CI: 0.30, 0.35, 0.44; book: 0.23, 0.36, 0.50),
    that the rest is within a small factor of counting's 1/(4(N - 1)) (CI: 2.5, 2.2, 1.4; book
    up to 3.5), and that the leak decays much more slowly than 1/N (CI: about 3 times less for
    contexts 7.8 times longer)."""
    share = np.array(n["leak_share_late"])
    assert np.all((share > 0.2) & (share < 0.75))
    np.testing.assert_allclose(
        share, np.array(n["leak_cost_late"]) / n["model_loss_late"], rtol=1e-9
    )
    rest = np.array(n["renormalized_over_theory_late"])
    np.testing.assert_allclose(
        rest,
        (np.array(n["model_loss_late"]) - n["leak_cost_late"]) / n["theory_late"],
        rtol=1e-9,
    )
    assert np.all((rest > 0.5) & (rest < 4))  # the rest is a Bhattacharyya loss, positive
    fall = np.array(n["leak_fall"])
    assert np.all(fall > 1)  # the leak falls with the context
    assert np.all(fall < n["late_over_early_context"] / 2)  # at least twice slower than 1/N
    # a leak of eps costs -log(1 - eps)/2 >= eps/2: consistent with the leaked mass recorded
    assert np.all(np.array(n["leak_cost_late"]) >= np.array(n["leak_model_late"]) / 2)


def test_classical_exponents_tell_the_regimes_apart(n):
    # add-one counts: a floor of K = 100 smoothing counts decays more slowly than 1/N
    assert all(-0.8 < a < -0.3 for a in n["alpha_laplace"])
    # rule-of-thumb smoothing blurs the two atoms: its loss hardly moves
    assert all(abs(a) < 0.1 for a in n["alpha_rule"])
    assert min(n["bd_max_rule"]) > 1.0


# ----------------------------------------------------------------------------- the model ladder

LADDER_CI = ("embedded", "smollm2-135m")


def test_ladder_reads_the_same_series_with_every_model(n):
    # CI: the first 3 series of each gap, their first 80 values, for both models and CV smoothing
    assert n["ladder_series"] == 3 and n["ladder_steps"] == 80
    for m in LADDER_CI:
        assert n[f"window@{m}"] == n["ladder_steps"]  # both windows hold 80 values
        assert len(n[f"alpha@{m}"]) == len(n["gaps_used"])
    assert len(n["alpha@cv"]) == len(n["gaps_used"])


#: SmolLM2-135M's exponents in the CI-profile ladder (3 series per gap, 80 values, fit 20..80).
PINNED_ALPHA_SMOLLM2 = (-0.23, -0.37, -0.45)


def test_smollm2_exponents_are_pinned(n):
    alpha, se = np.array(n["alpha@smollm2-135m"]), np.array(n["alpha_se@smollm2-135m"])
    np.testing.assert_array_less(np.abs(alpha - PINNED_ALPHA_SMOLLM2), np.maximum(4 * se, 0.15))


def test_smollm2_reads_the_chains_far_worse_than_the_embedded_model(n):
    """On the same series, SmolLM2-135M's loss at the end of its window is many times the
    embedded model's (CI: 16 to 40 times), its stay probability is well below the truth on the
    two sticky chains (CI: 0.81 and 0.63 against 0.925 and 0.825: it expects the series to
    switch too often), and about half of its late loss is mass on states the chain never takes
    (CI: 0.43 to 0.45)."""
    smol, emb = np.array(n["bd_end@smollm2-135m"]), np.array(n["bd_end@embedded"])
    assert np.all(smol > 5 * emb)
    true = np.array(n["stay_true_late"])
    stay_smol, stay_emb = np.array(n["stay_late@smollm2-135m"]), np.array(n["stay_late@embedded"])
    assert np.all(stay_smol[:2] < true[:2] - 0.05)
    assert np.all(np.abs(stay_smol - true)[:2] > np.abs(stay_emb - true)[:2])
    assert np.all(np.array(n["leak_share_late@smollm2-135m"]) > 0.3)


def test_calibration_on_observed_transitions_does_not_rescue_smollm2(n):
    """Leave-one-series-out fits on observed next values (never the truth): a temperature a
    little below one (CI: 0.88 to 0.94) lowers SmolLM2's end loss only modestly (CI: by 5 to 17%);
    the mixture with CV smoothing puts most weight on the smoother (CI: 0.19 to 0.26 on the
    model), cuts the model's loss several times, and still ends above the smoother alone (CI: 2.7
    to 5.8 times its loss): the verdict names SmolLM2 as not reproducing the claim."""
    m = "smollm2-135m"
    assert np.all(np.array(n[f"temperature@{m}"]) < 1)
    gain = np.array(n[f"tempered_over_raw@{m}"])
    np.testing.assert_allclose(
        gain, np.array(n[f"bd_end_tempered@{m}"]) / n[f"bd_end@{m}"], rtol=1e-9
    )
    assert np.all((gain > 0.6) & (gain < 1.0))
    assert np.all(np.array(n[f"mix_weight@{m}"]) < 0.5)
    assert np.all(np.array(n[f"bd_end_mixed@{m}"]) < 0.5 * np.array(n[f"bd_end@{m}"]))
    assert np.all(np.array(n[f"mixed_over_cv@{m}"]) > 1.5)
    assert n["ladder_not_reproduced_text"] == "SmolLM2-135M"
    # the embedded model's laws need no mixing on the observed likelihood
    assert min(n["mix_weight@embedded"]) > 0.9


def test_claims_table_reads_the_exponents_of_all_series_for_the_detailed_model(n):
    # the introduction's table reads alpha@<model>: for the model read in detail (the embedded
    # one in CI) that is the fit over all its series, not the short ladder subset's
    np.testing.assert_allclose(n["alpha@embedded"], n["alpha_model"])
    assert len(n["ladder_alpha@embedded"]) == len(n["gaps_used"])
