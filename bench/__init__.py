"""Benchmarks, run on demand with `make bench` (never in CI): each figure beside a baseline from the same run."""
