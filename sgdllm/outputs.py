"""Where a command may write: checked before any expensive work.

``sgdllm predict``, ``sgdllm evaluate-model`` and ``sgdllm pretrain`` compute for seconds to
hours before they write; a destination that cannot be written (a file where a directory is
wanted, a directory under a file, no write permission, a read-only file system) must be
refused first, with the path and the fix, not after the computation. Writability is probed
by creating and removing a temporary file, which also catches what permission bits do not
(a read-only mount, or ``root`` on a directory that refuses writes).

Every file the package writes for later reading (records, figures, arrays, caches, models) is
written by :func:`write_atomic`: into a temporary file beside it, then renamed into place, so
a reader never sees half a file and an interrupted write leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

__all__ = ["check_output_dir", "check_output_file", "file_mode", "write_atomic"]


def file_mode() -> int:
    """Permissions a new file gets from ``open()`` under the current umask (``0o666 & ~umask``).

    ``tempfile.mkstemp`` creates owner-only files (0600); files renamed from there into place
    are given this mode, so records, figures and caches are shared like any other file.
    """
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def write_atomic(
    path: str | os.PathLike[str],
    write: Callable[[IO[Any]], object],
    *,
    text: bool = False,
    fsync: bool = False,
) -> Path:
    """Write ``path`` with ``write(file_object)`` through a temporary file and an atomic rename.

    The temporary file sits in ``path``'s folder (created if needed), so the final
    ``os.replace`` is atomic: readers see the old file or the new one, never a part. If
    ``write`` raises (a check that fails after writing, Ctrl-C), the temporary file is removed
    and ``path`` is left as it was. The new file gets the umask's usual permissions
    (:func:`file_mode`), not ``mkstemp``'s private ones.

    Parameters
    ----------
    path : str or path
        Destination.
    write : callable
        Called once with the open temporary file (binary, or text with ``text=True``).
    text : bool
        Open the temporary file in text mode (UTF-8).
    fsync : bool
        Flush to disk before the rename (caches and models that must survive a crash).

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "w" if text else "wb", **({"encoding": "utf-8"} if text else {})) as fh:
            write(fh)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


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
