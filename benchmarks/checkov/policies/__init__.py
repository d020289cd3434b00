"""Checkov custom checks for benchmarks/bench_plan.py (Checkov loads only folders with an __init__.py)."""
