"""Chapters narrate: on every published page a reader sees fewer lines of code than of prose
(issue 15). The computations live in the package; a chapter calls them, plots and explains."""

from __future__ import annotations

import pytest

from sgdllm.book.executor import chapter_names, published_lines
from tests.conftest import ROOT


@pytest.mark.parametrize("chapter", chapter_names(ROOT))
def test_a_published_chapter_shows_less_code_than_narrative(chapter):
    code, narrative = published_lines(ROOT / "notebooks" / f"{chapter}.md")
    assert narrative > 0
    assert code < narrative, (
        f"{chapter}: {code} lines of code against {narrative} of narrative on its page; move "
        f"computations into the sgdllm package and figures into sgdllm.plotting.{chapter}"
    )


def test_published_lines_leave_out_record_calls_and_hidden_cells(tmp_path):
    source = tmp_path / "ch.md"
    source.write_text(
        "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
        "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n"
        "# A chapter\n\nOne line of prose.\n\n"
        "```{code-cell} ipython3\n:tags: [parameters]\n\nseed = 0\n```\n\n"
        "```{code-cell} ipython3\nx = 1  # kept\n# a comment\nrecord('x', x)\n"
        "record.figure(fig, 'f',\n              caption='two lines')\n```\n\n"
        "```{code-cell} ipython3\n:tags: [remove-cell]\n\ny = 2\n```\n"
    )
    assert published_lines(source) == (1, 2)
