"""The user cache of dequantized GGUF models: built once, verified cheaply, rebuilt if damaged.

Chapter: *Extracting transition probabilities*.

transformers reads a GGUF file by converting its tokenizer and dequantizing every tensor, which
takes 25 s (SmolLM2-135M) to 80 s (Gemma 3 270M) on 2 cores. The result is kept once as an
ordinary ``save_pretrained`` directory (``config.json``, ``model.safetensors`` in float32, the
tokenizer files), so later loads read it back in seconds:

``<cache root>/dequantized/<sha256 of the GGUF file>/``

The cache root is ``$SGDLLM_CACHE`` if set, else ``$XDG_CACHE_HOME/sgdllm``, else
``~/.cache/sgdllm`` (:func:`cache_root`). Keyed by the GGUF's sha256, an entry can never be
confused with another file's; the same sha256 is the model's ``weights_hash`` (it keys the cache
of extracted laws, :mod:`sgdllm.lm.cache`).

An entry is built in a temporary directory beside it and renamed into place (atomic on POSIX),
with a manifest, ``sgdllm-manifest.json``, written last: each file's size and sha256, the GGUF's
sha256, the transformers version that converted it. :func:`verify_dequantized` trusts an entry
only if the manifest parses and names the same GGUF, every file is there with its size, the
small files (config, tokenizer) have their sha256, and each safetensors header parses and
accounts for its file's size exactly; ``full=True`` also hashes the weights (about 1 s per
300 MB). Anything else -- a partial copy, a truncated or missing file, an edited manifest -- is a
miss, and :func:`dequantized_model_dir` rebuilds the entry.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sgdllm.lm.gguf import sha256_file

__all__ = [
    "CACHE_ENV",
    "MANIFEST",
    "build_dequantized",
    "cache_root",
    "dequantized_dir",
    "dequantized_model_dir",
    "verify_dequantized",
]

#: Environment variable naming the cache root.
CACHE_ENV = "SGDLLM_CACHE"
#: Name of the manifest inside an entry; written last, so its presence marks a complete build.
MANIFEST = "sgdllm-manifest.json"
#: Bump when the layout of an entry changes, to rebuild old ones.
FORMAT_VERSION = 1
# files hashed on every verification (configs, tokenizers: at most tens of MB)
_WEIGHT_SUFFIX = ".safetensors"


def cache_root() -> Path:
    """``$SGDLLM_CACHE``, else ``$XDG_CACHE_HOME/sgdllm``, else ``~/.cache/sgdllm`` (read now)."""
    explicit = os.environ.get(CACHE_ENV, "").strip()
    if explicit:
        return Path(os.path.expanduser(explicit))
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(os.path.expanduser(xdg)) if xdg else Path.home() / ".cache"
    return base / "sgdllm"


def dequantized_dir(sha256: str, root: str | os.PathLike | None = None) -> Path:
    """Where the dequantized model of the GGUF file with this sha256 lives (may not exist)."""
    return Path(root if root is not None else cache_root()) / "dequantized" / sha256


# ----------------------------------------------------------------------------- verification


def _safetensors_problem(path: Path, size: int) -> str | None:
    """Why ``path`` is not a whole safetensors file (header parse + sizes), or ``None``."""
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            return f"{path.name} is shorter than a safetensors header"
        (n,) = struct.unpack("<Q", head)
        if n > size - 8:
            return f"{path.name}: its header length {n} runs past the end of the file"
        try:
            header = json.loads(fh.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return f"{path.name}: its header is not valid JSON"
    if not isinstance(header, dict):
        return f"{path.name}: its header is not a JSON object"
    ends = [
        v["data_offsets"][1]
        for k, v in header.items()
        if k != "__metadata__" and isinstance(v, dict) and "data_offsets" in v
    ]
    if not ends:
        return f"{path.name} holds no tensors"
    if 8 + n + max(ends) != size:
        return f"{path.name}: its header describes {8 + n + max(ends)} bytes, the file has {size}"
    return None


def verify_dequantized(
    directory: str | os.PathLike, sha256: str, *, full: bool = False
) -> str | None:
    """Why the cache entry ``directory`` cannot be trusted for the GGUF ``sha256``; ``None`` if OK.

    Parameters
    ----------
    directory : path
        An entry, ``dequantized_dir(sha256)``.
    sha256 : str
        The GGUF file's sha256 the entry must have been built from.
    full : bool
        Also hash the safetensors files (default: their sizes and headers are checked, the other
        files are hashed).

    Returns
    -------
    str or None
        A short reason (``"no manifest"``, ``"model.safetensors is 12 bytes, expected ..."``), or
        ``None`` when the entry is whole.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return "not built yet"
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except FileNotFoundError:
        return "no manifest (an interrupted build)"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return "the manifest is not valid JSON"
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        return "the manifest has another format"
    if manifest.get("gguf_sha256") != sha256:
        return "the manifest names another GGUF file"
    files = manifest.get("files")
    if not isinstance(files, dict) or "config.json" not in files:
        return "the manifest lists no config.json"
    if not any(name.endswith(_WEIGHT_SUFFIX) for name in files):
        return "the manifest lists no safetensors weights"
    for name, entry in files.items():
        path = directory / name
        if not (isinstance(entry, dict) and path.is_file() and path.parent == directory):
            return f"{name} is missing"
        size = path.stat().st_size
        if size != entry.get("size"):
            return f"{name} is {size} bytes, expected {entry.get('size')}"
        if name.endswith(_WEIGHT_SUFFIX):
            problem = _safetensors_problem(path, size)
            if problem is not None:
                return problem
            if not full:
                continue
        if sha256_file(path) != entry.get("sha256"):
            return f"{name} has another sha256 than its manifest says"
    return None


