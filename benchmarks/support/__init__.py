"""What the benchmarks and the tests both use: a Redis Cluster of their own (``cluster``).

Imports go one way: the tests may import this package (and ``tests/test_hit_ratio.py``
the benchmark it checks); nothing under ``benchmarks`` imports ``tests``. Code here
imports nothing but ``warming_tasks``, its dependencies and the standard library.
"""
