"""Executing the book: papermill runs every chapter, then Jupyter Book builds the HTML.

Layout (all paths relative to the repository root, the folder holding ``_config.yml``)::

    notebooks/<name>.md               chapter source (jupytext MyST), the only committed form
    notebooks/profiles.yml            named parameter profiles ("book": published, "ci": fast)
    _build/executed/<name>.run-<id>/  staging of one run: input, executed notebook, numbers,
                                      figures, the portable notebook and the record (locked by
                                      the process that runs it; removed when it ends)
    _build/executed/<name>.ipynb      the executed notebook of a *failed* run, with its traceback
    book/chapters/<name>.ipynb        published copy, replaced only after a clean run
    _build/figures/<name>/            the chapter's figures (PNG) and their records (JSON)
    _build/figures/manifest.json      every published figure: chapter, size, sha256, run id
    _build/records/<name>.json        numbers, parameters, figures, provenance, cache key and the
                                      sha256 of the published notebook and of every figure
    _build/html/                      the built book

Jupyter Book never executes anything (``execute_notebooks: off``); it renders the published
copies listed in ``_toc.yml``. Executed notebooks are never written next to their ``.md``
sources, since Jupyter Book refuses to build with ``-W`` when both forms sit in one folder.

Publishing is one unit: a clean run writes everything into its staging folder, then renames
the figures folder, the notebook and, last, the record into place. The record is the commit
point: it carries the sha256 of the notebook and of each figure, and a chapter counts as
published only when the files on disk match it (:func:`is_up_to_date`), so a build killed
between two renames, or a truncated notebook or figure, makes the chapter run again.

Caching (as showyourwork does): a chapter is executed again only when its *key* changed, a
sha256 over the notebook text, the resolved parameters and profile, the tracked files of the
``sgdllm`` package (``git ls-files``: its source and the embedded model's weights; untracked
scratch files do not count; outside a git checkout every file but caches), the weights of a
local model passed as the ``model`` parameter (a Hub id enters as its name), and the versions
of Python and the numerical libraries. Aggregating chapters (:data:`AGGREGATES`, the
reproducibility appendix) also key on the other chapters' records and run after them.

Processes: every chapter runs in a worker process (at most ``jobs`` at once, default one per
core, at most two) whose kernel gets ``cores // jobs`` threads (``OMP_NUM_THREADS``). A worker
dies with the build (``PR_SET_PDEATHSIG`` on Linux, and a watchdog thread elsewhere) and never
publishes once its parent is gone; its kernel follows within a second (ipykernel polls its
parent). Ctrl-C or SIGTERM stops the build: the workers and their kernels are killed, nothing
more is published, and :class:`BuildInterrupted` is raised. Each cell has a time limit
(:data:`DEFAULT_CELL_TIMEOUT_S`, a profile's ``cell_timeout_s`` or ``timeout=``).
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sgdllm.book.records import write_json_atomic
from sgdllm.provenance import library_versions, provenance

__all__ = [
    "AGGREGATES",
    "DEFAULT_CELL_TIMEOUT_S",
    "RESERVED_PARAMETERS",
    "BookLayout",
    "BuildInterrupted",
    "ChapterFailed",
    "Expression",
    "build_book",
    "build_html",
    "chapter_key",
    "chapter_models",
    "chapter_names",
    "chapter_parameters",
    "check_parameter",
    "declared_parameters",
    "execute_chapter",
    "expected_figures",
    "find_root",
    "is_up_to_date",
    "parse_overrides",
    "publish_problem",
    "published_lines",
    "sweep_staging",
    "write_manifest",
]

KERNEL_NAME = "python3"

#: Chapters that read the other chapters' records: executed last, keyed on those records.
AGGREGATES = ("reproducibility",)

#: Parameters the executor sets itself; ``-p`` may not override them.
RESERVED_PARAMETERS = {
    "records_dir": "it is the staging folder of the run, set by the executor",
    "profile": "it is set by the executor from --profile; pass --profile NAME instead",
}

#: Seconds one cell may run (a cell that never returns fails instead of hanging the build).
#: The slowest cell of the published book takes about a minute on two cores.
DEFAULT_CELL_TIMEOUT_S = 1800.0

#: Profile keys that are settings of the run, not chapter names.
_PROFILE_SETTINGS = ("cell_timeout_s",)

#: A staging folder (or a temporary file) older than this, and not locked by a live run, is
#: a leftover of a killed build and is removed at the next start.
STALE_AFTER_S = 10.0

#: Libraries whose versions enter the cache key.
_KEY_LIBRARIES = ("numpy", "scipy", "pot", "torch", "transformers", "matplotlib", "papermill")


class ChapterFailed(RuntimeError):
    """A chapter notebook raised while papermill executed it (or its kernel died / timed out).

    ``failed`` maps each failed chapter to its message (empty when the failure is not a
    chapter's, e.g. the HTML build).
    """

    def __init__(self, message: str, failed: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.failed = dict(failed or {})


class BuildInterrupted(KeyboardInterrupt):
    """The build was stopped by SIGINT (Ctrl-C) or SIGTERM; workers and kernels are gone.

    ``signum`` is the signal; ``exit_code`` the shell convention ``128 + signum`` (130, 143).
    ``published`` lists the notebooks published before the signal.
    """

    def __init__(self, signum: int, published: list[Path] | None = None) -> None:
        self.signum = int(signum)
        self.exit_code = 128 + self.signum
        self.published = list(published or [])
        super().__init__(
            f"interrupted by {signal.Signals(self.signum).name}: workers stopped, "
            f"{len(self.published)} chapter(s) published before it, nothing after"
        )


class _Orphaned(RuntimeError):
    """The process that started this worker is gone: publish nothing."""


@dataclass(frozen=True)
class Expression:
    """A declared default that is not a Python literal (its source text); not type-checked."""

    text: str


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
    def figures(self) -> Path:
        return self.root / "_build" / "figures"

    @property
    def laws_cache(self) -> Path:
        """Disk cache of language-model laws shared by every chapter
        (:func:`sgdllm.lm.ladder.laws_cache_dir` reads it in the kernel)."""
        return self.root / "_build" / "laws-cache"

    @property
    def html(self) -> Path:
        return self.root / "_build" / "html"

    def source(self, name: str) -> Path:
        return self.notebooks / f"{name}.md"

    def run_dir(self, name: str) -> Path:
        """A fresh staging folder name for one run (unique per call)."""
        return self.staging / f"{name}.run-{uuid.uuid4().hex[:12]}"


def find_root(start: str | os.PathLike[str] | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) that holds ``_config.yml`` and
    ``_toc.yml``; ``FileNotFoundError`` naming the fix otherwise."""
    here = Path(start if start is not None else Path.cwd()).expanduser()
    if not here.exists():
        raise FileNotFoundError(f"--root {here} does not exist; pass the sgdllm repository folder")
    if not here.is_dir():
        raise FileNotFoundError(f"--root {here} is a file; pass the sgdllm repository folder")
    here = here.resolve()
    for folder in (here, *here.parents):
        if (folder / "_config.yml").is_file() and (folder / "_toc.yml").is_file():
            return folder
    raise FileNotFoundError(
        f"no _config.yml and _toc.yml found at or above {here}; run this from the sgdllm "
        f"repository (or pass --root)"
    )


def _read_yaml(path: Path) -> Any:
    """YAML of ``path``; ``ValueError`` naming the file when it is missing or malformed."""
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist") from None
    except yaml.YAMLError as err:
        raise ValueError(f"{path} is not valid YAML: {err}") from None


def chapter_names(root: str | os.PathLike[str]) -> list[str]:
    """Chapters in ``_toc.yml`` order: the entries that point into ``book/chapters/``."""
    toc = _read_yaml(Path(root) / "_toc.yml")
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
    """Parse ``["key=value", ...]`` from the command line; values are read as YAML.

    The values are checked against the chapter's declared defaults later
    (:func:`check_parameter`); ``records_dir`` and ``profile`` are refused here.
    """
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"parameter override {item!r} must look like key=value, e.g. seed=3")
        if key in RESERVED_PARAMETERS:
            raise ValueError(f"parameter {key!r} cannot be overridden: {RESERVED_PARAMETERS[key]}")
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            first = str(err).splitlines()[0]
            raise ValueError(
                f"parameter {key!r}: cannot read {value!r} as a value ({first}); write lists "
                f"as [1, 2] and quote strings with special characters"
            ) from None
    return out


