"""Claims of the chapter *The embedded language model*, on its CI-profile run.

The chapter describes the embedded default model, probes its digit arithmetic, and recomputes
part of its model card's evaluation (two families at 2 digits under the CI profile, the card's
20 series and seeds): the recomputed cells must equal the card's, and the model's standing
against the classical estimators is pinned with tolerances. The model ladder (CI: the embedded
model and SmolLM2-135M on the first 4 series of each family) is checked for consistency and for
what it shows: SmolLM2 beats add-one counts everywhere but reads these series less well than the
embedded specialist.
"""

from __future__ import annotations

import json

import pytest

from sgdllm.lm.evaluate import default_model_dir

CHAPTER = "default_model"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def n(ci_chapter):
    return ci_chapter(CHAPTER)


def test_the_embedded_model_is_a_llama_trained_by_the_package(n):
    info = json.loads((default_model_dir() / "training.json").read_text())
    assert n["architecture"] == "LlamaForCausalLM" and n["trained_here"] == 1
    assert n["n_parameters"] == info["n_params"]
    assert n["train_steps"] == info["steps"] and info["status"] == "done"
    # the budget: at most 90 minutes on 2 cores, weights at most 25 MB
    assert n["train_minutes"] <= 90
    assert (default_model_dir() / "model.safetensors").stat().st_size <= 25e6
    # it learned: validation loss well below its first value
    assert n["val_loss_2d_last"] < n["val_loss_2d_first"] - 0.1


def test_recomputed_evaluation_equals_the_model_card(n):
    """Same series, same code: the card's numbers are reproduced (float32 models on another
    machine may differ in the last bits; 1e-6 in a Bhattacharyya distance is far below any
    difference the card reads)."""
    assert n["card_comparable"] == 1
    assert n["card_max_abs_diff"] < 1e-6
    assert n["beats_laplace"] == 1


def test_ar1_probe_laws_use_their_last_digit(n):
    """On a slow AR(1) series the model's laws carry information in their last digit (the
    earlier GPT-2 default's did not: blocks of ten states), and little mass far away."""
    assert n["ar_phi"] > 0.95
    assert n["ar_last_digit_tv_model"] > 0.5 * n["ar_last_digit_tv_truth"]
    assert n["ar_far_mass_model"] < 0.1


def test_ramp_probe_shifts_the_last_digit_without_extrapolating(n):
    """A deterministic ramp (outside the training data), steps 35 -> 36, 49 -> 50, 65 -> 66:
    the law of the last digit is a bump around the right digit (observed 0.54-0.75 of the mass
    within one of it; a flat law gives 0.30). Without a carry the right digit gets only ~0.2
    (the bump straddles the current and the next digit: the drift is not extrapolated); across
    the carry 49 -> 50, given the first digit 5, the mass piles on 0 (observed 0.50)."""
    no_carry = [n["ramp_last_digit_right"][i] for i in (0, 2)]
    assert all(0.12 < p < 0.4 for p in no_carry)
    assert n["ramp_last_digit_right"][1] > 0.3
    assert min(n["ramp_mass_near"]) > 0.45
    assert n["ramp_mode_text"].split(", ")[1] == "0"


def test_standing_against_cross_validated_smoothing(n):
    """CI evaluates ar1 and the held-out student_t_ar: at 300 values the model beats CV
    smoothing on both (ratios ~0.58 and ~0.85), as the card says; on the shorter contexts it
    beats CV smoothing on both too."""
    assert n["families_used"] == ["ar1", "student_t_ar"]
    assert n["beats_cv_longest"] == ["ar1", "student_t_ar"] and n["n_beats_cv_longest"] == 2
    ratio = dict(zip(n["families_used"], n["model_over_cv_longest"], strict=True))
    assert ratio["ar1"] < 0.75 and ratio["student_t_ar"] < 1.0
    for fam in n["families_used"]:
        model, cv = n[f"bd_{fam}"], n[f"bd_cv_{fam}"]
        assert all(m < c for m, c in zip(model, cv, strict=True)), fam


LADDER_FAMILIES = ("ar1", "student_t_ar")


def test_the_ladder_reads_the_same_series_with_every_model(n):
    """The CI profile runs the embedded model and SmolLM2-135M on the first 4 series of each
    family, contexts 10, 30 and 100; every model's curve and the classical estimators' are
    recorded on them, and the derived ratios are those of the recorded curves."""
    assert n["ladder_models"] == ["embedded (0.8M)", "SmolLM2-135M"]
    assert n["ladder_n_series_used"] == 4 and n["ladder_contexts_used"] == [10, 30, 100]
    assert n["ladder_cells"] == len(LADDER_FAMILIES) * 3
    for fam in LADDER_FAMILIES:
        for key in ("embedded", "smollm2-135m", "laplace", "gaussian_rule", "cv"):
            curve = n[f"ladder_bd_{fam}@{key}"]
            assert len(curve) == 3 and all(0 < v < 2 for v in curve), (fam, key)
    for m in ("embedded", "smollm2-135m"):
        ratio = [n[f"ladder_bd_{f}@{m}"][-1] / n[f"ladder_bd_{f}@cv"][-1] for f in LADDER_FAMILIES]
        assert n[f"ladder_over_cv_longest@{m}"] == pytest.approx(ratio, rel=1e-9)
        assert n[f"ladder_n_beats_cv_longest@{m}"] == sum(r < 1 for r in ratio)


def test_smollm2_beats_add_one_counts_everywhere(n):
    """SmolLM2-135M, never trained on such series, still spreads its law over neighbouring
    states, which add-one counts cannot: it is closer to the truth in every cell (CI: 0.09-0.20
    against 0.43-0.56), as the embedded model is."""
    for m in ("embedded", "smollm2-135m"):
        assert n[f"ladder_n_beats_laplace@{m}"] == n["ladder_cells"], m


def test_smollm2_reads_these_series_less_well_than_the_embedded_specialist(n):
    """Honest shortfall (chapter text): at 100 values SmolLM2-135M is about twice as far from the
    truth as the embedded model (CI: 2.3x on ar1, 1.8x on student_t_ar, geometric mean 2.0;
    required 1.3x), behind it on both families, and behind cross-validated smoothing on ar1 by
    far (CI 3.5x; required 2x; on student_t_ar it is level with it, 1.09x, unpinned). If a
    better reading of the text-pretrained models makes this fail, the text is computed from the
    numbers but the test's docstring and the introduction's summary must be revised."""
    ratio = dict(zip(LADDER_FAMILIES, n["ladder_over_embedded_longest@smollm2-135m"], strict=True))
    assert all(r > 1.3 for r in ratio.values())
    assert n["ladder_over_embedded_gmean@smollm2-135m"] > 1.3
    assert n["ladder_n_beats_embedded_longest@smollm2-135m"] == 0
    over_cv = dict(zip(LADDER_FAMILIES, n["ladder_over_cv_longest@smollm2-135m"], strict=True))
    assert over_cv["ar1"] > 2.0
    assert (
        "SmolLM2-135M reads these series less well than the embedded specialist"
        in n["ladder_verdict"]
    )
