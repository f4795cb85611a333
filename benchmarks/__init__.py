"""Vigil's benchmarks: `python -m benchmarks [--quick] [--only NAME]`.

Every figure is measured next to a baseline in the same run (see BENCHMARKS.md).
"""
