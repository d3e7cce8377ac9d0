"""The ``claims-table`` directive of ``sgdllm.book.site`` in a small Jupyter Book (``slow``: it
runs ``jupyter-book build``): a numbered table, and a nitpicky build that fails on a broken link.

The synthetic records are those of the unit tests, ``tests/unit/book/test_claims.py``.
"""

from __future__ import annotations

import pytest

from sgdllm.book.claims import CLAIMS, PARTLY
from tests.unit.book.test_claims import synthetic_records

# ----------------------------------------------------------------------------- the directive


def _mini_book(tmp_path, records: dict[str, dict], labels: list[str]) -> None:
    """A book of an introduction with the ``claims-table`` directive and one page of labels."""
    import json

    tmp_path.mkdir()
    (tmp_path / "_config.yml").write_text(
        "title: mini\nonly_build_toc_files: true\nexecute:\n  execute_notebooks: 'off'\n"
        "exclude_patterns: ['_build/*']\n"
        "sphinx:\n  extra_extensions: [sgdllm.book.site]\n"
    )
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: page\n")
    (tmp_path / "intro.md").write_text(
        "# Intro\n\nSee {numref}`tbl-claims`.\n\n```{claims-table}\n```\n"
    )
    sections = "".join(f"({label})=\n\n## Section {label}\n\nText.\n\n" for label in labels)
    (tmp_path / "page.md").write_text(f"# Page\n\n{sections}")
    folder = tmp_path / "_build" / "records"
    folder.mkdir(parents=True)
    for chapter, record in records.items():
        (folder / f"{chapter}.json").write_text(json.dumps(record))


def _build(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe), "build", str(tmp_path), "-n", "-W", "--keep-going"]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


@pytest.mark.slow
def test_directive_renders_a_numbered_table_and_fails_on_a_broken_link(tmp_path):
    labels = [c.label for c in CLAIMS]
    _mini_book(tmp_path / "good", synthetic_records(lm=PARTLY), labels)
    done = _build(tmp_path / "good")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    html = (tmp_path / "good" / "_build" / "html" / "intro.html").read_text()
    assert 'id="tbl-claims"' in html and "Table 1" in html
    assert 'class="sgdllm-claims full-width compound"' in html, "spread into the margin"
    assert "<strong>partly</strong>" in html and "Predicting SGD: a convex problem" in html
    # a section label the table links to is gone: the nitpicky build fails, naming it
    _mini_book(tmp_path / "broken", synthetic_records(), labels[1:])
    done = _build(tmp_path / "broken")
    assert done.returncode != 0
    assert labels[0] in done.stdout + done.stderr
