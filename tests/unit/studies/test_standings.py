"""Unit tests of sgdllm.studies.standings (chapters: The embedded language model, Extracting
transition probabilities): every model of the ladder against the truth, the classical
estimators and the embedded specialist."""

from __future__ import annotations

import numpy as np
import pytest

from sgdllm.calibration import fit_mixture_weight, fit_temperature, mix_laws, temper_laws
from sgdllm.metrics import bhattacharyya
from sgdllm.studies.standings import (
    CLASSICAL_TITLES,
    fit_repairs,
    histogram_statistics,
    ladder_standing,
    ladder_table,
    repair_verdict,
    spike_statistics,
)


def _report(model: dict[str, list[float]], classical: dict[str, list[float]]) -> dict:
    """A report of sgdllm.lm.evaluate.evaluate's shape: contexts 10 and 100 at 2 digits.

    ``model[family]`` and ``classical[family]`` (laplace, rule, cv at each context, flattened)
    are mean Bhattacharyya distances; standard errors are 0.01.
    """
    results = {}
    for fam, curve in model.items():
        lap, rule, cv = np.reshape(classical[fam], (3, 2))
        results[fam] = {
            str(n): {
                e: {"bd": float(v), "bd_se": 0.01}
                for e, v in {
                    "model": curve[i],
                    "laplace": lap[i],
                    "rule": rule[i],
                    "cv": cv[i],
                }.items()
            }
            for i, n in enumerate((10, 100))
        }
    return {"families": list(model), "results": {"2": results}}


CLASSICAL = {"ar1": [0.9, 0.6, 0.4, 0.2, 0.5, 0.1], "skew_ar": [0.9, 0.7, 0.4, 0.25, 0.45, 0.1]}
REPORTS = {
    "embedded": _report({"ar1": [0.3, 0.05], "skew_ar": [0.5, 0.2]}, CLASSICAL),
    "smollm2-135m": _report({"ar1": [0.4, 0.2], "skew_ar": [0.95, 0.2]}, CLASSICAL),
}


def test_ladder_standing_compares_every_model_with_the_classical_estimators():
    standing = ladder_standing(REPORTS)
    assert standing.contexts.tolist() == [10, 100] and standing.n_cells == 4
    assert standing.families == ["ar1", "skew_ar"]
    np.testing.assert_array_equal(standing.curves["cv"]["skew_ar"][0], [0.45, 0.1])
    assert standing.models["embedded"] == {
        "ladder_over_cv_longest": [0.5, 2.0],
        "ladder_n_beats_cv_longest": 1,
        "ladder_n_beats_rule_longest": 2,
        "ladder_n_beats_laplace": 4,
    }
    small = standing.models["smollm2-135m"]
    assert small["ladder_n_beats_laplace"] == 3  # 0.95 > 0.9 on skew_ar at 10 values
    assert small["ladder_over_embedded_longest"] == pytest.approx([4.0, 1.0])
    assert small["ladder_over_embedded_gmean"] == pytest.approx(2.0)  # sqrt(4 * 1)
    assert small["ladder_n_beats_embedded_longest"] == 0
    records = standing.records()
    assert records["ladder_bd_ar1@smollm2-135m"] == [0.4, 0.2]
    assert records["ladder_bd_ar1@gaussian_rule"] == [0.4, 0.2]  # rule's record suffix
    assert records["ladder_cells"] == 4 and records["ladder_n_beats_rule_longest@embedded"] == 2
    assert "ladder_over_embedded_gmean@embedded" not in records
    alone = ladder_standing({"embedded": REPORTS["embedded"]})
    assert "ladder_over_embedded_gmean" not in alone.models["embedded"]
    with pytest.raises(ValueError, match="at least one report"):
        ladder_standing({})


def test_spike_statistics_of_laws_near_a_dirac():
    laws = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]])
    truth = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    stats = spike_statistics(laws, truth, limit_state=0)
    assert stats["over_top_mass"] == pytest.approx(0.85)
    assert stats["over_top_is_limit"] == 0.5
    assert stats["over_bd"] == pytest.approx(-(np.log(0.9) + np.log(0.2)) / 4)


