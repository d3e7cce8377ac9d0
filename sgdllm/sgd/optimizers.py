"""Constant-step optimizers, written exactly as in the lecture notes.

Chapter: *SGD as a Markov chain*.

Reference: K. Yuan, lecture notes *Adaptive SGD*. With ``g_k = grad F(x_k; xi_k)`` the
stochastic gradient at iteration ``k`` (``k = 1, 2, ...``) and all operations on vectors
taken entrywise:

* SGD: ``x_{k+1} = x_k - gamma g_k``;
* AdaGrad (Duchi, Hazan & Singer 2011): ``s_k = s_{k-1} + g_k * g_k``,
  ``x_{k+1} = x_k - gamma / (sqrt(s_k) + eps) * g_k``;
* RMSProp (Tieleman & Hinton 2012): ``s_k = beta s_{k-1} + (1 - beta) g_k * g_k``,
  ``x_{k+1} = x_k - gamma / (sqrt(s_k) + eps) * g_k``;
* Adam (Kingma & Ba 2014): ``m_k = beta1 m_{k-1} + (1 - beta1) g_k``,
  ``s_k = beta2 s_{k-1} + (1 - beta2) g_k * g_k``,
  ``x_{k+1} = x_k - gamma / (sqrt(s_k) + eps) * m_k`` (no bias correction in the notes;
  :class:`Adam` has a ``bias_correction`` switch),

with ``s_0 = m_0 = 0``.

Markov structure. With i.i.d. ``xi_k`` and fixed hyperparameters, SGD is a homogeneous Markov
chain on ``x``, and RMSProp and Adam (without bias correction) are homogeneous Markov chains on
the augmented state ``(x, s)`` resp. ``(x, m, s)``: the next state is a fixed function of the
current state and of ``xi_k`` alone. AdaGrad is not: its accumulator ``s_k`` only grows
(like ``k``), so its effective step ``gamma / (sqrt(s_k) + eps)`` decays like ``1/sqrt(k)`` -
as a chain on ``x`` its transition kernel changes with ``k``, and on ``(x, s)`` the state
drifts to infinity, so there is no stationary law. Adam with bias correction depends on ``k``
explicitly through ``1 - beta^k`` and is only asymptotically homogeneous.

Every optimizer is a frozen dataclass with

* ``init(theta) -> state``: the initial state (a dict of arrays shaped like ``theta``);
* ``update(theta, grad, state, k) -> (theta_next, state_next)``: one step, pure (inputs are
  never modified), ``k`` the 1-based iteration index.

Arrays are ``(R, d)`` (``R`` runs) but any shape works since all operations are entrywise.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["SGD", "AdaGrad", "Adam", "Optimizer", "RMSProp", "as_optimizer"]

FloatArray = NDArray[np.float64]
State = dict[str, FloatArray]


@runtime_checkable
class Optimizer(Protocol):
    """Interface of a constant-step optimizer (see the module docstring)."""

    step: float

    def init(self, theta: ArrayLike) -> State:
        """Initial optimizer state for parameters ``theta``."""
        ...

    def update(
        self, theta: ArrayLike, grad: ArrayLike, state: State, k: int
    ) -> tuple[FloatArray, State]:
        """One step from ``theta`` with stochastic gradient ``grad`` at iteration ``k >= 1``."""
        ...


# --------------------------------------------------------------------------------------------
# validation


def _check_step(name: str, step: float) -> None:
    if isinstance(step, bool) or not isinstance(step, numbers.Real):
        raise ValueError(f"{name}: step must be a real number > 0; got {step!r}.")
    if not (np.isfinite(step) and step > 0):
        raise ValueError(f"{name}: step must be a finite number > 0; got {step!r}.")


def _check_eps(name: str, eps: float) -> None:
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(
            f"{name}: eps must be a finite number > 0 (it keeps 1/(sqrt(s)+eps) finite when "
            f"s = 0); got {eps!r}."
        )


def _check_beta(name: str, label: str, beta: float) -> None:
    if not (np.isfinite(beta) and 0 <= beta < 1):
        raise ValueError(f"{name}: {label} must satisfy 0 <= {label} < 1; got {beta!r}.")


def _check_args(
    name: str, theta: ArrayLike, grad: ArrayLike, k: int, keys: tuple[str, ...], state: State
) -> tuple[FloatArray, FloatArray]:
    theta = np.asarray(theta, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    if theta.shape != grad.shape:
        raise ValueError(
            f"{name}.update: theta and grad must have the same shape; got {theta.shape} and "
            f"{grad.shape}."
        )
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"{name}.update: k is the 1-based iteration index (>= 1); got {k!r}.")
    missing = [key for key in keys if key not in state]
    if missing:
        raise ValueError(
            f"{name}.update: state lacks {missing}; create it with {name}(...).init(theta)."
        )
    for key in keys:
        if np.shape(state[key]) != theta.shape:
            raise ValueError(
                f"{name}.update: state[{key!r}] has shape {np.shape(state[key])} but theta has "
                f"{theta.shape}; create the state with init(theta)."
            )
    return theta, grad


# --------------------------------------------------------------------------------------------
# optimizers


@dataclass(frozen=True)
class SGD:
    """Constant-step stochastic gradient descent.

    .. math::

        x_{k+1} = x_k - \\gamma g_k .

    Reference: K. Yuan, lecture notes *Adaptive SGD*. With i.i.d. mini-batches it is a
    homogeneous Markov chain on ``x`` (Dieuleveut, Durmus & Bach 2020).

    Parameters
    ----------
    step : float
        Step size ``gamma > 0``.
    """

    step: float

    def __post_init__(self) -> None:
        _check_step("SGD", self.step)

    def init(self, theta: ArrayLike) -> State:
        """SGD has no state: returns ``{}``."""
        return {}

    def update(
        self, theta: ArrayLike, grad: ArrayLike, state: State, k: int
    ) -> tuple[FloatArray, State]:
        """Return ``(x_k - gamma g_k, {})``."""
        theta, grad = _check_args("SGD", theta, grad, k, (), state)
        return theta - self.step * grad, {}


@dataclass(frozen=True)
class AdaGrad:
    """AdaGrad (Duchi, Hazan & Singer 2011), as in the lecture notes.

    .. math::

        s_k = s_{k-1} + g_k \\odot g_k, \\qquad
        x_{k+1} = x_k - \\frac{\\gamma}{\\sqrt{s_k} + \\epsilon} \\odot g_k, \\qquad s_0 = 0.

    Reference: K. Yuan, lecture notes *Adaptive SGD*. Not a homogeneous chain: the effective
    step ``gamma / (sqrt(s_k) + eps)`` decays like ``1/sqrt(k)``.

    Parameters
    ----------
    step : float
        ``gamma > 0``.
    eps : float, default 1e-8
        ``epsilon > 0``.
    """

    step: float
    eps: float = 1e-8

    def __post_init__(self) -> None:
        _check_step("AdaGrad", self.step)
        _check_eps("AdaGrad", self.eps)

    def init(self, theta: ArrayLike) -> State:
        """``{"s": 0}`` shaped like ``theta``."""
        return {"s": np.zeros(np.shape(theta))}

    def update(
        self, theta: ArrayLike, grad: ArrayLike, state: State, k: int
    ) -> tuple[FloatArray, State]:
        """One AdaGrad step; returns ``(x_{k+1}, {"s": s_k})``."""
        theta, grad = _check_args("AdaGrad", theta, grad, k, ("s",), state)
        s = np.asarray(state["s"]) + grad * grad
        return theta - self.step / (np.sqrt(s) + self.eps) * grad, {"s": s}


@dataclass(frozen=True)
class RMSProp:
    """RMSProp (Tieleman & Hinton 2012), as in the lecture notes.

    .. math::

        s_k = \\beta s_{k-1} + (1 - \\beta)\\, g_k \\odot g_k, \\qquad
        x_{k+1} = x_k - \\frac{\\gamma}{\\sqrt{s_k} + \\epsilon} \\odot g_k, \\qquad s_0 = 0.

    Reference: K. Yuan, lecture notes *Adaptive SGD*. A homogeneous Markov chain on
    ``(x, s)``.

    Parameters
    ----------
    step : float
        ``gamma > 0``.
    beta : float, default 0.9
        ``0 <= beta < 1``.
    eps : float, default 1e-8
        ``epsilon > 0``.
    """

    step: float
    beta: float = 0.9
    eps: float = 1e-8

    def __post_init__(self) -> None:
        _check_step("RMSProp", self.step)
        _check_beta("RMSProp", "beta", self.beta)
        _check_eps("RMSProp", self.eps)

    def init(self, theta: ArrayLike) -> State:
        """``{"s": 0}`` shaped like ``theta``."""
        return {"s": np.zeros(np.shape(theta))}

    def update(
        self, theta: ArrayLike, grad: ArrayLike, state: State, k: int
    ) -> tuple[FloatArray, State]:
        """One RMSProp step; returns ``(x_{k+1}, {"s": s_k})``."""
        theta, grad = _check_args("RMSProp", theta, grad, k, ("s",), state)
        s = self.beta * np.asarray(state["s"]) + (1.0 - self.beta) * grad * grad
        return theta - self.step / (np.sqrt(s) + self.eps) * grad, {"s": s}


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma & Ba 2014), as in the lecture notes, with optional bias correction.

    Lecture-notes form (``bias_correction=False``, the default):

    .. math::

        m_k = \\beta_1 m_{k-1} + (1 - \\beta_1) g_k, \\qquad
        s_k = \\beta_2 s_{k-1} + (1 - \\beta_2)\\, g_k \\odot g_k, \\qquad
        x_{k+1} = x_k - \\frac{\\gamma}{\\sqrt{s_k} + \\epsilon} \\odot m_k,

    with ``m_0 = s_0 = 0``. With ``bias_correction=True`` (Kingma & Ba 2014, Algorithm 1) the
    moments are debiased before the step, ``k`` starting at 1:

    .. math::

        \\hat m_k = \\frac{m_k}{1 - \\beta_1^k}, \\qquad \\hat s_k = \\frac{s_k}{1 - \\beta_2^k},
        \\qquad x_{k+1} = x_k - \\frac{\\gamma}{\\sqrt{\\hat s_k} + \\epsilon} \\odot \\hat m_k .

    The stored state is always the raw ``(m_k, s_k)``. Without bias correction Adam is a
    homogeneous Markov chain on ``(x, m, s)``; with it the kernel depends on ``k`` (through
    ``beta^k``) and becomes homogeneous only as ``k -> infinity``.

    Reference: K. Yuan, lecture notes *Adaptive SGD*; Kingma & Ba 2014.

    Parameters
    ----------
    step : float
        ``gamma > 0``.
    beta1, beta2 : float, default 0.9, 0.999
        ``0 <= beta < 1``.
    eps : float, default 1e-8
        ``epsilon > 0``.
    bias_correction : bool, default False
        Debias the moments as in Kingma & Ba (the notes do not).
    """

    step: float
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    bias_correction: bool = False

    def __post_init__(self) -> None:
        _check_step("Adam", self.step)
        _check_beta("Adam", "beta1", self.beta1)
        _check_beta("Adam", "beta2", self.beta2)
        _check_eps("Adam", self.eps)
        if not isinstance(self.bias_correction, bool | np.bool_):
            raise ValueError(
                f"Adam: bias_correction must be True or False; got {self.bias_correction!r}."
            )

    def init(self, theta: ArrayLike) -> State:
        """``{"m": 0, "s": 0}`` shaped like ``theta``."""
        return {"m": np.zeros(np.shape(theta)), "s": np.zeros(np.shape(theta))}

    def update(
        self, theta: ArrayLike, grad: ArrayLike, state: State, k: int
    ) -> tuple[FloatArray, State]:
        """One Adam step; returns ``(x_{k+1}, {"m": m_k, "s": s_k})``."""
        theta, grad = _check_args("Adam", theta, grad, k, ("m", "s"), state)
        m = self.beta1 * np.asarray(state["m"]) + (1.0 - self.beta1) * grad
        s = self.beta2 * np.asarray(state["s"]) + (1.0 - self.beta2) * grad * grad
        if self.bias_correction:
            m_hat = m / (1.0 - self.beta1**k)
            s_hat = s / (1.0 - self.beta2**k)
        else:
            m_hat, s_hat = m, s
        return theta - self.step / (np.sqrt(s_hat) + self.eps) * m_hat, {"m": m, "s": s}


def as_optimizer(optimizer: Optimizer | float) -> Optimizer:
    """Return ``optimizer`` itself, or ``SGD(step=optimizer)`` for a real number.

    Raises
    ------
    ValueError
        If ``optimizer`` is neither a real step size nor an object with ``init``/``update``.
    """
    if isinstance(optimizer, numbers.Real) and not isinstance(optimizer, bool):
        return SGD(step=float(optimizer))
    if callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None)):
        return optimizer
    raise ValueError(
        f"optimizer must be a step size (float) or an optimizer such as SGD(step=0.1), "
        f"Adam(step=0.01); got {optimizer!r}."
    )
