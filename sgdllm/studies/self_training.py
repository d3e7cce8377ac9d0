"""The language model's own training as a Markov chain: SGD on its final normalization layer.

Chapter: *The model predicting its own training*.

A trainable **copy** of the language model (``copy.deepcopy``; the loaded model and the
shipped weights are never touched) is fine-tuned by constant-step SGD on next-token
prediction of serialized series. Only the final normalization layer is trained: LLaMA's
RMSNorm ``model.norm`` (a gain ``g``; the embedded default model) or GPT-2's LayerNorm
``transformer.ln_f`` (a gain ``g`` and a bias ``b``); the transformer trunk and the tied
embedding ``E`` stay frozen. With ``z`` the trunk's normalized last hidden state of a token
(fixed: ``h / sqrt(mean(h^2) + eps)`` for RMSNorm, ``(h - mean(h)) / sqrt(var(h) + eps)`` for
LayerNorm), the logits are ``E (g * z + b)`` (``b = 0`` for RMSNorm): linear in ``theta = g``
or ``theta = (g, b)``, so the next-token cross-entropy

.. math::

    f(\\theta) = \\frac{1}{N} \\sum_{n} \\frac{1}{T - 1} \\sum_{t} -\\log
        \\operatorname{softmax}\\big(E (g \\odot z_{n,t} + b)\\big)[y_{n,t+1}]

is convex in ``theta`` (a multinomial logistic regression on fixed features), and SGD with a
constant step and mini-batches drawn independently at every step,

.. math::

    \\theta_{k+1} = \\theta_k - \\gamma \\nabla f_{B_k}(\\theta_k),

is a homogeneous Markov chain with a stationary law around the minimizer (Dieuleveut, Durmus &
Bach 2020), the object the paper (Zekri et al. 2024) asks a language model to predict. Because
the trunk is frozen, its features are computed once, and many runs move together as one batched
tensor: a step of ``R`` runs is one batched product, each run with its own mini-batches.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from sgdllm.discretize import discretize
from sgdllm.lm.processes import make_process
from sgdllm.lm.tokenizer import encode_states

__all__ = [
    "FINAL_NORMS",
    "HeadTask",
    "SelfTrainingRuns",
    "head_loss",
    "head_task",
    "steepest_coordinates",
    "train_head",
    "training_tokens",
]

#: Final normalization layers that can be trained, by where ``transformers`` puts them:
#: LLaMA-style models (RMSNorm, a gain) and GPT-2 (LayerNorm, a gain and a bias).
FINAL_NORMS = ("model.norm", "transformer.ln_f")


@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` intra-op torch threads (``None``: leave as is), restored afterwards."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(_check_int(n, "threads", 1))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _check_int(value: int, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def training_tokens(
    family: str, n_series: int, n_values: int, digits: int, seed: int
) -> NDArray[np.int64]:
    """Token ids of ``n_series`` series of one random process, serialized as the model reads them.

    One process of ``family`` (:func:`sgdllm.lm.processes.make_process`, parameters drawn from the
    seed) is sampled ``n_series`` times; each series is rescaled by its own min/max
    (:func:`sgdllm.discretize.discretize`) and encoded ``<s>v0,v1,...,``
    (:func:`sgdllm.lm.tokenizer.encode_states`), as in pretraining (:mod:`sgdllm.lm.pretrain`).

    Returns
    -------
    ndarray of int64, shape (n_series, 1 + n_values * (digits + 1))
    """
    n_series = _check_int(n_series, "n_series", 1)
    n_values = _check_int(n_values, "n_values", 2)
    rng = np.random.default_rng(seed)
    process = make_process(family, rng)
    rows = [
        encode_states(discretize(process.sample(n_values, rng), digits)[0], digits)
        for _ in range(n_series)
    ]
    return np.stack(rows)


@dataclass(frozen=True)
class HeadTask:
    """The frozen part of a copy of the model, and the task its final norm is trained on.

    Attributes
    ----------
    features : torch.Tensor, shape (N, T - 1, D)
        Normalized last hidden states ``z`` at the positions that predict a next token.
    targets : torch.Tensor of int64, shape (N, T - 1)
        The next tokens.
    embedding : torch.Tensor, shape (V, D)
        The tied output embedding ``E``.
    theta0 : ndarray, shape (P,)
        The model's own parameters of its final norm, the start of training: the gain
        (``P = D``, RMSNorm) or the gain then the bias (``P = 2 D``, LayerNorm).
    norm : str
        Which layer: ``"model.norm"`` (RMSNorm) or ``"transformer.ln_f"`` (LayerNorm).
    """

    features: torch.Tensor
    targets: torch.Tensor
    embedding: torch.Tensor
    theta0: NDArray[np.float64]
    norm: str = "model.norm"

    @property
    def dim(self) -> int:
        """Width ``D`` of the model."""
        return int(self.features.shape[-1])

    @property
    def has_bias(self) -> bool:
        """Whether ``theta`` holds a bias after the gain (LayerNorm)."""
        return self.theta0.size == 2 * self.dim

    @property
    def n_params(self) -> int:
        """Entries ``P`` of ``theta``: ``D`` (gain) or ``2 D`` (gain, bias)."""
        return int(self.theta0.size)

    def names(self, coords: Sequence[int]) -> list[str]:
        """Readable names of entries of ``theta``: ``"gain[i]"`` or ``"bias[i]"``."""
        return [("gain" if i < self.dim else "bias") + f"[{i % self.dim}]" for i in coords]

    def initial_theta(self) -> NDArray[np.float64]:
        """How the layer is initialized before any training: gain 1 (and bias 0)."""
        return np.concatenate([np.ones(self.dim), np.zeros(self.n_params - self.dim)])


def _final_norm(model: torch.nn.Module) -> tuple[str, torch.nn.Module] | None:
    """The model's final normalization layer (a name of :data:`FINAL_NORMS`), if it has one."""
    for name in FINAL_NORMS:
        try:
            module = model.get_submodule(name)
        except AttributeError:
            continue
        rms = type(module).__name__.endswith("RMSNorm") and getattr(module, "bias", None) is None
        layer = isinstance(module, torch.nn.LayerNorm) and module.bias is not None
        if rms or layer:
            return name, module
    return None


