"""Temperature calibration of next-state laws on the observed transitions."""

from __future__ import annotations

import numpy as np
import pytest

from sgdllm.calibration import fit_temperature, observed_log_likelihood, temper_laws


def _gaussian_laws(centres: np.ndarray, width: float, k: int) -> np.ndarray:
    grid = np.arange(k)
    laws = np.exp(-0.5 * ((grid[None, :] - centres[:, None]) / width) ** 2)
    return laws / laws.sum(axis=1, keepdims=True)


def test_temper_laws_identity_sharpens_and_widens():
    laws = _gaussian_laws(np.array([30.0, 40.0]), 3.0, 80)
    np.testing.assert_allclose(temper_laws(laws, 1.0), laws, atol=1e-12)
    grid = np.arange(80)

    def std(q):
        m = q @ grid
        return np.sqrt(q @ grid**2 - m**2)

    # a Gaussian law tempered by tau is a Gaussian of width sqrt(tau) times the original
    np.testing.assert_allclose(std(temper_laws(laws, 0.25)), 1.5, rtol=1e-3)
    np.testing.assert_allclose(std(temper_laws(laws, 4.0)), 6.0, rtol=2e-2)
    # zero mass stays zero, rows sum to 1
    laws[0, :5] = 0.0
    q = temper_laws(laws / laws.sum(axis=1, keepdims=True), 3.0)
    assert np.all(q[0, :5] == 0) and np.allclose(q.sum(axis=1), 1)


def test_fit_temperature_recovers_the_width_of_the_process():
    # A random walk with Gaussian steps of sd 2 (rounded to states); a model whose laws are
    # centred on the current state with sd 6 is 3x too wide: the fitted temperature must bring
    # the width back to about 2, i.e. tau ~ (2 / 6)^2 = 1/9.
    rng = np.random.default_rng(0)
    k, t = 400, 3000
    states = np.clip(200 + np.cumsum(np.round(rng.normal(0, 2.0, t))), 0, k - 1).astype(int)
    laws = _gaussian_laws(states.astype(float), 6.0, k)
    tau = fit_temperature(laws, states)
    assert 0.08 < tau < 0.15
    assert observed_log_likelihood(temper_laws(laws, tau), states) > observed_log_likelihood(
        laws, states
    )
    # laws of the right width need no tempering
    tau_right = fit_temperature(_gaussian_laws(states.astype(float), 2.0, k), states)
    assert 0.85 < tau_right < 1.2


def test_bad_input_is_refused_with_the_problem_named():
    laws = _gaussian_laws(np.array([1.0, 2.0, 3.0]), 1.0, 10)
    with pytest.raises(ValueError, match="one per law"):
        fit_temperature(laws, np.array([1, 2]))
    with pytest.raises(ValueError, match=r"0\.\.9"):
        fit_temperature(laws, np.array([1, 2, 10]))
    with pytest.raises(ValueError, match="positive number"):
        temper_laws(laws, 0.0)
    with pytest.raises(ValueError, match="positive mass"):
        temper_laws(np.zeros((2, 3)), 1.0)


def test_prequential_counts_use_only_past_transitions():
    from sgdllm.calibration import prequential_count_laws

    s = np.array([0, 1, 0, 1, 0, 2])
    c = prequential_count_laws(s, 3, prior=1.0)
    np.testing.assert_allclose(c[0], 1 / 3)  # nothing seen yet: uniform
    np.testing.assert_allclose(c[1], 1 / 3)  # state 1 not left yet
    # t = 2 (state 0): one past transition 0 -> 1: (1 + 1/3) / 2 on state 1
    np.testing.assert_allclose(c[2], [1 / 6, 2 / 3, 1 / 6])
    # t = 4 (state 0): two past transitions 0 -> 1, and not 0 -> 2 which follows
    np.testing.assert_allclose(c[4], [1 / 9, 7 / 9, 1 / 9])
    np.testing.assert_allclose(c.sum(axis=1), 1)


def test_mixture_weight_prefers_the_laws_that_predict_the_series():
    from sgdllm.calibration import fit_mixture_weight

    rng = np.random.default_rng(1)
    k, t = 50, 2000
    states = np.clip(25 + np.cumsum(rng.integers(-1, 2, t)), 0, k - 1).astype(int)
    good = _gaussian_laws(states.astype(float), 1.0, k)  # centred on the current state
    bad = _gaussian_laws(np.clip(states + 8.0, 0, k - 1), 1.0, k)  # centred 8 states off
    assert fit_mixture_weight(good, bad, states) > 0.95
    assert fit_mixture_weight(bad, good, states) < 0.05
    with pytest.raises(ValueError, match="one per law"):
        fit_mixture_weight(good, good[:-1], states)
