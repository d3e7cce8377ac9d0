"""Records: numbers and figures a chapter reports, with their provenance."""

import json
import platform

import matplotlib
import numpy as np
import pytest

from sgdllm.book.records import (
    Recorder,
    chapter_table,
    figure_table,
    library_table,
    load_chapter_records,
    load_figure_records,
    model_identity,
    parameter_table,
    source_url,
    table_directive,
    table_label,
    table_markdown,
    write_json_atomic,
)
from sgdllm.provenance import library_versions, provenance

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _fig():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    return fig


def test_numbers_are_written_and_nan_is_refused(tmp_path):
    record = Recorder("ch", tmp_path / "records", glue=False)
    record("a", np.float64(0.5))
    record("b", np.array([1, 2]))
    assert json.loads((tmp_path / "records" / "ch.numbers.json").read_text()) == {
        "a": 0.5,
        "b": [1, 2],
    }
    with pytest.raises(ValueError, match="'c' is nan"):
        record("c", float("nan"))
    with pytest.raises(ValueError, match="not JSON compliant"):
        write_json_atomic(tmp_path / "x.json", {"x": float("inf")})
    assert not (tmp_path / "x.json").exists()


def test_figure_is_saved_with_its_record(tmp_path):
    record = Recorder("ch", tmp_path / "records", glue=False, root=tmp_path)
    assert record.figure(_fig(), "my_fig", caption="A falling line.", seed=3, show=False) is None
    png = record.figure_path("my_fig")
    assert png == tmp_path / "figures" / "ch" / "my_fig.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
    meta = json.loads(png.with_suffix(".json").read_text())
    assert meta["seed"] == 3 and meta["model"] is None and meta["chapter"] == "ch"
    assert meta["source"] == "notebooks/ch.md" and meta["run_id"] == record.run_id
    assert meta["wall_time_s"] >= 0
    assert not list(png.parent.glob(".*")), "no temporary file is left behind"


def test_figure_refuses_bad_input_and_writes_nothing(tmp_path):
    record = Recorder("ch", tmp_path / "records", glue=False)
    folder = tmp_path / "figures" / "ch"
    with pytest.raises(ValueError, match="lowercase"):
        record.figure(_fig(), "Bad Name", caption="x", show=False)
    with pytest.raises(ValueError, match="caption"):
        record.figure(_fig(), "ok", caption="  ", show=False)
    with pytest.raises(ValueError, match="no axes"):
        record.figure(plt.figure(), "empty", caption="nothing", show=False)
    with pytest.raises(TypeError, match="LanguageModel"):
        record.figure(_fig(), "ok", caption="x", model=3.0, show=False)
    assert not folder.exists() or not any(folder.iterdir())
    record.figure(_fig(), "ok", caption="x", show=False)
    with pytest.raises(ValueError, match="already saved"):
        record.figure(_fig(), "ok", caption="again", show=False)


def test_model_identity_and_source_url(tmp_path):
    class Fake:
        name = "default"
        weights_hash = "ab" * 32

    assert model_identity(Fake()) == {"id": "default", "weights_sha256": "ab" * 32}
    assert model_identity("org/model") == {"id": "org/model", "weights_sha256": "unknown"}
    assert model_identity(None) is None
    assert source_url(tmp_path, "notebooks/x.md") is None
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://example.org/r\n")
    assert (
        source_url(tmp_path, "notebooks/x.md") == "https://example.org/r/blob/main/notebooks/x.md"
    )


def test_tables_list_every_record(tmp_path):
    records = tmp_path / "records"
    for name, wall in [("b_chapter", 2.0), ("a_chapter", 1.0)]:
        write_json_atomic(
            records / f"{name}.json",
            {
                "chapter": name,
                "profile": "ci",
                "wall_time_s": wall,
                "figures": [{"figure": "f", "file": "f.png", "caption": "c"}],
                "numbers": {"n": 1},
                "git_commit": "0123456789abcdef",
                "git_dirty": False,
                "cache_key": "k" * 64,
            },
        )
    write_json_atomic(records / "b_chapter.numbers.json", {"n": 1})
    loaded = load_chapter_records(records, order=["b_chapter"])
    assert [r["chapter"] for r in loaded] == ["b_chapter", "a_chapter"]
    table = chapter_table(loaded)
    assert table.count("\n") == 3 and "| b_chapter | ci | 2.0 | 1 | 1 | 0123456789 |" in table
    rec = Recorder("a_chapter", records, glue=False)
    rec.figure(_fig(), "f", caption="Pipes | are escaped.", seed=1, model="org/m", show=False)
    figs = load_figure_records(tmp_path / "figures")
    assert [f["figure"] for f in figs] == ["f"]
    text = figure_table(figs)
    assert "| a_chapter | `fig-a_chapter-f` | - | 1 | org/m (unknown) |" in text
    assert "Pipes" not in text, "captions stay in their chapters"
    assert "| `[2024, 0]` |" in figure_table([{**figs[0], "seed": [2024, 0]}])
    named = figure_table([{**figs[0], "function": "sgdllm.plotting.a_chapter.plot_f"}])
    assert "| `fig-a_chapter-f` | {py:func}`sgdllm.plotting.a_chapter.plot_f` | 1 |" in named
    loaded[0]["parameters"] = {"profile": "ci", "records_dir": "x", "n": 3, "tag": "a|b"}
    assert "| b_chapter | `n=3`, `tag='a\\|b'` |" in parameter_table(loaded)
    assert "| a_chapter | - |" in parameter_table(loaded)


