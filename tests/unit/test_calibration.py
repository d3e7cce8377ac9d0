"""Calibration of laws on observed transitions (sgdllm.calibration)."""

from __future__ import annotations

import numpy as np
import pytest

from sgdllm.calibration import (
    fit_mixture_weight,
    fit_temperature,
    leave_one_out,
    mix_laws,
    observed_log_likelihood,
    prequential_count_laws,
    temper_laws,
)


def _laws(rng, n=4000, k=12):
    return rng.dirichlet(np.full(k, 0.7), size=n)


def _draw(rng, laws):
    u = rng.random(laws.shape[0])[:, None]
    return (laws.cumsum(axis=1) < u).sum(axis=1).clip(max=laws.shape[1] - 1)


def test_temper_is_identity_at_one_and_orders_sharpness():
    rng = np.random.default_rng(0)
    p = _laws(rng, n=5)
    np.testing.assert_allclose(temper_laws(p, 1.0), p, atol=1e-12)
    sharp, flat = temper_laws(p, 0.5), temper_laws(p, 2.0)
    np.testing.assert_allclose(sharp.sum(axis=1), 1.0)
    assert np.all(sharp.max(axis=1) > p.max(axis=1))
    assert np.all(flat.max(axis=1) < p.max(axis=1))
    assert temper_laws(np.array([[0.0, 0.5, 0.5]]), 0.3)[0, 0] == 0.0
    with pytest.raises(ValueError, match="positive number"):
        temper_laws(p, 0.0)


@pytest.mark.parametrize("tau", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_the_temperature_of_the_data(tau):
    rng = np.random.default_rng(1)
    p = _laws(rng)
    nxt = _draw(rng, temper_laws(p, tau))  # the data follow p at temperature tau
    fitted = fit_temperature(p, nxt)
    assert fitted == pytest.approx(tau, rel=0.1)
    # the fitted temperature scores the data at least as well as the raw laws
    assert observed_log_likelihood(temper_laws(p, fitted), nxt) >= observed_log_likelihood(p, nxt)


def test_fit_mixture_weight_recovers_the_weight_and_reaches_the_ends():
    rng = np.random.default_rng(2)
    p, r = _laws(rng), _laws(rng)
    nxt = _draw(rng, mix_laws(p, r, 0.3))
    assert fit_mixture_weight(p, r, nxt) == pytest.approx(0.3, abs=0.08)
    assert fit_mixture_weight(p, r, _draw(rng, p)) > 0.9
    only_p = fit_mixture_weight(p, np.roll(r, 1, axis=0), _draw(rng, p))
    assert only_p > 0.9


def test_prequential_counts_never_see_the_transition_they_predict():
    s = np.array([0, 1, 0, 1, 0, 2])
    c = prequential_count_laws(s, 3, prior=3.0)
    np.testing.assert_allclose(c[0], [1 / 3] * 3)  # nothing counted yet
    np.testing.assert_allclose(c[2], [1 / 4, 2 / 4, 1 / 4])  # 0 -> 1 once, prior 1 each
    np.testing.assert_allclose(c[4], [1 / 5, 3 / 5, 1 / 5])  # 0 -> 1 twice
    assert c[4, 2] == pytest.approx(1 / 5)  # 0 -> 2 (the step it predicts) not yet counted
    np.testing.assert_allclose(c.sum(axis=1), 1.0)


def test_leave_one_out_never_fits_on_the_series_it_leaves_out():
    a = np.arange(4)[:, None] * np.ones((4, 3))  # series i holds the value i
    b = 10 * a
    fits = leave_one_out(lambda x, y: (sorted(set(x[:, 0])), float(y.sum())), a, b)
    assert [f[0] for f in fits] == [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]]
    assert [f[1] for f in fits] == [180.0, 150.0, 120.0, 90.0]  # 30 * (0 + 1 + 2 + 3 - i)
    with pytest.raises(ValueError, match="same number"):
        leave_one_out(lambda x, y: 0, a, b[:3])
    with pytest.raises(ValueError, match="same number"):
        leave_one_out(lambda x: 0, a[:1])


def test_pairs_are_checked_with_the_fix_in_the_message():
    p = np.full((5, 4), 0.25)
    with pytest.raises(ValueError, match=r"laws\[:-1\] and states\[1:\]"):
        fit_temperature(p, np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="integer states"):
        fit_temperature(p, np.full(5, 4))
    with pytest.raises(ValueError, match="finite"):
        observed_log_likelihood(np.full((5, 4), np.nan), np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match="weight"):
        mix_laws(p, p, 1.5)
    with pytest.raises(ValueError, match="prior"):
        prequential_count_laws(np.zeros(3, dtype=int), 2, prior=0)
