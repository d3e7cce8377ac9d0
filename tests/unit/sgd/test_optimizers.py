"""Tests for sgdllm.sgd.optimizers: hand-computed steps, purity, validation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sgdllm.sgd.optimizers import SGD, AdaGrad, Adam, Optimizer, RMSProp, as_optimizer
from sgdllm.sgd.problems import ill_conditioned_quadratic

THETA = np.array([[1.0, -2.0]])
GRAD = np.array([[0.5, -1.0]])

ALL = [
    SGD(step=0.1),
    AdaGrad(step=0.1),
    RMSProp(step=0.1),
    Adam(step=0.1),
    Adam(step=0.1, bias_correction=True),
]


def test_sgd_one_step():
    opt = SGD(step=0.1)
    assert opt.init(THETA) == {}
    theta, state = opt.update(THETA, GRAD, {}, 1)
    np.testing.assert_allclose(theta, [[0.95, -1.9]], rtol=1e-15)
    assert state == {}


def test_adagrad_two_steps():
    opt = AdaGrad(step=0.1)
    state = opt.init(THETA)
    np.testing.assert_array_equal(state["s"], [[0.0, 0.0]])
    theta, state = opt.update(THETA, GRAD, state, 1)
    # s_1 = g^2 = (0.25, 1); x_2 = x_1 - 0.1 g / sqrt(s_1) = (1 - 0.1, -2 + 0.1)
    np.testing.assert_allclose(state["s"], [[0.25, 1.0]])
    np.testing.assert_allclose(theta, [[0.9, -1.9]], rtol=1e-7)
    theta, state = opt.update(theta, np.array([[0.5, 0.0]]), state, 2)
    # s_2 = (0.5, 1); x_3 = (0.9 - 0.1 * 0.5 / sqrt(0.5), -1.9)
    np.testing.assert_allclose(state["s"], [[0.5, 1.0]])
    np.testing.assert_allclose(theta, [[0.9 - 0.05 / math.sqrt(0.5), -1.9]], rtol=1e-7)
    np.testing.assert_allclose(theta, [[0.8292893, -1.9]], rtol=1e-7)


def test_rmsprop_one_step():
    opt = RMSProp(step=0.1, beta=0.9)
    theta, state = opt.update(THETA, GRAD, opt.init(THETA), 1)
    # s_1 = 0.1 g^2 = (0.025, 0.1); move = 0.1 * g / sqrt(s_1) = 0.1 / sqrt(0.1) * sign(g)
    np.testing.assert_allclose(state["s"], [[0.025, 0.1]])
    np.testing.assert_allclose(theta, [[0.6837722, -1.6837722]], rtol=1e-7)


def test_adam_without_bias_correction_is_the_lecture_notes_rule():
    opt = Adam(step=0.1)
    assert opt.bias_correction is False
    theta, state = opt.update(THETA, GRAD, opt.init(THETA), 1)
    # m_1 = 0.1 g, s_1 = 0.001 g^2; move = 0.1 * 0.1 / sqrt(0.001) * sign(g) = 0.3162278
    np.testing.assert_allclose(state["m"], [[0.05, -0.1]])
    np.testing.assert_allclose(state["s"], [[0.00025, 0.001]])
    # eps = 1e-8 against sqrt(s) = 0.0158 shifts the move by ~6e-7 relative
    np.testing.assert_allclose(theta, [[0.6837722, -1.6837722]], rtol=1e-6)
    theta, state = opt.update(theta, GRAD, state, 2)
    # m_2 = 0.19 g, s_2 = 0.001999 g^2; move = 0.1 * 0.19 / sqrt(0.001999) = 0.4249581
    np.testing.assert_allclose(state["m"], [[0.095, -0.19]])
    np.testing.assert_allclose(state["s"], [[0.001999 * 0.25, 0.001999]])
    expected = [[0.6837722 - 0.4249581, -1.6837722 + 0.4249581]]
    np.testing.assert_allclose(theta, expected, rtol=0, atol=1e-6)  # eps shifts it by ~6e-7


def test_adam_with_bias_correction():
    """With a constant gradient, debiased moments are m_hat = g, s_hat = g^2: steps of gamma."""
    opt = Adam(step=0.1, bias_correction=True)
    state = opt.init(THETA)
    theta = THETA
    for k in (1, 2, 3):
        theta, state = opt.update(theta, GRAD, state, k)
        np.testing.assert_allclose(theta, THETA - 0.1 * k * np.sign(GRAD), rtol=1e-7)
    # the stored state is the raw (biased) moments: m_3 = (1 - 0.9^3) g
    np.testing.assert_allclose(state["m"], (1 - 0.9**3) * GRAD)
    np.testing.assert_allclose(state["s"], (1 - 0.999**3) * GRAD**2)


def test_adagrad_effective_step_decays_like_one_over_sqrt_k():
    """Non-homogeneity: with a constant gradient AdaGrad's k-th move is gamma / sqrt(k)."""
    opt = AdaGrad(step=0.1)
    theta, state = THETA, opt.init(THETA)
    for k in range(1, 6):
        new, state = opt.update(theta, GRAD, state, k)
        np.testing.assert_allclose(np.abs(new - theta), 0.1 / math.sqrt(k), rtol=1e-7)
        theta = new


