"""Records: the numbers a chapter reports, and where they came from.

A chapter notebook reports its key numbers through a :class:`Recorder`: each number is glued
into the text (myst-nb ``glue``) and written to ``<records_dir>/<chapter>.numbers.json``, which
the tests read to check the paper's claims (as pyhf's notebook tests do). The executor
(:mod:`sgdllm.book.executor`) adds the parameters, profile, package version and git commit.

Every figure goes through :meth:`Recorder.figure`, which saves it as
``<figures_dir>/<chapter>/<name>.png`` with a record ``<name>.json`` beside it (notebook,
caption, seed, model id and weights hash, git commit, package version, wall time), shows it,
and prints its caption with a link to the chapter's source (as showyourwork traces every figure
to the code that made it). After a clean run the executor adds the parameters and profile to
each figure record; the reproducibility appendix lists them all.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sgdllm.outputs import file_mode, write_atomic
from sgdllm.plotting.style import FIGURE_FUNCTION_ATTR, book_style
from sgdllm.provenance import provenance

__all__ = [
    "Recorder",
    "alt_text",
    "chapter_table",
    "figure_label",
    "figure_table",
    "file_mode",
    "library_table",
    "load_chapter_records",
    "load_figure_records",
    "model_identity",
    "parameter_table",
    "source_url",
    "table_directive",
    "table_label",
    "table_markdown",
    "write_json_atomic",
]


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> Path:
    """Write JSON to ``path`` through a temporary file and an atomic rename.

    Raises ``ValueError`` (and writes nothing) if ``data`` holds NaN or infinity.
    """
    text = json.dumps(data, indent=2, sort_keys=True, allow_nan=False)
    return write_atomic(path, lambda fh: fh.write(text + "\n"), text=True)


FIGURE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def source_url(root: str | os.PathLike[str], relpath: str) -> str | None:
    """Web address of ``relpath`` in the repository named by ``_config.yml`` (``repository``).

    ``None`` if the root has no ``_config.yml`` or it names no repository.
    """
    import yaml

    config = Path(root) / "_config.yml"
    if not config.is_file():
        return None
    repo = (yaml.safe_load(config.read_text()) or {}).get("repository") or {}
    url = repo.get("url")
    if not url:
        return None
    return f"{url.rstrip('/')}/blob/{repo.get('branch', 'main')}/{relpath}"


def model_identity(model: Any) -> dict[str, str] | None:
    """``{"id", "weights_sha256"}`` of a loaded :class:`~sgdllm.lm.LanguageModel` (or a name).

    ``None`` for figures made without a language model.
    """
    if model is None:
        return None
    if isinstance(model, str):
        return {"id": model, "weights_sha256": "unknown"}
    name = getattr(model, "name", None)
    digest = getattr(model, "weights_hash", None)
    if name is None or digest is None:
        raise TypeError(
            f"model must be a loaded sgdllm.lm.LanguageModel (with .name and .weights_hash) or "
            f"a model id string, not {type(model).__name__}"
        )
    return {"id": str(name), "weights_sha256": str(digest)}


class Recorder:
    """Collect a chapter's key numbers and figures, with where they came from.

    Parameters
    ----------
    chapter : str
        Chapter name (the notebook's file stem).
    records_dir : str or path
        Folder of the records (the executor passes ``_build/records``).
    glue : bool
        Also glue each number with myst-nb so the text can cite it with ``{glue:text}``.
    figures_dir : str or path, optional
        Folder of the figures; default ``<records_dir>/../figures``. Figures of this chapter
        go to ``<figures_dir>/<chapter>/``.
    root : str or path
        Repository root (the notebook's working directory), for provenance and source links.
    """

    def __init__(
        self,
        chapter: str,
        records_dir: str | os.PathLike[str],
        glue: bool = True,
        figures_dir: str | os.PathLike[str] | None = None,
        root: str | os.PathLike[str] = ".",
    ):
        self.chapter = chapter
        self.path = Path(records_dir) / f"{chapter}.numbers.json"
        self.glue = glue
        self.numbers: dict[str, Any] = {}
        base = (
            Path(figures_dir) if figures_dir is not None else Path(records_dir).parent / "figures"
        )
        self.figures_dir = base / chapter
        self.root = Path(root)
        self.source = f"notebooks/{chapter}.md"
        self.run_id = uuid.uuid4().hex
        self.figures: list[str] = []
        self._arrays: list[str] = []
        self._tables: list[str] = []
        self._start = time.perf_counter()
        self._last = self._start
        self._provenance: dict[str, Any] | None = None  # git and versions: once per chapter

    def __call__(self, name: str, value: Any, text: str | None = None) -> None:
        """Record ``value`` (a number, bool, string or a list of them) under ``name``.

        The exact value goes to the records (the claims tests read it); the text glued for
        ``{glue:text}`` reads as a sentence would write it (:func:`sgdllm.book.prose.prose`):
        booleans as "yes"/"no", lists as "a, b and c". Numbers are glued exactly, so that a
        format spec in the text (``{glue:text}`name:.2f```) formats the true value. ``text``
        replaces the glued words, e.g. ``text=sgdllm.book.prose.scientific(x)`` for "4.6 × 10⁻¹³".

        Returns nothing, so that a cell ending with a record shows no stray value.
        """
        value = _plain(value)
        _check_finite(name, value)
        if text is not None and not isinstance(text, str):
            raise TypeError(f"text of {name!r} must be a string, got {type(text).__name__}")
        self.numbers[name] = value
        if self.glue:
            from myst_nb import glue

            glue(name, _Glued(_glue_text(value) if text is None else text), display=False)
        write_json_atomic(self.path, self.numbers)

    def settings(self, **values: Any) -> None:
        """Record the settings the text quotes, one number per keyword (``digits_used=3``).

        The same as calling the recorder once per keyword, in order. Returns nothing.
        """
        for name, value in values.items():
            self(name, value)

    def each(self, name: str, values: Any, fmt: str = ".3f") -> None:
        """Record a list of numbers and, under ``<name>_text``, its text for the prose.

        ``values`` are recorded as floats (the claims tests read the list); the text is each
        value formatted with ``fmt`` and joined with ", " ("0.120, 0.151, 0.519"), for a
        sentence that quotes one number per setting. Returns nothing.
        """
        numbers = [float(v) for v in values]
        self(name, numbers)
        self(f"{name}_text", ", ".join(format(v, fmt) for v in numbers))

    def by(self, name: str, values: dict[str, Any], legacy: str | None = None) -> None:
        """Record ``values[source]`` under ``"<name>@<source>"``, one per estimator.

        ``legacy``, a format string with a ``{key}`` field, also records the embedded model's
        value under ``legacy.format(key="lm")`` and the counted kernels' under
        ``legacy.format(key="counts")``: the keys the chapter used before it ran the model
        ladder, which its tests still read. Returns nothing.
        """
        for source, value in values.items():
            self(f"{name}@{source}", value)
            key = {"embedded": "lm", "counts": "counts"}.get(source)
            if legacy is not None and key is not None:
                self(legacy.format(key=key), value)

    def words(self, name: str, ids: list[str], titles: dict[str, str], fmt: str) -> str:
        """ "SmolLM2-135M 24.0%, Gemma 3 270M 31.2%": numbers recorded by :meth:`by`, in words.

        Each id's ``"<name>@<id>"`` is written after its title with ``fmt``; "none" when
        ``ids`` is empty.
        """
        parts = [f"{titles[m]} {self.numbers[f'{name}@{m}']:{fmt}}" for m in ids]
        return ", ".join(parts) or "none"

    def figure(
        self,
        fig: Any,
        name: str,
        caption: str,
        *,
        seed: int | None = None,
        model: Any = None,
        show: bool = True,
        alt: str | None = None,
    ) -> None:
        """Save ``fig`` with its record, show it with its caption, and close it.

        Writes ``<figures_dir>/<chapter>/<name>.png`` (through a temporary file and an atomic
        rename, so a failure never leaves a half-written figure) and ``<name>.json``: chapter,
        source notebook, caption, seed, model id and weights hash, the wall time since the
        previous figure (or the start of the chapter), the run id, and :func:`provenance`.

        Parameters
        ----------
        fig : matplotlib.figure.Figure
        name : str
            File stem, lowercase letters, digits, ``_`` and ``-``; unique within the chapter.
        caption : str
            What the reader should see in the figure (Markdown; shown under it).
        seed : int, optional
            The seed the figure's data derive from.
        model : LanguageModel or str, optional
            The language model behind the figure, if any.
        show : bool
            Display the figure and its caption (in a notebook).
        alt : str, optional
            Alternative text: what the figure shows, for a reader who cannot see it. Default:
            the caption's first sentence, without its Markdown.

        In the book, the figure is numbered and can be cited as
        ``{numref}`fig-<chapter>-<name>``` (:func:`figure_label`): its output carries the label,
        caption and alt text, which the executor turns into a numbered figure
        (:mod:`sgdllm.book.executor` moves them to the cell's ``mystnb`` metadata). A cell shows
        at most one figure and nothing else besides.

        Returns nothing (so that a notebook cell ending with this call shows no output);
        :meth:`figure_path` gives the file.
        """
        import matplotlib.pyplot as plt

        if not FIGURE_NAME.match(name):
            raise ValueError(
                f"figure name {name!r} must be lowercase letters, digits, '_' or '-' (a file stem)"
            )
        if name in self.figures:
            raise ValueError(f"chapter {self.chapter!r} already saved a figure named {name!r}")
        if not caption or not caption.strip():
            raise ValueError(f"figure {name!r} needs a caption that says what to see")
        if not fig.get_axes():
            raise ValueError(f"figure {name!r} has no axes: nothing was drawn")
        if alt is not None and (not isinstance(alt, str) or not alt.strip()):
            raise ValueError(f"alt text of figure {name!r} must be a non-empty string")
        alt = alt.strip() if alt is not None else alt_text(caption)
        identity = model_identity(model)
        png = self.figure_path(name)

        def save_png(fh: Any) -> None:
            with book_style():  # colours matplotlib resolves when drawing, e.g. box medians
                fig.savefig(fh, format="png", dpi=150, bbox_inches="tight")
            if fh.tell() == 0:
                raise RuntimeError(f"matplotlib wrote an empty file for figure {name!r}")

        write_atomic(png, save_png)
        now = time.perf_counter()
        record = {
            "figure": name,
            "chapter": self.chapter,
            "source": self.source,
            "file": png.name,
            "caption": caption.strip(),
            "label": figure_label(self.chapter, name),
            "alt": alt,
            "seed": seed,
            "model": identity,
            "function": getattr(fig, FIGURE_FUNCTION_ATTR, None),
            "wall_time_s": round(now - self._last, 3),
            "run_id": self.run_id,
            **self._run_provenance(),
        }
        self._last = now
        write_json_atomic(png.with_suffix(".json"), record)
        self.figures.append(name)
        if show:
            from IPython.display import Markdown, display

            url = source_url(self.root, self.source)
            where = f"[`{self.source}`]({url})" if url else f"`{self.source}`"
            text = f"{caption.strip()} *Source: {where}.*"
            label = figure_label(self.chapter, name)
            meta = {"label": label, "caption": text, "alt": alt}
            with book_style():
                display(fig, metadata={"sgdllm": {"figure": meta}})
            display(Markdown(text), metadata={"sgdllm": {"caption_of": label}})
        plt.close(fig)

    def table(self, name: str, header: list[str], rows: list[list[Any]], caption: str) -> None:
        """Show a numbered, captioned table, cited as ``{numref}`tbl-<chapter>-<name>```.

        The table is displayed as MyST Markdown (a ``{table}`` directive with its label), which
        the book renders (``nb_render_markdown_format: myst``) as a numbered table. Cells are
        written as they are given: strings as they are (Markdown allowed), numbers with
        :func:`sgdllm.book.prose.prose` (lists as words); ``|`` is escaped. Returns nothing.

        Parameters
        ----------
        name : str
            Label stem, lowercase letters, digits, ``_`` and ``-``; unique within the chapter.
        header : list of str
            Column titles.
        rows : list of lists
            One list per row, as long as ``header``.
        caption : str
            What the table shows (Markdown, one paragraph).
        """
        bad = [i for i, row in enumerate(rows) if len(row) != len(header)]
        if not header or bad:
            raise ValueError(
                f"table {name!r}: every row needs {len(header)} cells, one per column "
                f"(rows {bad} do not)"
            )
        self._show_table(name, caption, table_markdown(header, rows))

    def markdown_table(self, name: str, markdown: str, caption: str) -> None:
        """:meth:`table` for a table already written in Markdown (``| a | b |`` lines, e.g.
        :func:`chapter_table`'s): shown numbered and captioned, cited as
        ``{numref}`tbl-<chapter>-<name>```."""
        lines = markdown.strip().splitlines()
        if len(lines) < 2 or not all(line.lstrip().startswith("|") for line in lines):
            raise ValueError(
                f"table {name!r}: pass a Markdown table (a header line, a '| --- |' line, then "
                "one line per row, each starting with '|'), or use record.table(name, header, "
                "rows, caption)"
            )
        self._show_table(name, caption, "\n".join(lines))

    def _show_table(self, name: str, caption: str, markdown: str) -> None:
        """Check the name and caption, then display ``markdown`` in a labelled ``{table}``."""
        from IPython.display import Markdown, display

        if not FIGURE_NAME.match(name):
            raise ValueError(
                f"table name {name!r} must be lowercase letters, digits, '_' or '-' (a stem)"
            )
        if not caption or not caption.strip():
            raise ValueError(f"table {name!r} needs a caption that says what it shows")
        if name in self._tables:
            raise ValueError(f"chapter {self.chapter!r} already showed a table named {name!r}")
        display(Markdown(table_directive(table_label(self.chapter, name), caption, markdown)))
        self._tables.append(name)

    def arrays(self, name: str, **arrays: Any) -> None:
        """Save key arrays of the chapter for readers to download: ``<name>.npz`` beside the
        chapter's figures (``numpy.savez_compressed``, written through a temporary file and an
        atomic rename). The book links every such file at the end of the chapter, next to the
        chapter's record (its numbers and provenance).

        Parameters
        ----------
        name : str
            File stem, lowercase letters, digits, ``_`` and ``-``; unique within the chapter.
        **arrays : array_like
            The arrays, by the names they get in the file (``numpy.load(f)[key]``); numbers
            only, finite.

        Returns nothing; :meth:`arrays_path` gives the file.
        """
        import numpy as np

        if not FIGURE_NAME.match(name):
            raise ValueError(
                f"arrays name {name!r} must be lowercase letters, digits, '_' or '-' (a file stem)"
            )
        if not arrays:
            raise ValueError(f"arrays {name!r}: pass at least one array, as key=value")
        path = self.arrays_path(name)
        if name in self._arrays:
            raise ValueError(f"chapter {self.chapter!r} already saved arrays named {name!r}")
        values = {}
        for key, value in arrays.items():
            a = np.asarray(value)
            if a.dtype.kind not in "biuf":
                raise TypeError(f"arrays {name!r}: {key!r} is {a.dtype}, not numbers")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"arrays {name!r}: {key!r} holds NaN or infinity")
            values[key] = a
        write_atomic(path, lambda fh: np.savez_compressed(fh, **values))
        self._arrays.append(name)

    def arrays_path(self, name: str) -> Path:
        """Where :meth:`arrays` saved (or will save) the arrays ``name``."""
        return self.figures_dir / f"{name}.npz"

    def _run_provenance(self) -> dict[str, Any]:
        """:func:`provenance` of this run (its git calls made once, at the first figure), with
        the date of now."""
        if self._provenance is None:
            self._provenance = provenance(self.root)
        return {**self._provenance, "date": datetime.now(UTC).isoformat(timespec="seconds")}

    def figure_path(self, name: str) -> Path:
        """Where :meth:`figure` saved (or will save) the figure ``name``."""
        return self.figures_dir / f"{name}.png"


def figure_label(chapter: str, name: str) -> str:
    """The cross-reference label of a recorded figure: ``fig-<chapter>-<name>``, cited in the
    text as ``{numref}`fig-<chapter>-<name>```."""
    return f"fig-{chapter}-{name}"


def table_label(chapter: str, name: str) -> str:
    """The cross-reference label of a table shown by :meth:`Recorder.table`:
    ``tbl-<chapter>-<name>``."""
    return f"tbl-{chapter}-{name}"


def table_markdown(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table whose cells are strings as given and other values in words
    (:func:`sgdllm.book.prose.prose`); ``|`` in a cell is escaped."""
    from sgdllm.book.prose import prose

    def cell(value: Any) -> str:
        text = value if isinstance(value, str) else prose(_plain(value))
        return _cell(text)

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def table_directive(label: str, caption: str, markdown: str) -> str:
    """A Markdown table in a MyST ``{table}`` directive with its caption and ``:name:`` label.
    The directive is colon-fenced (``:::``): a backtick fence may not hold backticks in its
    first line, and a caption may hold code."""
    return "\n".join(
        [f":::{{table}} {' '.join(caption.split())}", f":name: {label}", "", markdown, ":::"]
    )


def alt_text(caption: str, limit: int = 250) -> str:
    """Alternative text from a Markdown caption: its first sentence, without links, emphasis,
    code marks or math dollars, at most ``limit`` characters."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", caption)  # [text](url) -> text
    text = re.sub(r"[*`$]", "", text)
    text = re.sub(r"\s+", " ", text).strip()
    first = re.split(r"(?<=[.!?])\s+(?=[A-Z(])", text, maxsplit=1)[0]
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"


class _Glued:
    """A value whose text (``repr``, myst-nb's ``text/plain``) is the given words."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _glue_text(value: Any) -> str:
    """The ``text/plain`` glued for a recorded value: numbers exactly (``repr``, which myst-nb
    parses back for a format spec), strings bare, booleans and lists in words."""
    from sgdllm.book.prose import prose

    if isinstance(value, bool) or isinstance(value, (list, tuple)):
        return prose(value)
    if isinstance(value, (int, float)):
        return repr(value)
    return str(value) if isinstance(value, str) else prose(value)


def _plain(value: Any) -> Any:
    """numpy scalars and arrays -> Python floats, ints, bools and lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _check_finite(name: str, value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"recorded number {name!r} is {value}; a chapter must not report NaN/inf")
    if isinstance(value, list):
        for v in value:
            _check_finite(name, v)


# ----------------------------------------------------------------------------- the appendix


def load_chapter_records(
    records_dir: str | os.PathLike[str], order: list[str] | None = None
) -> list[dict[str, Any]]:
    """Chapter records ``<records_dir>/<chapter>.json`` written by the executor.

    Parameters
    ----------
    records_dir : path
    order : list of str, optional
        Chapter names in book order; chapters not listed follow, alphabetically.
    """
    records = [
        json.loads(p.read_text())
        for p in sorted(Path(records_dir).glob("*.json"))
        if not p.name.endswith(".numbers.json")
    ]
    rank = {name: i for i, name in enumerate(order or [])}
    return sorted(records, key=lambda r: (rank.get(r["chapter"], len(rank)), r["chapter"]))


def load_figure_records(
    figures_dir: str | os.PathLike[str], chapter: str | None = None
) -> list[dict[str, Any]]:
    """Figure records ``<figures_dir>/<chapter>/<figure>.json`` (one chapter or all)."""
    base = Path(figures_dir)
    pattern = f"{chapter}/*.json" if chapter else "*/*.json"
    return [json.loads(p.read_text()) for p in sorted(base.glob(pattern))]


def _short(value: Any, n: int = 10) -> str:
    return str(value)[:n] if value else "-"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def chapter_table(records: list[dict[str, Any]]) -> str:
    """Markdown table: chapter, profile, wall time, figures, numbers, commit, cache key."""
    rows = [
        "| chapter | profile | wall time (s) | figures | numbers | git commit | cache key |",
        "| --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for r in records:
        commit = _short(r.get("git_commit")) + (" (dirty)" if r.get("git_dirty") else "")
        rows.append(
            f"| {r['chapter']} | {r['profile']} | {r['wall_time_s']:.1f} | "
            f"{len(r.get('figures', []))} | {len(r.get('numbers', {}))} | {commit} | "
            f"{_short(r.get('cache_key'), 12)} |"
        )
    return "\n".join(rows)


def _parameter_text(parameters: dict[str, Any] | None) -> str:
    return ", ".join(
        f"`{k}={v!r}`"
        for k, v in sorted((parameters or {}).items())
        if k not in ("profile", "records_dir")
    )


def parameter_table(records: list[dict[str, Any]]) -> str:
    """Markdown table: each chapter and the parameters its profile set (the others kept the
    defaults of its ``parameters`` cell)."""
    rows = ["| chapter | parameters set by the profile |", "| --- | --- |"]
    for r in records:
        rows.append(f"| {r['chapter']} | {_cell(_parameter_text(r.get('parameters'))) or '-'} |")
    return "\n".join(rows)


def figure_table(figures: list[dict[str, Any]]) -> str:
    """Markdown table of figure records, one row each: chapter, figure label, the function that
    drew it (the record's ``"function"``, a checked link to its entry in the API reference; "-"
    for a figure drawn without a named figure function), seed, language model (id and the
    start of its weights' sha256) and the wall time of the cells that drew it. Captions and
    parameters are left to the chapters and to :func:`parameter_table`."""
    rows = [
        "| chapter | figure | drawn by | seed | model (weights sha256) | wall time (s) |",
        "| --- | --- | --- | ---: | --- | ---: |",
    ]
    for f in figures:
        model = f.get("model")
        model_text = f"{model['id']} ({_short(model['weights_sha256'], 12)})" if model else "-"
        seed = f.get("seed")
        seed = "-" if seed is None else seed if isinstance(seed, int) else f"`{seed}`"
        function = f"{{py:func}}`{f['function']}`" if f.get("function") else "-"
        rows.append(
            f"| {f['chapter']} | `{figure_label(f['chapter'], f['figure'])}` | "
            f"{_cell(function)} | {seed} | {_cell(model_text)} | {f['wall_time_s']:.1f} |"
        )
    return "\n".join(rows)


def library_table(versions: dict[str, str]) -> str:
    """Markdown table of library versions (:func:`library_versions`)."""
    rows = ["| library | version |", "| --- | --- |"]
    rows += [f"| {name} | {v} |" for name, v in versions.items()]
    return "\n".join(rows)
