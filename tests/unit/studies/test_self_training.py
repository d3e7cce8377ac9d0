"""Unit tests of sgdllm.studies.self_training (SGD on the final norm of a copy of a LLaMA or a
GPT-2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sgdllm.studies.self_training import (
    head_loss,
    head_task,
    steepest_coordinates,
    train_head,
    training_tokens,
)
from tests.unit.lm.lm_fixtures import tiny_gpt2, tiny_llama

DIGITS = 2


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def model(request):
    if request.param == "llama":  # RMSNorm model.norm: theta = gain
        m = tiny_llama(14, max_position_embeddings=128, sharpen=1.0)
        with torch.no_grad():  # a gain that is not all ones, so that no entry is trivial
            m.model.norm.weight.add_(0.1 * torch.randn(m.model.norm.weight.shape))
        return m.eval()
    return tiny_gpt2(14, n_positions=128, sharpen=1.0).eval()  # LayerNorm: gain and bias


def _logits(task, theta: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """E (g * z + b) by hand, b = 0 without a bias."""
    d = task.dim
    h = z * theta[:d] + (theta[d:] if task.has_bias else 0.0)
    return h @ task.embedding.T


@pytest.fixture(scope="module")
def tokens():
    return training_tokens("ar1", n_series=12, n_values=10, digits=DIGITS, seed=0)


@pytest.fixture(scope="module")
def task(model, tokens):
    return head_task(model, tokens)


def test_training_tokens_shape_and_seed():
    a = training_tokens("ar1", 5, 10, DIGITS, seed=3)
    assert a.shape == (5, 1 + 10 * (DIGITS + 1))
    assert a.min() >= 0 and a.max() <= 13
    np.testing.assert_array_equal(a, training_tokens("ar1", 5, 10, DIGITS, seed=3))
    assert not np.array_equal(a, training_tokens("ar1", 5, 10, DIGITS, seed=4))
    with pytest.raises(ValueError, match="unknown family"):
        training_tokens("nope", 5, 10, DIGITS, seed=0)


def test_head_task_reproduces_the_model_logits_and_leaves_it_untouched(model, tokens):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    task = head_task(model, tokens)
    llama = type(model).__name__.startswith("Llama")
    assert task.norm == ("model.norm" if llama else "transformer.ln_f")
    assert task.n_params == (1 if llama else 2) * task.dim and task.has_bias is not llama
    ours = _logits(task, torch.tensor(task.theta0, dtype=torch.float32), task.features[:3])
    with torch.no_grad():
        ref = model(input_ids=torch.as_tensor(tokens[:3])).logits[:, :-1]
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-4)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    # the full-data loss at theta0 is the model's own next-token loss
    with torch.no_grad():
        own = model(input_ids=torch.as_tensor(tokens), labels=torch.as_tensor(tokens)).loss
    assert head_loss(task)[0] == pytest.approx(float(own), rel=1e-4)


def test_head_task_rejects_other_models(tokens):
    with pytest.raises(ValueError, match="LLaMA style"):
        head_task(torch.nn.Linear(3, 3), tokens)
    with pytest.raises(ValueError, match="shape"):
        head_task(tiny_gpt2(14), np.zeros(5, dtype=int))


def test_train_head_shapes_seed_and_start(task):
    coords = [0, task.n_params - 1]
    r = train_head(task, coords, 20, 0.5, n_runs=3, seed=1, checkpoints=[0, 20])
    assert r.coordinates.shape == (3, 21, 2) and r.loss.shape == (3, 21)
    assert r.theta.shape == (3, 2, task.n_params)
    np.testing.assert_allclose(
        r.coordinates[:, 0], task.theta0[coords][None].repeat(3, 0), atol=1e-6
    )
    np.testing.assert_allclose(r.theta[:, 1][:, coords], r.coordinates[:, -1])
    again = train_head(task, coords, 20, 0.5, n_runs=3, seed=1)
    np.testing.assert_array_equal(r.coordinates, again.coordinates)
    # runs draw their own batches: they differ from each other
    assert np.ptp(r.coordinates[:, -1, 0]) > 0


def test_batched_runs_equal_single_runs(task):
    # one run of the batch is plain SGD with its own batches: check one step by hand
    coords = list(range(task.n_params))
    r = train_head(task, coords, 1, 0.3, batch_size=2, n_runs=2, seed=5)
    gen = torch.Generator().manual_seed(5)
    idx = torch.randint(0, task.features.shape[0], (2, 2), generator=gen)
    for i in range(2):
        theta = torch.tensor(task.theta0, dtype=torch.float32, requires_grad=True)
        z = task.features[idx[i]]
        logits = _logits(task, theta, z)
        loss = torch.nn.functional.cross_entropy(
            logits.flatten(0, 1), task.targets[idx[i]].flatten()
        )
        loss.backward()
        expected = (theta - 0.3 * theta.grad).detach().numpy()
        np.testing.assert_allclose(r.coordinates[i, 1], expected, atol=1e-5)
        assert r.loss[i, 0] == pytest.approx(float(loss.detach()), rel=1e-5)


def test_sgd_decreases_the_full_loss(task):
    coords = steepest_coordinates(task, 2)
    r = train_head(task, coords, 200, 0.5, batch_size=4, seed=0, checkpoints=[0, 200])
    start, end = head_loss(task, r.theta[0])
    assert end < start


def test_steepest_coordinates_are_the_largest_gradients(task):
    c = steepest_coordinates(task, 3)
    assert c.shape == (3,) and len(set(c.tolist())) == 3
    theta = torch.tensor(task.theta0, dtype=torch.float32, requires_grad=True)
    logits = _logits(task, theta, task.features)
    torch.nn.functional.cross_entropy(logits.flatten(0, 1), task.targets.flatten()).backward()
    grad = theta.grad.abs().numpy()
    assert grad[c].min() >= np.sort(grad)[-3] - 1e-7


def test_train_head_rejects_bad_input(task):
    with pytest.raises(ValueError, match="coords"):
        train_head(task, [task.n_params], 5, 0.1)
    with pytest.raises(ValueError, match="step_size"):
        train_head(task, [0], 5, -1.0)
    with pytest.raises(ValueError, match="steps"):
        train_head(task, [0], 0, 0.1)
    with pytest.raises(ValueError, match="checkpoints"):
        train_head(task, [0], 5, 0.1, checkpoints=[6])
    with pytest.raises(ValueError, match="theta"):
        train_head(task, [0], 5, 0.1, theta=np.zeros(3))
    with pytest.raises(ValueError, match="threads"):
        train_head(task, [0], 5, 0.1, threads=0)


def test_train_head_restores_torch_threads(task):
    before = torch.get_num_threads()
    train_head(task, [0], 3, 0.1, threads=1)
    assert torch.get_num_threads() == before


def test_names_and_initial_theta(task):
    names = task.names([0, task.n_params - 1])
    assert names[0] == "gain[0]"
    assert names[1] == (f"bias[{task.dim - 1}]" if task.has_bias else f"gain[{task.dim - 1}]")
    init = task.initial_theta()
    assert init.shape == task.theta0.shape
    assert np.all(init[: task.dim] == 1) and np.all(init[task.dim :] == 0)
