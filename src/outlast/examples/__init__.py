"""Runnable examples, one per workflow pattern of the Dapr workflow docs.

Each module runs on its own (``python -m outlast.examples.task_chaining``) with the embedded
SQLite default; ``outlast serve`` without an app serves all of them (see app.py).
"""
