"""Evaluation of in-context kernels: model laws, classical rows, the evaluation loop."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sgdllm.kernel import count_kernel, cv_bandwidth, rule_bandwidth
from sgdllm.lm.evaluate import (
    ESTIMATORS,
    estimator_rows,
    evaluate,
    main,
    markdown_table,
    model_laws_fn,
    targets,
)
from sgdllm.lm.pretrain import DigitLlama, ModelSpec, save_pretrained
from sgdllm.lm.processes import make_process, serialize_process
from sgdllm.lm.tokenizer import encode_states


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = DigitLlama(ModelSpec(n_embd=24, n_layer=2, n_head=2, n_positions=128))
    with torch.no_grad():  # sharpen the random model so that its laws are far from uniform
        model.embed_tokens.weight.mul_(20.0)
    out = tmp_path_factory.mktemp("tiny")
    save_pretrained(model, out)
    return out


def _brute_force_laws(model_dir: Path, states: np.ndarray, digits: int) -> np.ndarray:
    """Score every number at every step through transformers' LlamaForCausalLM, no cache."""
    from transformers import AutoModelForCausalLM

    lm = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    k = 10**digits
    cands = np.array(
        [[(v // 10 ** (digits - 1 - j)) % 10 for j in range(digits)] for v in range(k)]
    )
    out = np.empty((len(states), k))
    for t in range(len(states)):
        prefix = encode_states(states[: t + 1], digits)
        ids = torch.from_numpy(np.hstack([np.tile(prefix, (k, 1)), cands]))
        with torch.no_grad():
            logp = torch.log_softmax(lm(ids).logits[:, :, :10].double(), -1).numpy()
        p0 = len(prefix) - 1
        out[t] = np.exp(sum(logp[np.arange(k), p0 + j, cands[:, j]] for j in range(digits)))
    return out


@pytest.mark.parametrize("digits", [2, 3])
def test_model_laws_equal_brute_force_scoring(tiny_model: Path, digits: int) -> None:
    """The evaluation reads the model's exact law over all states (every branch refined)."""
    rng = np.random.default_rng(digits)
    states = rng.integers(150 if digits == 3 else 15, 850 if digits == 3 else 85, 4)
    laws = model_laws_fn(tiny_model)(states, digits)
    assert laws.shape == (4, 10**digits)
    np.testing.assert_allclose(laws.sum(axis=1), 1.0, atol=1e-9)
    assert laws.max() > 5.0 / 10**digits  # not uniform
    rows = [0, 3] if digits == 3 else range(4)
    ref = _brute_force_laws(tiny_model, states, digits)
    np.testing.assert_allclose(laws[list(rows)], ref[list(rows)], atol=1e-5)


@pytest.mark.parametrize("digits", [2, 3])
def test_estimator_rows_equal_count_kernel(digits: int) -> None:
    rng = np.random.default_rng(0)
    _, states, _ = serialize_process(make_process("langevin", rng), 60, digits, rng)
    steps = [30, 45, 59]
    rows = estimator_rows(states, digits, steps)
    hcv = cv_bandwidth(states[:31], digits)
    for i, t in enumerate(steps):
        ctx, cur = states[: t + 1], states[t]
        lap = count_kernel(ctx, digits, "laplace").matrix[cur]
        rule = count_kernel(ctx, digits, "gaussian", bandwidth=rule_bandwidth(ctx)).matrix[cur]
        cv = count_kernel(ctx, digits, "gaussian", bandwidth=hcv).matrix[cur]
        np.testing.assert_allclose(rows["laplace"][i], lap, atol=1e-12)
        np.testing.assert_allclose(rows["rule"][i], rule, atol=1e-10)
        np.testing.assert_allclose(rows["cv"][i], cv, atol=1e-10)


def _oracle_stub(states: np.ndarray, digits: int) -> np.ndarray:
    """A stub 'model': uniform laws (the loop must score it like any estimator)."""
    return np.full((len(states), 10**digits), 1.0 / 10**digits)


def test_evaluation_loop_with_a_stub(tmp_path: Path) -> None:
    report = evaluate(
        _oracle_stub,
        families=("ar1", "student_t_ar"),
        digits=(2,),
        contexts={2: (10, 30)},
        n_series=2,
        seed=1,
    )
    res = report["results"]["2"]
    assert set(res) == {"ar1", "student_t_ar"} and report["held_out"] == ["student_t_ar"]
    for fam in res.values():
        assert set(fam) == {"10", "30"}
        for n in fam.values():
            assert set(n) == set(ESTIMATORS)
            for e in ESTIMATORS:
                assert np.isfinite(n[e]["bd"]) and 0 <= n[e]["tv"] <= 1
            # the uniform stub loses to Gaussian smoothing on AR-like series
            assert n["model"]["bd"] > n["cv"]["bd"]
    assert targets(report)["beats_laplace"] is False
    table = markdown_table(report)
    assert "| student_t_ar* | 30 |" in table and "| ar1 | 10 |" in table
    json.dumps(report)  # JSON-ready
    again = evaluate(
        _oracle_stub, families=("ar1",), digits=(2,), contexts={2: (10, 30)}, n_series=2, seed=1
    )
    assert again["results"]["2"]["ar1"] == res["ar1"]  # fixed seeds


def test_cli_quick_evaluation(tiny_model: Path, tmp_path: Path, monkeypatch) -> None:
    import sgdllm.lm.evaluate as ev

    # the tiny model has 128 positions: shrink the quick protocol to fit
    real = ev.evaluate

    def small(fn, **kw):
        kw.update(contexts={2: (10, 30), 3: (10,)}, n_series=2)
        return real(fn, **kw)

    monkeypatch.setattr(ev, "evaluate", small)
    out = tmp_path / "evaluation.json"
    assert main(model=tiny_model, quick=True, out=out, card=tmp_path / "t.md") == 0
    report = json.loads(out.read_text())
    assert set(report["results"]) == {"2", "3"} and "targets" in report
    assert (tmp_path / "t.md").read_text().startswith("**2 digits**")


def test_shipped_card_is_generated_from_its_recorded_evaluation() -> None:
    """The shipped README.md is exactly what ``evaluate-model --card`` writes from the
    recorded ``evaluation.json`` and ``training.json``: no number in it is typed by hand."""
    from sgdllm.lm.evaluate import default_model_dir, model_card, status_line, targets

    d = default_model_dir()
    report = json.loads((d / "evaluation.json").read_text())
    assert report["targets"] == targets(report)
    card = (d / "README.md").read_text()
    assert card == model_card(d, report)
    assert status_line(report) in card


def test_status_line_counts_the_cells(tmp_path: Path) -> None:
    from sgdllm.lm.evaluate import ESTIMATORS, status_line

    def cell(model: float, laplace: float, rule: float, cv: float) -> dict:
        vals = dict(zip(ESTIMATORS, (model, laplace, rule, cv), strict=True))
        return {e: {"bd": v, "tv": v, "bd_se": 0.0, "tv_se": 0.0} for e, v in vals.items()}

    report = {
        "n_series": 2,
        "results": {
            "2": {
                "ar1": {"10": cell(0.2, 0.5, 0.3, 0.1), "100": cell(0.1, 0.5, 0.2, 0.09)},
                "langevin": {"10": cell(0.6, 0.5, 0.3, 0.1), "100": cell(0.3, 0.5, 0.2, 0.1)},
            }
        },
    }
    line = " ".join(row.removeprefix("> ") for row in status_line(report).splitlines())
    assert "meets 1 of the 4 targets" in line  # only "improves with context" holds
    assert "Laplace counts in 3 of 4 cells" in line
    assert "in 1 of 2 cells from 100 values on" in line
    assert "longest context in 1 of 2 (family x digits), better than it in 0." in line


def test_learning_curve_reads_a_report() -> None:
    from sgdllm.lm.evaluate import learning_curve

    report = evaluate(
        _oracle_stub, families=("ar1",), digits=(2,), contexts={2: (30, 10)}, n_series=2, seed=1
    )
    ns, curves = learning_curve(report, 2, "ar1")
    assert ns.tolist() == [10, 30] and set(curves) == set(ESTIMATORS)
    mean, se = curves["cv"]
    assert mean[1] == report["results"]["2"]["ar1"]["30"]["cv"]["bd"]
    assert se[0] == report["results"]["2"]["ar1"]["10"]["cv"]["bd_se"]
    with pytest.raises(KeyError, match="no 'langevin' at 2 digits"):
        learning_curve(report, 2, "langevin")


def test_last_digit_law_is_the_renormalized_block() -> None:
    from sgdllm.lm.evaluate import last_digit_law

    law = np.zeros(100)
    law[47], law[48], law[52] = 0.3, 0.1, 0.6
    expected = np.eye(10)[7] * 0.75 + np.eye(10)[8] * 0.25
    np.testing.assert_allclose(last_digit_law(law, 4, 2), expected)
    np.testing.assert_allclose(last_digit_law(law, 5, 2), np.eye(10)[2])
    three = np.full(1000, 1e-3)
    np.testing.assert_allclose(last_digit_law(three, 52, 3), np.full(10, 0.1))
    with pytest.raises(ValueError, match="no mass"):
        last_digit_law(law, 9, 2)
    with pytest.raises(ValueError, match="1-digit number"):
        last_digit_law(law, 12, 2)
    with pytest.raises(ValueError, match="1000 entries"):
        last_digit_law(law, 4, 3)


def test_a_family_scores_the_same_series_in_any_subset() -> None:
    from sgdllm.lm.evaluate import EVAL_FAMILIES, family_id

    assert [family_id(f) for f in EVAL_FAMILIES] == list(range(len(EVAL_FAMILIES)))
    assert family_id("threshold_ar") >= len(EVAL_FAMILIES)
    with pytest.raises(ValueError, match="unknown family"):
        family_id("sgd")
    kw = {"digits": (2,), "contexts": {2: (10,)}, "n_series": 2, "seed": 3}
    alone = evaluate(_oracle_stub, families=("student_t_ar",), **kw)
    after = evaluate(_oracle_stub, families=("ar1", "student_t_ar"), **kw)
    assert alone["results"]["2"]["student_t_ar"] == after["results"]["2"]["student_t_ar"]