def _profile(layout: BookLayout, profile: str) -> dict[str, Any]:
    profiles = _read_yaml(layout.profiles_file) or {}
    if not isinstance(profiles, dict) or profile not in profiles:
        known = sorted(profiles) if isinstance(profiles, dict) else []
        raise ValueError(f"unknown profile {profile!r}; {layout.profiles_file} defines {known}")
    return profiles[profile] or {}


def load_profile(layout: BookLayout, profile: str) -> dict[str, dict[str, Any]]:
    """Per-chapter parameters of a named profile in ``notebooks/profiles.yml``."""
    entries = _profile(layout, profile)
    return {k: v or {} for k, v in entries.items() if k not in _PROFILE_SETTINGS}


def profile_timeout(layout: BookLayout, profile: str) -> float:
    """Seconds a cell may run under ``profile``: its ``cell_timeout_s``, else the default."""
    value = _profile(layout, profile).get("cell_timeout_s", DEFAULT_CELL_TIMEOUT_S)
    return _check_timeout(value, f"cell_timeout_s of profile {profile!r}")


def _check_timeout(value: Any, what: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{what} must be a positive number of seconds, got {value!r}")
    return float(value)


def declared_parameters(source: str | os.PathLike[str]) -> dict[str, Any]:
    """Names and defaults of the ``parameters`` cell of a chapter source.

    The cell is read with :mod:`ast`, not with papermill's line parser: papermill skips any
    line holding more than one ``=`` (``adam_betas = [0.9, 0.99]  # beta2 = 0.99 ...``, where
    the second ``=`` is in the comment), so such a parameter looked undeclared. Defaults that
    are Python literals come back as values (``None``, ``400``, ``[0.9, 0.99]``, ``(300, 500)``);
    any other expression as an :class:`Expression`. Nothing is written to disk.
    """
    import jupytext

    source = Path(source)
    nb = jupytext.read(source)
    cells = [
        c
        for c in nb.cells
        if c.cell_type == "code" and "parameters" in c.get("metadata", {}).get("tags", [])
    ]
    if not cells:
        return {}
    code = "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line
        for line in cells[0].source.splitlines()
    )
    try:
        tree = ast.parse(code)
    except SyntaxError as err:
        raise ValueError(
            f"the parameters cell of {source} is not valid Python (line {err.lineno}: {err.msg})"
        ) from None
    out: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                try:
                    out[target.id] = ast.literal_eval(value)
                except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                    out[target.id] = Expression(ast.get_source_segment(code, value) or "")
    return out


def _as_number(value: Any) -> float | int | None:
    """``value`` as a number: ints and floats as they are, strings such as ``"1e3"`` parsed
    (YAML 1.1 reads ``1e3`` and ``2e-2`` as strings); ``None`` when it is not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _describe(default: Any) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, int):
        return "an integer"
    if isinstance(default, float):
        return "a finite number"
    if isinstance(default, str):
        return "a string"
    if isinstance(default, tuple):
        return "a list (written [a, b])"
    if isinstance(default, list):
        return "a list (written [a, b])"
    if isinstance(default, dict):
        return "a mapping (written {a: 1})"
    return type(default).__name__


def check_parameter(name: str, value: Any, default: Any, *, where: str = "") -> Any:
    """``value`` checked against (and converted to) the type of the declared ``default``.

    - int: an integral number (``1e3`` is accepted as 1000; ``1.5`` or ``abc`` is refused);
    - float: any finite number, ``2e-2`` included (NaN and infinity are refused);
    - bool: ``true`` / ``false`` only; str: a string (quote numbers: ``-p 'tag="1.10"'``);
    - list / tuple: a list, each item checked against the default's items when those share
      one type; a tuple default gets a tuple; dict: a mapping;
    - ``None`` or a non-literal default (:class:`Expression`): anything.

    Raises ``ValueError`` naming the parameter, the expected type and the default.
    """
    if default is None or isinstance(default, Expression):
        return value

    def refuse() -> ValueError:
        return ValueError(
            f"parameter {name!r}{where} expects {_describe(default)} (its declared default is "
            f"{default!r}), got {value!r}"
        )

    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise refuse()
    if isinstance(default, int):
        number = _as_number(value)
        if number is None or not math.isfinite(number) or number != int(number):
            raise refuse()
        return int(number)
    if isinstance(default, float):
        number = _as_number(value)
        if number is None or not math.isfinite(number):
            raise refuse()
        return float(number)
    if isinstance(default, str):
        if isinstance(value, str):
            return value
        raise refuse()
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            raise refuse()
        items = list(value)
        if default and len({type(d) for d in default}) == 1:
            items = [
                check_parameter(f"{name}[{i}]", v, default[0], where=where)
                for i, v in enumerate(items)
            ]
        return tuple(items) if isinstance(default, tuple) else items
    if isinstance(default, dict):
        if isinstance(value, dict):
            return value
        raise refuse()
    return value


def chapter_parameters(
    layout: BookLayout, name: str, profile: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Parameters papermill injects: the profile's, then command-line overrides.

    Raises ``ValueError`` for a name the chapter's ``parameters`` cell does not declare, a
    reserved name (:data:`RESERVED_PARAMETERS`) or a value of the wrong type
    (:func:`check_parameter`).
    """
    return _resolve_parameters(layout, name, profile, overrides)[0]


