"""Benchmarks that print comparable figures; not run as tests."""
