"""Benchmarks run on demand; each writes its figures to a file."""
