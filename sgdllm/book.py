"""Executing the book: papermill runs every chapter, then Jupyter Book builds the HTML.

Layout (all paths relative to the repository root, the folder holding ``_config.yml``)::

    notebooks/<name>.md            chapter source (jupytext MyST), the only committed form
    notebooks/profiles.yml         named parameter profiles ("book": published, "ci": fast)
    _build/executed/<name>.ipynb   staging: papermill's output, kept with its traceback on failure
    _build/executed/<name>.run/    staging: the numbers and figures of the run in progress
    book/chapters/<name>.ipynb     published copy, replaced only after a clean run
    _build/figures/<name>/         the chapter's figures (PNG) and their records (JSON)
    _build/figures/manifest.json   every published figure: chapter, size, sha256, run id
    _build/records/<name>.json     numbers, parameters, figures, provenance and cache key
    _build/html/                   the built book

Jupyter Book never executes anything (``execute_notebooks: off``); it renders the published
copies listed in ``_toc.yml``. Executed notebooks are never written next to their ``.md``
sources, since Jupyter Book refuses to build with ``-W`` when both forms sit in one folder.

Caching (as showyourwork does): a chapter is executed again only when its *key* changed, a
sha256 over the notebook text, the resolved parameters and profile, every file of the installed
``sgdllm`` package (its source and the embedded model's weights), the weights of a local model
passed as the ``model`` parameter (a Hub id enters as its name), and the versions of Python and
the numerical libraries. Aggregating chapters (:data:`AGGREGATES`, the reproducibility
appendix) also key on the other chapters' records and run after them.

Parallelism: stale chapters run in ``jobs`` worker processes (default: one per core, at most
two); each kernel gets ``cores // jobs`` threads (``OMP_NUM_THREADS``) so that two chapters do
not fight over the same cores.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml

from .records import provenance, write_json_atomic

__all__ = [
    "AGGREGATES",
    "BookLayout",
    "ChapterFailed",
    "build_book",
    "build_html",
    "chapter_key",
    "chapter_names",
    "chapter_parameters",
    "execute_chapter",
    "expected_figures",
    "find_root",
    "is_up_to_date",
    "parse_overrides",
    "write_manifest",
]

KERNEL_NAME = "python3"

#: Chapters that read the other chapters' records: executed last, keyed on those records.
AGGREGATES = ("reproducibility",)

#: Libraries whose versions enter the cache key.
_KEY_LIBRARIES = ("numpy", "scipy", "pot", "torch", "transformers", "matplotlib", "papermill")


class ChapterFailed(RuntimeError):
    """A chapter notebook raised while papermill executed it.

    ``failed`` maps each failed chapter to its message (empty when the failure is not a
    chapter's, e.g. the HTML build).
    """

    def __init__(self, message: str, failed: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.failed = dict(failed or {})


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
    def html(self) -> Path:
        return self.root / "_build" / "html"

    def source(self, name: str) -> Path:
        return self.notebooks / f"{name}.md"

    def run_dir(self, name: str) -> Path:
        """A fresh staging folder for one run: ``records/`` and ``figures/<name>/``.

        Unique per call, so two executions of one chapter never mix their figures.
        """
        return self.staging / f"{name}.run-{uuid.uuid4().hex[:12]}"


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


def chapter_names(root: str | os.PathLike[str]) -> list[str]:
    """Chapters in ``_toc.yml`` order: the entries that point into ``book/chapters/``."""
    toc = yaml.safe_load((Path(root) / "_toc.yml").read_text())
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
    return _resolve_parameters(layout, name, profile, overrides)[0]


def _resolve_parameters(
    layout: BookLayout, name: str, profile: str, overrides: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(parameters to inject, declared defaults)``; see :func:`chapter_parameters`."""
    params = {**load_profile(layout, profile).get(name, {}), **(overrides or {})}
    declared = declared_parameters(layout.source(name))
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise ValueError(
            f"chapter {name!r} has no parameter(s) {unknown}; its parameters cell declares "
            f"{sorted(declared)}"
        )
    return params, declared


# ----------------------------------------------------------------------------- cache keys


def _hash_tree(digest: Any, folder: Path) -> None:
    """Feed every file below ``folder`` (sorted, caches and bytecode skipped) into ``digest``."""
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())


