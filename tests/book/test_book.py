"""The book: chapters run under papermill with the CI profile, their recorded numbers back the
paper's claims, and Jupyter Book builds the HTML with -n -W (pyhf-style notebook tests)."""

import json
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

from sgdllm.book import executor as book
from sgdllm.book.executor import (
    BookLayout,
    ChapterFailed,
    _hide_record_calls,
    build_book,
    chapter_key,
    chapter_models,
    chapter_names,
    chapter_parameters,
    declared_parameters,
    execute_chapter,
    expected_figures,
    parse_overrides,
)
from sgdllm.cli import main as cli_main
from tests.conftest import ROOT, load_numbers


@pytest.mark.slow
def test_every_chapter_published_and_rendered(built_book):
    names = chapter_names(ROOT)
    assert names, "the table of contents lists no chapter"
    for name in names:
        assert (built_book.published / f"{name}.ipynb").stat().st_size > 0
        page = built_book.html / "book" / "chapters" / f"{name}.html"
        html = page.read_text()
        assert "<img" in html, f"{page} shows no figure"
        assert "Traceback" not in html
    assert (built_book.html / "index.html").is_file()


@pytest.mark.slow
def test_published_notebooks_show_no_local_path_or_import_noise(built_book):
    """What a reader downloads shows nothing of the machine that built it: no output mentions the
    repository's path or a site-packages folder (an import warning in a kernel prints both), and
    no stream carries the tqdm "IProgress not found" warning that book.KERNEL_WARNING_FILTERS
    silences."""
    for name in chapter_names(ROOT):
        nb = json.loads((built_book.published / f"{name}.ipynb").read_text())
        for cell in nb["cells"]:
            for out in cell.get("outputs", []):
                text = "".join(out.get("text", ""))
                text += "".join(
                    "".join(v) for v in out.get("data", {}).values() if isinstance(v, (str, list))
                )
                assert str(ROOT) not in text, f"{name}: an output shows the path {ROOT}"
                assert "site-packages" not in text, f"{name}: an output shows site-packages"
                assert "IProgress not found" not in text, f"{name}: tqdm's import warning"


def test_kernel_env_filters_import_warnings_and_keeps_the_callers(monkeypatch):
    monkeypatch.setenv("PYTHONWARNINGS", "error::DeprecationWarning")
    with book._kernel_env(threads=1):
        filters = os.environ["PYTHONWARNINGS"].split(",")
        assert filters[: len(book.KERNEL_WARNING_FILTERS)] == list(book.KERNEL_WARNING_FILTERS)
        assert filters[-1] == "error::DeprecationWarning"  # the last matching filter wins
        assert os.environ["OMP_NUM_THREADS"] == "1"
    assert os.environ["PYTHONWARNINGS"] == "error::DeprecationWarning"
    monkeypatch.delenv("PYTHONWARNINGS")
    with book._kernel_env(threads=None):
        assert os.environ["PYTHONWARNINGS"] == ",".join(book.KERNEL_WARNING_FILTERS)
    assert "PYTHONWARNINGS" not in os.environ


@pytest.mark.slow
def test_records_carry_provenance(built_book):
    for name in chapter_names(ROOT):
        record = json.loads((built_book.records / f"{name}.json").read_text())
        assert record["chapter"] == name
        assert record["source"] == f"notebooks/{name}.md"
        assert len(record["git_commit"]) in (40, len("unknown"))
        assert record["wall_time_s"] > 0
        assert record["numbers"], f"chapter {name} recorded no numbers"


HEADER = textwrap.dedent(
    """\
    ---
    jupytext:
      text_representation:
        extension: .md
        format_name: myst
    kernelspec:
      display_name: Python 3
      language: python
      name: python3
    ---
    """
)

FIGURE_CODE = """\
import matplotlib.pyplot as plt
from sgdllm.book.records import Recorder

record = Recorder(NAME, records_dir)
record("x_used", x)
fig, ax = plt.subplots()
ax.plot([0, x])
record.figure(fig, "line", caption="A line of slope x.", seed=7)
record.arrays("line_data", ends=[0, x])
"""


