"""Benchmarks: code in the repo that prints a table, kept out of the test run."""