def test_histogram_statistics_distance_width_and_centre():
    laws = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    truth = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    stats = histogram_statistics(laws, truth)
    assert stats["under_bd"] == pytest.approx(np.log(2) / 4)  # (-log sqrt(0.5) + 0) / 2
    assert stats["under_tv"] == pytest.approx(0.25)
    assert stats["under_spread"] == pytest.approx(0.25)  # standard deviations 0.5 and 0
    assert stats["under_mean_error"] == pytest.approx(0.25)  # means 0.5 and 2 vs 1 and 2


def test_ladder_table_leaves_the_classical_estimators_spike_cells_empty():
    model = {
        "over_top_mass": 0.98,
        "over_top_is_limit": 1.0,
        "over_bd": 0.012,
        "under_bd": 0.1694,
        "under_tv": 0.3412,
        "under_spread": 4.71,
        "under_mean_error": 0.93,
    }
    counts = {"under_bd": 0.889, "under_tv": 0.807, "under_spread": 28.5, "under_mean_error": 13.5}
    table = ladder_table({"embedded (0.8M)": model, CLASSICAL_TITLES["laplace"]: counts}, 4.94)
    lines = table.splitlines()
    assert len(lines) == 5 and lines[1].count("---") == 8
    assert lines[2] == "| embedded (0.8M) | 0.98 | 100% | 0.01 | 0.169 | 0.341 | 4.7 | 0.9 |"
    assert lines[3] == "| add-one counts |  |  |  | 0.889 | 0.807 | 28.5 | 13.5 |"
    assert lines[4] == "| truth | | | | | | 4.9 | |"


def test_fit_repairs_fits_on_observed_values_and_scores_against_the_truth():
    rng = np.random.default_rng(0)
    k, n = 5, 200
    sharp = np.full((n, k), 0.01)
    sharp[:, 0] = 0.96  # too sure of state 0
    next_states = rng.integers(0, k, n)  # the series goes anywhere
    smoother = np.full((n, k), 1.0 / k)
    truth = np.full((3, k), 1.0 / k)
    r = fit_repairs(sharp, smoother, next_states, sharp[:3], smoother[:3], truth)
    assert r["temperature"] > 1 and r["mix_weight"] < 0.5  # flatten it, trust the smoother
    assert r["temperature"] == fit_temperature(sharp, next_states)
    assert r["mix_weight"] == fit_mixture_weight(sharp, smoother, next_states)
    tempered = bhattacharyya(truth, temper_laws(sharp[:3], r["temperature"])).mean()
    mixed = bhattacharyya(truth, mix_laws(sharp[:3], smoother[:3], r["mix_weight"])).mean()
    assert r["under_bd_tempered"] == pytest.approx(tempered, rel=1e-12)
    assert r["under_bd_mixed"] == pytest.approx(mixed, rel=1e-12)
    assert r["under_bd_tempered"] < bhattacharyya(truth, sharp[:3]).mean()


def test_repair_verdict_says_which_way_each_repair_moves():
    stats = {"under_bd": 0.2, "under_spread": 8.4, "under_mean_error": 2.3}
    repaired = {
        "temperature": 0.8,
        "under_bd_tempered": 0.25,
        "mix_weight": 0.4,
        "under_bd_mixed": 0.15,
    }
    assert repair_verdict("SmolLM2-135M", stats, repaired, cv_bd=0.1, truth_spread=4.9) == (
        "SmolLM2-135M: Bhattacharyya 0.200 (2.00 times cross-validated smoothing's), spread "
        "8.4 states (truth 4.9), centred 2.3 states from the true mean; at the fitted "
        "temperature 0.80 (sharper), 0.250 (higher); mixed with the smoother (weight 0.40 on "
        "the model), 0.150 (lower)."
    )
