"""Orderly's benchmark harness: `python -m bench` (or `python -m bench --quick`).

Starts PostgreSQL databases, Orderly processes and the baselines on loopback, measures
each scenario against its baseline in the same run, prints a table and writes
bench/results/<timestamp>.json.
"""
