"""Book tooling: executing chapters, recording their numbers, and the pages readers see.

- :mod:`~sgdllm.book.executor`: papermill runs, cache keys, publishing (``sgdllm book``);
- :mod:`~sgdllm.book.records`: numbers, tables and figures with provenance (``Recorder``);
- :mod:`~sgdllm.book.prose`: numbers, lists and booleans written as words;
- :mod:`~sgdllm.book.claims`: the paper's claims against the chapters' records;
- :mod:`~sgdllm.book.site`: the Sphinx extension (offline MathJax, launch buttons, claims table).

Nothing outside this subpackage imports it, except the command line and the studies that
write figures.
"""

from __future__ import annotations

__all__ = []
