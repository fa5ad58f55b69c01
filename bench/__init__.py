"""Side-by-side benchmarks: outlast against DBOS Transact and raw SQLite.

Run with ``make bench`` (see ``bench/run.py`` for options). Each measurement runs
in its own subprocess so that memory figures and process-wide state (DBOS is a
singleton) never leak from one run into the next.
"""
