"""Temperature calibration of next-state laws (sgdllm.law_calibration)."""

from __future__ import annotations

import numpy as np
import pytest

from sgdllm.law_calibration import fit_temperature, law_width, temper_laws


def _gaussian_laws(centres, width, k=50):
    s = np.arange(k)
    laws = np.exp(-0.5 * ((s[None] - np.asarray(centres)[:, None]) / width) ** 2)
    return laws / laws.sum(axis=1, keepdims=True)


def test_temper_is_a_power_and_one_is_identity():
    laws = _gaussian_laws([15, 25, 35], 3.0)
    assert np.allclose(temper_laws(laws, 1.0), laws, atol=1e-9)
    sharp = temper_laws(laws, 0.5)
    expected = laws**2 / (laws**2).sum(axis=1, keepdims=True)
    assert np.allclose(sharp, expected, atol=1e-9)
    assert np.allclose(sharp.sum(axis=1), 1.0)
    # a Gaussian law of width w at temperature tau has width w * sqrt(tau)
    assert law_width(temper_laws(laws, 0.25)) == pytest.approx(law_width(laws) * 0.5, rel=1e-3)


def test_fit_recovers_the_width_of_the_observed_steps():
    # Laws 4 states wide around the right centre, next values drawn 1 state wide: the maximum
    # likelihood temperature is (1/4)^2 = 1/16 (a Gaussian's width scales as sqrt(tau)).
    rng = np.random.default_rng(0)
    centres = rng.integers(15, 35, size=4000)
    nxt = np.clip(np.rint(centres + rng.normal(0.0, 1.0, centres.size)), 0, 49).astype(np.int64)
    tau = fit_temperature(_gaussian_laws(centres, 4.0), nxt)
    assert tau == pytest.approx(1 / 16, rel=0.15)
    # laws already as wide as the steps: tau near 1
    assert fit_temperature(_gaussian_laws(centres, 1.0), nxt) == pytest.approx(1.0, rel=0.15)


def test_fit_widens_laws_that_are_too_sharp():
    rng = np.random.default_rng(1)
    centres = rng.integers(15, 35, size=4000)
    nxt = np.clip(np.rint(centres + rng.normal(0.0, 3.0, centres.size)), 0, 49).astype(np.int64)
    assert fit_temperature(_gaussian_laws(centres, 1.0), nxt) > 4.0


def test_law_width_in_states():
    laws = np.zeros((2, 10))
    laws[0, 3] = 1.0
    laws[1, [2, 4]] = 0.5
    assert np.allclose(law_width(laws), [0.0, 1.0])


@pytest.mark.parametrize(
    ("laws", "nxt", "message"),
    [
        (np.ones((3, 5)) / 5, np.array([1, 2]), "one per law"),
        (np.ones((3, 5)) / 5, np.array([1.0, 2.0, 3.0]), "integer"),
        (np.ones((3, 5)) / 5, np.array([1, 2, 5]), "0..4"),
        (np.full((3, 5), np.nan), np.array([1, 2, 3]), "finite"),
        (np.ones(5) / 5, np.array([1]), "shape"),
    ],
)
def test_bad_input_is_named(laws, nxt, message):
    with pytest.raises(ValueError, match=message):
        fit_temperature(laws, nxt)


def test_bad_temperature_is_named():
    with pytest.raises(ValueError, match="temperature"):
        temper_laws(np.ones((2, 3)) / 3, 0.0)
