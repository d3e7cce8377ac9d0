"""Whole programs and models, beyond unit scale: smoke pretraining runs, a real Ctrl-C of
``sgdllm predict`` in its own process, the shipped embedded model end to end, and the pretrained
language models installed from PyPI (converted and run: ``slow``)."""
