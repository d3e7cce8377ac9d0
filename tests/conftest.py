"""Shared fixtures: chapters executed with the CI profile, once per test session.

``ci_chapter(name)`` executes one chapter (papermill, CI profile, no HTML) and returns its
record; claims tests call it for their own chapter only. ``built_book`` executes every chapter
and builds the HTML. ``MPLBACKEND=Agg`` is set on purpose, as on many servers: the executor must
still give the notebooks inline figures.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sgdllm.book import BookLayout, build_book

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def _agg_backend() -> Iterator[None]:
    saved = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "Agg"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = saved


def load_record(layout: BookLayout, chapter: str) -> dict:
    """The record of a chapter executed with the CI profile."""
    record = json.loads((layout.records / f"{chapter}.json").read_text())
    assert record["profile"] == "ci", f"{chapter} was last executed with {record['profile']!r}"
    return record


def load_numbers(layout: BookLayout, chapter: str) -> dict:
    """The key numbers a chapter recorded in its CI-profile run."""
    return load_record(layout, chapter)["numbers"]


_executed: set[str] = set()


@pytest.fixture(scope="session")
def ci_chapter() -> Callable[[str], dict]:
    """``ci_chapter(name) -> numbers``: execute one chapter with the CI profile (once)."""
    layout = BookLayout(ROOT)

    def run(name: str) -> dict:
        if name not in _executed:
            with _agg_backend():
                build_book(ROOT, profile="ci", chapters=[name], html=False)
            _executed.add(name)
        return load_numbers(layout, name)

    return run


@pytest.fixture(scope="session")
def built_book() -> BookLayout:
    """Execute every chapter with the CI profile and build the HTML, once per session."""
    with _agg_backend():
        build_book(ROOT, profile="ci")
    return BookLayout(ROOT)
