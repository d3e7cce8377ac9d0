"""Chapters named in the package's docstrings and comments exist in the book.

The convention (what a reader of the API reference follows to find the chapter):

* a paragraph that starts with ``Chapter:`` or ``Chapters:`` names chapters by their titles in
  italics: ``Chapter: *Tokenization* (and *SGD as a Markov chain* for the grid).``;
* elsewhere a title in italics is a chapter's when the word "chapter" is next to it:
  ``the *Imputation* chapter``, ``chapter *Predicting SGD*``;
* a chapter's source is written ``notebooks/<name>.md`` (its executed copy
  ``book/chapters/<name>``).

A title is the first ``# `` heading of the chapter's notebook, or its part before a colon
(``Imputation`` for "Imputation: filling the rows a trajectory never visited"); a name is the
file name of a chapter in ``_toc.yml``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

ITALIC = r"\*([^*\n]+(?:\n[ \t#]*[^*\n]+)?)\*"  # may wrap once, also inside a comment
CHAPTER_LINE = re.compile(r"^[ \t]*(?:#[ \t]*)?Chapters?:")
NEXT_TO_WORD = re.compile(rf"\bchapters?[ \t]+{ITALIC}|{ITALIC}[ \t]+chapters?\b", re.I)
SOURCE_PATH = re.compile(r"\b(?:notebooks/(\w+)\.md|book/chapters/(\w+))\b")


def _clean(title: str) -> str:
    """A title as one line: a line break, indentation and a comment's ``#`` become one space."""
    return re.sub(r"\s*\n[ \t#]*", " ", title).strip()


def _paragraphs(text: str) -> list[str]:
    """``text`` split at blank lines (a line holding only ``#`` is blank in a comment)."""
    return [p for p in re.split(r"\n[ \t]*#?[ \t]*\n", text) if p.strip()]


def chapter_references(text: str) -> tuple[list[str], list[str]]:
    """``(titles, names)``: the chapters that ``text`` names, by title and by file name, under
    the convention of this module's docstring."""
    titles, names = [], []
    for paragraph in _paragraphs(text):
        if CHAPTER_LINE.match(paragraph.lstrip("\n")):
            titles += [_clean(t) for t in re.findall(ITALIC, paragraph)]
    for match in NEXT_TO_WORD.finditer(text):
        titles.append(_clean(match.group(1) or match.group(2)))
    names += [a or b for a, b in SOURCE_PATH.findall(text)]
    return titles, names


def toc_chapters(root: Path) -> tuple[set[str], set[str]]:
    """``(titles, names)`` of the chapters in ``root``'s ``_toc.yml``: each file name, the first
    ``# `` heading of its source (``notebooks/<name>.md``, else ``<file>.md``) and that heading's
    part before a colon."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]]
    files += [c["file"] for part in toc.get("parts", []) for c in part.get("chapters", [])]
    titles, names = set(), set()
    for file in files:
        name = file.rsplit("/", 1)[-1]
        names.add(name)
        source = root / "notebooks" / f"{name}.md"
        if not (file.startswith("book/chapters/") and source.is_file()):
            source = root / f"{file}.md"
        heading = re.search(r"^# (.+)$", source.read_text(), re.M)
        if heading:
            title = heading.group(1).strip()
            titles |= {title, title.split(":")[0].strip()}
    return titles, names


def unknown_chapters(text: str, root: Path) -> list[str]:
    """The chapter titles and names that ``text`` mentions and ``root``'s book lacks."""
    known_titles, known_names = toc_chapters(root)
    titles, names = chapter_references(text)
    return [t for t in titles if t not in known_titles] + [n for n in names if n not in known_names]


# --------------------------------------------------------------------------- the checker


def test_toc_chapters_are_read_from_the_toc_and_the_notebooks():
    titles, names = toc_chapters(ROOT)
    assert {"predicting_sgd", "imputation", "reproducibility", "api"} <= names
    assert {"Predicting SGD", "Imputation", "Tokenization", "SGD as a Markov chain"} <= titles
    assert "Imputation: filling the rows a trajectory never visited" in titles


def test_chapter_references_follow_the_convention():
    text = '''"""Distances.

    Chapters: *Tokenization*, *SGD as a
    Markov chain* (and *Imputation* for rows).

    Emphasis is *not a chapter* here, nor in ``notebooks`` or notebooks/x.py.
    """
    # see the *Predicting SGD* chapter, chapter *In-context scaling laws*,
    # notebooks/side_by_side.md and book/chapters/tokenization
    '''
    titles, names = chapter_references(text)
    assert titles == [
        "Tokenization",
        "SGD as a Markov chain",
        "Imputation",
        "Predicting SGD",
        "In-context scaling laws",
    ]
    assert names == ["side_by_side", "tokenization"]
    assert unknown_chapters(text, ROOT) == []


@pytest.mark.parametrize(
    ("text", "unknown"),
    [
        ('"""Metrics.\n\nChapter: *Evaluating kernels*.\n"""', ["Evaluating kernels"]),
        ("Chapters: *Tokenization*, *Convergence*.", ["Convergence"]),
        ("# Added for the chapter *Predicting convergence*.", ["Predicting convergence"]),
        ("see the *Side by sides* chapter", ["Side by sides"]),
        ("(notebooks/evaluating_kernels.md)", ["evaluating_kernels"]),
        ("see book/chapters/predicting", ["predicting"]),
    ],
)
def test_a_chapter_that_does_not_exist_is_reported(text, unknown):
    assert unknown_chapters(text, ROOT) == unknown


# --------------------------------------------------------------------------- the package


def test_the_package_names_only_chapters_of_the_book():
    files = sorted((ROOT / "sgdllm").rglob("*.py"))
    assert len(files) > 20
    found = {}
    for path in files:
        if bad := unknown_chapters(path.read_text(), ROOT):
            found[str(path.relative_to(ROOT))] = bad
    assert found == {}, f"chapters that _toc.yml does not have: {found}"


def test_most_modules_say_which_chapter_they_serve():
    # the convention is in use, so the test above checks something
    texts = [p.read_text() for p in (ROOT / "sgdllm").rglob("*.py")]
    assert sum(bool(chapter_references(t)[0]) for t in texts) >= 20