def test_library_versions_name_every_library_and_flag_absent_ones():
    versions = library_versions(("numpy", "no-such-distribution-xyz"))
    assert versions["python"] == platform.python_version()
    assert versions["numpy"] == np.__version__
    assert versions["no-such-distribution-xyz"] == "absent"
    table = library_table(versions)
    assert table.splitlines()[2:] == [
        f"| python | {platform.python_version()} |",
        f"| numpy | {np.__version__} |",
        "| no-such-distribution-xyz | absent |",
    ]
    assert {"torch", "transformers", "pot", "jupyter-book"} <= set(provenance()["libraries"])


def test_glued_text_is_words_and_numbers_stay_exact(tmp_path, monkeypatch):
    import myst_nb

    glued = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, v, display: glued.update({name: repr(v)}))
    record = Recorder("ch", tmp_path / "records")
    assert record("flag", np.bool_(True)) is None, "a record echoes nothing"
    record("ts", np.array([10, 30, 100]))
    record("x", 0.2193407)
    record("tiny", 4.6e-13, text="4.6 × 10⁻¹³")
    assert glued == {
        "flag": "yes",
        "ts": "10, 30 and 100",
        "x": "0.2193407",
        "tiny": "4.6 × 10⁻¹³",
    }
    saved = json.loads(record.path.read_text())
    assert saved == {"flag": True, "ts": [10, 30, 100], "x": 0.2193407, "tiny": 4.6e-13}
    with pytest.raises(TypeError, match="text of 'y'"):
        record("y", 1.0, text=1.0)


def test_alt_text_is_the_captions_first_sentence():
    from sgdllm.book.records import alt_text, figure_label

    caption = "Law of $\\theta_t$ from [the runs](http://x) and `counts`. Right: more."
    assert alt_text(caption) == "Law of \\theta_t from the runs and counts."
    assert len(alt_text("word " * 100)) <= 250
    assert figure_label("side_by_side", "estimators") == "fig-side_by_side-estimators"


def test_arrays_are_saved_whole_and_bad_arrays_refused_before_writing(tmp_path):
    rec = Recorder("ch", tmp_path / "records", glue=False)
    rec.arrays("kernel", q=np.eye(3), steps=[1, 2, 3])
    with np.load(rec.arrays_path("kernel")) as f:
        assert np.array_equal(f["q"], np.eye(3)) and f["steps"].tolist() == [1, 2, 3]
    assert rec.arrays_path("kernel") == tmp_path / "figures" / "ch" / "kernel.npz"
    with pytest.raises(ValueError, match="already saved arrays"):
        rec.arrays("kernel", q=np.eye(2))
    with pytest.raises(ValueError, match="NaN or infinity"):
        rec.arrays("bad", q=[1.0, np.nan])
    with pytest.raises(TypeError, match="not numbers"):
        rec.arrays("words", q=["a", "b"])
    with pytest.raises(ValueError, match="at least one array"):
        rec.arrays("empty")
    with pytest.raises(ValueError, match="file stem"):
        rec.arrays("Bad Name", q=[1])
    files = sorted(p.name for p in (tmp_path / "figures" / "ch").iterdir())
    assert files == ["kernel.npz"], "a refused call writes nothing"


def test_table_is_a_labelled_myst_table_with_cells_in_words(tmp_path, monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj.data))
    table = table_markdown(["model", "W1 | TV", "ok"], [["a", 0.25, True]])
    text = table_directive("tbl-ch-t", "Errors\nby model.", table)
    assert text.splitlines() == [
        ":::{table} Errors by model.",
        ":name: tbl-ch-t",
        "",
        "| model | W1 \\| TV | ok |",
        "| --- | --- | --- |",
        "| a | 0.25 | yes |",
        ":::",
    ]
    assert table_label("ch", "t") == "tbl-ch-t"
    rec = Recorder("ch", tmp_path / "records", glue=False)
    rec.table("t", ["a"], [[[1, 2, 3]]], caption="Numbers.")
    assert len(shown) == 1 and "| 1, 2 and 3 |" in shown[0]
    with pytest.raises(ValueError, match="already showed a table"):
        rec.table("t", ["a"], [[1]], caption="Again.")
    with pytest.raises(ValueError, match="every row needs 2 cells"):
        rec.table("u", ["a", "b"], [[1]], caption="Short row.")
    with pytest.raises(ValueError, match="needs a caption"):
        rec.table("v", ["a"], [[1]], caption=" ")


def test_markdown_table_wraps_a_ready_table_and_refuses_other_text(tmp_path, monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj.data))
    rec = Recorder("ch", tmp_path / "records", glue=False)
    rec.markdown_table("m", "| a | b |\n| --- | --- |\n| 1 | 2 |\n", caption="Two.")
    assert shown == [":::{table} Two.\n:name: tbl-ch-m\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n:::"]
    with pytest.raises(ValueError, match="must be lowercase letters"):
        rec.markdown_table("Bad Name", "| a |\n| --- |", caption="Named badly.")
    with pytest.raises(ValueError, match="pass a Markdown table"):
        rec.markdown_table("n", "a, b\n1, 2", caption="CSV.")
    with pytest.raises(ValueError, match="already showed a table"):
        rec.markdown_table("m", "| a |\n| --- |", caption="Again.")
