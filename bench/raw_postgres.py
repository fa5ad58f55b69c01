"""The PostgreSQL server's own limit: commits, one ~200-byte insert per transaction.

The PostgreSQL counterpart of ``raw_sqlite.py``: one client, one connection,
autocommit, so every insert waits for its own WAL flush. An engine that commits
each step separately cannot go above this from one connection; group commit
(many steps in one transaction) can.
"""

from __future__ import annotations

import os
import time

import psycopg

from bench.config import Sizes

PAYLOAD_BYTES = 200


def measure(db_url: str, sizes: Sizes) -> dict[str, float]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id bigserial PRIMARY KEY, payload bytea NOT NULL)")
        payload = os.urandom(PAYLOAD_BYTES)
        commits = sizes.raw_pg_commits
        insert = "INSERT INTO t (payload) VALUES (%s)"
        conn.execute(insert, (payload,), prepare=True)  # prepared before timing
        t0 = time.perf_counter()
        for _ in range(commits):
            conn.execute(insert, (payload,), prepare=True)
        elapsed = time.perf_counter() - t0
    return {
        "commits": commits,
        "commits_per_s": commits / elapsed,
        "payload_bytes": PAYLOAD_BYTES,
    }
