"""Tests of ``sgdllm.studies``: the studies built on the pipeline, each for one or two chapters."""
