"""Figure functions of the chapter *The embedded language model*, on small inputs."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from sgdllm.plotting import default_model as figs
from sgdllm.plotting.style import FIGURE_FUNCTION_ATTR, PALETTE

rng = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _named(fig, name: str) -> None:
    assert getattr(fig, FIGURE_FUNCTION_ATTR) == f"sgdllm.plotting.default_model.{name}"


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_training_curves_draw_the_training_loss_and_two_validations_in_millions():
    curves = {
        "tokens": np.array([1e6, 2e6, 3e6]),
        "loss_ema": np.array([1.5, 1.2, 1.1]),
        "val_tokens": np.array([1.5e6, 3e6]),
        "val_loss_2d": np.array([1.3, 1.0]),
        "val_loss_3d": np.array([1.4, 1.1]),
    }
    fig = figs.plot_training_curves(curves)
    _named(fig, "plot_training_curves")
    (ax,) = fig.get_axes()
    assert _legend(ax) == [
        "training loss (moving average)",
        "validation, 2 digits",
        "validation, 3 digits",
    ]
    assert ax.get_lines()[0].get_xdata().tolist() == [1.0, 2.0, 3.0]
    assert ax.get_ylim() == (0.9, 1.6)


def test_digit_arithmetic_crops_the_law_around_the_current_state_and_draws_each_ramp_step():
    law, truth = rng.dirichlet(np.ones(100)), rng.dirichlet(np.ones(100))
    ramp = {"35 → 36": rng.dirichlet(np.ones(10)), "49 → 50": rng.dirichlet(np.ones(10))}
    fig = figs.plot_digit_arithmetic(law, truth, current=5, n_read=300, last_digit_laws=ramp)
    _named(fig, "plot_digit_arithmetic")
    left, right = fig.get_axes()
    assert len(left.patches) == 18  # states 0..17: within 12 of state 5, clipped at 0
    assert left.get_title() == "AR(1), law of the next value after 300 values"
    assert _legend(right) == list(ramp)
    assert right.get_legend().get_title().get_text() == "current → next"


def test_in_context_evaluation_one_panel_per_family_and_one_curve_per_estimator():
    contexts = [10, 30, 100]
    families = ["ar1", "student_t_ar", "langevin", "noisy_map"]

    def curves():
        return {f: (rng.random(3) + 0.1, 0.01 * rng.random(3)) for f in families}

    models = {"embedded (0.8M)": curves(), "SmolLM2-135M": curves()}
    classical = {"add-one counts": curves(), "smoothed, cross-validated": curves()}
    fig = figs.plot_in_context_evaluation(contexts, models, classical, held_out={"student_t_ar"})
    _named(fig, "plot_in_context_evaluation")
    axes = fig.get_axes()
    assert len(axes) == 6  # 2 rows of 3, the last two empty
    assert [ax.get_title() for ax in axes[:4]] == [
        "ar1",
        "student_t_ar (held out)",
        "langevin",
        "noisy_map",
    ]
    assert not axes[4].axison and not axes[5].axison
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [*models, *classical]
    colours = [c.lines[0].get_color() for c in axes[0].containers]
    assert colours == [PALETTE[0], PALETTE[1], PALETTE[3], PALETTE[4]]
    assert [t.get_text() for t in axes[3].get_xticklabels()] == ["10", "30", "100"]
