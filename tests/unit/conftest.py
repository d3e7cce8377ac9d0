"""Unit tests run torch on one thread.

The models of the unit tests are tiny (a few thousand parameters): a second torch thread does
not speed them up, and on a loaded machine its OpenMP workers spin waiting for a core. With one
thread ``tests/unit/lm/test_hierarchy_steps.py`` took 15 s instead of 67 s on a shared 2-core
machine (load 5), with the same results. The number of threads is restored after each test, so
tests outside ``tests/unit`` run as configured.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Torch (when a test module has imported it) on one thread during each unit test."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
