"""Tests of ``sgdllm.book``: chapter set-up, records, prose, claims, site (not the built book)."""
