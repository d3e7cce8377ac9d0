"""The book: chapters run under papermill with the CI profile, their recorded numbers back the
paper's claims, and Jupyter Book builds the HTML with -n -W (pyhf-style notebook tests)."""

import json
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT

from sgdllm.book import (
    BookLayout,
    ChapterFailed,
    chapter_names,
    chapter_parameters,
    execute_chapter,
    parse_overrides,
)
from sgdllm.cli import main as cli_main


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
def test_records_carry_provenance(built_book):
    for name in chapter_names(ROOT):
        record = json.loads((built_book.records / f"{name}.json").read_text())
        assert record["chapter"] == name
        assert record["source"] == f"notebooks/{name}.md"
        assert len(record["git_commit"]) in (40, len("unknown"))
        assert record["wall_time_s"] > 0
        assert record["numbers"], f"chapter {name} recorded no numbers"


@pytest.mark.slow
def test_sgd_markov_chain_claims(ci_chapter):
    n = ci_chapter("sgd_markov_chain")
    # Over-parametrized: chains from one start collapse onto one point, the projection.
    assert n["over_spread_final"] < 1e-8
    assert n["over_limit_error"] < 1e-8
    # Under-parametrized: a spread that does not vanish ...
    assert n["under_spread_final"] > 0.05
    # ... centred on the least-squares solution, with the exact covariance.
    assert n["stationary_mean_error_in_std"] < 0.15
    assert n["stationary_cov_rel_error"] < 0.10
    # Stationary variance linear in the step size (slope 1 on log-log axes).
    assert 0.9 < n["variance_loglog_slope"] < 1.1
    for emp, theory in zip(n["variance_by_step"], n["variance_theory_by_step"], strict=True):
        assert emp == pytest.approx(theory, rel=0.12)
    # Spectral gap of the binned exact kernel tracks gamma * H and grows with the step.
    gaps = n["gap_true_by_step"]
    assert gaps == sorted(gaps)
    for gap, theory in zip(gaps, n["gap_theory_by_step"], strict=True):
        assert gap == pytest.approx(theory, rel=0.35)


def _mini_book(tmp_path: Path, code: str) -> BookLayout:
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "_config.yml").write_text("title: mini\n")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nchapters:\n  - file: book/chapters/demo\n"
    )
    (tmp_path / "notebooks" / "profiles.yml").write_text("book: {}\nci:\n  demo:\n    x: 2\n")
    header = textwrap.dedent(
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
    cells = [
        "```{code-cell} ipython3\n:tags: [parameters]\n\nx = 1\nrecords_dir = 'r'\n"
        "profile = 'book'\n```",
        f"```{{code-cell}} ipython3\n{code}\n```",
    ]
    (tmp_path / "notebooks" / "demo.md").write_text(header + "\n# Demo\n\n" + "\n\n".join(cells))
    return BookLayout(tmp_path)


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
