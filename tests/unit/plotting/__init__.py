"""Tests of ``sgdllm.plotting``: ``test_<chapter>.py`` beside ``sgdllm/plotting/<chapter>.py``."""
