"""Where a command may write: checked before any expensive work.

``sgdllm predict``, ``sgdllm evaluate-model`` and ``sgdllm pretrain`` compute for seconds to
hours before they write; a destination that cannot be written (a file where a directory is
wanted, a directory under a file, no write permission, a read-only file system) must be
refused first, with the path and the fix, not after the computation. Writability is probed
by creating and removing a temporary file, which also catches what permission bits do not
(a read-only mount, or ``root`` on a directory that refuses writes).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["check_output_dir", "check_output_file"]


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def _probe(directory: Path, what: str) -> None:
    """Create and remove a temporary file in ``directory``, or raise naming it."""
    try:
        fd, name = tempfile.mkstemp(dir=directory, prefix=".sgdllm-probe-")
    except OSError as err:
        raise ValueError(
            f"cannot write {what}: creating a file in {directory} fails ({err.strerror or err}); "
            f"pass a directory you can write to"
        ) from None
    os.close(fd)
    os.unlink(name)


def check_output_dir(
    path: str | os.PathLike[str],
    files: Sequence[str] = (),
    *,
    option: str = "out",
    probe: bool = True,
) -> Path:
    """Check that ``path`` is, or can be created as, a writable directory.

    Nothing is created: a missing directory is checked through its nearest existing ancestor.

    Parameters
    ----------
    path : str or path
    files : sequence of str
        Names that will be written inside it; none may be a directory already.
    option : str
        How the caller names the path in messages (e.g. ``"--out"``).
    probe : bool
        Also check that a file can be created there (False for a cache that may be read-only).

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        ``path`` or an ancestor is a file, a target name is a directory, or nothing can be
        written there.
    """
    out = Path(path)
    existing = _nearest_existing(out)
    if not existing.is_dir():
        where = "is a file" if existing == out else f"lies under the file {existing}"
        raise ValueError(
            f"{option} {out} {where}, but it must be a directory (created if missing); pass "
            f"another path"
        )
    for name in files:
        if (out / name).is_dir():
            raise ValueError(
                f"{option} {out} holds a directory named {name}, where the file {name} goes; "
                f"move it away or pass another {option}"
            )
    if probe:
        _probe(existing, f"{option} {out}")
    return out


def check_output_file(path: str | os.PathLike[str], *, option: str = "out") -> Path:
    """Check that the file ``path`` can be written (replaced if it exists).

    Its directory may be missing (it is then checked as in :func:`check_output_dir`).

    Raises
    ------
    ValueError
        ``path`` is a directory, lies under a file, or its directory cannot be written.
    """
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"{option} {target} is a directory; pass the path of a file")
    check_output_dir(target.parent, option=f"{option} {target}: its directory")
    return target
