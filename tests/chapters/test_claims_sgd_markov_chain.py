"""Chapter 2, SGD as a Markov chain: the claims its CI-profile numbers must support."""

import pytest


@pytest.mark.slow
def test_sgd_markov_chain_claims(ci_chapter):
    n = ci_chapter("sgd_markov_chain")
    # Over-parametrized: chains from one start collapse onto one point, the projection.
    assert n["over_spread_final"] < 1e-8
    assert n["over_limit_error"] < 1e-8
    # Under-parametrized: a spread that does not vanish ...
    assert n["under_spread_final"] > 0.05
    # ... centred on the least-squares solution, with the exact covariance.
    assert n["stationary_mean_error_in_std"] < 0.15
    assert n["stationary_cov_rel_error"] < 0.10
    # Stationary variance linear in the step size (slope 1 on log-log axes).
    assert 0.9 < n["variance_loglog_slope"] < 1.1
    for emp, theory in zip(n["variance_by_step"], n["variance_theory_by_step"], strict=True):
        assert emp == pytest.approx(theory, rel=0.12)
    # Spectral gap of the binned exact kernel tracks gamma * H and grows with the step.
    gaps = n["gap_true_by_step"]
    assert gaps == sorted(gaps)
    for gap, theory in zip(gaps, n["gap_theory_by_step"], strict=True):
        assert gap == pytest.approx(theory, rel=0.35)
