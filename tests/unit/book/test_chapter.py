"""One set-up per chapter (sgdllm.book.chapter), the recording helpers chapters share
(Recorder.settings, each, by, words) and named figure functions (plotting.style.figure_function)."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from sgdllm.book.chapter import COUNTS, setup_chapter
from sgdllm.book.records import Recorder
from sgdllm.plotting.style import FIGURE_FUNCTION_ATTR, PALETTE, figure_function


def test_setup_without_models_gives_a_recorder_and_no_estimators(tmp_path):
    ch = setup_chapter("a_chapter", tmp_path / "records")
    assert isinstance(ch.record, Recorder)
    assert ch.record.chapter == "a_chapter"
    assert (ch.models, ch.lms, ch.sources, ch.titles, ch.colors) == ([], {}, [], {}, {})


def test_setup_loads_the_ladder_and_names_and_colours_every_estimator(tmp_path):
    ch = setup_chapter("a_chapter", tmp_path / "records", ["embedded"])
    assert list(ch.lms) == ["embedded"] and ch.models == ["embedded"]
    assert ch.sources == ["embedded", COUNTS]
    assert ch.titles[COUNTS] == "counts" and ch.titles["embedded"].startswith("embedded")
    assert ch.colors == {"embedded": PALETTE[0], COUNTS: PALETTE[1]}
    assert ch.pretrained == []


def test_setup_checks_model_ids_before_writing_or_loading_anything(tmp_path):
    with pytest.raises(TypeError, match="list of model ids"):
        setup_chapter("a_chapter", tmp_path / "records", "embedded")
    too_many = ["embedded"] + [f"model_{i}" for i in range(len(PALETTE) - 1)]
    with pytest.raises(ValueError, match="colours"):
        setup_chapter("a_chapter", tmp_path / "records", too_many)
    assert not (tmp_path / "records").exists()


def test_settings_each_by_and_words_record_what_chapters_used_to_retype(tmp_path):
    rec = Recorder("ch", tmp_path / "records", glue=False)
    rec.settings(digits_used=3, n_states=1000)
    rec.each("alpha", [0.5, -0.25], fmt=".2f")
    rec.by("w1", {"embedded": 0.1, "smollm2-135m": 0.25, "counts": 0.05}, legacy="w1_{key}")
    numbers = json.loads(rec.path.read_text())
    assert numbers["digits_used"] == 3 and numbers["n_states"] == 1000
    assert numbers["alpha"] == [0.5, -0.25] and numbers["alpha_text"] == "0.50, -0.25"
    assert numbers["w1@smollm2-135m"] == 0.25 and numbers["w1@counts"] == 0.05
    assert numbers["w1_lm"] == 0.1 and numbers["w1_counts"] == 0.05
    assert "w1_smollm2-135m" not in numbers
    titles = {"smollm2-135m": "SmolLM2-135M", "embedded": "embedded"}
    assert rec.words("w1", ["smollm2-135m", "embedded"], titles, ".0%") == (
        "SmolLM2-135M 25%, embedded 10%"
    )
    assert rec.words("w1", [], titles, ".0%") == "none"


def test_a_figure_function_names_itself_in_the_figure_record(tmp_path):
    @figure_function
    def plot_line(values):
        fig, ax = plt.subplots()
        ax.plot(values)
        return fig

    fig = plot_line([1.0, 2.0])
    assert getattr(fig, FIGURE_FUNCTION_ATTR).endswith("plot_line")
    assert plot_line.__name__ == "plot_line"
    rec = Recorder("ch", tmp_path / "records", glue=False)
    rec.figure(fig, "line", caption="A line.", show=False)
    meta = json.loads((tmp_path / "figures" / "ch" / "line.json").read_text())
    assert meta["function"] == getattr(fig, FIGURE_FUNCTION_ATTR)
    fig2, ax = plt.subplots()
    ax.plot([0, 1])
    rec.figure(fig2, "bare", caption="Drawn in the notebook.", show=False)
    assert json.loads((tmp_path / "figures" / "ch" / "bare.json").read_text())["function"] is None


def test_a_figure_function_must_return_a_figure():
    @figure_function
    def not_a_figure():
        return 3

    with pytest.raises(TypeError, match="must return a matplotlib Figure"):
        not_a_figure()
