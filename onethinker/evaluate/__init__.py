"""Evaluation: the benchmarks' own metrics (``onethinker.evaluate.metrics``, spec/metrics.md)."""
