"""Tests of ``sgdllm.predict``: propagation, basins, evaluation against real runs."""
