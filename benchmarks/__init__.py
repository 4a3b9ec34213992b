"""Benchmarks: speed, scale and cost as ratios to baselines measured in the same run.

``python -m benchmarks [--quick] [--output docs/benchmarks.md] [--only 1,3]`` prints one
table (one module per row, ``bench_*.py``) and writes it, with the machine's description,
to the output file. ``nox -s bench`` runs the full table. Tests never assert speed.
"""
