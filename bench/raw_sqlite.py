"""The disk's own limit: raw SQLite commits, one ~200-byte insert per transaction.

This is the ceiling for any engine that commits each step separately; only
batching many steps into one commit (group commit) can go above it.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from bench.config import Sizes

PAYLOAD_BYTES = 200


def commit_rate(path: Path, journal_mode: str, synchronous: str, commits: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)  # explicit BEGIN/COMMIT below
    try:
        conn.execute(f"PRAGMA journal_mode={journal_mode}")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)")
        payload = os.urandom(PAYLOAD_BYTES)
        t0 = time.perf_counter()
        for _ in range(commits):
            conn.execute("BEGIN")
            conn.execute("INSERT INTO t (payload) VALUES (?)", (payload,))
            conn.execute("COMMIT")
        return commits / (time.perf_counter() - t0)
    finally:
        conn.close()


def measure(db_path: str, sizes: Sizes) -> dict[str, float]:
    base = Path(db_path)
    variants = {
        "wal_full": ("WAL", "FULL", sizes.raw_full_commits),
        "wal_normal": ("WAL", "NORMAL", sizes.raw_normal_commits),
        # DBOS's default on SQLite, for reference.
        "delete_full": ("DELETE", "FULL", sizes.raw_delete_commits),
    }
    figures: dict[str, float] = {}
    for name, (journal, sync, commits) in variants.items():
        path = base.with_name(f"{base.stem}-{name}.db")
        figures[f"{name}_commits_per_s"] = commit_rate(path, journal, sync, commits)
    figures["payload_bytes"] = PAYLOAD_BYTES
    return figures


def beside(db_path: str, sizes: Sizes) -> dict[str, float]:
    """Only the WAL+FULL rate, measured next to one outlast S2 run: the disk's speed
    drifts from minute to minute, so S2 is judged against the rate of its round."""
    path = Path(db_path)
    beside_path = path.with_name(f"{path.stem}-beside.db")
    rate = commit_rate(beside_path, "WAL", "FULL", sizes.raw_full_commits)
    return {"wal_full_commits_per_s": rate, "payload_bytes": PAYLOAD_BYTES}
