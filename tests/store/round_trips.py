"""Counting a PostgreSQL store's round trips (for tests that pin how many an
operation costs)."""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from psycopg import pq

from outlast.store.postgres import PostgresStore


@contextlib.contextmanager
def traced(store: PostgresStore) -> Iterator[Callable[[], int]]:
    """Count the round trips of the store's pooled connections: each time the
    client, having sent something, reads the server's answer."""
    pool = store._db.pool
    original = pool.connection
    fd, path = tempfile.mkstemp()
    os.close(fd)

    @contextlib.contextmanager
    def connection(timeout: float | None = None) -> Iterator[Any]:
        with original(timeout=timeout) as conn, open(path, "a") as out:
            conn.pgconn.trace(out.fileno())
            conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
            try:
                yield conn
            finally:
                conn.pgconn.untrace()

    def round_trips() -> int:
        directions = [line.split("\t")[0] for line in Path(path).read_text().splitlines()]
        Path(path).write_text("")
        return sum(1 for pair in itertools.pairwise(directions) if pair == ("F", "B"))

    pool.connection = connection  # type: ignore[method-assign]
    try:
        yield round_trips
    finally:
        pool.connection = original  # type: ignore[method-assign]
        os.unlink(path)
