"""Temperature and mixture calibration of next-state laws on observed transitions."""

from __future__ import annotations

import numpy as np
import pytest

from sgdllm.calibration import fit_mixture_weight, fit_temperature, mix_laws, temper


def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def test_temper_is_a_power_and_renormalizes():
    p = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    np.testing.assert_allclose(temper(p, 1.0), p)
    q = temper(p, 0.5)  # squares, renormalized
    np.testing.assert_allclose(q, p**2 / (p**2).sum(1, keepdims=True))
    assert np.all(temper(p, 100.0).std(1) < p.std(1))  # flatter
    with pytest.raises(ValueError, match="temperature"):
        temper(p, 0.0)


def test_fit_temperature_recovers_the_flattening():
    """Targets drawn from softmax(z); laws at temperature 3 of them: the fit undoes it."""
    rng = np.random.default_rng(0)
    z = 3.0 * rng.normal(size=(4000, 12))
    true = _softmax(z)
    targets = np.array([rng.choice(12, p=row) for row in true])
    flat = _softmax(z / 3.0)
    t = fit_temperature(flat, targets)
    assert t == pytest.approx(1 / 3, rel=0.1)
    # the laws that generated the targets are calibrated already
    assert fit_temperature(true, targets) == pytest.approx(1.0, rel=0.1)


def test_fit_mixture_weight_finds_the_generating_mixture_and_the_ends():
    rng = np.random.default_rng(1)
    a = _softmax(2 * rng.normal(size=(3000, 8)))
    b = _softmax(2 * rng.normal(size=(3000, 8)))
    mixed = mix_laws(a, b, 0.3)
    targets = np.array([rng.choice(8, p=row) for row in mixed])
    assert fit_mixture_weight(a, b, targets) == pytest.approx(0.3, abs=0.07)
    # targets from a alone: all the weight on a
    only_a = np.array([rng.choice(8, p=row) for row in a])
    assert fit_mixture_weight(a, b, only_a) > 0.9


def test_bad_pairs_are_refused_with_the_fix():
    laws = np.full((5, 4), 0.25)
    with pytest.raises(ValueError, match=r"laws\[\.\.\., :-1, :\]"):
        fit_temperature(laws, np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="integer states"):
        fit_temperature(laws, np.full(5, 4))
    with pytest.raises(ValueError, match="non-negative"):
        fit_temperature(-laws, np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match="weight"):
        mix_laws(laws, laws, 1.5)
