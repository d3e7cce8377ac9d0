"""The checks of tests/book/book_html.py, on pages made to fail them and on pages that pass."""

from __future__ import annotations

import json
import re

import pytest

from sgdllm.book.executor import chapter_names
from tests.book.book_html import page_problems


def _page(body: str) -> str:
    return f'<html><body><article class="bd-article">{body}</article></body></html>'


def test_clean_prose_passes():
    html = _page(
        "<p>Errors 0.224, 0.159 and 0.038 at t = 10, 30 and 100; values in [0.15, 0.85]; "
        "<code>record('x', [1, 2, 3])</code> and <span class='math'>[1, 2, 3]</span> are not "
        "prose; 4.6 × 10⁻¹³ apart; a rounded small ratio 0.0000048×.</p>"
        '<div class="cell_output"><figure><img alt="Four runs of SGD." src="a.png">'
        '<figcaption><span class="caption-number">Fig. 1 </span>Runs.</figcaption></figure>'
        '<div class="output stream"><pre>printed table</pre></div></div>'
    )
    assert page_problems(html) == []


def test_each_kind_of_problem_is_found():
    html = _page(
        "<p>errors [0.2236, 0.1589, 0.0379] at [10, 30, 100]</p>"
        "<li>kernel True, predictions False</li>"
        "<p>the first 2 run(s) and 6.7e-12 apart, loss 0.012286100963855628</p>"
        "<td>profile(s) ['ci']</td>"
        '<div class="cell tag_injected-parameters"></div>'
        '<div class="cell_output"><div class="output text_plain"><pre>0.0123</pre></div>'
        '<img alt="aae2fcc01d81b21efc5bbc4f1eb8fb884fd888ed9368b15be82f7b16a77d881e.png" '
        'src="b.png"></div>'
    )
    problems = "\n".join(page_problems(html))
    for what in (
        "a Python list",
        "a Python boolean",
        "a pluralization",
        "Python's exponent notation",
        "5 or more decimals",
        "injected parameters",
        "stray text output",
        "unnumbered figure",
        "without alternative text",
    ):
        assert what in problems, what
    assert problems.count("a Python list") == 3


@pytest.mark.slow
def test_built_pages_show_readers_no_scaffolding_or_python(built_book):
    """Every chapter and the introduction, as built: no raw lists or booleans in prose, no
    injected parameters, no stray outputs, every figure numbered with alt text. (The API
    reference is left out: Python signatures are its subject.)"""
    html = built_book.root / "_build" / "html" / "book"
    pages = [*sorted((html / "chapters").glob("*.html")), html / "intro.html"]
    assert len(pages) == len(chapter_names(built_book.root)) + 1
    problems = [f"{p.name}: {x}" for p in pages for x in page_problems(p.read_text())]
    assert problems == [], "\n".join(problems)


@pytest.mark.slow
def test_every_table_and_figure_a_chapter_shows_is_on_its_page(built_book):
    """Each numbered table and figure in a published notebook's outputs has its anchor on the
    built page: myst-nb silently drops a cell whose source is empty, outputs and all, which
    once hid four tables whose only code was the (hidden) record call."""
    html = built_book.root / "_build" / "html" / "book" / "chapters"
    missing, seen = [], 0
    for path in sorted((built_book.root / "book" / "chapters").glob("*.ipynb")):
        labels = set()
        for cell in json.loads(path.read_text())["cells"]:
            for out in cell.get("outputs", []):
                markdown = "".join(out.get("data", {}).get("text/markdown", ""))
                labels |= set(re.findall(r"^:name: (tbl-[\w-]+)$", markdown, re.M))
            figure = cell.get("metadata", {}).get("mystnb", {}).get("figure", {})
            if figure.get("name"):
                labels.add(figure["name"])
        page = (html / f"{path.stem}.html").read_text()
        for label in sorted(labels):
            seen += 1
            if f'id="{re.sub(r"[^a-z0-9]+", "-", label.lower())}"' not in page:
                missing.append(f"{path.stem}: {label}")
    assert seen >= 50, f"only {seen} labels found: the published notebooks are not as expected"
    assert missing == [], f"numbered outputs missing from their pages: {missing}"
