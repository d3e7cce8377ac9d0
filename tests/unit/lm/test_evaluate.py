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


# ----------------------------------------------------------------------------- chapter summaries


def test_probe_scores_read_the_last_digit_and_the_far_mass() -> None:
    from sgdllm.lm.evaluate import probe_scores

    laws, truth = np.zeros((2, 100)), np.zeros((2, 100))
    laws[0, 40:50] = 0.1  # blocks of ten states: its last digit says nothing
    truth[0, 47] = 1.0
    laws[1, 60] = truth[1, 60] = 1.0
    scores = probe_scores(laws, truth, np.array([47, 60]), 2)
    assert scores["bd"] == pytest.approx(np.log(10) / 4)  # (-log sqrt(0.1) + 0) / 2
    assert scores["last_digit_tv_model"] == pytest.approx(0.45)  # (0 + 0.9) / 2
    assert scores["last_digit_tv_truth"] == pytest.approx(0.9)
    assert scores["far_mass_model"] == pytest.approx(0.1)  # states 40 and 41, row 0
    assert scores["far_mass_truth"] == 0.0
    with pytest.raises(ValueError, match="one current state per row"):
        probe_scores(laws, truth, np.array([47]), 2)


def test_ar1_probe_reads_the_cards_series() -> None:
    from sgdllm.lm.evaluate import ar1_probe, probe_scores

    read = []

    def uniform(states: np.ndarray, digits: int) -> np.ndarray:
        read.append(states)
        return _oracle_stub(states, digits)

    probe = ar1_probe(uniform, [2024, 0, 2, 1], 40, 2, 10)
    rng = np.random.default_rng([2024, 0, 2, 1])  # series 1 of the card's ar1 family
    proc = make_process("ar1", rng)
    _, states, scaler = serialize_process(proc, 41, 2, rng)
    assert probe.phi == proc.phi and np.array_equal(probe.states, states)
    assert len(read) == 1 and np.array_equal(read[0], states[:-1])
    np.testing.assert_array_equal(probe.truth, proc.kernel(scaler)[states[:-1]])
    assert probe.steps.tolist() == list(range(30, 40))
    assert probe.scores == probe_scores(probe.laws[30:], probe.truth[30:], states[30:40], 2)
    assert probe.scores["last_digit_tv_model"] == pytest.approx(0.0, abs=1e-12)  # flat law
    with pytest.raises(ValueError, match="late <= n_values"):
        ar1_probe(uniform, 0, 40, 2, 41)


def test_ramp_probe_reads_the_last_digit_across_a_carry() -> None:
    from sgdllm.lm.evaluate import ramp_probe

    def stay_or_move(states: np.ndarray, digits: int) -> np.ndarray:
        """Half the mass on the current value, half on the next one."""
        laws = np.zeros((len(states), 10**digits))
        laws[np.arange(len(states)), states] += 0.5
        laws[np.arange(len(states)), states + 1] += 0.5
        return laws

    ramp = np.arange(15, 86)
    probe = ramp_probe(stay_or_move, ramp, [20, 34], 2)
    assert list(probe.reads) == ["35 → 36", "49 → 50"]
    np.testing.assert_allclose(probe.reads["35 → 36"], np.eye(10)[5] / 2 + np.eye(10)[6] / 2)
    # across the carry, given the first digit 5, all the mass is on 0: the right digit
    np.testing.assert_allclose(probe.reads["49 → 50"], np.eye(10)[0])
    assert probe.right == [0.5, 1.0] and probe.near == [1.0, 1.0] and probe.modes == [5, 0]
    assert probe.laws.shape == (71, 100)
    with pytest.raises(ValueError, match=r"steps must lie in 0\.\.69"):
        ramp_probe(stay_or_move, ramp, [70], 2)


