"""Unit tests, one file per module: ``tests/unit/<x>/test_<y>.py`` tests ``sgdllm/<x>/<y>.py``.

No test here runs a notebook, builds the book, starts a kernel or a process that loads torch,
converts a real GGUF model or trains: ``pytest tests/unit`` runs them all in about a minute
(those are in ``tests/chapters``, ``tests/book`` and ``tests/integration``)."""
