"""What a reader must not see on a built page of the book, found in its HTML.

:func:`page_problems` lists, for one HTML page of the book, each thing that reads as scaffolding
or as Python rather than prose:

- a Python list in a sentence (three or more numbers, or quoted strings, in brackets; a
  two-number interval such as [0.15, 0.85] is notation and passes);
- ``True`` or ``False`` in a sentence, a pluralization such as ``run(s)``;
- a number with five or more decimals, four of them significant (unrounded), or in Python's
  exponent notation (``4.6e-13``: write
  ``sgdllm.book.prose.scientific``'s "4.6 × 10⁻¹³");
- papermill's injected parameters cell shown on the page;
- a stray text output of a cell (a value echoed by the last line of a cell);
- a figure of a chapter that is not numbered, or whose alternative text is missing or a hash.

Sentences are the text of paragraphs, list items, table cells and captions of the page's
article, without code, preformatted text or math. ``python tests/book/book_html.py PAGE.html ...``
prints the problems of built pages (exit 1 when there is one); ``tests/book/test_book_html.py`` runs
the same checks on the built book.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from bs4 import BeautifulSoup, Tag

NUMBER = r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?"
PATTERNS = {
    "a Python list": re.compile(
        rf"\[\s*(?:{NUMBER}\s*,\s*){{2,}}{NUMBER}\s*\]|\[\s*'[^']*'\s*(?:,\s*'[^']*'\s*)*\]"
    ),
    "a Python boolean": re.compile(r"\b(?:True|False)\b"),
    "a pluralization '(s)'": re.compile(r"[a-z]\(s\)"),
    # five or more decimals of which four or more are significant: 0.0122861 is unrounded,
    # 0.0000048 a rounded small number
    "a number with 5 or more decimals": re.compile(r"\d\.(?=\d{5})0*[1-9]\d{3}"),
    "Python's exponent notation": re.compile(r"\b\d+(?:\.\d+)?e[-+]?\d+\b"),
}
PROSE_TAGS = ("p", "li", "td", "th", "figcaption", "caption", "dd", "dt")
SKIP = ("code", "pre", "script", "style", "kbd", "samp")
HASH = re.compile(r"^[0-9a-f]{20,}(\.png)?$")


def _article(soup: BeautifulSoup) -> Tag:
    return soup.select_one("article.bd-article") or soup


def _sentence_text(tag: Tag) -> str:
    """Text of a prose element without its code, math and nested prose elements."""
    parts = []
    for piece in tag.find_all(string=True):
        skip = False
        for parent in piece.parents:
            if parent is tag:
                break
            classes = parent.get("class") or []
            if parent.name in SKIP or "math" in classes or parent.name in PROSE_TAGS:
                skip = True
                break
        if not skip:
            parts.append(str(piece))
    text = " ".join("".join(parts).split())
    return re.sub(r"\\\(.*?\\\)|\$[^$]*\$", " ", text)  # inline math not yet typeset


def page_problems(html: str) -> list[str]:
    """What a reader should not see on one built page; see the module docstring."""
    soup = BeautifulSoup(html, "html.parser")
    article = _article(soup)
    problems = []
    for tag in article.find_all(PROSE_TAGS):
        if any(p.name in SKIP for p in tag.parents):
            continue
        text = _sentence_text(tag)
        for what, pattern in PATTERNS.items():
            for match in pattern.finditer(text):
                start = max(match.start() - 40, 0)
                problems.append(f"{what} in prose: ...{text[start : match.end() + 40]}...")
    if article.select(".tag_injected-parameters"):
        problems.append("the injected parameters cell is shown (tag it remove-cell)")
    for output in article.select("div.cell_output div.output.text_plain"):
        value = " ".join(output.get_text().split())[:80]
        problems.append(f"a stray text output of a cell: {value!r}")
    for img in article.select("div.cell_output img"):
        figure = img.find_parent("figure")
        if figure is None or figure.select_one(".caption-number") is None:
            problems.append(f"an unnumbered figure: {img.get('src')}")
        alt = (img.get("alt") or "").strip()
        if not alt or HASH.match(alt):
            problems.append(f"a figure without alternative text: {img.get('src')}")
    return problems


def main(paths: list[str]) -> int:
    bad = 0
    for path in paths:
        for problem in page_problems(Path(path).read_text()):
            print(f"{path}: {problem}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