def _package_digest() -> str:
    """sha256 of every file of the installed ``sgdllm`` package (embedded model included)."""
    digest = hashlib.sha256()
    _hash_tree(digest, Path(__file__).resolve().parent)
    return digest.hexdigest()


def _library_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for lib in _KEY_LIBRARIES:
        try:
            out[lib] = version(lib)
        except PackageNotFoundError:
            out[lib] = "absent"
    return out


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
    model : str or None
        The chapter's ``model`` parameter after defaults: ``None`` is the embedded model (its
        weights are package files, already hashed); a local directory has its files hashed; any
        other string (a Hub id) enters as itself.
    """
    digest = hashlib.sha256()
    digest.update(b"notebook\0" + layout.source(name).read_bytes())
    digest.update(b"params\0" + json.dumps(params, sort_keys=True, default=str).encode())
    digest.update(b"libs\0" + json.dumps(_library_versions(), sort_keys=True).encode())
    digest.update(b"sgdllm\0" + _package_digest().encode())
    if isinstance(model, str) and model:
        local = Path(model) if Path(model).is_absolute() else layout.root / model
        if local.is_dir():
            digest.update(b"model-dir\0")
            _hash_tree(digest, local)
        else:
            digest.update(b"model-id\0" + model.encode())
    if name in AGGREGATES:
        for other in sorted(layout.records.glob("*.json")):
            if other.stem == name:
                continue
            record = json.loads(other.read_text())
            digest.update(other.stem.encode() + b"\0" + str(record.get("cache_key")).encode())
    return digest.hexdigest()


def is_up_to_date(layout: BookLayout, name: str, key: str) -> bool:
    """True if the published chapter, its record and its figures were made under ``key``."""
    record_file = layout.records / f"{name}.json"
    if not record_file.is_file() or not (layout.published / f"{name}.ipynb").is_file():
        return False
    try:
        record = json.loads(record_file.read_text())
    except json.JSONDecodeError:
        return False
    if record.get("cache_key") != key:
        return False
    figures = layout.figures / name
    return all((figures / f["file"]).is_file() for f in record.get("figures", []))


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


def execute_chapter(
    layout: BookLayout,
    name: str,
    profile: str = "book",
    overrides: dict[str, Any] | None = None,
    *,
    force: bool = True,
    threads: int | None = None,
) -> Path | None:
    """Execute one chapter with papermill and publish it; return the published notebook.

    The notebook runs in ``layout.root`` with the profile's parameters plus ``records_dir`` (a
    staging folder) and ``profile``. Its numbers and figures go to ``_build/executed/<name>.run``;
    only after a clean run are the figures (with parameters and profile added to their records)
    moved to ``_build/figures/<name>/``, the notebook copied to ``book/chapters/`` and, last, its
    record written to ``_build/records/<name>.json``.

    Parameters
    ----------
    force : bool
        Execute even if the chapter is up to date (see :func:`chapter_key`); with
        ``force=False`` an up-to-date chapter is skipped and ``None`` returned.
    threads : int, optional
        Threads per kernel (``OMP_NUM_THREADS``); default: the environment's.

    Raises
    ------
    ChapterFailed
        Naming the notebook, the failing cell and the error; the executed notebook with the
        traceback stays in ``_build/executed/``, and nothing of the failed run is published.
    """
    import jupytext
    import papermill

    source = layout.source(name)
    if not source.is_file():
        raise FileNotFoundError(f"chapter source {source} does not exist")
    params, declared = _resolve_parameters(layout, name, profile, overrides)
    params["profile"] = profile
    key = chapter_key(layout, name, params, params.get("model", declared.get("model")))
    if not force and is_up_to_date(layout, name, key):
        return None
    run_dir = layout.run_dir(name)
    run_records = run_dir / "records"
    run_figures = run_dir / "figures" / name
    run_records.mkdir(parents=True)
    params["records_dir"] = str(run_records)
    layout.staging.mkdir(parents=True, exist_ok=True)
    layout.published.mkdir(parents=True, exist_ok=True)
    layout.records.mkdir(parents=True, exist_ok=True)
    staged_input = layout.staging / f"{name}.input.ipynb"
    staged = layout.staging / f"{name}.ipynb"
    jupytext.write(jupytext.read(source), staged_input)
    start = time.perf_counter()
    try:
        with _kernel_env(threads):
            papermill.execute_notebook(
                str(staged_input),
                str(staged),
                parameters=params,
                kernel_name=KERNEL_NAME,
                cwd=str(layout.root),
                progress_bar=False,
            )
    except papermill.PapermillExecutionError as err:
        shutil.rmtree(run_dir, ignore_errors=True)  # nothing of a failed run is published
        raise ChapterFailed(
            f"chapter {name!r} ({source}) failed in cell {err.cell_index} "
            f"(execution count {err.exec_count}): {err.ename}: {err.evalue}\n"
            f"the executed notebook with its traceback is kept at {staged}"
        ) from err
    finally:
        staged_input.unlink(missing_ok=True)
    wall = time.perf_counter() - start
    numbers_file = run_records / f"{name}.numbers.json"
    numbers = json.loads(numbers_file.read_text()) if numbers_file.is_file() else {}
    public_params = {k: v for k, v in params.items() if k != "records_dir"}
    figures, run_id = _finish_figures(name, run_figures, profile, public_params, key, wall)
    _publish_dir(run_figures, layout.figures / name)
    target = layout.published / f"{name}.ipynb"
    tmp = target.with_suffix(".ipynb.tmp")
    tmp.write_text(_portable_notebook(staged.read_text(), layout, name))
    os.replace(tmp, target)
    record = {
        "chapter": name,
        "source": str(source.relative_to(layout.root)),
        "profile": profile,
        "parameters": public_params,
        "wall_time_s": round(wall, 2),
        "numbers": numbers,
        "figures": figures,
        "run_id": run_id,
        "cache_key": key,
        **provenance(layout.root),
    }
    write_json_atomic(layout.records / f"{name}.json", record)
    shutil.rmtree(run_dir, ignore_errors=True)
    return target


def _portable_notebook(text: str, layout: BookLayout, name: str) -> str:
    """The executed notebook as readers get it: papermill's injected ``records_dir`` (a staging
    folder of this machine) is reset to the default ``"_build/records"`` and its metadata paths
    are made relative to the repository, so that the published notebook shows no local path and
    reruns anywhere (Binder, Colab, a download)."""
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
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


#: Warnings filtered out of the kernels (``PYTHONWARNINGS`` syntax): importing ``tqdm.auto``
#: (as transformers does) in a kernel without ipywidgets warns "IProgress not found" with the
#: path of this machine's site-packages; the book's own bars are plain text (``tqdm.tqdm``), so
#: the warning says nothing to a reader and would leak a local path into every chapter.
KERNEL_WARNING_FILTERS = ("ignore:IProgress not found",)


def _kernel_env(threads: int | None) -> Any:
    """Environment the kernel inherits: inline figures, quiet imports and ``threads`` threads.

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
    """Complete the figure records of a clean run; return their summary and the run id."""
    figures: list[dict[str, Any]] = []
    run_ids = set()
    for meta in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        record = json.loads(meta.read_text())
        png = folder / record["file"]
        if not png.is_file() or png.stat().st_size == 0:
            raise ChapterFailed(f"chapter {name!r}: figure {record['figure']!r} has no image file")
        record.update(profile=profile, parameters=params, cache_key=key)
        record["chapter_wall_time_s"] = round(wall, 2)
        write_json_atomic(meta, record)
        run_ids.add(record["run_id"])
        figures.append(
            {"figure": record["figure"], "file": record["file"], "caption": record["caption"]}
        )
    if len(run_ids) > 1:
        raise ChapterFailed(
            f"chapter {name!r} saved figures from {len(run_ids)} Recorder objects; create one "
            f"Recorder per chapter"
        )
    return figures, (run_ids.pop() if run_ids else None)