def _normalize(h: torch.Tensor, norm: torch.nn.Module) -> torch.Tensor:
    """The normalized hidden states ``z`` of a final norm, before its gain (and bias)."""
    if isinstance(norm, torch.nn.LayerNorm):
        return torch.nn.functional.layer_norm(h, (h.shape[-1],), eps=norm.eps)
    eps = getattr(norm, "variance_epsilon", None) or getattr(norm, "eps", None) or 1e-6
    return h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)


def head_task(model: torch.nn.Module, tokens: ArrayLike) -> HeadTask:
    """Freeze a deep copy of a model's trunk and extract its final norm's training task.

    The copy (``copy.deepcopy(model)``) is run once on ``tokens``; a forward hook takes the
    input ``h`` of the final norm (:data:`FINAL_NORMS`) and keeps its normalized ``z`` (see
    the module docstring). ``model`` itself is not modified.

    Parameters
    ----------
    model : torch.nn.Module
        A causal LM (``lm.model`` of :func:`sgdllm.lm.load_model`) with a final RMSNorm
        ``model.norm`` (LLaMA) or LayerNorm ``transformer.ln_f`` (GPT-2) and a tied ``lm_head``
        without bias.
    tokens : array_like of int, shape (N, T)
        Training texts (:func:`training_tokens`).
    """
    ids = torch.as_tensor(np.asarray(tokens), dtype=torch.long)
    if ids.ndim != 2 or ids.shape[1] < 2:
        raise ValueError(f"tokens must have shape (N, T) with T >= 2, got {tuple(ids.shape)}")
    found = _final_norm(model)
    head = getattr(model, "lm_head", None)
    if found is None or head is None or head.bias is not None:
        raise ValueError(
            "model must be a LLaMA style LM with model.norm (RMSNorm) or a GPT-2 style LM with "
            "transformer.ln_f (LayerNorm), and a bias-free lm_head, e.g. load_model().model"
        )
    local = copy.deepcopy(model).float().cpu().eval()
    name = found[0]
    norm = local.get_submodule(name)
    seen: list[torch.Tensor] = []
    hook = norm.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].detach()))
    try:
        with torch.inference_mode():
            local(input_ids=ids)
    finally:
        hook.remove()
    z = _normalize(seen[0], norm)[:, :-1]
    parts = [norm.weight.detach()]
    if isinstance(norm, torch.nn.LayerNorm):
        parts.append(norm.bias.detach())
    return HeadTask(
        features=z.clone(),
        targets=ids[:, 1:].clone(),
        embedding=local.lm_head.weight.detach().clone(),
        theta0=torch.cat(parts).double().numpy().copy(),
        norm=name,
    )


