"""Records: the numbers a chapter reports, and where they came from.

A chapter notebook reports its key numbers through a :class:`Recorder`: each number is glued
into the text (myst-nb ``glue``) and written to ``<records_dir>/<chapter>.numbers.json``, which
the tests read to check the paper's claims (as pyhf's notebook tests do). The executor
(:mod:`sgdllm.book`) adds the parameters, profile, package version and git commit.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["Recorder", "provenance", "write_json_atomic"]


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> Path:
    """Write JSON to ``path`` through a temporary file and an atomic rename.

    Raises ``ValueError`` (and writes nothing) if ``data`` holds NaN or infinity.
    """
    path = Path(path)
    text = json.dumps(data, indent=2, sort_keys=True, allow_nan=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _git(root: Path, *args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(root: str | os.PathLike[str] = ".") -> dict[str, Any]:
    """Git commit (and whether the tree is dirty), package and library versions, date, host."""
    from importlib.metadata import version

    import numpy

    root = Path(root)
    status = _git(root, "status", "--porcelain")
    return {
        "git_commit": _git(root, "rev-parse", "HEAD"),
        "git_dirty": status not in ("", "unknown"),
        "sgdllm_version": version("sgdllm"),
        "numpy_version": numpy.__version__,
        "python_version": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


class Recorder:
    """Collect a chapter's key numbers: glue them into the text and save them as JSON.

    Parameters
    ----------
    chapter : str
        Chapter name (the notebook's file stem).
    records_dir : str or path
        Folder of the records (the executor passes ``_build/records``).
    glue : bool
        Also glue each number with myst-nb so the text can cite it with ``{glue:text}``.
    """

    def __init__(self, chapter: str, records_dir: str | os.PathLike[str], glue: bool = True):
        self.chapter = chapter
        self.path = Path(records_dir) / f"{chapter}.numbers.json"
        self.glue = glue
        self.numbers: dict[str, Any] = {}

    def __call__(self, name: str, value: Any) -> Any:
        """Record ``value`` (a number, bool, string or a list of them) under ``name``."""
        value = _plain(value)
        _check_finite(name, value)
        self.numbers[name] = value
        if self.glue:
            from myst_nb import glue

            glue(name, value, display=False)
        write_json_atomic(self.path, self.numbers)
        return value


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
