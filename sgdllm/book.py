"""Executing the book: papermill runs every chapter, then Jupyter Book builds the HTML.

Layout (all paths relative to the repository root, the folder holding ``_config.yml``)::

    notebooks/<name>.md          chapter source (jupytext MyST), the only committed form
    notebooks/profiles.yml       named parameter profiles ("book": published, "ci": fast)
    _build/executed/<name>.ipynb staging: papermill's output, kept with its traceback on failure
    book/chapters/<name>.ipynb   published copy, replaced atomically only after a clean run
    _build/records/<name>.json   numbers the chapter recorded, its parameters and provenance
    _build/html/                 the built book

Jupyter Book never executes anything (``execute_notebooks: off``); it renders the published
copies listed in ``_toc.yml``. Executed notebooks are never written next to their ``.md``
sources, since Jupyter Book refuses to build with ``-W`` when both forms sit in one folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .records import provenance, write_json_atomic

__all__ = [
    "BookLayout",
    "ChapterFailed",
    "build_book",
    "build_html",
    "chapter_names",
    "chapter_parameters",
    "execute_chapter",
    "find_root",
    "parse_overrides",
]

KERNEL_NAME = "python3"


class ChapterFailed(RuntimeError):
    """A chapter notebook raised while papermill executed it."""


@dataclass(frozen=True)
class BookLayout:
    """Where the book's sources and generated files live, below ``root``."""

    root: Path

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    @property
    def profiles_file(self) -> Path:
        return self.notebooks / "profiles.yml"

    @property
    def staging(self) -> Path:
        return self.root / "_build" / "executed"

    @property
    def published(self) -> Path:
        return self.root / "book" / "chapters"

    @property
    def records(self) -> Path:
        return self.root / "_build" / "records"

    @property
    def html(self) -> Path:
        return self.root / "_build" / "html"

    def source(self, name: str) -> Path:
        return self.notebooks / f"{name}.md"


def find_root(start: str | os.PathLike[str] | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) that holds ``_config.yml``."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_config.yml").is_file() and (folder / "_toc.yml").is_file():
            return folder
    raise FileNotFoundError(
        f"no _config.yml and _toc.yml found at or above {here}; run this from the sgdllm "
        f"repository (or pass --root)"
    )


def chapter_names(root: Path) -> list[str]:
    """Chapters in ``_toc.yml`` order: the entries that point into ``book/chapters/``."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    names: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            f = node.get("file")
            if isinstance(f, str) and f.startswith("book/chapters/"):
                names.append(f.removeprefix("book/chapters/").removesuffix(".ipynb"))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(toc)
    return names


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """Parse ``["key=value", ...]`` from the command line; values are read as YAML."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"parameter override {item!r} must look like key=value, e.g. seed=3")
        out[key.strip()] = yaml.safe_load(value)
    return out


def load_profile(layout: BookLayout, profile: str) -> dict[str, dict[str, Any]]:
    """Per-chapter parameters of a named profile in ``notebooks/profiles.yml``."""
    profiles = yaml.safe_load(layout.profiles_file.read_text()) or {}
    if profile not in profiles:
        raise ValueError(
            f"unknown profile {profile!r}; {layout.profiles_file} defines {sorted(profiles)}"
        )
    return profiles[profile] or {}


def declared_parameters(source: Path) -> dict[str, Any]:
    """Names and defaults of the ``parameters`` cell of a chapter source."""
    import jupytext
    import papermill

    nb = jupytext.read(source)
    tmp = source.parent.parent / "_build" / "executed" / f".inspect-{source.stem}.ipynb"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    try:
        jupytext.write(nb, tmp)
        params = papermill.inspect_notebook(str(tmp))
    finally:
        tmp.unlink(missing_ok=True)
    return {k: v.get("default") for k, v in params.items()}


