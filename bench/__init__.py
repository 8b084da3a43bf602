"""Benchmarks: each prints its figures; none asserts on speed."""
