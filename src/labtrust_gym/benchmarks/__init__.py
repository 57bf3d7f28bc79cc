"""Benchmark tasks, the episode runner and metrics."""
