"""Benchmarks: each module measures mnwd against a baseline run in the same process."""