def _resolve_parameters(
    layout: BookLayout, name: str, profile: str, overrides: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(parameters to inject, declared defaults)``; see :func:`chapter_parameters`."""
    reserved = sorted(set(overrides or {}) & set(RESERVED_PARAMETERS))
    if reserved:
        key = reserved[0]
        raise ValueError(f"parameter {key!r} cannot be overridden: {RESERVED_PARAMETERS[key]}")
    from_profile = load_profile(layout, profile).get(name, {})
    if not isinstance(from_profile, dict):
        raise ValueError(
            f"profile {profile!r} in {layout.profiles_file} gives chapter {name!r} "
            f"{from_profile!r}; it must map parameter names to values"
        )
    source = layout.source(name)
    if not source.is_file():
        raise FileNotFoundError(f"chapter source {source} does not exist")
    declared = declared_parameters(source)
    params: dict[str, Any] = {}
    for origin, values in (
        (f" of chapter {name!r} (profile {profile!r})", from_profile),
        (f" of chapter {name!r} (-p)", overrides or {}),
    ):
        unknown = sorted(set(values) - set(declared))
        if unknown:
            raise ValueError(
                f"chapter {name!r} has no parameter(s) {unknown}; its parameters cell declares "
                f"{sorted(declared)}"
            )
        for key, value in values.items():
            params[key] = check_parameter(key, value, declared[key], where=origin)
    return params, declared


# ----------------------------------------------------------------------------- cache keys


def _sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _hash_tree(digest: Any, folder: Path) -> None:
    """Feed every file below ``folder`` (sorted, caches and bytecode skipped) into ``digest``."""
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(_sha256_file(path).encode())


def source_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The files of a package folder that can change a chapter's result.

    In a git checkout: the files git tracks (``git ls-files``, so the source and the embedded
    model's weights, never an untracked scratch file). Elsewhere (an installed wheel): every
    file but bytecode, ``__pycache__`` and hidden files.
    """
    folder = Path(folder)
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), "ls-files", "-z", "--cached", "--", "."],
            capture_output=True,
            check=True,
            timeout=60,
        )
        names = [n for n in done.stdout.decode().split("\0") if n]
    except (OSError, subprocess.SubprocessError):
        names = []
    if names:
        return sorted(folder / n for n in names)
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and "__pycache__" not in p.parts
        and p.suffix != ".pyc"
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _package_digest() -> str:
    """sha256 of the tracked files of the installed ``sgdllm`` package (:func:`source_files`)."""
    folder = Path(__file__).resolve().parents[1]  # sgdllm/, not sgdllm/book/
    digest = hashlib.sha256()
    for path in source_files(folder):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(_sha256_file(path).encode() if path.is_file() else b"deleted")
    return digest.hexdigest()


def _library_versions() -> dict[str, str]:
    return library_versions(_KEY_LIBRARIES)


def chapter_models(params: dict[str, Any], declared: dict[str, Any]) -> list[Any]:
    """The language models a chapter reads: its ``model`` parameter and every id of its
    ``models`` list (the model ladder, :mod:`sgdllm.lm.ladder`), after defaults."""
    model = params.get("model", declared.get("model"))
    models = params.get("models", declared.get("models"))
    return [model, *(models if isinstance(models, list | tuple) else [models])]


def chapter_key(
    layout: BookLayout,
    name: str,
    params: dict[str, Any],
    model: Any = None,
) -> str:
    """sha256 (hex) of everything a chapter's outputs depend on.

    Parameters
    ----------
    layout : BookLayout
    name : str
        Chapter name.
    params : dict
        Parameters injected by the executor (profile included, staging paths excluded).
    model : str, None or list of them
        The chapter's models after defaults (:func:`chapter_models`): ``None`` and
        ``"embedded"`` are the embedded model (its weights are package files, already hashed);
        a local directory has its files hashed, a local file (a ``.gguf``) its bytes; any other
        string (a known model name, pinned with its package's version, or a Hub id) enters as
        itself.
    """
    digest = hashlib.sha256()
    digest.update(b"notebook\0" + layout.source(name).read_bytes())
    digest.update(b"params\0" + json.dumps(params, sort_keys=True, default=str).encode())
    digest.update(b"libs\0" + json.dumps(_library_versions(), sort_keys=True).encode())
    digest.update(b"sgdllm\0" + _package_digest().encode())
    for one in model if isinstance(model, list | tuple) else [model]:
        if not isinstance(one, str) or not one:
            continue
        local = Path(one) if Path(one).is_absolute() else layout.root / one
        if local.is_dir():
            digest.update(b"model-dir\0")
            _hash_tree(digest, local)
        elif local.is_file():
            digest.update(b"model-file\0" + _sha256_file(local).encode())
        else:
            digest.update(b"model-id\0" + one.encode())
    if name in AGGREGATES:
        for other in sorted(layout.records.glob("*.json")):
            if other.stem == name:
                continue
            try:
                record = json.loads(other.read_text())
            except (OSError, ValueError):
                record = {}
            digest.update(other.stem.encode() + b"\0" + str(record.get("cache_key")).encode())
    return digest.hexdigest()


