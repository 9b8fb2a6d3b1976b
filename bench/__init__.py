"""Benchmarks: run against a system started with ``patron up``; see bench/README.md."""