def _publish_dir(staged: Path, target: Path) -> None:
    """Replace ``target`` by ``staged`` (renames only; an empty run publishes an empty folder)."""
    staged.mkdir(parents=True, exist_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex}")
    if target.exists():
        os.replace(target, old)
    os.replace(staged, target)
    shutil.rmtree(old, ignore_errors=True)


FIGURE_CALL = re.compile(r"""record\.figure\(\s*[^,]+,\s*["']([a-z0-9][a-z0-9_-]*)["']""")


def expected_figures(layout: BookLayout, name: str) -> list[str]:
    """Figure names a chapter's source saves (``record.figure(fig, "name", ...)`` calls)."""
    return FIGURE_CALL.findall(layout.source(name).read_text())


def write_manifest(layout: BookLayout, chapters: list[str]) -> Path:
    """Write ``_build/figures/manifest.json``: every published figure, its size and sha256."""
    entries = []
    for name in chapters:
        record_file = layout.records / f"{name}.json"
        if not record_file.is_file():
            continue
        record = json.loads(record_file.read_text())
        for fig in record.get("figures", []):
            png = layout.figures / name / fig["file"]
            data = png.read_bytes() if png.is_file() else b""
            entries.append(
                {
                    "chapter": name,
                    "figure": fig["figure"],
                    "file": str(png.relative_to(layout.root)),
                    "bytes": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "run_id": record.get("run_id"),
                    "cache_key": record.get("cache_key"),
                }
            )
    return write_json_atomic(layout.figures / "manifest.json", {"figures": entries})