class _TinyCausalLM(torch.nn.Module):
    """A stand-in with the attributes model_facts reads: parameters, config and class name."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(2, 3)  # 9 parameters
        self.config = type(
            "Config", (), {"num_hidden_layers": 2, "hidden_size": 8, "num_attention_heads": 4}
        )()


def test_model_facts_read_the_recipe_and_the_training_log(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from sgdllm.lm.evaluate import model_facts

    lm = SimpleNamespace(model=_TinyCausalLM(), max_positions=128)
    bare = model_facts(lm, tmp_path)
    assert bare.numbers == {"trained_here": 0, "n_parameters": 9, "architecture": "_TinyCausalLM"}
    assert bare.curves is None and bare.markdown.startswith(f"`{tmp_path}` was not trained")
    info = {
        "recipe": {"p_three_digits": 0.25},
        "wall_s": 5400.0,
        "tokens": 81_400_000,
        "steps": 12_345,
        "threads": 2,
        "train_families": {"ar1": 0.5, "langevin": 0.5},
    }
    (tmp_path / "training.json").write_text(json.dumps(info))
    log = [
        {"tokens": 1000, "loss_ema": 2.0},
        {"tokens": 1000, "val_loss_2d": 1.5, "val_loss_3d": 1.7},
        {"tokens": 2000, "val_loss_2d": 1.1, "val_loss_3d": 1.2},
    ]
    (tmp_path / "train_log.jsonl").write_text("\n".join(json.dumps(r) for r in log))
    facts = model_facts(lm, tmp_path)
    assert facts.numbers == {
        "trained_here": 1,
        "n_parameters": 9,
        "architecture": "_TinyCausalLM",
        "train_minutes": 90.0,
        "train_tokens_m": 81.4,
        "train_steps": 12_345,
        "val_loss_2d_first": 1.5,
        "val_loss_2d_last": 1.1,
        "val_loss_3d_last": 1.2,
    }
    assert facts.curves["val_loss_2d"].tolist() == [1.5, 1.1]
    assert "| layers, width, heads | 2, 8, 4 |" in facts.markdown
    assert "| training | 12,345 steps, 81.4M tokens, 90 minutes on 2 CPU threads |" in (
        facts.markdown
    )
    assert "| data | `ar1` 50%, `langevin` 50%; 75% of batches at 2 digits |" in facts.markdown


def _report(bd: dict[str, dict[int, dict[str, float]]], n_series: int = 2, seed: int = 1) -> dict:
    """A report of evaluate's shape at 2 digits from mean distances (standard errors 0.01)."""
    results = {
        fam: {str(n): {e: {"bd": v, "bd_se": 0.01} for e, v in row.items()} for n, row in c.items()}
        for fam, c in bd.items()
    }
    return {"families": list(bd), "n_series": n_series, "seed": seed, "results": {"2": results}}


def _row(model: float, laplace: float, rule: float, cv: float) -> dict[str, float]:
    return {"model": model, "laplace": laplace, "rule": rule, "cv": cv}


REPORT = {
    "ar1": {10: _row(0.3, 0.9, 0.4, 0.5), 100: _row(0.05, 0.6, 0.2, 0.1)},
    "skew_ar": {10: _row(0.5, 0.9, 0.4, 0.45), 100: _row(0.2, 0.7, 0.25, 0.1)},
}


def test_card_agreement_compares_the_same_series(tmp_path: Path) -> None:
    from sgdllm.lm.evaluate import card_agreement

    report, card = _report(REPORT), tmp_path / "evaluation.json"
    assert card_agreement(report, card) == {"card_comparable": 0}  # no card
    card.write_text(json.dumps(report))
    assert card_agreement(report, card) == {"card_comparable": 1, "card_max_abs_diff": 0.0}
    moved = _report({**REPORT, "ar1": {**REPORT["ar1"], 10: _row(0.3, 0.9, 0.4, 0.52)}})
    card.write_text(json.dumps(moved))
    agreement = card_agreement(report, card)
    assert agreement["card_max_abs_diff"] == pytest.approx(0.02)
    card.write_text(json.dumps(_report(REPORT, seed=2)))
    assert card_agreement(report, card) == {"card_comparable": 0}  # other series


def test_longest_context_and_standings_read_the_report() -> None:
    from sgdllm.lm.evaluate import longest_context, standings_text

    summary = longest_context(_report(REPORT))
    assert summary == {
        "families_used": ["ar1", "skew_ar"],
        "bd_ar1": [0.3, 0.05],
        "bd_cv_ar1": [0.5, 0.1],
        "bd_skew_ar": [0.5, 0.2],
        "bd_cv_skew_ar": [0.45, 0.1],
        "model_over_cv_longest": [0.5, 2.0],
        "model_over_rule_longest": [0.25, 0.8],
        "contexts": [10, 100],
        "beats_cv_longest": ["ar1"],
        "n_beats_cv_longest": 1,
        "n_families": 2,
    }
    assert standings_text(_report(REPORT)) == (
        "At the longest context, 100 values:\n\n"
        "- `ar1`: 0.050 against 0.100 for cross-validated smoothing (better than it, ratio "
        "0.50) and 0.200 for the rule of thumb\n"
        "- `skew_ar`: 0.200 against 0.100 for cross-validated smoothing (behind it, ratio "
        "2.00) and 0.250 for the rule of thumb"
    )