def _split(task: HeadTask, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Gain and bias (``None`` for RMSNorm) of ``theta (R, P)``."""
    d = task.dim
    return theta[:, :d], (theta[:, d:] if task.has_bias else None)


def _losses(task: HeadTask, theta: torch.Tensor, idx: torch.Tensor):
    """Mean cross-entropy per run: theta (R, P); idx (R, B) -> (R,)."""
    gain, bias = _split(task, theta)
    r = idx.shape[0]
    z = task.features[idx].view(r, -1, task.dim)  # (R, B (T-1), D)
    # E (g * z + b): one contraction over D for all runs and tokens
    logits = torch.einsum("rnd,rd,vd->rnv", z, gain, task.embedding)
    if bias is not None:
        logits = logits + (bias @ task.embedding.T)[:, None, :]
    nll = torch.nn.functional.cross_entropy(
        logits.flatten(0, 1), task.targets[idx].flatten(), reduction="none"
    )
    return nll.view(r, -1).mean(dim=1)


def _theta(task: HeadTask, theta: ArrayLike | None, n_runs: int) -> NDArray[np.float64]:
    t = task.theta0 if theta is None else np.asarray(theta, dtype=np.float64)
    if t.ndim == 1:
        t = np.broadcast_to(t, (n_runs, t.size))
    p = task.n_params
    if t.shape != (n_runs, p) or not np.all(np.isfinite(t)):
        what = "gain then bias" if task.has_bias else "gain"
        raise ValueError(
            f"theta must be finite with shape ({p},) or ({n_runs}, {p}) ({what} of "
            f"{task.norm}), got {np.shape(theta)}"
        )
    return t


def head_loss(task: HeadTask, theta: ArrayLike | None = None) -> NDArray[np.float64]:
    """Full-data loss ``f(theta)`` of each ``theta`` (shape (P,) or (R, P)); returns (R,)."""
    given = np.atleast_2d(np.asarray(task.theta0 if theta is None else theta, dtype=np.float64))
    t = torch.as_tensor(_theta(task, given, given.shape[0]), dtype=torch.float32)
    n = task.features.shape[0]
    idx = torch.arange(n).expand(t.shape[0], n)
    with torch.no_grad():
        return _losses(task, t, idx).double().numpy()


def steepest_coordinates(task: HeadTask, k: int) -> NDArray[np.int64]:
    """Indices of the ``k`` entries of ``theta`` with the largest full-data gradient at ``theta0``.

    ``|d f / d theta_i|`` at the model's own parameters: the coordinates that training moves
    first (a drift visible against the noise).
    """
    k = _check_int(k, "k", 1)
    theta = torch.tensor(task.theta0[None], dtype=torch.float32, requires_grad=True)
    n = task.features.shape[0]
    loss = _losses(task, theta, torch.arange(n)[None]).sum()
    (grad,) = torch.autograd.grad(loss, theta)
    return np.argsort(-grad.abs()[0].numpy(), kind="stable")[:k].astype(np.int64)


@dataclass(frozen=True)
class SelfTrainingRuns:
    """Recorded SGD runs of the final norm.

    Attributes
    ----------
    coordinates : ndarray, shape (runs, steps + 1, d)
        ``theta_k[coords]`` at every step ``k = 0..steps``.
    loss : ndarray, shape (runs, steps + 1)
        Mini-batch loss ``f_{B_k}(theta_k)`` (the loss SGD sees), before step ``k``'s update.
    theta : ndarray, shape (runs, checkpoints, P)
        Full ``theta`` at the steps ``checkpoints`` (restart points).
    checkpoints : ndarray of int, shape (c,)
    coords : ndarray of int, shape (d,)
    """

    coordinates: NDArray[np.float64]
    loss: NDArray[np.float64]
    theta: NDArray[np.float64]
    checkpoints: NDArray[np.int64]
    coords: NDArray[np.int64]


def train_head(
    task: HeadTask,
    coords: Sequence[int],
    steps: int,
    step_size: float,
    *,
    batch_size: int = 4,
    n_runs: int = 1,
    seed: int = 0,
    theta: ArrayLike | None = None,
    checkpoints: Sequence[int] = (),
    threads: int | None = 1,
) -> SelfTrainingRuns:
    """Constant-step SGD on the final norm, ``n_runs`` independent runs at once.

    Every run draws its own mini-batch of ``batch_size`` series uniformly with replacement at
    every step (from one seeded generator), so each run is a homogeneous Markov chain
    ``theta_{k+1} = theta_k - step_size * grad f_{B_k}(theta_k)``. The runs share nothing but
    their start: the batched loss is the sum of the runs' losses, whose gradient with respect to
    run ``r``'s parameters is run ``r``'s own gradient (``torch.optim.SGD`` on the stacked
    parameters). Float32 arithmetic on the CPU.

    Parameters
    ----------
    task : HeadTask
    coords : sequence of int
        Entries of ``theta`` to record (``0..P - 1``).
    steps : int
        SGD steps.
    step_size : float
        Constant step ``gamma``.
    batch_size : int
        Series per mini-batch.
    n_runs : int
    seed : int
    theta : array_like, shape (P,) or (n_runs, P), optional
        Start (a checkpoint); default the model's own ``theta0``.
    checkpoints : sequence of int
        Steps at which the full ``theta`` is kept.
    threads : int or None
        Intra-op torch threads while training (restored afterwards). Default 1: the products
        are small, and on a busy machine OpenMP threads waiting for each other made a step
        several times slower than one thread (measured on 2 shared cores). ``None`` keeps
        torch's setting.
    """
    steps = _check_int(steps, "steps", 1)
    batch_size = _check_int(batch_size, "batch_size", 1)
    n_runs = _check_int(n_runs, "n_runs", 1)
    if not (np.isfinite(step_size) and step_size > 0):
        raise ValueError(f"step_size must be positive and finite, got {step_size!r}")
    c = np.asarray(coords, dtype=np.int64)
    if c.ndim != 1 or c.size == 0 or c.min() < 0 or c.max() >= task.n_params:
        raise ValueError(f"coords must be a non-empty list of indices in [0, {task.n_params - 1}]")
    ck = np.asarray(checkpoints, dtype=np.int64).reshape(-1)
    if ck.size and (ck.min() < 0 or ck.max() > steps):
        raise ValueError(f"checkpoints must lie in [0, steps={steps}], got {list(ck)}")
    start = _theta(task, theta, n_runs)
    with _torch_threads(threads):
        return _train(task, c, steps, float(step_size), batch_size, n_runs, seed, start, ck)


def _train(
    task: HeadTask,
    c: NDArray[np.int64],
    steps: int,
    step_size: float,
    batch_size: int,
    n_runs: int,
    seed: int,
    start: NDArray[np.float64],
    ck: NDArray[np.int64],
) -> SelfTrainingRuns:
    """The SGD loop of :func:`train_head` (arguments checked there)."""
    gen = torch.Generator().manual_seed(int(seed))
    params = torch.tensor(start, dtype=torch.float32, requires_grad=True)
    opt = torch.optim.SGD([params], lr=step_size)
    n = task.features.shape[0]
    coord_out = np.empty((n_runs, steps + 1, c.size))
    loss_out = np.empty((n_runs, steps + 1))
    theta_out = np.empty((n_runs, ck.size, task.n_params))
    for k in range(steps + 1):
        current = params.detach().double().numpy()
        coord_out[:, k] = current[:, c]
        theta_out[:, ck == k] = current[:, None]
        idx = torch.randint(0, n, (n_runs, batch_size), generator=gen)
        losses = _losses(task, params, idx)
        loss_out[:, k] = losses.detach().double().numpy()
        if k == steps:
            break
        opt.zero_grad()
        losses.sum().backward()
        opt.step()
    return SelfTrainingRuns(coord_out, loss_out, theta_out, ck, c)
