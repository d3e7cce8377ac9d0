"""Random training and held-out processes: exact kernels, determinism, serialization."""

from __future__ import annotations

import numpy as np
import pytest

from sgdllm.discretize import Scaler
from sgdllm.lm.processes import (
    ALL_FAMILIES,
    HELD_OUT_FAMILIES,
    TRAIN_FAMILIES,
    TRAIN_WEIGHTS,
    HeavyTailedAR,
    MarkovChain,
    SkewAR,
    make_process,
    random_train_process,
    serialize_process,
)
from sgdllm.metrics import tv
from sgdllm.truth import monte_carlo_kernel


@pytest.mark.parametrize("family", sorted(ALL_FAMILIES))
@pytest.mark.parametrize("seed", [0, 1])
def test_exact_kernel_matches_monte_carlo(family: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    proc = make_process(family, rng)
    _, states, scaler = serialize_process(proc, 200, 2, rng)
    exact = proc.kernel(scaler)
    assert exact.shape == (100, 100)
    np.testing.assert_allclose(exact.sum(axis=1), 1.0, atol=1e-12)
    assert (exact >= 0).all()
    mc = monte_carlo_kernel(proc.step, scaler, 20_000, seed=seed + 7)
    rows = np.unique(states)
    # Monte Carlo noise on 100 bins with 20k samples is ~0.01-0.02 in TV
    assert np.max(tv(exact[rows], mc[rows])) < 0.045


@pytest.mark.parametrize("family", sorted(ALL_FAMILIES))
def test_deterministic_by_seed(family: str) -> None:
    def draw(seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return make_process(family, rng).sample(50, rng)

    np.testing.assert_array_equal(draw(3), draw(3))
    assert not np.array_equal(draw(3), draw(4))
    assert np.all(np.isfinite(draw(5)))


def test_three_digit_kernels_are_stochastic() -> None:
    rng = np.random.default_rng(0)
    for family in sorted(ALL_FAMILIES):
        proc = make_process(family, rng)
        _, states, scaler = serialize_process(proc, 100, 3, rng)
        k = proc.kernel(scaler)
        assert k.shape == (1000, 1000)
        np.testing.assert_allclose(k.sum(axis=1), 1.0, atol=1e-10)
        assert states.min() >= 150 and states.max() <= 850


def test_serialization_matches_the_book() -> None:
    rng = np.random.default_rng(1)
    _, states, scaler = serialize_process(make_process("ar1", rng), 300, 2, rng)
    assert isinstance(scaler, Scaler)
    # whole-series min/max rescaling, as sgdllm.discretize does at inference
    assert states.min() == 15 and states.max() == 85


def test_markov_chain_copies_exact_states() -> None:
    rng = np.random.default_rng(5)
    proc = MarkovChain(rng)
    _, states, scaler = serialize_process(proc, 400, 2, rng)
    assert len(np.unique(states)) <= proc.n
    k = proc.kernel(scaler)
    support = np.unique(scaler.to_states(proc.values, warn=False))
    assert set(np.flatnonzero(k[states[0]] > 0)) <= set(support)


def test_families_split_and_training_mixture() -> None:
    assert set(TRAIN_FAMILIES).isdisjoint(HELD_OUT_FAMILIES)
    assert len(HELD_OUT_FAMILIES) >= 2
    assert set(TRAIN_WEIGHTS) == set(TRAIN_FAMILIES)
    rng = np.random.default_rng(0)
    names = {random_train_process(rng).name for _ in range(300)}
    assert names == set(TRAIN_FAMILIES)
    with pytest.raises(ValueError, match="unknown family"):
        make_process("sgd", rng)


def _row_moments(row: np.ndarray) -> tuple[float, float, float]:
    """Standard deviation, skewness and kurtosis of a law over the states."""
    g = np.arange(row.size, dtype=np.float64)
    m = row @ g
    c = g - m
    sd = float(np.sqrt(row @ c**2))
    return sd, float(row @ c**3) / sd**3, float(row @ c**4) / sd**4


def _row_at(proc, scaler: Scaler, x: float) -> np.ndarray:
    """The exact kernel row of the state of value ``x``."""
    return proc.kernel(scaler)[scaler.to_states(np.array([x]), warn=False)[0]]


def test_heavy_ar_rows_have_heavy_tails() -> None:
    """Student-t noise with nu = 3: kurtosis of a kernel row far above the Gaussian 3; with
    nu = 30 close to it."""
    rng = np.random.default_rng(0)
    proc = HeavyTailedAR(rng)
    proc.mu, proc.phi, proc.sigma = 0.0, 0.5, 1.0
    scaler = Scaler(-40.0, 40.0, 3)
    proc.nu = 3.0
    _, _, kurt_heavy = _row_moments(_row_at(proc, scaler, 0.0))
    proc.nu = 30.0
    _, _, kurt_light = _row_moments(_row_at(proc, scaler, 0.0))
    assert kurt_heavy > 6.0 and 2.8 < kurt_light < 3.6


@pytest.mark.parametrize("side", [1.0, -1.0])
def test_skew_ar_rows_lean_to_their_side(side: float) -> None:
    """Centred Gamma noise of shape 1 (skewness 2), to the right or to the left."""
    rng = np.random.default_rng(0)
    proc = SkewAR(rng)
    proc.m, proc.a, proc.s, proc.k, proc.r = 0.0, 0.5, 1.0, 1.0, side
    scaler = Scaler(-15.0, 15.0, 3)
    row = _row_at(proc, scaler, 0.0)
    sd, skew, _ = _row_moments(row)
    assert skew * side > 1.5  # Gamma(1): 2
    mean_state = row @ np.arange(row.size)
    centre = scaler.to_states(np.array([0.0]), warn=False)[0]
    assert abs(mean_state - centre) < 0.1 * sd  # centred noise: the mean stays at a x
