"""Benchmarks: each module times a baseline and ours in the same run and prints the ratio."""
