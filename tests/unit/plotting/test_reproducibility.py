"""Figure functions of the *Reproducibility appendix*, on small inputs."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from sgdllm.plotting import reproducibility as figs
from sgdllm.plotting.style import FIGURE_FUNCTION_ATTR


def test_wall_time_per_chapter_one_bar_per_chapter_the_first_on_top():
    fig = figs.plot_wall_time_per_chapter(["a_chapter", "b_chapter", "c_chapter"], [3.0, 1.5, 7])
    assert getattr(fig, FIGURE_FUNCTION_ATTR) == (
        "sgdllm.plotting.reproducibility.plot_wall_time_per_chapter"
    )
    (ax,) = fig.get_axes()
    assert [p.get_width() for p in ax.patches] == [3.0, 1.5, 7]
    assert ax.yaxis_inverted()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a_chapter", "b_chapter", "c_chapter"]
    assert ax.get_xlabel() == "wall time (s)"
    plt.close(fig)
