"""Tests of the learning curves and power-law fits of sgdllm.studies.scaling."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from sgdllm.discretize import Scaler
from sgdllm.kernel import count_kernel, cv_bandwidth
from sgdllm.metrics import bhattacharyya, spectral_gap, stationary_law
from sgdllm.studies.scaling import (
    ESTIMATORS,
    chain_kernel,
    chain_series,
    classical_laws,
    count_risk,
    fit_power_law,
    fit_scaling_law,
    leak_cost,
    learning_curve,
    learning_curves,
    moving_average,
    series_learning_curves,
    stay_probability,
    stays_below_from,
)
from sgdllm.truth import random_chain, two_state_chain

# ----------------------------------------------------------------------------- chains


def test_two_state_series_lands_on_two_states_with_the_exact_rows():
    a, b = 0.1, 0.3
    s = chain_series(two_state_chain(a, b), 300, 2, seed=0)
    assert s.states.shape == s.values.shape == s.indices.shape == (300,)
    # the whole-series min/max rescaling puts the two values on 0.15 and 0.85: states 15, 85
    assert set(np.unique(s.states)) == {15, 85}
    assert s.truth.shape == (100, 100)
    np.testing.assert_allclose(s.truth.sum(axis=1), 1.0)
    np.testing.assert_allclose(s.truth[15, [15, 85]], [1 - a, a])
    np.testing.assert_allclose(s.truth[85, [15, 85]], [b, 1 - b])
    assert spectral_gap(s.truth) == pytest.approx(a + b, abs=1e-9)


def test_series_is_reproducible_and_seed_dependent():
    m = two_state_chain(0.2, 0.2)
    one, two = chain_series(m, 200, 2, [3, 1]), chain_series(m, 200, 2, [3, 1])
    np.testing.assert_array_equal(one.states, two.states)
    assert not np.array_equal(one.states, chain_series(m, 200, 2, [3, 2]).states)


def test_series_starts_stationary_and_follows_the_matrix():
    m = two_state_chain(0.1, 0.3)  # pi = (0.75, 0.25)
    first = np.array([chain_series(m, 2, 1, [7, i]).indices[0] for i in range(4000)])
    # binomial s.e. of the frequency is sqrt(0.75 * 0.25 / 4000) = 0.007; 5 s.e.
    assert np.mean(first == 0) == pytest.approx(0.75, abs=0.035)
    long = chain_series(random_chain(4, seed=1), 40000, 2, seed=2, values=[0.0, 1.0, 2.5, 4.0])
    counts = count_kernel(long.indices, 1).matrix[:4, :4]
    np.testing.assert_allclose(counts, random_chain(4, seed=1), atol=0.03)


def test_chain_kernel_shares_a_state_with_stationary_weights():
    m = np.array([[0.5, 0.5, 0.0], [0.0, 0.2, 0.8], [0.6, 0.0, 0.4]])
    values = [0.0, 0.01, 1.0]  # values 0 and 0.01 fall in one state at 1 digit
    scaler = Scaler(0.0, 1.0, 1)
    where = scaler.to_states(values)
    assert where[0] == where[1] != where[2]
    p = chain_kernel(m, values, scaler)
    pi = stationary_law(m)
    shared = (pi[0] * m[0] + pi[1] * m[1]) / (pi[0] + pi[1])
    expected = np.zeros(10)
    np.add.at(expected, where, shared)
    np.testing.assert_allclose(p[where[0]], expected)
    # unoccupied states copy the nearest occupied row
    np.testing.assert_allclose(p[0], p[where[0]])
    np.testing.assert_allclose(p[9], p[where[2]])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: chain_series([[0.5, 0.4], [0.5, 0.5]], 10, 2, 0), "sums to"),
        (lambda: chain_series([[1.0]], 10, 2, 0), "n >= 2"),
        (lambda: chain_series(two_state_chain(0.1, 0.1), 1, 2, 0), "n_steps"),
        (lambda: chain_series(two_state_chain(0.1, 0.1), 10, 2, 0, values=[1, 1]), "distinct"),
        (lambda: chain_kernel(two_state_chain(0.1, 0.1), None, "grid"), "Scaler"),
    ],
)
def test_chain_errors_name_the_problem(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------------------- estimators


@pytest.fixture(scope="module")
def walk():
    rng = np.random.default_rng(0)
    return np.clip(np.cumsum(rng.integers(-3, 4, 60)) + 50, 0, 99)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_classical_rows_are_count_kernel_rows_without_look_ahead(walk, estimator):
    laws = classical_laws(walk, 2, estimator, cv_first=8)
    assert laws.shape == (60, 100)
    np.testing.assert_allclose(laws.sum(axis=1), 1.0)
    np.testing.assert_allclose(laws[0], 0.01)  # no transition seen: uniform
    for t in (1, 5, 8, 20, 40, 59):
        ctx = walk[: t + 1]
        if estimator == "laplace":
            ref = count_kernel(ctx, 2, "laplace")
        elif estimator == "rule":
            ref = count_kernel(ctx, 2, "gaussian", bandwidth="rule")
        else:
            c = max(c for c in (8, 16, 32) if c <= t) if t >= 8 else None
            h = (1.0, 1.0) if c is None else cv_bandwidth(walk[: c + 1], 2)
            ref = count_kernel(ctx, 2, "gaussian", bandwidth=h)
        row = ref.matrix[walk[t]]
        np.testing.assert_allclose(laws[t], row / row.sum(), atol=1e-12)


def test_classical_laws_ignore_the_future(walk):
    changed = walk.copy()
    changed[40:] = 99 - changed[40:]
    for estimator in ESTIMATORS:
        a, b = classical_laws(walk, 2, estimator), classical_laws(changed, 2, estimator)
        np.testing.assert_array_equal(a[:40], b[:40])


def test_undefined_gaussian_row_is_uniform():
    # before the first CV checkpoint the bandwidth is one state: the only source, 80 states
    # away, has weight exp(-3200), which underflows, so count_kernel leaves the row undefined
    states = np.array([10, 10, 10, 90])
    assert count_kernel(states, 2, "gaussian", bandwidth=1.0).matrix[90].sum() == 0
    np.testing.assert_allclose(classical_laws(states, 2, "cv")[3], 0.01)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"estimator": "kde"}, "estimator"),
        ({"estimator": "cv", "cv_first": 1}, "cv_first"),
        ({"estimator": "laplace", "digits": 4}, "digits"),
    ],
)
def test_classical_laws_errors(walk, kwargs, match):
    kwargs = {"digits": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        classical_laws(walk, **kwargs)


def test_classical_laws_rejects_bad_states():
    with pytest.raises(ValueError, match="states"):
        classical_laws([1, 2, 300], 2, "laplace")


# ----------------------------------------------------------------------------- learning curves


def test_learning_curve_is_zero_for_the_truth_and_scores_the_current_row():
    s = chain_series(two_state_chain(0.2, 0.4), 50, 2, seed=1)
    exact = learning_curve(s.truth[s.states], s.states, s.truth)
    np.testing.assert_allclose(exact, 0.0, atol=1e-12)
    uniform = np.full((50, 100), 0.01)
    curve = learning_curve(uniform, s.states, s.truth)
    np.testing.assert_allclose(curve, bhattacharyya(s.truth[s.states], uniform))
    assert learning_curve(uniform, s.states, s.truth, "tv").max() <= 1.0


def test_learning_curve_errors():
    truth = np.eye(100)
    with pytest.raises(ValueError, match="row t is the law"):
        learning_curve(np.full((5, 100), 0.01), np.zeros(4, dtype=int), truth)
    with pytest.raises(ValueError, match="unknown metric"):
        learning_curve(np.full((4, 100), 0.01), np.zeros(4, dtype=int), truth, "hellinger")
    with pytest.raises(ValueError, match="integers"):
        learning_curve(np.full((4, 100), 0.01), np.full(4, 100), truth)


def uniform_laws(states, digits):
    return np.full((len(states), 10**digits), 10.0**-digits)


def test_learning_curves_score_every_estimator_on_the_same_series():
    a = b = 0.2
    res = learning_curves(
        two_state_chain(a, b),
        {"uniform": uniform_laws, "laplace": partial(classical_laws, estimator="laplace")},
        n_steps=30,
        digits=2,
        seeds=[[0, i] for i in range(3)],
        keep_laws=["laplace"],
    )
    assert res.curves["uniform"].shape == res.curves["laplace"].shape == (3, 30)
    assert res.states.shape == (3, 30) and res.truth.shape == (3, 100, 100)
    # the uniform law is as far from (1 - a, a) at every step, whatever the state
    expected = -np.log((np.sqrt(1 - a) + np.sqrt(a)) * np.sqrt(0.01))
    np.testing.assert_allclose(res.curves["uniform"], expected)
    assert set(res.laws) == {"laplace"}
    for i in range(3):
        np.testing.assert_array_equal(
            res.laws["laplace"][i], classical_laws(res.states[i], 2, "laplace")
        )


def test_learning_curves_errors():
    m = two_state_chain(0.2, 0.2)
    with pytest.raises(ValueError, match="estimators is empty"):
        learning_curves(m, {}, n_steps=10, digits=2, seeds=[0])
    with pytest.raises(ValueError, match="seeds is empty"):
        learning_curves(m, {"u": uniform_laws}, n_steps=10, digits=2, seeds=[])
    with pytest.raises(ValueError, match="keep_laws"):
        learning_curves(m, {"u": uniform_laws}, n_steps=10, digits=2, seeds=[0], keep_laws=["v"])


def test_series_learning_curves_score_each_series_on_its_own_kernel():
    series = [chain_series(two_state_chain(0.2, 0.4), 20, 2, seed=i) for i in range(3)]
    states = np.stack([s.states for s in series])
    truth = np.stack([s.truth for s in series])
    laws = np.full((3, 20, 100), 0.01)
    laws[1] = truth[1][states[1]]  # series 1 reads its exact rows: no loss
    curves = series_learning_curves(laws, states, truth)
    assert curves.shape == (3, 20)
    np.testing.assert_allclose(curves[1], 0.0, atol=1e-12)
    for i in (0, 2):
        np.testing.assert_array_equal(curves[i], learning_curve(laws[i], states[i], truth[i]))
    with pytest.raises(ValueError, match="the same series"):
        series_learning_curves(laws, states[:2], truth)


def test_leak_cost_is_the_exact_split_of_the_bhattacharyya_loss():
    p = np.zeros(6)
    p[[1, 4]] = [0.3, 0.7]  # the true row: two atoms
    r = np.zeros(6)
    r[[1, 4]] = [0.5, 0.5]  # a law on the atoms
    eps = 0.2
    q = (1 - eps) * r + eps * np.array([0.5, 0, 0.25, 0.25, 0, 0])  # mass eps off the atoms
    atoms = np.array([1, 4])
    assert leak_cost(q, atoms) == pytest.approx(-0.5 * np.log(1 - eps))
    assert bhattacharyya(p, q) == pytest.approx(leak_cost(q, atoms) + bhattacharyya(p, r))
    assert leak_cost(np.stack([r, q]), atoms).shape == (2,)  # one cost per law
    assert leak_cost(r, atoms) == pytest.approx(0.0)
    with pytest.raises(ValueError, match=r"states in 0\.\.5"):
        leak_cost(q, [1, 6])
    with pytest.raises(ValueError, match="state indices"):
        leak_cost(q, [0.5])


def test_stay_probability_reads_the_current_state():
    laws = np.array([[[0.7, 0.3], [0.4, 0.6]]])
    np.testing.assert_allclose(stay_probability(laws, [[0, 1]]), [[0.7, 0.6]])
    with pytest.raises(ValueError, match="shape"):
        stay_probability(laws, [0, 1, 0])


def test_count_risk_formula_and_monte_carlo():
    assert count_risk(two_state_chain(0.3, 0.5), 101) == pytest.approx(1 / 400)
    # three states with full rows: sum (r - 1) = 6
    assert count_risk(random_chain(3, seed=0), [11, 21]) == pytest.approx([6 / 80, 6 / 160])
    # empirical frequencies of the current row after N = 400 values of a fast chain, over 400
    # series: the delta method is accurate to a few percent at ~200 transitions per row, and
    # the Monte Carlo s.e. of the mean is ~8% (the seeds are fixed; 25% is 3 s.e.)
    m, n = two_state_chain(0.4, 0.4), 400
    losses = []
    for i in range(400):
        s = chain_series(m, n, 2, [11, i])
        row = count_kernel(s.states, 2).matrix[s.states[-1]]
        losses.append(bhattacharyya(s.truth[s.states[-1]], row))
    assert np.mean(losses) == pytest.approx(count_risk(m, n), rel=0.25)
    with pytest.raises(ValueError, match="N >= 2"):
        count_risk(m, 1)


# ----------------------------------------------------------------------------- smoothing and fits


def test_moving_average_constant_window():
    y = np.arange(10.0)
    np.testing.assert_allclose(moving_average(y, 1), y)
    # a linear sequence is unchanged where the window is whole
    np.testing.assert_allclose(moving_average(y, 5)[2:-2], y[2:-2])
    assert moving_average(y, 5)[0] == pytest.approx(1.0)  # mean of 0, 1, 2
    np.testing.assert_allclose(moving_average(np.ones((2, 7)), 3), 1.0)


def test_moving_average_relative_window():
    y = np.random.default_rng(0).normal(size=200)
    np.testing.assert_allclose(moving_average(y, fraction=0.0), y)
    out = moving_average(y, fraction=0.1)
    # N = 100 (t = 99): half-width 10
    assert out[99] == pytest.approx(y[89:110].mean())
    assert out[4] == pytest.approx(y[4])  # N = 5: half-width 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"window": 4}, "odd"),
        ({"window": 3, "fraction": 0.1}, "exactly one"),
        ({}, "exactly one"),
        ({"fraction": -0.1}, "fraction"),
    ],
)
def test_moving_average_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        moving_average(np.ones(5), **kwargs)


@pytest.mark.parametrize("method", ["loglog", "curve_fit"])
def test_power_law_fit_recovers_exact_parameters(method):
    x = np.arange(10, 400, dtype=float)
    fit = fit_power_law(x, 3.0 * x**-0.7, method=method)
    assert fit.alpha == pytest.approx(-0.7, abs=1e-6)
    assert fit.c == pytest.approx(3.0, rel=1e-5)
    np.testing.assert_allclose(fit(x), 3.0 * x**-0.7, rtol=1e-5)


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "match"),
    [
        ([1, 2, 3], [1, 0, 1], {}, "positive"),
        ([1, 2], [1, 1], {}, "length >= 3"),
        ([0, 1, 2], [1, 1, 1], {}, "x must be positive"),
        ([1, 2, 3], [1, 1, 1], {"method": "lsq"}, "method"),
    ],
)
def test_power_law_fit_errors(x, y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_power_law(x, y, **kwargs)


def noisy_power_curves(alpha, n_seeds=30, n_steps=300, seed=0):
    n = np.arange(1, n_steps + 1)
    noise = np.random.default_rng(seed).lognormal(0.0, 0.5, (n_seeds, n_steps))
    return 0.5 * n**alpha * noise


def test_scaling_fit_recovers_alpha_with_an_honest_interval():
    curves = noisy_power_curves(-0.5)
    fit = fit_scaling_law(curves, fraction=0.1, fit_range=(10, 300), n_boot=200, seed=1)
    assert fit.n_seeds == 30 and fit.fit_range == (10, 300)
    assert fit.mean.shape == fit.se.shape == fit.contexts.shape == (300,)
    assert fit.alpha == pytest.approx(-0.5, abs=4 * fit.alpha_se)
    assert fit.alpha_interval[0] < -0.5 < fit.alpha_interval[1]
    assert 0 < fit.alpha_se < 0.1
    const = fit_scaling_law(curves, window=11, fit_range=(10, 300), n_points=None, n_boot=0)
    assert const.alpha == pytest.approx(-0.5, abs=0.05)
    assert const.alpha_se == const.fit.alpha_se  # no bootstrap: the fit's own s.e.


def test_scaling_fit_tells_a_growing_curve_from_a_falling_one():
    up = fit_scaling_law(noisy_power_curves(0.3), fraction=0.1, fit_range=(20, 300), n_boot=50)
    down = fit_scaling_law(noisy_power_curves(-0.3), fraction=0.1, fit_range=(20, 300), n_boot=50)
    assert up.alpha > 0.2 and down.alpha < -0.2


def test_loss_at_reads_the_mean_at_the_longest_context_not_beyond():
    fit = fit_scaling_law(
        noisy_power_curves(-0.5, n_seeds=3), window=1, fit_range=(5, 300), n_boot=0
    )
    assert fit.loss_at(300) == fit.mean[-1]
    assert fit.loss_at(80) == fit.mean[79]  # N = 80 is column 79
    assert fit.loss_at(80.5) == fit.mean[79] and fit.loss_at(1e9) == fit.mean[-1]
    with pytest.raises(ValueError, match="no context length"):
        fit.loss_at(0.5)


def test_stays_below_from_finds_where_a_curve_passes_below_for_good():
    n = np.arange(1.0, 7.0)
    reference = np.ones(6)
    # below at N = 2, above at N = 3, then below from N = 4 on: the answer is 4
    assert stays_below_from(n, [2, 0.5, 2, 0.5, 0.5, 0.5], reference) == 4.0
    assert stays_below_from(n, np.zeros(6), reference) == 1.0  # below from the start
    assert np.isnan(stays_below_from(n, [0, 0, 0, 0, 0, 1], reference))  # a tie at the end
    with pytest.raises(ValueError, match="one length"):
        stays_below_from(n, np.zeros(5), reference)


@pytest.mark.parametrize(
    ("curves", "kwargs", "match"),
    [
        (np.ones((1, 50)), {}, "at least 2 seeds"),
        (np.ones((3, 50)), {"fit_range": (10, 60)}, "fit_range"),
        (np.ones((3, 50)), {"n_points": 2}, "n_points"),
        (np.ones((3, 50)), {"n_boot": -1}, "n_boot"),
        (np.full((3, 50), np.nan), {}, "NaN"),
    ],
)
def test_scaling_fit_errors(curves, kwargs, match):
    kwargs = {"window": 3, "fit_range": (5, 50), **kwargs}
    with pytest.raises(ValueError, match=match):
        fit_scaling_law(curves, **kwargs)