def _chapter(layout: BookLayout, name: str, code: str) -> None:
    cells = [
        "```{code-cell} ipython3\n:tags: [parameters]\n\nx = 1\nrecords_dir = 'r'\n"
        "profile = 'book'\n```",
        f"```{{code-cell}} ipython3\n{code}\n```",
    ]
    text = HEADER + f"\n# {name}\n\n" + "\n\n".join(cells)
    layout.source(name).write_text(text.replace("NAME", repr(name)))


def _mini_book(tmp_path: Path, code: str, extra: dict[str, str] | None = None) -> BookLayout:
    chapters = {"demo": code, **(extra or {})}
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "_config.yml").write_text("title: mini\n")
    toc = "".join(f"  - file: book/chapters/{c}\n" for c in chapters)
    (tmp_path / "_toc.yml").write_text(f"format: jb-book\nroot: intro\nchapters:\n{toc}")
    ci = "".join(f"  {c}:\n    x: 2\n" for c in chapters)
    (tmp_path / "notebooks" / "profiles.yml").write_text(f"book: {{}}\nci:\n{ci}")
    layout = BookLayout(tmp_path)
    for name, body in chapters.items():
        _chapter(layout, name, body)
    return layout


def test_failing_chapter_names_cell_keeps_traceback_publishes_nothing(tmp_path):
    layout = _mini_book(tmp_path, "y = x + 1\nraise RuntimeError('boom at ' + str(y))")
    with pytest.raises(ChapterFailed) as info:
        execute_chapter(layout, "demo", profile="ci")
    message = str(info.value)
    assert "'demo'" in message and "cell" in message and "boom at 3" in message
    staged = layout.staging / "demo.ipynb"
    assert "boom at 3" in staged.read_text()
    assert not (layout.published / "demo.ipynb").exists()
    assert not (layout.records / "demo.json").exists()


def test_clean_chapter_is_published_with_its_parameters(tmp_path):
    layout = _mini_book(tmp_path, "assert x == 5")
    out = execute_chapter(layout, "demo", profile="ci", overrides={"x": 5})
    assert out == layout.published / "demo.ipynb"
    record = json.loads((layout.records / "demo.json").read_text())
    assert record["parameters"]["x"] == 5
    assert record["profile"] == "ci"


def test_unknown_parameter_is_rejected_with_the_known_ones(tmp_path):
    layout = _mini_book(tmp_path, "pass")
    with pytest.raises(ValueError, match=r"no parameter\(s\) \['nope'\].*'x'"):
        chapter_parameters(layout, "demo", "book", {"nope": 1})
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        chapter_parameters(layout, "demo", "fast")


def test_parse_overrides_reads_yaml_values():
    assert parse_overrides(["a=3", "b=0.5", "c=[1, 2]", "d=gpt2"]) == {
        "a": 3,
        "b": 0.5,
        "c": [1, 2],
        "d": "gpt2",
    }
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["oops"])


def test_cli_reports_unknown_chapter(capsys):
    assert cli_main(["book", "--root", str(ROOT), "--chapter", "nope", "--no-html"]) == 1
    assert "unknown chapter" in capsys.readouterr().err


def test_figures_are_published_with_complete_records(tmp_path):
    layout = _mini_book(tmp_path, FIGURE_CODE)
    execute_chapter(layout, "demo", profile="ci")
    record = json.loads((layout.records / "demo.json").read_text())
    assert record["numbers"] == {"x_used": 2}
    assert [f["figure"] for f in record["figures"]] == ["line"]
    png = layout.figures / "demo" / "line.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = json.loads(png.with_suffix(".json").read_text())
    assert meta["parameters"]["x"] == 2 and meta["profile"] == "ci" and meta["seed"] == 7
    assert meta["run_id"] == record["run_id"] and meta["cache_key"] == record["cache_key"]
    assert meta["caption"] == "A line of slope x." and meta["source"] == "notebooks/demo.md"
    assert not list(layout.staging.glob("demo.run*")), "the staging folder of the run is removed"
    published = (layout.published / "demo.ipynb").read_text()
    assert str(tmp_path) not in published, "no path of the build machine in the notebook"
    assert 'records_dir = \\"_build/records\\"' in published
    assert expected_figures(layout, "demo") == ["line"]