def _load_record(layout: BookLayout, name: str) -> dict[str, Any] | None:
    try:
        record = json.loads((layout.records / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def publish_problem(layout: BookLayout, name: str, record: dict[str, Any] | None = None) -> str:
    """What is wrong with the published chapter ``name`` ("" when it is one intact run).

    The record is the commit point of a publication: the notebook and every figure (PNG and
    its JSON record) on disk must have the sha256 the record lists, and the figure folder must
    hold exactly the listed figures. A record from before these hashes were kept counts as
    a problem (the chapter runs again once).
    """
    record = record if record is not None else _load_record(layout, name)
    if record is None:
        return "no readable record"
    notebook = layout.published / f"{name}.ipynb"
    if not notebook.is_file():
        return "no published notebook"
    if record.get("notebook_sha256") != _sha256_file(notebook):
        return "the published notebook is not the one of the record (damaged or another run)"
    folder = layout.figures / name
    listed = record.get("figures", [])
    on_disk = {p.name for p in folder.glob("*.png")} if folder.is_dir() else set()
    if on_disk != {f.get("file") for f in listed}:
        return "the figure folder does not hold the figures of the record"
    for fig in listed:
        png = folder / fig["file"]
        meta = png.with_suffix(".json")
        if fig.get("sha256") != _sha256_file(png):
            return f"figure {fig['file']} is not the one of the record (damaged or another run)"
        if not meta.is_file() or fig.get("record_sha256") != _sha256_file(meta):
            return f"the record of figure {fig['file']} is not the one of this run"
    return ""


def is_up_to_date(layout: BookLayout, name: str, key: str) -> bool:
    """True if the published chapter is one intact run (:func:`publish_problem`) made under
    ``key``."""
    record = _load_record(layout, name)
    if record is None or record.get("cache_key") != key:
        return False
    return not publish_problem(layout, name, record)


# ----------------------------------------------------------------------------- staging


def _lock(fd: int, blocking: bool) -> bool:
    """``flock`` ``fd`` exclusively; False if another open file holds it (non-blocking)."""
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _claim_run_dir(layout: BookLayout, name: str) -> tuple[Path, int]:
    """Create a staging folder for one run and lock it; return it and the lock's descriptor.

    The lock lives as long as the process (the kernel releases it when the process dies, even
    by SIGKILL), which is how :func:`sweep_staging` tells a live run from a killed one.
    """
    layout.staging.mkdir(parents=True, exist_ok=True)
    run_dir = layout.run_dir(name)
    run_dir.mkdir()
    fd = os.open(run_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
    _lock(fd, blocking=True)
    return run_dir, fd


def _is_stale(path: Path, now: float, age: float) -> bool:
    try:
        return now - path.lstat().st_mtime >= age
    except FileNotFoundError:
        return False


def sweep_staging(
    layout: BookLayout, names: list[str] | None = None, min_age: float | None = None
) -> list[Path]:
    """Remove the leftovers of killed builds; return what was removed.

    A staging folder ``_build/executed/<name>.run-<id>`` is removed when no live process locks
    it and it is older than :data:`STALE_AFTER_S`; so are temporary files of interrupted
    writes (``.*.tmp``, ``*.ipynb.tmp``) and the scratch files of older versions
    (``.inspect-*.ipynb``, ``*.input.ipynb``, ``.<name>.old-*`` figure folders). Runs of a
    concurrent build are locked and kept. ``names`` limits the sweep to the staging folders of
    those chapters; ``min_age`` replaces :data:`STALE_AFTER_S` (0 right after killing them).
    """
    now = time.time()
    age = STALE_AFTER_S if min_age is None else min_age
    removed: list[Path] = []
    candidates: list[Path] = []
    if names is not None:
        candidates += [p for n in names for p in layout.staging.glob(f"{n}.run-*")]
    elif layout.staging.is_dir():
        candidates += list(layout.staging.glob("*.run-*")) + list(layout.staging.glob("*.run"))
        candidates += list(layout.staging.glob(".inspect-*.ipynb"))
        candidates += list(layout.staging.glob("*.input.ipynb"))
    if names is None and layout.figures.is_dir():
        candidates += list(layout.figures.glob(".*.old-*")) + list(layout.figures.glob(".*.tmp"))
    if names is None and layout.records.is_dir():
        candidates += list(layout.records.glob(".*.tmp"))
    if names is None and layout.published.is_dir():
        candidates += list(layout.published.glob("*.ipynb.tmp"))
    for path in candidates:
        if not _is_stale(path, now, age):
            continue
        if path.is_dir() and not path.is_symlink():
            lock = path / ".lock"
            if lock.is_file():
                fd = os.open(lock, os.O_RDWR)
                try:
                    if not _lock(fd, blocking=False):
                        continue  # a live run
                    shutil.rmtree(path, ignore_errors=True)
                finally:
                    os.close(fd)
            else:
                shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


@contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder`` (serializes publications into it)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        _lock(fd, blocking=True)
        yield
    finally:
        os.close(fd)


@contextmanager
def _environ(updates: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore them."""
    saved = {name: os.environ.get(name) for name in updates}
    os.environ.update(updates)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# ----------------------------------------------------------------------------- one chapter


@dataclass(frozen=True)
class _Plan:
    """One chapter to execute: its injected parameters (without ``records_dir``) and key."""

    name: str
    profile: str
    params: dict[str, Any]
    key: str


def _plan(
    layout: BookLayout,
    name: str,
    profile: str,
    overrides: dict[str, Any] | None,
    force: bool,
) -> _Plan | None:
    """Resolve and check the parameters and key of a chapter; ``None`` if it is up to date."""
    params, declared = _resolve_parameters(layout, name, profile, overrides)
    params["profile"] = profile
    key = chapter_key(layout, name, params, chapter_models(params, declared))
    if not force and is_up_to_date(layout, name, key):
        return None
    return _Plan(name, profile, params, key)


def execute_chapter(
    layout: BookLayout,
    name: str,
    profile: str = "book",
    overrides: dict[str, Any] | None = None,
    *,
    force: bool = True,
    threads: int | None = None,
    timeout: float | None = None,
) -> Path | None:
    """Execute one chapter with papermill (in this process) and publish it.

    The notebook runs in ``layout.root`` with the profile's parameters plus ``records_dir`` (a
    staging folder) and ``profile``. Everything of the run is staged in its own folder; only
    after a clean run are the figures, the notebook and, last, the record (with the sha256 of
    the other two) renamed into place (see the module docstring).

    Parameters
    ----------
    force : bool
        Execute even if the chapter is up to date (see :func:`chapter_key`); with
        ``force=False`` an up-to-date chapter is skipped and ``None`` returned.
    threads : int, optional
        Threads per kernel (``OMP_NUM_THREADS``); default: the environment's.
    timeout : float, optional
        Seconds one cell may run; default: the profile's ``cell_timeout_s`` or
        :data:`DEFAULT_CELL_TIMEOUT_S`.

    Raises
    ------
    ChapterFailed
        Naming the notebook, the failing cell and the error (an exception, a dead kernel or a
        cell past its time limit); the executed notebook stays in ``_build/executed/``, and
        nothing of the failed run is published.
    """
    timeout = (
        profile_timeout(layout, profile) if timeout is None else _check_timeout(timeout, "timeout")
    )
    plan = _plan(layout, name, profile, overrides, force)
    if plan is None:
        return None
    return _run_chapter(layout, plan, threads=threads, timeout=timeout)


def _cell_label(notebook: Path, index: int | None) -> str:
    """``cell <index> (<its first line>)`` of an executed notebook, as far as known."""
    if index is None:
        return "a cell"
    try:
        cell = json.loads(notebook.read_text())["cells"][index]
        text = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return f"cell {index}"
    first = first if len(first) <= 60 else first[:57] + "..."
    return f"cell {index} (`{first}`)" if first else f"cell {index}"


def _running_cell(notebook: Path) -> int | None:
    """Index of the cell papermill was running when execution stopped (the last started)."""
    try:
        cells = json.loads(notebook.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return None
    started = [
        i
        for i, c in enumerate(cells)
        if c.get("metadata", {}).get("papermill", {}).get("start_time")
    ]
    return started[-1] if started else None


def _failure_message(
    name: str, source: Path, executed: Path, kept: Path | None, err: BaseException, timeout: float
) -> str:
    """One paragraph naming chapter, cell and cause, for an error papermill did not turn into
    a ``PapermillExecutionError`` (dead kernel, cell timeout, kernel that never started)."""
    import papermill

    where = f"chapter {name!r} ({source})"
    keep = f"\nthe executed notebook is kept at {kept}" if kept else ""
    if isinstance(err, papermill.PapermillExecutionError):
        return (
            f"{where} failed in {_cell_label(executed, err.cell_index)} (execution count "
            f"{err.exec_count}): {err.ename}: {err.evalue}{keep}"
        )
    cell = _cell_label(executed, _running_cell(executed))
    kind = type(err).__name__
    if kind == "DeadKernelError":
        return (
            f"{where}: the kernel died while running {cell} (killed, e.g. for lack of memory, "
            f"a segfault, or os._exit){keep}"
        )
    if kind == "CellTimeoutError" or isinstance(err, TimeoutError):
        return (
            f"{where}: {cell} ran longer than the cell time limit of {timeout:g} s; raise it "
            f"with --timeout SECONDS (or cell_timeout_s in the profile) if it needs longer{keep}"
        )
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{where}: execution stopped in {cell}: {kind}: {first}{keep}"


def _rename(src: Path, dst: Path) -> None:
    """One step of a publication (a module function so that tests can interrupt it)."""
    os.replace(src, dst)


def _run_chapter(
    layout: BookLayout,
    plan: _Plan,
    *,
    threads: int | None,
    timeout: float,
    parent_pid: int | None = None,
) -> Path:
    """Execute a planned chapter in a locked staging folder, then publish it as one unit."""
    import jupytext
    import papermill

    name = plan.name
    source = layout.source(name)
    run_dir, lock_fd = _claim_run_dir(layout, name)
    try:
        run_records = run_dir / "records"
        run_figures = run_dir / "figures" / name
        run_records.mkdir(parents=True)
        staged_input = run_dir / "input.ipynb"
        executed = run_dir / "executed.ipynb"
        jupytext.write(jupytext.read(source), staged_input)
        start = time.perf_counter()
        try:
            with _kernel_env(threads, layout.laws_cache):
                papermill.execute_notebook(
                    str(staged_input),
                    str(executed),
                    parameters={**plan.params, "records_dir": str(run_records)},
                    kernel_name=KERNEL_NAME,
                    cwd=str(layout.root),
                    progress_bar=False,
                    execution_timeout=timeout,
                )
        except Exception as err:  # nothing of a failed run is published
            kept = None
            if executed.is_file():
                kept = layout.staging / f"{name}.ipynb"
                os.replace(executed, kept)
            message = _failure_message(name, source, kept or executed, kept, err, timeout)
            raise ChapterFailed(message) from None
        wall = time.perf_counter() - start
        numbers_file = run_records / f"{name}.numbers.json"
        numbers = json.loads(numbers_file.read_text()) if numbers_file.is_file() else {}
        run_figures.mkdir(parents=True, exist_ok=True)
        figures, run_id = _finish_figures(
            name, run_figures, plan.profile, plan.params, plan.key, wall
        )
        arrays = sorted(p.stem for p in run_figures.glob("*.npz"))
        notebook = run_dir / "chapter.ipynb"
        notebook.write_text(_portable_notebook(executed.read_text(), layout, name, arrays))
        record = {
            "chapter": name,
            "source": str(source.relative_to(layout.root)),
            "profile": plan.profile,
            "parameters": plan.params,
            "wall_time_s": round(wall, 2),
            "numbers": numbers,
            "figures": figures,
            "arrays": arrays,
            "run_id": run_id,
            "cache_key": plan.key,
            "notebook_sha256": _sha256_file(notebook),
            **provenance(layout.root),
        }
        write_json_atomic(run_dir / "record.json", record)
        _publish(layout, name, run_dir, parent_pid)
        return layout.published / f"{name}.ipynb"
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
        os.close(lock_fd)


def _publish(layout: BookLayout, name: str, run_dir: Path, parent_pid: int | None) -> None:
    """Rename the staged figures, notebook and (last: the commit point) record into place.

    Publications of one book are serialized by a lock on the records folder. A worker whose
    build is gone (``parent_pid`` no longer its parent) publishes nothing.
    """
    for folder in (layout.published, layout.figures):
        folder.mkdir(parents=True, exist_ok=True)
    with _folder_lock(layout.records):
        if parent_pid is not None and os.getppid() != parent_pid:
            raise _Orphaned(f"the build that started chapter {name!r} is gone")
        figures = layout.figures / name
        if figures.exists():
            _rename(figures, run_dir / "previous-figures")
        _rename(run_dir / "figures" / name, figures)
        _rename(run_dir / "chapter.ipynb", layout.published / f"{name}.ipynb")
        _rename(run_dir / "record.json", layout.records / f"{name}.json")


def _portable_notebook(
    text: str, layout: BookLayout, name: str, arrays: list[str] | tuple[str, ...] = ()
) -> str:
    """The executed notebook as readers get it: papermill's injected ``records_dir`` (a staging
    folder of this machine) is reset to the default ``"_build/records"`` and its metadata paths
    are made relative to the repository, so that the published notebook shows no local path and
    reruns anywhere (Binder, Colab, a download). Scaffolding is hidden
    (:func:`_quiet_scaffolding`, :func:`_hide_record_calls`), figures numbered
    (:func:`_number_figures`), and a last section links the chapter's downloads
    (:func:`_downloads_cell`: its record and the ``arrays`` it saved)."""
    nb = json.loads(text)
    meta = nb.get("metadata", {}).get("papermill", {})
    if meta:
        meta["input_path"] = str(layout.source(name).relative_to(layout.root))
        meta["output_path"] = f"book/chapters/{name}.ipynb"
        meta.pop("cwd", None)
        if "records_dir" in meta.get("parameters", {}):
            meta["parameters"]["records_dir"] = "_build/records"
    for cell in nb.get("cells", []):
        if "injected-parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        source = cell["source"]
        lines = source.splitlines(keepends=True) if isinstance(source, str) else list(source)
        cell["source"] = [
            'records_dir = "_build/records"\n' if line.startswith("records_dir = ") else line
            for line in lines
        ]
    _quiet_scaffolding(nb)
    _hide_record_calls(nb)
    _number_figures(nb, name)
    nb.setdefault("cells", []).append(_downloads_cell(layout, name, arrays))
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def _downloads_cell(layout: BookLayout, name: str, arrays: list[str] | tuple[str, ...]) -> dict:
    """A Markdown cell linking (Sphinx ``{download}``, paths from the book's root) the chapter's
    record, ``<records>/<name>.json`` (every recorded number with its provenance), and each
    ``<figures>/<name>/<array>.npz`` that :meth:`sgdllm.book.records.Recorder.arrays` saved."""
    records = layout.records.relative_to(layout.root).as_posix()
    figures = layout.figures.relative_to(layout.root).as_posix()
    lines = [
        "## Downloads\n",
        "\n",
        f"- {{download}}`The chapter's numbers and their provenance (JSON) "
        f"</{records}/{name}.json>`\n",
    ]
    lines += [
        f"- {{download}}`Arrays: {a} (NumPy .npz) </{figures}/{name}/{a}.npz>`\n" for a in arrays
    ]
    return {"cell_type": "markdown", "id": "sgdllm-downloads", "metadata": {}, "source": lines}


def _add_tag(cell: dict[str, Any], tag: str) -> None:
    tags = cell.setdefault("metadata", {}).setdefault("tags", [])
    if tag not in tags:
        tags.append(tag)


def _quiet_scaffolding(nb: dict[str, Any]) -> None:
    """Hide what a reader need not see: papermill's injected parameters cell is removed from
    the page (``remove-cell``; the notebook keeps it, so it reruns as it ran), and the chapter's
    own ``parameters`` cell is folded (``hide-input``: one click shows the settings)."""
    for cell in nb.get("cells", []):
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags:
            _add_tag(cell, "remove-cell")
        elif "parameters" in tags:
            _add_tag(cell, "hide-input")


def _is_record_call(statement: ast.stmt) -> bool:
    """Whether a top-level statement is a bare call on the chapter's recorder: ``record(...)``
    or ``record.<method>(...)`` (``record.figure``)."""
    if not isinstance(statement, ast.Expr) or not isinstance(statement.value, ast.Call):
        return False
    func = statement.value.func
    if isinstance(func, ast.Attribute):
        func = func.value
    return isinstance(func, ast.Name) and func.id == "record"


def _hide_record_calls(nb: dict[str, Any]) -> None:
    """Take the recorder's calls out of the code a reader sees.

    A chapter reports its numbers with top-level ``record(name, value)`` statements and saves its
    figures with ``record.figure(...)``: bookkeeping for the claims tests and the glued text, not
    code a reader learns from. In the published notebook each such statement (all its lines) is
    removed from its cell's source; the cell's outputs stay as they ran (the glued values, the
    figure, the table). A cell left with no code has its input removed from the page
    (``remove-input``) and keeps a comment: myst-nb drops a cell with an empty source, outputs
    and all.
    Calls nested in a loop or a function, and lines shared with another statement, stay. The
    chapter's source in ``notebooks/`` keeps every call: rerun it to record.
    """
    for cell in nb.get("cells", []):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.get("cell_type") != "code" or "injected-parameters" in tags:
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        try:
            body = ast.parse(source).body
        except SyntaxError:  # IPython magics: leave the cell as it is
            continue
        kept_lines: set[int] = set()
        for statement in body:
            if not _is_record_call(statement):
                kept_lines.update(range(statement.lineno, statement.end_lineno + 1))
        dropped = {
            line
            for statement in body
            if _is_record_call(statement)
            for line in range(statement.lineno, statement.end_lineno + 1)
            if line not in kept_lines
        }
        if not dropped:
            continue
        lines = [
            line
            for number, line in enumerate(source.splitlines(keepends=True), start=1)
            if number not in dropped
        ]
        text = "".join(lines).rstrip()
        if not ast.parse(text).body:  # nothing but comments or blank lines left
            # myst-nb skips a cell whose source is empty, outputs and all (a table or figure
            # shown by a record call would vanish from the page): keep a comment, hide it.
            text = text or "# shown by the recorder (its call is in notebooks/, the source)"
            _add_tag(cell, "remove-input")
        cell["source"] = text.splitlines(keepends=True)


def published_lines(source: str | os.PathLike[str]) -> tuple[int, int]:
    """Lines of code and of narrative a reader sees on a chapter's page.

    The chapter's source (``notebooks/<name>.md``) is read as the executor publishes it: the
    recorder's calls are taken out (:func:`_hide_record_calls`), and cells tagged
    ``remove-cell``, ``remove-input`` or ``parameters`` (folded) are not counted. Code lines
    are the remaining non-blank lines of code cells that are not comments only; narrative lines
    are the non-blank lines of Markdown cells (prose, equations, directives).

    Returns
    -------
    (int, int)
        ``(code, narrative)``: a chapter narrates when ``code < narrative``.
    """
    import jupytext

    nb = jupytext.read(source)
    _hide_record_calls(nb)
    code = narrative = 0
    for cell in nb.cells:
        text = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if cell.cell_type == "markdown":
            narrative += len(lines)
        elif cell.cell_type == "code":
            if {"remove-cell", "remove-input", "parameters"} & set(cell.metadata.get("tags", [])):
                continue
            code += sum(not line.startswith("#") for line in lines)
    return code, narrative


def _number_figures(nb: dict[str, Any], name: str) -> None:
    """Turn each figure shown by :meth:`sgdllm.book.records.Recorder.figure` into a numbered figure.

    The figure's output carries ``metadata.sgdllm.figure`` (label, caption, alt text); its
    caption follows as a Markdown output (``metadata.sgdllm.caption_of``) for readers of the
    notebook in Jupyter. For the book, the caption output is dropped and the cell gets myst-nb's
    ``mystnb.figure`` (name, caption) and ``mystnb.image`` (alt) metadata, which wrap the cell's
    image in a numbered figure that ``{numref}`` cites. myst-nb wraps every rich output of the
    cell, so a figure must be the cell's only one: anything else is a ``ValueError`` naming the
    cell and the fix.
    """
    code_cells = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    for index, cell in enumerate(code_cells, start=1):
        outputs = cell.get("outputs", [])
        figures = [o for o in outputs if o.get("metadata", {}).get("sgdllm", {}).get("figure")]
        if not figures:
            continue
        rich = [
            o
            for o in outputs
            if o.get("output_type") in ("display_data", "execute_result")
            and not o.get("metadata", {}).get("sgdllm", {}).get("caption_of")
            and not any(k.startswith("application/papermill.record/") for k in o.get("data", {}))
        ]
        if len(figures) > 1 or len(rich) > 1:
            labels = ", ".join(f["metadata"]["sgdllm"]["figure"]["label"] for f in figures)
            raise ValueError(
                f"chapter {name!r}, code cell {index} (counting papermill's parameters cell) "
                f"shows {len(rich)} rich outputs, among them the figure(s) {labels}: a numbered "
                "figure must be the only rich output of its cell. Put each record.figure(...) "
                "call in a cell of its own."
            )
        meta = figures[0]["metadata"]["sgdllm"]["figure"]
        cell["outputs"] = [
            o for o in outputs if not o.get("metadata", {}).get("sgdllm", {}).get("caption_of")
        ]
        mystnb = cell.setdefault("metadata", {}).setdefault("mystnb", {})
        mystnb["figure"] = {"name": meta["label"], "caption": meta["caption"]}
        mystnb["image"] = {"alt": meta["alt"]}


#: Warnings filtered out of the kernels (``PYTHONWARNINGS`` syntax): importing ``tqdm.auto``
#: (as transformers does) in a kernel without ipywidgets warns "IProgress not found" with the
#: path of this machine's site-packages; the book's own bars are plain text (``tqdm.tqdm``), so
#: the warning says nothing to a reader and would leak a local path into every chapter.
KERNEL_WARNING_FILTERS = ("ignore:IProgress not found",)


def _kernel_env(threads: int | None, laws_cache: Path | None = None) -> Any:
    """Environment the kernel inherits: inline figures, quiet imports, ``threads`` threads and
    the laws cache (``SGDLLM_LAWS_CACHE``, see :func:`sgdllm.lm.ladder.laws_cache_dir`).

    The kernel inherits this process' environment; a non-interactive backend there (such as
    ``MPLBACKEND=Agg``, common on servers and CI) would make every ``plt.show()`` a silent no-op
    and the book would lose its figures, so the inline backend is forced.
    :data:`KERNEL_WARNING_FILTERS` are added before any ``PYTHONWARNINGS`` already set (later
    entries take precedence, so the caller's own filters still win).
    """
    warnings_env = ",".join(
        [*KERNEL_WARNING_FILTERS, *filter(None, [os.environ.get("PYTHONWARNINGS")])]
    )
    updates = {
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "PYTHONWARNINGS": warnings_env,
    }
    if laws_cache is not None:
        updates["SGDLLM_LAWS_CACHE"] = str(laws_cache)
    if threads is not None:
        names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
        updates.update({name: str(threads) for name in names})
    return _environ(updates)


def _finish_figures(
    name: str,
    folder: Path,
    profile: str,
    params: dict[str, Any],
    key: str,
    wall: float,
) -> tuple[list[dict[str, Any]], str | None]:
    """Complete the figure records of a clean run; return their summary (with the sha256 of
    each PNG and of its record) and the run id."""
    figures: list[dict[str, Any]] = []
    run_ids = set()
    for meta in sorted(folder.glob("*.json")):
        record = json.loads(meta.read_text())
        png = folder / record["file"]
        if not png.is_file() or png.stat().st_size == 0:
            raise ChapterFailed(f"chapter {name!r}: figure {record['figure']!r} has no image file")
        record.update(profile=profile, parameters=params, cache_key=key)
        record["chapter_wall_time_s"] = round(wall, 2)
        write_json_atomic(meta, record)
        run_ids.add(record["run_id"])
        figures.append(
            {
                "figure": record["figure"],
                "file": record["file"],
                "caption": record["caption"],
                "sha256": _sha256_file(png),
                "record_sha256": _sha256_file(meta),
            }
        )
    if len(run_ids) > 1:
        raise ChapterFailed(
            f"chapter {name!r} saved figures from {len(run_ids)} Recorder objects; create one "
            f"Recorder per chapter"
        )
    return figures, (run_ids.pop() if run_ids else None)


FIGURE_CALL = re.compile(r"""record\.figure\(\s*[^,]+,\s*["']([a-z0-9][a-z0-9_-]*)["']""")


def expected_figures(layout: BookLayout, name: str) -> list[str]:
    """Figure names a chapter's source saves (``record.figure(fig, "name", ...)`` calls)."""
    return FIGURE_CALL.findall(layout.source(name).read_text())


def write_manifest(layout: BookLayout, chapters: list[str]) -> Path:
    """Write ``_build/figures/manifest.json``: every published figure, its size and sha256.

    Only chapters whose published files are one intact run (:func:`publish_problem`) are
    listed; a damaged or half-published chapter is left out until it runs again.
    """
    entries = []
    for name in chapters:
        record = _load_record(layout, name)
        if record is None or publish_problem(layout, name, record):
            continue
        for fig in record.get("figures", []):
            png = layout.figures / name / fig["file"]
            entries.append(
                {
                    "chapter": name,
                    "figure": fig["figure"],
                    "file": str(png.relative_to(layout.root)),
                    "bytes": png.stat().st_size,
                    "sha256": fig["sha256"],
                    "run_id": record.get("run_id"),
                    "cache_key": record.get("cache_key"),
                }
            )
    return write_json_atomic(layout.figures / "manifest.json", {"figures": entries})


def build_html(layout: BookLayout, strict: bool = True) -> None:
    """Run ``jupyter-book build --all`` on the root (``-n -W --keep-going`` when ``strict``).

    The HTML folder is removed first and every page is written again: Sphinx never deletes
    pages whose source is gone, and a stale page would be served (and tested) as if current.
    """
    exe = Path(sys.executable).with_name("jupyter-book")
    shutil.rmtree(layout.html, ignore_errors=True)
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", "--all", str(layout.root)]
    if strict:
        cmd += ["-n", "-W", "--keep-going"]
    done = subprocess.run(cmd, check=False)
    if done.returncode != 0:
        raise ChapterFailed(
            f"jupyter-book build failed (exit {done.returncode}): its log above names the "
            f"warnings; with -W every warning fails the build. Command: {' '.join(cmd)}"
        )


# ----------------------------------------------------------------------------- processes


def _die_with_parent(parent_pid: int) -> None:
    """Make this worker die when the build process ``parent_pid`` does.

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``; everywhere: a watchdog thread that checks the
    parent every 0.2 s. Either way the worker cannot publish after its build is gone (and
    :func:`_publish` checks once more); its kernel exits within a second after it (ipykernel
    polls its parent, ``JPY_PARENT_PID``).
    """
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="sgdllm-parent-watch", daemon=True).start()


def _worker_main(
    conn: Any, parent_pid: int, root: str, plan: _Plan, threads: int, timeout: float
) -> None:
    """Entry of a worker process: run one planned chapter, send the outcome to the build.

    SIGINT is ignored (a terminal sends Ctrl-C to the whole process group; the build decides
    and kills the workers itself).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # started while the build held the signals back: the kernel must not inherit that mask
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    _die_with_parent(parent_pid)
    import logging

    # papermill logs "Kernel died while waiting for execute reply." before raising; the
    # message sent to the build names the chapter and the cell instead
    logging.getLogger("papermill").setLevel(logging.CRITICAL)
    start = time.perf_counter()
    try:
        out = _run_chapter(
            BookLayout(Path(root)), plan, threads=threads, timeout=timeout, parent_pid=parent_pid
        )
        conn.send(("ok", str(out), time.perf_counter() - start))
    except _Orphaned:
        os._exit(1)
    except ChapterFailed as err:
        conn.send(("failed", str(err), 0.0))
    except Exception as err:  # report it as the chapter's failure, never silently
        conn.send(("failed", f"chapter {plan.name!r}: {type(err).__name__}: {err}", 0.0))
    finally:
        conn.close()


def _kill_trees(pids: list[int]) -> None:
    """SIGKILL the workers ``pids`` and every process below them (a kernel runs in its own
    session, so a process-group signal would miss it), all at once; then wait until none of
    them runs any more (a killed grandchild may stay a zombie until its new parent reaps it)."""
    import psutil

    procs = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            procs += [*proc.children(recursive=True), proc]
        except psutil.NoSuchProcess:
            continue
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass

    def running(p: Any) -> bool:
        try:
            return p.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    end = time.monotonic() + 5
    while any(running(p) for p in procs) and time.monotonic() < end:
        time.sleep(0.02)


@contextmanager
def _signals_raise() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise :class:`BuildInterrupted` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise BuildInterrupted(signum)

    saved = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, old in saved.items():
            signal.signal(s, old)


@contextmanager
def _signals_blocked() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back during the block (cleanup must not be interrupted)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    blocked = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _run_workers(
    root: Path,
    plans: list[_Plan],
    jobs: int,
    threads: int,
    timeout: float,
    on_result: Callable[[str, tuple[str, str, float]], None],
) -> None:
    """Run ``plans`` in at most ``jobs`` worker processes; ``on_result(name, outcome)`` each.

    On any exception (above all :class:`BuildInterrupted`) the running workers and their
    kernels are killed before it propagates, and no queued chapter starts.
    """
    import multiprocessing
    from multiprocessing.connection import wait

    ctx = multiprocessing.get_context("spawn")
    pending = list(plans)
    running: dict[Any, tuple[str, Any]] = {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                plan = pending.pop(0)
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(
                    target=_worker_main,
                    args=(send, os.getpid(), str(root), plan, threads, timeout),
                    name=f"sgdllm-book-{plan.name}",
                    daemon=True,
                )
                with _signals_blocked():  # a started worker is always known, hence killable
                    proc.start()
                    running[recv] = (plan.name, proc)
                send.close()
            for conn in wait(list(running), timeout=1.0):
                name, proc = running.pop(conn)
                try:
                    outcome = conn.recv()
                except (EOFError, OSError):
                    proc.join(timeout=10)
                    outcome = (
                        "failed",
                        f"chapter {name!r}: its worker process died (exit code {proc.exitcode}) "
                        f"before reporting; nothing of the run was published",
                        0.0,
                    )
                conn.close()
                proc.join(timeout=10)
                on_result(name, outcome)
    except BaseException:
        with _signals_blocked():
            _kill_trees([proc.pid for _, proc in running.values()])
            for conn, (_, proc) in running.items():
                proc.join(timeout=5)
                conn.close()
            killed = [name for name, _ in running.values()]
            if killed:  # their staging folders, now unlocked
                sweep_staging(BookLayout(root), names=killed, min_age=0)
        raise


def build_book(
    root: Path,
    profile: str = "book",
    chapters: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    html: bool = True,
    *,
    force: bool = False,
    jobs: int | None = None,
    progress: bool = True,
    timeout: float | None = None,
) -> list[Path]:
    """Execute chapters (default: all in ``_toc.yml``) and build the HTML book.

    Every input is checked first (chapters, parameters against their declared types, jobs,
    timeout), before anything runs. Chapters whose inputs did not change since their published
    run are skipped (see :func:`chapter_key`; ``force=True`` executes them anyway). Stale
    chapters run in worker processes, ``jobs`` at once (default ``min(2, cores)``);
    aggregating chapters (:data:`AGGREGATES`) run after the others. A failing chapter does not
    stop the others; the command then raises :class:`ChapterFailed` naming every failed
    notebook and cell, and builds no HTML. SIGINT / SIGTERM kill the workers and raise
    :class:`BuildInterrupted`. Leftovers of killed builds are swept first
    (:func:`sweep_staging`).

    Parameters
    ----------
    timeout : float, optional
        Seconds one cell may run; default: the profile's ``cell_timeout_s`` or
        :data:`DEFAULT_CELL_TIMEOUT_S`.

    Returns
    -------
    list of Path
        Published notebooks of the chapters that were executed (skipped ones excluded).
    """
    from tqdm import tqdm

    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ValueError(
            f"jobs must be a positive number of chapters run at once, got {jobs!r}; leave it "
            f"out for the default (2, or 1 on a single core)"
        )
    layout = BookLayout(Path(root))
    known = chapter_names(layout.root)
    todo = list(chapters or known)
    missing = [c for c in todo if c not in known]
    if missing:
        raise ValueError(f"unknown chapter(s) {missing}; _toc.yml lists {known}")
    if overrides and len(todo) > 1:
        raise ValueError("parameter overrides apply to one chapter: pass --chapter NAME too")
    timeout = (
        profile_timeout(layout, profile) if timeout is None else _check_timeout(timeout, "timeout")
    )
    for name in todo:  # every parameter checked before anything runs
        _resolve_parameters(layout, name, profile, overrides)
    cores = os.cpu_count() or 1
    jobs = max(1, min(jobs or min(2, cores), len(todo)))
    sweep_staging(layout)
    first = [c for c in todo if c not in AGGREGATES]
    last = [c for c in todo if c in AGGREGATES]
    published: list[Path] = []
    failures: dict[str, str] = {}
    bar = tqdm(total=len(todo), desc=f"chapters ({profile})", unit="nb", disable=not progress)

    def on_result(name: str, outcome: tuple[str, str, float]) -> None:
        status, text, seconds = outcome
        if status == "ok":
            published.append(Path(text))
            bar.set_postfix_str(f"{name}: {seconds:.0f} s")
        else:
            failures[name] = text
            bar.set_postfix_str(f"{name}: failed")
        bar.update()

    try:
        with _signals_raise():
            for group, n_jobs in ((first, jobs), (last, 1)):
                plans = []
                for name in group:  # aggregates are keyed on the records of the first group
                    plan = _plan(layout, name, profile, overrides, force)
                    if plan is None:
                        bar.set_postfix_str(f"{name}: up to date")
                        bar.update()
                    else:
                        plans.append(plan)
                threads = max(1, cores // max(1, min(n_jobs, len(plans))))
                _run_workers(layout.root, plans, n_jobs, threads, timeout, on_result)
    except BuildInterrupted as err:
        bar.leave = False
        bar.close()
        with _signals_blocked():
            write_manifest(layout, known)
        raise BuildInterrupted(err.signum, published) from None
    bar.close()
    write_manifest(layout, known)
    if failures:
        raise ChapterFailed("\n".join(failures.values()), failed=failures)
    if html:
        unexecuted = [c for c in known if not (layout.published / f"{c}.ipynb").is_file()]
        if unexecuted:
            raise ChapterFailed(
                f"cannot build the HTML: chapter(s) {unexecuted} were never executed; run "
                f"`sgdllm book` without --chapter once"
            )
        build_html(layout)
    return published