# ----------------------------------------------------------------------------- building


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _dequantize_into(gguf_path: Path, out: Path) -> None:
    """Convert ``gguf_path`` with transformers and ``save_pretrained`` it (float32) into ``out``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Converting ... tensors" bars in notebooks and logs
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32
        )
        # transformers >= 5 marks a model read from GGUF as "quantized with gguf" and refuses
        # to save it, although on CPU its weights are dequantized float32 tensors by now.
        # Forgetting the quantizer makes it an ordinary model again, with the same tensors.
        if getattr(model, "hf_quantizer", None) is not None:
            model.hf_quantizer = None
        if getattr(model.config, "quantization_config", None) is not None:
            del model.config.quantization_config
        model.config.name_or_path = gguf_path.name
        model.save_pretrained(out, safe_serialization=True)
        tokenizer.save_pretrained(out)
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def build_dequantized(
    gguf_path: str | os.PathLike,
    sha256: str,
    directory: str | os.PathLike,
    *,
    source: dict[str, Any] | None = None,
    dequantize: Callable[[Path, Path], None] | None = None,
) -> Path:
    """Dequantize ``gguf_path`` into the cache entry ``directory``, atomically.

    The model is written into a temporary directory beside ``directory`` (same file system),
    each file synced, the manifest written last, then the temporary directory is renamed to
    ``directory``. An existing damaged entry is moved aside first and deleted after; if another
    process finished a whole entry meanwhile, that one is kept and ours discarded.

    Parameters
    ----------
    gguf_path : path
        The GGUF file, already checked (:func:`sgdllm.lm.gguf.check_gguf`).
    sha256 : str
        Its sha256, recorded in the manifest.
    directory : path
        The entry to create, normally ``dequantized_dir(sha256)``.
    source : dict, optional
        Provenance recorded in the manifest (registry name, package, ...).
    dequantize : callable, optional
        ``dequantize(gguf_path, out_dir)`` writes a ``save_pretrained`` directory; by default
        transformers' GGUF loader does.

    Returns
    -------
    Path
        ``directory``.
    """
    import transformers

    gguf_path, directory = Path(gguf_path), Path(directory)
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(
            tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.", suffix=".tmp")
        )
    except OSError as err:
        raise OSError(
            f"cannot write the dequantized model under {directory.parent} ({err}); set "
            f"{CACHE_ENV} to a writable directory"
        ) from err
    try:
        (dequantize or _dequantize_into)(gguf_path, tmp)
        files = {}
        for path in sorted(tmp.iterdir()):
            if not path.is_file():
                raise RuntimeError(f"unexpected entry {path.name} in the dequantized model")
            _fsync(path)
            files[path.name] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
        manifest = {
            "format": FORMAT_VERSION,
            "gguf_sha256": sha256,
            "gguf_file": gguf_path.name,
            "source": source or {},
            "transformers": transformers.__version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "files": files,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        _fsync(tmp / MANIFEST)
        _install(tmp, directory, sha256)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return directory


def _install(tmp: Path, directory: Path, sha256: str) -> None:
    """Rename ``tmp`` to ``directory``, replacing a damaged entry but not a whole one."""
    for _ in range(3):
        try:
            os.rename(tmp, directory)
            return
        except OSError:
            if not directory.exists():
                raise
        if verify_dequantized(directory, sha256) is None:
            return  # another process won the race with a whole entry; ours is discarded
        trash = Path(
            tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.", suffix=".old")
        )
        try:
            os.rename(directory, trash / "entry")
        except FileNotFoundError:
            pass  # removed meanwhile by another process
        shutil.rmtree(trash, ignore_errors=True)
    raise OSError(f"could not move the dequantized model into {directory}")


def dequantized_model_dir(
    gguf_path: str | os.PathLike | Callable[[], Path],
    sha256: str,
    *,
    root: str | os.PathLike | None = None,
    source: dict[str, Any] | None = None,
    dequantize: Callable[[Path, Path], None] | None = None,
) -> Path:
    """The verified cache entry for the GGUF file ``sha256``, built first if missing or damaged.

    Parameters
    ----------
    gguf_path : path or callable
        The GGUF file, or a function returning it once it is needed (so that a chunked file is
        assembled and a file hashed only on a cache miss). It must already be checked.
    sha256 : str
        The GGUF file's sha256.
    root : path, optional
        Cache root (default :func:`cache_root`).
    source, dequantize
        As in :func:`build_dequantized`.

    Returns
    -------
    Path
        A directory ``from_pretrained`` can read.
    """
    directory = dequantized_dir(sha256, root)
    reason = verify_dequantized(directory, sha256)
    if reason is None:
        return directory
    if directory.exists():
        warnings.warn(
            f"the cached dequantized model in {directory} is damaged ({reason}); rebuilding it",
            stacklevel=3,
        )
    path = gguf_path() if callable(gguf_path) else Path(gguf_path)
    return build_dequantized(path, sha256, directory, source=source, dequantize=dequantize)