def _worker(
    root: str, name: str, profile: str, overrides: dict[str, Any] | None, force: bool, threads: int
) -> tuple[str, str | None, float]:
    """Process-pool entry: execute one chapter in a separate process (its own cwd and env)."""
    start = time.perf_counter()
    out = execute_chapter(
        BookLayout(Path(root)), name, profile, overrides, force=force, threads=threads
    )
    return name, (str(out) if out else None), time.perf_counter() - start


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
) -> list[Path]:
    """Execute chapters (default: all in ``_toc.yml``) and build the HTML book.

    Chapters whose inputs did not change since their published run are skipped (see
    :func:`chapter_key`; ``force=True`` executes them anyway). Stale chapters run in ``jobs``
    processes (default ``min(2, cores)``); aggregating chapters (:data:`AGGREGATES`) run after
    the others. A failing chapter does not stop the others; the command then raises
    :class:`ChapterFailed` naming every failed notebook and cell, and builds no HTML.

    Returns
    -------
    list of Path
        Published notebooks of the chapters that were executed (skipped ones excluded).
    """
    from tqdm import tqdm

    layout = BookLayout(root)
    known = chapter_names(root)
    todo = chapters or known
    missing = [c for c in todo if c not in known]
    if missing:
        raise ValueError(f"unknown chapter(s) {missing}; _toc.yml lists {known}")
    if overrides and len(todo) > 1:
        raise ValueError("parameter overrides apply to one chapter: pass --chapter NAME too")
    cores = os.cpu_count() or 1
    jobs = max(1, min(jobs or min(2, cores), len(todo)))
    threads = max(1, cores // jobs)
    first = [c for c in todo if c not in AGGREGATES]
    last = [c for c in todo if c in AGGREGATES]
    published: list[Path] = []
    failures: dict[str, str] = {}
    bar = tqdm(total=len(todo), desc=f"chapters ({profile})", unit="nb", disable=not progress)

    def done(name: str, out: str | None, seconds: float) -> None:
        bar.set_postfix_str(f"{name}: {'up to date' if out is None else f'{seconds:.0f} s'}")
        bar.update()
        if out is not None:
            published.append(Path(out))

    try:
        if jobs > 1 and len(first) > 1:
            import multiprocessing

            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
                futures = {
                    pool.submit(_worker, str(root), c, profile, overrides, force, threads): c
                    for c in first
                }
                for fut in as_completed(futures):
                    try:
                        done(*fut.result())
                    except ChapterFailed as err:
                        failures[futures[fut]] = str(err)
                        bar.update()
        else:
            last = first + last
        for name in last:
            try:
                done(*_worker(str(root), name, profile, overrides, force, cores))
            except ChapterFailed as err:
                failures[name] = str(err)
                bar.update()
    finally:
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
