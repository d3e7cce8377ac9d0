"""Shared fixtures: chapters executed with the CI profile, once per test session.

Claims tests live in ``tests/chapters/test_claims_<chapter>.py`` and call
``ci_chapter("<chapter>")``. At the first call, every chapter that the *selected* tests need is
executed in one parallel, cached ``sgdllm book`` run (CI profile, no HTML); ``built_book`` needs
them all, and builds the HTML. So ``pytest tests/chapters/test_claims_imputation.py`` executes
one chapter, and the full suite executes the book once, two chapters at a time. Unit tests
(``tests/unit``) use neither fixture.

``MPLBACKEND=Agg`` is set on purpose, as on many servers: the executor must still give the
notebooks inline figures.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sgdllm.book.executor import BookLayout, ChapterFailed, build_book, build_html, chapter_names

ROOT = Path(__file__).resolve().parents[1]
CLAIMS_FILE = re.compile(r"test_claims_(\w+)\.py$")

_needed: set[str] = set()
_built: set[str] = set()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Note which chapters the selected tests need."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "built_book" in names:
            _needed.update(chapter_names(ROOT))
        elif "ci_chapter" in names:
            match = CLAIMS_FILE.search(str(item.path))
            if match:
                _needed.add(match.group(1))


@contextmanager
def _agg_backend() -> Iterator[None]:
    """``MPLBACKEND=Agg`` inside the block, restored after it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MPLBACKEND", "Agg")
        yield


def load_record(layout: BookLayout, chapter: str) -> dict:
    """The record of a chapter executed with the CI profile."""
    record = json.loads((layout.records / f"{chapter}.json").read_text())
    assert record["profile"] == "ci", f"{chapter} was last executed with {record['profile']!r}"
    return record


def load_numbers(layout: BookLayout, chapter: str) -> dict:
    """The key numbers a chapter recorded in its CI-profile run."""
    return load_record(layout, chapter)["numbers"]


@pytest.fixture(scope="session")
def ci_book() -> dict[str, str]:
    """Execute the needed chapters with the CI profile; return ``{failed chapter: message}``."""
    order = chapter_names(ROOT)
    todo = [c for c in order if c in _needed] or order
    _built.update(todo)
    with _agg_backend():
        try:
            build_book(ROOT, profile="ci", chapters=todo, html=False)
        except ChapterFailed as err:
            return err.failed or {c: str(err) for c in todo}
    return {}


@pytest.fixture(scope="session")
def ci_chapter(ci_book: dict[str, str]) -> Callable[[str], dict]:
    """``ci_chapter(name) -> numbers`` of the chapter's CI-profile run (fails if it failed)."""
    layout = BookLayout(ROOT)

    def numbers(name: str) -> dict:
        if name in ci_book:
            pytest.fail(f"chapter {name} failed under the CI profile:\n{ci_book[name]}")
        if name not in _built:  # a selection the collection hook did not foresee
            with _agg_backend():
                build_book(ROOT, profile="ci", chapters=[name], html=False)
            _built.add(name)
        return load_numbers(layout, name)

    return numbers


@pytest.fixture(scope="session")
def built_book(ci_book: dict[str, str]) -> BookLayout:
    """Every chapter executed with the CI profile, and the HTML built (once per session)."""
    if ci_book:
        pytest.fail("chapters failed under the CI profile:\n" + "\n".join(ci_book.values()))
    layout = BookLayout(ROOT)
    with _agg_backend():
        build_book(ROOT, profile="ci", html=False)  # anything the selection did not need
        build_html(layout)
    return layout