def test_failed_run_keeps_the_last_good_figures_and_record(tmp_path):
    layout = _mini_book(tmp_path, FIGURE_CODE)
    execute_chapter(layout, "demo", profile="ci")
    good = (layout.records / "demo.json").read_text()
    png = (layout.figures / "demo" / "line.png").read_bytes()
    _chapter(layout, "demo", FIGURE_CODE + "raise RuntimeError('after the figure')")
    with pytest.raises(ChapterFailed, match="after the figure"):
        execute_chapter(layout, "demo", profile="ci", overrides={"x": 5})
    assert (layout.records / "demo.json").read_text() == good
    assert (layout.figures / "demo" / "line.png").read_bytes() == png


def test_failed_first_run_publishes_no_figure(tmp_path):
    layout = _mini_book(tmp_path, FIGURE_CODE + "raise RuntimeError('boom')")
    with pytest.raises(ChapterFailed):
        execute_chapter(layout, "demo", profile="ci")
    assert not (layout.figures / "demo").exists()
    assert not (layout.records / "demo.json").exists()


def test_unchanged_chapters_are_skipped_and_changes_rerun_them(tmp_path, monkeypatch):
    # The package digest is pinned: other work may edit sgdllm/ while this test runs.
    monkeypatch.setattr(book, "_package_digest", lambda: "pinned")
    layout = _mini_book(tmp_path, FIGURE_CODE)
    run = dict(profile="ci", html=False, progress=False, jobs=1)
    run_book = dict(html=False, progress=False, jobs=1)
    assert build_book(tmp_path, **run) == [layout.published / "demo.ipynb"]
    first = json.loads((layout.records / "demo.json").read_text())
    assert build_book(tmp_path, **run) == [], "nothing changed: nothing is executed"
    assert build_book(tmp_path, force=True, **run) == [layout.published / "demo.ipynb"]
    assert build_book(tmp_path, overrides={"x": 3}, **run), "a new parameter reruns it"
    assert build_book(tmp_path, overrides={"x": 3}, **run) == []
    layout.source("demo").write_text(layout.source("demo").read_text() + "\nMore text.\n")
    assert build_book(tmp_path, **run), "an edited notebook reruns it"
    assert build_book(tmp_path, profile="book", **run_book), "another profile"
    last = json.loads((layout.records / "demo.json").read_text())
    assert last["cache_key"] != first["cache_key"] and last["run_id"] != first["run_id"]
    (layout.figures / "demo" / "line.png").unlink()
    assert build_book(tmp_path, profile="book", **run_book), "a lost figure"
    monkeypatch.setattr(book, "_package_digest", lambda: "edited")
    assert build_book(tmp_path, profile="book", **run_book), "an edited sgdllm package"


def test_key_covers_a_local_model_directory(tmp_path):
    layout = _mini_book(tmp_path, "pass")
    model = tmp_path / "my-model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights v1")
    params = {"x": 1, "profile": "ci"}
    k1 = chapter_key(layout, "demo", params, str(model))
    assert chapter_key(layout, "demo", params, str(model)) == k1
    (model / "model.safetensors").write_bytes(b"weights v2")
    assert chapter_key(layout, "demo", params, str(model)) != k1
    assert chapter_key(layout, "demo", params, "org/hub-model") != chapter_key(
        layout, "demo", params, "org/other-model"
    )