def chapter_parameters(
    layout: BookLayout, name: str, profile: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Parameters papermill injects: the profile's, then command-line overrides.

    Raises ``ValueError`` for a name the chapter's ``parameters`` cell does not declare.
    """
    params = {**load_profile(layout, profile).get(name, {}), **(overrides or {})}
    declared = declared_parameters(layout.source(name))
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise ValueError(
            f"chapter {name!r} has no parameter(s) {unknown}; its parameters cell declares "
            f"{sorted(declared)}"
        )
    return params


@contextmanager
def _inline_figures() -> Iterator[None]:
    """Let the kernel draw inline figures even if the caller's MPLBACKEND says otherwise.

    The kernel inherits this process' environment; a non-interactive backend there (such as
    ``MPLBACKEND=Agg``, common on servers and CI) would make every ``plt.show()`` a silent no-op
    and the book would lose its figures.
    """
    saved = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    try:
        yield
    finally:
        if saved is None:
            del os.environ["MPLBACKEND"]
        else:
            os.environ["MPLBACKEND"] = saved


def execute_chapter(
    layout: BookLayout,
    name: str,
    profile: str = "book",
    overrides: dict[str, Any] | None = None,
) -> Path:
    """Execute one chapter with papermill and publish it; return the published notebook.

    The notebook runs in ``layout.root`` with the profile's parameters, plus ``records_dir``
    and ``profile``. Its output goes to the staging folder; only a clean run is copied
    (atomically) to ``book/chapters/`` and gets its record in ``_build/records/<name>.json``.

    Raises
    ------
    ChapterFailed
        Naming the notebook, the failing cell and the error; the executed notebook with the
        traceback stays in ``_build/executed/``.
    """
    import jupytext
    import papermill

    source = layout.source(name)
    if not source.is_file():
        raise FileNotFoundError(f"chapter source {source} does not exist")
    params = chapter_parameters(layout, name, profile, overrides)
    params.update(records_dir=str(layout.records), profile=profile)
    layout.staging.mkdir(parents=True, exist_ok=True)
    layout.published.mkdir(parents=True, exist_ok=True)
    layout.records.mkdir(parents=True, exist_ok=True)
    staged_input = layout.staging / f"{name}.input.ipynb"
    staged = layout.staging / f"{name}.ipynb"
    jupytext.write(jupytext.read(source), staged_input)
    numbers_file = layout.records / f"{name}.numbers.json"
    numbers_file.unlink(missing_ok=True)
    start = time.perf_counter()
    try:
        with _inline_figures():
            papermill.execute_notebook(
                str(staged_input),
                str(staged),
                parameters=params,
                kernel_name=KERNEL_NAME,
                cwd=str(layout.root),
                progress_bar=False,
            )
    except papermill.PapermillExecutionError as err:
        raise ChapterFailed(
            f"chapter {name!r} ({source}) failed in cell {err.cell_index} "
            f"(execution count {err.exec_count}): {err.ename}: {err.evalue}\n"
            f"the executed notebook with its traceback is kept at {staged}"
        ) from err
    finally:
        staged_input.unlink(missing_ok=True)
    wall = time.perf_counter() - start
    target = layout.published / f"{name}.ipynb"
    tmp = target.with_suffix(".ipynb.tmp")
    shutil.copyfile(staged, tmp)
    os.replace(tmp, target)
    numbers = json.loads(numbers_file.read_text()) if numbers_file.is_file() else {}
    record = {
        "chapter": name,
        "source": str(source.relative_to(layout.root)),
        "profile": profile,
        "parameters": params,
        "wall_time_s": round(wall, 2),
        "numbers": numbers,
        **provenance(layout.root),
    }
    write_json_atomic(layout.records / f"{name}.json", record)
    return target


def build_html(layout: BookLayout, strict: bool = True) -> None:
    """Run ``jupyter-book build`` on the root (``-n -W --keep-going`` when ``strict``)."""
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(layout.root)]
    if strict:
        cmd += ["-n", "-W", "--keep-going"]
    done = subprocess.run(cmd, check=False)
    if done.returncode != 0:
        raise ChapterFailed(
            f"jupyter-book build failed (exit {done.returncode}): its log above names the "
            f"warnings; with -W every warning fails the build. Command: {' '.join(cmd)}"
        )


def build_book(
    root: Path,
    profile: str = "book",
    chapters: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    html: bool = True,
) -> list[Path]:
    """Execute chapters (default: all in ``_toc.yml``) and build the HTML book."""
    layout = BookLayout(root)
    known = chapter_names(root)
    todo = chapters or known
    missing = [c for c in todo if c not in known]
    if missing:
        raise ValueError(f"unknown chapter(s) {missing}; _toc.yml lists {known}")
    if overrides and len(todo) > 1:
        raise ValueError("parameter overrides apply to one chapter: pass --chapter NAME too")
    from tqdm.auto import tqdm

    published = []
    for name in tqdm(todo, desc="chapters", unit="nb"):
        published.append(execute_chapter(layout, name, profile, overrides))
    if html:
        unexecuted = [c for c in known if not (layout.published / f"{c}.ipynb").is_file()]
        if unexecuted:
            raise ChapterFailed(
                f"cannot build the HTML: chapter(s) {unexecuted} were never executed; run "
                f"`sgdllm book` without --chapter once"
            )
        build_html(layout)
    return published
