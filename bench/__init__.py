"""Benchmarks of the SpaceX ETL: `python -m bench [--quick] [name ...]` (see bench/README.md)."""
