"""Tests of ``sgdllm.sgd``: problems, optimizers and runs of constant-step SGD."""
