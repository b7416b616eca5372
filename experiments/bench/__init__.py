"""Benchmarks behind ``make bench``: speed and memory numbers, never asserted in tests.

Each ``bench_*.py`` module in this package has a ``main() -> dict`` that measures one thing and
returns its numbers; ``python -m experiments.bench [name ...]`` runs them (all by default),
prints the numbers and writes them to ``outputs/bench/<name>.json``.
"""
