"""Wall-clock benchmarks (``python -m bench`` / ``make bench``); timing never lives in tests.

Every ``bench/*_bench.py`` module contributes its functions named ``bench_*``; each returns one
result or a list of results, a result being a dict with ``name``, ``unit``, ``value`` and, when
it is compared with a baseline measured in the same run, ``baseline`` and ``ratio``.
"""