def test_key_covers_every_model_of_the_ladder(tmp_path):
    layout = _mini_book(tmp_path, "pass")
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF v1")
    params = {"x": 1, "profile": "ci"}
    ladder = ["embedded", "smollm2-135m", str(gguf)]
    assert chapter_models({"models": ladder}, {"model": None}) == [None, *ladder]
    k1 = chapter_key(layout, "demo", params, ladder)
    assert chapter_key(layout, "demo", params, ladder) == k1
    gguf.write_bytes(b"GGUF v2")
    assert chapter_key(layout, "demo", params, ladder) != k1
    assert chapter_key(layout, "demo", params, ladder[:2]) != chapter_key(
        layout, "demo", params, ["embedded", "gemma-3-270m"]
    )


def test_chapters_run_in_parallel_and_failures_are_all_named(tmp_path):
    layout = _mini_book(
        tmp_path,
        FIGURE_CODE,
        extra={"second": FIGURE_CODE, "broken": "raise ValueError('broken chapter')"},
    )
    with pytest.raises(ChapterFailed) as info:
        build_book(tmp_path, profile="ci", html=False, progress=False, jobs=2)
    assert "'broken'" in str(info.value) and "broken chapter" in str(info.value)
    for name in ("demo", "second"):
        assert (layout.published / f"{name}.ipynb").is_file()
        assert (layout.figures / name / "line.png").stat().st_size > 0
    manifest = json.loads((layout.figures / "manifest.json").read_text())
    assert sorted(e["chapter"] for e in manifest["figures"]) == ["demo", "second"]
    assert all(e["bytes"] > 0 for e in manifest["figures"])


@pytest.mark.slow
def test_every_expected_figure_was_produced_by_the_current_inputs(built_book):
    """CI: each ``record.figure`` call of each chapter produced a non-empty PNG in the run
    that made the published notebook, under the chapter's current cache key."""
    manifest = json.loads((built_book.figures / "manifest.json").read_text())
    listed = {(e["chapter"], e["figure"]): e for e in manifest["figures"]}
    for name in chapter_names(ROOT):
        expected = expected_figures(built_book, name)
        assert expected, f"chapter {name} saves no figure through record.figure"
        record = json.loads((built_book.records / f"{name}.json").read_text())
        assert record["profile"] == "ci", f"{name} was last executed with another profile"
        params = {**record["parameters"]}
        declared = declared_parameters(built_book.source(name))
        key = chapter_key(built_book, name, params, chapter_models(params, declared))
        assert record["cache_key"] == key, f"{name} was not rebuilt from its current inputs"
        assert sorted(f["figure"] for f in record["figures"]) == sorted(expected)
        for fig in expected:
            entry = listed[(name, fig)]
            assert entry["bytes"] > 0 and entry["run_id"] == record["run_id"]
            png = built_book.root / entry["file"]
            assert png.read_bytes()[:4] == b"\x89PNG"
            meta = json.loads(png.with_suffix(".json").read_text())
            assert meta["run_id"] == record["run_id"] and meta["profile"] == "ci"


@pytest.mark.slow
def test_reproducibility_appendix_lists_every_chapter_and_figure(built_book):
    n = load_numbers(built_book, "reproducibility")
    others = [c for c in chapter_names(ROOT) if c != "reproducibility"]
    assert n["n_chapters"] == len(others)
    assert n["n_figures"] == sum(len(expected_figures(built_book, c)) for c in others)
    assert n["profiles"] == ["ci"]


