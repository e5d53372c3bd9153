"""Benchmarks: `make bench` runs every one and prints a table. Not tests: no pass/fail here."""
