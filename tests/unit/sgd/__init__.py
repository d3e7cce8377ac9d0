"""Tests of ``sgdllm.sgd``: problems, optimizers, runs and exact kernels."""
