"""Benchmarks of the ShadowTestExperiment construct: run ``.venv/bin/python -m benchmarks``."""
