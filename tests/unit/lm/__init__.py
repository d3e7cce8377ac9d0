"""Tests of ``sgdllm.lm`` on tiny random models (``lm_fixtures``, ``gguf_fixtures``)."""
