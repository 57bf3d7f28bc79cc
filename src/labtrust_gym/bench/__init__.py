"""Benchmarks behind ``labtrust bench`` (speed targets live here, not in timed tests)."""
