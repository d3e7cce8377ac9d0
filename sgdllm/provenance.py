"""Where a result came from: the git commit, the package and library versions, the machine.

Every record the book writes (:mod:`sgdllm.book.records`), every chapter's cache key
(:mod:`sgdllm.book.executor`) and the output of ``sgdllm predict``
(:mod:`sgdllm.studies.trajectories`) carry it, so a number can be traced to the code and the
libraries that produced it (the showyourwork habit).
"""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["LIBRARIES", "library_versions", "provenance"]


def _git(root: Path, *args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


#: The libraries whose versions a record lists (distribution names on PyPI): the numerical
#: stack, the language models' stack and the book's tooling.
LIBRARIES = (
    "numpy",
    "scipy",
    "pot",
    "torch",
    "transformers",
    "tokenizers",
    "safetensors",
    "gguf",
    "matplotlib",
    "papermill",
    "jupytext",
    "myst-nb",
    "jupyter-book",
)


def library_versions(names: tuple[str, ...] = LIBRARIES) -> dict[str, str]:
    """Installed version of Python and of each distribution in ``names`` ("absent" if missing)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


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
        "libraries": library_versions(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
