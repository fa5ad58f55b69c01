"""Runnable examples, one per workflow pattern of the Dapr workflow docs.

Each file runs on its own (``python examples/task_chaining.py``) with the embedded
SQLite default; ``outlast serve`` without an app serves all of them (see app.py).
"""