def test_published_figures_are_numbered_and_scaffolding_hidden(tmp_path):
    layout = _mini_book(tmp_path, FIGURE_CODE)
    execute_chapter(layout, "demo", profile="ci")
    cells = json.loads((layout.published / "demo.ipynb").read_text())["cells"]
    tags = [c["metadata"].get("tags", []) for c in cells]
    assert any("injected-parameters" in t and "remove-cell" in t for t in tags)
    assert any("parameters" in t and "hide-input" in t for t in tags)
    shown = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "ax.plot([0, x])" in shown and "record(" not in shown and "record.figure" not in shown
    downloads = "".join(cells[-1]["source"])
    assert cells[-1]["cell_type"] == "markdown" and downloads.startswith("## Downloads")
    assert "</_build/records/demo.json>" in downloads
    assert "</_build/figures/demo/line_data.npz>" in downloads
    assert np.load(layout.figures / "demo" / "line_data.npz")["ends"].tolist() == [0, 2]
    assert json.loads((layout.records / "demo.json").read_text())["arrays"] == ["line_data"]
    (figure_cell,) = [c for c in cells if c["metadata"].get("mystnb")]
    mystnb = figure_cell["metadata"]["mystnb"]
    assert mystnb["figure"]["name"] == "fig-demo-line"
    assert mystnb["figure"]["caption"].startswith("A line of slope x.")
    assert mystnb["image"] == {"alt": "A line of slope x."}
    kinds = [o["output_type"] for o in figure_cell["outputs"] if "image/png" in o.get("data", {})]
    assert kinds == ["display_data"]
    assert not any(
        o.get("metadata", {}).get("sgdllm", {}).get("caption_of") for o in figure_cell["outputs"]
    ), "the caption moves into the figure"


def _code_cell(source: str, tags: list[str] | None = None) -> dict:
    return {"cell_type": "code", "source": source, "metadata": {"tags": tags or []}, "outputs": []}


def test_record_calls_leave_the_code_a_reader_sees_and_their_outputs_stay():
    glued = {"output_type": "display_data", "data": {"text/plain": "1"}, "metadata": {}}
    mixed = _code_cell(
        "y = x + 1\nrecord(\n    'y', y,\n)\nz = y * 2  # kept\nrecord.figure(fig, 'f')\n"
    )
    mixed["outputs"] = [glued]
    only = _code_cell("# the claims test reads these\nrecord('a', 1)\nrecord('b', [1, 2])\n")
    nested = _code_cell("for m in ms:\n    record(m, 1)\n")
    shared = _code_cell("a = 1; record('a', a)\n")
    magic = _code_cell("%time record('a', 1)\n")
    other = _code_cell("recorder('a', 1)\nrecords.append(2)\n")
    injected = _code_cell("record('x', 1)\n", tags=["injected-parameters"])
    table = _code_cell("record.markdown_table('t', text,\n                      caption='A.')\n")
    table["outputs"] = [glued]
    nb = {"cells": [mixed, only, nested, shared, magic, other, injected, table]}
    _hide_record_calls(nb)
    assert "".join(mixed["source"]) == "y = x + 1\nz = y * 2  # kept"
    assert mixed["outputs"] == [glued] and "remove-input" not in mixed["metadata"]["tags"]
    assert "remove-input" in only["metadata"]["tags"]
    assert "record" not in "".join(only["source"])
    assert nested["source"] == "for m in ms:\n    record(m, 1)\n", "a nested call stays"
    assert shared["source"] == "a = 1; record('a', a)\n", "a line shared with code stays"
    assert magic["source"] == "%time record('a', 1)\n"
    assert other["source"] == "recorder('a', 1)\nrecords.append(2)\n"
    assert injected["source"] == "record('x', 1)\n"
    # myst-nb skips a cell with an empty source, outputs and all: the table must keep a source
    assert "".join(table["source"]).strip().startswith("#"), "a comment keeps the cell rendered"
    assert table["outputs"] == [glued] and "remove-input" in table["metadata"]["tags"]


def test_a_figure_sharing_its_cell_is_refused_naming_the_fix(tmp_path):
    second = "fig, ax = plt.subplots()\nax.plot([1, 0])\nrecord.figure(fig, 'two', caption='B.')\n"
    code = FIGURE_CODE + second
    layout = _mini_book(tmp_path, code)
    with pytest.raises((ChapterFailed, ValueError), match="cell of its own"):
        execute_chapter(layout, "demo", profile="ci")
    assert not (layout.published / "demo.ipynb").exists()
