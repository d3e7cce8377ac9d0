"""The pretrained language models installed from PyPI, converted and run (slow)."""