def test_rmsprop_move_with_constant_gradient():
    """s_k = (1 - beta^k) g^2, so the k-th move is gamma / sqrt(1 - beta^k) -> gamma."""
    opt = RMSProp(step=0.1, beta=0.9)
    theta, state = THETA, opt.init(THETA)
    for k in range(1, 30):
        new, state = opt.update(theta, GRAD, state, k)
        np.testing.assert_allclose(np.abs(new - theta), 0.1 / math.sqrt(1 - 0.9**k), rtol=1e-6)
        theta = new


@pytest.mark.parametrize("opt", ALL, ids=lambda o: repr(o))
@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 50))
def test_update_is_pure(opt, seed, k):
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal((3, 4))
    grad = rng.standard_normal((3, 4))
    state = {key: np.abs(rng.standard_normal((3, 4))) for key in opt.init(theta)}
    copies = (theta.copy(), grad.copy(), {key: v.copy() for key, v in state.items()})
    new_theta, new_state = opt.update(theta, grad, state, k)
    np.testing.assert_array_equal(theta, copies[0])
    np.testing.assert_array_equal(grad, copies[1])
    assert state.keys() == copies[2].keys()
    for key in state:
        np.testing.assert_array_equal(state[key], copies[2][key])
        assert new_state[key] is not state[key]
    assert new_theta is not theta
    assert new_theta.shape == theta.shape
    # the same call twice gives the same answer
    again_theta, _ = opt.update(theta, grad, state, k)
    np.testing.assert_array_equal(again_theta, new_theta)


def test_sgd_on_quadratic_is_gradient_descent():
    """x_k - x* = (I - 2 gamma Q)^k (x_0 - x*) for F = x^T Q x + c^T x."""
    p = ill_conditioned_quadratic(condition=10.0, noise=0.0, n_samples=1, minimizer=(0.2, -0.1))
    gamma = 0.04
    opt = SGD(step=gamma)
    x0 = np.array([[0.9, 0.7]])
    x, state = x0, opt.init(x0)
    for k in range(1, 26):
        x, state = opt.update(x, p.grad(x, np.zeros((1, 1), dtype=int)), state, k)
    x_star = p.minimizers()[0]
    expected = x_star + np.linalg.matrix_power(np.eye(2) - 2 * gamma * p.Q, 25) @ (x0[0] - x_star)
    np.testing.assert_allclose(x[0], expected, rtol=1e-12)


@pytest.mark.parametrize("opt", ALL, ids=lambda o: repr(o))
def test_optimizers_are_frozen_and_follow_the_protocol(opt):
    assert isinstance(opt, Optimizer)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opt.step = 1.0


def test_as_optimizer():
    assert as_optimizer(0.05) == SGD(step=0.05)
    assert as_optimizer(np.float32(0.5)) == SGD(step=0.5)
    adam = Adam(step=0.01)
    assert as_optimizer(adam) is adam
    with pytest.raises(ValueError, match="step size"):
        as_optimizer("sgd")
    with pytest.raises(ValueError, match="step size"):
        as_optimizer(True)


def test_hyperparameter_validation():
    with pytest.raises(ValueError, match="SGD: step must be a finite number > 0"):
        SGD(step=0.0)
    with pytest.raises(ValueError, match="step must be a real number"):
        SGD(step="0.1")
    with pytest.raises(ValueError, match="AdaGrad: eps must be"):
        AdaGrad(step=0.1, eps=0.0)
    with pytest.raises(ValueError, match="RMSProp: beta must satisfy 0 <= beta < 1"):
        RMSProp(step=0.1, beta=1.0)
    with pytest.raises(ValueError, match="Adam: beta2 must satisfy"):
        Adam(step=0.1, beta2=-0.1)
    with pytest.raises(ValueError, match="bias_correction must be True or False"):
        Adam(step=0.1, bias_correction="yes")
    with pytest.raises(ValueError, match="Adam: step must be a finite number > 0"):
        Adam(step=float("nan"))


def test_update_argument_validation():
    opt = Adam(step=0.1)
    state = opt.init(THETA)
    with pytest.raises(ValueError, match="1-based"):
        opt.update(THETA, GRAD, state, 0)
    with pytest.raises(ValueError, match="same shape"):
        opt.update(THETA, GRAD[:, :1], state, 1)
    with pytest.raises(ValueError, match=r"state lacks \['m'\]"):
        opt.update(THETA, GRAD, {"s": state["s"]}, 1)
    with pytest.raises(ValueError, match="create the state with init"):
        opt.update(THETA, GRAD, {"m": np.zeros(3), "s": np.zeros(3)}, 1)
