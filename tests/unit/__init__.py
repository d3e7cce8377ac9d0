"""Unit tests, one file per module: ``tests/unit/<x>/test_<y>.py`` tests ``sgdllm/<x>/<y>.py``.

No test here runs a notebook, builds the book, starts a kernel, converts a real GGUF model or
trains beyond a few steps: ``pytest tests/unit`` runs them all in under a minute."""
